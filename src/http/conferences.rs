//! JSON API routes for conferences, conferencecalls and recordings (§6.1).

use super::auth::Tenant;
use super::connection::SendDeadline;
use super::error::ApiError;
use super::error::ErrorBody;
use super::input::{
    decode_page_token, encode_page_token, integral, json_body, optional_json_body, optional_uuid,
    page_size, path_id,
};
use super::AppState;
use crate::actions::schema::Action;
use crate::actions::RecordingFormat;
use crate::domain::conference::{
    CallStatus, ConferenceStatus, ConferenceType, ConferenceView, Conferencecall, Recording,
};
use crate::domain::conference::{ConferenceJson, ConferencecallJson, RecordingJson};
use crate::domain::query::{CallFilter, ConferenceFilter, Page};
use crate::engine::{ConferenceDraft, ConferencePatch, PageLease, RoomChange};
use actix_web::body::{BodySize, MessageBody};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::pin::Pin;
use std::task::{Context, Poll};
use utoipa::{IntoParams, ToSchema};

/// A new conference. Unknown fields are ignored, so a client may send back a whole
/// conference it read; known fields must have the right type.
#[derive(Deserialize, Default, ToSchema)]
#[schema(as = NewConference)]
struct ConferenceBody {
    #[serde(rename = "type")]
    #[schema(value_type = Option<ConferenceType>, default = "conference")]
    kind: Option<String>,
    #[schema(
        max_length = 255,
        pattern = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*$"
    )]
    name: Option<String>,
    #[schema(
        max_length = 4096,
        pattern = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*$"
    )]
    detail: Option<String>,
    /// Stored and returned as given; at most 64 KiB serialized.
    #[schema(value_type = Option<Object>)]
    data: Option<Map<String, Value>>,
    /// Seconds until the conference ends; 0 = none.
    #[schema(minimum = 0, maximum = 604800)]
    #[serde(default, deserialize_with = "integral")]
    timeout: Option<i64>,
    #[schema(value_type = Option<Vec<Action>>, max_items = 100)]
    pre_actions: Option<Vec<Value>>,
    #[schema(value_type = Option<Vec<Action>>, max_items = 100)]
    post_actions: Option<Vec<Value>>,
    /// Calls joining or joined at most (SPEC §14); 0 = no limit.
    #[schema(minimum = 0, maximum = 1000)]
    #[serde(default, deserialize_with = "integral")]
    max_participants: Option<i64>,
    /// No call may join while set; calls already in stay.
    locked: Option<bool>,
    /// Only a moderator starts the room; the others hear `wait_music_url` until one joins.
    wait_for_moderator: Option<bool>,
    /// When the last joined moderator leaves, the other joined calls are kicked.
    end_on_moderator_exit: Option<bool>,
    /// What waiting callers hear: an http(s) URL, or `""`.
    #[schema(
        max_length = 2048,
        pattern = r"^(|https?://[^/\s\u0000-\u001f\u007f-\u009f][^\s\u0000-\u001f\u007f-\u009f]*)$"
    )]
    wait_music_url: Option<String>,
}

/// A change to a conference: absent fields stay as they are. `type` cannot be changed: a body
/// may carry it (a conference sent back as it was read) only with the conference's own type.
#[derive(Deserialize, ToSchema)]
#[schema(as = ConferenceChange)]
struct ConferenceChange {
    #[serde(rename = "type")]
    #[schema(ignore)]
    kind: Option<Value>,
    #[schema(
        max_length = 255,
        pattern = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*$"
    )]
    name: Option<String>,
    #[schema(
        max_length = 4096,
        pattern = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*$"
    )]
    detail: Option<String>,
    /// Replaces the stored data; at most 64 KiB serialized.
    #[schema(value_type = Option<Object>)]
    data: Option<Map<String, Value>>,
    /// Seconds from this change until the conference ends; 0 = none.
    #[schema(minimum = 0, maximum = 604800)]
    #[serde(default, deserialize_with = "integral")]
    timeout: Option<i64>,
    #[schema(value_type = Option<Vec<Action>>, max_items = 100)]
    pre_actions: Option<Vec<Value>>,
    #[schema(value_type = Option<Vec<Action>>, max_items = 100)]
    post_actions: Option<Vec<Value>>,
    /// Calls joining or joined at most (SPEC §14); 0 = no limit.
    #[schema(minimum = 0, maximum = 1000)]
    #[serde(default, deserialize_with = "integral")]
    max_participants: Option<i64>,
    /// No call may join while set; calls already in stay.
    locked: Option<bool>,
    /// Only a moderator starts the room; the others hear `wait_music_url` until one joins.
    wait_for_moderator: Option<bool>,
    /// When the last joined moderator leaves, the other joined calls are kicked.
    end_on_moderator_exit: Option<bool>,
    /// What waiting callers hear: an http(s) URL, or `""`.
    #[schema(
        max_length = 2048,
        pattern = r"^(|https?://[^/\s\u0000-\u001f\u007f-\u009f][^\s\u0000-\u001f\u007f-\u009f]*)$"
    )]
    wait_music_url: Option<String>,
}

