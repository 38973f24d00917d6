-- Outbox delivery by lease: a message is delivered by the owner (a lane of one node) that
-- claimed it until `lease_until` (unix microseconds); an attempt's record releases it, and a
-- crashed owner's lease simply expires. Order per ordering key holds across owners because
-- only the first pending message of a key can be claimed while an earlier one is leased.
ALTER TABLE outbox ADD COLUMN lease_owner TEXT;
ALTER TABLE outbox ADD COLUMN lease_until INTEGER NOT NULL DEFAULT 0;
