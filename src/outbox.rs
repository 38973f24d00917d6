//! The durable outbox: messages written in the same transaction as the change they report,
//! then delivered at least once — in order per ordering key, concurrently across keys — with
//! retries by schedule. Carries platform commands and customer notifications alike.

use crate::signature;
use crate::store::{Store, StoredMessage};
use crate::timestamp::{Clock, Timestamp};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};
use uuid::Uuid;

/// How long one delivery attempt may take (§7.2).
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// Deliveries in flight at once, across all keys.
const MAX_IN_FLIGHT: usize = 256;
/// Deliveries in flight at once to one customer, so a customer whose endpoint hangs holds at
/// most this many slots and everyone else keeps being served.
const MAX_IN_FLIGHT_PER_CUSTOMER: usize = 16;

pub const KIND_COMMAND: &str = "command";
pub const KIND_WEBHOOK: &str = "webhook";

pub const PENDING: &str = "pending";
pub const DELIVERED: &str = "delivered";
pub const FAILED: &str = "failed";

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
}

/// Delivers the outbox. One runs per process.
pub struct Dispatcher {
    store: Store,
    clock: Arc<dyn Clock>,
    client: reqwest::Client,
    settings: DeliverySettings,
    wake: Arc<Notify>,
    in_flight: Arc<Mutex<InFlight>>,
    slots: Arc<Semaphore>,
    metrics: Arc<crate::metrics::Metrics>,
}

/// Messages being attempted now, and how many per customer.
#[derive(Default)]
struct InFlight {
    seqs: HashSet<i64>,
    per_customer: HashMap<Uuid, usize>,
    /// Messages whose attempt finished since the current read of due messages began: that
    /// read may still show them pending, so they are not claimed again from it.
    finished_since_read: HashSet<i64>,
}

impl InFlight {
    /// Claims a message unless it is already in flight or its customer is at the cap.
    fn claim(&mut self, m: &StoredMessage) -> bool {
        if self.seqs.contains(&m.seq) || self.finished_since_read.contains(&m.seq) {
            return false;
        }
        if let Some(c) = m.customer_id {
            let n = self.per_customer.entry(c).or_insert(0);
            if *n >= MAX_IN_FLIGHT_PER_CUSTOMER {
                return false;
            }
            *n += 1;
        }
        self.seqs.insert(m.seq);
        true
    }

    fn release(&mut self, seq: i64, customer: Option<Uuid>) {
        self.seqs.remove(&seq);
        self.finished_since_read.insert(seq);
        if let Some(c) = customer {
            if let Some(n) = self.per_customer.get_mut(&c) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.per_customer.remove(&c);
                }
            }
        }
    }
}

