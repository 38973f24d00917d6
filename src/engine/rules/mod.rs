//! The context every rule runs in: one store transaction, its `now`, the engine's shared parts,
//! and the changes made so far, which the live feed is told of once the transaction commits.
//!
//! A rule is a method of `Rules`: it reads and writes through the transaction it is given and
//! never opens one, never awaits and never reads the clock. The use cases (`Engine`'s async
//! methods) open the transaction with `Engine::transact` and call the rules inside it.

mod actions;
mod call_control;
mod calls;
mod deadlines;
mod dial;
mod notify;
mod pauses;
mod recordings;
mod termination;
mod usage;
mod xml;

pub(crate) use actions::conference_variables;
pub(crate) use dial::Dial;
pub(crate) use notify::Webhook;
pub(crate) use xml::calls_joining;

use super::customer_cache::CustomerCache;
use super::live::{Change, ChangeKind};
use super::programs::ProgramCache;
use super::{EngineError, EngineSettings};
use crate::actions::flows::FlowSet;
use crate::domain::customer::Customer;
use crate::domain::timestamp::Timestamp;
use crate::domain::{ConferenceId, CustomerId};
use crate::ops::metrics::Metrics;
use crate::store::prelude::*;
use std::cell::{Cell, RefCell};
use std::sync::{Arc, RwLock};

/// The parts of the engine the rules read besides the transaction, shared by every
/// transaction of one engine.
pub(crate) struct Shared {
    pub(crate) settings: Arc<EngineSettings>,
    /// Customers as the writer last read them, so each notification does not reload its
    /// customer.
    pub(crate) customers: CustomerCache,
    /// Compiled `pre_actions`/`post_actions` per conference.
    pub(crate) programs: ProgramCache,
    pub(crate) flows: RwLock<Arc<FlowSet>>,
    pub(crate) metrics: Arc<Metrics>,
}

impl Shared {
    /// The flows loaded now.
    pub(crate) fn flows(&self) -> Arc<FlowSet> {
        match self.flows.read() {
            Ok(f) => f.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

/// One transaction's context: what every rule needs, so none takes the transaction and the
/// time separately.
pub(crate) struct Rules<'a> {
    db: &'a dyn Tx,
    now: Timestamp,
    /// Read by the dialects' rules (`engine/dialects.rs`) too.
    pub(super) settings: &'a EngineSettings,
    shared: &'a Shared,
    /// What changed, in order, each (customer, conference, what) once.
    changes: RefCell<Vec<Change>>,
    /// Participant seconds counted so far, for `/metrics` once the transaction commits.
    participant_seconds: Cell<i64>,
}

/// What a committed transaction's rules leave for the engine to announce.
pub(crate) struct Committed {
    pub(crate) changes: Vec<Change>,
    pub(crate) participant_seconds: i64,
}

impl<'a> Rules<'a> {
    pub(crate) fn new(db: &'a dyn Tx, now: Timestamp, shared: &'a Shared) -> Rules<'a> {
        Rules {
            db,
            now,
            settings: &shared.settings,
            shared,
            changes: RefCell::new(Vec::new()),
            participant_seconds: Cell::new(0),
        }
    }

    /// The transaction, for the reads and writes a use case makes itself.
    pub(crate) fn db(&self) -> &'a dyn Tx {
        self.db
    }

    /// Locks a customer's conference for this transaction and reads it: the first step of a
    /// write that changes a conference. An unknown or another customer's conference is not
    /// found.
    pub(crate) fn locked_conference(
        &self,
        customer: CustomerId,
        id: ConferenceId,
    ) -> Result<crate::domain::conference::Conference, EngineError> {
        self.db.lock_conference(id)?;
        Ok(self
            .db
            .conference(Some(customer), id)?
            .ok_or(super::Refusal::ConferenceNotFound)?)
    }

    /// The time of this transaction: every change it makes is stamped with it.
    pub(crate) fn now(&self) -> Timestamp {
        self.now
    }

    /// Records that a customer's conference changed, for the live feed. The console only
    /// reloads what changed, so the same change twice in one transaction is recorded once.
    fn record(&self, customer: CustomerId, conference: ConferenceId, what: ChangeKind) {
        let change = Change {
            customer,
            conference,
            what,
        };
        let mut changes = self.changes.borrow_mut();
        if !changes.contains(&change) {
            changes.push(change);
        }
    }

    /// The changes this transaction made and the usage it counted, to announce once it has
    /// committed.
    pub(crate) fn into_committed(self) -> Committed {
        Committed {
            changes: self.changes.into_inner(),
            participant_seconds: self.participant_seconds.get(),
        }
    }

    /// Runs `f` in a step of its own: if it fails, what it wrote is undone and what it
    /// recorded is forgotten, and the transaction goes on.
    fn atomically<T>(
        &self,
        f: impl FnOnce(&Self) -> Result<T, EngineError>,
    ) -> Result<T, EngineError> {
        let mark = self.changes.borrow().len();
        let counted = self.participant_seconds.get();
        let result = crate::store::atomically(self.db, |_| f(self));
        if result.is_err() {
            self.changes.borrow_mut().truncate(mark);
            self.participant_seconds.set(counted);
        }
        result
    }

    /// A customer read through the writer's cache.
    pub(crate) fn cached_customer(
        &self,
        id: CustomerId,
    ) -> Result<Option<Arc<Customer>>, EngineError> {
        Ok(self.shared.customers.get(self.db, id)?)
    }

    /// Forgets a cached customer after a change to it.
    pub(crate) fn forget_customer(&self, id: CustomerId) {
        self.shared.customers.evict(id);
    }
}
