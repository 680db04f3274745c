-- Routing's outbox drain: a record left unpublished by a crash is re-sent by a sweep, claimed
-- with a lease so that two instances do not both send it.
ALTER TABLE routed_reports ADD COLUMN claimed_at timestamptz;
CREATE INDEX routed_reports_unpublished ON routed_reports (routed_at) WHERE NOT published;
