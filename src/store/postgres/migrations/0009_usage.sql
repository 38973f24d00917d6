-- Usage you can bill from (SPEC §16, issue 28). When each call joined and left the room; rows
-- from before this change stay NULL (shown as not set): nothing is invented for them.
ALTER TABLE conferencecalls ADD COLUMN tm_joined BIGINT;
ALTER TABLE conferencecalls ADD COLUMN tm_left BIGINT;

-- Each customer's usage per UTC day (days since 1970-01-01), added to in the transaction that
-- creates a conference, lets a call leave or ends a recording, so a usage report reads at most
-- 366 days x 16 shards whatever the number of calls. A conference always adds to the same
-- shard; the shards only spread one customer's concurrent writers over several rows.
CREATE TABLE usage_days (
    customer_id         TEXT    NOT NULL,
    day                 INTEGER NOT NULL,
    shard               INTEGER NOT NULL,
    conferences         BIGINT  NOT NULL DEFAULT 0,
    calls               BIGINT  NOT NULL DEFAULT 0,
    participant_seconds BIGINT  NOT NULL DEFAULT 0,
    recording_seconds   BIGINT  NOT NULL DEFAULT 0,
    PRIMARY KEY (customer_id, day, shard)
);

-- A conference's summary (GET /v1.0/conferences/{id}/summary) reads its row only: the seconds
-- of its calls that left and of its ended recordings, added to with the day counters, and the
-- most calls joined at once, raised as calls join (its calls that joined are `join_seq_last`).
-- A conference from before this change starts from what is known now: nothing counted, and
-- the calls joined at this moment as its most at once.
ALTER TABLE conferences ADD COLUMN participant_seconds BIGINT NOT NULL DEFAULT 0;
ALTER TABLE conferences ADD COLUMN recording_seconds BIGINT NOT NULL DEFAULT 0;
ALTER TABLE conferences ADD COLUMN max_concurrent BIGINT NOT NULL DEFAULT 0;
UPDATE conferences SET max_concurrent = calls_joined;
