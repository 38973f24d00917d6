//! Whether the store can write right now, and a gate that keeps a persistent fault from
//! flooding the log.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The writer's view of its last commits: a fault (disk full, an I/O error) is a state the
/// service knows and reports, not only a log line.
#[derive(Debug, Default)]
pub struct WriteHealth {
    failing: AtomicBool,
    /// Why the last write failed, and since when writes have been failing.
    fault: Mutex<Option<(String, Instant)>>,
    /// Commits that failed since start.
    failures: AtomicU64,
}

/// A snapshot of [`WriteHealth`] for `/healthz` and `/metrics`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteState {
    Ok,
    Failing { reason: String, seconds: u64 },
}

impl WriteHealth {
    /// A write committed: the store can write (again).
    pub fn committed(&self) {
        if self.failing.swap(false, Ordering::AcqRel) {
            if let Ok(mut f) = self.fault.lock() {
                if let Some((reason, since)) = f.take() {
                    tracing::warn!(
                        reason,
                        failing_for_ms = since.elapsed().as_millis() as u64,
                        "store: writes succeed again"
                    );
                }
            }
        }
    }

    /// A write could not be made durable for `reason`.
    pub fn failed(&self, reason: &str) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut f) = self.fault.lock() {
            match f.as_mut() {
                Some((r, _)) => {
                    if r != reason {
                        *r = reason.to_string();
                    }
                }
                None => *f = Some((reason.to_string(), Instant::now())),
            }
        }
        self.failing.store(true, Ordering::Release);
    }

    pub fn is_failing(&self) -> bool {
        self.failing.load(Ordering::Acquire)
    }

    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    pub fn state(&self) -> WriteState {
        if !self.is_failing() {
            return WriteState::Ok;
        }
        match self.fault.lock().ok().and_then(|f| f.clone()) {
            Some((reason, since)) => WriteState::Failing {
                reason,
                seconds: since.elapsed().as_secs(),
            },
            None => WriteState::Ok,
        }
    }
}

/// Lets a recurring error be logged once per interval, counting what it held back, so a fault
/// that lasts minutes costs a few log lines instead of megabytes.
#[derive(Debug)]
pub struct LogGate {
    interval: Duration,
    last: Mutex<Option<Instant>>,
    held_back: AtomicU64,
}

impl LogGate {
    pub const fn new(interval: Duration) -> LogGate {
        LogGate {
            interval,
            last: Mutex::new(None),
            held_back: AtomicU64::new(0),
        }
    }

    /// `Some(n)` when the caller may log now (`n` = occurrences held back since the last
    /// line); `None` when it should stay quiet.
    pub fn open(&self) -> Option<u64> {
        let now = Instant::now();
        let Ok(mut last) = self.last.lock() else {
            return None;
        };
        match *last {
            Some(t) if now.duration_since(t) < self.interval => {
                self.held_back.fetch_add(1, Ordering::Relaxed);
                None
            }
            _ => {
                *last = Some(now);
                Some(self.held_back.swap(0, Ordering::Relaxed))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_follows_commits() {
        let h = WriteHealth::default();
        assert_eq!(h.state(), WriteState::Ok);
        h.failed("disk full");
        h.failed("disk full");
        assert!(
            matches!(h.state(), WriteState::Failing { ref reason, .. } if reason == "disk full")
        );
        assert_eq!(h.failures(), 2);
        h.committed();
        assert_eq!(h.state(), WriteState::Ok);
    }

    #[test]
    fn gate_logs_once_per_interval() {
        let g = LogGate::new(Duration::from_secs(60));
        assert_eq!(g.open(), Some(0));
        assert_eq!(g.open(), None);
        assert_eq!(g.open(), None);
        let g2 = LogGate::new(Duration::ZERO);
        assert_eq!(g2.open(), Some(0));
        assert_eq!(g2.open(), Some(0));
    }
}
