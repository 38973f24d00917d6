//! JSON API routes that act on live calls and rooms (§15): mute, hold, and media said to one
//! call or the whole room. Only joined calls (409 `STATE_INVALID` otherwise); the state a call
//! already has is a 200 that sends nothing.

use super::auth::Tenant;
use super::error::{ApiError, ErrorBody};
use super::input::{optional_json_body, path_id};
use super::AppState;
use crate::actions::schema::MediaAction;
use crate::domain::conference::{ConferenceJson, ConferencecallJson};
use crate::engine::CallControl;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

/// How to hold a call; the body may be empty (the platform's own hold music).
#[derive(Deserialize, Default, ToSchema)]
#[schema(as = CallHold)]
struct HoldBody {
    /// What the call hears on hold: an http(s) URL, or `""` for the platform's own music.
    #[schema(
        max_length = 2048,
        pattern = r"^(|https?://[^/\s\u0000-\u001f\u007f-\u009f][^\s\u0000-\u001f\u007f-\u009f]*)$"
    )]
    music_url: Option<String>,
}

/// What to say or play: media actions only (`talk`, `play`, `beep`, `sleep`), checked as a
/// conference's lists are (§4) and said in the order written (there is nothing to jump
/// between, so `next_id` does not reorder them).
#[derive(Deserialize, ToSchema)]
#[schema(as = MediaActions)]
struct ActionsBody {
    #[serde(default)]
    #[schema(value_type = Vec<MediaAction>, min_items = 1, max_items = 100, required = true, nullable = false)]
    actions: Option<Vec<Value>>,
}

async fn control(
    state: &AppState,
    tenant: Tenant,
    id: &str,
    control: CallControl,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(id)?;
    let call = state.engine.control_call(tenant.0, id, control).await?;
    Ok(HttpResponse::Ok().json(call.json()))
}

#[utoipa::path(post, path = "/v1.0/conferencecalls/{id}/mute", operation_id = "mute_conferencecall", tag = "conferencecalls",
    params(("id" = Uuid, Path, description = "The conferencecall id")),
    responses(
        (status = 200, description = "The conferencecall, `muted`; the platform is told unless it was muted already", body = ConferencecallJson),
        (status = 409, description = "`STATE_INVALID`: the call is not joined", body = ErrorBody)))]
pub async fn mute(
    tenant: Tenant,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    control(&state, tenant, &id, CallControl::Mute(true)).await
}

#[utoipa::path(delete, path = "/v1.0/conferencecalls/{id}/mute", operation_id = "unmute_conferencecall", tag = "conferencecalls",
    params(("id" = Uuid, Path, description = "The conferencecall id")),
    responses(
        (status = 200, description = "The conferencecall, not `muted`; the platform is told unless it was not muted", body = ConferencecallJson),
        (status = 409, description = "`STATE_INVALID`: the call is not joined", body = ErrorBody)))]
pub async fn unmute(
    tenant: Tenant,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    control(&state, tenant, &id, CallControl::Mute(false)).await
}

#[utoipa::path(post, path = "/v1.0/conferencecalls/{id}/hold", operation_id = "hold_conferencecall", tag = "conferencecalls",
    params(("id" = Uuid, Path, description = "The conferencecall id")),
    request_body(content = Option<HoldBody>, description = "Optional; without `music_url` the platform plays its own hold music"),
    responses(
        (status = 200, description = "The conferencecall, on `hold`; the platform is told unless it was on hold already", body = ConferencecallJson),
        (status = 409, description = "`STATE_INVALID`: the call is not joined", body = ErrorBody)))]
pub async fn hold(
    req: HttpRequest,
    tenant: Tenant,
    state: web::Data<AppState>,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body: HoldBody = optional_json_body(&req, payload).await?;
    let music = body.music_url.unwrap_or_default();
    control(&state, tenant, &id, CallControl::Hold(true, music)).await
}

#[utoipa::path(delete, path = "/v1.0/conferencecalls/{id}/hold", operation_id = "unhold_conferencecall", tag = "conferencecalls",
    params(("id" = Uuid, Path, description = "The conferencecall id")),
    responses(
        (status = 200, description = "The conferencecall, off `hold`; the platform is told unless it was not on hold", body = ConferencecallJson),
        (status = 409, description = "`STATE_INVALID`: the call is not joined", body = ErrorBody)))]
pub async fn unhold(
    tenant: Tenant,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    control(&state, tenant, &id, CallControl::Hold(false, String::new())).await
}

