-- Usage you can bill from (SPEC §16, issue 28). When each call joined and left the room; rows
-- from before this change stay NULL (shown as not set): nothing is invented for them.
ALTER TABLE conferencecalls ADD COLUMN tm_joined INTEGER;
ALTER TABLE conferencecalls ADD COLUMN tm_left INTEGER;

-- Each customer's usage per UTC day (days since 1970-01-01), added to in the transaction that
-- creates a conference, lets a call leave or ends a recording, so a usage report reads at most
-- 366 days x 16 shards whatever the number of calls. A conference always adds to the same
-- shard; the shards only spread one customer's concurrent writers over several rows.
CREATE TABLE usage_days (
    customer_id         TEXT    NOT NULL,
    day                 INTEGER NOT NULL,
    shard               INTEGER NOT NULL,
    conferences         INTEGER NOT NULL DEFAULT 0,
    calls               INTEGER NOT NULL DEFAULT 0,
    participant_seconds INTEGER NOT NULL DEFAULT 0,
    recording_seconds   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (customer_id, day, shard)
) WITHOUT ROWID;

-- A conference's summary reads its calls' join and leave times.
CREATE INDEX conferencecalls_stays ON conferencecalls(conference_id, tm_joined)
    WHERE tm_joined IS NOT NULL;
