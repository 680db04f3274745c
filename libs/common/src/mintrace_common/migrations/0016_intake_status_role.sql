-- intake's status projection runs as a process of its own (intake-status): its own role, which
-- only reads and updates the status columns of intake's report records (created race-safely, as
-- in 0015_service_roles).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'mintrace_intake_status') THEN
        BEGIN
            CREATE ROLE mintrace_intake_status NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;
        END;
    END IF;
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO mintrace_intake_status', current_database());
END
$$;
GRANT USAGE ON SCHEMA public TO mintrace_intake_status;
GRANT SELECT, UPDATE (state, problems, warnings, licence, province_code, alerts, updated_at)
    ON reports TO mintrace_intake_status;
