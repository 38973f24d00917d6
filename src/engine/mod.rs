//! The engine: the use cases of confab (customers, conferences, calls, platform events),
//! applying the conference rules over the store. It knows nothing of HTTP.

mod customers;
mod dialects;
mod events;
mod lifecycle;
mod live;
mod notifications;
mod pages;
mod programs;
mod shares;
mod simulation;
mod xml_conferences;

pub use dialects::Membership;
pub use notifications::{CustomerPatch, Delivery};
pub use pages::{DeliveryPage, PageLease};

pub use events::{EventKind, PlatformEvent};
pub use live::Change;
pub use simulation::{Simulation, SimulationRun, Subject};

use crate::actions::flows::FlowSet;
use crate::actions::{self, ActionError, ActionList};
use crate::domain::conference::{
    Conference, ConferenceStatus, ConferenceType, ConferenceView, Conferencecall, Origin,
    Recording, StoredJson, XmlAttributes, MAX_DATA_BYTES, MAX_DETAIL_CHARS, MAX_NAME_CHARS,
    MAX_TIMEOUT_SECONDS,
};
use crate::domain::customer::Customer;
use crate::domain::notification::NotificationType;
use crate::domain::timestamp::Clock;
use crate::domain::{ConferenceId, ConferencecallId, CustomerId, RecordingId};
use crate::outbox::courier::Courier;
use crate::store::{Store, StoreError};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use tokio::sync::Notify;

/// What a request asked for that confab refuses, or could not do.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{field}: {message}")]
    InvalidArgument { field: String, message: String },
    #[error("{0}")]
    InvalidAction(#[from] ActionError),
    #[error("{0}")]
    Refused(#[from] Refusal),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl crate::store::StoreFault for EngineError {
    fn store_fault(&self) -> Option<&str> {
        match self {
            EngineError::Store(e) => crate::store::StoreFault::store_fault(e),
            _ => None,
        }
    }
}

/// What `/healthz` reports of the store.
#[derive(Debug, Clone)]
pub struct StoreHealth {
    pub read: bool,
    pub write: crate::store::WriteState,
}

/// A domain rule said no. Each has a stable reason code of the API contract. Its serde form
/// is how a refused platform event's answer is stored for replays.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum Refusal {
    #[error("conference not found")]
    ConferenceNotFound,
    #[error("conferencecall not found")]
    ConferencecallNotFound,
    #[error("recording not found")]
    RecordingNotFound,
    #[error("webhook delivery not found")]
    DeliveryNotFound,
    #[error("the conference is closed to new calls")]
    ConferenceClosed,
    #[error("the conference is full: a connect conference holds two calls")]
    ConferenceFull,
    #[error("the call is already in conference {0}")]
    CallBusy(ConferenceId),
    #[error("{0}")]
    StateInvalid(String),
}

impl Refusal {
    /// The reason code of the error envelope.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::ConferenceNotFound => "CONFERENCE_NOT_FOUND",
            Refusal::ConferencecallNotFound => "CONFERENCECALL_NOT_FOUND",
            Refusal::RecordingNotFound => "RECORDING_NOT_FOUND",
            Refusal::DeliveryNotFound => "DELIVERY_NOT_FOUND",
            Refusal::ConferenceClosed => "CONFERENCE_CLOSED",
            Refusal::ConferenceFull => "CONFERENCE_FULL",
            Refusal::CallBusy(_) => "CALL_BUSY",
            Refusal::StateInvalid(_) => "STATE_INVALID",
        }
    }
}

pub fn invalid(field: &str, message: impl Into<String>) -> EngineError {
    EngineError::InvalidArgument {
        field: field.to_string(),
        message: message.into(),
    }
}

/// A conference to create, as parsed from a request.
#[derive(Debug, Clone, Default)]
pub struct ConferenceDraft {
    pub kind: Option<ConferenceType>,
    pub name: Option<String>,
    pub detail: Option<String>,
    pub data: Option<Value>,
    pub timeout: Option<i64>,
    pub pre_actions: Option<Value>,
    pub post_actions: Option<Value>,
    pub origin: Option<Origin>,
    pub xml: XmlAttributes,
}

