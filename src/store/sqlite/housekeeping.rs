//! Health, metrics gauges and history retention, in SQLite.

use super::rows::*;
use super::SqliteTx;
use crate::store::retention::{Kept, PRUNED};
use crate::store::tx::HousekeepingStore;
use crate::store::*;

impl HousekeepingStore for SqliteTx<'_> {
    /// A trivial query, to prove the store answers.
    fn ping(&self) -> Result<(), StoreError> {
        self.conn.query_row("SELECT 1", [], |_| Ok(()))?;
        Ok(())
    }

    /// Rewrites the probe row: a write that changes a page, so its commit proves the store
    /// can write.
    fn probe(&self, now: i64) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("INSERT OR REPLACE INTO store_probe (id, at) VALUES (1, ?)")?
            .execute([now])?;
        Ok(())
    }

    /// The gauges of `/metrics`.
    fn gauges(&self) -> Result<crate::store::Gauges, StoreError> {
        let mut g = crate::store::Gauges::default();
        let mut stmt = self.conn.prepare_cached(
            "SELECT kind, status, COUNT(*) FROM outbox WHERE status IN ('pending', 'failed') \
             GROUP BY kind, status",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let (kind, status, n): (String, String, i64) = (row.get(0)?, row.get(1)?, row.get(2)?);
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
            .conn
            .prepare_cached("SELECT COUNT(*) FROM deadlines")?
            .query_row([], |r| r.get(0))?;
        Ok(g)
    }

    fn prune(
        &self,
        events_before: Timestamp,
        messages_before: Timestamp,
        limit: i64,
    ) -> Result<usize, StoreError> {
        let mut pruned = 0;
        for table in PRUNED {
            let cutoff = match table.kept {
                Kept::Events => events_before,
                Kept::Messages => messages_before,
            };
            pruned += self
                .conn
                .prepare_cached(&table.delete("?1", "?2"))?
                .execute(params![cutoff.micros(), limit])?;
        }
        Ok(pruned)
    }

    /// Counts for metrics: conferences not terminated, calls not left.
    fn active_counts(&self) -> Result<(i64, i64), StoreError> {
        let conferences = self
            .conn
            .prepare_cached("SELECT COUNT(*) FROM conferences WHERE status <> 'terminated'")?
            .query_row([], |r| r.get(0))?;
        let calls = self
            .conn
            .prepare_cached("SELECT COUNT(*) FROM conferencecalls WHERE status <> 'leaved'")?
            .query_row([], |r| r.get(0))?;
        Ok((conferences, calls))
    }
}
