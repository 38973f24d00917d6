//! The store interface: what the rules need from a transaction, table by table. The engine
//! sees only these traits (through `&dyn Tx`); each backend implements them. Background tasks
//! see only their role's part (`DeliveryTx`, `DeadlineStore`; see `roles`).

use super::records::*;
use super::secrets::{SecretField, StoredSecrets};
use super::StoreError;
use crate::domain::conference::{Conference, ConferenceView, Conferencecall, Recording};
use crate::domain::customer::Customer;
use crate::domain::deadline::{DeadlineKind, DueDeadline};
use crate::domain::timestamp::Timestamp;
use crate::domain::{ConferenceId, ConferencecallId, CustomerId, RecordingId};

/// Customers: the tenants, their API keys (hashed) and webhook settings.
pub trait CustomerStore: CustomerReads {
    fn insert_customer(&self, c: &Customer, key_hash: &[u8; 32]) -> Result<(), StoreError>;

    /// Writes every mutable column of a customer.
    fn update_customer(&self, c: &Customer) -> Result<(), StoreError>;

    fn customer_id_by_key(&self, key_hash: &[u8; 32]) -> Result<Option<CustomerId>, StoreError>;
}

/// What delivering a customer's messages reads of it: its platform connections (in the
/// customer) and the secrets its notifications are signed with. Apart from `CustomerStore`
/// so that the outbox can be given these reads without the customer writes.
pub trait CustomerReads {
    fn customer(&self, id: CustomerId) -> Result<Option<Customer>, StoreError>;

    /// The secrets a notification must be signed with now: the current one, and the previous
    /// one while its rotation grace period lasts.
    fn signing_secrets(
        &self,
        customer: CustomerId,
        now: Timestamp,
    ) -> Result<Vec<String>, StoreError>;
}

/// Customers' secret columns as stored (sealed or in clear), for the start-up census and the
/// rotation (`store::secrets`); every other read sees them opened, in `Customer`.
pub trait SecretStore {
    /// Up to `limit` customers whose id sorts after `after` (`""` = from the first), by id.
    fn stored_secrets(&self, after: &str, limit: usize) -> Result<Vec<StoredSecrets>, StoreError>;

    /// Replaces one stored secret with `new` only if it still holds `old`: false (and nothing
    /// changed) when a concurrent write changed it since it was read.
    fn replace_stored_secret(
        &self,
        customer: &str,
        field: SecretField,
        old: &str,
        new: &str,
    ) -> Result<bool, StoreError>;
}

/// Conferences and their derived views.
pub trait ConferenceStore {
    /// Takes the conference's lock for the rest of the transaction: every write that changes a
    /// conference, its calls or its recordings takes it first, so admission, join order,
    /// counts and termination are decided by one writer at a time.
    fn lock_conference(&self, id: ConferenceId) -> Result<(), StoreError>;

    fn insert_conference(&self, c: &Conference) -> Result<(), StoreError>;

    /// Writes every mutable column of a conference.
    fn update_conference(&self, c: &Conference) -> Result<(), StoreError>;

    /// A conference by id, optionally only if it belongs to `customer`.
    fn conference(
        &self,
        customer: Option<CustomerId>,
        id: ConferenceId,
    ) -> Result<Option<Conference>, StoreError>;

    /// Adds the lists derived from calls and recordings.
    fn view(&self, conference: Conference) -> Result<ConferenceView, StoreError>;
}

/// Conferencecalls: a call's stay in one conference.
pub trait CallStore {
    fn insert_call(&self, c: &Conferencecall) -> Result<(), StoreError>;

    /// Moves a call to `status` (and writes its `reference_id`, which a dialled call learns
    /// when the callee answers). Reaching `joined` also takes the next join position.
    fn set_call_status(&self, c: &Conferencecall) -> Result<(), StoreError>;

    fn call(
        &self,
        customer: Option<CustomerId>,
        id: ConferencecallId,
    ) -> Result<Option<Conferencecall>, StoreError>;

    /// The platform call's membership that has not ended, if any (at most one exists).
    fn active_call(&self, reference_id: &str) -> Result<Option<Conferencecall>, StoreError>;

    /// The newest membership of a platform call in one conference, whatever its status.
    fn latest_call_in(
        &self,
        reference_id: &str,
        conference_id: ConferenceId,
    ) -> Result<Option<Conferencecall>, StoreError>;

