//! Conferencecalls: a call's stay in one conference, in PostgreSQL.

use super::rows::*;
use super::{LockSpace, PgTx};
use crate::store::tx::CallStore;

impl CallStore for PgTx<'_> {
    fn insert_call(&self, c: &Conferencecall) -> Result<(), StoreError> {
        self.execute(
            &format!(
                "INSERT INTO conferencecalls ({CALL_COLUMNS}) VALUES \
                 ($1, $2, $3, $4, $5, $6, $7, $8)"
            ),
            &[
                &c.id.to_string(),
                &c.customer_id.to_string(),
                &c.conference_id.to_string(),
                &c.reference_id,
                &c.status.as_str(),
                &c.tm_create.micros(),
                &c.tm_update.micros(),
                &c.tm_delete.map(Timestamp::micros),
            ],
        )?;
        Ok(())
    }

    /// Moves a call to `status`. Reaching `joined` also takes the next join position, which
    /// the conference's lock (held by every writer of its calls) keeps unique.
    fn set_call_status(&self, c: &Conferencecall) -> Result<(), StoreError> {
        let joined = c.status == CallStatus::Joined;
        self.execute(
            "UPDATE conferencecalls SET status = $1, tm_update = $2, tm_delete = $3, \
             join_seq = CASE WHEN $4 THEN (SELECT COALESCE(MAX(join_seq), 0) + 1 \
             FROM conferencecalls WHERE conference_id = $5) ELSE join_seq END WHERE id = $6",
            &[
                &c.status.as_str(),
                &c.tm_update.micros(),
                &c.tm_delete.map(Timestamp::micros),
                &joined,
                &c.conference_id.to_string(),
                &c.id.to_string(),
            ],
        )?;
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
    }

    /// A writer first takes the platform call's lock: two nodes joining the same call to two
    /// conferences at once (each under its own conference's lock) must see each other, so one
    /// of them answers "busy" instead of failing on the unique index.
    fn active_call(&self, reference_id: &str) -> Result<Option<Conferencecall>, StoreError> {
        self.lock(LockSpace::Call, reference_id)?;
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
    }

    fn call_counts(&self, conference_id: ConferenceId) -> Result<(usize, usize), StoreError> {
        let row = self.query_one(
            "SELECT COUNT(*), COUNT(*) FILTER (WHERE status = 'joined') FROM conferencecalls \
             WHERE conference_id = $1 AND status <> 'leaved'",
            &[&conference_id.to_string()],
        )?;
        let (active, joined): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
        Ok((active.max(0) as usize, joined.max(0) as usize))
    }

    fn conference_origin(&self, id: ConferenceId) -> Result<Option<Origin>, StoreError> {
        let origin = self.optional_row(
            "SELECT origin FROM conferences WHERE id = $1",
            &[&id.to_string()],
            |row| Ok(row.try_get::<_, String>(0)?),
        )?;
        Ok(origin.and_then(|o| Origin::parse(&o)))
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
        .map(call_from_row)
        .collect()
    }
}
