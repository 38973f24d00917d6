//! Durable deadlines: timeouts, kick grace, the XML idle rule, in SQLite.

use super::rows::*;
use super::{SqliteTx, WriteSignals};
use crate::domain::deadline::{DeadlineKind, DueDeadline};
use crate::store::tx::DeadlineStore;
use crate::store::*;

impl DeadlineStore for SqliteTx<'_> {
    /// Sets (or moves) the deadline of `kind` for `subject`.
    fn set_deadline(
        &self,
        kind: DeadlineKind,
        subject: &str,
        due_at: Timestamp,
    ) -> Result<(), StoreError> {
        if let Some(s) = self.signals {
            WriteSignals::raise(&s.deadlines);
        }
        self.conn
            .prepare_cached(
                "INSERT INTO deadlines (kind, subject_id, due_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (kind, subject_id) DO UPDATE SET due_at = ?3",
            )?
            .execute(params![kind.as_str(), subject, due_at.micros()])?;
        Ok(())
    }

    fn clear_deadline(&self, kind: DeadlineKind, subject: &str) -> Result<(), StoreError> {
        // The same delete as for an unknown kind: a row is named by its stored kind.
        self.drop_unknown_deadline(kind.as_str(), subject)
    }

    fn drop_unknown_deadline(&self, stored_kind: &str, subject: &str) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("DELETE FROM deadlines WHERE kind = ? AND subject_id = ?")?
            .execute(params![stored_kind, subject])?;
        Ok(())
    }

    /// Deadlines due by `now`, earliest first.
    fn due_deadlines(&self, now: Timestamp, limit: usize) -> Result<Vec<DueDeadline>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT kind, subject_id, due_at FROM deadlines WHERE due_at <= ? ORDER BY due_at LIMIT ?",
        )?;
        let rows = stmt.query_map(params![now.micros(), limit as i64], |r| {
            Ok(DueDeadline::from_stored(r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Takes a deadline for firing: true (and the deadline is gone) only if it is still set
    /// with exactly this due time, so of two owners firing it at once one gets it, and a
    /// deadline moved since it was read is not fired early.
    fn take_deadline(
        &self,
        kind: DeadlineKind,
        subject: &str,
        due_at: i64,
    ) -> Result<bool, StoreError> {
        let n = self
            .conn
            .prepare_cached(
                "DELETE FROM deadlines WHERE kind = ? AND subject_id = ? AND due_at = ?",
            )?
            .execute(params![kind.as_str(), subject, due_at])?;
        Ok(n == 1)
    }

    fn next_deadline(&self) -> Result<Option<i64>, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT MIN(due_at) FROM deadlines")?
            .query_row([], |r| r.get(0))?)
    }
}
