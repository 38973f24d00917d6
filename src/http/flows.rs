//! `GET /v1.0/flows`: the flows loaded from the flows directory.

use super::auth::Tenant;
use super::AppState;
use actix_web::{web, HttpResponse};
use serde_json::json;

pub async fn list(_tenant: Tenant, state: web::Data<AppState>) -> HttpResponse {
    let flows = state.engine.flows();
    let result: Vec<_> = flows
        .flows
        .values()
        .map(|f| json!({"name": f.name, "description": f.description, "actions": f.json}))
        .collect();
    HttpResponse::Ok().json(json!({"result": result}))
}
