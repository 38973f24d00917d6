-- Room rules (SPEC §14): the conference fields after the seed's 16, and the role and mute
-- state of each conferencecall. Existing conferences get the rules they had (no limit, not
-- locked, nobody waits, no music); existing calls were participants, not muted.
ALTER TABLE conferences ADD COLUMN max_participants INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conferences ADD COLUMN locked INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conferences ADD COLUMN wait_for_moderator INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conferences ADD COLUMN end_on_moderator_exit INTEGER NOT NULL DEFAULT 0;
ALTER TABLE conferences ADD COLUMN wait_music_url TEXT NOT NULL DEFAULT '';
ALTER TABLE conferencecalls ADD COLUMN role TEXT NOT NULL DEFAULT 'participant';
ALTER TABLE conferencecalls ADD COLUMN muted INTEGER NOT NULL DEFAULT 0;
