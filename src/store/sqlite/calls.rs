//! Conferencecalls: a call's stay in one conference, in SQLite.

use super::rows::*;
use super::SqliteTx;
use crate::store::tx::CallStore;
use crate::store::*;

impl CallStore for SqliteTx<'_> {
    fn insert_call(&self, c: &Conferencecall) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(&format!(
                "INSERT INTO conferencecalls ({CALL_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ))?
            .execute(params![
                c.id.to_string(),
                c.customer_id.to_string(),
                c.conference_id.to_string(),
                c.reference_id,
                c.status.as_str(),
                c.tm_create.micros(),
                c.tm_update.micros(),
                c.tm_delete.map(Timestamp::micros),
                c.dialect.as_str(),
                c.platform_conference,
                c.role.as_str(),
                i64::from(c.muted),
                i64::from(c.hold),
                c.leave_reason,
                c.tm_joined.map(Timestamp::micros),
                c.tm_left.map(Timestamp::micros),
                c.from,
                c.to,
            ])?;
        self.move_counts(c.conference_id, CountMove::between(None, c.status))?;
        self.known.borrow_mut().saw(c);
        Ok(())
    }

    /// Moves a call to `status`, keeping its conference's counts; reaching `joined` also takes
    /// the conference's next join position.
    fn set_call_status(&self, c: &Conferencecall) -> Result<(), StoreError> {
        let id = c.id.to_string();
        // Read or written earlier in this job, the status is known; else read.
        let known = self.known.borrow().status(&id);
        let from = match known {
            Some(status) => Some(status),
            None => self
                .conn
                .prepare_cached("SELECT status FROM conferencecalls WHERE id = ?")?
                .query_row([&id], |r| r.get::<_, String>(0))
                .optional()?
                .as_deref()
                .and_then(CallStatus::parse),
        };
        let join_seq = self.move_counts(c.conference_id, CountMove::of(from, c))?;
        self.conn
            .prepare_cached(
                "UPDATE conferencecalls SET status = ?1, tm_update = ?2, tm_delete = ?3, \
                 join_seq = COALESCE(?4, join_seq), platform_conference = ?6, role = ?7, \
                 muted = ?8, hold = ?9, reference_id = ?10, leave_reason = ?11, tm_joined = ?12, \
                 tm_left = ?13 WHERE id = ?5",
            )?
            .execute(params![
                c.status.as_str(),
                c.tm_update.micros(),
                c.tm_delete.map(Timestamp::micros),
                join_seq,
                id,
                c.platform_conference,
                c.role.as_str(),
                i64::from(c.muted),
                i64::from(c.hold),
                c.reference_id,
                c.leave_reason,
                c.tm_joined.map(Timestamp::micros),
                c.tm_left.map(Timestamp::micros),
            ])?;
        self.known.borrow_mut().saw(c);
        Ok(())
    }

    fn call(
        &self,
        customer: Option<CustomerId>,
        id: ConferencecallId,
    ) -> Result<Option<Conferencecall>, StoreError> {
        self.optional_row(
            &format!(
                "SELECT {CALL_COLUMNS} FROM conferencecalls WHERE id = ?1 \
             AND (?2 IS NULL OR customer_id = ?2)"
            ),
            params![id.to_string(), customer.map(|c| c.to_string())],
            call_from_row,
        )
        .inspect(|call| self.saw(call.as_ref()))
    }

    /// The platform call's membership that has not ended, if any (at most one exists).
    fn active_call(&self, reference_id: &str) -> Result<Option<Conferencecall>, StoreError> {
        self.optional_row(
            &format!(
            "SELECT {CALL_COLUMNS} FROM conferencecalls WHERE reference_id = ? AND status <> 'leaved'"
        ),
            [reference_id],
            call_from_row,
        )
        .inspect(|call| self.saw(call.as_ref()))
    }

    /// The newest membership of a platform call in one conference, whatever its status.
    fn latest_call_in(
        &self,
        reference_id: &str,
        conference_id: ConferenceId,
    ) -> Result<Option<Conferencecall>, StoreError> {
        self.optional_row(
            &format!(
            "SELECT {CALL_COLUMNS} FROM conferencecalls WHERE reference_id = ? AND conference_id = ? \
             ORDER BY tm_create DESC LIMIT 1"
        ),
            params![reference_id, conference_id.to_string()],
            call_from_row,
        )
        .inspect(|call| self.saw(call.as_ref()))
    }

    fn left_count_in(
        &self,
        reference_id: &str,
        conference_id: ConferenceId,
    ) -> Result<usize, StoreError> {
        let n: i64 = self
            .conn
            .prepare_cached(
                "SELECT COUNT(*) FROM conferencecalls WHERE reference_id = ? \
                 AND conference_id = ? AND status = 'leaved'",
            )?
            .query_row(params![reference_id, conference_id.to_string()], |r| {
                r.get(0)
            })?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    /// How many calls of a conference have not left, and how many of those are joined: the
    /// counts kept on its row, so a conference with a long history costs no more.
    /// Known without a read when this job read or moved them.
    fn call_counts(&self, conference_id: ConferenceId) -> Result<(usize, usize), StoreError> {
        let id = conference_id.to_string();
        let known = self.known.borrow().counts(&id);
        let counts: Option<(i64, i64)> = match known {
            Some(counts) => Some(counts),
            None => self
                .conn
                .prepare_cached("SELECT calls_active, calls_joined FROM conferences WHERE id = ?")?
                .query_row([&id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?,
        };
        if let (Some(counts), Some(_)) = (counts, self.signals) {
            self.known.borrow_mut().set_counts(&id, counts);
        }
        let (active, joined) = counts.unwrap_or((0, 0));
        Ok((active.max(0) as usize, joined.max(0) as usize))
    }

    /// Read by `conferencecalls_by_customer_status` (customer, status, …).
    fn dialing_count(&self, customer: CustomerId) -> Result<usize, StoreError> {
        let n: i64 = self
            .conn
            .prepare_cached(
                "SELECT COUNT(*) FROM conferencecalls WHERE customer_id = ? AND status = 'dialing'",
            )?
            .query_row([customer.to_string()], |r| r.get(0))?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    /// Calls of a conference that have not left, oldest first.
    fn calls_in(&self, conference_id: ConferenceId) -> Result<Vec<Conferencecall>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {CALL_COLUMNS} FROM conferencecalls WHERE conference_id = ? \
             AND status <> 'leaved' ORDER BY tm_create, id"
        ))?;
        let mut rows = stmt.query([conference_id.to_string()])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(call_from_row(row)?);
        }
        Ok(out)
    }
}

