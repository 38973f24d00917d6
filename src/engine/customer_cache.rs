//! The customer cache: the rules read a customer (its webhook settings, its platform
//! connections) for nearly every change, and a read is trusted for at most one second.
//!
//! It holds customers as the store hands them out, their secrets decrypted (`secrets`), so
//! a busy customer's secrets are decrypted about once a second, not once per event.

use crate::domain::customer::Customer;
use crate::domain::CustomerId;
use crate::store::prelude::*;
use crate::store::StoreError;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// How long a customer read is trusted before it is read again.
const CUSTOMER_CACHE_TTL: Duration = Duration::from_secs(1);

/// Largest number of entries remembered in memory (customers here, API keys in
/// `customers.rs`); beyond it a cache starts over.
pub(super) const CACHE_LIMIT: usize = 100_000;

/// Customers as last read, and when. The writer fills it inside its transactions, and the
/// platforms' webhooks through `offer`; customer changes (on the writer) evict.
#[derive(Default)]
pub(crate) struct CustomerCache {
    entries: RwLock<HashMap<CustomerId, (Instant, Arc<Customer>)>>,
    /// Counts evictions: a read that began before one must not put back what it evicted.
    evictions: AtomicU64,
}

impl CustomerCache {
    /// A customer, from the cache while its read is fresh, else read through `db`.
    pub(crate) fn get(
        &self,
        db: &dyn Tx,
        id: CustomerId,
    ) -> Result<Option<Arc<Customer>>, StoreError> {
        if let Some(c) = self.fresh(id) {
            return Ok(Some(c));
        }
        let Some(c) = db.customer(id)? else {
            return Ok(None);
        };
        let c = Arc::new(c);
        self.insert(id, c.clone());
        Ok(Some(c))
    }

    /// The cached customer while its read is fresh.
    pub(crate) fn fresh(&self, id: CustomerId) -> Option<Arc<Customer>> {
        let cache = self.entries.read().ok()?;
        // A change made through another node (or the CLI) is seen once the entry is a second
        // old: settings reach every node within a second.
        let (read_at, c) = cache.get(&id)?;
        (read_at.elapsed() < CUSTOMER_CACHE_TTL).then(|| c.clone())
    }

    /// The eviction count to give `offer` with a read made outside the writer.
    pub(crate) fn evictions(&self) -> u64 {
        self.evictions.load(Ordering::Acquire)
    }

    /// Keeps a customer read outside the writer, unless a customer was evicted since the read
    /// began (`evictions` then): that read may predate the change and must not outlive it.
    pub(crate) fn offer(&self, id: CustomerId, c: Arc<Customer>, evictions_before: u64) {
        if self.evictions() == evictions_before {
            self.insert(id, c);
        }
    }

    fn insert(&self, id: CustomerId, c: Arc<Customer>) {
        if let Ok(mut cache) = self.entries.write() {
            if cache.len() >= CACHE_LIMIT {
                cache.clear();
            }
            cache.insert(id, (Instant::now(), c));
        }
    }

    /// Forgets a customer after a change to it.
    pub(crate) fn evict(&self, id: CustomerId) {
        if let Ok(mut cache) = self.entries.write() {
            self.evictions.fetch_add(1, Ordering::AcqRel);
            cache.remove(&id);
        }
    }
}
