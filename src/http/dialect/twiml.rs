//! TwiML webhooks (Twilio; SignalWire and Telnyx TeXML by configuration), form-encoded and
//! signed with the account's auth token: `…/voice` is a call joining, `…/status` the
//! conference's participant events, `…/after` the `<Dial action>` once the call has left,
//! `…/recording` a recording's status callback.

use super::{
    answer, apply, bounded, callback, conferencecall_id, forbidden, required, CallEvents, Route,
};
use crate::dialects::twilio::twiml;
use crate::domain::dialect::{Dialect, TwilioConnection};
use crate::engine::{EventKind, PlatformEvent};
use crate::http::error::ApiError;
use crate::http::input::read_body;
use crate::http::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use uuid::Uuid;

/// A verified TwiML request: its route, its account and its POST parameters.
struct Request {
    route: Route,
    params: Vec<(String, String)>,
}

impl Request {
    fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn call_sid(&self) -> Result<&str, ApiError> {
        required(self.get("CallSid"), "CallSid")
    }

    /// The call this request is about, and the events it makes.
    async fn call(&self, state: &AppState) -> Result<CallEvents, ApiError> {
        CallEvents::of(state, Dialect::Twilio, self.route, self.call_sid()?).await
    }
}

/// Reads the form body and checks `X-Twilio-Signature` (or the connection's header) over the
/// public URL and every parameter (none is left out: Twilio adds new ones).
async fn verified(
    req: &HttpRequest,
    state: &AppState,
    path: (String, String),
    payload: web::Payload,
) -> Result<Request, ApiError> {
    let route = Route::parse(&path.0, &path.1)?;
    let body = read_body(req, payload).await?;
    let Some(twilio) = super::connections(state, route.customer).await?.twilio else {
        return Err(forbidden("the customer has no twilio connection"));
    };
    let params: Vec<(String, String)> = url::form_urlencoded::parse(&body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    check(req, state, &twilio, &params)?;
    Ok(Request { route, params })
}

fn check(
    req: &HttpRequest,
    state: &AppState,
    twilio: &TwilioConnection,
    params: &[(String, String)],
) -> Result<(), ApiError> {
    let Some(signature) = req
        .headers()
        .get(twilio.signature_header.as_str())
        .and_then(|v| v.to_str().ok())
    else {
        return Err(forbidden("no twilio signature header"));
    };
    let url = super::called_url(state, req);
    if super::signature::twilio_valid(twilio.webhook_key(), &url, params, signature) {
        Ok(())
    } else {
        Err(forbidden("twilio signature does not verify"))
    }
}

fn xml(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/xml; charset=utf-8")
        .body(body)
}

fn hang_up() -> HttpResponse {
    xml(twiml::hangup())
}

/// Renders an answer's actions, with the `<Dial>` for a call that joins.
fn render(state: &AppState, route: Route, answer: &crate::render::EventAnswer) -> HttpResponse {
    let (after, status) = (
        callback(state, "twiml", route, "after"),
        callback(state, "twiml", route, "status"),
    );
    let (beep, label, conference) = (
        super::beep_url(state),
        conferencecall_id(answer),
        route.conference.to_string(),
    );
    let ctx = twiml::Context {
        conference: &conference,
        after_url: &after,
        status_url: &status,
        beep_url: &beep,
        label: &label,
    };
    xml(twiml::response(
        answer.actions.as_deref().unwrap_or(&[]),
        &ctx,
    ))
}

/// `POST …/voice`: the call joins; the answer is the `pre_actions` and the `<Dial>`.
pub async fn voice(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let r = verified(&req, &state, path.into_inner(), payload).await?;
    let vars = super::platform_variables(r.params.iter().map(|(k, v)| (k.as_str(), v.clone())));
    let (from, to) = (bounded(r.get("From"), "From")?, bounded(r.get("To"), "To")?);
    let event = r.call(&state).await?.joining(from, to, vars);
    let route = r.route;
    answer(&state, event, |a| render(&state, route, a), hang_up).await
}

/// `POST …/status`: `participant-join` is `call_joined` (the `ConferenceSid` is kept for
/// kicks), `participant-leave` is `call_left`; other conference events are acknowledged and
/// ignored. Each is idempotent: a repeat of the same participant event changes nothing.
pub async fn status(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let r = verified(&req, &state, path.into_inner(), payload).await?;
    let event = match r.get("StatusCallbackEvent").unwrap_or("") {
        "participant-join" => {
            let conference = required(r.get("ConferenceSid"), "ConferenceSid")?.to_string();
            r.call(&state).await?.joined(conference)
        }
        "participant-leave" => left(&state, &r).await?,
        // A call status callback (the number's "call status changes" URL pointed here): a
        // call that ended before it reached the conference (the caller hung up during the
        // `pre_actions`) leaves; for a call that did, it is the same `call_left` again.
        "" if super::ended(r.get("CallStatus")) => left(&state, &r).await?,
        other => {
            tracing::debug!(event = other, "twiml status event ignored");
            return Ok(xml(twiml::empty()));
        }
    };
    apply(&state, event).await?;
    Ok(xml(twiml::empty()))
}

/// The call's `call_left`, shared by the leave status event and `…/after` (whichever comes
/// first applies it; the other replays its answer).
async fn left(state: &AppState, r: &Request) -> Result<PlatformEvent, ApiError> {
    let reason = r.get("DialCallStatus").unwrap_or("").to_string();
    Ok(r.call(state).await?.left(reason))
}

/// `POST …/after`: the `<Dial action>`, requested when the call has left the conference
/// (kicked, the conference ended, or the caller hung up): the answer is the `post_actions`.
pub async fn after(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let r = verified(&req, &state, path.into_inner(), payload).await?;
    let route = r.route;
    answer(
        &state,
        left(&state, &r).await?,
        |a| render(&state, route, a),
        hang_up,
    )
    .await
}

/// `POST …/recording?recording_id=…`: a recording's status callback. `completed`, `absent`
/// and `failed` end confab's recording (with the platform's `RecordingUrl` as `media_url`);
/// `in-progress` is acknowledged.
pub async fn recording(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let recording_id =
        web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string())
            .ok()
            .and_then(|q| {
                q.get("recording_id")
                    .and_then(|id| Uuid::parse_str(id).ok())
            })
            .ok_or_else(|| ApiError::invalid_argument("recording_id", "must be a UUID"))?;
    let r = verified(&req, &state, path.into_inner(), payload).await?;
    let status = r.get("RecordingStatus").unwrap_or("");
    if !matches!(status, "completed" | "absent" | "failed") {
        return Ok(xml(twiml::empty()));
    }
    let duration_ms = r
        .get("RecordingDuration")
        .and_then(|d| d.parse::<i64>().ok())
        .map(|s| s.max(0).saturating_mul(1000));
    let kind = EventKind::RecordingFinished {
        recording_id: crate::domain::RecordingId(recording_id),
        media_url: r.get("RecordingUrl").unwrap_or("").to_string(),
        duration_ms,
    };
    let id = format!(
        "twilio:{}:recording:{recording_id}:{status}",
        r.route.customer
    );
    let event = PlatformEvent {
        id,
        kind,
        scope: Some(r.route.customer),
    };
    apply(&state, event).await?;
    Ok(xml(twiml::empty()))
}
