//! Per-customer shares of what every customer draws on (list pages in flight, reader threads):
//! a customer holds at most a fixed number of units at once, so its own burst waits behind
//! itself instead of in front of everyone else.

use crate::domain::CustomerId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The units each customer holds now, by customer. A customer appears only while it holds or
/// waits for a unit, so the map stays as small as the set of active customers.
pub(crate) struct Shares {
    cap: usize,
    held: Mutex<HashMap<CustomerId, Arc<Semaphore>>>,
}

/// One unit of a customer's share; dropping it gives the unit back.
pub struct Share {
    permit: Option<OwnedSemaphorePermit>,
    customer: CustomerId,
    shares: Arc<Shares>,
}

impl std::fmt::Debug for Share {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Share")
            .field("customer", &self.customer)
            .finish()
    }
}

impl Shares {
    /// Shares of at most `cap` units per customer (at least one).
    pub(crate) fn new(cap: usize) -> Arc<Shares> {
        Arc::new(Shares {
            cap: cap.max(1),
            held: Mutex::new(HashMap::new()),
        })
    }

    /// Waits until `customer` holds fewer than its cap, then takes a unit. Waiters of one
    /// customer are served in the order they came.
    pub(crate) async fn take(self: &Arc<Self>, customer: CustomerId) -> Share {
        let semaphore = match self.held.lock() {
            Ok(mut held) => Some(
                held.entry(customer)
                    .or_insert_with(|| Arc::new(Semaphore::new(self.cap)))
                    .clone(),
            ),
            // A poisoned map (a panic while it was held) must not stop every list: the
            // share is then not enforced rather than fatal.
            Err(_) => None,
        };
        let permit = match semaphore {
            Some(s) => s.acquire_owned().await.ok(),
            None => None,
        };
        Share {
            permit,
            customer,
            shares: self.clone(),
        }
    }

    #[cfg(test)]
    fn customers(&self) -> usize {
        self.held.lock().map(|h| h.len()).unwrap_or(0)
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        drop(self.permit.take());
        if let Ok(mut held) = self.shares.held.lock() {
            // Only the map's own reference left: nobody holds or waits for this customer's
            // units (waiters clone the semaphore under this lock before they wait).
            if held
                .get(&self.customer)
                .is_some_and(|s| Arc::strong_count(s) == 1)
            {
                held.remove(&self.customer);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_customer_waits_behind_itself_and_others_go_ahead() {
        let shares = Shares::new(2);
        let (a, b) = (
            CustomerId(uuid::Uuid::new_v4()),
            CustomerId(uuid::Uuid::new_v4()),
        );
        let b1 = shares.take(b).await;
        let _b2 = shares.take(b).await;
        let third = tokio::time::timeout(Duration::from_millis(50), shares.take(b)).await;
        assert!(third.is_err(), "a third unit of b's share of 2 must wait");
        let a1 = tokio::time::timeout(Duration::from_millis(50), shares.take(a)).await;
        assert!(a1.is_ok(), "a is not held up by b");
        drop(a1);
        assert_eq!(shares.customers(), 1, "a's entry goes when a holds nothing");
        drop(b1);
        let b3 = tokio::time::timeout(Duration::from_millis(50), shares.take(b)).await;
        assert!(b3.is_ok(), "b's freed unit is taken");
        drop(b3);
        drop(_b2);
        assert_eq!(shares.customers(), 0);
    }
}
