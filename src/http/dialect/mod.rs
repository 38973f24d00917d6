//! The platform dialects' webhooks (§11): TwiML (`twiml.rs`) and jambonz (`jambonz.rs`)
//! translate a platform's own requests into platform events for the one engine and its
//! answers into the platform's verbs. What they share is here: the customer and its
//! connection named by the URL, the signed URL, the event outcome, and the beep sound.

pub mod jambonz;
pub mod signature;
pub mod twiml;

use super::error::ApiError;
use super::AppState;
use crate::actions::interpreter::Variables;
use crate::domain::dialect::Connections;
use crate::domain::dialect::Dialect;
use crate::domain::{ConferenceId, CustomerId};
use crate::engine::{EngineError, EventKind, PlatformEvent, Refusal};
use crate::render::EventAnswer;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use serde_json::Value;
use std::sync::OnceLock;
use uuid::Uuid;

/// The customer and conference a dialect URL names.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub customer: CustomerId,
    pub conference: ConferenceId,
}

impl Route {
    /// Reads `/{customer_id}/conferences/{conference_id}/…`; a malformed id is a URL confab
    /// never gave out: 404.
    pub fn parse(customer: &str, conference: &str) -> Result<Route, ApiError> {
        match (Uuid::parse_str(customer), Uuid::parse_str(conference)) {
            (Ok(c), Ok(f)) => Ok(Route {
                customer: CustomerId(c),
                conference: ConferenceId(f),
            }),
            _ => Err(ApiError::not_found()),
        }
    }
}

/// 403: the request is not from the customer's platform account. The same answer whether the
/// customer is unknown, has no connection, or the signature is wrong, so the URL space cannot
/// be probed; the log says which.
pub fn forbidden(why: &str) -> ApiError {
    tracing::info!(why, "dialect webhook refused");
    ApiError::new(
        StatusCode::FORBIDDEN,
        "SIGNATURE_INVALID",
        "the request's platform signature is missing or does not verify",
    )
}

/// The customer's platform connections, or 403 if there is no such customer.
pub async fn connections(state: &AppState, customer: CustomerId) -> Result<Connections, ApiError> {
    match state.engine.customer(customer).await? {
        Some(c) => Ok(c.connections),
        None => Err(forbidden("unknown customer")),
    }
}

/// The URL the platform called, as it knows it: `--public-url` and the request's path and
/// query (what Twilio signs).
pub fn called_url(state: &AppState, req: &HttpRequest) -> String {
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    format!("{}{path}", state.engine.public_url())
}

/// A callback URL of a dialect: `{public}/v1.0/{dialect}/{customer}/conferences/{conf}/{leaf}`.
pub fn callback(state: &AppState, dialect: &str, route: Route, leaf: &str) -> String {
    crate::outbox::platforms::Callbacks {
        public_url: state.engine.public_url(),
        customer: route.customer,
        conference: route.conference,
    }
    .url(dialect, leaf)
}

/// The beep's URL: `--beep-url`, or the sound confab serves.
pub fn beep_url(state: &AppState) -> String {
    match &state.beep_url {
        Some(u) => u.clone(),
        None => format!("{}/v1.0/sounds/beep.wav", state.engine.public_url()),
    }
}

/// Platform fields as variables `platform.<name>`, so flows can use whatever the platform
/// sends without confab naming its fields. Very long names or values are left out.
pub fn platform_variables<'a>(fields: impl IntoIterator<Item = (&'a str, String)>) -> Variables {
    fields
        .into_iter()
        .filter(|(name, text)| name.len() <= 64 && text.len() <= 1024)
        .map(|(name, text)| (format!("platform.{name}"), text))
        .collect()
}

/// A JSON field as a variable's text: strings, numbers and booleans; nothing else.
pub fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(_) | Value::Bool(_) => Some(value.to_string()),
        _ => None,
    }
}

/// One platform call in the conference a dialect URL names, and the platform events it
/// makes. The platforms send no event ids, so confab makes them from what it knows: the
/// customer, the conference, the call, and which membership of the call in the conference the
/// event is about (a call may leave and come back). A platform's retry of a request maps to
/// the same id and gets the same answer; a leave status event and the request to `…/after`
/// are one `call_left`, whichever comes first.
pub struct CallEvents {
    dialect: Dialect,
    route: Route,
    call_id: String,
    /// Memberships of the call in the conference that have ended.
    left: usize,
    /// The newest membership, or `none`.
    latest: String,
}

impl CallEvents {
    /// Reads where the call stands in the conference (one store read).
    pub async fn of(
        state: &AppState,
        dialect: Dialect,
        route: Route,
        call_id: &str,
    ) -> Result<CallEvents, ApiError> {
        let m = state
            .engine
            .membership(route.customer, route.conference, call_id.to_string())
            .await?;
        Ok(CallEvents {
            dialect,
            route,
            call_id: call_id.to_string(),
            left: m.left,
            latest: m
                .latest
                .map(|c| c.id.to_string())
                .unwrap_or_else(|| "none".into()),
        })
    }

    fn event(&self, step: String, kind: EventKind) -> PlatformEvent {
        PlatformEvent {
            id: format!(
                "{}:{}:{}:{}:{step}",
                self.dialect.as_str(),
                self.route.customer,
                self.route.conference,
                self.call_id
            ),
            kind,
            scope: Some(self.route.customer),
        }
    }

