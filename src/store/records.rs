//! The records the store hands back that are not domain types of their own: list pages and
//! their cursors, list filters, and outbox messages with their delivery state.

use crate::domain::conference::{CallStatus, ConferenceStatus, ConferenceType};
use crate::domain::{ConferenceId, CustomerId};
use uuid::Uuid;

/// Position after the last item of a page: items are ordered by `(tm_create, id)` descending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub tm_create: i64,
    pub id: Uuid,
}

/// One page of a list: its items, where the next page starts (`None` on the last one), and
/// the items' estimated JSON length (see `pages`).
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<Cursor>,
    pub bytes: usize,
}

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

#[derive(Debug, Clone, Default)]
pub struct ConferenceFilter {
    pub status: Option<ConferenceStatus>,
    pub kind: Option<ConferenceType>,
    pub include_deleted: bool,
}

#[derive(Debug, Clone, Default)]
pub struct CallFilter {
    pub conference_id: Option<ConferenceId>,
    pub status: Option<CallStatus>,
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
