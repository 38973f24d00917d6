-- An event's cost must not grow with its conference's history: counts and the join sequence
-- are kept on the conference row (maintained by the store with every call it inserts or
-- moves), and the lists of calls not yet left, of a platform call's memberships and of a
-- conference's unfinished recordings are read through indexes that hold only those rows or
-- lead with the key, so no event-path query walks a conference's calls that have left. A
-- conference's recording in progress is the one `recording` (a stopped one is `stopping` until
-- the platform finishes it, and no longer the conference's `recording_id`).
ALTER TABLE conferences ADD COLUMN calls_active BIGINT NOT NULL DEFAULT 0;
ALTER TABLE conferences ADD COLUMN calls_joined BIGINT NOT NULL DEFAULT 0;
ALTER TABLE conferences ADD COLUMN join_seq_last BIGINT NOT NULL DEFAULT 0;
UPDATE conferences SET
    calls_active = (SELECT COUNT(*) FROM conferencecalls c
                    WHERE c.conference_id = conferences.id AND c.status <> 'leaved'),
    calls_joined = (SELECT COUNT(*) FROM conferencecalls c
                    WHERE c.conference_id = conferences.id AND c.status = 'joined'),
    join_seq_last = (SELECT COALESCE(MAX(join_seq), 0) FROM conferencecalls c
                     WHERE c.conference_id = conferences.id);
CREATE INDEX conferencecalls_active_by_conference
    ON conferencecalls(conference_id, tm_create, id) WHERE status <> 'leaved';
CREATE INDEX recordings_in_progress_by_conference
    ON recordings(conference_id, tm_create) WHERE status = 'recording';
