//! `POST /v1.0/platform/events`: signature check, parsing into a `PlatformEvent`, and the
//! answer as JSON or (with `Accept: application/xml`) XML.

use super::error::ApiError;
use super::error::ErrorBody;
use super::input::{integral, parse_object, parse_value, read_body};
use super::AppState;
use crate::dialects::inbound::NO_NUL;
use crate::dialects::{self, Inbound, Keys, Refused};
use crate::domain::dialect::{Connections, Dialect};
use crate::engine::{EngineError, EventKind, PlatformEvent};
use crate::render::xml;
use crate::render::EventAnswer;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::openapi::{RefOr, Schema};
use utoipa::ToSchema;
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

/// The native platform's check of the Standard Webhooks headers (`crate::dialects::native`);
/// without a platform secret, unsigned events are accepted.
fn verify(req: &HttpRequest, key: Option<&[u8]>, body: &[u8]) -> Result<(), ApiError> {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let request = Inbound {
        // The native signature covers the body, not the URL.
        url: req.uri().path(),
        header: &header,
        body,
        now: chrono::Utc::now().timestamp(),
    };
    let keys = Keys {
        connections: &Connections::default(),
        platform_key: key,
    };
    dialects::platform(Dialect::Native)
        .verify(&request, &keys)
        .map_err(|Refused(why)| unauthorized(why))
}

/// Longest call id, reason or media URL a platform may send.
const MAX_TEXT: usize = 256;

/// `call_joining`: a call wants to join; the answer carries the `pre_actions`.
#[derive(Deserialize, ToSchema)]
struct CallJoiningData {
    /// The platform's call id.
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 256,
        required = true,
        pattern = "^[^\\u0000]*$"
    )]
    call_id: String,
    #[serde(default)]
    #[schema(format = Uuid, required = true)]
    conference_id: String,
    #[schema(max_length = 256, pattern = "^[^\\u0000]*$")]
    from: Option<String>,
    #[schema(max_length = 256, pattern = "^[^\\u0000]*$")]
    to: Option<String>,
    /// Flow variables for the run (`${name}`); numbers and booleans are taken as text.
    #[schema(value_type = Option<std::collections::HashMap<String, VariableValue>>)]
    variables: Option<Map<String, Value>>,
    /// The callee of a dial-out (`call_dial`) names the conferencecall it answers: it takes
    /// that `dialing` conferencecall instead of a new one, and is not admitted again.
    #[schema(
        format = Uuid,
        pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    )]
    conferencecall_id: Option<String>,
}

/// A variable's value: text, a number or a boolean.
struct VariableValue;

impl utoipa::PartialSchema for VariableValue {
    fn schema() -> RefOr<Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
        let one = |t| ObjectBuilder::new().schema_type(t);
        Schema::OneOf(
            OneOfBuilder::new()
                .item(one(Type::String))
                .item(one(Type::Number))
                .item(one(Type::Boolean))
                .build(),
        )
        .into()
    }
}

impl ToSchema for VariableValue {}

/// A platform event: `{id, type, data}`, the fields `data` must have depending on `type`.
pub struct PlatformEventDoc;

use utoipa::PartialSchema as _;

impl utoipa::PartialSchema for PlatformEventDoc {
    fn schema() -> RefOr<Schema> {
        crate::actions::schema::tagged_union(
            event_types()
                .into_iter()
                .map(|(name, _)| (name, event_component(name)))
                .collect(),
        )
    }
}

impl ToSchema for PlatformEventDoc {
    fn name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("PlatformEvent")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        // What the data types refer to (`VariableValue`).
        schemas.push((VariableValue::name().into_owned(), VariableValue::schema()));
        for (name, data) in event_types() {
            let event = ObjectBuilder::new()
                .schema_type(Type::Object)
                .property(
                    "id",
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .min_length(Some(1))
                        .max_length(Some(128))
                        .pattern(Some(NO_NUL_PATTERN))
                        .description(Some("Unique per event: the idempotency key")),
                )
                .required("id")
                .property(
                    "type",
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .enum_values(Some([name])),
                )
                .required("type")
                .property("data", data)
                .required("data");
            schemas.push((event_component(name), Schema::Object(event.build()).into()));
        }
    }
}

/// The component name of one event type: `call_joining` → `CallJoiningEvent`.
fn event_component(type_name: &str) -> String {
    let mut name: String = type_name
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect();
    name.push_str("Event");
    name
}

