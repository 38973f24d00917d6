-- Dial-out (SPEC §15, issue 27): why a dialled call ended without being answered, as the
-- platform said it (`no-answer`, `busy`, `failed`) or `timeout` when nothing was reported;
-- empty for every other call. The `dialing` status needs no change: statuses are text.
ALTER TABLE conferencecalls ADD COLUMN leave_reason TEXT NOT NULL DEFAULT '';
