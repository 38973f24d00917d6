//! Store roles: the handles background tasks get instead of the whole store. The outbox's
//! dispatcher and lanes run their transactions through an `OutboxView`, which hands them a
//! `&dyn DeliveryTx` (messages, and the customer reads a delivery needs); the deadline
//! scheduler reads through a `DeadlineView`, which hands it a `&dyn DeadlineStore`. Neither
//! can reach a conference or a call: what a task is given is what it may touch. The engine
//! keeps the whole `&dyn Tx`.

use super::tx::{DeadlineStore, DeliveryTx};
use super::{Store, StoreError, StoreFault};

/// The outbox's handle on the store: both backends, seen as `DeliveryTx` only.
#[derive(Clone)]
pub struct OutboxView {
    store: Store,
}

impl OutboxView {
    /// Runs `f` in a read transaction, off the async executor (see `Store::read`).
    pub async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&dyn DeliveryTx) -> Result<T, StoreError> + Send + 'static,
    {
        self.store.read(move |tx| f(tx)).await
    }

    /// Runs `f` in a write transaction and answers once it has committed (see `Store::write`).
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: StoreFault + Send + 'static,
        F: FnMut(&dyn DeliveryTx) -> Result<T, E> + Send + 'static,
    {
        let mut f = f;
        self.store.write(move |tx| f(tx)).await
    }
}

/// The deadline scheduler's handle on the store: reads of the deadlines only. Firing one is
/// the engine's use case (`Engine::fire_deadline`), which takes it in its own transaction.
#[derive(Clone)]
pub struct DeadlineView {
    store: Store,
}

impl DeadlineView {
    /// Runs `f` in a read transaction, off the async executor (see `Store::read`).
    pub async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&dyn DeadlineStore) -> Result<T, StoreError> + Send + 'static,
    {
        self.store.read(move |tx| f(tx)).await
    }
}

impl Store {
    /// The outbox's role: its messages and the customer reads of a delivery.
    pub fn outbox_view(&self) -> OutboxView {
        OutboxView {
            store: self.clone(),
        }
    }

    /// The deadline scheduler's role: reading the deadlines.
    pub fn deadline_view(&self) -> DeadlineView {
        DeadlineView {
            store: self.clone(),
        }
    }
}
