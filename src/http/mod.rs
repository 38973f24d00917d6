//! The HTTP front door: routes, input parsing into domain types, and answers. Handlers call the
//! engine and nothing else.

pub mod auth;
pub mod conferences;
pub mod customers;
pub mod error;
pub mod flows;
pub mod input;
pub mod platform;
pub mod xml_api;

use crate::engine::Engine;
use crate::ratelimit::Limiter;
use actix_web::ResponseError;
use actix_web::{web, HttpResponse};
use error::ApiError;

/// What every handler can reach.
pub struct AppState {
    pub engine: Engine,
    pub admin_token: Option<String>,
    /// The platform secret's key bytes; `None` accepts unsigned events.
    pub platform_key: Option<Vec<u8>>,
    /// Requests per second per customer.
    pub customer_limit: Limiter<uuid::Uuid>,
    /// Failed authentications per second per client address.
    pub auth_failure_limit: Limiter<std::net::IpAddr>,
}

async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    match state.engine.gauges().await {
        Ok(g) => HttpResponse::Ok()
            .content_type("text/plain; version=0.0.4; charset=utf-8")
            .body(state.engine.metrics().render(&g)),
        Err(e) => ApiError::from(e).error_response(),
    }
}

async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    if state.engine.healthy().await {
        HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
    } else {
        HttpResponse::ServiceUnavailable().json(serde_json::json!({"status": "store unavailable"}))
    }
}

async fn no_route() -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found())
}

async fn wrong_method() -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(
        actix_web::http::StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        "this route does not accept that method",
    ))
}

/// A resource with its routes; any other method answers 405 in the envelope.
fn resource(path: &str, routes: Vec<actix_web::Route>) -> actix_web::Resource {
    routes
        .into_iter()
        .fold(web::resource(path), |r, route| r.route(route))
        .default_service(web::to(wrong_method))
}

/// Registers every route. Shared by the server and nothing else, so tests exercise exactly what
/// production serves. Order matters for speed: actix tries resources in order, so the hot
/// routes (platform events, conference reads) come first and patterns with placeholders, which
/// need a regex, come after the static ones.
pub fn routes(cfg: &mut web::ServiceConfig) {
    use conferences as conf;
    cfg.app_data(
        web::QueryConfig::default()
            .error_handler(|err, _| ApiError::invalid_argument("query", err.to_string()).into()),
    )
    .app_data(
        web::PathConfig::default()
            .error_handler(|err, _| ApiError::invalid_argument("path", err.to_string()).into()),
    )
    .service(
        web::scope("/v1.0")
            .service(resource(
                "/platform/events",
                vec![web::post().to(platform::receive)],
            ))
            .service(resource(
                "/conferences",
                vec![web::get().to(conf::list), web::post().to(conf::create)],
            ))
            .service(resource(
                "/conferencecalls",
                vec![web::get().to(conf::list_calls)],
            ))
            .service(resource(
                "/recordings",
                vec![web::get().to(conf::list_recordings)],
            ))
            .service(resource("/flows", vec![web::get().to(flows::list)]))
            .service(resource(
                "/customers",
                vec![web::post().to(customers::create)],
            ))
            .service(resource(
                "/customer",
                vec![
                    web::get().to(customers::get_self),
                    web::put().to(customers::update_self),
                ],
            ))
            .service(resource(
                "/customer/webhook_secret",
                vec![web::post().to(customers::rotate_secret)],
            ))
            .service(resource(
                "/webhook_deliveries",
                vec![web::get().to(customers::list_deliveries)],
            ))
            .service(resource(
                "/conferences/{id}",
                vec![
                    web::get().to(conf::get),
                    web::put().to(conf::update),
                    web::delete().to(conf::delete),
                ],
            ))
            .service(resource(
                "/conferences/{id}/recording_start",
                vec![web::post().to(conf::recording_start)],
            ))
            .service(resource(
                "/conferences/{id}/recording_stop",
                vec![web::post().to(conf::recording_stop)],
            ))
            .service(resource(
                "/conferencecalls/{id}",
                vec![
                    web::get().to(conf::get_call),
                    web::delete().to(conf::kick_call),
                ],
            ))
            .service(resource(
                "/recordings/{id}",
                vec![web::get().to(conf::get_recording)],
            ))
            .service(resource(
                "/webhook_deliveries/{id}/retry",
                vec![web::post().to(customers::retry_delivery)],
            ))
            .default_service(web::to(no_route)),
    )
    .route("/healthz", web::get().to(healthz))
    .route("/metrics", web::get().to(metrics))
    .service(
        web::scope("/v1/account/{account_sid}/conf")
            .service(xml_resource("", web::post().to(xml_api::create)))
            .service(xml_resource("/{sid}", web::get().to(xml_api::get)))
            .service(xml_resource(
                "/{sid}/dispose",
                web::post().to(xml_api::dispose),
            ))
            .service(xml_resource("/{sid}/part", web::get().to(xml_api::parts)))
            .service(xml_resource(
                "/{sid}/part/{call_sid}/dispose",
                web::post().to(xml_api::dispose_part),
            ))
            .default_service(web::to(xml_api::not_found)),
    )
    .default_service(web::to(no_route));
}

/// A resource of the XML API: anything unexpected answers its XML error document.
fn xml_resource(path: &str, route: actix_web::Route) -> actix_web::Resource {
    web::resource(path)
        .route(route)
        .default_service(web::to(xml_api::not_found))
}
