//! The delivery log: a customer's notifications as they were sent, listed newest first, and a
//! failed one sent again.

use super::pages::PageLease;
use super::{Engine, EngineError, Refusal};
use crate::domain::conference::json_string_len;
use crate::domain::timestamp::Timestamp;
use crate::domain::{ConferenceId, CustomerId};
use crate::store::{DeliveryStatus, MessageKind, StoredMessage};
use serde::Serialize;
use serde_json::value::RawValue;

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

    fn from_message(m: StoredMessage) -> Delivery {
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

/// A page of the delivery log: the items, the seq to continue before, and the items'
/// estimated JSON length.
pub struct DeliveryPage {
    pub items: Vec<Delivery>,
    pub next: Option<i64>,
    pub bytes: usize,
}

impl Engine {
    /// The customer's notifications (of one conference, if given), newest first, before the
    /// seq `before`.
    pub async fn list_deliveries(
        &self,
        customer: CustomerId,
        status: Option<DeliveryStatus>,
        conference: Option<ConferenceId>,
        before: Option<i64>,
        limit: usize,
    ) -> Result<(DeliveryPage, PageLease), EngineError> {
        let max_bytes = self.settings().page_bytes;
        let read = self.store.read(move |db| {
            let conference = conference.map(|c| c.to_string());
            let filter = crate::store::DeliveryFilter {
                status,
                conference: conference.as_deref(),
            };
            db.delivery_page(
                customer,
                filter,
                before,
                limit,
                max_bytes,
                &Delivery::json_len,
            )
        });
        let read = async {
            let (messages, next) = read.await?;
            Ok(DeliveryPage {
                bytes: messages.iter().map(Delivery::json_len).sum(),
                items: messages.into_iter().map(Delivery::from_message).collect(),
                next,
            })
        };
        self.leased(customer, read, |p| p.bytes).await
    }

    /// Sends a failed notification again, from the start of the retry schedule.
    pub async fn retry_delivery(
        &self,
        customer: CustomerId,
        id: String,
    ) -> Result<Delivery, EngineError> {
        self.transact(move |rules| {
            let now = rules.now();
            let mut m = rules
                .db()
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
            rules.db().record_attempt(&m)?;
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