    /// How many memberships of a platform call in one conference have ended: a call that
    /// comes back to a conference is a new membership, told apart from a retry by this.
    fn left_count_in(
        &self,
        reference_id: &str,
        conference_id: ConferenceId,
    ) -> Result<usize, StoreError>;

    /// How many calls of a conference have not left, and how many of those are joined.
    fn call_counts(&self, conference_id: ConferenceId) -> Result<(usize, usize), StoreError>;

    /// Calls of a conference that have not left, oldest first.
    fn calls_in(&self, conference_id: ConferenceId) -> Result<Vec<Conferencecall>, StoreError>;

    /// How many of a customer's calls are being dialled (`dialing`) now, across all its
    /// conferences. On PostgreSQL it takes the customer's dial lock first (after the
    /// conference's, the last lock of a write), so two nodes dialling for one customer at
    /// once count each other's dials.
    fn dialing_count(&self, customer: CustomerId) -> Result<usize, StoreError>;
}

/// Recordings of conferences.
pub trait RecordingStore {
    fn recording(
        &self,
        customer: Option<CustomerId>,
        id: RecordingId,
    ) -> Result<Option<Recording>, StoreError>;

    fn insert_recording(&self, r: &Recording) -> Result<(), StoreError>;

    fn update_recording(&self, r: &Recording) -> Result<(), StoreError>;

    /// The conference's recording in progress (status `recording`), if any. A stopped one
    /// (`stopping`, until the platform finishes it) is not: it is no longer the conference's
    /// `recording_id`, and a new recording may start beside it.
    fn active_recording(
        &self,
        conference_id: ConferenceId,
    ) -> Result<Option<Recording>, StoreError>;
}

/// The outbox: messages to deliver, written with the change they report.
pub trait OutboxStore {
    fn enqueue(&self, m: &StoredMessage) -> Result<(), StoreError>;

    /// Points a customer's notifications not delivered yet (pending, or failed and so open to
    /// a retry) at its webhook as it is now, `(url, method)`; `None` (the customer removed its
    /// webhook) fails the pending ones. Other webhooks (an action's, an XML `onStatus`) keep
    /// the URL they were given. Returns how many messages changed.
    fn retarget_notifications(
        &self,
        customer: CustomerId,
        target: Option<(&str, &str)>,
        now: i64,
    ) -> Result<usize, StoreError>;

    /// Leases the first due message of up to `limit` ordering keys to `owner` until
    /// `lease_until`; a key whose first message is leased to anyone is skipped.
    fn claim_due_messages(
        &self,
        owner: &str,
        now: i64,
        lease_until: i64,
        limit: usize,
        busy: &[CustomerId],
    ) -> Result<Vec<StoredMessage>, StoreError>;

    /// Leases the next due messages of one key to `owner`, in order, stopping at the first
    /// one not due or leased to someone else.
    fn claim_run(
        &self,
        owner: &str,
        key: &str,
        now: i64,
        lease_until: i64,
        limit: usize,
    ) -> Result<Vec<StoredMessage>, StoreError>;

    /// Gives back leases on messages `owner` claimed but did not attempt.
    fn release_leases(&self, owner: &str, seqs: &[i64]) -> Result<(), StoreError>;

    /// When the next pending message is due, if any is pending.
    fn next_message_due(&self) -> Result<Option<i64>, StoreError>;

    /// Records the outcome of a delivery attempt and releases its lease.
    fn record_attempt(&self, m: &StoredMessage) -> Result<(), StoreError>;

    fn message(&self, id: &str) -> Result<Option<StoredMessage>, StoreError>;
}

/// Durable deadlines: timeouts, kick grace, the XML idle rule.
pub trait DeadlineStore {
    /// Sets (or moves) the deadline of `kind` for `subject`.
    fn set_deadline(
        &self,
        kind: DeadlineKind,
        subject: &str,
        due_at: Timestamp,
    ) -> Result<(), StoreError>;

    fn clear_deadline(&self, kind: DeadlineKind, subject: &str) -> Result<(), StoreError>;

    /// Drops a deadline whose stored kind this build does not know (see `DueDeadline`).
    fn drop_unknown_deadline(&self, stored_kind: &str, subject: &str) -> Result<(), StoreError>;

    /// Deadlines due by `now`, earliest first.
    fn due_deadlines(&self, now: Timestamp, limit: usize) -> Result<Vec<DueDeadline>, StoreError>;

