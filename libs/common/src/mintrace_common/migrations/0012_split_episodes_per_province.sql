-- SPLIT_SHIPMENTS are judged per producer and province (SPEC §5: a supervisor sees only their
-- own province): an episode belongs to the province of the exports that formed it, the
-- province its alert went to.
ALTER TABLE split_episodes ADD COLUMN province_code text;
UPDATE split_episodes e SET province_code = a.province_code FROM alerts a
WHERE a.alert_id = e.alert_id;
-- an episode whose alert is gone can no longer be told apart; forgetting it at worst alerts again
DELETE FROM split_episodes WHERE province_code IS NULL;
ALTER TABLE split_episodes ALTER COLUMN province_code SET NOT NULL;
ALTER TABLE split_episodes DROP CONSTRAINT split_episodes_pkey;
ALTER TABLE split_episodes ADD PRIMARY KEY (producer_id, province_code, material, consignee,
                                            first_at);

