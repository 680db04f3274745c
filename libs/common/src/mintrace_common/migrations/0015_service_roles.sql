-- One role per service, holding only the privileges that service needs; a service runs as its
-- role (DATABASE_ROLE: its pool connects with `role` set, libs/common db.py). The roles are
-- NOLOGIN: in Kubernetes each service logs in as a user of its own that is a member of its
-- role (README, "Database roles").
--
-- Roles are cluster-wide, while this migration runs once per database: several databases on one
-- server (test sessions' scratch databases) may run it at the same time. A role that exists
-- (created by another database's migration, or by a DBA) is left alone; one created by a
-- concurrent migration between our check and our CREATE raises duplicate_object or
-- unique_violation, which is caught. Privileges are granted per database, here.
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['mintrace_intake', 'mintrace_validation',
                             'mintrace_license_matching', 'mintrace_provincial_routing',
                             'mintrace_alerting', 'mintrace_supervision'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', r);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;
            END;
        END IF;
        EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), r);
        EXECUTE format('GRANT USAGE ON SCHEMA public TO %I', r);
    END LOOP;
END
$$;

-- intake: its idempotency and status records; who holds a key (and when it was last used).
GRANT SELECT, INSERT, UPDATE ON reports TO mintrace_intake;
GRANT SELECT, UPDATE (last_used_at) ON api_keys TO mintrace_intake;

-- validation: the registry entries a report names; its verdicts.
GRANT SELECT ON producers, facilities TO mintrace_validation;
GRANT SELECT, INSERT ON validation_verdicts TO mintrace_validation;

-- license matching: the ledger (licences changed by the licensing authority's events too).
GRANT SELECT, INSERT, UPDATE ON licences, licence_decisions TO mintrace_license_matching;
GRANT SELECT, INSERT ON licence_events, licence_history TO mintrace_license_matching;
GRANT USAGE ON SEQUENCE licence_history_id_seq TO mintrace_license_matching;

-- provincial routing: where a facility is, FX rates; the routed records and the rollup.
GRANT SELECT ON facilities, fx_rates TO mintrace_provincial_routing;
GRANT SELECT, INSERT, UPDATE ON routed_reports, rollup_daily TO mintrace_provincial_routing;

-- alerting: the reference lists its rules read; its alerts and the state of its detectors.
GRANT SELECT ON watchlist, reference_prices, opening_stocks TO mintrace_alerting;
GRANT SELECT, INSERT, UPDATE, DELETE ON alerts, alert_facts, pending_transfers, split_episodes,
    mass_balance_state, mass_pending TO mintrace_alerting;

-- supervision: reads what the pipeline wrote and the registry; writes only its own cases,
-- console sessions and webhooks.
GRANT SELECT ON routed_reports, rollup_daily, alerts, alert_facts, split_episodes, producers,
    facilities, licences TO mintrace_supervision;
GRANT SELECT, UPDATE (last_used_at) ON api_keys TO mintrace_supervision;
GRANT SELECT, INSERT, UPDATE ON cases, webhooks, webhook_deliveries TO mintrace_supervision;
GRANT SELECT, INSERT ON case_history, webhook_attempts TO mintrace_supervision;
GRANT SELECT, INSERT, UPDATE, DELETE ON case_events_outbox, console_sessions
    TO mintrace_supervision;

-- cancellations (migration 0013): the quota each cancellation gave back, kept by license
-- matching; the cancellations routing has withdrawn from the rollup.
GRANT SELECT, INSERT, UPDATE ON licence_restorations TO mintrace_license_matching;
GRANT SELECT, INSERT ON routing_cancellations TO mintrace_provincial_routing;
