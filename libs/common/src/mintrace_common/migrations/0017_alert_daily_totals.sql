-- Alerting: each producer's daily volume per material, type and province, kept incrementally as
-- facts are recorded. VOLUME_SPIKE summed up to 29 days of facts per key and batch (a cost that
-- grew with the history); it now reads at most 29 rows per key, and the day's report ids only
-- for a day that spikes.
CREATE TABLE alert_daily_totals (
    producer_id   text NOT NULL,
    material      text NOT NULL,
    type          text NOT NULL,
    province_code text NOT NULL,
    day           date NOT NULL,
    total_kg      numeric NOT NULL,
    PRIMARY KEY (producer_id, material, type, province_code, day)
);
INSERT INTO alert_daily_totals (producer_id, material, type, province_code, day, total_kg)
SELECT producer_id, material, type, province_code, day, sum(quantity_kg)
FROM alert_facts GROUP BY producer_id, material, type, province_code, day;
GRANT SELECT, INSERT, UPDATE ON alert_daily_totals TO mintrace_alerting;
