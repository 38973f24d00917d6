//! A clock tests can move forward: the system clock plus an offset the test advances. Time
//! still flows (retries and timestamps behave as in production), but a deadline or a retry
//! comes due the moment the test says so instead of after a real sleep.

use confab::domain::timestamp::{Clock, Timestamp};
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

#[derive(Debug, Default)]
pub struct TestClock {
    offset_micros: AtomicI64,
    /// The last time handed out: like confab's `SystemClock`, strictly increasing, so two
    /// changes never share a `tm_update`.
    last: AtomicI64,
}

impl TestClock {
    /// Moves "now" forward by `by`. Whoever waits on the clock (the deadline scheduler, the
    /// outbox) notices at its next look; `TestServer::advance` also wakes them.
    pub fn advance(&self, by: Duration) {
        self.offset_micros
            .fetch_add(by.as_micros() as i64, Ordering::SeqCst);
    }
}

impl Clock for TestClock {
    fn now(&self) -> Timestamp {
        let wall =
            chrono::Utc::now().timestamp_micros() + self.offset_micros.load(Ordering::SeqCst);
        let mut prev = self.last.load(Ordering::SeqCst);
        loop {
            let next = if wall > prev { wall } else { prev + 1 };
            match self
                .last
                .compare_exchange_weak(prev, next, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => return Timestamp(next),
                Err(actual) => prev = actual,
            }
        }
    }
}
