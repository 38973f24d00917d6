//! The HTTP front door: routes, input parsing into domain types, and answers. Handlers call the
//! engine and nothing else.

pub mod auth;
pub mod call_control;
pub mod conferences;
pub mod connection;
pub mod console;
pub mod customers;
pub mod error;
pub mod flows;
pub mod hooks;
pub mod input;
pub mod openapi;
pub mod platform;
pub mod simulations;
pub mod usage;
pub mod xml_api;
pub mod xml_schema;

use crate::domain::CustomerId;
use crate::engine::Engine;
use crate::ops::ratelimit::Limiter;
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
    pub customer_limit: Limiter<CustomerId>,
    /// Request body bytes per second per customer.
    pub body_limit: Limiter<CustomerId>,
    /// Failed authentications per second per client address.
    pub auth_failure_limit: Limiter<std::net::IpAddr>,
    /// The sound a `beep` plays on the dialects' platforms (`--beep-url`); `None`: confab's own.
    pub beep_url: Option<String>,
    /// How long a list answer may take to reach its client (`--send-timeout`).
    pub send_timeout: std::time::Duration,
}

async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    match state.engine.gauges().await {
        Ok(g) => HttpResponse::Ok()
            .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
            .body(state.engine.metrics().render(&g)),
        Err(e) => ApiError::from(e).error_response(),
    }
}

/// 200 when the store answers reads and takes writes; 503 (with why) otherwise, so a load
/// balancer stops sending traffic to a node whose disk is full.
async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    use crate::store::WriteState;
    let health = state.engine.health().await;
    let write = match &health.write {
        WriteState::Ok => serde_json::json!({"status": "ok"}),
        WriteState::Failing { reason, seconds } => serde_json::json!({
            "status": "failing", "reason": reason, "failing_for_seconds": seconds,
        }),
    };
    let ok = health.read && health.write == WriteState::Ok;
    let body = serde_json::json!({
        "status": if ok { "ok" } else { "unavailable" },
        "store": {"read": if health.read { "ok" } else { "failing" }, "write": write},
    });
    if ok {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable()
            .insert_header((actix_web::http::header::RETRY_AFTER, "5"))
            .json(body)
    }
}

async fn no_route() -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found())
}

/// The answer to a method a route does not take: 405 in the envelope, with the `Allow` header
/// RFC 9110 requires (the route's methods).
fn wrong_method(allow: String) -> actix_web::Route {
    web::to(move || {
        let allow = allow.clone();
        async move {
            let mut res = actix_web::ResponseError::error_response(&ApiError::new(
                actix_web::http::StatusCode::METHOD_NOT_ALLOWED,
                "METHOD_NOT_ALLOWED",
                format!("this route takes {allow} only"),
            ));
            if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&allow) {
                res.headers_mut().insert(actix_web::http::header::ALLOW, v);
            }
            res
        }
    })
}