impl Dispatcher {
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        settings: DeliverySettings,
        wake: Arc<Notify>,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> Dispatcher {
        let client = reqwest::Client::builder()
            .user_agent(concat!("confab/", env!("CARGO_PKG_VERSION")))
            .timeout(ATTEMPT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Dispatcher {
            store,
            clock,
            client,
            settings,
            wake,
            in_flight: Arc::new(Mutex::new(InFlight::default())),
            slots: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
            metrics,
        }
    }

    /// Runs until the task is dropped. Undelivered messages stay on disk and are picked up by
    /// the next process.
    pub async fn run(self: Arc<Self>) {
        loop {
            let now = self.clock.now().micros();
            if let Ok(mut f) = self.in_flight.lock() {
                f.finished_since_read.clear();
            }
            let (skip, busy) = match self.in_flight.lock() {
                Ok(f) => (
                    f.seqs.iter().copied().collect::<Vec<_>>(),
                    f.per_customer
                        .iter()
                        .filter(|(_, n)| **n >= MAX_IN_FLIGHT_PER_CUSTOMER)
                        .map(|(c, _)| *c)
                        .collect::<Vec<_>>(),
                ),
                Err(_) => (Vec::new(), Vec::new()),
            };
            let due = match self
                .store
                .read(move |db| db.due_messages(now, 512, &skip, &busy))
                .await
            {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!(error = %e, "outbox: cannot read due messages");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            let mut started = 0;
            for m in due {
                let fresh = match self.in_flight.lock() {
                    Ok(mut f) => f.claim(&m),
                    Err(_) => false,
                };
                if !fresh {
                    continue;
                }
                let permit = match self.slots.clone().acquire_owned().await {
                    Ok(p) => p,
                    Err(_) => return,
                };
                started += 1;
                let me = self.clone();
                tokio::spawn(async move {
                    me.deliver(m).await;
                    drop(permit);
                });
            }
            let next = self
                .store
                .read(|db| db.next_message_due())
                .await
                .ok()
                .flatten();
            let now = self.clock.now().micros();
            let wait = match next {
                Some(t) if t > now => {
                    Duration::from_micros((t - now) as u64).min(Duration::from_secs(1))
                }
                // Something is due but blocked behind an attempt in flight: that attempt's
                // completion wakes us; the short wait only bounds a missed wake-up.
                Some(_) if started == 0 => Duration::from_millis(200),
                Some(_) => Duration::ZERO,
                None => Duration::from_secs(1),
            };
            if !wait.is_zero() {
                tokio::select! {
                    _ = self.wake.notified() => {}
                    _ = tokio::time::sleep(wait) => {}
                }
            }
        }
    }

    async fn deliver(&self, mut m: StoredMessage) {
        let attempt = self.attempt(&m).await;
        let now = self.clock.now().micros();
        m.attempts += 1;
        m.tm_update = now;
        let policy = if m.kind == KIND_COMMAND {
            &self.settings.command_policy
        } else {
            &self.settings.webhook_policy
        };
        let outcome = match &attempt {
            Attempt::Delivered(_) => "delivered",
            Attempt::Retry { .. } => "retry",
            Attempt::Failed { .. } => "failed",
        };
        self.metrics.delivery(&m.kind, outcome);
        match attempt {
            Attempt::Delivered(status) => {
                m.status = DELIVERED.into();
                m.last_status = Some(status.into());
                m.last_error = String::new();
            }
            Attempt::Failed { status, error } => {
                m.status = FAILED.into();
                m.last_status = status.map(Into::into);
                m.last_error = error;
            }
            Attempt::Retry {
                status,
                error,
                retry_after,
            } => {
                m.last_status = status.map(Into::into);
                match policy.next_attempt(m.attempts as usize, m.tm_create, now, retry_after) {
                    Some(at) => {
                        m.next_attempt_at = at;
                        m.last_error = error;
                    }
                    None => {
                        m.status = FAILED.into();
                        m.last_error = format!("{error}; retries exhausted");
                    }
                }
            }
        }
        tracing::debug!(id = %m.id, kind = %m.kind, status = %m.status, attempts = m.attempts, error = %m.last_error, "outbox attempt");
        let (seq, customer) = (m.seq, m.customer_id);
        if let Err(e) = self.store.write(move |db| db.record_attempt(&m)).await {
            tracing::error!(error = %e, "outbox: cannot record an attempt; it will be retried");
        }
        if let Ok(mut f) = self.in_flight.lock() {
            f.release(seq, customer);
        }
        self.wake.notify_one();
    }

    /// The signing keys for a message: the platform secret for commands; the customer's
    /// current secret, and during a rotation the previous one too, for notifications.
    async fn keys(&self, m: &StoredMessage) -> Result<Vec<Vec<u8>>, String> {
        if m.kind == KIND_COMMAND {
            return Ok(self.settings.platform_key.clone().into_iter().collect());
        }
        let Some(customer) = m.customer_id else {
            return Ok(Vec::new());
        };
        let now = self.clock.now();
        let secrets = self
            .store
            .read(move |db| db.signing_secrets(customer, now))
            .await
            .map_err(|e| e.to_string())?;
        secrets
            .iter()
            .map(|s| signature::secret_key(s).map_err(|e| e.to_string()))
            .collect()
    }

    async fn attempt(&self, m: &StoredMessage) -> Attempt {
        if m.kind == KIND_WEBHOOK && !self.settings.allow_private {
            if let Err(e) = crate::target::check_public(&m.url).await {
                return Attempt::Failed {
                    status: None,
                    error: e,
                };
            }
        }
        let keys = match self.keys(m).await {
            Ok(k) => k,
            Err(e) => {
                return Attempt::Retry {
                    status: None,
                    error: e,
                    retry_after: None,
                }
            }
        };
        let method =
            reqwest::Method::from_bytes(m.method.as_bytes()).unwrap_or(reqwest::Method::POST);
        let ts = Timestamp(self.clock.now().micros()).unix_seconds();
        let mut req = self
            .client
            .request(method, &m.url)
            .header(reqwest::header::CONTENT_TYPE, m.content_type.as_str())
            .header("webhook-id", m.id.as_str())
            .header("webhook-timestamp", ts.to_string());
        if !keys.is_empty() {
            let sigs: Vec<String> = keys
                .iter()
                .map(|k| signature::sign(k, &m.id, ts, m.body.as_bytes()))
                .collect();
            req = req.header("webhook-signature", sigs.join(" "));
        }
        match req.body(m.body.clone()).send().await {
            Ok(res) => {
                let retry_after = res
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok());
                classify(res.status().as_u16(), retry_after)
            }
            Err(e) => Attempt::Retry {
                status: None,
                error: if e.is_timeout() {
                    "timed out".to_string()
                } else {
                    format!("connection error: {}", e.without_url())
                },
                retry_after: None,
            },
        }
    }
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
