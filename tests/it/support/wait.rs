//! Bounded waits. Waiting on a receiver is event-driven (`Receiver::wait_for`); this is the
//! one polling wait, for state nothing announces: an API read after a deadline fired, the
//! delivery log after an outcome was recorded, the flows watcher, the store's health window.
//! For the outbox, `TestServer::drain_outbox` (built on it) delivers what is due and returns
//! once nothing is: after it, a receiver's arrivals and the delivery log are final.

use std::future::Future;
use std::time::{Duration, Instant};

/// How often `poll_until` looks again: short, because each look is one cheap local request.
const POLL_EVERY: Duration = Duration::from_millis(20);

/// Runs `check` until it returns `Some`, and panics naming `what` once `limit` has passed.
/// The limits callers pass are generous (seconds for work that takes milliseconds) so a
/// loaded 2-core machine does not turn into a failure; a passing test never waits them out.
pub async fn poll_until<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for: {what}"
        );
        tokio::time::sleep(POLL_EVERY).await;
    }
}
