//! Platform event answers, kept for idempotent replays, in PostgreSQL.

use super::rows::*;
use super::{LockSpace, PgTx};
use crate::store::tx::EventStore;

impl EventStore for PgTx<'_> {
    /// The event id's lock makes a second node with the same id wait until the first has
    /// committed its answer, then find it (each statement sees what committed before it).
    fn claim_event(&self, id: &str) -> Result<EventClaim, StoreError> {
        self.lock(LockSpace::Event, id)?;
        Ok(match self.event_answer(id)? {
            Some((status, body)) => EventClaim::Answered { status, body },
            None => EventClaim::New,
        })
    }

    fn event_answer(&self, id: &str) -> Result<Option<(u16, String)>, StoreError> {
        self.optional_row(
            "SELECT status::bigint, body FROM platform_events WHERE id = $1",
            &[&id],
            |row| {
                let status: i64 = row.get(0)?;
                let status = u16::try_from(status)
                    .map_err(|_| corrupt("event answer status", &status.to_string()))?;
                Ok((status, row.get(1)?))
            },
        )
    }

    fn record_event_answer(
        &self,
        id: &str,
        event_type: &str,
        status: u16,
        body: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO platform_events (id, type, status, body, tm_create) \
             VALUES ($1, $2, $3, $4, $5)",
            &[&id, &event_type, &i32::from(status), &body, &now.micros()],
        )?;
        Ok(())
    }
}
