//! What the engine answers when it does not do what was asked: a bad argument, an invalid
//! action list, a refusal by a domain rule, or a store fault.

use crate::actions::ActionError;
use crate::domain::ConferenceId;
use crate::store::StoreError;

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
    #[error("the conference is full: it holds at most {0} calls")]
    ConferenceAtLimit(i64),
    #[error("the conference is locked: no call may join")]
    ConferenceLocked,
    #[error("the call is already in conference {0}")]
    CallBusy(ConferenceId),
    #[error("{0}")]
    StateInvalid(String),
    /// The customer has as many calls being dialled out as `--dial-limit` allows.
    #[error("the customer already has {0} calls being dialled, the most allowed at once")]
    DialLimit(usize),
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
            Refusal::ConferenceFull | Refusal::ConferenceAtLimit(_) => "CONFERENCE_FULL",
            Refusal::ConferenceLocked => "CONFERENCE_LOCKED",
            Refusal::CallBusy(_) => "CALL_BUSY",
            Refusal::StateInvalid(_) => "STATE_INVALID",
            Refusal::DialLimit(_) => "DIAL_LIMIT",
        }
    }

    /// Rebuilds a refusal stored before refusals had a serde form, from its reason code and
    /// message.
    pub(super) fn from_stored(code: &str, message: &str) -> Refusal {
        match code {
            "CONFERENCE_NOT_FOUND" => Refusal::ConferenceNotFound,
            "CONFERENCECALL_NOT_FOUND" => Refusal::ConferencecallNotFound,
            "RECORDING_NOT_FOUND" => Refusal::RecordingNotFound,
            "CONFERENCE_CLOSED" => Refusal::ConferenceClosed,
            "CONFERENCE_FULL" => Refusal::ConferenceFull,
            "CONFERENCE_LOCKED" => Refusal::ConferenceLocked,
            "CALL_BUSY" => Refusal::CallBusy(
                message
                    .rsplit(' ')
                    .next()
                    .and_then(ConferenceId::parse)
                    .unwrap_or(ConferenceId::nil()),
            ),
            _ => Refusal::StateInvalid(message.to_string()),
        }
    }
}

/// A bad argument, named by its field.
pub fn invalid(field: &str, message: impl Into<String>) -> EngineError {
    EngineError::InvalidArgument {
        field: field.to_string(),
        message: message.into(),
    }
}
