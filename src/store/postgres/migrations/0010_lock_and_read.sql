-- Locks taken together with the read that follows them, in one round trip (issue 29). Each is
-- VOLATILE PL/pgSQL, so its read is a statement of its own with a snapshot taken after the
-- lock was granted: it sees everything the lock's previous holder committed. With `wait`
-- false the lock is only tried, and a lock held elsewhere raises lock_not_available (55P03),
-- which the writer answers by running the write again in its next batch.

CREATE FUNCTION confab_lock(space INTEGER, key TEXT, wait BOOLEAN) RETURNS VOID
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF wait THEN
        PERFORM pg_advisory_xact_lock(space, hashtext(key));
    ELSIF NOT pg_try_advisory_xact_lock(space, hashtext(key)) THEN
        RAISE EXCEPTION 'lock % of % is held by another write', space, key
            USING ERRCODE = 'lock_not_available';
    END IF;
END
$$;

-- A platform event id's lock and its stored answer, if any. The lock's space (the first key of
-- the advisory lock) is confab's `LockSpace`, passed by the caller like every lock's.
CREATE FUNCTION confab_claim_event(space INTEGER, event_id TEXT, wait BOOLEAN)
RETURNS TABLE (status BIGINT, body TEXT)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM confab_lock(space, event_id, wait);
    RETURN QUERY SELECT e.status::BIGINT, e.body FROM platform_events e WHERE e.id = event_id;
END
$$;

-- A conference's lock and its row.
CREATE FUNCTION confab_locked_conference(space INTEGER, conference_id TEXT, wait BOOLEAN)
RETURNS SETOF conferences
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM confab_lock(space, conference_id, wait);
    RETURN QUERY SELECT * FROM conferences c WHERE c.id = conference_id;
END
$$;

-- A platform call's lock and its conferencecall that has not left, if any.
CREATE FUNCTION confab_active_call(space INTEGER, call_reference TEXT, wait BOOLEAN)
RETURNS SETOF conferencecalls
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM confab_lock(space, call_reference, wait);
    RETURN QUERY SELECT * FROM conferencecalls c
        WHERE c.reference_id = call_reference AND c.status <> 'leaved';
END
$$;
