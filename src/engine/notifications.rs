//! Customer notifications (§7.2): every change is reported to the customer's webhook through
//! the outbox, in the same transaction as the change; plus the customer's own settings and the
//! delivery log.

use super::{invalid, Engine, EngineError, Refusal};
use crate::actions::HttpMethod;
use crate::dialects::settings::{self, SettingError};
use crate::domain::conference::{json_string_len, Conference, Conferencecall, Recording};
use crate::domain::customer::{self, Customer, ROTATION_GRACE_SECONDS};
use crate::domain::notification::{NotificationType, WebhookMethod};
use crate::domain::timestamp::Timestamp;
use crate::domain::{ConferenceId, CustomerId};
use crate::outbox::message;
use crate::store::prelude::*;
use crate::store::StoredMessage;
use crate::store::{DeliveryStatus, MessageKind};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

/// Changes a customer makes to itself; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct CustomerPatch {
    pub name: Option<String>,
    pub webhook_uri: Option<String>,
    pub webhook_method: Option<String>,
    pub webhook_events: Option<Vec<String>>,
    /// Platform connections by name: `None` removes one, `Some(fields)` sets or changes it;
    /// connections not named are left as they are.
    pub connections: settings::Changes,
}

/// One notification as the delivery log shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Delivery {
    /// `msg_...`: the `webhook-id` it is sent with.
    pub id: String,
    /// The conference it is about (its messages are delivered in order).
    #[schema(format = Uuid)]
    pub conference_id: String,
    /// A notification type, or `xml_status` for an XML conference's `onStatus`.
    pub event_type: String,
    pub status: DeliveryStatus,
    pub url: String,
    pub method: String,
    pub attempts: i64,
    /// The HTTP status of the last attempt; `null` before one answered.
    #[schema(required = true)]
    pub last_status: Option<i64>,
    pub last_error: String,
    #[schema(value_type = crate::domain::timestamp::ApiTime)]
    pub next_attempt_at: String,
    /// The body as sent, verbatim when it is JSON (it is not parsed into a tree: a conference
    /// notification carries the whole conference); `null` for other bodies (onStatus XML).
    #[schema(value_type = Option<Object>, required = true)]
    pub payload: Option<Box<RawValue>>,
    #[schema(value_type = crate::domain::timestamp::ApiTime)]
    pub tm_create: String,
    #[schema(value_type = crate::domain::timestamp::ApiTime)]
    pub tm_update: String,
}

/// Upper bound of a delivery's JSON besides its strings and payload (names, punctuation,
/// numbers, timestamps); checked by the test below.
const DELIVERY_JSON_FIXED: usize = 300;

impl Delivery {
    /// At least the length of the delivery of `m` rendered as JSON, without building it.
    pub(crate) fn json_len(m: &StoredMessage) -> usize {
        DELIVERY_JSON_FIXED
            + [
                &m.id,
                &m.ordering_key,
                &m.event_type,
                m.status.as_str(),
                &m.url,
                &m.method,
                &m.last_error,
            ]
            .into_iter()
            .map(json_string_len)
            .sum::<usize>()
            + m.body.len().max(4)
    }

    pub(super) fn from_message(m: StoredMessage) -> Delivery {
        Delivery {
            payload: RawValue::from_string(m.body).ok(),
            next_attempt_at: if m.status == DeliveryStatus::Pending {
                Timestamp(m.next_attempt_at).to_api()
            } else {
                crate::domain::timestamp::NOT_SET.to_string()
            },
            id: m.id,
            conference_id: m.ordering_key,
            event_type: m.event_type,
            status: m.status,
            url: m.url,
            method: m.method,
            attempts: m.attempts,
            last_status: m.last_status,
            last_error: m.last_error,
            tm_create: Timestamp(m.tm_create).to_api(),
            tm_update: Timestamp(m.tm_update).to_api(),
        }
    }
}

/// A `webhook_events` filter as the customer sent it, by name; the first unknown name is
/// refused with the list of known ones.
fn notification_types(names: &[String]) -> Result<Vec<NotificationType>, EngineError> {
    names
        .iter()
        .map(|name| {
            NotificationType::parse(name).ok_or_else(|| {
                let known: Vec<_> = NotificationType::ALL.iter().map(|t| t.as_str()).collect();
                invalid(
                    "webhook_events",
                    format!("unknown event type {name:?}; known: {}", known.join(", ")),
                )
            })
        })
        .collect()
}

