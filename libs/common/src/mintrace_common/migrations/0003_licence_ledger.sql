-- The licence ledger (issue 4): what each licence has drawn, licence events applied once each,
-- cancellations marked on the decision they undo, and the audit view of every balance.

-- drawn_kg is what matched, not-cancelled exports hold of the licence; remaining_kg is derived
-- from it as GREATEST(max_quantity_kg - drawn_kg, 0), so lowering the maximum below what is
-- already drawn leaves the balance at zero (never negative) without rewriting history.
ALTER TABLE licences ADD COLUMN drawn_kg numeric NOT NULL DEFAULT 0 CHECK (drawn_kg >= 0);
UPDATE licences SET drawn_kg = GREATEST(max_quantity_kg - remaining_kg, 0);
ALTER TABLE licences ADD COLUMN last_event_at timestamptz;

ALTER TABLE licence_decisions ADD COLUMN cancelled_at timestamptz;
ALTER TABLE licence_decisions ADD COLUMN restored_kg numeric;

-- licence.events: one row per event ever seen (the idempotency record) and what it did.
CREATE TABLE licence_events (
    event_id       text PRIMARY KEY,
    licence_number text NOT NULL,
    type           text NOT NULL,
    occurred_at    timestamptz NOT NULL,
    outcome        text NOT NULL,
    applied_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX licence_events_licence ON licence_events (licence_number, occurred_at);

-- Intake: a producer's cancellation, fixed at its first request so that a retry republishes
-- the same ReportCancelled.
ALTER TABLE reports ADD COLUMN cancelled_at timestamptz;

-- The audit: each licence's stored balance beside the one derived from the decisions.
CREATE VIEW licence_balances AS
SELECT l.licence_number, l.exporter_id, l.status, l.max_quantity_kg, l.drawn_kg, l.remaining_kg,
       COALESCE(m.matched_kg, 0) AS matched_kg, COALESCE(m.matched_count, 0) AS matched_count,
       COALESCE(m.cancelled_count, 0) AS cancelled_count,
       GREATEST(COALESCE(m.matched_kg, 0) - l.max_quantity_kg, 0) AS overdrawn_kg,
       (l.drawn_kg = COALESCE(m.matched_kg, 0)
        AND l.remaining_kg = GREATEST(l.max_quantity_kg - COALESCE(m.matched_kg, 0), 0)
        AND l.remaining_kg >= 0) AS agrees
FROM licences l
LEFT JOIN (
    SELECT licence_number,
           sum(quantity_kg) FILTER (WHERE cancelled_at IS NULL) AS matched_kg,
           count(*) FILTER (WHERE cancelled_at IS NULL) AS matched_count,
           count(*) FILTER (WHERE cancelled_at IS NOT NULL) AS cancelled_count
    FROM licence_decisions WHERE status = 'matched' GROUP BY licence_number
) m USING (licence_number);
