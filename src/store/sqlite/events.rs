//! Platform event answers, kept for idempotent replays, in SQLite.

use super::rows::*;
use super::SqliteTx;
use crate::store::tx::EventStore;
use crate::store::*;

impl EventStore for SqliteTx<'_> {
    /// With one writer at a time (SQLite's write lock, taken by `BEGIN IMMEDIATE`), looking
    /// the id up inside the write transaction is enough: a second writer with the same id
    /// waits for this one to commit and then finds its answer.
    fn claim_event(&self, id: &str) -> Result<EventClaim, StoreError> {
        Ok(match self.event_answer(id)? {
            Some((status, body)) => EventClaim::Answered { status, body },
            None => EventClaim::New,
        })
    }

    /// The answer already given to a platform event id.
    fn event_answer(&self, id: &str) -> Result<Option<(u16, String)>, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT status, body FROM platform_events WHERE id = ?")?
            .query_row([id], |r| Ok((r.get::<_, u16>(0)?, r.get::<_, String>(1)?)))
            .optional()?)
    }

    fn record_event_answer(
        &self,
        id: &str,
        event_type: &str,
        status: u16,
        body: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO platform_events (id, type, status, body, tm_create) VALUES (?, ?, ?, ?, ?)",
            )?
            .execute(params![id, event_type, status, body, now.micros()])?;
        Ok(())
    }
}
