//! The records the store hands back that are not domain types of their own: list pages and
//! their cursors, list filters, and outbox messages with their delivery state.

use crate::domain::CustomerId;

pub use crate::domain::query::{CallFilter, ConferenceFilter, Cursor, Page};

/// A row of the outbox: one outbound message and its delivery state.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredMessage {
    pub seq: i64,
    pub id: String,
    pub kind: MessageKind,
    pub customer_id: Option<CustomerId>,
    pub ordering_key: String,
    pub event_type: String,
    pub url: String,
    pub method: String,
    pub content_type: String,
    pub body: String,
    pub status: DeliveryStatus,
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub last_status: Option<i64>,
    pub last_error: String,
    pub tm_create: i64,
    pub tm_update: i64,
}

/// What `EventStore::claim_event` found: the event is new (this transaction applies it), or it
/// was answered before (replay this answer, change nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventClaim {
    New,
    Answered { status: u16, body: String },
}

/// Who an outbox message is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// A platform command (`{platform-url}/commands`).
    Command,
    /// A customer webhook: a notification, an XML `onStatus`, or an async `webhook_send`.
    Webhook,
}

impl MessageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Command => "command",
            MessageKind::Webhook => "webhook",
        }
    }

    pub fn parse(s: &str) -> Option<MessageKind> {
        [MessageKind::Command, MessageKind::Webhook]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// Where an outbox message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    /// Not yet delivered; attempted at `next_attempt_at`.
    Pending,
    /// A 2xx answer ended it.
    Delivered,
    /// Given up: a 4xx answer, a refused target, or the retry schedule ran out.
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<DeliveryStatus> {
        [
            DeliveryStatus::Pending,
            DeliveryStatus::Delivered,
            DeliveryStatus::Failed,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

impl std::fmt::Display for MessageKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for DeliveryStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The store's gauges for `/metrics`: counts read at scrape time.
#[derive(Debug, Default, Clone)]
pub struct Gauges {
    pub outbox_pending: Vec<(String, i64)>,
    pub outbox_failed: Vec<(String, i64)>,
    pub active_conferences: i64,
    pub active_calls: i64,
    pub deadlines: i64,
    pub store: StoreGauges,
}

/// The store's own state, read from the process (not the database) at scrape.
#[derive(Debug, Default, Clone)]
pub struct StoreGauges {
    pub wal_bytes: u64,
    pub wal_limit_bytes: u64,
    /// 1 while writes are failing (disk full, I/O error).
    pub write_failing: bool,
    /// Write batches that could not be committed, since start.
    pub write_failures: u64,
}
