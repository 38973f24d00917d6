//! Customer routes: the admin's `POST /v1.0/customers` and a customer's own `/v1.0/customer`.

use super::auth::{require_admin, Tenant};
use super::error::ApiError;
use super::input::json_body;
use super::AppState;
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
