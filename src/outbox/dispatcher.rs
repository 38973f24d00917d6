//! The dispatcher: finds ordering keys with a message due and starts one lane per key, within
//! each owner's reserve, the shared pool and the per-customer cap (see `Lanes`).

use super::lane;
use super::DeliverySettings;
use crate::domain::timestamp::Clock;
use crate::domain::CustomerId;
use crate::ops::metrics::Metrics;
use crate::store::{LogGate, OutboxView};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use uuid::Uuid;

/// Lanes every owner (a customer, or the platform for commands without one) may always have,
/// whatever the others do: they are not taken from the shared pool, so customers whose
/// endpoints hang cannot use up what everyone else needs.
pub(super) const RESERVED_LANES: usize = 2;
/// Lanes shared by all owners beyond their reserve, while their deliveries succeed.
pub(super) const POOLED_LANES: usize = 256;
/// Lanes at once for one owner, reserve included, so a customer whose endpoint hangs holds at
/// most this many and everyone else keeps being served.
pub(super) const MAX_LANES_PER_CUSTOMER: usize = 16;
/// Lanes at once on this node, whatever the number of owners: reserves are not pooled, so
/// thousands of customers with something due at once would otherwise start thousands of
/// lanes (each a connection and a task). At this ceiling nobody starts a lane until one ends.
pub(super) const MAX_LANES: usize = 4096;
/// Most keys claimed per round.
const ROUND: usize = 256;
/// Shortest time between two rounds.
const MIN_ROUND_GAP: Duration = Duration::from_millis(10);
/// Longest pause after the store failed to answer the dispatcher.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Whom a lane is counted against: the customer of the key's first message, or `None` for
/// the platform's commands, which count as one owner of their own.
pub(super) type Owner = Option<CustomerId>;

/// The lanes running on this node and the owners whose deliveries are failing. Which keys are
/// being delivered is not kept here: the store's leases say it, for every node.
///
/// The rule: an owner may always run up to `RESERVED_LANES`; beyond that, up to
/// `MAX_LANES_PER_CUSTOMER`, each further lane takes one of the `POOLED_LANES` shared by
/// everyone, and only while the owner's deliveries are not failing (an owner whose last
/// attempt timed out, could not connect or got a 5xx is held to its reserve until an attempt
/// is delivered). No more than `MAX_LANES` run in all.
#[derive(Default)]
struct Lanes {
    per_owner: HashMap<Owner, usize>,
    /// Lanes beyond their owners' reserves: the sum over owners of `n - RESERVED_LANES`.
    pooled: usize,
    total: usize,
    failing: HashSet<Owner>,
}

impl Lanes {
    fn running(&self, owner: Owner) -> usize {
        self.per_owner.get(&owner).copied().unwrap_or(0)
    }

    /// How many more lanes `owner` may start now. The platform's commands (no customer) are
    /// bounded only by the node's ceiling, as before the per-owner rule: the store cannot
    /// leave their keys out of a claim (`busy` names customers), so a cap on them would make
    /// every round claim platform keys only to give them back.
    fn room(&self, owner: Owner) -> usize {
        if owner.is_none() {
            return MAX_LANES.saturating_sub(self.total);
        }
        let n = self.running(owner);
        let reserve = RESERVED_LANES.saturating_sub(n);
        let pool = if self.failing.contains(&owner) {
            0
        } else {
            MAX_LANES_PER_CUSTOMER
                .saturating_sub(n.max(RESERVED_LANES))
                .min(POOLED_LANES.saturating_sub(self.pooled))
        };
        (reserve + pool).min(MAX_LANES.saturating_sub(self.total))
    }

    /// Counts a new lane for `owner` unless it has no room (see `room`).
    fn try_start(&mut self, owner: Owner) -> bool {
        if self.room(owner) == 0 {
            return false;
        }
        let n = self.per_owner.entry(owner).or_insert(0);
        if *n >= RESERVED_LANES && owner.is_some() {
            self.pooled += 1;
        }
        *n += 1;
        self.total += 1;
        true
    }

    /// Counts a lane of `owner` as ended; a lane beyond its reserve goes back to the pool.
    fn end(&mut self, owner: Owner) {
        let Some(n) = self.per_owner.get_mut(&owner) else {
            return;
        };
        if *n > RESERVED_LANES && owner.is_some() {
            self.pooled = self.pooled.saturating_sub(1);
        }
        *n = n.saturating_sub(1);
        if *n == 0 {
            self.per_owner.remove(&owner);
        }
        self.total = self.total.saturating_sub(1);
    }