    /// Takes a deadline for firing: true (and the deadline is gone) only if it is still set
    /// with exactly this due time; of two owners firing it at once, one gets it.
    fn take_deadline(
        &self,
        kind: DeadlineKind,
        subject: &str,
        due_at: i64,
    ) -> Result<bool, StoreError>;

    fn next_deadline(&self) -> Result<Option<i64>, StoreError>;
}

/// Platform event answers, kept for idempotent replays.
pub trait EventStore {
    /// Claims an event id for this transaction: `New` means this transaction applies it (and
    /// records its answer before committing); `Answered` carries the first answer. Safe when
    /// two writers see the same id at once.
    fn claim_event(&self, id: &str) -> Result<EventClaim, StoreError>;

    /// The answer already given to a platform event id.
    fn event_answer(&self, id: &str) -> Result<Option<(u16, String)>, StoreError>;

    fn record_event_answer(
        &self,
        id: &str,
        event_type: &str,
        status: u16,
        body: &str,
        now: Timestamp,
    ) -> Result<(), StoreError>;
}

/// Health, metrics gauges and history retention.
pub trait HousekeepingStore {
    /// A trivial query, to prove the store answers.
    fn ping(&self) -> Result<(), StoreError>;

    /// Rewrites the probe row: a write that changes a page, so its commit proves the store
    /// can write.
    fn probe(&self, now: i64) -> Result<(), StoreError>;

    /// The gauges of `/metrics`.
    fn gauges(&self) -> Result<crate::store::Gauges, StoreError>;

    /// Deletes history older than its retention (`store::retention`), at most `limit` rows
    /// of each table: rows kept for the idempotency window older than `events_before`, those
    /// kept for the delivery log older than `messages_before`. Returns how many rows went.
    fn prune(
        &self,
        events_before: Timestamp,
        messages_before: Timestamp,
        limit: i64,
    ) -> Result<usize, StoreError>;

    /// Counts for metrics: conferences not terminated, calls not left.
    fn active_counts(&self) -> Result<(i64, i64), StoreError>;
}