/// `call_joined`: the call is in the conference.
#[derive(Deserialize, ToSchema)]
struct CallJoinedData {
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 256,
        required = true,
        pattern = "^[^\\u0000]*$"
    )]
    call_id: String,
    #[serde(default)]
    #[schema(format = Uuid, required = true)]
    conference_id: String,
}

/// `call_left`: the call is gone; the answer carries the `post_actions`.
#[derive(Deserialize, ToSchema)]
struct CallLeftData {
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 256,
        required = true,
        pattern = "^[^\\u0000]*$"
    )]
    call_id: String,
    #[serde(default)]
    #[schema(format = Uuid, required = true)]
    conference_id: String,
    /// Free text: why it left. A dial that was not answered says why (`no-answer`, `busy`,
    /// `failed`).
    #[schema(max_length = 256, pattern = "^[^\\u0000]*$")]
    reason: Option<String>,
    /// The dialled conferencecall it is about: a dial-out that was never answered is known
    /// to confab only by it.
    #[schema(
        format = Uuid,
        pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    )]
    conferencecall_id: Option<String>,
}

/// `call_digits_received`: what the caller entered for a paused list (§13); the answer
/// continues the list.
#[derive(Deserialize, ToSchema)]
struct CallDigitsReceivedData {
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 256,
        required = true,
        pattern = "^[^\\u0000]*$"
    )]
    call_id: String,
    #[serde(default)]
    #[schema(format = Uuid, required = true)]
    conference_id: String,
    /// The keys pressed; `""` when nothing was entered before the timeout.
    #[schema(
        max_length = 128,
        pattern = "^[0-9*#A-Da-d]*$",
        required = true,
        nullable = false
    )]
    digits: Option<String>,
    /// The pause these digits answer, as the paused answer's `pause` said; another pause's
    /// digits are stale. Absent: the call's current pause.
    #[schema(minimum = 1, maximum = 4294967295_i64)]
    #[serde(default, deserialize_with = "integral")]
    pause: Option<i64>,
}

/// `recording_finished`: the platform has the media of a recording.
#[derive(Deserialize, ToSchema)]
struct RecordingFinishedData {
    #[serde(default)]
    #[schema(format = Uuid, required = true)]
    recording_id: String,
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 256,
        required = true,
        pattern = "^[^\\u0000]*$"
    )]
    media_url: String,
    #[schema(minimum = 0)]
    #[serde(default, deserialize_with = "integral")]
    duration_ms: Option<i64>,
}

/// The event types with their `data` schemas, for the document.
pub fn event_types() -> Vec<(
    &'static str,
    utoipa::openapi::RefOr<utoipa::openapi::Schema>,
)> {
    use utoipa::PartialSchema;
    vec![
        ("call_joining", CallJoiningData::schema()),
        ("call_joined", CallJoinedData::schema()),
        ("call_left", CallLeftData::schema()),
        ("call_digits_received", CallDigitsReceivedData::schema()),
        ("recording_finished", RecordingFinishedData::schema()),
    ]
}

/// The document's word for `NO_NUL` (the same pattern is written on each text field).
const NO_NUL_PATTERN: &str = "^[^\\u0000]*$";

/// A text field: required ones must not be empty; none may pass `MAX_TEXT`.
fn text(name: &str, value: String, required: bool) -> Result<String, ApiError> {
    let field = format!("data.{name}");
    if required && value.is_empty() {
        return Err(ApiError::invalid_argument(&field, "is required"));
    }
    if value.chars().count() > MAX_TEXT {
        return Err(ApiError::invalid_argument(
            &field,
            format!("must be at most {MAX_TEXT} characters"),
        ));
    }
    if value.contains('\0') {
        return Err(ApiError::invalid_argument(&field, NO_NUL));
    }
    Ok(value)
}

fn uuid<T: From<Uuid>>(name: &str, value: String) -> Result<T, ApiError> {
    let raw = text(name, value, true)?;
    Uuid::parse_str(&raw)
        .map(T::from)
        .map_err(|_| ApiError::invalid_argument(&format!("data.{name}"), "must be a UUID"))
}

/// Parses a platform event body (after its signature has been checked); every problem names
/// its field.
pub fn parse_event_body(body: &[u8]) -> Result<PlatformEvent, ApiError> {
    let envelope: Envelope = parse_object(body)?;
    parse_event(envelope)
}