pub(crate) fn check_webhook_uri(uri: &str) -> Result<(), EngineError> {
    if uri.is_empty() {
        return Ok(());
    }
    match reqwest::Url::parse(uri) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => Ok(()),
        _ => Err(invalid("webhook_uri", "must be an http(s) URL or empty")),
    }
}

impl Engine {
    /// Queues a notification of type `t` about `data` for the customer, if it wants it.
    /// Runs inside the transaction of the change it reports.
    pub(crate) fn notify(
        &self,
        db: &dyn Tx,
        customer_id: CustomerId,
        ordering_key: ConferenceId,
        t: NotificationType,
        data: Value,
        now: Timestamp,
    ) -> Result<(), EngineError> {
        let Some(customer) = self.cached_customer(db, customer_id)? else {
            return Ok(());
        };
        if !customer.wants(t) {
            return Ok(());
        }
        let body = json!({"type": t, "timestamp": now.to_api(), "data": data}).to_string();
        self.enqueue_webhook(
            db,
            &customer,
            ordering_key,
            t.as_str(),
            &customer.webhook_uri,
            customer.webhook_method.into(),
            "application/json",
            body,
            now,
        )
    }

    /// Queues one webhook message for a customer (notifications and XML `onStatus` alike).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn enqueue_webhook(
        &self,
        db: &dyn Tx,
        customer: &Customer,
        ordering_key: ConferenceId,
        event_type: &str,
        url: &str,
        method: HttpMethod,
        content_type: &str,
        body: String,
        now: Timestamp,
    ) -> Result<(), EngineError> {
        let target = message::Target {
            url,
            method,
            content_type,
        };
        db.enqueue(&message::webhook(
            customer.id,
            ordering_key,
            event_type,
            target,
            body,
            now.micros() + self.settings.webhook_first_delay_micros,
            now,
        ))?;
        Ok(())
    }

    /// Whether the customer wants type `t`, so the payload is only built when it is sent.
    fn wants(
        &self,
        db: &dyn Tx,
        customer_id: CustomerId,
        t: NotificationType,
    ) -> Result<bool, EngineError> {
        Ok(self
            .cached_customer(db, customer_id)?
            .is_some_and(|c| c.wants(t)))
    }

    /// Notifies a conference event with the conference as the API shows it now.
    pub(crate) fn notify_conference(
        &self,
        db: &dyn Tx,
        conf: &Conference,
        t: NotificationType,
        now: Timestamp,
    ) -> Result<(), EngineError> {
        if !self.wants(db, conf.customer_id, t)? {
            return Ok(());
        }
        let view = db.view(conf.clone())?;
        let data = serde_json::to_value(view.json()).unwrap_or(Value::Null);
        self.notify(db, conf.customer_id, conf.id, t, data, now)
    }

    pub(crate) fn notify_call(
        &self,
        db: &dyn Tx,
        call: &Conferencecall,
        t: NotificationType,
        now: Timestamp,
    ) -> Result<(), EngineError> {
        if !self.wants(db, call.customer_id, t)? {
            return Ok(());
        }
        let data = serde_json::to_value(call.json()).unwrap_or(Value::Null);
        self.notify(db, call.customer_id, call.conference_id, t, data, now)
    }

    pub(crate) fn notify_recording(
        &self,
        db: &dyn Tx,
        rec: &Recording,
        t: NotificationType,
        now: Timestamp,
    ) -> Result<(), EngineError> {
        if !self.wants(db, rec.customer_id, t)? {
            return Ok(());
        }
        let data = serde_json::to_value(rec.json()).unwrap_or(Value::Null);
        self.notify(db, rec.customer_id, rec.conference_id, t, data, now)
    }

    pub async fn update_customer(
        &self,
        id: CustomerId,
        patch: CustomerPatch,
    ) -> Result<Customer, EngineError> {
        if let Some(n) = &patch.name {
            if n.trim().is_empty() {
                return Err(invalid("name", "must not be empty"));
            }
            super::check_text("name", n, crate::domain::conference::MAX_NAME_CHARS)?;
        }
        if let Some(u) = &patch.webhook_uri {
            check_webhook_uri(u)?;
        }
        let method = match &patch.webhook_method {
            Some(m) => Some(
                WebhookMethod::parse(m)
                    .ok_or_else(|| invalid("webhook_method", "must be POST or PUT"))?,
            ),
            None => None,
        };
        let events = match &patch.webhook_events {
            Some(names) => Some(notification_types(names)?),
            None => None,
        };
        let now = self.now();
        let engine = self.clone();
        self.write(move |db| {
            let mut c = db
                .customer(id)?
                .ok_or(Refusal::StateInvalid("customer not found".into()))?;
            if let Some(n) = patch.name {
                c.name = n.trim().to_string();
            }
            if let Some(u) = patch.webhook_uri {
                c.webhook_uri = u;
            }
            if let Some(m) = method {
                c.webhook_method = m;
            }
            if let Some(e) = events {
                c.webhook_events = e;
            }
            // Credentials travel to a connection's api_url: in the clear only where private
            // targets are allowed (a test or a lab), never to a public address.
            let allow_private = engine.settings.allow_private_targets;
            settings::apply(&mut c.connections, &patch.connections, allow_private)
                .map_err(|e: SettingError| invalid(&e.field, e.message))?;
            c.tm_update = now;
            db.update_customer(&c)?;
            engine.evict_customer(c.id);
            Ok(c)
        })
        .await
    }

    /// Replaces the webhook secret; the old one keeps signing beside it for 24 h.
    pub async fn rotate_webhook_secret(&self, id: CustomerId) -> Result<Customer, EngineError> {
        let now = self.now();
        let engine = self.clone();
        self.write(move |db| {
            let mut c = db
                .customer(id)?
                .ok_or(Refusal::StateInvalid("customer not found".into()))?;
            let old = std::mem::replace(&mut c.webhook_secret, customer::new_webhook_secret());
            c.previous_secret = Some((old, now.plus_seconds(ROTATION_GRACE_SECONDS)));
            c.tm_update = now;
            db.update_customer(&c)?;
            engine.evict_customer(c.id);
            Ok(c)
        })
        .await
    }

    /// Sends a failed notification again, from the start of the retry schedule.
    pub async fn retry_delivery(
        &self,
        customer: CustomerId,
        id: String,
    ) -> Result<Delivery, EngineError> {
        let now = self.now();
        self.write(move |db| {
            let mut m = db
                .message(&id)?
                .filter(|m| m.kind == MessageKind::Webhook && m.customer_id == Some(customer))
                .ok_or(Refusal::DeliveryNotFound)?;
            if m.status != DeliveryStatus::Failed {
                return Err(Refusal::StateInvalid(format!(
                    "only a failed delivery can be retried; this one is {}",
                    m.status
                ))
                .into());
            }
            m.status = DeliveryStatus::Pending;
            m.attempts = 0;
            m.next_attempt_at = now.micros();
            m.last_error = String::new();
            m.tm_update = now.micros();
            db.record_attempt(&m)?;
            Ok(Delivery::from_message(m))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_json_len_bounds_the_rendered_length() {
        let mut m = StoredMessage {
            seq: 1,
            id: "msg_2abc".into(),
            kind: MessageKind::Webhook,
            customer_id: None,
            ordering_key: String::new(),
            event_type: "conference_updated".into(),
            url: "https://example.com/hooks?a=\"1\"".into(),
            method: "POST".into(),
            content_type: "application/json".into(),
            body: r#"{"type":"x","data":{"a":[1,2]}}"#.into(),
            status: DeliveryStatus::Pending,
            attempts: i64::MIN,
            next_attempt_at: 0,
            last_status: Some(i64::MIN),
            last_error: "timed out \u{1}".into(),
            tm_create: 0,
            tm_update: 0,
        };
        for body in [r#"{"type":"x","data":{"a":[1,2]}}"#, "<event/>", ""] {
            m.body = body.into();
            let estimate = Delivery::json_len(&m);
            let actual = serde_json::to_string(&Delivery::from_message(m.clone()))
                .unwrap()
                .len();
            assert!(
                estimate >= actual && estimate - actual <= 64,
                "{estimate} {actual}"
            );
        }
    }
}
