//! Lists, bounded in bytes twice over. Each page stops at the byte budget `--page-bytes` (the
//! store cuts it while reading rows), and the pages held at once — being read, rendered or
//! sent — share one budget of `PAGES_IN_FLIGHT` pages: a list read first takes a lease on it
//! and the lease goes back when the answer is dropped (sent, or the client went away). Many
//! concurrent reads of large pages then wait their turn, first come first served, instead of
//! each holding megabytes at once; memory no longer grows with the number of clients. One
//! customer holds at most `PAGES_PER_CUSTOMER` of those pages and runs at most half the
//! reader threads' worth of list reads at once, so its load queues behind itself.

use super::shares::{Share, Shares};
use super::{Engine, EngineError, Refusal};
use crate::domain::conference::{ConferenceView, Conferencecall, Recording};
use crate::domain::{ConferenceId, CustomerId};
use crate::store::{CallFilter, ConferenceFilter, Cursor, Page};
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How many full pages may be held at once across all list requests.
pub const PAGES_IN_FLIGHT: usize = 8;
/// How many of those one customer may hold: a customer whose clients read slowly (or never)
/// holds at most a quarter of the budget, and the send deadline (`--send-timeout`) bounds
/// for how long.
pub const PAGES_PER_CUSTOMER: usize = 2;

/// The shared byte budget of list pages in flight, and each customer's shares of it and of
/// the store's reader threads.
#[derive(Clone)]
pub(crate) struct PageBudget {
    bytes: Arc<Semaphore>,
    /// What one read takes before it knows its size: a full page (or the whole budget if a
    /// page is larger than a permit count can say).
    per_read: u32,
    /// Pages each customer holds (at most `PAGES_PER_CUSTOMER`).
    pages: Arc<Shares>,
    /// List reads each customer runs at once: at most half the reader threads (at least
    /// one), so a customer's expensive lists leave threads free for everyone else.
    reads: Arc<Shares>,
}

impl PageBudget {
    pub(crate) fn new(page_bytes: usize, readers: usize) -> PageBudget {
        let per_read = u32::try_from(page_bytes.max(1)).unwrap_or(u32::MAX);
        PageBudget {
            bytes: Arc::new(Semaphore::new(per_read as usize * PAGES_IN_FLIGHT)),
            per_read,
            pages: Shares::new(PAGES_PER_CUSTOMER),
            reads: Shares::new(readers / 2),
        }
    }

    /// Waits for room for one more page of `customer`'s: first within its own share, then in
    /// the shared budget (first come, first served).
    async fn lease(&self, customer: CustomerId) -> PageLease {
        let share = self.pages.take(customer).await;
        // The semaphore is never closed, so acquiring fails only if that changes; then the
        // read goes ahead unbounded rather than failing.
        let bytes = self
            .bytes
            .clone()
            .acquire_many_owned(self.per_read)
            .await
            .ok();
        PageLease {
            bytes,
            _share: share,
        }
    }
}

/// Room for one page in the shared budget; dropping it gives the room back. Keep it until
/// the answer built from the page has been sent.
#[derive(Debug)]
pub struct PageLease {
    bytes: Option<OwnedSemaphorePermit>,
    _share: Share,
}

impl PageLease {
    /// Gives back what a page of `bytes` does not need.
    fn shrink_to(&mut self, bytes: usize) {
        if let Some(permit) = &mut self.bytes {
            let excess = permit.num_permits().saturating_sub(bytes.max(1));
            drop(permit.split(excess));
        }
    }
}

impl Engine {
    /// Runs a list read inside a lease sized to the page it returned.
    pub(super) async fn leased<T>(
        &self,
        customer: CustomerId,
        read: impl std::future::Future<Output = Result<T, EngineError>>,
        bytes: impl Fn(&T) -> usize,
    ) -> Result<(T, PageLease), EngineError> {
        let mut lease = self.pages.lease(customer).await;
        let reading = self.pages.reads.take(customer).await;
        let page = read.await?;
        drop(reading);
        lease.shrink_to(bytes(&page));
        Ok((page, lease))
    }

