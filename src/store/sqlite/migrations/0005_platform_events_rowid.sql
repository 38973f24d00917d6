-- Answers are hundreds of bytes: kept in a rowid table (appended in order) with a small unique
-- index on the event id, instead of whole rows inside a WITHOUT ROWID b-tree keyed by
-- arbitrary ids, which split pages on nearly every insert.
CREATE TABLE platform_events_by_seq (
    seq        INTEGER PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    type       TEXT NOT NULL,
    status     INTEGER NOT NULL,
    body       TEXT NOT NULL,
    tm_create  INTEGER NOT NULL
);
INSERT INTO platform_events_by_seq (id, type, status, body, tm_create)
    SELECT id, type, status, body, tm_create FROM platform_events ORDER BY tm_create;
DROP TABLE platform_events;
ALTER TABLE platform_events_by_seq RENAME TO platform_events;
