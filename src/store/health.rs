//! Whether the store can write right now, and a gate that keeps a persistent fault from
//! flooding the log.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The writer's view of its last commits: a fault (disk full, an I/O error) is a state the
/// service knows and reports, not only a log line. On a nearly full disk some commits still
/// fit and others do not, so the store counts as failing until no write has failed for
/// [`RECOVERY_WINDOW`]: a load balancer should not flap with every commit.
#[derive(Debug, Default)]
pub struct WriteHealth {
    failing: AtomicBool,
    fault: Mutex<Option<Fault>>,
    /// Commits that failed since start.
    failures: AtomicU64,
}

/// How long after its last failed write the store still counts as failing.
pub const RECOVERY_WINDOW: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
struct Fault {
    reason: String,
    since: Instant,
    last: Instant,
}

/// A snapshot of [`WriteHealth`] for `/healthz` and `/metrics`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteState {
    Ok,
    Failing { reason: String, seconds: u64 },
}

impl WriteHealth {
    /// A write committed.
    pub fn committed(&self) {
        self.failing.store(false, Ordering::Release);
    }

    /// A write could not be made durable for `reason`.
    pub fn failed(&self, reason: &str) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        if let Ok(mut f) = self.fault.lock() {
            match f.as_mut() {
                Some(fault) if now.duration_since(fault.last) < RECOVERY_WINDOW => {
                    fault.last = now;
                    if fault.reason != reason {
                        fault.reason = reason.to_string();
                    }
                }
                _ => {
                    *f = Some(Fault {
                        reason: reason.to_string(),
                        since: now,
                        last: now,
                    })
                }
            }
        }
        self.failing.store(true, Ordering::Release);
    }

    /// True while the last write failed or one failed within the recovery window.
    pub fn is_failing(&self) -> bool {
        self.state() != WriteState::Ok
    }

    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    pub fn state(&self) -> WriteState {
        let Ok(mut f) = self.fault.lock() else {
            return WriteState::Ok;
        };
        let failing = self.failing.load(Ordering::Acquire);
        match f.as_ref() {
            Some(fault) if failing || fault.last.elapsed() < RECOVERY_WINDOW => {
                WriteState::Failing {
                    reason: fault.reason.clone(),
                    seconds: fault.since.elapsed().as_secs(),
                }
            }
            Some(fault) => {
                tracing::warn!(
                    reason = %fault.reason,
                    failed_for_ms = fault.last.duration_since(fault.since).as_millis() as u64,
                    "store: writes succeed again"
                );
                *f = None;
                WriteState::Ok
            }
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
        assert!(h.is_failing(), "failing within the recovery window");
        if let Ok(mut f) = h.fault.lock() {
            if let Some(fault) = f.as_mut() {
                fault.last = Instant::now() - RECOVERY_WINDOW;
            }
        }
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
