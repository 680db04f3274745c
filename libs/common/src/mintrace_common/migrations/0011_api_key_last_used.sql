-- When each key was last accepted (`mintrace keys list`); written at most once a minute a key.
ALTER TABLE api_keys ADD COLUMN IF NOT EXISTS last_used_at timestamptz;
