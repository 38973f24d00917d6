//! Conferencecalls: a call's stay in one conference, in PostgreSQL.

use super::rows::*;
use super::{LockSpace, PgTx};
use crate::store::tx::CallStore;

impl CallStore for PgTx<'_> {
    fn insert_call(&self, c: &Conferencecall) -> Result<(), StoreError> {
        // Sent ahead: it travels with the count move that follows (`PgTx::send`).
        self.send(
            &format!(
                "INSERT INTO conferencecalls ({CALL_COLUMNS}) VALUES \
                 ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"
            ),
            super::owned![
                c.id.to_string(),
                c.customer_id.to_string(),
                c.conference_id.to_string(),
                c.reference_id.clone(),
                c.status.as_str().to_string(),
                c.tm_create.micros(),
                c.tm_update.micros(),
                c.tm_delete.map(Timestamp::micros),
                c.dialect.as_str().to_string(),
                c.platform_conference.clone(),
                c.role.as_str().to_string(),
                i64::from(c.muted),
                i64::from(c.hold),
                c.leave_reason.clone(),
                c.tm_joined.map(Timestamp::micros),
                c.tm_left.map(Timestamp::micros),
                c.from.clone(),
                c.to.clone(),
            ],
        )?;
        self.move_counts(c.conference_id, CountMove::between(None, c.status))?;
        self.known.borrow_mut().saw(c);
        Ok(())
    }

    /// Moves a call to `status`, keeping its conference's counts; reaching `joined` also takes
    /// the conference's next join position (the conference's lock, held by every writer of
    /// its calls, keeps it unique).
    fn set_call_status(&self, c: &Conferencecall) -> Result<(), StoreError> {
        let id = c.id.to_string();
        // Read under the conference's lock earlier in this job, the status is known; else read.
        let known = self.known.borrow().status(&id);
        let from = match known {
            Some(status) => Some(status),
            None => self
                .optional_row(
                    "SELECT status FROM conferencecalls WHERE id = $1",
                    &[&id],
                    |row| row.get::<String>(0),
                )?
                .as_deref()
                .and_then(CallStatus::parse),
        };
        let join_seq = self.move_counts(c.conference_id, CountMove::of(from, c))?;
        // Nothing reads its answer: it goes with the next statement (`PgTx::send`).
        self.send(
            "UPDATE conferencecalls SET status = $1, tm_update = $2, tm_delete = $3, \
             join_seq = COALESCE($4, join_seq), platform_conference = $6, role = $7, \
             muted = $8, hold = $9, reference_id = $10, leave_reason = $11, tm_joined = $12, \
             tm_left = $13 WHERE id = $5",
            super::owned![
                c.status.as_str().to_string(),
                c.tm_update.micros(),
                c.tm_delete.map(Timestamp::micros),
                join_seq,
                id,
                c.platform_conference.clone(),
                c.role.as_str().to_string(),
                i64::from(c.muted),
                i64::from(c.hold),
                c.reference_id.clone(),
                c.leave_reason.clone(),
                c.tm_joined.map(Timestamp::micros),
                c.tm_left.map(Timestamp::micros),
            ],
        )?;
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
                "SELECT {CALL_COLUMNS} FROM conferencecalls WHERE id = $1 \
                 AND ($2::text IS NULL OR customer_id = $2)"
            ),
            &[&id.to_string(), &customer.map(|c| c.to_string())],
            call_from_row,
        )
        .inspect(|call| self.saw(call.as_ref()))
    }

    /// A writer first takes the platform call's lock: two nodes joining the same call to two
    /// conferences at once (each under its own conference's lock) must see each other, so one
    /// of them answers "busy" instead of failing on the unique index.
    /// The lock and the read are one round trip (`confab_active_call`).
    fn active_call(&self, reference_id: &str) -> Result<Option<Conferencecall>, StoreError> {
        if self.signals.is_some() {
            return self
                .optional_row(
                    &format!("SELECT {CALL_COLUMNS} FROM confab_active_call($1, $2, $3)"),
                    &[&(LockSpace::Call as i32), &reference_id, &self.waits()],
                    call_from_row,
                )
                .inspect(|call| self.saw(call.as_ref()));
        }
        self.optional_row(
            &format!(
                "SELECT {CALL_COLUMNS} FROM conferencecalls WHERE reference_id = $1 \
                 AND status <> 'leaved'"
            ),
            &[&reference_id],
            call_from_row,
        )
    }

    fn latest_call_in(
        &self,
        reference_id: &str,
        conference_id: ConferenceId,
    ) -> Result<Option<Conferencecall>, StoreError> {
        self.optional_row(
            &format!(
                "SELECT {CALL_COLUMNS} FROM conferencecalls WHERE reference_id = $1 \
                 AND conference_id = $2 ORDER BY tm_create DESC LIMIT 1"
            ),
            &[&reference_id, &conference_id.to_string()],
            call_from_row,
        )
        .inspect(|call| self.saw(call.as_ref()))
    }

    fn left_count_in(
        &self,
        reference_id: &str,
        conference_id: ConferenceId,
    ) -> Result<usize, StoreError> {
        let n = self.optional_row(
            "SELECT COUNT(*) FROM conferencecalls WHERE reference_id = $1 \
             AND conference_id = $2 AND status = 'leaved'",
            &[&reference_id, &conference_id.to_string()],
            |row| row.get::<i64>(0),
        )?;
        Ok(n.and_then(|n| usize::try_from(n).ok()).unwrap_or(0))
    }

    /// The counts kept on the conference's row, so a long history costs nothing.
    /// Known without a read when this job read or moved them under the conference's lock.
    fn call_counts(&self, conference_id: ConferenceId) -> Result<(usize, usize), StoreError> {
        let id = conference_id.to_string();
        let known = self.known.borrow().counts(&id);
        let counts = match known {
            Some(counts) => Some(counts),
            None => self.optional_row(
                "SELECT calls_active, calls_joined FROM conferences WHERE id = $1",
                &[&id],
                |row| Ok((row.get::<i64>(0)?, row.get::<i64>(1)?)),
            )?,
        };
        if let (Some(counts), Some(_)) = (counts, self.signals) {
            self.known.borrow_mut().set_counts(&id, counts);
        }
        let (active, joined) = counts.unwrap_or((0, 0));
        Ok((active.max(0) as usize, joined.max(0) as usize))
    }

    /// Read by `conferencecalls_by_customer_status` (customer, status, …), under the
    /// customer's dial lock.
    fn dialing_count(&self, customer: CustomerId) -> Result<usize, StoreError> {
        let customer = customer.to_string();
        self.lock(LockSpace::Dials, &customer)?;
        let n = self
            .optional_row(
                "SELECT COUNT(*) FROM conferencecalls WHERE customer_id = $1 \
                 AND status = 'dialing'",
                &[&customer],
                |row| row.get::<i64>(0),
            )?
            .unwrap_or(0);
        Ok(usize::try_from(n).unwrap_or(0))
    }

    fn calls_in(&self, conference_id: ConferenceId) -> Result<Vec<Conferencecall>, StoreError> {
        self.query(
            &format!(
                "SELECT {CALL_COLUMNS} FROM conferencecalls WHERE conference_id = $1 \
                 AND status <> 'leaved' ORDER BY tm_create, id"
            ),
            &[&conference_id.to_string()],
        )?
        .iter()
        .map(|r| call_from_row(r))
        .collect()
    }
}

impl PgTx<'_> {
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
        let last = self.optional_row(
            "UPDATE conferences SET calls_active = calls_active + $1, \
             calls_joined = calls_joined + $2, join_seq_last = join_seq_last + $3, \
             max_concurrent = GREATEST(max_concurrent, calls_joined + $2), \
             participant_seconds = participant_seconds + $5 \
             WHERE id = $4 RETURNING join_seq_last, calls_active, calls_joined",
            &[
                &m.active,
                &m.joined,
                &i64::from(m.takes_join_seq),
                &conference.to_string(),
                &m.stay_seconds,
            ],
            |row| Ok((row.get::<i64>(0)?, (row.get::<i64>(1)?, row.get::<i64>(2)?))),
        )?;
        let id = conference.to_string();
        let last = last.map(|(seq, counts)| {
            self.known.borrow_mut().set_counts(&id, counts);
            seq
        });
        Ok(last.filter(|_| m.takes_join_seq))
    }
}

impl PgTx<'_> {
    /// A call this job read: its status is known while its conference's lock is held.
    fn saw(&self, call: Option<&Conferencecall>) {
        if let (Some(call), Some(_)) = (call, self.signals) {
            self.known.borrow_mut().saw(call);
        }
    }
}