    /// Remembers whether `owner`'s deliveries are failing (`Some(true)`: a timeout, a
    /// connection error or a 5xx) or succeed again (`Some(false)`: delivered); `None` (a 4xx,
    /// a 429, a refused target) says neither and changes nothing.
    fn note(&mut self, owner: Owner, failing: Option<bool>) {
        match failing {
            Some(true) => {
                self.failing.insert(owner);
            }
            Some(false) => {
                self.failing.remove(&owner);
            }
            None => {}
        }
    }

    /// The customers that cannot start another lane now, so a round does not claim keys of
    /// theirs it would only give back. The platform's commands (no customer) are always
    /// claimed; any beyond its room are given back.
    fn busy(&self) -> Vec<CustomerId> {
        self.per_owner
            .keys()
            .filter_map(|owner| owner.filter(|_| self.room(*owner) == 0))
            .collect()
    }

    /// How many keys a round may claim: none at the node's ceiling.
    fn claimable(&self) -> usize {
        MAX_LANES.saturating_sub(self.total).min(ROUND)
    }
}

/// Delivers the outbox. One runs per process.
pub struct Dispatcher {
    /// The store as the outbox's role sees it: messages and the customer reads of a delivery.
    pub(super) store: OutboxView,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) client: reqwest::Client,
    pub(super) settings: DeliverySettings,
    pub(super) wake: Arc<Notify>,
    pub(super) metrics: Arc<Metrics>,
    lanes: Mutex<Lanes>,
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

