//! `POST /v1.0/platform/events`: signature check, parsing into a `PlatformEvent`, and the
//! answer as JSON or (with `Accept: application/xml`) XML.

use super::error::ApiError;
use super::input::{parse_json, read_body};
use super::AppState;
use crate::actions::interpreter::Variables;
use crate::domain::dialect::Dialect;
use crate::engine::{EngineError, EventKind, PlatformEvent};
use crate::outbox::signature;
use crate::render::xml;
use crate::render::EventAnswer;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{Map, Value};
use uuid::Uuid;

#[derive(Deserialize)]
struct Envelope {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    data: Map<String, Value>,
}

fn unauthorized(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "AUTHENTICATION_REQUIRED", message)
}

fn verify(req: &HttpRequest, key: &[u8], body: &[u8]) -> Result<(), ApiError> {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let (Some(id), Some(ts), Some(sigs)) = (
        header("webhook-id"),
        header("webhook-timestamp"),
        header("webhook-signature"),
    ) else {
        return Err(unauthorized(
            signature::SignatureError::MissingHeader.to_string(),
        ));
    };
    let now = chrono::Utc::now().timestamp();
    signature::verify(key, id, ts, sigs, body, now)
        .map_err(|e| unauthorized(format!("platform event signature: {e}")))
}

fn text_field(data: &Map<String, Value>, name: &str, required: bool) -> Result<String, ApiError> {
    match data.get(name) {
        Some(Value::String(s)) if s.len() <= 256 && (!required || !s.is_empty()) => Ok(s.clone()),
        Some(Value::String(s)) if s.is_empty() => Err(ApiError::invalid_argument(
            &format!("data.{name}"),
            "must not be empty",
        )),
        Some(Value::String(_)) => Err(ApiError::invalid_argument(
            &format!("data.{name}"),
            "must be at most 256 characters",
        )),
        None | Some(Value::Null) if !required => Ok(String::new()),
        None | Some(Value::Null) => Err(ApiError::invalid_argument(
            &format!("data.{name}"),
            "is required",
        )),
        Some(_) => Err(ApiError::invalid_argument(
            &format!("data.{name}"),
            "must be a string",
        )),
    }
}

fn uuid_field<T: From<Uuid>>(data: &Map<String, Value>, name: &str) -> Result<T, ApiError> {
    let raw = text_field(data, name, true)?;
    Uuid::parse_str(&raw)
        .map(T::from)
        .map_err(|_| ApiError::invalid_argument(&format!("data.{name}"), "must be a UUID"))
}

fn platform_variables(data: &Map<String, Value>) -> Result<Variables, ApiError> {
    let mut vars = Variables::new();
    match data.get("variables") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (k, v) in m {
                let text = match v {
                    Value::String(s) => s.clone(),
                    Value::Number(_) | Value::Bool(_) => v.to_string(),
                    _ => {
                        return Err(ApiError::invalid_argument(
                            &format!("data.variables.{k}"),
                            "must be a string, number or boolean",
                        ))
                    }
                };
                vars.insert(k.clone(), text);
            }
        }
        Some(_) => {
            return Err(ApiError::invalid_argument(
                "data.variables",
                "must be an object",
            ))
        }
    }
    Ok(vars)
}

/// Turns the envelope into a typed event; every problem names its field.
/// Parses a platform event body (after its signature has been checked).
pub fn parse_event_body(body: &[u8]) -> Result<PlatformEvent, ApiError> {
    let envelope: Envelope = parse_json(body)?;
    parse_event(envelope)
}

fn parse_event(env: Envelope) -> Result<PlatformEvent, ApiError> {
    if env.id.is_empty() || env.id.len() > 128 {
        return Err(ApiError::invalid_argument(
            "id",
            "must be 1 to 128 characters",
        ));
    }
    let d = &env.data;
    let kind = match env.kind.as_str() {
        "call_joining" => EventKind::CallJoining {
            call_id: text_field(d, "call_id", true)?,
            conference_id: uuid_field(d, "conference_id")?,
            from: text_field(d, "from", false)?,
            to: text_field(d, "to", false)?,
            variables: platform_variables(d)?,
            dialect: Dialect::Native,
        },
        "call_joined" => EventKind::CallJoined {
            call_id: text_field(d, "call_id", true)?,
            conference_id: uuid_field(d, "conference_id")?,
            platform_conference: String::new(),
        },
        "call_left" => EventKind::CallLeft {
            call_id: text_field(d, "call_id", true)?,
            conference_id: uuid_field(d, "conference_id")?,
            reason: text_field(d, "reason", false)?,
        },
        "recording_finished" => EventKind::RecordingFinished {
            recording_id: uuid_field(d, "recording_id")?,
            media_url: text_field(d, "media_url", true)?,
            duration_ms: match d.get("duration_ms") {
                None | Some(Value::Null) => None,
                Some(v) => Some(v.as_i64().filter(|n| *n >= 0).ok_or_else(|| {
                    ApiError::invalid_argument("data.duration_ms", "must be a non-negative integer")
                })?),
            },
        },
        other => {
            return Err(ApiError::invalid_argument(
                "type",
                format!("unknown event type {other:?}; expected call_joining, call_joined, call_left or recording_finished"),
            ))
        }
    };
    Ok(PlatformEvent {
        id: env.id,
        kind,
        scope: None,
    })
}

fn wants_xml(req: &HttpRequest) -> bool {
    req.headers()
        .get(actix_web::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/xml") || v.contains("text/xml"))
}

fn error_xml(e: &ApiError) -> HttpResponse {
    let doc = xml::document(&xml::Node::Element(
        "response",
        vec![xml::Node::Element(
            "error",
            vec![
                xml::Node::Text("status", e.status.as_u16().to_string()),
                xml::Node::Text("reason", e.reason.to_string()),
                xml::Node::Text("message", e.message.clone()),
                xml::Node::Text("request_id", e.request_id.clone()),
            ],
        )],
    ));
    let mut res = HttpResponse::build(e.status);
    if let Some(seconds) = e.retry_after {
        res.insert_header((actix_web::http::header::RETRY_AFTER, seconds.to_string()));
    }
    res.content_type("application/xml; charset=utf-8").body(doc)
}

pub async fn receive(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> HttpResponse {
    let xml_wanted = wants_xml(&req);
    let result = handle(&req, &state, payload).await;
    match result {
        Ok(answer) if xml_wanted => HttpResponse::Ok()
            .content_type("application/xml; charset=utf-8")
            .body(answer.to_xml()),
        Ok(answer) => HttpResponse::Ok()
            .content_type("application/json")
            .body(answer.to_json()),
        Err(e) if xml_wanted => error_xml(&e),
        Err(e) => actix_web::ResponseError::error_response(&e),
    }
}

async fn handle(
    req: &HttpRequest,
    state: &AppState,
    payload: web::Payload,
) -> Result<EventAnswer, ApiError> {
    let body = read_body(req, payload).await?;
    if let Some(key) = &state.platform_key {
        verify(req, key, &body)?;
    }
    let event = parse_event_body(&body)?;
    let id = event.id.clone();
    state.engine.handle_event(event).await.map_err(|e| match e {
        // The event id is the request id of a refusal, so a replay's answer is byte for byte
        // the first one.
        EngineError::Refused(r) => ApiError::from(r).with_request_id(&id),
        other => ApiError::from(other),
    })
}