/// Lists, cut by items and by bytes (see `store::pages`).
pub trait ListStore {
    /// A customer's conferences, newest first, with their derived lists.
    fn list_conferences(
        &self,
        customer: CustomerId,
        filter: &ConferenceFilter,
        cursor: Option<Cursor>,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Page<ConferenceView>, StoreError>;

    /// A customer's conferencecalls, newest first.
    fn list_calls(
        &self,
        customer: CustomerId,
        filter: &CallFilter,
        cursor: Option<Cursor>,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Page<Conferencecall>, StoreError>;

    /// The calls of a conference that have not left, oldest first; `size` estimates each
    /// one's rendered length (the XML API renders them).
    fn participants_page(
        &self,
        conference_id: ConferenceId,
        cursor: Option<Cursor>,
        limit: usize,
        max_bytes: usize,
        size: &dyn Fn(&Conferencecall) -> usize,
    ) -> Result<Page<Conferencecall>, StoreError>;

    /// A customer's recordings, newest first.
    fn list_recordings(
        &self,
        customer: CustomerId,
        conference_id: Option<ConferenceId>,
        cursor: Option<Cursor>,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Page<Recording>, StoreError>;

    /// A customer's notifications (the delivery log) that pass `filter`, newest first, before the cursor
    /// `before_seq`; `size` estimates each one's rendered length. Returns the page and the seq
    /// to continue before, if more remain.
    fn delivery_page(
        &self,
        customer: CustomerId,
        filter: DeliveryFilter<'_>,
        before_seq: Option<i64>,
        limit: usize,
        max_bytes: usize,
        size: &dyn Fn(&StoredMessage) -> usize,
    ) -> Result<(Vec<StoredMessage>, Option<i64>), StoreError>;
}

/// Calls' paused action lists (§13), one row per conferencecall that ever paused.
pub trait PauseStore {
    /// The call's pause row, active or not.
    fn pause(
        &self,
        call: crate::domain::ConferencecallId,
    ) -> Result<Option<crate::store::records::StoredPause>, StoreError>;
    /// Writes the call's pause row (inserted, or replacing the one there).
    fn put_pause(&self, p: &crate::store::records::StoredPause) -> Result<(), StoreError>;
}

/// What confab knows of a call on its platform beyond its row (§15): the platform's id of a
/// dialled call while it rings, and the number of the newest platform report applied to it.
pub trait PlatformCallStore {
    /// The platform's own id of a dialled call, once a report of its ringing gave it.
    fn dial_call_id(
        &self,
        call: crate::domain::ConferencecallId,
    ) -> Result<Option<String>, StoreError>;
    /// Keeps the platform's own id of a dialled call that rings.
    fn set_dial_call_id(
        &self,
        call: crate::domain::ConferencecallId,
        platform_id: &str,
        now: i64,
    ) -> Result<(), StoreError>;
    /// Keeps the number of the platform's report of the call's join.
    fn set_join_sequence(
        &self,
        call: crate::domain::ConferencecallId,
        sequence: i64,
        now: i64,
    ) -> Result<(), StoreError>;
    /// The number of the platform's report of the call's join, if it numbered one.
    fn join_sequence(
        &self,
        call: crate::domain::ConferencecallId,
    ) -> Result<Option<i64>, StoreError>;
    /// Takes a platform report numbered `sequence` about the call: true (and it is now the
    /// newest) when it is newer than every report taken before, false when it is not.
    fn advance_update_sequence(
        &self,
        call: crate::domain::ConferencecallId,
        sequence: i64,
        now: i64,
    ) -> Result<bool, StoreError>;
}

/// What confab says to a call or room on request (§15), kept for platforms that fetch it from
/// a URL naming it.
pub trait AnnouncementStore {
    /// Stores `actions` (their JSON) under `id`.
    fn insert_announcement(
        &self,
        id: uuid::Uuid,
        customer: CustomerId,
        conference: crate::domain::ConferenceId,
        actions: &str,
        now: i64,
    ) -> Result<(), StoreError>;
    /// The actions of a customer's announcement in a conference.
    fn announcement(
        &self,
        id: uuid::Uuid,
        customer: CustomerId,
        conference: crate::domain::ConferenceId,
    ) -> Result<Option<String>, StoreError>;
}

/// Usage you can bill from (§16): each customer's usage per UTC day, added to in the
/// transactions that create conferences, let calls leave and end recordings, and what a
/// conference's summary reads.
pub trait UsageStore {
    /// Adds `usage` to one shard of a customer's day, and its recording seconds to the
    /// conference's total (its participant seconds are added by `set_call_status` as the call
    /// leaves, in the update of the conference's counts).
    fn add_usage(
        &self,
        customer: CustomerId,
        conference: crate::domain::ConferenceId,
        day: crate::domain::usage::Day,
        shard: i32,
        usage: &crate::domain::usage::Usage,
    ) -> Result<(), StoreError>;
    /// A customer's days `from..=to` that have usage, in order, the shards summed.
    fn usage_days(
        &self,
        customer: CustomerId,
        from: crate::domain::usage::Day,
        to: crate::domain::usage::Day,
    ) -> Result<Vec<(crate::domain::usage::Day, crate::domain::usage::Usage)>, StoreError>;
    /// A conference's totals, kept on its row.
    fn conference_totals(
        &self,
        conference: crate::domain::ConferenceId,
    ) -> Result<crate::domain::usage::ConferenceTotals, StoreError>;
}

/// One transaction of the store: every table's operations, plus nested steps that can fail
/// alone. Write transactions of every backend take `ConferenceStore::lock_conference` first
/// for the conference they change.
pub trait Tx:
    CustomerStore
    + DeliveryTx
    + ConferenceStore
    + CallStore
    + PauseStore
    + AnnouncementStore
    + PlatformCallStore
    + UsageStore
    + RecordingStore
    + OutboxStore
    + DeadlineStore
    + EventStore
    + ListStore
    + HousekeepingStore
    + SecretStore
{
    /// Starts a nested step: its changes can be undone without ending the transaction.
    fn begin_step(&self) -> Result<(), StoreError>;
    /// Ends the innermost step, keeping its changes or undoing them.
    fn end_step(&self, keep: bool) -> Result<(), StoreError>;
}

/// The outbox's part of the store (a role, see `roles`): its messages, and the customer reads
/// a delivery needs. A supertrait of `Tx`, so a transaction can be handed on as this alone.
pub trait DeliveryTx: OutboxStore + CustomerReads {}

impl<T: OutboxStore + CustomerReads + ?Sized> DeliveryTx for T {}

/// Which notifications a delivery log page holds.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeliveryFilter<'a> {
    pub status: Option<DeliveryStatus>,
    /// Only those about this conference (their order key).
    pub conference: Option<&'a str>,
}
