//! `GET /v1.0/flows`: the flows loaded from the flows directory.

use super::auth::Tenant;
use super::AppState;
use actix_web::{web, HttpResponse};
use serde_json::json;
use utoipa::ToSchema;

/// One flow of the flows directory.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct FlowJson {
    name: String,
    description: String,
    #[schema(value_type = Vec<crate::actions::schema::Action>)]
    actions: (),
}

/// The flows loaded.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct FlowList {
    result: Vec<FlowJson>,
    /// What the last reload of the flows directory found wrong (`file:line:col: message`);
    /// the last good set stays loaded. Empty when it succeeded.
    problems: Vec<String>,
}

#[utoipa::path(get, path = "/v1.0/flows", operation_id = "list_flows", tag = "flows",
    responses((status = 200, description = "The flows loaded from the flows directory, by name", body = FlowList)))]
pub async fn list(_tenant: Tenant, state: web::Data<AppState>) -> HttpResponse {
    let flows = state.engine.flows();
    let result: Vec<_> = flows
        .flows
        .values()
        .map(|f| json!({"name": f.name, "description": f.description, "actions": f.json}))
        .collect();
    HttpResponse::Ok().json(json!({"result": result, "problems": state.engine.flow_problems()}))
}
