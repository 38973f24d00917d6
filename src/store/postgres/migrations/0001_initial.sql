-- confab schema on PostgreSQL, version 1: the same tables as the SQLite schema at its
-- version 8. Shipped migrations are never edited: add a new numbered file. Times are BIGINT
-- microseconds since the Unix epoch (UTC); NULL means "not set". Ids are the UUIDs' text, as
-- in SQLite, so both backends hand back the same values.

CREATE TABLE customers (
    id                            TEXT PRIMARY KEY,
    name                          TEXT NOT NULL,
    webhook_uri                   TEXT NOT NULL DEFAULT '',
    webhook_method                TEXT NOT NULL DEFAULT 'POST',
    webhook_secret                TEXT NOT NULL,
    webhook_events                TEXT NOT NULL DEFAULT '[]',
    webhook_secret_previous       TEXT NOT NULL DEFAULT '',
    webhook_secret_previous_until BIGINT,
    tm_create                     BIGINT NOT NULL,
    tm_update                     BIGINT NOT NULL
);

CREATE TABLE api_keys (
    key_hash     BYTEA PRIMARY KEY,
    customer_id  TEXT NOT NULL REFERENCES customers(id),
    tm_create    BIGINT NOT NULL
);

CREATE TABLE conferences (
    id            TEXT PRIMARY KEY,
    customer_id   TEXT NOT NULL REFERENCES customers(id),
    type          TEXT NOT NULL,
    status        TEXT NOT NULL,
    name          TEXT NOT NULL,
    detail        TEXT NOT NULL,
    data          TEXT NOT NULL,
    timeout       BIGINT NOT NULL,
    pre_actions   TEXT NOT NULL,
    post_actions  TEXT NOT NULL,
    origin        TEXT NOT NULL DEFAULT 'json',
    app_sid       TEXT NOT NULL DEFAULT '',
    user_data     TEXT NOT NULL DEFAULT '',
    on_status     TEXT NOT NULL DEFAULT '',
    xml_status    TEXT NOT NULL DEFAULT '',
    tm_create     BIGINT NOT NULL,
    tm_update     BIGINT NOT NULL,
    tm_delete     BIGINT,
    tm_begin      BIGINT,
    tm_end        BIGINT
);
CREATE INDEX conferences_by_customer ON conferences(customer_id, tm_create DESC, id DESC);
CREATE INDEX conferences_open ON conferences(status) WHERE status <> 'terminated';

CREATE TABLE conferencecalls (
    id             TEXT PRIMARY KEY,
    customer_id    TEXT NOT NULL REFERENCES customers(id),
    conference_id  TEXT NOT NULL REFERENCES conferences(id),
    reference_id   TEXT NOT NULL,
    status         TEXT NOT NULL,
    -- Order in which calls reached `joined`; conferencecall_ids lists joined calls by it.
    join_seq       BIGINT,
    tm_create      BIGINT NOT NULL,
    tm_update      BIGINT NOT NULL,
    tm_delete      BIGINT
);
-- A call is in at most one conference that it has not left (§3.2), enforced by the database
-- whichever node writes.
CREATE UNIQUE INDEX conferencecalls_one_active_per_call
    ON conferencecalls(reference_id) WHERE status <> 'leaved';
CREATE INDEX conferencecalls_by_conference ON conferencecalls(conference_id, status, join_seq);
CREATE INDEX conferencecalls_by_reference ON conferencecalls(reference_id, conference_id, tm_create);
CREATE INDEX conferencecalls_by_customer ON conferencecalls(customer_id, tm_create DESC, id DESC);

CREATE TABLE recordings (
    id             TEXT PRIMARY KEY,
    customer_id    TEXT NOT NULL REFERENCES customers(id),
    conference_id  TEXT NOT NULL REFERENCES conferences(id),
    status         TEXT NOT NULL,
    format         TEXT NOT NULL,
    duration       BIGINT NOT NULL,
    media_url      TEXT NOT NULL DEFAULT '',
    tm_start       BIGINT NOT NULL,
    tm_end         BIGINT,
    tm_create      BIGINT NOT NULL
);
CREATE INDEX recordings_by_conference ON recordings(conference_id, tm_create, id);
CREATE INDEX recordings_by_customer ON recordings(customer_id, tm_create DESC, id DESC);

-- Platform events already answered, keyed by the platform's event id, so a replay gets the
-- first answer back byte for byte and changes nothing (§5), on whichever node it arrives.
CREATE TABLE platform_events (
    seq        BIGSERIAL PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    type       TEXT NOT NULL,
    status     INTEGER NOT NULL,
    body       TEXT NOT NULL,
    tm_create  BIGINT NOT NULL
);
CREATE INDEX platform_events_by_time ON platform_events(tm_create);

-- Durable outbound messages (platform commands and customer notifications), delivered by
-- lease: the owner (a lane of one node) that claimed a message delivers it until
-- `lease_until`; a dead node's lease simply expires and another node takes the message over.
CREATE TABLE outbox (
    seq              BIGSERIAL PRIMARY KEY,
    id               TEXT NOT NULL UNIQUE,
    kind             TEXT NOT NULL,
    customer_id      TEXT,
    ordering_key     TEXT NOT NULL,
    event_type       TEXT NOT NULL,
    url              TEXT NOT NULL,
    method           TEXT NOT NULL DEFAULT 'POST',
    content_type     TEXT NOT NULL DEFAULT 'application/json',
    body             TEXT NOT NULL,
    status           TEXT NOT NULL,
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT NOT NULL,
    last_status      BIGINT,
    last_error       TEXT NOT NULL DEFAULT '',
    tm_create        BIGINT NOT NULL,
    tm_update        BIGINT NOT NULL,
    lease_owner      TEXT,
    lease_until      BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX outbox_pending_by_time ON outbox(next_attempt_at) WHERE status = 'pending';
CREATE INDEX outbox_pending_by_key ON outbox(ordering_key, seq) WHERE status = 'pending';
CREATE INDEX outbox_by_customer ON outbox(customer_id, seq);
CREATE INDEX outbox_by_status ON outbox(status, kind, tm_update);

-- Durable deadlines: conference timeouts, kick grace, the XML idle rule. Whichever node
-- deletes the row fires the deadline, so each fires once.
CREATE TABLE deadlines (
    kind        TEXT NOT NULL,
    subject_id  TEXT NOT NULL,
    due_at      BIGINT NOT NULL,
    PRIMARY KEY (kind, subject_id)
);
CREATE INDEX deadlines_by_due ON deadlines(due_at);

-- One row that `/healthz` rewrites while writes are failing.
CREATE TABLE store_probe (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    at  BIGINT NOT NULL
);
