//! Platform event answers, kept for idempotent replays, in PostgreSQL.

use super::rows::*;
use super::{LockSpace, PgTx};
use crate::store::tx::EventStore;

impl EventStore for PgTx<'_> {
    /// The event id's lock makes a second node with the same id wait until the first has
    /// committed its answer, then find it (each statement sees what committed before it).
    /// The lock and the read are one round trip (`confab_claim_event`).
    fn claim_event(&self, id: &str) -> Result<EventClaim, StoreError> {
        let answer = if self.signals.is_none() {
            self.event_answer(id)?
        } else {
            self.optional_row(
                "SELECT status, body FROM confab_claim_event($1, $2, $3)",
                &[&(LockSpace::Event as i32), &id, &self.waits()],
                answer_from_row,
            )?
        };
        Ok(match answer {
            Some((status, body)) => EventClaim::Answered { status, body },
            None => EventClaim::New,
        })
    }

    fn event_answer(&self, id: &str) -> Result<Option<(u16, String)>, StoreError> {
        self.optional_row(
            "SELECT status::bigint, body FROM platform_events WHERE id = $1",
            &[&id],
            answer_from_row,
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
        // Nothing reads its answer: it goes with the next statement (`PgTx::send`).
        self.send(
            "INSERT INTO platform_events (id, type, status, body, tm_create) \
             VALUES ($1, $2, $3, $4, $5)",
            super::owned![
                id.to_string(),
                event_type.to_string(),
                i32::from(status),
                body.to_string(),
                now.micros()
            ],
        )
    }
}

/// An event's stored answer: its status and body.
fn answer_from_row(row: &dyn crate::store::columns::Columns) -> Result<(u16, String), StoreError> {
    let status: i64 = row.get(0)?;
    let status =
        u16::try_from(status).map_err(|_| corrupt("event answer status", &status.to_string()))?;
    Ok((status, row.get(1)?))
}
