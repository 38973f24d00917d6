//! Outbox messages as the rules create them: a platform command or a customer webhook, new and
//! pending, to be written in the transaction of the change it reports.

use crate::actions::HttpMethod;
use crate::domain::timestamp::Timestamp;
use crate::domain::{ConferenceId, CustomerId};
use crate::store::{DeliveryStatus, MessageKind, StoredMessage};
use uuid::Uuid;

/// Where and how a webhook is sent.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub url: &'a str,
    pub method: HttpMethod,
    pub content_type: &'a str,
}

/// A platform command (`{"id","type","data"}` already in `body`, whose `id` is `id`).
pub fn command(
    id: String,
    conference: ConferenceId,
    event_type: &str,
    url: String,
    body: String,
    first_attempt_at: i64,
    now: Timestamp,
) -> StoredMessage {
    let target = Target {
        url: &url,
        method: HttpMethod::Post,
        content_type: "application/json",
    };
    pending(
        MessageKind::Command,
        id,
        None,
        conference,
        event_type,
        target,
        body,
        (first_attempt_at, now),
    )
}

/// A webhook to a customer: a notification, an XML `onStatus`, or an async `webhook_send`.
pub fn webhook(
    customer: CustomerId,
    conference: ConferenceId,
    event_type: &str,
    target: Target<'_>,
    body: String,
    first_attempt_at: i64,
    now: Timestamp,
) -> StoredMessage {
    pending(
        MessageKind::Webhook,
        format!("msg_{}", Uuid::now_v7().simple()),
        Some(customer),
        conference,
        event_type,
        target,
        body,
        (first_attempt_at, now),
    )
}

#[allow(clippy::too_many_arguments)]
pub(super) fn pending(
    kind: MessageKind,
    id: String,
    customer_id: Option<CustomerId>,
    conference: ConferenceId,
    event_type: &str,
    target: Target<'_>,
    body: String,
    (first_attempt_at, now): (i64, Timestamp),
) -> StoredMessage {
    StoredMessage {
        seq: 0,
        id,
        kind,
        customer_id,
        // Messages about one conference are delivered one at a time, in order.
        ordering_key: conference.to_string(),
        event_type: event_type.to_string(),
        url: target.url.to_string(),
        method: target.method.as_str().to_string(),
        content_type: target.content_type.to_string(),
        body,
        status: DeliveryStatus::Pending,
        attempts: 0,
        next_attempt_at: first_attempt_at,
        last_status: None,
        last_error: String::new(),
        tm_create: now.micros(),
        tm_update: now.micros(),
    }
}
