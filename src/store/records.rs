//! The records the store hands back that are not domain types of their own: list pages and
//! their cursors, list filters, and outbox messages with their delivery state.

use crate::domain::names::names;
use crate::domain::CustomerId;

pub use crate::domain::notification::DeliveryStatus;

pub use crate::domain::query::{CallFilter, ConferenceFilter, Cursor, Page};

/// The SQL list of the notification types (`'conference_created', …`): the event types of the
/// messages that go to a customer's own webhook.
pub(crate) fn notification_types_sql() -> String {
    crate::domain::notification::NotificationType::ALL
        .iter()
        .map(|t| format!("'{}'", t.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why pending notifications failed when their customer removed its webhook.
pub(crate) const WEBHOOK_REMOVED: &str = "the customer removed its webhook_uri";

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

/// A conferencecall's paused action list (§13), as stored: the number of its latest pause in
/// the membership, and while it is paused, which list, the list's text as it ran, and the
/// run's state (the engine's, opaque here). `active` is false once the pause was resumed or
/// dropped; the row stays so the next pause takes the next number.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPause {
    pub conferencecall_id: crate::domain::ConferencecallId,
    pub seq: i64,
    pub active: bool,
    pub list: String,
    pub program: String,
    pub state: String,
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
    /// A request to the REST API of a customer's platform account: a dialect call's kick
    /// or recording, authenticated with the customer's connection.
    PlatformApi,
}

names!(MessageKind {
    Command = "command",
    Webhook = "webhook",
    PlatformApi = "platform_api",
});

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
#[derive(Debug, Clone)]
pub struct StoreGauges {
    pub wal_bytes: u64,
    pub wal_limit_bytes: u64,
    /// 1 while writes are failing (disk full, I/O error).
    pub write_failing: bool,
    /// Write batches that could not be committed, since start.
    pub write_failures: u64,
    /// Jobs per committed write batch (shared with the writer: it counts on).
    pub batch_size: crate::store::Histogram,
    /// Time each commit took (shared with the writer).
    pub commit_seconds: crate::store::Histogram,
    /// Writes run again in a later batch because a lock they needed was held (shared).
    pub carried: prometheus_client::metrics::counter::Counter,
}

impl Default for StoreGauges {
    fn default() -> Self {
        let stats = crate::store::WriterStats::default();
        StoreGauges {
            wal_bytes: 0,
            wal_limit_bytes: 0,
            write_failing: false,
            write_failures: 0,
            batch_size: stats.batch_size,
            commit_seconds: stats.commit_seconds,
            carried: stats.carried,
        }
    }
}

/// How a call moving from `from` (none: it is being inserted) to `to` changes its
/// conference's counts, kept on the conference row so that admission and join order never
/// count a conference's calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CountMove {
    /// Change of the calls not yet left.
    pub active: i64,
    /// Change of the joined calls.
    pub joined: i64,
    /// The call reaches `joined` now and takes the next join position.
    pub takes_join_seq: bool,
    /// Seconds the call stayed joined, added to the conference's total as it leaves (§16).
    pub stay_seconds: i64,
}

impl CountMove {
    pub fn between(
        from: Option<crate::domain::conference::CallStatus>,
        to: crate::domain::conference::CallStatus,
    ) -> CountMove {
        use crate::domain::conference::CallStatus;
        let active = |s: CallStatus| i64::from(s != CallStatus::Leaved);
        let joined = |s: CallStatus| i64::from(s == CallStatus::Joined);
        CountMove {
            active: active(to) - from.map_or(0, active),
            joined: joined(to) - from.map_or(0, joined),
            takes_join_seq: to == CallStatus::Joined && from != Some(CallStatus::Joined),
            stay_seconds: 0,
        }
    }

    /// The move of `call` from `from` to its status; a call leaving now adds its stay.
    pub fn of(
        from: Option<crate::domain::conference::CallStatus>,
        call: &crate::domain::conference::Conferencecall,
    ) -> CountMove {
        use crate::domain::conference::CallStatus;
        let mut m = CountMove::between(from, call.status);
        if call.status == CallStatus::Leaved && from != Some(CallStatus::Leaved) {
            m.stay_seconds = call.stay_seconds().unwrap_or(0);
        }
        m
    }

    /// Whether the conference row needs no change.
    pub fn is_none(&self) -> bool {
        self.active == 0 && self.joined == 0 && !self.takes_join_seq && self.stay_seconds == 0
    }
}

#[cfg(test)]
mod tests {
    use super::CountMove;
    use crate::domain::conference::CallStatus::*;

    #[test]
    fn counts_follow_a_call_through_its_life() {
        // A dialled call is active from the start; its answer moves nothing.
        let m = CountMove::between(None, Dialing);
        assert_eq!((m.active, m.joined, m.takes_join_seq), (1, 0, false));
        let m = CountMove::between(Some(Dialing), Joining);
        assert!(m.is_none());
        let m = CountMove::between(None, Joining);
        assert_eq!((m.active, m.joined, m.takes_join_seq), (1, 0, false));
        let m = CountMove::between(Some(Joining), Joined);
        assert_eq!((m.active, m.joined, m.takes_join_seq), (0, 1, true));
        let m = CountMove::between(Some(Joined), Leaving);
        assert_eq!((m.active, m.joined, m.takes_join_seq), (0, -1, false));
        let m = CountMove::between(Some(Leaving), Leaved);
        assert_eq!((m.active, m.joined, m.takes_join_seq), (-1, 0, false));
        assert!(CountMove::between(Some(Joined), Joined).is_none());
        let m = CountMove::between(Some(Joining), Leaved);
        assert_eq!((m.active, m.joined), (-1, 0));
    }
}
