//! Who is calling: the customer behind an API key, or the operator with the admin token.

use super::error::ApiError;
use super::AppState;
use crate::domain::signature::constant_time_eq;
use crate::domain::CustomerId;
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use serde::Deserialize;
use std::future::Future;
use std::pin::Pin;

/// The authenticated customer of a request.
#[derive(Debug, Clone, Copy)]
pub struct Tenant(pub CustomerId);

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

/// The key from `Authorization: Bearer <key>`, else from `?token=<key>`.
pub fn presented_key(req: &HttpRequest) -> Option<String> {
    if let Some(h) = req.headers().get(actix_web::http::header::AUTHORIZATION) {
        let v = h.to_str().ok()?.trim();
        let (scheme, key) = v.split_once(' ')?;
        if scheme.eq_ignore_ascii_case("bearer") && !key.trim().is_empty() {
            return Some(key.trim().to_string());
        }
        return None;
    }
    web::Query::<TokenQuery>::from_query(req.query_string())
        .ok()
        .and_then(|q| q.into_inner().token)
        .filter(|t| !t.is_empty())
}

/// Finds the customer behind the request's API key, within the rate limits: per customer,
/// and per client address for failed attempts (a flood of bad keys is refused before it costs
/// a lookup).
pub async fn authenticate(req: &HttpRequest) -> Result<Tenant, ApiError> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Err(ApiError::unauthenticated());
    };
    let now = std::time::Instant::now();
    let peer = req.peer_addr().map(|a| a.ip());
    // Keys are `cfk_` + 43 characters; anything far longer is not worth hashing.
    let key = presented_key(req).filter(|k| k.len() <= 256);
    // A key already known is answered from memory, so an address that also floods bad keys
    // (a shared NAT) does not lock out a customer already using the service.
    let known = key
        .as_deref()
        .and_then(|k| state.engine.authenticate_known(k));
    if known.is_none() {
        if let Some(ip) = peer {
            if let Err(wait) = state.auth_failure_limit.peek(ip, now) {
                state.engine.metrics().rate_limited.inc();
                return Err(ApiError::rate_limited(wait));
            }
        }
    }
    let found = match (known, key) {
        (Some(id), _) => Some(id),
        (None, Some(key)) => state.engine.authenticate(&key).await?,
        (None, None) => None,
    };
    let Some(id) = found else {
        if let Some(ip) = peer {
            let _ = state.auth_failure_limit.check(ip, now);
        }
        return Err(ApiError::unauthenticated());
    };
    if let Err(wait) = state.customer_limit.check(id, now) {
        state.engine.metrics().rate_limited.inc();
        return Err(ApiError::rate_limited(wait));
    }
    // The body read after this counts against the customer's byte rate (`input::read_body`).
    actix_web::HttpMessage::extensions_mut(req).insert(Tenant(id));
    Ok(Tenant(id))
}

impl FromRequest for Tenant {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Tenant, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { authenticate(&req).await })
    }
}

/// Checks the admin token. Without a configured token the admin routes do not exist (404).
pub fn require_admin(req: &HttpRequest, state: &AppState) -> Result<(), ApiError> {
    let Some(expected) = state.admin_token.as_deref() else {
        return Err(ApiError::not_found());
    };
    match presented_key(req) {
        Some(k) if constant_time_eq(k.as_bytes(), expected.as_bytes()) => Ok(()),
        _ => Err(ApiError::unauthenticated()),
    }
}