impl SqliteTx<'_> {
    /// Applies a call's move to its conference's counts; returns the join position it takes,
    /// if it takes one.
    fn move_counts(
        &self,
        conference: ConferenceId,
        m: CountMove,
    ) -> Result<Option<i64>, StoreError> {
        if m.is_none() {
            return Ok(None);
        }
        let moved: Option<(i64, (i64, i64))> = self
            .conn
            .prepare_cached(
                "UPDATE conferences SET calls_active = calls_active + ?1, \
                 calls_joined = calls_joined + ?2, join_seq_last = join_seq_last + ?3, \
                 max_concurrent = MAX(max_concurrent, calls_joined + ?2), \
                 participant_seconds = participant_seconds + ?5 \
                 WHERE id = ?4 RETURNING join_seq_last, calls_active, calls_joined",
            )?
            .query_row(
                params![
                    m.active,
                    m.joined,
                    i64::from(m.takes_join_seq),
                    conference.to_string(),
                    m.stay_seconds
                ],
                |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))),
            )
            .optional()?;
        let id = conference.to_string();
        let last = moved.map(|(seq, counts)| {
            self.known.borrow_mut().set_counts(&id, counts);
            seq
        });
        Ok(last.filter(|_| m.takes_join_seq))
    }
}

impl SqliteTx<'_> {
    /// A call a write job read: its status is known for the rest of the job.
    fn saw(&self, call: Option<&Conferencecall>) {
        if let (Some(call), Some(_)) = (call, self.signals) {
            self.known.borrow_mut().saw(call);
        }
    }
}
