//! Customer routes: the admin's `POST /v1.0/customers` and a customer's own `/v1.0/customer`.

use super::auth::{require_admin, Tenant};
use super::error::ApiError;
use super::input::{json_body, page_size};
use super::AppState;
use crate::domain::dialect::Fields;
use crate::engine::CustomerPatch;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

#[derive(Deserialize)]
struct NewCustomer {
    name: String,
    #[serde(default)]
    webhook_uri: Option<String>,
}

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
    Ok(HttpResponse::Ok().json(customer.json(Some(&key))))
}

pub async fn get_self(
    tenant: Tenant,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    match state.engine.customer(tenant.0).await? {
        Some(c) => Ok(HttpResponse::Ok().json(c.json(None))),
        // The key outlived its customer: treat it like any unknown key.
        None => Err(ApiError::unauthenticated()),
    }
}

/// `PUT /v1.0/customer`: any of `name`, `webhook_uri`, `webhook_method`, `webhook_events`,
/// `twilio`, `jambonz` (an object sets or changes a connection, `null` removes it).
#[derive(Deserialize)]
struct CustomerBody {
    name: Option<String>,
    webhook_uri: Option<String>,
    webhook_method: Option<String>,
    webhook_events: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    twilio: Option<Option<Fields>>,
    #[serde(default, deserialize_with = "present")]
    jambonz: Option<Option<Fields>>,
}

/// A field that may be absent (unchanged), `null` (removed) or an object (set): serde maps
/// both absent and `null` to `None` for a plain `Option`, so presence is wrapped once more.
fn present<'de, D>(d: D) -> Result<Option<Option<Fields>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    Option::<Fields>::deserialize(d).map(Some)
}

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
        twilio: body.twilio,
        jambonz: body.jambonz,
    };
    let c = state.engine.update_customer(tenant.0, patch).await?;
    Ok(HttpResponse::Ok().json(c.json(None)))
}

pub async fn rotate_secret(
    tenant: Tenant,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let c = state.engine.rotate_webhook_secret(tenant.0).await?;
    Ok(HttpResponse::Ok().json(c.json(None)))
}

#[derive(Deserialize)]
pub struct DeliveryQuery {
    status: Option<String>,
    page_size: Option<String>,
    page_token: Option<String>,
}

pub async fn list_deliveries(
    tenant: Tenant,
    state: web::Data<AppState>,
    q: web::Query<DeliveryQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = page_size(q.page_size.as_deref())?;
    let status = match q.status.as_deref() {
        None | Some("") => None,
        Some(s @ ("pending" | "delivered" | "failed")) => Some(s.to_string()),
        Some(_) => {
            return Err(ApiError::invalid_argument(
                "status",
                "must be pending, delivered or failed",
            ))
        }
    };
    let before = match q.page_token.as_deref() {
        None | Some("") => None,
        Some(t) => Some(t.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
            ApiError::invalid_argument("page_token", "is not a token this API issued")
        })?),
    };
    let (page, lease) = state
        .engine
        .list_deliveries(tenant.0, status, before, limit)
        .await?;
    let token = page.next.map(|n| n.to_string()).unwrap_or_default();
    super::conferences::page_answer(&page.items, token, page.bytes, lease)
}

pub async fn retry_delivery(
    tenant: Tenant,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    if id.len() > 64 || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(ApiError::invalid_id(&id));
    }
    let d = state.engine.retry_delivery(tenant.0, id).await?;
    Ok(HttpResponse::Ok().json(d))
}
