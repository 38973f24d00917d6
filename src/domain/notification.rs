//! Customer notifications (§7.2): which changes are reported, how they are sent, and where a
//! delivery stands. The names are what the customer's filter, the outbox rows and the JSON
//! answers hold.

use super::names::names;

/// A notification type: the `type` of a notification's body, the event type of its outbox
/// row, and a name a customer's `webhook_events` filter may hold.
//
// The published description stays as it was: `openapi.json` is committed and compared with
// the served document. `EVENT_TYPES` was the list that `NotificationType::ALL` now is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, utoipa::ToSchema)]
#[schema(
    rename_all = "snake_case",
    description = "A notification type (§7.2); `EVENT_TYPES` holds the same names."
)]
pub enum NotificationType {
    ConferenceCreated,
    ConferenceUpdated,
    ConferenceDeleted,
    /// A call confab dials out (§15) was created and is being dialled.
    ConferencecallDialing,
    ConferencecallJoining,
    ConferencecallJoined,
    ConferencecallLeaving,
    ConferencecallLeaved,
    ConferencecallUpdated,
    RecordingStarted,
    RecordingFinished,
}

names!(NotificationType {
    ConferenceCreated = "conference_created",
    ConferenceUpdated = "conference_updated",
    ConferenceDeleted = "conference_deleted",
    ConferencecallDialing = "conferencecall_dialing",
    ConferencecallJoining = "conferencecall_joining",
    ConferencecallJoined = "conferencecall_joined",
    ConferencecallLeaving = "conferencecall_leaving",
    ConferencecallLeaved = "conferencecall_leaved",
    ConferencecallUpdated = "conferencecall_updated",
    RecordingStarted = "recording_started",
    RecordingFinished = "recording_finished",
});

/// How notifications are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, utoipa::ToSchema)]
pub enum WebhookMethod {
    #[schema(rename = "POST")]
    Post,
    #[schema(rename = "PUT")]
    Put,
}

names!(WebhookMethod {
    Post = "POST",
    Put = "PUT",
});

/// The method of a request confab sends: a customer's webhook, an action's `webhook_send`, a
/// platform's REST call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpMethod {
    Post,
    Get,
    Put,
    Delete,
}

crate::domain::names::names!(HttpMethod {
    Post = "POST",
    Get = "GET",
    Put = "PUT",
    Delete = "DELETE",
});

impl From<WebhookMethod> for HttpMethod {
    fn from(m: WebhookMethod) -> Self {
        match m {
            WebhookMethod::Post => HttpMethod::Post,
            WebhookMethod::Put => HttpMethod::Put,
        }
    }
}

/// Where a notification's delivery stands.
//
// The variants' notes are plain comments: the published document shows only the names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum DeliveryStatus {
    // Not yet delivered; attempted at `next_attempt_at`.
    Pending,
    // A 2xx answer ended it.
    Delivered,
    // Given up: a 4xx answer, a refused target, or the retry schedule ran out.
    Failed,
}

names!(DeliveryStatus {
    Pending = "pending",
    Delivered = "delivered",
    Failed = "failed",
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_go_both_ways() {
        for t in NotificationType::ALL {
            assert_eq!(NotificationType::parse(t.as_str()), Some(*t));
        }
        assert_eq!(NotificationType::ALL.len(), 11);
        assert_eq!(
            serde_json::to_string(&NotificationType::ConferencecallLeaved).unwrap(),
            r#""conferencecall_leaved""#
        );
        assert_eq!(WebhookMethod::parse("PUT"), Some(WebhookMethod::Put));
        assert_eq!(WebhookMethod::parse("put"), None);
        assert_eq!(DeliveryStatus::Failed.to_string(), "failed");
    }
}
