-- Provincial routing keeps the record it routed (what supervisors read through the supervision
-- API) beside its outbox flag, and the national rollup, both written in the routing batch's
-- transaction so that a report is stored and counted exactly once.
ALTER TABLE routed_reports
    ADD COLUMN seq                 bigint GENERATED ALWAYS AS IDENTITY,
    ADD COLUMN record              jsonb,
    ADD COLUMN material            text,
    ADD COLUMN type                text,
    ADD COLUMN occurred_at         timestamptz,
    ADD COLUMN destination_country text;
CREATE UNIQUE INDEX routed_reports_seq ON routed_reports (seq);
CREATE INDEX routed_reports_province_seq ON routed_reports (province_code, seq);
CREATE INDEX routed_reports_producer_seq ON routed_reports (producer_id, seq);
CREATE INDEX routed_reports_report_id ON routed_reports (report_id);

-- day = the transaction's date in China Standard Time (UTC+8, no DST).
CREATE TABLE rollup_daily (
    day                 date    NOT NULL,
    province_code       text    NOT NULL,
    material            text    NOT NULL,
    type                text    NOT NULL,
    destination_country text    NOT NULL,
    quantity_kg         numeric NOT NULL DEFAULT 0,
    value_usd           numeric NOT NULL DEFAULT 0,
    report_count        bigint  NOT NULL DEFAULT 0,
    non_usd_count       bigint  NOT NULL DEFAULT 0,
    PRIMARY KEY (day, province_code, material, type, destination_country)
);
CREATE INDEX rollup_daily_province_day ON rollup_daily (province_code, day);

CREATE INDEX alerts_time ON alerts (raised_at, alert_id);
