//! Customer routes: the admin's `POST /v1.0/customers` and a customer's own `/v1.0/customer`.

use super::auth::{require_admin, Tenant};
use super::error::ApiError;
use super::error::ErrorBody;
use super::input::{json_body, page_size};
use super::AppState;
use crate::dialects::settings::{self, Fields};
use crate::domain::customer::CustomerJson;
use crate::domain::notification::{DeliveryStatus, NotificationType, WebhookMethod};
use crate::engine::CustomerPatch;
use crate::engine::Delivery;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

/// A new customer.
#[derive(Deserialize, ToSchema)]
struct NewCustomer {
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*$"
    )]
    name: String,
    /// Where notifications go: an http(s) URL, or empty for none.
    #[serde(default)]
    #[schema(pattern = "^(|https?://[A-Za-z0-9.-]+(:[0-9]{1,4})?(/[A-Za-z0-9._~/-]*)?)$")]
    webhook_uri: Option<String>,
}

#[utoipa::path(post, path = "/v1.0/customers", operation_id = "create_customer", tag = "customers",
    request_body = NewCustomer, security(("bearer" = [])),
    responses((status = 200, description = "The customer with its API key, shown this once", body = CustomerJson)))]
pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    require_admin(&req, &state)?;
    let body: NewCustomer = json_body(&req, payload).await?;
    let (customer, key) = state
        .engine
        .create_customer(&body.name, body.webhook_uri.as_deref().unwrap_or(""))
        .await?;
    Ok(HttpResponse::Ok().json(settings::shown(&customer, Some(&key))))
}

#[utoipa::path(get, path = "/v1.0/customer", operation_id = "get_customer", tag = "customers",
    responses((status = 200, description = "The calling customer; connection secrets masked", body = CustomerJson)))]
pub async fn get_self(
    tenant: Tenant,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    match state.engine.customer(tenant.0).await? {
        Some(c) => Ok(HttpResponse::Ok().json(settings::shown(&c, None))),
        // The key outlived its customer: treat it like any unknown key.
        None => Err(ApiError::unauthenticated()),
    }
}

/// `PUT /v1.0/customer`: any of `name`, `webhook_uri`, `webhook_method`, `webhook_events`,
/// and the platform connections by name (an object sets or changes one, `null` removes it).
#[derive(Deserialize, ToSchema)]
#[schema(as = CustomerChange)]
struct CustomerBody {
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*$"
    )]
    name: Option<String>,
    /// Where notifications go: an http(s) URL, or `""` for none.
    #[schema(pattern = "^(|https?://[A-Za-z0-9.-]+(:[0-9]{1,4})?(/[A-Za-z0-9._~/-]*)?)$")]
    webhook_uri: Option<String>,
    #[schema(value_type = Option<WebhookMethod>, inline)]
    webhook_method: Option<String>,
    /// The notification types wanted; empty = all.
    #[schema(value_type = Option<Vec<NotificationType>>)]
    webhook_events: Option<Vec<String>>,
    /// The platform connections, by name; any other field is ignored. Each platform documents
    /// its own (the document's `CustomerChange` lists them, from `crate::dialects`).
    #[serde(flatten)]
    #[schema(ignore)]
    others: serde_json::Map<String, serde_json::Value>,
}

/// The connection changes a body carries: absent leaves a connection as it is, `null`
/// removes it, an object sets or changes it; anything else is refused naming the field.
fn connection_changes(
    mut others: serde_json::Map<String, serde_json::Value>,
) -> Result<settings::Changes, ApiError> {
    let mut changes = Vec::new();
    for name in settings::names() {
        if let Some(value) = others.remove(name) {
            let change: Option<Fields> = super::input::parse_value(name, value)?;
            changes.push((name.to_string(), change));
        }
    }
    Ok(changes)
}

#[utoipa::path(put, path = "/v1.0/customer", operation_id = "update_customer", tag = "customers",
    request_body = CustomerBody,
    responses((status = 200, description = "The customer as changed", body = CustomerJson)))]
