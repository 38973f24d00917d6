-- What confab knows of a call on its platform beyond the conferencecall's row (SPEC §15): the
-- platform's own id of a dialled call while it rings (reported by the dial's status callback,
-- so a kick of a ringing dial can cancel it), and the newest platform report applied to the
-- call (Twilio numbers its conference events, so a late report cannot undo a newer one), and
-- the number of the report of its join (a leave numbered before it is an earlier membership's).
-- Rows are pruned with the history they belong to (`tm_update`).
CREATE TABLE platform_calls (
    conferencecall_id TEXT PRIMARY KEY NOT NULL,
    dial_call_id TEXT NOT NULL DEFAULT '',
    update_sequence INTEGER NOT NULL DEFAULT -1,
    join_sequence INTEGER NOT NULL DEFAULT -1,
    tm_update INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX platform_calls_by_time ON platform_calls(tm_update);
-- Retention of what only a call's own moments need: announcements (fetched once, seconds
-- after they are made) and finished pauses.
CREATE INDEX announcements_by_time ON announcements(tm_create);
CREATE INDEX call_pauses_by_time ON call_pauses(tm_update);
-- The caller's numbers as the platform gave them when the call arrived (`from`, `to`): every
-- later run for the call (its `post_actions`, what it is told while in the room) substitutes
-- `${call.from}` and `${call.to}` as its `pre_actions` did.
ALTER TABLE conferencecalls ADD COLUMN call_from TEXT NOT NULL DEFAULT '';
ALTER TABLE conferencecalls ADD COLUMN call_to TEXT NOT NULL DEFAULT '';
