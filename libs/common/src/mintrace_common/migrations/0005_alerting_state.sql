-- Alerting: the facts the stateful rules work on, one row per routed report (idempotent per
-- report), and the state that makes their alerts fire once per condition.
CREATE TABLE alert_facts (
    producer_id            text NOT NULL,
    report_id              text NOT NULL,
    facility_id            text NOT NULL,
    province_code          text NOT NULL,
    type                   text NOT NULL,
    material               text NOT NULL,
    occurred_at            timestamptz NOT NULL,
    day                    date NOT NULL,          -- business day (Asia/Shanghai) of occurred_at
    quantity_kg            numeric NOT NULL,
    counterparty_id        text,
    counterparty_report_id text,
    consignee              text,                   -- normalised consignee name (exports)
    seen_at                timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (producer_id, report_id)
);
CREATE INDEX alert_facts_exports ON alert_facts (producer_id, material, consignee, occurred_at)
    WHERE type = 'export';
CREATE INDEX alert_facts_daily ON alert_facts (producer_id, material, type, day);
CREATE INDEX alert_facts_facility ON alert_facts (facility_id, material);
CREATE INDEX alert_facts_purchases ON alert_facts (producer_id, counterparty_report_id)
    WHERE type = 'domestic_purchase';

-- Domestic sales waiting for the buyer's purchase report.
CREATE TABLE pending_transfers (
    producer_id     text NOT NULL,
    report_id       text NOT NULL,
    buyer_id        text NOT NULL,
    province_code   text NOT NULL,
    occurred_at     timestamptz NOT NULL,
    seen_at         timestamptz NOT NULL,
    PRIMARY KEY (producer_id, report_id)
);
CREATE INDEX pending_transfers_due ON pending_transfers (occurred_at);

-- SPLIT_SHIPMENTS: the alerted episodes per exporter, consignee and material.
CREATE TABLE split_episodes (
    producer_id     text NOT NULL,
    material        text NOT NULL,
    consignee       text NOT NULL,
    first_at        timestamptz NOT NULL,
    last_at         timestamptz NOT NULL,
    alert_id        text NOT NULL,
    PRIMARY KEY (producer_id, material, consignee, first_at)
);

-- MASS_BALANCE: the deficit already alerted per facility and material.
CREATE TABLE mass_balance_state (
    facility_id     text NOT NULL,
    material        text NOT NULL,
    alerted_deficit_kg numeric NOT NULL,
    PRIMARY KEY (facility_id, material)
);

-- Outbox drain: when an alert was stored, and when a drainer last claimed it.
ALTER TABLE alerts ADD COLUMN recorded_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE alerts ADD COLUMN claimed_at timestamptz;
CREATE INDEX alerts_unpublished ON alerts (recorded_at) WHERE NOT published;

-- Sweeps that work on settled facts remember how far they got (by alert_facts.seen_at).
CREATE TABLE sweep_watermarks (
    name text PRIMARY KEY,
    upto timestamptz NOT NULL
);
CREATE INDEX alert_facts_seen ON alert_facts (seen_at);