/// A list answer: `{"result": [...], "next_page_token": "..."}`. It is written straight to
/// bytes — no `serde_json::Value` tree, stored JSON copied as it is — into a buffer sized by
/// the store's estimate of the items (`estimate`), and handed to actix in slices that hold
/// the page's lease until the answer is sent (or `--send-timeout` passes).
pub(super) fn page_answer<T: Serialize>(
    req: &HttpRequest,
    result: &[T],
    next_page_token: String,
    estimate: usize,
    lease: PageLease,
) -> Result<HttpResponse, ApiError> {
    #[derive(Serialize)]
    struct PageJson<'a, T> {
        result: &'a [T],
        next_page_token: String,
    }
    let capacity = estimate.saturating_add(64 + next_page_token.len());
    let mut body = Vec::with_capacity(capacity);
    let page = PageJson {
        result,
        next_page_token,
    };
    // Only stored text that is not JSON (a hand-edited database) can fail here.
    serde_json::to_writer(&mut body, &page).map_err(|e| ApiError::internal(&e))?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .body(SlicedBody::new(req, body.into(), lease)))
}

/// Renders one page of a list with the items' JSON shape.
fn list_answer<'a, T, J: Serialize>(
    req: &HttpRequest,
    page: &'a Page<T>,
    lease: PageLease,
    json: impl Fn(&'a T) -> J,
) -> Result<HttpResponse, ApiError> {
    let items: Vec<J> = page.items.iter().map(json).collect();
    page_answer(req, &items, encode_page_token(page.next), page.bytes, lease)
}

/// Bytes handed out in slices of one buffer (no copies). actix copies each chunk of a body
/// into the connection's write buffer before sending it, so a 4 MiB answer given as one chunk
/// would be held twice until sent; in 64 KiB slices the copy stays small. The page's lease
/// goes back when actix drops the body: sent, or the connection closed — by the client, or
/// by the send deadline when the client stops reading.
pub(super) struct SlicedBody {
    rest: web::Bytes,
    _lease: PageLease,
    _deadline: Option<SendDeadline>,
}

impl SlicedBody {
    pub(super) fn new(req: &HttpRequest, body: web::Bytes, lease: PageLease) -> SlicedBody {
        let timeout = req
            .app_data::<web::Data<super::AppState>>()
            .map(|s| s.send_timeout)
            .unwrap_or(std::time::Duration::from_secs(
                crate::config::DEFAULT_SEND_TIMEOUT,
            ));
        SlicedBody {
            rest: body,
            _lease: lease,
            _deadline: SendDeadline::start(req, timeout),
        }
    }
}

const BODY_SLICE: usize = 64 * 1024;

impl MessageBody for SlicedBody {
    type Error = std::convert::Infallible;

    fn size(&self) -> BodySize {
        BodySize::Sized(self.rest.len() as u64)
    }

