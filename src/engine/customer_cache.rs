//! The writer's customer cache: the rules read a customer (its webhook settings, its platform
//! connections) for nearly every change, and a read is trusted for at most one second.

use crate::domain::customer::Customer;
use crate::domain::CustomerId;
use crate::store::prelude::*;
use crate::store::StoreError;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// How long a customer read is trusted before it is read again.
const CUSTOMER_CACHE_TTL: Duration = Duration::from_secs(1);

/// Largest number of entries remembered in memory (customers here, API keys in
/// `customers.rs`); beyond it a cache starts over.
pub(super) const CACHE_LIMIT: usize = 100_000;

/// Customers as the writer last read them, and when. Only the writer fills it; customer
/// changes (also on the writer) evict.
#[derive(Default)]
pub(crate) struct CustomerCache {
    entries: RwLock<HashMap<CustomerId, (Instant, Arc<Customer>)>>,
}

impl CustomerCache {
    /// A customer, from the cache while its read is fresh, else read through `db`.
    pub(crate) fn get(
        &self,
        db: &dyn Tx,
        id: CustomerId,
    ) -> Result<Option<Arc<Customer>>, StoreError> {
        if let Ok(cache) = self.entries.read() {
            // A change made through another node (or the CLI) is seen once the entry is a
            // second old: settings reach every node within a second.
            if let Some((read_at, c)) = cache.get(&id) {
                if read_at.elapsed() < CUSTOMER_CACHE_TTL {
                    return Ok(Some(c.clone()));
                }
            }
        }
        let Some(c) = db.customer(id)? else {
            return Ok(None);
        };
        let c = Arc::new(c);
        if let Ok(mut cache) = self.entries.write() {
            if cache.len() >= CACHE_LIMIT {
                cache.clear();
            }
            cache.insert(id, (Instant::now(), c.clone()));
        }
        Ok(Some(c))
    }

    /// Forgets a customer after a change to it.
    pub(crate) fn evict(&self, id: CustomerId) {
        if let Ok(mut cache) = self.entries.write() {
            cache.remove(&id);
        }
    }
}
