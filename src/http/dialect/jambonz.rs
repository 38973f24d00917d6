//! jambonz webhooks, JSON and signed with the account's webhook secret
//! (`Jambonz-Signature`): `…/call` is a call joining, `…/status` the conference verb's join
//! and leave events, `…/after` its `actionHook` once the call has left. Answers are
//! `application/json` arrays of verbs (jambonz ignores any other content type).

use super::{answer, apply, bounded, callback, forbidden, required, CallEvents, Route};
use crate::dialects::jambonz::verbs as jambonz;
use crate::domain::dialect::Dialect;
use crate::engine::PlatformEvent;
use crate::http::error::ApiError;
use crate::http::input::{parse_json, read_body};
use crate::http::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{Map, Value};

/// A verified jambonz request: its route and its JSON body.
struct Request {
    route: Route,
    body: Map<String, Value>,
    /// The speech vendor the customer's `say` verbs name.
    tts_vendor: String,
}

impl Request {
    fn get(&self, name: &str) -> Option<&str> {
        self.body.get(name).and_then(Value::as_str)
    }

    fn call_sid(&self) -> Result<&str, ApiError> {
        required(self.get("call_sid"), "call_sid")
    }

    /// The call this request is about, and the events it makes.
    async fn call(&self, state: &AppState) -> Result<CallEvents, ApiError> {
        CallEvents::of(state, Dialect::Jambonz, self.route, self.call_sid()?).await
    }
}

/// Reads the body and checks `Jambonz-Signature` over its raw bytes with the customer's
/// webhook secret (300 s tolerance), then parses it as a JSON object.
async fn verified(
    req: &HttpRequest,
    state: &AppState,
    path: (String, String),
    payload: web::Payload,
) -> Result<Request, ApiError> {
    let route = Route::parse(&path.0, &path.1)?;
    let raw = read_body(req, payload).await?;
    let Some(jambonz) = super::connections(state, route.customer).await?.jambonz else {
        return Err(forbidden("the customer has no jambonz connection"));
    };
    let Some(header) = req
        .headers()
        .get("jambonz-signature")
        .and_then(|v| v.to_str().ok())
    else {
        return Err(forbidden("no Jambonz-Signature header"));
    };
    let now = chrono::Utc::now().timestamp();
    super::signature::jambonz_verify(&jambonz.webhook_secret, header, &raw, now)
        .map_err(|e| forbidden(&e.to_string()))?;
    let body: Map<String, Value> = parse_json(&raw)?;
    Ok(Request {
        route,
        body,
        tts_vendor: jambonz.tts_vendor,
    })
}

fn verbs(value: Value) -> HttpResponse {
    HttpResponse::Ok().json(value)
}

fn hang_up() -> HttpResponse {
    verbs(jambonz::hangup())
}

fn render(state: &AppState, r: &Request, answer: &crate::render::EventAnswer) -> HttpResponse {
    let route = r.route;
    let (after, status) = (
        callback(state, "jambonz", route, "after"),
        callback(state, "jambonz", route, "status"),
    );
    let (beep, conference) = (super::beep_url(state), route.conference.to_string());
    let ctx = jambonz::Context {
        conference: &conference,
        after_url: &after,
        status_url: &status,
        beep_url: &beep,
        tts_vendor: &r.tts_vendor,
    };
    verbs(jambonz::verbs(
        answer.actions.as_deref().unwrap_or(&[]),
        &ctx,
    ))
}

/// `POST …/call`: the call joins; the answer is the `pre_actions` and the `conference` verb.
pub async fn call(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let r = verified(&req, &state, path.into_inner(), payload).await?;
    let vars = super::platform_variables(
        r.body
            .iter()
            .filter_map(|(k, v)| super::scalar(v).map(|t| (k.as_str(), t))),
    );
    let (from, to) = (bounded(r.get("from"), "from")?, bounded(r.get("to"), "to")?);
    let event = r.call(&state).await?.joining(from, to, vars);
    answer(&state, event, |a| render(&state, &r, a), hang_up).await
}

/// `POST …/status`: `join` is `call_joined`, `leave` is `call_left`; other events (`start`,
/// `end`) are acknowledged and ignored. A repeat changes nothing.
pub async fn status(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let r = verified(&req, &state, path.into_inner(), payload).await?;
    let event = match r.get("event").unwrap_or("") {
        "join" => {
            let conference = r.get("conference_sid").unwrap_or("").to_string();
            r.call(&state).await?.joined(conference)
        }
        "leave" => left(&state, &r).await?,
        // The application's call status webhook pointed here: a call that ended before it
        // reached the conference leaves; for one that did, it is the same `call_left` again.
        "" if super::ended(r.get("call_status")) => left(&state, &r).await?,
        other => {
            tracing::debug!(event = other, "jambonz status event ignored");
            return Ok(verbs(Value::Array(Vec::new())));
        }
    };
    apply(&state, event).await?;
    Ok(verbs(Value::Array(Vec::new())))
}

/// The call's `call_left`, shared by the leave event and `…/after`.
async fn left(state: &AppState, r: &Request) -> Result<PlatformEvent, ApiError> {
    Ok(r.call(state).await?.left(String::new()))
}

/// `POST …/after`: the conference verb's `actionHook` (or the redirect of a kick): the call
/// has left the conference; the answer is the `post_actions`.
pub async fn after(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let r = verified(&req, &state, path.into_inner(), payload).await?;
    let event = left(&state, &r).await?;
    answer(&state, event, |a| render(&state, &r, a), hang_up).await
}
