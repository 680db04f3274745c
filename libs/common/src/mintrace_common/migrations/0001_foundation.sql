-- Registry (SPEC §3): reference data loaded by operators.
CREATE TABLE producers (
    producer_id text PRIMARY KEY,
    name        text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE facilities (
    facility_id   text PRIMARY KEY,
    producer_id   text NOT NULL,
    province_code text NOT NULL,
    stages        text[] NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX facilities_producer ON facilities (producer_id);

CREATE TABLE licences (
    licence_number      text PRIMARY KEY,
    exporter_id         text NOT NULL,
    materials           text[] NOT NULL,
    max_quantity_kg     numeric NOT NULL CHECK (max_quantity_kg >= 0),
    remaining_kg        numeric NOT NULL CHECK (remaining_kg >= 0),
    destination_country text NOT NULL,
    consignee           jsonb NOT NULL,
    end_user            jsonb NOT NULL,
    valid_from          date NOT NULL,
    valid_to            date NOT NULL,
    status              text NOT NULL CHECK (status IN ('active', 'suspended', 'revoked')),
    version             int NOT NULL DEFAULT 1,
    updated_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE licence_history (
    id             bigserial PRIMARY KEY,
    licence_number text NOT NULL,
    change         text NOT NULL,
    snapshot       jsonb NOT NULL,
    source         text NOT NULL,
    at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX licence_history_licence ON licence_history (licence_number, id);

CREATE TABLE watchlist (
    name       text NOT NULL,
    country    text NOT NULL DEFAULT '',
    aliases    text[] NOT NULL DEFAULT '{}',
    reason     text NOT NULL DEFAULT '',
    PRIMARY KEY (name, country)
);

CREATE TABLE reference_prices (
    material   text NOT NULL,
    form       text NOT NULL,
    usd_per_kg numeric NOT NULL,
    PRIMARY KEY (material, form)
);

-- Credentials: only hashes are stored.
CREATE TABLE api_keys (
    key_hash   text PRIMARY KEY,
    kind       text NOT NULL CHECK (kind IN ('producer', 'supervisor')),
    subject    text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
CREATE INDEX api_keys_subject ON api_keys (kind, subject);

-- Intake: the idempotency record and the status of each report through the pipeline.
CREATE TABLE reports (
    producer_id   text NOT NULL,
    report_id     text NOT NULL,
    content_hash  text NOT NULL,
    received_at   timestamptz NOT NULL,
    published     boolean NOT NULL DEFAULT false,
    state         text NOT NULL DEFAULT 'received',
    problems      jsonb,
    licence       jsonb,
    province_code text,
    alerts        jsonb NOT NULL DEFAULT '[]',
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (producer_id, report_id)
);

-- License matching: one decision per report, ever.
CREATE TABLE licence_decisions (
    producer_id    text NOT NULL,
    report_id      text NOT NULL,
    status         text NOT NULL,
    licence_number text,
    reasons        text[] NOT NULL DEFAULT '{}',
    quantity_kg    numeric,
    remaining_kg   numeric,
    decided_at     timestamptz NOT NULL,
    PRIMARY KEY (producer_id, report_id)
);
CREATE INDEX licence_decisions_licence ON licence_decisions (licence_number) WHERE status = 'matched';

-- Provincial routing: which reports have been published to their province.
CREATE TABLE routed_reports (
    producer_id   text NOT NULL,
    report_id     text NOT NULL,
    province_code text NOT NULL,
    routed_at     timestamptz NOT NULL,
    published     boolean NOT NULL DEFAULT false,
    PRIMARY KEY (producer_id, report_id)
);

-- Alerting.
CREATE TABLE alerts (
    alert_id      text PRIMARY KEY,
    type          text NOT NULL,
    severity      text NOT NULL,
    province_code text NOT NULL,
    producer_id   text NOT NULL,
    report_ids    text[] NOT NULL,
    summary       text NOT NULL,
    raised_at     timestamptz NOT NULL,
    rule_version  text NOT NULL,
    details       jsonb NOT NULL DEFAULT '{}',
    published     boolean NOT NULL DEFAULT false
);
CREATE INDEX alerts_province_time ON alerts (province_code, raised_at);
