//! The dispatcher: finds ordering keys with a message due and starts one lane per key, within
//! the global and per-customer caps.

use super::lane;
use super::DeliverySettings;
use crate::metrics::Metrics;
use crate::store::{LogGate, Store};
use crate::timestamp::Clock;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};
use uuid::Uuid;

/// Lanes (ordering keys being delivered) at once, across all customers.
const MAX_LANES: usize = 256;
/// Lanes at once for one customer, so a customer whose endpoint hangs holds at most this many
/// and everyone else keeps being served.
pub(super) const MAX_LANES_PER_CUSTOMER: usize = 16;
/// Due keys read per round.
const ROUND: usize = 512;
/// Longest pause after the store failed to answer the dispatcher.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Delivers the outbox. One runs per process.
pub struct Dispatcher {
    pub(super) store: Store,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) client: reqwest::Client,
    pub(super) settings: DeliverySettings,
    pub(super) wake: Arc<Notify>,
    pub(super) metrics: Arc<Metrics>,
    lanes: Mutex<Lanes>,
    slots: Arc<Semaphore>,
    /// One log line per interval while the store fails, however many lanes see it.
    pub(super) store_gate: LogGate,
    /// Set at shutdown: lanes record what they sent and start nothing new.
    stopping: AtomicBool,
}

/// The keys with a lane, and how many lanes each customer has.
#[derive(Default)]
struct Lanes {
    keys: HashSet<String>,
    per_customer: HashMap<Uuid, usize>,
    /// Keys whose lane ended since the current read of due keys began: that read may still
    /// show their last message pending, so they are not started again from it.
    ended_since_read: HashSet<String>,
}

impl Lanes {
    fn claim(&mut self, key: &str, customer: Option<Uuid>) -> bool {
        if self.keys.contains(key) || self.ended_since_read.contains(key) {
            return false;
        }
        if let Some(c) = customer {
            let n = self.per_customer.entry(c).or_insert(0);
            if *n >= MAX_LANES_PER_CUSTOMER {
                return false;
            }
            *n += 1;
        }
        self.keys.insert(key.to_string());
        true
    }

    fn release(&mut self, key: &str, customer: Option<Uuid>) {
        self.keys.remove(key);
        self.ended_since_read.insert(key.to_string());
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
        metrics: Arc<Metrics>,
    ) -> Dispatcher {
        Dispatcher {
            store,
            clock,
            client: super::send::client(),
            settings,
            wake,
            metrics,
            lanes: Mutex::new(Lanes::default()),
            slots: Arc::new(Semaphore::new(MAX_LANES)),
            store_gate: LogGate::new(Duration::from_secs(10)),
            stopping: AtomicBool::new(false),
        }
    }

    /// Stops delivering: each lane records the outcomes it has and ends before its next
    /// attempt. What was not sent stays pending for the next start.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }

    pub(super) fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Runs until the task is dropped. Undelivered messages stay on disk and are picked up by
    /// the next process.
    pub async fn run(self: Arc<Self>) {
        let mut backoff = Duration::from_millis(250);
        loop {
            match self.round().await {
                Ok(wait) => {
                    backoff = Duration::from_millis(250);
                    if !wait.is_zero() {
                        tokio::select! {
                            _ = self.wake.notified() => {}
                            _ = tokio::time::sleep(wait) => {}
                        }
                    }
                }
                Err(e) => {
                    if let Some(held) = self.store_gate.open() {
                        tracing::error!(error = %e, held_back = held, "outbox: cannot read due messages; backing off");
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// Starts a lane for every key that has a message due and none yet; returns how long to
    /// wait before the next round.
    async fn round(self: &Arc<Self>) -> Result<Duration, crate::store::StoreError> {
        let now = self.clock.now().micros();
        let (skip, busy) = match self.lanes.lock() {
            Ok(mut l) => {
                l.ended_since_read.clear();
                (
                    l.keys.iter().cloned().collect::<Vec<_>>(),
                    l.per_customer
                        .iter()
                        .filter(|(_, n)| **n >= MAX_LANES_PER_CUSTOMER)
                        .map(|(c, _)| *c)
                        .collect::<Vec<_>>(),
                )
            }
            Err(_) => (Vec::new(), Vec::new()),
        };
        let due = self
            .store
            .read(move |db| db.due_messages(now, ROUND, &skip, &busy))
            .await?;
        let mut started = 0;
        for m in due {
            if self.is_stopping() {
                break;
            }
            let (key, customer) = (m.ordering_key.clone(), m.customer_id);
            let claimed = match self.lanes.lock() {
                Ok(mut l) => l.claim(&key, customer),
                Err(_) => false,
            };
            if !claimed {
                continue;
            }
            let Ok(permit) = self.slots.clone().acquire_owned().await else {
                return Ok(Duration::from_secs(1));
            };
            started += 1;
            let me = self.clone();
            tokio::spawn(async move {
                lane::run(&me, m).await;
                if let Ok(mut l) = me.lanes.lock() {
                    l.release(&key, customer);
                }
                drop(permit);
                me.wake.notify_one();
            });
        }
        let next = self.store.read(|db| db.next_message_due()).await?;
        let now = self.clock.now().micros();
        Ok(match next {
            Some(t) if t > now => {
                Duration::from_micros((t - now) as u64).min(Duration::from_secs(1))
            }
            // Something is due but its key has a lane: the lane's end wakes us; the short
            // wait only bounds a missed wake-up.
            Some(_) if started == 0 => Duration::from_millis(200),
            Some(_) => Duration::ZERO,
            None => Duration::from_secs(1),
        })
    }
}