    fn poll_next(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<web::Bytes, Self::Error>>> {
        if self.rest.is_empty() {
            return Poll::Ready(None);
        }
        let n = self.rest.len().min(BODY_SLICE);
        Poll::Ready(Some(Ok(self.rest.split_to(n))))
    }
}

/// Pages of the lists. `next_page_token` is `""` on the last page; a page may hold fewer than
/// `page_size` items when more would pass the byte budget (`--page-bytes`) or when it has
/// examined 1,000 rows past its token (then possibly none, with a token to continue from).
macro_rules! page_schema {
    ($name:ident, $item:ty) => {
        #[derive(ToSchema)]
        #[allow(dead_code)]
        pub struct $name {
            result: Vec<$item>,
            #[schema(pattern = "^(|[0-9]{1,18}_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$")]
            next_page_token: String,
        }
    };
}
page_schema!(ConferencePage, ConferenceJson<'static>);
page_schema!(ConferencecallPage, ConferencecallJson<'static>);
page_schema!(RecordingPage, RecordingJson<'static>);

fn parse_type(raw: &str) -> Result<ConferenceType, ApiError> {
    ConferenceType::parse(raw)
        .ok_or_else(|| ApiError::invalid_argument("type", "must be \"conference\" or \"connect\""))
}

#[utoipa::path(post, path = "/v1.0/conferences", operation_id = "create_conference", tag = "conferences",
    request_body = ConferenceBody,
    responses((status = 200, description = "The conference, `progressing`", body = ConferenceJson)))]
pub async fn create(
    req: HttpRequest,
    tenant: Tenant,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body: ConferenceBody = json_body(&req, payload).await?;
    let draft = ConferenceDraft {
        kind: body.kind.as_deref().map(parse_type).transpose()?,
        name: body.name,
        detail: body.detail,
        data: body.data.map(Value::Object),
        timeout: body.timeout,
        pre_actions: body.pre_actions.map(Value::Array),
        post_actions: body.post_actions.map(Value::Array),
        room: RoomChange {
            max_participants: body.max_participants,
            locked: body.locked,
            wait_for_moderator: body.wait_for_moderator,
            end_on_moderator_exit: body.end_on_moderator_exit,
            wait_music_url: body.wait_music_url,
        },
        ..Default::default()
    };
    let view = state.engine.create_conference(tenant.0, draft).await?;
    Ok(HttpResponse::Ok().json(view.json()))
}

#[utoipa::path(get, path = "/v1.0/conferences/{id}", operation_id = "get_conference", tag = "conferences",
    params(("id" = Uuid, Path, description = "The conference id")),
    responses((status = 200, description = "The conference (also when deleted)", body = ConferenceJson)))]
pub async fn get(
    tenant: Tenant,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id)?;
    let view = state.engine.conference(tenant.0, id).await?;
    Ok(HttpResponse::Ok().json(view.json()))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConferenceQuery {
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    page_size: Option<String>,
    /// `next_page_token` of the page before.
    #[param(value_type = Option<String>, pattern = "^(|[0-9]{1,18}_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$")]
    page_token: Option<String>,
    #[param(value_type = Option<ConferenceStatus>, inline)]
    status: Option<String>,
    #[serde(rename = "type")]
    #[param(value_type = Option<ConferenceType>, inline)]
    kind: Option<String>,
    /// `true` lists deleted conferences too.
    #[param(value_type = Option<bool>)]
    deleted: Option<String>,
}

#[utoipa::path(get, path = "/v1.0/conferences", operation_id = "list_conferences", tag = "conferences",
    params(ConferenceQuery),
    responses((status = 200, description = "One page, newest first. A page examines at most 1,000 rows past its token, so it may hold fewer than `page_size` items, even none, and still carry a `next_page_token`: follow the token until it is empty.", body = ConferencePage)))]
pub async fn list(
    req: HttpRequest,
    tenant: Tenant,
    state: web::Data<AppState>,
    q: web::Query<ConferenceQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = page_size(q.page_size.as_deref())?;
    let cursor = decode_page_token(q.page_token.as_deref())?;
    let filter = ConferenceFilter {
        status: match q.status.as_deref() {
            None => None,
            Some(s) => Some(ConferenceStatus::parse(s).ok_or_else(|| {
                ApiError::invalid_argument(
                    "status",
                    "must be starting, progressing, terminating or terminated",
                )
            })?),
        },
        kind: match q.kind.as_deref() {
            None => None,
            Some(s) => Some(parse_type(s)?),
        },
        include_deleted: match q.deleted.as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(_) => {
                return Err(ApiError::invalid_argument(
                    "deleted",
                    "must be true or false",
                ))
            }
        },
    };
    let (page, lease) = state
        .engine
        .list_conferences(tenant.0, filter, cursor, limit)
        .await?;
    list_answer(&req, &page, lease, ConferenceView::json)
}