    /// A new membership's `call_joining`, numbered by the memberships that ended before it
    /// (which stays the same until it ends, so a retry gets the same id).
    pub fn joining(&self, from: String, to: String, variables: Variables) -> PlatformEvent {
        let kind = EventKind::CallJoining {
            call_id: self.call_id.clone(),
            conference_id: self.route.conference,
            from,
            to,
            variables,
            dialect: self.dialect,
        };
        self.event(format!("joining:{}", self.left), kind)
    }

    pub fn joined(&self, platform_conference: String) -> PlatformEvent {
        let kind = EventKind::CallJoined {
            call_id: self.call_id.clone(),
            conference_id: self.route.conference,
            platform_conference,
        };
        self.event(format!("{}:joined", self.latest), kind)
    }

    pub fn left(&self, reason: String) -> PlatformEvent {
        let kind = EventKind::CallLeft {
            call_id: self.call_id.clone(),
            conference_id: self.route.conference,
            reason,
        };
        self.event(format!("{}:left", self.latest), kind)
    }
}

/// What an event came to: its answer, or a refusal the dialect answers in its own words
/// (hang up). Store faults stay errors (503).
pub enum Outcome {
    Answered(EventAnswer),
    Refused(Refusal),
}

pub async fn apply(state: &AppState, event: PlatformEvent) -> Result<Outcome, ApiError> {
    let id = event.id.clone();
    match state.engine.handle_event(event).await {
        Ok(answer) => Ok(Outcome::Answered(answer)),
        Err(EngineError::Refused(r)) => {
            tracing::info!(event_id = %id, reason = r.code(), "dialect event refused: {r}");
            Ok(Outcome::Refused(r))
        }
        Err(other) => Err(ApiError::from(other)),
    }
}

/// Applies an event and answers in the dialect's words: its answer rendered, or, for a
/// refusal, the dialect's hang-up.
pub async fn answer(
    state: &AppState,
    event: PlatformEvent,
    render: impl FnOnce(&EventAnswer) -> HttpResponse,
    refused: impl FnOnce() -> HttpResponse,
) -> Result<HttpResponse, ApiError> {
    Ok(match apply(state, event).await? {
        Outcome::Answered(a) => render(&a),
        Outcome::Refused(_) => refused(),
    })
}

/// The conferencecall id of an answer, for `participantLabel`.
pub fn conferencecall_id(answer: &EventAnswer) -> String {
    answer
        .conferencecall
        .as_ref()
        .and_then(|raw| serde_json::from_str::<Value>(raw.get()).ok())
        .and_then(|v| v["id"].as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Whether a call status (Twilio's `CallStatus`, jambonz's `call_status`) says the call is
/// over.
pub fn ended(status: Option<&str>) -> bool {
    matches!(
        status,
        Some("completed" | "busy" | "failed" | "no-answer" | "canceled")
    )
}

/// An optional platform field (a caller's number), at most 256 characters as in the native
/// protocol; absent is empty.
pub fn bounded(value: Option<&str>, field: &str) -> Result<String, ApiError> {
    match value {
        Some(v) if v.len() > 256 => Err(ApiError::invalid_argument(
            field,
            "must be at most 256 characters",
        )),
        v => Ok(v.unwrap_or("").to_string()),
    }
}

/// Checks that a required platform field is present and bounded, naming it otherwise.
pub fn required<'a>(value: Option<&'a str>, field: &str) -> Result<&'a str, ApiError> {
    match value {
        Some(v) if !v.is_empty() && v.len() <= 256 => Ok(v),
        Some(v) if !v.is_empty() => Err(ApiError::invalid_argument(
            field,
            "must be at most 256 characters",
        )),
        _ => Err(ApiError::invalid_argument(field, "is required")),
    }
}

/// `GET /v1.0/sounds/beep.wav`: the beep TwiML and jambonz play for a `beep` action, since
/// neither has a beep verb. A 1 kHz tone of 250 ms, 8 kHz 16-bit mono PCM, made once.
pub async fn beep() -> HttpResponse {
    static WAV: OnceLock<Vec<u8>> = OnceLock::new();
    let wav = WAV.get_or_init(beep_wav);
    HttpResponse::Ok()
        .content_type("audio/wav")
        .insert_header(("Cache-Control", "public, max-age=86400"))
        .body(wav.clone())
}

fn beep_wav() -> Vec<u8> {
    const RATE: u32 = 8000;
    const SAMPLES: u32 = RATE / 4;
    let data_len = SAMPLES * 2;
    let mut out = Vec::with_capacity(44 + data_len as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&RATE.to_le_bytes());
    out.extend_from_slice(&(RATE * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for n in 0..SAMPLES {
        let t = n as f64 / RATE as f64;
        let sample = (t * 1000.0 * std::f64::consts::TAU).sin() * 0.5 * i16::MAX as f64;
        out.extend_from_slice(&(sample as i16).to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_beep_is_a_wav_file() {
        let wav = super::beep_wav();
        assert_eq!(&wav[0..4], b"RIFF");
        assert_eq!(&wav[8..12], b"WAVE");
        assert_eq!(wav.len(), 44 + 4000);
    }
}