/// Changes to a conference; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ConferencePatch {
    pub name: Option<String>,
    pub detail: Option<String>,
    pub data: Option<Value>,
    pub timeout: Option<i64>,
    pub pre_actions: Option<Value>,
    pub post_actions: Option<Value>,
}

/// Settings the engine needs from the configuration.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// Base URL of the platform; commands are not sent without it.
    pub platform_url: Option<String>,
    pub kick_grace_seconds: i64,
    pub idle_timeout_seconds: i64,
    /// Delay before a command's first attempt (the first entry of its retry schedule).
    pub command_first_delay_micros: i64,
    /// Delay before a notification's first attempt.
    pub webhook_first_delay_micros: i64,
    /// Whether webhooks may target private, loopback and link-local addresses.
    pub allow_private_targets: bool,
    /// The byte budget of a list page (`--page-bytes`).
    pub page_bytes: usize,
    /// Store reader threads (`--readers`): a customer's list reads may hold at most half.
    pub readers: usize,
    /// The base URL platforms reach confab at (`--public-url`), for dialect callbacks.
    pub public_url: String,
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            platform_url: None,
            kick_grace_seconds: 30,
            idle_timeout_seconds: 600,
            command_first_delay_micros: 0,
            webhook_first_delay_micros: 0,
            allow_private_targets: false,
            page_bytes: crate::config::DEFAULT_PAGE_BYTES,
            readers: 2,
            public_url: "http://127.0.0.1:8080".into(),
        }
    }
}

/// The shared core behind both public APIs and the CLI.
#[derive(Clone)]
pub struct Engine {
    pub(crate) store: Store,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) flows: Arc<RwLock<Arc<FlowSet>>>,
    pub(crate) settings: Arc<EngineSettings>,
    /// Notified after every write, so the outbox dispatcher and the deadline scheduler look for
    /// new work at once instead of at their next poll.
    outbox_wake: Arc<Notify>,
    deadline_wake: Arc<Notify>,
    /// Customers as the writer last read them, so each notification does not reload its
    /// customer. Only the writer thread fills it; customer changes (also on the writer) evict.
    customers: Arc<RwLock<HashMap<CustomerId, CachedCustomer>>>,
    metrics: Arc<crate::ops::metrics::Metrics>,
    /// Compiled `pre_actions`/`post_actions` per conference.
    programs: Arc<programs::ProgramCache>,
    pub(crate) courier: Courier,
    keys: Arc<RwLock<HashMap<[u8; 32], CustomerId>>>,
    /// The byte budget of list pages held at once.
    pages: pages::PageBudget,
    /// What the console watches.
    live: live::Live,
}

/// How long a platform event id is remembered: a replay within it gets the first answer.
pub const IDEMPOTENCY_WINDOW_SECONDS: i64 = 7 * 24 * 3600;
/// How long delivered and failed messages stay in the delivery log.
pub const MESSAGE_RETENTION_SECONDS: i64 = 30 * 24 * 3600;

/// A customer as read, and when.
type CachedCustomer = (std::time::Instant, Arc<Customer>);

/// How long a customer read is trusted before it is read again.
const CUSTOMER_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(1);

/// Largest number of API keys remembered in memory; beyond it the cache starts over.
const KEY_CACHE_LIMIT: usize = 100_000;

