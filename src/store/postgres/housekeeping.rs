//! Health, metrics gauges and history retention, in PostgreSQL.

use super::rows::*;
use super::PgTx;
use crate::store::retention::{Kept, PRUNED};
use crate::store::tx::HousekeepingStore;

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
        limit: i64,
    ) -> Result<usize, StoreError> {
        let mut pruned = 0;
        for table in PRUNED {
            let cutoff = match table.kept {
                Kept::Events => events_before,
                Kept::Messages => messages_before,
            };
            pruned += self.execute(&table.delete("$1", "$2"), &[&cutoff.micros(), &limit])?;
        }
        Ok(usize::try_from(pruned).unwrap_or(usize::MAX))
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
