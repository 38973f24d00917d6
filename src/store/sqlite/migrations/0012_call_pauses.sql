-- A call's paused action list (SPEC §13): a `digits_receive` ends the answer and the run waits
-- for the caller's digits. The pause is written in the transaction that answers, so a resume
-- after a restart continues exactly there. One row per conferencecall that ever paused: `seq`
-- numbers its pauses (the dialects' gather callbacks name it), `active` says whether it is
-- paused now; `program` is the list's text as it ran and `state` where and with what the run
-- continues (the engine's JSON).
CREATE TABLE call_pauses (
    conferencecall_id TEXT PRIMARY KEY NOT NULL,
    seq INTEGER NOT NULL,
    active INTEGER NOT NULL,
    list TEXT NOT NULL,
    program TEXT NOT NULL,
    state TEXT NOT NULL,
    tm_update INTEGER NOT NULL
) WITHOUT ROWID;
