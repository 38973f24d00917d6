-- confab schema, version 1. Shipped migrations are never edited: add a new numbered file.
-- Times are INTEGER microseconds since the Unix epoch (UTC); NULL means "not set".

CREATE TABLE customers (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    webhook_uri     TEXT NOT NULL DEFAULT '',
    webhook_method  TEXT NOT NULL DEFAULT 'POST',
    webhook_secret  TEXT NOT NULL,
    webhook_events  TEXT NOT NULL DEFAULT '[]',
    tm_create       INTEGER NOT NULL,
    tm_update       INTEGER NOT NULL
);

CREATE TABLE api_keys (
    key_hash     BLOB PRIMARY KEY,
    customer_id  TEXT NOT NULL REFERENCES customers(id),
    tm_create    INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE conferences (
    id            TEXT PRIMARY KEY,
    customer_id   TEXT NOT NULL REFERENCES customers(id),
    type          TEXT NOT NULL,
    status        TEXT NOT NULL,
    name          TEXT NOT NULL,
    detail        TEXT NOT NULL,
    data          TEXT NOT NULL,
    timeout       INTEGER NOT NULL,
    pre_actions   TEXT NOT NULL,
    post_actions  TEXT NOT NULL,
    origin        TEXT NOT NULL DEFAULT 'json',
    app_sid       TEXT NOT NULL DEFAULT '',
    user_data     TEXT NOT NULL DEFAULT '',
    on_status     TEXT NOT NULL DEFAULT '',
    tm_create     INTEGER NOT NULL,
    tm_update     INTEGER NOT NULL,
    tm_delete     INTEGER,
    tm_begin      INTEGER,
    tm_end        INTEGER
);
CREATE INDEX conferences_by_customer ON conferences(customer_id, tm_create DESC, id DESC);

CREATE TABLE conferencecalls (
    id             TEXT PRIMARY KEY,
    customer_id    TEXT NOT NULL REFERENCES customers(id),
    conference_id  TEXT NOT NULL REFERENCES conferences(id),
    reference_id   TEXT NOT NULL,
    status         TEXT NOT NULL,
    -- Order in which calls reached `joined`; conferencecall_ids lists joined calls by it.
    join_seq       INTEGER,
    tm_create      INTEGER NOT NULL,
    tm_update      INTEGER NOT NULL,
    tm_delete      INTEGER
);
-- A call is in at most one conference that it has not left (§3.2), enforced by the database.
CREATE UNIQUE INDEX conferencecalls_one_active_per_call
    ON conferencecalls(reference_id) WHERE status <> 'leaved';
CREATE INDEX conferencecalls_by_conference ON conferencecalls(conference_id, status, join_seq);
CREATE INDEX conferencecalls_by_customer ON conferencecalls(customer_id, tm_create DESC, id DESC);

CREATE TABLE recordings (
    id             TEXT PRIMARY KEY,
    customer_id    TEXT NOT NULL REFERENCES customers(id),
    conference_id  TEXT NOT NULL REFERENCES conferences(id),
    status         TEXT NOT NULL,
    format         TEXT NOT NULL,
    duration       INTEGER NOT NULL,
    media_url      TEXT NOT NULL DEFAULT '',
    tm_start       INTEGER NOT NULL,
    tm_end         INTEGER,
    tm_create      INTEGER NOT NULL
);
CREATE INDEX recordings_by_conference ON recordings(conference_id, tm_create, id);
CREATE INDEX recordings_by_customer ON recordings(customer_id, tm_create DESC, id DESC);

-- Platform events already answered, keyed by the platform's event id, so a replay gets the
-- first answer back byte for byte and changes nothing (§5).
CREATE TABLE platform_events (
    id         TEXT PRIMARY KEY,
    type       TEXT NOT NULL,
    status     INTEGER NOT NULL,
    body       TEXT NOT NULL,
    tm_create  INTEGER NOT NULL
) WITHOUT ROWID;
