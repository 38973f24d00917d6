//! The one mapping from errors of every layer to the HTTP error envelope of §6.1.

use crate::engine::{EngineError, Refusal};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// Seconds a client is asked to wait when the store cannot write.
const RETRY_AFTER_UNAVAILABLE: u64 = 5;

/// The error envelope every error answer of the JSON API has.
#[derive(Serialize, ToSchema)]
#[schema(as = ErrorResponse)]
pub struct ErrorBody<'a> {
    pub error: ErrorDetail<'a>,
}

/// What went wrong.
#[derive(Serialize, ToSchema)]
pub struct ErrorDetail<'a> {
    /// The HTTP status, repeated.
    #[schema(minimum = 400, maximum = 599)]
    pub status: u16,
    /// A stable code: `INVALID_ARGUMENT`, `INVALID_JSON_BODY`, `INVALID_ID`, `INVALID_ACTION`,
    /// `AUTHENTICATION_REQUIRED`, `CONFERENCE_NOT_FOUND`, `CONFERENCECALL_NOT_FOUND`,
    /// `RECORDING_NOT_FOUND`, `CONFERENCE_CLOSED`, `CONFERENCE_FULL`, `CALL_BUSY`,
    /// `STATE_INVALID`, `PAYLOAD_TOO_LARGE`, `RATE_LIMITED`, `STORE_UNAVAILABLE`, ...
    pub reason: &'static str,
    /// For people: names the field at fault.
    pub message: &'a str,
    /// Quote it when reporting a problem; a platform event's refusal carries the event id.
    pub request_id: &'a str,
}

/// An error answer: `{"error":{"status","reason","message","request_id"}}`.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub reason: &'static str,
    pub message: String,
    pub request_id: String,
    /// Seconds to send as `Retry-After` (429 answers).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, reason: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            reason,
            message: message.into(),
            request_id: Uuid::new_v4().to_string(),
            retry_after: None,
        }
    }

    /// 429 with `Retry-After`.
    pub fn rate_limited(wait: std::time::Duration) -> ApiError {
        let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "RATE_LIMITED",
            format!("too many requests; retry after {seconds} s"),
        );
        e.retry_after = Some(seconds);
        e
    }

    pub fn invalid_argument(field: &str, message: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_ARGUMENT",
            format!("{field}: {message}"),
        )
    }

    pub fn invalid_json(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "INVALID_JSON_BODY", message)
    }

    pub fn invalid_id(value: &str) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "INVALID_ID",
            format!("path id {value:?} is not a UUID"),
        )
    }

    pub fn unauthenticated() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "AUTHENTICATION_REQUIRED",
            "a valid API key is required (Authorization: Bearer <key> or ?token=<key>)",
        )
    }

    pub fn not_found() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "NOT_FOUND", "no such route")
    }

    pub fn too_large(limit: usize) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            format!("the request body is larger than {limit} bytes"),
        )
    }

    /// An unexpected failure: the details are logged here, once, and never sent.
    pub fn internal(detail: &dyn std::fmt::Display) -> ApiError {
        let e = ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_ERROR",
            "internal error; quote the request_id when reporting it",
        );
        tracing::error!(request_id = %e.request_id, error = %detail, "internal error");
        e
    }

    /// A stored secret this request needs does not decrypt (its key is missing, or it was
    /// altered or copied from another customer): never used. The log names the customer, the
    /// field and why; the answer says only that a stored secret is unusable.
    pub fn secret_unreadable(detail: &dyn std::fmt::Display) -> ApiError {
        let e = ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "SECRET_UNREADABLE",
            "a stored secret of this customer cannot be decrypted; quote the request_id to the operator",
        );
        tracing::error!(request_id = %e.request_id, error = %detail, "secrets: a stored secret cannot be used");
        e
    }

    /// The store cannot write right now (disk full, I/O error): a 503 with `Retry-After` and
    /// the reason, which says nothing about the client's request.
    pub fn unavailable(reason: &str) -> ApiError {
        let mut e = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "STORE_UNAVAILABLE",
            format!("the store cannot accept writes right now ({reason}); retry later"),
        );
        e.retry_after = Some(RETRY_AFTER_UNAVAILABLE);
        e
    }

    /// Uses a caller-chosen request id (a platform event's id), so a replayed event's error
    /// answer is byte-for-byte the first one.
    pub fn with_request_id(mut self, id: &str) -> ApiError {
        self.request_id = id.to_string();
        self
    }

    pub fn body(&self) -> ErrorBody<'_> {
        ErrorBody {
            error: ErrorDetail {
                status: self.status.as_u16(),
                reason: self.reason,
                message: &self.message,
                request_id: &self.request_id,
            },
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.reason,
            self.message
        )
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status);
        if let Some(s) = self.retry_after {
            res.insert_header((actix_web::http::header::RETRY_AFTER, s.to_string()));
        }
        res.json(self.body())
    }
}

/// The HTTP status of each refusal.
pub fn refusal_status(r: &Refusal) -> StatusCode {
    match r {
        Refusal::ConferenceNotFound
        | Refusal::ConferencecallNotFound
        | Refusal::RecordingNotFound
        | Refusal::DeliveryNotFound => StatusCode::NOT_FOUND,
        Refusal::ConferenceClosed
        | Refusal::ConferenceFull
        | Refusal::ConferenceAtLimit(_)
        | Refusal::ConferenceLocked
        | Refusal::CallBusy(_)
        | Refusal::StateInvalid(_) => StatusCode::CONFLICT,
        // A rate of its own kind: the customer may dial again once one of its dials ends.
        Refusal::DialLimit(_) => StatusCode::TOO_MANY_REQUESTS,
    }
}

impl From<Refusal> for ApiError {
    fn from(r: Refusal) -> Self {
        ApiError::new(refusal_status(&r), r.code(), r.to_string())
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::InvalidArgument { field, message } => {
                ApiError::invalid_argument(&field, message)
            }
            EngineError::InvalidAction(a) => {
                ApiError::new(StatusCode::BAD_REQUEST, "INVALID_ACTION", a.to_string())
            }
            EngineError::Refused(r) => r.into(),
            EngineError::Store(crate::store::StoreError::Unavailable(reason)) => {
                ApiError::unavailable(&reason)
            }
            EngineError::Store(crate::store::StoreError::Unstorable(why)) => {
                tracing::info!(why, "a request's text could not be stored");
                ApiError::invalid_argument(
                    "body",
                    "holds a character that cannot be stored (text must not contain NUL)",
                )
            }
            EngineError::Store(e @ crate::store::StoreError::Secret { .. }) => {
                ApiError::secret_unreadable(&e)
            }
            EngineError::Store(s) => ApiError::internal(&s),
        }
    }
}
