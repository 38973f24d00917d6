//! The dispatcher: finds ordering keys with a message due and starts one lane per key, within
//! the global and per-customer caps.

use super::lane;
use super::DeliverySettings;
use crate::domain::timestamp::Clock;
use crate::domain::CustomerId;
use crate::ops::metrics::Metrics;
use crate::store::{LogGate, Store};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};
use uuid::Uuid;

/// Lanes (ordering keys being delivered) at once, across all customers.
const MAX_LANES: usize = 256;
/// Lanes at once for one customer, so a customer whose endpoint hangs holds at most this many
/// and everyone else keeps being served.
pub(super) const MAX_LANES_PER_CUSTOMER: usize = 16;
/// Most keys claimed per round.
const ROUND: usize = 256;
/// Shortest time between two rounds.
const MIN_ROUND_GAP: Duration = Duration::from_millis(10);
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
    /// This process's name in the outbox's leases.
    node: String,
    /// Rounds so far; with `node`, names each round's leases.
    rounds: AtomicU64,
    /// Lanes holding outcomes the store would not take. While any does, no round claims:
    /// after a long outage a held message's lease may have expired, and it must not be taken
    /// and sent again before its lane has recorded it.
    pub(super) holding: AtomicUsize,
}

/// How many lanes each customer has on this node. Which keys are being delivered is not kept
/// here: the store's leases say it, for every node.
#[derive(Default)]
struct Lanes {
    per_customer: HashMap<CustomerId, usize>,
}

impl Lanes {
    /// Counts a new lane for `customer` unless it is at its cap.
    fn try_start(&mut self, customer: Option<CustomerId>) -> bool {
        if let Some(c) = customer {
            let n = self.per_customer.entry(c).or_insert(0);
            if *n >= MAX_LANES_PER_CUSTOMER {
                return false;
            }
            *n += 1;
        }
        true
    }

    fn end(&mut self, customer: Option<CustomerId>) {
        if let Some(c) = customer {
            if let Some(n) = self.per_customer.get_mut(&c) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.per_customer.remove(&c);
                }
            }
        }
    }

    fn busy(&self) -> Vec<CustomerId> {
        self.per_customer
            .iter()
            .filter(|(_, n)| **n >= MAX_LANES_PER_CUSTOMER)
            .map(|(c, _)| *c)
            .collect()
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
        let node = settings
            .node_name
            .clone()
            .unwrap_or_else(|| format!("node-{}", Uuid::new_v4().simple()));
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
            node,
            rounds: AtomicU64::new(0),
            holding: AtomicUsize::new(0),
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
                    // Under load every commit wakes the dispatcher; a short floor between
                    // rounds keeps its claims from crowding the writer.
                    tokio::time::sleep(MIN_ROUND_GAP).await;
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

    /// Claims the first due message of every key nobody is delivering and starts a lane for
    /// each; returns how long to wait before the next round.
    async fn round(self: &Arc<Self>) -> Result<Duration, crate::store::StoreError> {
        let now = self.clock.now().micros();
        let busy = self.lanes.lock().map(|l| l.busy()).unwrap_or_default();
        let free = self.slots.available_permits().min(ROUND);
        let mut started = 0;
        let holding = self.holding.load(Ordering::SeqCst) > 0;
        if free > 0 && !self.is_stopping() && !holding {
            // One lease owner per round: its lanes each hold a different key, and a lane of an
            // earlier round can tell this round's lease from its own.
            let round = self.rounds.fetch_add(1, Ordering::Relaxed);
            let owner: Arc<str> = Arc::from(format!("{}/{round}", self.node));
            let lease_until = now + lane::lease_micros(self);
            let o = owner.clone();
            let due = self
                .store
                .write(move |tx| tx.claim_due_messages(&o, now, lease_until, free, &busy))
                .await?;
            let mut surplus = Vec::new();
            for m in due {
                let customer = m.customer_id;
                // A round may claim more of one customer's keys than its cap leaves room for:
                // those go back to be claimed when its lanes end.
                let started_lane = match self.lanes.lock() {
                    Ok(mut l) => l.try_start(customer),
                    Err(_) => false,
                };
                if !started_lane {
                    surplus.push(m.seq);
                    continue;
                }
                let Ok(permit) = self.slots.clone().acquire_owned().await else {
                    return Ok(Duration::from_secs(1));
                };
                started += 1;
                let (me, owner) = (self.clone(), owner.clone());
                tokio::spawn(async move {
                    lane::run(&me, &owner, m, lease_until).await;
                    if let Ok(mut l) = me.lanes.lock() {
                        l.end(customer);
                    }
                    drop(permit);
                    me.wake.notify_one();
                });
            }
            if !surplus.is_empty() {
                let o = owner.clone();
                self.store
                    .write(move |tx| tx.release_leases(&o, &surplus))
                    .await?;
            }
        }
        let next = self.store.read(|db| db.next_message_due()).await?;
        let now = self.clock.now().micros();
        Ok(match next {
            Some(t) if t > now => {
                Duration::from_micros((t - now) as u64).min(Duration::from_secs(1))
            }
            // Something is due but leased (a lane here or on another node has it): a lane's
            // end wakes us; the short wait bounds a missed wake-up and another node's lease.
            Some(_) if started == 0 => Duration::from_millis(200),
            Some(_) => Duration::ZERO,
            None => Duration::from_secs(1),
        })
    }
}
