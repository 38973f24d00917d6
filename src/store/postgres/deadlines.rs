//! Durable deadlines: timeouts, kick grace, the XML idle rule, in PostgreSQL.

use super::rows::*;
use super::{PgTx, WriteSignals};
use crate::domain::deadline::{DeadlineKind, DueDeadline};
use crate::store::tx::DeadlineStore;

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
        self.send(
            "INSERT INTO deadlines (kind, subject_id, due_at) VALUES ($1, $2, $3) \
             ON CONFLICT (kind, subject_id) DO UPDATE SET due_at = EXCLUDED.due_at",
            super::owned![
                kind.as_str().to_string(),
                subject.to_string(),
                due_at.micros()
            ],
        )
    }

    fn clear_deadline(&self, kind: DeadlineKind, subject: &str) -> Result<(), StoreError> {
        // The same delete as for an unknown kind: a row is named by its stored kind.
        self.drop_unknown_deadline(kind.as_str(), subject)
    }

    fn drop_unknown_deadline(&self, stored_kind: &str, subject: &str) -> Result<(), StoreError> {
        self.send(
            "DELETE FROM deadlines WHERE kind = $1 AND subject_id = $2",
            super::owned![stored_kind.to_string(), subject.to_string()],
        )
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
