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
use actix_web::{web, HttpResponse};
use error::ApiError;

/// What every handler can reach.
pub struct AppState {
    pub engine: Engine,
    pub admin_token: Option<String>,
    /// The platform secret's key bytes; `None` accepts unsigned events.
    pub platform_key: Option<Vec<u8>>,
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

/// Registers every route. Shared by the server and nothing else, so tests exercise exactly what
/// production serves.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::QueryConfig::default()
            .error_handler(|err, _| ApiError::invalid_argument("query", err.to_string()).into()),
    )
    .app_data(
        web::PathConfig::default()
            .error_handler(|err, _| ApiError::invalid_argument("path", err.to_string()).into()),
    )
    .route("/healthz", web::get().to(healthz))
    .service(
        web::scope("/v1/account/{account_sid}/conf")
            .service(
                web::resource("")
                    .route(web::post().to(xml_api::create))
                    .default_service(web::to(xml_api::not_found)),
            )
            .service(
                web::resource("/{sid}")
                    .route(web::get().to(xml_api::get))
                    .default_service(web::to(xml_api::not_found)),
            )
            .service(
                web::resource("/{sid}/dispose")
                    .route(web::post().to(xml_api::dispose))
                    .default_service(web::to(xml_api::not_found)),
            )
            .service(
                web::resource("/{sid}/part")
                    .route(web::get().to(xml_api::parts))
                    .default_service(web::to(xml_api::not_found)),
            )
            .service(
                web::resource("/{sid}/part/{call_sid}/dispose")
                    .route(web::post().to(xml_api::dispose_part))
                    .default_service(web::to(xml_api::not_found)),
            )
            .default_service(web::to(xml_api::not_found)),
    )
    .service(
        web::scope("/v1.0")
            .service(
                web::resource("/customers")
                    .route(web::post().to(customers::create))
                    .default_service(web::to(wrong_method)),
            )
            .service(
                web::resource("/customer")
                    .route(web::get().to(customers::get_self))
                    .route(web::put().to(customers::update_self))
                    .default_service(web::to(wrong_method)),
            )
            .service(
                web::resource("/customer/webhook_secret")
                    .route(web::post().to(customers::rotate_secret))
                    .default_service(web::to(wrong_method)),
            )
            .service(
                web::resource("/webhook_deliveries")
                    .route(web::get().to(customers::list_deliveries))
                    .default_service(web::to(wrong_method)),
            )
            .service(
                web::resource("/webhook_deliveries/{id}/retry")
                    .route(web::post().to(customers::retry_delivery))
                    .default_service(web::to(wrong_method)),
            )
            .service(
                web::resource("/platform/events")
                    .route(web::post().to(platform::receive))
                    .default_service(web::to(wrong_method)),
            )
            .service(
                web::resource("/flows")
                    .route(web::get().to(flows::list))
                    .default_service(web::to(wrong_method)),
            )
            .service(
                web::resource("/conferences")
                    .route(web::get().to(conferences::list))
                    .route(web::post().to(conferences::create))
                    .default_service(web::to(wrong_method)),
            )
            .service(
                web::resource("/conferences/{id}")
                    .route(web::get().to(conferences::get))
                    .route(web::put().to(conferences::update))
                    .route(web::delete().to(conferences::delete))
                    .default_service(web::to(wrong_method)),
            )
            .service(
                web::resource("/conferences/{id}/recording_start")
                    .route(web::post().to(conferences::recording_start))
                    .default_service(web::to(wrong_method)),
            )
            .service(
                web::resource("/conferences/{id}/recording_stop")
                    .route(web::post().to(conferences::recording_stop))
                    .default_service(web::to(wrong_method)),
            )
            .service(
                web::resource("/recordings")
                    .route(web::get().to(conferences::list_recordings))
                    .default_service(web::to(wrong_method)),
            )
            .service(
                web::resource("/conferencecalls")
                    .route(web::get().to(conferences::list_calls))
                    .default_service(web::to(wrong_method)),
            )
            .service(
                web::resource("/conferencecalls/{id}")
                    .route(web::get().to(conferences::get_call))
                    .route(web::delete().to(conferences::kick_call))
                    .default_service(web::to(wrong_method)),
            )
            .service(
                web::resource("/recordings/{id}")
                    .route(web::get().to(conferences::get_recording))
                    .default_service(web::to(wrong_method)),
            ),
    )
    .default_service(web::to(no_route));
}