pub async fn update_self(
    req: HttpRequest,
    tenant: Tenant,
    state: web::Data<AppState>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body: CustomerBody = json_body(&req, payload).await?;
    let patch = CustomerPatch {
        name: body.name,
        webhook_uri: body.webhook_uri,
        webhook_method: body.webhook_method,
        webhook_events: body.webhook_events,
        connections: connection_changes(body.others)?,
    };
    let c = state.engine.update_customer(tenant.0, patch).await?;
    Ok(HttpResponse::Ok().json(settings::shown(&c, None)))
}

#[utoipa::path(post, path = "/v1.0/customer/webhook_secret", operation_id = "rotate_webhook_secret", tag = "customers",
    responses((status = 200, description = "The customer with its new secret; the old one keeps signing beside it for 24 h", body = CustomerJson)))]
pub async fn rotate_secret(
    tenant: Tenant,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let c = state.engine.rotate_webhook_secret(tenant.0).await?;
    Ok(HttpResponse::Ok().json(settings::shown(&c, None)))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    #[param(value_type = Option<DeliveryStatus>, inline)]
    status: Option<String>,
    /// Only the notifications about this conference.
    #[param(value_type = Option<uuid::Uuid>)]
    conference_id: Option<String>,
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    page_size: Option<String>,
    /// `next_page_token` of the page before.
    #[param(value_type = Option<String>, pattern = "^(|[1-9][0-9]{0,17})$")]
    page_token: Option<String>,
}

/// One page of the delivery log, newest first.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct DeliveryPage {
    result: Vec<Delivery>,
    #[schema(pattern = "^(|[1-9][0-9]{0,17})$")]
    next_page_token: String,
}

#[utoipa::path(get, path = "/v1.0/webhook_deliveries", operation_id = "list_webhook_deliveries", tag = "customers",
    params(DeliveryQuery),
    responses((status = 200, description = "One page of the notification delivery log, newest first. A page examines at most 1,000 rows past its token, so it may hold fewer than `page_size` items, even none, and still carry a `next_page_token`: follow the token until it is empty.", body = DeliveryPage)))]
pub async fn list_deliveries(
    req: HttpRequest,
    tenant: Tenant,
    state: web::Data<AppState>,
    q: web::Query<DeliveryQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = page_size(q.page_size.as_deref())?;
    let status = match q.status.as_deref() {
        None => None,
        Some(s) => Some(DeliveryStatus::parse(s).ok_or_else(|| {
            ApiError::invalid_argument("status", "must be pending, delivered or failed")
        })?),
    };
    let conference = super::input::optional_uuid("conference_id", q.conference_id.as_deref())?;
    let before = match q.page_token.as_deref() {
        None | Some("") => None,
        Some(t) => Some(t.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
            ApiError::invalid_argument("page_token", "is not a token this API issued")
        })?),
    };
    let (page, lease) = state
        .engine
        .list_deliveries(tenant.0, status, conference, before, limit)
        .await?;
    let token = page.next.map(|n| n.to_string()).unwrap_or_default();
    super::conferences::page_answer(&req, &page.items, token, page.bytes, lease)
}

#[utoipa::path(post, path = "/v1.0/webhook_deliveries/{id}/retry", operation_id = "retry_webhook_delivery", tag = "customers",
    params(("id" = String, Path, pattern = "^[A-Za-z0-9_]{1,64}$", description = "The delivery id (`msg_...`)")),
    responses(
        (status = 200, description = "The delivery, `pending` again", body = Delivery),
        (status = 409, description = "`STATE_INVALID`: only a failed delivery can be sent again", body = ErrorBody)))]
pub async fn retry_delivery(
    tenant: Tenant,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    if id.len() > 64 || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(ApiError::new(
            actix_web::http::StatusCode::BAD_REQUEST,
            "INVALID_ID",
            format!("path id {id:?} is not a delivery id (msg_...)"),
        ));
    }
    let d = state.engine.retry_delivery(tenant.0, id).await?;
    Ok(HttpResponse::Ok().json(d))
}