#[utoipa::path(put, path = "/v1.0/conferences/{id}", operation_id = "update_conference", tag = "conferences",
    params(("id" = Uuid, Path, description = "The conference id")),
    request_body = ConferenceChange,
    responses(
        (status = 200, description = "The conference as changed", body = ConferenceJson),
        (status = 409, description = "`STATE_INVALID`: a terminated conference cannot be changed", body = ErrorBody)))]
pub async fn update(
    req: HttpRequest,
    tenant: Tenant,
    state: web::Data<AppState>,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id)?;
    let body: ConferenceChange = json_body(&req, payload).await?;
    let kind = match &body.kind {
        None => None,
        Some(v) => Some(parse_type(v.as_str().unwrap_or_default())?),
    };
    let patch = ConferencePatch {
        kind,
        name: body.name,
        detail: body.detail,
        data: body.data.map(Value::Object),
        timeout: body.timeout,
        pre_actions: body.pre_actions.map(Value::Array),
        post_actions: body.post_actions.map(Value::Array),
        room: RoomChange {
            max_participants: body.max_participants,
            locked: body.locked,
            wait_for_moderator: body.wait_for_moderator,
            end_on_moderator_exit: body.end_on_moderator_exit,
            wait_music_url: body.wait_music_url,
        },
    };
    let view = state.engine.update_conference(tenant.0, id, patch).await?;
    Ok(HttpResponse::Ok().json(view.json()))
}

#[utoipa::path(delete, path = "/v1.0/conferences/{id}", operation_id = "delete_conference", tag = "conferences",
    params(("id" = Uuid, Path, description = "The conference id")),
    responses((status = 200, description = "The conference, `terminating` (calls are kicked) or `terminated`, `tm_delete` set; a repeat changes nothing", body = ConferenceJson)))]
pub async fn delete(
    tenant: Tenant,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id)?;
    let view = state.engine.delete_conference(tenant.0, id).await?;
    Ok(HttpResponse::Ok().json(view.json()))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallQuery {
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    page_size: Option<String>,
    /// `next_page_token` of the page before.
    #[param(value_type = Option<String>, pattern = "^(|[0-9]{1,18}_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$")]
    page_token: Option<String>,
    /// Only this conference's calls.
    #[param(value_type = Option<Uuid>)]
    conference_id: Option<String>,
    #[param(value_type = Option<CallStatus>, inline)]
    status: Option<String>,
}

#[utoipa::path(get, path = "/v1.0/conferencecalls", operation_id = "list_conferencecalls", tag = "conferencecalls",
    params(CallQuery),
    responses((status = 200, description = "One page, newest first. A page examines at most 1,000 rows past its token, so it may hold fewer than `page_size` items, even none, and still carry a `next_page_token`: follow the token until it is empty.", body = ConferencecallPage)))]
pub async fn list_calls(
    req: HttpRequest,
    tenant: Tenant,
    state: web::Data<AppState>,
    q: web::Query<CallQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = page_size(q.page_size.as_deref())?;
    let cursor = decode_page_token(q.page_token.as_deref())?;
    let filter = CallFilter {
        conference_id: optional_uuid("conference_id", q.conference_id.as_deref())?,
        status: match q.status.as_deref() {
            None => None,
            Some(s) => Some(CallStatus::parse(s).ok_or_else(|| {
                ApiError::invalid_argument(
                    "status",
                    "must be dialing, joining, joined, leaving or leaved",
                )
            })?),
        },
    };
    let (page, lease) = state
        .engine
        .list_calls(tenant.0, filter, cursor, limit)
        .await?;
    list_answer(&req, &page, lease, Conferencecall::json)
}

#[utoipa::path(get, path = "/v1.0/conferencecalls/{id}", operation_id = "get_conferencecall", tag = "conferencecalls",
    params(("id" = Uuid, Path, description = "The conferencecall id")),
    responses((status = 200, description = "The conferencecall", body = ConferencecallJson)))]
pub async fn get_call(
    tenant: Tenant,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id)?;
    let call = state.engine.call(tenant.0, id).await?;
    Ok(HttpResponse::Ok().json(call.json()))
}

#[utoipa::path(get, path = "/v1.0/recordings/{id}", operation_id = "get_recording", tag = "recordings",
    params(("id" = Uuid, Path, description = "The recording id")),
    responses((status = 200, description = "The recording", body = RecordingJson)))]
