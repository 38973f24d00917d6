//! The engine: confab's use cases (customers, conferences, calls, recordings, platform events,
//! deadlines), each applying the conference rules of `rules/` inside one store transaction
//! opened by `Engine::transact`. It knows nothing of HTTP.

mod call_control;
mod calls;
mod conferences;
mod customer_cache;
mod customers;
mod deadlines;
mod deliveries;
mod dial;
mod dialects;
mod error;
mod events;
mod live;
mod operations;
mod pages;
mod programs;
mod recordings;
mod rules;
mod settings;
mod shares;
mod simulation;
mod usage;
mod xml_conferences;

pub use call_control::CallControl;
pub use conferences::{ConferenceDraft, ConferencePatch, RoomChange};
pub use customers::CustomerPatch;
pub use deliveries::{Delivery, DeliveryPage};
pub use dial::DialRequest;
pub use dialects::Membership;
pub use error::{invalid, EngineError, Refusal};
pub use events::{EventKind, PlatformEvent};
pub use live::{Change, ChangeKind};
pub use operations::{StoreHealth, IDEMPOTENCY_WINDOW_SECONDS, MESSAGE_RETENTION_SECONDS};
pub use pages::PageLease;
pub use settings::EngineSettings;
pub use simulation::{Simulation, SimulationRun, Subject};

use crate::actions::flows::FlowSet;
use crate::actions::{self, ActionList};
use crate::domain::timestamp::{Clock, Timestamp};
use crate::domain::CustomerId;
use crate::ops::metrics::Metrics;
use crate::outbox::courier::Courier;
use crate::store::Store;
use rules::{Rules, Shared};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use tokio::sync::Notify;

/// The shared core behind both public APIs and the CLI.
#[derive(Clone)]
pub struct Engine {
    store: Store,
    clock: Arc<dyn Clock>,
    /// What the rules read besides their transaction: settings, caches, flows, metrics.
    shared: Arc<Shared>,
    /// Notified after every write, so the outbox dispatcher and the deadline scheduler look for
    /// new work at once instead of at their next poll.
    outbox_wake: Arc<Notify>,
    deadline_wake: Arc<Notify>,
    courier: Courier,
    /// The customers of API keys already seen, by the key's hash.
    keys: Arc<RwLock<HashMap<[u8; 32], CustomerId>>>,
    /// The byte budget of list pages held at once.
    pages: pages::PageBudget,
    /// What the console watches.
    live: live::Live,
}

impl Engine {
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        flows: FlowSet,
        settings: EngineSettings,
    ) -> Engine {
        Engine {
            store,
            clock,
            pages: pages::PageBudget::new(settings.page_bytes, settings.readers),
            shared: Arc::new(Shared {
                settings: Arc::new(settings),
                customers: Default::default(),
                programs: Default::default(),
                flows: RwLock::new(Arc::new(flows)),
                metrics: Arc::default(),
            }),
            outbox_wake: Arc::new(Notify::new()),
            deadline_wake: Arc::new(Notify::new()),
            courier: Courier::new(),
            keys: Arc::new(RwLock::new(HashMap::new())),
            live: live::Live::default(),
        }
    }

    /// What the outbox's dispatcher and lanes may touch of the store: outbox messages and
    /// customers' reads, never a conference (writes that change conferences go through
    /// `transact`, which tells the live feed).
    pub fn outbox_view(&self) -> crate::store::OutboxView {
        self.store.outbox_view()
    }

    /// What the deadline scheduler may touch of the store: the due deadlines.
    pub fn deadline_view(&self) -> crate::store::DeadlineView {
        self.store.deadline_view()
    }

    fn settings(&self) -> &EngineSettings {
        &self.shared.settings
    }

    /// The base URL platforms reach confab at (`--public-url`).
    pub fn public_url(&self) -> &str {
        &self.settings().public_url
    }

    pub fn metrics(&self) -> Arc<Metrics> {
        self.shared.metrics.clone()
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    pub fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }

    /// The notifiers the background tasks wait on: (outbox, deadlines).
    pub fn wakers(&self) -> (Arc<Notify>, Arc<Notify>) {
        (self.outbox_wake.clone(), self.deadline_wake.clone())
    }

    /// The flows currently loaded.
    pub fn flows(&self) -> Arc<FlowSet> {
        self.shared.flows()
    }

    /// Replaces the loaded flows (after a successful reload).
    pub fn set_flows(&self, flows: FlowSet) {
        let mut guard = match self.shared.flows.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        *guard = Arc::new(flows);
    }

    /// Parses and validates one action list against the loaded flows.
    fn action_list(&self, list: &str, value: &Value) -> Result<ActionList, EngineError> {
        let parsed = actions::parse_list(list, value)?;
        actions::compile(list, &parsed.actions, self.flows().as_ref())?;
        Ok(parsed)
    }

    /// Runs `f` with the rules of one write transaction stamped with the time now. After the
    /// write, the background tasks that have new work are woken (a queued message, or a
    /// deadline that may be earlier than the one they wait for); once it has committed, the
    /// changes the rules recorded are announced to the live feed. A write that failed or was
    /// rolled back announces nothing.
    pub(crate) async fn transact<T, F>(&self, f: F) -> Result<T, EngineError>
    where
        T: Send + 'static,
        F: FnMut(&Rules<'_>) -> Result<T, EngineError> + Send + 'static,
    {
        let now = self.clock.now();
        let shared = self.shared.clone();
        let mut f = f;
        let result = self
            .store
            .write(move |db| {
                let rules = Rules::new(db, now, &shared);
                let value = f(&rules)?;
                Ok::<_, EngineError>((value, rules.into_committed()))
            })
            .await;
        let (outbox, deadlines) = self.store.take_signals();
        if outbox {
            self.outbox_wake.notify_one();
        }
        if deadlines {
            self.deadline_wake.notify_one();
        }
        let (value, committed) = result?;
        self.shared
            .metrics
            .participant_seconds(committed.participant_seconds);
        self.live.announce(committed.changes);
        Ok(value)
    }
}