    pub async fn list_conferences(
        &self,
        customer: CustomerId,
        filter: ConferenceFilter,
        cursor: Option<Cursor>,
        limit: usize,
    ) -> Result<(Page<ConferenceView>, PageLease), EngineError> {
        let max_bytes = self.settings().page_bytes;
        let read = self
            .store
            .read(move |db| db.list_conferences(customer, &filter, cursor, limit, max_bytes));
        self.leased(customer, async { Ok(read.await?) }, |p| p.bytes)
            .await
    }

    pub async fn list_calls(
        &self,
        customer: CustomerId,
        filter: CallFilter,
        cursor: Option<Cursor>,
        limit: usize,
    ) -> Result<(Page<Conferencecall>, PageLease), EngineError> {
        let max_bytes = self.settings().page_bytes;
        let read = self
            .store
            .read(move |db| db.list_calls(customer, &filter, cursor, limit, max_bytes));
        self.leased(customer, async { Ok(read.await?) }, |p| p.bytes)
            .await
    }

    pub async fn list_recordings(
        &self,
        customer: CustomerId,
        conference_id: Option<ConferenceId>,
        cursor: Option<Cursor>,
        limit: usize,
    ) -> Result<(Page<Recording>, PageLease), EngineError> {
        let max_bytes = self.settings().page_bytes;
        let read = self
            .store
            .read(move |db| db.list_recordings(customer, conference_id, cursor, limit, max_bytes));
        self.leased(customer, async { Ok(read.await?) }, |p| p.bytes)
            .await
    }

    /// The calls in a conference that have not left (its participants), oldest first, after
    /// `cursor`: as many as fit the page byte budget (the XML API has no page size).
    pub async fn participants(
        &self,
        customer: CustomerId,
        id: ConferenceId,
        cursor: Option<Cursor>,
    ) -> Result<(Page<Conferencecall>, PageLease), EngineError> {
        let max_bytes = self.settings().page_bytes;
        let read = self.store.read(move |db| {
            if db.conference(Some(customer), id)?.is_none() {
                return Ok(None);
            }
            let page = db.participants_page(id, cursor, usize::MAX, max_bytes, &|c| {
                crate::render::xml::part_len(c)
            })?;
            Ok(Some(page))
        });
        let read = async {
            read.await?
                .ok_or(EngineError::Refused(Refusal::ConferenceNotFound))
        };
        self.leased(customer, read, |p| p.bytes).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn leases_share_the_budget_and_give_back_what_a_page_does_not_use() {
        let budget = PageBudget::new(100, 2);
        let mut leases = Vec::new();
        for _ in 0..PAGES_IN_FLIGHT {
            leases.push(budget.lease(CustomerId(uuid::Uuid::new_v4())).await);
        }
        assert_eq!(budget.bytes.available_permits(), 0);
        leases[0].shrink_to(30);
        assert_eq!(budget.bytes.available_permits(), 70);
        leases.truncate(1);
        assert_eq!(budget.bytes.available_permits(), 100 * PAGES_IN_FLIGHT - 30);
        drop(leases);
        assert_eq!(budget.bytes.available_permits(), 100 * PAGES_IN_FLIGHT);
    }

    #[tokio::test]
    async fn one_customer_holds_at_most_its_share_of_the_budget() {
        let budget = PageBudget::new(100, 2);
        let (a, b) = (
            CustomerId(uuid::Uuid::new_v4()),
            CustomerId(uuid::Uuid::new_v4()),
        );
        let mut held = Vec::new();
        for _ in 0..PAGES_PER_CUSTOMER {
            held.push(budget.lease(b).await);
        }
        let wait = std::time::Duration::from_millis(50);
        assert!(tokio::time::timeout(wait, budget.lease(b)).await.is_err());
        assert_eq!(
            budget.bytes.available_permits(),
            100 * (PAGES_IN_FLIGHT - PAGES_PER_CUSTOMER),
            "b's waiting read takes no room in the shared budget"
        );
        assert!(tokio::time::timeout(wait, budget.lease(a)).await.is_ok());
    }
}