pub async fn get_recording(
    tenant: Tenant,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id)?;
    let rec = state.engine.recording(tenant.0, id).await?;
    Ok(HttpResponse::Ok().json(rec.json()))
}

#[utoipa::path(delete, path = "/v1.0/conferencecalls/{id}", operation_id = "kick_conferencecall", tag = "conferencecalls",
    params(("id" = Uuid, Path, description = "The conferencecall id")),
    responses((status = 200, description = "The conferencecall, `leaving` (the platform is told to kick it); one already leaving or gone is answered unchanged", body = ConferencecallJson)))]
pub async fn kick_call(
    tenant: Tenant,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id)?;
    let call = state.engine.kick_call(tenant.0, id).await?;
    Ok(HttpResponse::Ok().json(call.json()))
}

/// How to record; the body may be empty (the defaults).
#[derive(Deserialize, Default, ToSchema)]
#[schema(as = NewRecording)]
struct RecordingBody {
    #[schema(value_type = Option<RecordingFormat>, default = "wav")]
    format: Option<String>,
    /// The longest the recording may run, in seconds; 0 = no limit.
    #[schema(minimum = 0, maximum = 86400)]
    #[serde(default, deserialize_with = "integral")]
    duration: Option<i64>,
}

#[utoipa::path(post, path = "/v1.0/conferences/{id}/recording_start", operation_id = "start_recording", tag = "conferences",
    params(("id" = Uuid, Path, description = "The conference id")),
    request_body(content = Option<RecordingBody>, description = "Optional; an empty body records as wav with no limit"),
    responses(
        (status = 200, description = "The conference with its `recording_id`", body = ConferenceJson),
        (status = 409, description = "`STATE_INVALID`: the conference is not `progressing` or already records", body = ErrorBody)))]
pub async fn recording_start(
    req: HttpRequest,
    tenant: Tenant,
    state: web::Data<AppState>,
    id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id)?;
    // The body is optional: an empty one, or `null`, means the defaults.
    let body: RecordingBody = optional_json_body(&req, payload).await?;
    let format = body
        .format
        .as_deref()
        .map(|f| {
            RecordingFormat::parse(f)
                .ok_or_else(|| ApiError::invalid_argument("format", "must be wav or mp3"))
        })
        .transpose()?;
    let view = state
        .engine
        .start_recording(tenant.0, id, format, body.duration)
        .await?;
    Ok(HttpResponse::Ok().json(view.json()))
}

#[utoipa::path(post, path = "/v1.0/conferences/{id}/recording_stop", operation_id = "stop_recording", tag = "conferences",
    params(("id" = Uuid, Path, description = "The conference id")),
    responses(
        (status = 200, description = "The conference, `recording_id` nil at once; the recording stays `stopping` until the platform reports it finished", body = ConferenceJson),
        (status = 409, description = "`STATE_INVALID`: no recording in progress", body = ErrorBody)))]
pub async fn recording_stop(
    tenant: Tenant,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = path_id(&id)?;
    let view = state.engine.stop_recording(tenant.0, id).await?;
    Ok(HttpResponse::Ok().json(view.json()))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RecordingQuery {
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    page_size: Option<String>,
    /// `next_page_token` of the page before.
    #[param(value_type = Option<String>, pattern = "^(|[0-9]{1,18}_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$")]
    page_token: Option<String>,
    /// Only this conference's recordings.
    #[param(value_type = Option<Uuid>)]
    conference_id: Option<String>,
}

#[utoipa::path(get, path = "/v1.0/recordings", operation_id = "list_recordings", tag = "recordings",
    params(RecordingQuery),
    responses((status = 200, description = "One page, newest first. A page examines at most 1,000 rows past its token, so it may hold fewer than `page_size` items, even none, and still carry a `next_page_token`: follow the token until it is empty.", body = RecordingPage)))]
pub async fn list_recordings(
    req: HttpRequest,
    tenant: Tenant,
    state: web::Data<AppState>,
    q: web::Query<RecordingQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = page_size(q.page_size.as_deref())?;
    let cursor = decode_page_token(q.page_token.as_deref())?;
    let conference_id = optional_uuid("conference_id", q.conference_id.as_deref())?;
    let (page, lease) = state
        .engine
        .list_recordings(tenant.0, conference_id, cursor, limit)
        .await?;
    list_answer(&req, &page, lease, Recording::json)
}
