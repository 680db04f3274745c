-- Intake's status projection also shows the validation warnings (e.g. REPORTED_LATE).
ALTER TABLE reports ADD COLUMN IF NOT EXISTS warnings jsonb NOT NULL DEFAULT '[]';
