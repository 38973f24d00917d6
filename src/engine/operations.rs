//! What operators ask of the engine: the store's health, the gauges of `/metrics`, and history
//! pruned past its retention.

use super::{Engine, EngineError};
use crate::ops::metrics::{Gauges, StoreGauges};
use crate::store::{WriteState, PRUNE_BATCH};
use std::time::{Duration, Instant};

/// How long a platform event id is remembered: a replay within it gets the first answer.
pub const IDEMPOTENCY_WINDOW_SECONDS: i64 = 7 * 24 * 3600;
/// How long delivered and failed messages stay in the delivery log.
pub const MESSAGE_RETENTION_SECONDS: i64 = 30 * 24 * 3600;

/// What `/healthz` reports of the store.
#[derive(Debug, Clone)]
pub struct StoreHealth {
    pub read: bool,
    pub write: WriteState,
}

impl Engine {
    /// The gauges of `/metrics`, read from the store.
    pub async fn gauges(&self) -> Result<Gauges, EngineError> {
        let mut g = self.store.read(|db| db.gauges()).await?;
        let (wal_bytes, wal_limit_bytes) = self.store.wal_size();
        let health = self.store.write_health();
        let stats = self.store.writer_stats();
        g.store = StoreGauges {
            wal_bytes,
            wal_limit_bytes,
            write_failing: health.is_failing(),
            write_failures: health.failures(),
            batch_size: stats.batch_size.clone(),
            commit_seconds: stats.commit_seconds.clone(),
            carried: stats.carried.clone(),
        };
        Ok(g)
    }

    /// Deletes history past its retention: platform event answers and announcements after
    /// the idempotency window (7 days); finished outbox messages, finished pauses and what
    /// confab kept of calls on their platforms after 30 days. A batch of rows per table per
    /// transaction, until none is left: a backlog never holds the writer for long, and other
    /// writes go between the batches. Housekeeping gives way to the calls: after each batch it
    /// rests three times as long as the batch took (at least 5 ms), so it takes at most a
    /// quarter of the writer's time however long the backlog, and a busy writer (whose
    /// batches take longer) gets longer rests.
    pub async fn prune_history(&self) -> Result<usize, EngineError> {
        let now = self.clock.now();
        let events_before = now.plus_seconds(-IDEMPOTENCY_WINDOW_SECONDS);
        let messages_before = now.plus_seconds(-MESSAGE_RETENTION_SECONDS);
        let mut pruned = 0;
        loop {
            let started = Instant::now();
            let n = self
                .transact(move |rules| {
                    Ok(rules
                        .db()
                        .prune(events_before, messages_before, PRUNE_BATCH)?)
                })
                .await?;
            if n == 0 {
                return Ok(pruned);
            }
            pruned += n;
            tokio::time::sleep((started.elapsed() * 3).max(Duration::from_millis(5))).await;
        }
    }

    /// Whether the store answers reads, and whether it can write. While writes are failing a
    /// small probe write is tried, so recovery shows even when no client is writing.
    pub async fn health(&self) -> StoreHealth {
        let read = self.store.read(|db| db.ping()).await.is_ok();
        if self.store.write_health().state() != WriteState::Ok {
            let _ = self.store.probe_write(self.clock.now().micros()).await;
        }
        StoreHealth {
            read,
            write: self.store.write_health().state(),
        }
    }
}
