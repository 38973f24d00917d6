//! The deadline scheduler: fires due conference timeouts, kick grace periods and XML idle
//! rules (rows in the store); after a restart every overdue deadline fires at once.

use crate::engine::Engine;
use crate::store::{DeadlineView, LogGate};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Most deadlines fired in one round; they are fired concurrently so their writes share commits.
const ROUND: usize = 512;
/// Longest pause between rounds while deadlines fail to fire.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Fires due deadlines until the task is dropped; `wake` is notified when a deadline is set so
/// an earlier one than the scheduler waits for is not missed. The scheduler reads the
/// deadlines through `deadlines` only; each is fired by the engine, in its own transaction.
pub async fn run(engine: Engine, deadlines: DeadlineView, wake: Arc<Notify>) {
    // While the store fails, the same deadlines fail every round: one log line per interval,
    // and rounds spaced out up to `MAX_BACKOFF`.
    let gate = LogGate::new(Duration::from_secs(10));
    let mut backoff = Duration::from_millis(500);
    loop {
        let now = engine.now();
        let due = match deadlines.read(move |db| db.due_deadlines(now, ROUND)).await {
            Ok(d) => d,
            Err(e) => {
                if let Some(held) = gate.open() {
                    tracing::error!(error = %e, held_back = held, "deadlines: cannot read due deadlines");
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        let full_round = due.len() == ROUND;
        let fired = due.into_iter().map(|due| {
            let engine = engine.clone();
            let gate = &gate;
            async move {
                let result = engine.fire_deadline(&due).await;
                if let Err(e) = &result {
                    if let Some(held) = gate.open() {
                        let (kind, subject) = (due.kind_name(), &due.subject);
                        tracing::error!(kind, subject, error = %e, held_back = held, "deadline failed; it will be retried");
                    }
                }
                // Only a store fault slows the scheduler down; a deadline that fails for
                // another reason must not hold the others back.
                matches!(&result, Err(e) if crate::store::StoreFault::store_fault(e).is_some())
            }
        });
        let failed = futures_util::future::join_all(fired)
            .await
            .into_iter()
            .any(|store_fault| store_fault);
        if failed {
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
            continue;
        }
        backoff = Duration::from_millis(500);
        if full_round {
            continue;
        }
        let next = deadlines.read(|db| db.next_deadline()).await.ok().flatten();
        let now = engine.now().micros();
        let wait = match next {
            Some(t) if t > now => {
                Duration::from_micros((t - now) as u64).min(Duration::from_secs(1))
            }
            // A deadline that failed to fire is retried after a pause, not in a busy loop.
            Some(_) => Duration::from_millis(500),
            None => Duration::from_secs(1),
        };
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}