/// The `Allow` value of a route's methods.
fn allow_of(methods: &[&str]) -> String {
    methods
        .iter()
        .map(|m| m.to_ascii_uppercase())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A resource with its routes; any other method answers 405 in the envelope.
/// Every (method, path) of the JSON API as registered, for the OpenAPI drift check.
static REGISTERED: std::sync::Mutex<std::collections::BTreeSet<(String, String)>> =
    std::sync::Mutex::new(std::collections::BTreeSet::new());

/// The routes the server registered for the OpenAPI drift check: (method, path under
/// `/v1.0`) for the JSON API, (method, full path) for the XML API.
pub fn registered_routes() -> Vec<(String, String)> {
    REGISTERED
        .lock()
        .map(|r| r.iter().cloned().collect())
        .unwrap_or_default()
}

type MethodRoute = (&'static str, actix_web::Route);

fn get<F: actix_web::Handler<A>, A: actix_web::FromRequest + 'static>(h: F) -> MethodRoute
where
    F::Output: actix_web::Responder + 'static,
{
    ("get", web::get().to(h))
}

fn post<F: actix_web::Handler<A>, A: actix_web::FromRequest + 'static>(h: F) -> MethodRoute
where
    F::Output: actix_web::Responder + 'static,
{
    ("post", web::post().to(h))
}

fn put<F: actix_web::Handler<A>, A: actix_web::FromRequest + 'static>(h: F) -> MethodRoute
where
    F::Output: actix_web::Responder + 'static,
{
    ("put", web::put().to(h))
}

fn delete<F: actix_web::Handler<A>, A: actix_web::FromRequest + 'static>(h: F) -> MethodRoute
where
    F::Output: actix_web::Responder + 'static,
{
    ("delete", web::delete().to(h))
}

/// A JSON API resource with its routes, recorded for the OpenAPI drift check; any other method
/// answers 405 in the envelope.
fn resource(path: &str, routes: Vec<MethodRoute>) -> actix_web::Resource {
    if let Ok(mut r) = REGISTERED.lock() {
        for (method, _) in &routes {
            r.insert((method.to_string(), path.to_string()));
        }
    }
    let allow = allow_of(&routes.iter().map(|(m, _)| *m).collect::<Vec<_>>());
    routes
        .into_iter()
        .fold(web::resource(path), |r, (_, route)| r.route(route))
        .default_service(wrong_method(allow))
}

/// Registers every route. Shared by the server and nothing else, so tests exercise exactly what
/// production serves. Order matters for speed: actix tries resources in order, so the hot
/// routes (platform events, conference reads) come first and patterns with placeholders, which
/// need a regex, come after the static ones.
pub fn routes(cfg: &mut web::ServiceConfig) {
    use call_control as control;
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
            .service(resource("/platform/events", vec![post(platform::receive)]))
            .service(resource(
                "/conferences",
                vec![get(conf::list), post(conf::create)],
            ))
            .service(resource("/conferencecalls", vec![get(conf::list_calls)]))
            .service(resource("/recordings", vec![get(conf::list_recordings)]))
            .service(resource("/flows", vec![get(flows::list)]))
            .service(resource("/usage", vec![get(usage::usage)]))
            .service(resource("/simulations", vec![post(simulations::simulate)]))
            .service(resource("/customers", vec![post(customers::create)]))
            .service(resource(
                "/customer",
                vec![get(customers::get_self), put(customers::update_self)],
            ))
            .service(resource(
                "/customer/webhook_secret",
                vec![post(customers::rotate_secret)],
            ))
            .service(resource(
                "/webhook_deliveries",
                vec![get(customers::list_deliveries)],
            ))
            .service(resource(
                "/conferences/{id}",
                vec![get(conf::get), put(conf::update), delete(conf::delete)],
            ))
            .service(resource(
                "/conferences/{id}/recording_start",
                vec![post(conf::recording_start)],
            ))
            .service(resource(
                "/conferences/{id}/recording_stop",
                vec![post(conf::recording_stop)],
            ))
            .service(resource(
                "/conferencecalls/{id}",
                vec![get(conf::get_call), delete(conf::kick_call)],
            ))
            .service(resource(
                "/conferencecalls/{id}/mute",
                vec![post(control::mute), delete(control::unmute)],
            ))
            .service(resource(
                "/conferencecalls/{id}/hold",
                vec![post(control::hold), delete(control::unhold)],
            ))
            .service(resource(
                "/conferencecalls/{id}/actions",
                vec![post(control::say_to_call)],
            ))
            .service(resource(
                "/conferences/{id}/actions",
                vec![post(control::say_to_conference)],
            ))
            .service(resource(
                "/conferences/{id}/conferencecalls",
                vec![post(control::dial)],
            ))
            .service(resource(
                "/conferences/{id}/summary",
                vec![get(usage::summary)],
            ))
            .service(resource("/recordings/{id}", vec![get(conf::get_recording)]))
            .service(resource(
                "/webhook_deliveries/{id}/retry",
                vec![post(customers::retry_delivery)],
            ))
            .configure(dialect_routes)
            .default_service(web::to(no_route)),
    )
    .service(get_only("/healthz", web::get().to(healthz)))
    .service(get_only("/metrics", web::get().to(metrics)))
    .service(get_only("/openapi.json", web::get().to(openapi::serve)))
    .service(console_routes())
    .service(xml_scope())
    .default_service(web::to(no_route));
}

/// The platform dialects' webhooks (§11), every hook of every platform that has them, and the
/// beep they play. They speak the platforms' own formats, not the JSON API's, so they are
/// documented in the README rather than in `/openapi.json`.
fn dialect_routes(cfg: &mut web::ServiceConfig) {
    for platform in crate::dialects::all() {
        let Some(webhooks) = platform.webhooks() else {
            continue;
        };
        for &(leaf, hook) in webhooks.hooks {
            let path = format!(
                "/{}/{{customer_id}}/conferences/{{conference_id}}/{leaf}",
                webhooks.segment
            );
            let handler = move |req: actix_web::HttpRequest,
                                state: web::Data<AppState>,
                                path: web::Path<(String, String)>,
                                payload: web::Payload| {
                hooks::handle(platform, hook, req, state, path, payload)
            };
            cfg.service(
                web::resource(path)
                    .route(web::post().to(handler))
                    .default_service(wrong_method(allow_of(&["post"]))),
            );
        }
    }
    cfg.service(
        web::resource("/sounds/beep.wav")
            .route(web::get().to(hooks::beep))
            .default_service(wrong_method(allow_of(&["get"]))),
    );
}

/// A resource read with GET only (a health check, metrics, a document, a console asset): any
/// other method answers 405 in the envelope, with `Allow: GET`.
fn get_only(path: &str, route: actix_web::Route) -> actix_web::Resource {
    web::resource(path)
        .route(route)
        .default_service(wrong_method(allow_of(&["get"])))
}

/// The console's page, its assets and its change stream (§12). Not part of the JSON API's
/// document: the stream is `text/event-stream` for the console, the rest are static files.
fn console_routes() -> actix_web::Scope {
    let page = get_only;
    web::scope("/console")
        .service(page("", web::get().to(console::index)))
        .service(page("/", web::get().to(console::index)))
        .service(page("/console.js", web::get().to(console::script)))
        .service(page("/charts.js", web::get().to(console::charts)))
        .service(page("/console.css", web::get().to(console::style)))
        .service(page("/events", web::get().to(console::events)))
        .default_service(web::to(no_route))
}

/// The XML API's routes.
fn xml_scope() -> actix_web::Scope {
    web::scope("/v1/account/{account_sid}/conf")
        .service(xml_resource("", "post", web::post().to(xml_api::create)))
        .service(xml_resource("/{sid}", "get", web::get().to(xml_api::get)))
        .service(xml_resource(
            "/{sid}/dispose",
            "post",
            web::post().to(xml_api::dispose),
        ))
        .service(xml_resource(
            "/{sid}/part",
            "get",
            web::get().to(xml_api::parts),
        ))
        .service(xml_resource(
            "/{sid}/part/{call_sid}/dispose",
            "post",
            web::post().to(xml_api::dispose_part),
        ))
        .default_service(web::to(xml_api::not_found))
}

/// A resource of the XML API: another method answers 405 with `Allow` in its XML error document.
fn xml_resource(path: &str, method: &str, route: actix_web::Route) -> actix_web::Resource {
    if let Ok(mut r) = REGISTERED.lock() {
        r.insert((
            method.to_string(),
            format!("/v1/account/{{account_sid}}/conf{path}"),
        ));
    }
    let allow = allow_of(&[method]);
    web::resource(path)
        .route(route)
        .default_service(web::to(move || {
            let allow = allow.clone();
            async move { xml_api::method_not_allowed(&allow) }
        }))
}