/// The media list of a body, required.
fn media(body: ActionsBody) -> Result<Value, ApiError> {
    body.actions
        .map(Value::Array)
        .ok_or_else(|| ApiError::invalid_argument("actions", "is required"))
}

#[utoipa::path(post, path = "/v1.0/conferencecalls/{id}/actions", operation_id = "say_to_conferencecall", tag = "conferencecalls",
    params(("id" = Uuid, Path, description = "The conferencecall id")),
    request_body = ActionsBody,
    responses(
        (status = 200, description = "The conferencecall; the actions are carried to the platform for this call only", body = ConferencecallJson),
        (status = 409, description = "`STATE_INVALID`: the call is not joined", body = ErrorBody)))]
pub async fn say_to_call(
    req: HttpRequest,
    tenant: Tenant,
    state: web::Data<AppState>,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body: ActionsBody = super::input::json_body(&req, payload).await?;
    control(&state, tenant, &id, CallControl::Say(media(body)?)).await
}

#[utoipa::path(post, path = "/v1.0/conferences/{id}/actions", operation_id = "say_to_conference", tag = "conferences",
    params(("id" = Uuid, Path, description = "The conference id")),
    request_body = ActionsBody,
    responses(
        (status = 200, description = "The conference; the actions are carried to every joined call's platform", body = ConferenceJson),
        (status = 409, description = "`STATE_INVALID`: the conference is not `progressing`", body = ErrorBody)))]
pub async fn say_to_conference(
    req: HttpRequest,
    tenant: Tenant,
    state: web::Data<AppState>,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id)?;
    let body: ActionsBody = super::input::json_body(&req, payload).await?;
    let view = state
        .engine
        .say_to_conference(tenant.0, id, media(body)?)
        .await?;
    Ok(HttpResponse::Ok().json(view.json()))
}

/// Whom to call into the conference (§15). The call is `dialing` until the callee answers;
/// then it runs the conference's `pre_actions` like any joining call.
#[derive(Deserialize, ToSchema)]
#[schema(as = DialOut)]
struct DialBody {
    /// Whom to call: an E.164 number or a `sip:` URI.
    #[schema(
        max_length = 256,
        pattern = r"^(\+[1-9][0-9]{1,14}|sip:[^\s\u0000-\u001f\u007f-\u009f]+)$",
        required = true,
        nullable = false
    )]
    destination: Option<String>,
    /// The caller id they see: an E.164 number or a `sip:` URI.
    #[schema(
        max_length = 256,
        pattern = r"^(\+[1-9][0-9]{1,14}|sip:[^\s\u0000-\u001f\u007f-\u009f]+)$",
        required = true,
        nullable = false
    )]
    from: Option<String>,
    /// The platform that places the call (`native` unless said); `twilio` and `jambonz` need
    /// the customer's connection.
    #[schema(value_type = Option<String>, pattern = "^(native|twilio|jambonz)$")]
    dialect: Option<String>,
    /// Seconds it may ring, 5 to 120 (30 unless said).
    #[schema(minimum = 5, maximum = 120)]
    timeout: Option<i64>,
}

#[utoipa::path(post, path = "/v1.0/conferences/{id}/conferencecalls", operation_id = "dial_out", tag = "conferences",
    params(("id" = Uuid, Path, description = "The conference id")),
    request_body = DialBody,
    responses(
        (status = 200, description = "The new conferencecall, `dialing`; the dial is carried to the platform `dialect` names", body = ConferencecallJson),
        (status = 400, description = "`INVALID_ARGUMENT` naming `destination`, `from`, `dialect` or `timeout`", body = ErrorBody),
        (status = 404, description = "`CONFERENCE_NOT_FOUND`", body = ErrorBody),
        (status = 409, description = "`STATE_INVALID`: the conference is not `progressing`; `CONFERENCE_FULL`, `CONFERENCE_LOCKED`: the room admits no one more (calls being dialled count)", body = ErrorBody),
        (status = 429, description = "`DIAL_LIMIT`: the customer has `--dial-limit` calls being dialled already", body = ErrorBody)))]
pub async fn dial(
    req: HttpRequest,
    tenant: Tenant,
    state: web::Data<AppState>,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id)?;
    let body: DialBody = super::input::json_body(&req, payload).await?;
    let request = crate::engine::DialRequest {
        destination: body.destination,
        from: body.from,
        dialect: body.dialect,
        timeout: body.timeout,
    };
    let call = state.engine.dial(tenant.0, id, request).await?;
    Ok(HttpResponse::Ok().json(call.json()))
}
