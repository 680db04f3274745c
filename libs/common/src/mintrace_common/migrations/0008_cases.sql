-- Alert cases (SPEC §7): keys name a person, a case per alert (no row = still open), an
-- append-only history of every action, and the outbox of cases.events. Rows name alerts by
-- alert_id without a foreign key: `alerts` is alerting's table (the service checks the alert).
ALTER TABLE api_keys ADD COLUMN name text;

CREATE TABLE cases (
    alert_id   text PRIMARY KEY,
    status     text NOT NULL CHECK (status IN ('open', 'assigned', 'closed')),
    assignee   text,
    outcome    text CHECK (outcome IN ('confirmed_violation', 'no_violation', 'referred')),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cases_status ON cases (status);

CREATE TABLE case_history (
    id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id text NOT NULL,
    at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    by       text NOT NULL,
    action   text NOT NULL CHECK (action IN ('assign', 'note', 'close', 'reopen')),
    assignee text,
    note     text,
    outcome  text,
    status   text NOT NULL             -- the case's status after the action
);
CREATE INDEX case_history_alert ON case_history (alert_id, id);

-- The audit trail is append-only: no role the services use may rewrite or remove it.
CREATE FUNCTION refuse_history_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'case_history is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER case_history_append_only BEFORE UPDATE OR DELETE ON case_history
    FOR EACH ROW EXECUTE FUNCTION refuse_history_change();
CREATE TRIGGER case_history_no_truncate BEFORE TRUNCATE ON case_history
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_history_change();

-- cases.events not yet acknowledged by the broker (a history row per event).
CREATE TABLE case_events_outbox (
    history_id bigint PRIMARY KEY REFERENCES case_history (id),
    claimed_at timestamptz
);

-- Console sessions: the cookie holds a random token, only its hash is stored.
CREATE TABLE console_sessions (
    token_hash text PRIMARY KEY,
    key_hash   text NOT NULL REFERENCES api_keys (key_hash),
    csrf       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);

-- Webhooks per province (or national) for alerts at or above a severity; deliveries are an
-- outbox filled from `alerts` and drained by the supervision process, every attempt logged.
CREATE TABLE webhooks (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    scope        text NOT NULL,          -- province slug, or national
    province_code text,                  -- NULL: every province
    url          text NOT NULL,
    secret       text NOT NULL,
    min_severity text NOT NULL CHECK (min_severity IN ('low', 'medium', 'high', 'critical')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    scanned_upto timestamptz NOT NULL DEFAULT now(),
    removed_at   timestamptz
);

CREATE TABLE webhook_deliveries (
    webhook_id   bigint NOT NULL REFERENCES webhooks (id),
    alert_id     text NOT NULL,
    status       text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered')),
    attempts     int NOT NULL DEFAULT 0,
    next_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (webhook_id, alert_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_at) WHERE status = 'pending';

CREATE TABLE webhook_attempts (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    webhook_id  bigint NOT NULL,
    alert_id    text NOT NULL,
    at          timestamptz NOT NULL DEFAULT now(),
    http_status int,
    error       text
);
CREATE INDEX webhook_attempts_webhook ON webhook_attempts (webhook_id, id);
CREATE INDEX alerts_recorded ON alerts (recorded_at);
