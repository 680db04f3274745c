-- Routing's outbox drain: a record left unpublished by a crash is re-sent by a sweep, claimed
-- with a lease so that two instances do not both send it.
ALTER TABLE routed_reports ADD COLUMN claimed_at timestamptz;
CREATE INDEX routed_reports_unpublished ON routed_reports (routed_at) WHERE NOT published;

-- Alerting: mass balances kept incrementally. Each fact is queued in mass_pending when it is
-- recorded and folded once into its facility's running totals when it settles; an outflow is
-- judged against the totals minus the folded facts that occurred after it, so a sweep no
-- longer re-sums each facility's whole history.
CREATE TABLE mass_pending (
    producer_id text NOT NULL,
    report_id   text NOT NULL,
    seen_at     timestamptz NOT NULL,
    PRIMARY KEY (producer_id, report_id)
);
CREATE INDEX mass_pending_seen ON mass_pending (seen_at);
ALTER TABLE mass_balance_state
    ADD COLUMN inflow_kg  numeric NOT NULL DEFAULT 0,
    ADD COLUMN outflow_kg numeric NOT NULL DEFAULT 0;
DROP INDEX alert_facts_facility;
CREATE INDEX alert_facts_facility ON alert_facts (facility_id, material, occurred_at, report_id);

-- Carry over what the watermark-based sweep had settled: facts up to its watermark are folded
-- into the totals, later ones are queued.
INSERT INTO mass_pending (producer_id, report_id, seen_at)
SELECT producer_id, report_id, seen_at FROM alert_facts
WHERE seen_at > coalesce((SELECT upto FROM sweep_watermarks WHERE name = 'mass'), '-infinity');
INSERT INTO mass_balance_state AS s (facility_id, material, alerted_deficit_kg, inflow_kg,
                                     outflow_kg)
SELECT facility_id, material, 0,
       coalesce(sum(quantity_kg) FILTER (WHERE type IN ('mining_output', 'processing_output',
                                                         'domestic_purchase', 'import')), 0),
       coalesce(sum(quantity_kg) FILTER (WHERE type IN ('domestic_sale', 'export')), 0)
FROM alert_facts
WHERE seen_at <= (SELECT upto FROM sweep_watermarks WHERE name = 'mass')
GROUP BY facility_id, material
ON CONFLICT (facility_id, material) DO UPDATE SET inflow_kg = EXCLUDED.inflow_kg,
                                                  outflow_kg = EXCLUDED.outflow_kg;
DROP TABLE sweep_watermarks;