fn parse_event(env: Envelope) -> Result<PlatformEvent, ApiError> {
    if env.id.is_empty() || env.id.chars().count() > 128 {
        return Err(ApiError::invalid_argument(
            "id",
            "must be 1 to 128 characters",
        ));
    }
    if env.id.contains('\0') {
        return Err(ApiError::invalid_argument("id", NO_NUL));
    }
    let data = Value::Object(env.data);
    let kind = match env.kind.as_str() {
        "call_joining" => {
            let d: CallJoiningData = parse_value("data", data)?;
            EventKind::CallJoining {
                call_id: text("call_id", d.call_id, true)?,
                conference_id: uuid("conference_id", d.conference_id)?,
                from: text("from", d.from.unwrap_or_default(), false)?,
                to: text("to", d.to.unwrap_or_default(), false)?,
                variables: super::input::variables("data.variables", d.variables.unwrap_or_default())?,
                dialect: Dialect::Native,
                dialled: d.conferencecall_id.map(|id| uuid("conferencecall_id", id)).transpose()?,
            }
        }
        "call_joined" => {
            let d: CallJoinedData = parse_value("data", data)?;
            EventKind::CallJoined {
                call_id: text("call_id", d.call_id, true)?,
                conference_id: uuid("conference_id", d.conference_id)?,
                platform_conference: String::new(),
                sequence: None,
            }
        }
        "call_left" => {
            let d: CallLeftData = parse_value("data", data)?;
            EventKind::CallLeft {
                call_id: text("call_id", d.call_id, true)?,
                conference_id: uuid("conference_id", d.conference_id)?,
                reason: text("reason", d.reason.unwrap_or_default(), false)?,
                dialled: d.conferencecall_id.map(|id| uuid("conferencecall_id", id)).transpose()?,
            }
        }
        "call_digits_received" => {
            let d: CallDigitsReceivedData = parse_value("data", data)?;
            let digits = d
                .digits
                .ok_or_else(|| ApiError::invalid_argument("data.digits", "is required"))?;
            if !crate::dialects::inbound::is_digits(&digits) {
                return Err(ApiError::invalid_argument(
                    "data.digits",
                    "must be keypad digits (0-9, *, #, A-D), at most 128",
                ));
            }
            let pause = match d.pause {
                None => None,
                Some(n) => Some(u32::try_from(n).ok().filter(|n| *n >= 1).ok_or_else(|| {
                    ApiError::invalid_argument("data.pause", "must be a pause number (1 or more)")
                })?),
            };
            EventKind::CallDigitsReceived {
                call_id: text("call_id", d.call_id, true)?,
                conference_id: uuid("conference_id", d.conference_id)?,
                digits,
                pause,
            }
        }
        "recording_finished" => {
            let d: RecordingFinishedData = parse_value("data", data)?;
            if d.duration_ms.is_some_and(|n| n < 0) {
                return Err(ApiError::invalid_argument(
                    "data.duration_ms",
                    "must be a non-negative integer",
                ));
            }
            EventKind::RecordingFinished {
                recording_id: uuid("recording_id", d.recording_id)?,
                media_url: text("media_url", d.media_url, true)?,
                duration_ms: d.duration_ms,
            }
        }
        other => {
            return Err(ApiError::invalid_argument(
                "type",
                format!("unknown event type {other:?}; expected call_joining, call_joined, call_left, call_digits_received or recording_finished"),
            ))
        }
    };
    Ok(PlatformEvent {
        id: env.id,
        kind,
        scope: None,
    })
}

/// XML when the client prefers it to JSON (`Accept: application/xml` or `text/xml`).
fn wants_xml(req: &HttpRequest) -> bool {
    super::input::prefers_over_json(req, &["application/xml", "text/xml"])
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

#[utoipa::path(post, path = "/v1.0/platform/events", operation_id = "post_platform_event", tag = "platform",
    request_body(content = PlatformEventDoc, description = "One call event; `id` is its idempotency key: a repeat answers the first answer again and changes nothing"),
    security(("platformSignature" = [], "platformSignatureId" = [], "platformSignatureTimestamp" = [])),
    responses(
        (status = 200, description = "What the call must do; as XML (root `<response>`, one element per action) with `Accept: application/xml`",
            content((EventAnswer = "application/json"), (EventAnswer = "application/xml"))),
        (status = 409, description = "`CONFERENCE_CLOSED`, `CONFERENCE_FULL` or `CALL_BUSY`: the call may not join", body = ErrorBody)))]
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
    verify(req, state.platform_key.as_deref(), &body)?;
    let event = parse_event_body(&body)?;
    let id = event.id.clone();
    state.engine.handle_event(event).await.map_err(|e| match e {
        // The event id is the request id of a refusal, so a replay's answer is byte for byte
        // the first one.
        EngineError::Refused(r) => ApiError::from(r).with_request_id(&id),
        other => ApiError::from(other),
    })
}
