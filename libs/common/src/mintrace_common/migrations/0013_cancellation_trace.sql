-- Issue 15: a cancellation leaves a trace downstream.

-- License-matching: the quota each cancellation of a matched export gave back to its licence,
-- and how much of it later exports drew again (oldest restoration first): an export that needs
-- restored quota is reviewable. Rows change only while their licence row is locked.
CREATE TABLE licence_restorations (
    producer_id    text NOT NULL,
    report_id      text NOT NULL,
    licence_number text NOT NULL,
    restored_kg    numeric NOT NULL CHECK (restored_kg > 0),
    unused_kg      numeric NOT NULL CHECK (unused_kg >= 0 AND unused_kg <= restored_kg),
    restored_at    timestamptz NOT NULL,
    PRIMARY KEY (producer_id, report_id)
);
CREATE INDEX licence_restorations_unused ON licence_restorations
    (licence_number, restored_at, report_id) WHERE unused_kg > 0;

-- What restored quota a matched export drew on: [{"producer_id", "report_id", "quantity_kg"}]
-- of the cancelled reports that gave it back (a redelivered report gets it back unchanged).
ALTER TABLE licence_decisions ADD COLUMN restored_used jsonb NOT NULL DEFAULT '[]';

-- Provincial routing: every cancellation it has seen (one that arrives before its report is
-- applied when the report is routed), and the routed reports they withdrew.
CREATE TABLE routing_cancellations (
    producer_id  text NOT NULL,
    report_id    text NOT NULL,
    cancelled_at timestamptz NOT NULL,
    PRIMARY KEY (producer_id, report_id)
);
ALTER TABLE routed_reports ADD COLUMN cancelled_at timestamptz;