impl Dispatcher {
    pub fn new(
        store: OutboxView,
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
    /// each its owner has room for (see `Lanes`); returns how long to wait before the next
    /// round.
    async fn round(self: &Arc<Self>) -> Result<Duration, crate::store::StoreError> {
        let now = self.clock.now().micros();
        let (busy, claimable) = self
            .lanes
            .lock()
            .map(|l| (l.busy(), l.claimable()))
            .unwrap_or_default();
        let holding = self.holding.load(Ordering::SeqCst) > 0;
        let mut started = 0;
        if claimable > 0 && !self.is_stopping() && !holding {
            started = self.claim_and_start(now, claimable, busy).await?;
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

    /// Claims up to `limit` keys (none of a `busy` customer's) for one round's lease owner and
    /// starts a lane for each its owner has room for; the others are given back at once.
    /// Returns how many lanes it started.
    async fn claim_and_start(
        self: &Arc<Self>,
        now: i64,
        limit: usize,
        busy: Vec<CustomerId>,
    ) -> Result<usize, crate::store::StoreError> {
        // One lease owner per round: its lanes each hold a different key, and a lane of an
        // earlier round can tell this round's lease from its own.
        let round = self.rounds.fetch_add(1, Ordering::Relaxed);
        let owner: Arc<str> = Arc::from(format!("{}/{round}", self.node));
        let lease_until = now + lane::lease_micros(self);
        let o = owner.clone();
        let due = self
            .store
            .write(move |tx| tx.claim_due_messages(&o, now, lease_until, limit, &busy))
            .await?;
        let mut surplus = Vec::new();
        let mut started = 0;
        for m in due {
            let customer = m.customer_id;
            // A round may claim more of one owner's keys than its room allows (the platform's
            // are never left out, and one customer may have many keys due): those go back to
            // be claimed when its lanes end.
            let started_lane = match self.lanes.lock() {
                Ok(mut l) => l.try_start(customer),
                Err(_) => false,
            };
            if !started_lane {
                surplus.push(m.seq);
                continue;
            }
            started += 1;
            let slot = LaneSlot {
                dispatcher: self.clone(),
                owner: customer,
            };
            let owner = owner.clone();
            tokio::spawn(async move {
                lane::run(&slot.dispatcher, &owner, m, lease_until).await;
                drop(slot);
            });
        }
        if !surplus.is_empty() {
            let o = owner.clone();
            self.store
                .write(move |tx| tx.release_leases(&o, &surplus))
                .await?;
        }
        Ok(started)
    }

    /// Remembers whether an attempt for `owner` says its deliveries are failing (see
    /// `Lanes::note`), which decides whether it may draw lanes from the shared pool.
    pub(super) fn note_attempt(&self, owner: Owner, failing: Option<bool>) {
        if let Ok(mut l) = self.lanes.lock() {
            l.note(owner, failing);
        }
    }
}

/// A started lane's place in `Lanes`, given back when the lane's task ends, even by a panic,
/// so a lane that died does not hold its owner's room for good.
struct LaneSlot {
    dispatcher: Arc<Dispatcher>,
    owner: Owner,
}

impl Drop for LaneSlot {
    fn drop(&mut self) {
        if let Ok(mut l) = self.dispatcher.lanes.lock() {
            l.end(self.owner);
        }
        // A lane's end may give an owner room again: the next round need not wait.
        self.dispatcher.wake.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn customer() -> Owner {
        Some(CustomerId::new())
    }

    /// Starts lanes for `owner` until it has no room; returns how many started.
    fn fill(l: &mut Lanes, owner: Owner) -> usize {
        let mut n = 0;
        while l.try_start(owner) {
            n += 1;
        }
        n
    }

    #[test]
    fn an_owner_grows_to_its_cap_from_the_pool() {
        let mut l = Lanes::default();
        let c = customer();
        assert_eq!(l.room(c), MAX_LANES_PER_CUSTOMER);
        assert_eq!(fill(&mut l, c), MAX_LANES_PER_CUSTOMER);
        assert_eq!(l.pooled, MAX_LANES_PER_CUSTOMER - RESERVED_LANES);
        assert_eq!(l.busy(), vec![c.unwrap()], "at its cap it is named busy");
        l.end(c);
        assert!(l.busy().is_empty());
        assert_eq!(l.pooled, MAX_LANES_PER_CUSTOMER - RESERVED_LANES - 1);
        for _ in 0..MAX_LANES_PER_CUSTOMER {
            l.end(c);
        }
        assert_eq!((l.pooled, l.total, l.per_owner.len()), (0, 0, 0));
    }

    #[test]
    fn once_the_pool_is_used_up_everyone_still_has_its_reserve() {
        let mut l = Lanes::default();
        let greedy: Vec<Owner> = (0..POOLED_LANES).map(|_| customer()).collect();
        let mut started = 0;
        for c in &greedy {
            started += fill(&mut l, *c);
        }
        // Each takes its reserve and the pool's lanes go to the first comers, up to the cap.
        assert_eq!(started, POOLED_LANES + POOLED_LANES * RESERVED_LANES);
        assert_eq!(l.pooled, POOLED_LANES);
        assert_eq!(l.busy().len(), greedy.len(), "all are at their limit now");
        let quiet = customer();
        assert_eq!(
            l.room(quiet),
            RESERVED_LANES,
            "a newcomer keeps its reserve"
        );
        assert_eq!(fill(&mut l, quiet), RESERVED_LANES);
        // The platform's commands are bounded by the node's ceiling only, and take nothing
        // from the customers' pool.
        for _ in 0..MAX_LANES_PER_CUSTOMER + 1 {
            assert!(l.try_start(None), "so do the platform's commands");
        }
        assert_eq!(l.pooled, POOLED_LANES);
        // A pooled lane that ends goes to whoever asks next, within the cap.
        l.end(greedy[0]);
        assert!(l.try_start(quiet));
        assert!(!l.try_start(greedy[0]));
    }

    #[test]
    fn a_failing_owner_is_held_to_its_reserve_until_a_delivery() {
        let mut l = Lanes::default();
        let c = customer();
        l.note(c, Some(true));
        assert_eq!(fill(&mut l, c), RESERVED_LANES);
        assert_eq!(l.busy(), vec![c.unwrap()]);
        assert_eq!(l.pooled, 0, "it drew nothing from the pool");
        l.note(c, None);
        assert_eq!(l.room(c), 0, "a 4xx or 429 says nothing either way");
        l.note(c, Some(false));
        assert_eq!(l.room(c), MAX_LANES_PER_CUSTOMER - RESERVED_LANES);
        // Lanes it had beyond its reserve run on when it starts failing; no new one starts.
        fill(&mut l, c);
        l.note(c, Some(true));
        l.end(c);
        assert_eq!(l.room(c), 0);
        for _ in 0..MAX_LANES_PER_CUSTOMER - RESERVED_LANES {
            l.end(c);
        }
        assert_eq!((l.room(c), l.pooled), (1, 0));
    }

    #[test]
    fn the_node_ceiling_holds_whatever_the_number_of_owners() {
        let mut l = Lanes::default();
        let mut started = 0;
        for _ in 0..MAX_LANES {
            started += fill(&mut l, customer());
        }
        assert_eq!(started, MAX_LANES);
        assert_eq!(l.claimable(), 0, "no round claims at the ceiling");
        let late = customer();
        assert_eq!(l.room(late), 0);
        assert!(!l.try_start(None));
        l.end(Some(*l.per_owner.keys().flatten().next().unwrap()));
        assert_eq!(l.claimable(), 1);
        assert!(l.try_start(late));
    }
}