pub(crate) fn check_text(field: &str, value: &str, max_chars: usize) -> Result<(), EngineError> {
    if value.chars().count() > max_chars {
        return Err(invalid(
            field,
            format!("must be at most {max_chars} characters"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
    {
        return Err(invalid(field, "must not contain control characters"));
    }
    Ok(())
}

fn check_data(data: &Value) -> Result<(), EngineError> {
    if !data.is_object() {
        return Err(invalid("data", "must be a JSON object"));
    }
    if data.to_string().len() > MAX_DATA_BYTES {
        return Err(invalid(
            "data",
            format!("must be at most {MAX_DATA_BYTES} bytes serialized"),
        ));
    }
    Ok(())
}

fn check_timeout(timeout: i64) -> Result<(), EngineError> {
    if !(0..=MAX_TIMEOUT_SECONDS).contains(&timeout) {
        return Err(invalid(
            "timeout",
            format!("must be 0 (none) or 1 to {MAX_TIMEOUT_SECONDS} seconds"),
        ));
    }
    Ok(())
}

impl Engine {
    pub fn new(
        store: Store,
        clock: Arc<dyn Clock>,
        flows: FlowSet,
        settings: EngineSettings,
    ) -> Engine {
        Engine {
            store,
            clock,
            flows: Arc::new(RwLock::new(Arc::new(flows))),
            pages: pages::PageBudget::new(settings.page_bytes, settings.readers),
            settings: Arc::new(settings),
            outbox_wake: Arc::new(Notify::new()),
            deadline_wake: Arc::new(Notify::new()),
            customers: Arc::new(RwLock::new(HashMap::new())),
            metrics: Arc::new(crate::ops::metrics::Metrics::default()),
            programs: Arc::default(),
            courier: Courier::new(),
            keys: Arc::new(RwLock::new(HashMap::new())),
            live: live::Live::default(),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The base URL platforms reach confab at (`--public-url`).
    pub fn public_url(&self) -> &str {
        &self.settings.public_url
    }

    pub fn metrics(&self) -> Arc<crate::ops::metrics::Metrics> {
        self.metrics.clone()
    }

    /// The gauges of `/metrics`, read from the store.
    pub async fn gauges(&self) -> Result<crate::ops::metrics::Gauges, EngineError> {
        let mut g = self.store.read(|db| db.gauges()).await?;
        let (wal_bytes, wal_limit_bytes) = self.store.wal_size();
        let health = self.store.write_health();
        let stats = self.store.writer_stats();
        g.store = crate::ops::metrics::StoreGauges {
            wal_bytes,
            wal_limit_bytes,
            write_failing: health.is_failing(),
            write_failures: health.failures(),
            batch_size: stats.batch_size.clone(),
            commit_seconds: stats.commit_seconds.clone(),
        };
        Ok(g)
    }

    pub fn now(&self) -> crate::domain::timestamp::Timestamp {
        self.clock.now()
    }

    pub fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }

    /// The notifiers the background tasks wait on: (outbox, deadlines).
    pub fn wakers(&self) -> (Arc<Notify>, Arc<Notify>) {
        (self.outbox_wake.clone(), self.deadline_wake.clone())
    }

    /// A store write followed by a wake-up of the background tasks that have new work: a
    /// queued message, or a deadline that may be earlier than the one they wait for.
    pub(crate) async fn write<T, F>(&self, f: F) -> Result<T, EngineError>
    where
        T: Send + 'static,
        F: FnOnce(&dyn crate::store::Tx) -> Result<T, EngineError> + Send + 'static,
    {
        let result = self.store.write(f).await;
        let (outbox, deadlines) = self.store.take_signals();
        if outbox {
            self.outbox_wake.notify_one();
        }
        if deadlines {
            self.deadline_wake.notify_one();
        }
        result
    }

    /// The flows currently loaded.
    pub fn flows(&self) -> Arc<FlowSet> {
        match self.flows.read() {
            Ok(f) => f.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces the loaded flows (after a successful reload).
    pub fn set_flows(&self, flows: FlowSet) {
        let mut guard = match self.flows.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        *guard = Arc::new(flows);
    }

    /// Parses and validates one action list against the loaded flows.
    pub fn action_list(&self, list: &str, value: &Value) -> Result<ActionList, EngineError> {
        let parsed = actions::parse_list(list, value)?;
        actions::compile(list, &parsed.actions, self.flows().as_ref())?;
        Ok(parsed)
    }

    // ---- customers -----------------------------------------------------------------------

    // ---- conferences ---------------------------------------------------------------------

    pub async fn create_conference(
        &self,
        customer: CustomerId,
        draft: ConferenceDraft,
    ) -> Result<ConferenceView, EngineError> {
        let name = draft.name.unwrap_or_default();
        check_text("name", &name, MAX_NAME_CHARS)?;
        let detail = draft.detail.unwrap_or_default();
        check_text("detail", &detail, MAX_DETAIL_CHARS)?;
        let data = draft
            .data
            .unwrap_or_else(|| Value::Object(Default::default()));
        check_data(&data)?;
        let timeout = draft.timeout.unwrap_or(0);
        check_timeout(timeout)?;
        let empty = Value::Array(Vec::new());
        let pre_actions =
            self.action_list("pre_actions", draft.pre_actions.as_ref().unwrap_or(&empty))?;
        let post_actions = self.action_list(
            "post_actions",
            draft.post_actions.as_ref().unwrap_or(&empty),
        )?;
        let now = self.clock.now();
        let conference = Conference {
            id: ConferenceId::new(),
            customer_id: customer,
            kind: draft.kind.unwrap_or(ConferenceType::Conference),
            status: ConferenceStatus::Progressing,
            name,
            detail,
            data: StoredJson::from_value(&data),
            timeout,
            pre_actions: StoredJson::from_value(&pre_actions.to_json()),
            post_actions: StoredJson::from_value(&post_actions.to_json()),
            origin: draft.origin.unwrap_or(Origin::Json),
            xml: draft.xml,
            tm_create: now,
            tm_update: now,
            tm_delete: None,
            tm_begin: None,
            tm_end: None,
        };
        let engine = self.clone();
        self.write(move |db| {
            db.insert_conference(&conference)?;
            engine.notify_conference(db, &conference, NotificationType::ConferenceCreated, now)?;
            engine.schedule_idle(db, &conference, now)?;
            engine.schedule_timeout(db, &conference, now)?;
            Ok::<_, EngineError>(ConferenceView {
                conference,
                conferencecall_ids: Vec::new(),
                recording_id: None,
                recording_ids: Vec::new(),
            })
        })
        .await
    }

    pub async fn conference(
        &self,
        customer: CustomerId,
        id: ConferenceId,
    ) -> Result<ConferenceView, EngineError> {
        self.store
            .read(move |db| match db.conference(Some(customer), id)? {
                Some(c) => Ok(Some(db.view(c)?)),
                None => Ok(None),
            })
            .await?
            .ok_or(EngineError::Refused(Refusal::ConferenceNotFound))
    }

    pub async fn update_conference(
        &self,
        customer: CustomerId,
        id: ConferenceId,
        patch: ConferencePatch,
    ) -> Result<ConferenceView, EngineError> {
        if let Some(n) = &patch.name {
            check_text("name", n, MAX_NAME_CHARS)?;
        }
        if let Some(d) = &patch.detail {
            check_text("detail", d, MAX_DETAIL_CHARS)?;
        }
        if let Some(d) = &patch.data {
            check_data(d)?;
        }
        if let Some(t) = patch.timeout {
            check_timeout(t)?;
        }
        let pre = patch
            .pre_actions
            .as_ref()
            .map(|v| self.action_list("pre_actions", v))
            .transpose()?;
        let post = patch
            .post_actions
            .as_ref()
            .map(|v| self.action_list("post_actions", v))
            .transpose()?;
        let now = self.clock.now();
        let engine = self.clone();
        self.write(move |db| {
            db.lock_conference(id)?;
            let mut c = db
                .conference(Some(customer), id)?
                .ok_or(Refusal::ConferenceNotFound)?;
            if !c.status.is_open() || c.tm_delete.is_some() {
                return Err(EngineError::Refused(Refusal::StateInvalid(format!(
                    "a {} conference cannot be changed",
                    c.status.as_str()
                ))));
            }
            if let Some(n) = patch.name {
                c.name = n;
            }
            if let Some(d) = patch.detail {
                c.detail = d;
            }
            if let Some(d) = patch.data {
                c.data = StoredJson::from_value(&d);
            }
            let timeout_set = patch.timeout.is_some();
            if let Some(t) = patch.timeout {
                c.timeout = t;
            }
            if let Some(p) = pre {
                c.pre_actions = StoredJson::from_value(&p.to_json());
            }
            if let Some(p) = post {
                c.post_actions = StoredJson::from_value(&p.to_json());
            }
            c.tm_update = now;
            db.update_conference(&c)?;
            engine.notify_conference(db, &c, NotificationType::ConferenceUpdated, now)?;
            // A timeout counts from the write that set it (§3.1).
            if timeout_set {
                engine.schedule_timeout(db, &c, now)?;
            }
            Ok(db.view(c)?)
        })
        .await
    }

    /// Soft-deletes a conference and terminates it: straight to `terminated` when no call is
    /// in it, else `terminating` until the last call leaves. A repeat changes nothing.
    pub async fn delete_conference(
        &self,
        customer: CustomerId,
        id: ConferenceId,
    ) -> Result<ConferenceView, EngineError> {
        let now = self.clock.now();
        let engine = self.clone();
        self.write(move |db| {
            db.lock_conference(id)?;
            let mut c = db
                .conference(Some(customer), id)?
                .ok_or(Refusal::ConferenceNotFound)?;
            if c.tm_delete.is_none() {
                c.tm_delete = Some(now);
                c.tm_update = now;
                db.update_conference(&c)?;
                engine.terminate(db, &mut c, now)?;
                engine.notify_conference(db, &c, NotificationType::ConferenceDeleted, now)?;
            }
            Ok(db.view(c)?)
        })
        .await
    }

    // ---- conferencecalls and recordings ---------------------------------------------------

    pub async fn call(
        &self,
        customer: CustomerId,
        id: ConferencecallId,
    ) -> Result<Conferencecall, EngineError> {
        self.store
            .read(move |db| db.call(Some(customer), id))
            .await?
            .ok_or(EngineError::Refused(Refusal::ConferencecallNotFound))
    }

    pub async fn recording(
        &self,
        customer: CustomerId,
        id: RecordingId,
    ) -> Result<Recording, EngineError> {
        self.store
            .read(move |db| db.recording(Some(customer), id))
            .await?
            .ok_or(EngineError::Refused(Refusal::RecordingNotFound))
    }

    /// Sends the `sync` webhooks actions asked for, in order, each within 3 s, before the call
    /// gets its answer. (Async ones were queued in the outbox with the event's changes.)
    pub(crate) async fn send_webhooks(&self, webhooks: Vec<crate::outbox::WebhookRequest>) {
        for w in webhooks {
            self.courier
                .send_action_webhook(&w, self.settings.allow_private_targets)
                .await;
        }
    }

    /// Deletes history past its retention: platform event answers after the idempotency window
    /// (7 days) and finished outbox messages after 30 days.
    pub async fn prune_history(&self) -> Result<usize, EngineError> {
        let now = self.now();
        let events_before = now.plus_seconds(-IDEMPOTENCY_WINDOW_SECONDS);
        let messages_before = now.plus_seconds(-MESSAGE_RETENTION_SECONDS);
        Ok(self
            .store
            .write(move |db| db.prune(events_before, messages_before))
            .await?)
    }

    /// Whether the store answers (for `/healthz`).
    /// Whether the store answers reads, and whether it can write. While writes are failing a
    /// small probe write is tried, so recovery shows even when no client is writing.
    pub async fn health(&self) -> StoreHealth {
        let read = self.store.read(|db| db.ping()).await.is_ok();
        if self.store.write_health().state() != crate::store::WriteState::Ok {
            let _ = self.store.probe_write(self.clock.now().micros()).await;
        }
        StoreHealth {
            read,
            write: self.store.write_health().state(),
        }
    }
}
