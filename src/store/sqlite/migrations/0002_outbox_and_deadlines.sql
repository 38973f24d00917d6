-- Durable outbound messages (platform commands and customer notifications) and durable
-- deadlines (conference timeouts, kick grace, the XML idle rule).

CREATE TABLE outbox (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    -- The message id: the command's `id`, the notification's `webhook-id`; the same on every
    -- attempt.
    id               TEXT NOT NULL UNIQUE,
    -- 'command' (to the platform) or 'webhook' (to a customer).
    kind             TEXT NOT NULL,
    customer_id      TEXT,
    -- Messages sharing a key are delivered one at a time, in `seq` order (a conference id).
    ordering_key     TEXT NOT NULL,
    event_type       TEXT NOT NULL,
    url              TEXT NOT NULL,
    method           TEXT NOT NULL DEFAULT 'POST',
    content_type     TEXT NOT NULL DEFAULT 'application/json',
    body             TEXT NOT NULL,
    -- 'pending', 'delivered' or 'failed'.
    status           TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    last_status      INTEGER,
    last_error       TEXT NOT NULL DEFAULT '',
    tm_create        INTEGER NOT NULL,
    tm_update        INTEGER NOT NULL
);
CREATE INDEX outbox_pending_by_time ON outbox(next_attempt_at) WHERE status = 'pending';
CREATE INDEX outbox_pending_by_key ON outbox(ordering_key, seq) WHERE status = 'pending';
CREATE INDEX outbox_by_customer ON outbox(customer_id, seq);

CREATE TABLE deadlines (
    -- 'conference_timeout', 'kick_grace' or 'idle'.
    kind        TEXT NOT NULL,
    -- The conference (timeout, idle) or conferencecall (kick grace) it is about.
    subject_id  TEXT NOT NULL,
    due_at      INTEGER NOT NULL,
    PRIMARY KEY (kind, subject_id)
) WITHOUT ROWID;
CREATE INDEX deadlines_by_due ON deadlines(due_at);
