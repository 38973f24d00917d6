-- Acting on live calls (SPEC §15): whether a conferencecall is on hold, and the announcements
-- confab serves to platforms that fetch what to say from a URL (Twilio's AnnounceUrl): the
-- URL names an announcement by its id and nothing else, the actions stay here.
ALTER TABLE conferencecalls ADD COLUMN hold BIGINT NOT NULL DEFAULT 0;
CREATE TABLE announcements (
    id TEXT PRIMARY KEY NOT NULL,
    customer_id TEXT NOT NULL,
    conference_id TEXT NOT NULL,
    actions TEXT NOT NULL,
    tm_create BIGINT NOT NULL
);
