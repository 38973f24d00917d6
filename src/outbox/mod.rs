//! The durable outbox: messages written in the same transaction as the change they report,
//! then delivered at least once — in order per ordering key, concurrently across keys — with
//! retries by schedule. Carries platform commands and customer notifications alike.

pub mod courier;
mod dispatcher;
mod lane;
pub mod message;
mod send;
pub mod target;

pub use courier::{Courier, Signing, WebhookRequest};
pub use dispatcher::Dispatcher;

use std::time::Duration;

/// How long one delivery attempt may take (§7.2).
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// When to try again after a failed attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Delays in seconds: the first before attempt 1, then one after each failure.
    pub delays: Vec<u64>,
    /// If set, once the delays run out the last one repeats until this long after the
    /// message was created (platform commands: 1 h).
    pub repeat_last_for: Option<Duration>,
}

impl RetryPolicy {
    pub fn first_delay_micros(&self) -> i64 {
        self.delays.first().copied().unwrap_or(0) as i64 * 1_000_000
    }

    /// The time of the next attempt after `attempts` failed attempts, or `None` to give up.
    /// A `Retry-After` the receiver sent is honoured when it asks for a longer wait.
    pub fn next_attempt(
        &self,
        attempts: usize,
        created: i64,
        now: i64,
        retry_after: Option<u64>,
    ) -> Option<i64> {
        let delay = match self.delays.get(attempts) {
            Some(d) => *d,
            None => {
                let window = self.repeat_last_for?;
                let last = *self.delays.last()?;
                let deadline = created + window.as_micros() as i64;
                if now + last as i64 * 1_000_000 > deadline {
                    return None;
                }
                last
            }
        };
        let delay = delay.max(retry_after.unwrap_or(0).min(86_400));
        Some(now + delay as i64 * 1_000_000)
    }
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    Delivered(u16),
    /// Worth retrying: connection error, timeout, 429, 5xx.
    Retry {
        status: Option<u16>,
        error: String,
        retry_after: Option<u64>,
    },
    /// Not worth retrying: another 4xx, or a refused target.
    Failed {
        status: Option<u16>,
        error: String,
    },
}

/// Classifies an HTTP status (§7.2): 2xx done; 429 and 5xx retry; other statuses fail.
pub fn classify(status: u16, retry_after: Option<u64>) -> Attempt {
    match status {
        200..=299 => Attempt::Delivered(status),
        429 | 500..=599 => Attempt::Retry {
            status: Some(status),
            error: format!("HTTP {status}"),
            retry_after,
        },
        _ => Attempt::Failed {
            status: Some(status),
            error: format!("HTTP {status}"),
        },
    }
}

/// Signing keys and target checks the dispatcher needs per message kind.
#[derive(Clone)]
pub struct DeliverySettings {
    pub platform_key: Option<Vec<u8>>,
    pub command_policy: RetryPolicy,
    pub webhook_policy: RetryPolicy,
    pub allow_private: bool,
    /// How long a claimed message is leased to this node's lane (`--outbox-lease`).
    pub lease: std::time::Duration,
    /// This node's stable name (`--node-name`), naming its leases; random when unset.
    pub node_name: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_schedule_then_give_up() {
        let p = RetryPolicy {
            delays: vec![0, 5, 300],
            repeat_last_for: None,
        };
        assert_eq!(p.first_delay_micros(), 0);
        assert_eq!(p.next_attempt(1, 0, 1_000_000, None), Some(6_000_000));
        assert_eq!(p.next_attempt(2, 0, 0, None), Some(300_000_000));
        assert_eq!(p.next_attempt(3, 0, 0, None), None);
        assert_eq!(
            p.next_attempt(1, 0, 0, Some(60)),
            Some(60_000_000),
            "Retry-After honoured"
        );
    }

    #[test]
    fn command_schedule_repeats_its_last_delay_for_an_hour() {
        let p = RetryPolicy {
            delays: vec![0, 1, 60],
            repeat_last_for: Some(Duration::from_secs(3600)),
        };
        let hour = 3_600_000_000;
        assert_eq!(p.next_attempt(10, 0, 60_000_000, None), Some(120_000_000));
        assert_eq!(p.next_attempt(99, 0, hour - 30_000_000, None), None);
    }

    #[test]
    fn classification_follows_the_contract() {
        assert_eq!(classify(204, None), Attempt::Delivered(204));
        assert!(matches!(
            classify(429, Some(3)),
            Attempt::Retry {
                retry_after: Some(3),
                ..
            }
        ));
        assert!(matches!(classify(503, None), Attempt::Retry { .. }));
        assert!(matches!(classify(410, None), Attempt::Failed { .. }));
        assert!(matches!(classify(301, None), Attempt::Failed { .. }));
    }
}
