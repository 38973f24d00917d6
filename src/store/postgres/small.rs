//! Deadlines, platform event answers, and housekeeping (health, gauges, retention), in
//! PostgreSQL.

use super::rows::*;
use super::{LockSpace, PgTx, WriteSignals};
use crate::domain::deadline::{DeadlineKind, DueDeadline};
use crate::store::tx::{DeadlineStore, EventStore, HousekeepingStore};

impl DeadlineStore for PgTx<'_> {
    fn set_deadline(
        &self,
        kind: DeadlineKind,
        subject: &str,
        due_at: Timestamp,
    ) -> Result<(), StoreError> {
        if let Some(s) = self.signals {
            WriteSignals::raise(&s.deadlines);
        }
        self.execute(
            "INSERT INTO deadlines (kind, subject_id, due_at) VALUES ($1, $2, $3) \
             ON CONFLICT (kind, subject_id) DO UPDATE SET due_at = EXCLUDED.due_at",
            &[&kind.as_str(), &subject, &due_at.micros()],
        )?;
        Ok(())
    }

    fn clear_deadline(&self, kind: DeadlineKind, subject: &str) -> Result<(), StoreError> {
        // The same delete as for an unknown kind: a row is named by its stored kind.
        self.drop_unknown_deadline(kind.as_str(), subject)
    }

    fn drop_unknown_deadline(&self, stored_kind: &str, subject: &str) -> Result<(), StoreError> {
        self.execute(
            "DELETE FROM deadlines WHERE kind = $1 AND subject_id = $2",
            &[&stored_kind, &subject],
        )?;
        Ok(())
    }

    fn due_deadlines(&self, now: Timestamp, limit: usize) -> Result<Vec<DueDeadline>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.query(
            "SELECT kind, subject_id, due_at FROM deadlines WHERE due_at <= $1 \
             ORDER BY due_at LIMIT $2",
            &[&now.micros(), &limit],
        )?
        .iter()
        .map(|r| {
            Ok(DueDeadline::from_stored(
                r.try_get(0)?,
                r.try_get(1)?,
                r.try_get(2)?,
            ))
        })
        .collect()
    }

    /// Whichever node's DELETE finds the row fires the deadline; the other node's DELETE waits
    /// for that transaction and then finds nothing.
    fn take_deadline(
        &self,
        kind: DeadlineKind,
        subject: &str,
        due_at: i64,
    ) -> Result<bool, StoreError> {
        let n = self.execute(
            "DELETE FROM deadlines WHERE kind = $1 AND subject_id = $2 AND due_at = $3",
            &[&kind.as_str(), &subject, &due_at],
        )?;
        Ok(n == 1)
    }

    fn next_deadline(&self) -> Result<Option<i64>, StoreError> {
        Ok(self
            .query_one("SELECT MIN(due_at) FROM deadlines", &[])?
            .try_get(0)?)
    }
}

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

impl HousekeepingStore for PgTx<'_> {
    fn ping(&self) -> Result<(), StoreError> {
        self.query_one("SELECT 1", &[])?;
        Ok(())
    }

    fn probe(&self, now: i64) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO store_probe (id, at) VALUES (1, $1) \
             ON CONFLICT (id) DO UPDATE SET at = EXCLUDED.at",
            &[&now],
        )?;
        Ok(())
    }

    fn gauges(&self) -> Result<crate::store::Gauges, StoreError> {
        let mut g = crate::store::Gauges::default();
        for row in self.query(
            "SELECT kind, status, COUNT(*) FROM outbox WHERE status IN ('pending', 'failed') \
             GROUP BY kind, status",
            &[],
        )? {
            let (kind, status, n): (String, String, i64) =
                (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
            if status == "pending" {
                g.outbox_pending.push((kind, n));
            } else {
                g.outbox_failed.push((kind, n));
            }
        }
        let (conferences, calls) = self.active_counts()?;
        g.active_conferences = conferences;
        g.active_calls = calls;
        g.deadlines = self
            .query_one("SELECT COUNT(*) FROM deadlines", &[])?
            .try_get(0)?;
        Ok(g)
    }

    fn prune(
        &self,
        events_before: Timestamp,
        messages_before: Timestamp,
    ) -> Result<usize, StoreError> {
        let events = self.execute(
            "DELETE FROM platform_events WHERE tm_create < $1",
            &[&events_before.micros()],
        )?;
        let messages = self.execute(
            "DELETE FROM outbox WHERE status IN ('delivered', 'failed') AND tm_update < $1",
            &[&messages_before.micros()],
        )?;
        Ok(usize::try_from(events + messages).unwrap_or(usize::MAX))
    }

    fn active_counts(&self) -> Result<(i64, i64), StoreError> {
        let row = self.query_one(
            "SELECT (SELECT COUNT(*) FROM conferences WHERE status <> 'terminated'), \
             (SELECT COUNT(*) FROM conferencecalls WHERE status <> 'leaved')",
            &[],
        )?;
        Ok((row.try_get(0)?, row.try_get(1)?))
    }
}
