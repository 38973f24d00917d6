//! Outbox messages as the rules create them: a platform's command or a customer webhook, new
//! and pending, to be written in the transaction of the change it reports.

use crate::actions::HttpMethod;
use crate::dialects::Outbound;
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

/// A command for a platform as its dialect carries it (`crate::dialects::Outbound`). A native
/// command belongs to no customer: it goes to the operator's platform, signed with the
/// platform secret, and the dispatcher counts it as the platform's; a REST request is the
/// customer's, authorized with its connection at each attempt.
pub fn outbound(
    request: Outbound,
    customer: CustomerId,
    conference: ConferenceId,
    first_attempt_at: i64,
    now: Timestamp,
) -> StoredMessage {
    let owner = (request.kind != MessageKind::Command).then_some(customer);
    let target = Target {
        url: &request.url,
        method: request.method,
        content_type: request.content_type,
    };
    pending(
        request.kind,
        request.id,
        owner,
        conference,
        &request.event_type,
        target,
        request.body,
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
fn pending(
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
