-- Validation: the first verdict on each report. A report delivered again (a crash before the
-- offset commit, a rebalance) is given this verdict back instead of being judged again, so a
-- registry change between deliveries cannot make one report both validated and rejected.
CREATE TABLE validation_verdicts (
    producer_id text NOT NULL,
    report_id   text NOT NULL,
    problems    jsonb NOT NULL,   -- every problem found; empty: the report is valid
    warnings    jsonb NOT NULL,
    decided_at  timestamptz NOT NULL,
    PRIMARY KEY (producer_id, report_id)
);
