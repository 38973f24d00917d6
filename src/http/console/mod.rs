//! The flow authors' and operators' console (§12): static files embedded in the binary,
//! served at `/console`, and the stream of changes it listens to.

use super::auth::Tenant;
use super::AppState;
use actix_web::{web, HttpResponse};
use std::sync::OnceLock;
use std::time::Duration;

const INDEX: &str = include_str!("index.html");
const SCRIPT: &str = include_str!("console.js");
const CHARTS: &str = include_str!("charts.js");
const STYLE: &str = include_str!("console.css");

/// How often an idle stream sends a comment, so proxies keep it open and a dead client is
/// noticed.
const KEEPALIVE: Duration = Duration::from_secs(15);

fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(("cache-control", "no-cache"))
        // Everything the page needs is served here: no script, style or frame from elsewhere.
        .insert_header((
            "content-security-policy",
            "default-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
        ))
        .insert_header(("x-content-type-options", "nosniff"))
        .body(body)
}

/// The page, with the simulator offering every platform dialect there is (written in once).
pub async fn index() -> HttpResponse {
    static PAGE: OnceLock<String> = OnceLock::new();
    let page = PAGE.get_or_init(|| {
        let options: String = crate::dialects::all()
            .filter_map(|p| p.webhooks())
            .map(|w| format!("<option>{}</option>", w.segment))
            .collect();
        INDEX.replace("<!-- dialects -->", &options)
    });
    asset("text/html; charset=utf-8", page)
}

pub async fn script() -> HttpResponse {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

/// The charts (§16), a script of their own loaded before `console.js`.
pub async fn charts() -> HttpResponse {
    asset("text/javascript; charset=utf-8", CHARTS)
}

pub async fn style() -> HttpResponse {
    asset("text/css; charset=utf-8", STYLE)
}

/// `GET /console/events` (Bearer key): server-sent events, one `change` per change to the
/// customer's conferences on this node (`{"conference_id", "what"}`), a comment every 15 s.
/// A console that falls behind gets `resync` and reloads.
pub async fn events(tenant: Tenant, state: web::Data<AppState>) -> HttpResponse {
    let receiver = state.engine.subscribe_changes();
    let closing = state.engine.closing();
    let stream = futures_util::stream::unfold(
        (receiver, closing, tenant.0, true),
        |(mut rx, mut closing, customer, first)| async move {
            if first {
                let hello = web::Bytes::from_static(b"retry: 2000\nevent: hello\ndata: {}\n\n");
                return Some((
                    Ok::<_, actix_web::Error>(hello),
                    (rx, closing, customer, false),
                ));
            }
            loop {
                if *closing.borrow() {
                    return None;
                }
                let text = tokio::select! {
                    _ = closing.changed() => return None,
                    got = rx.recv() => match got {
                        Ok(c) if c.customer == customer => format!(
                            "event: change\ndata: {{\"conference_id\":\"{}\",\"what\":\"{}\"}}\n\n",
                            c.conference, c.what.as_str()
                        ),
                        Ok(_) => continue,
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                            "event: resync\ndata: {}\n\n".to_string()
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                    },
                    () = tokio::time::sleep(KEEPALIVE) => ": keepalive\n\n".to_string(),
                };
                return Some((Ok(web::Bytes::from(text)), (rx, closing, customer, false)));
            }
        },
    );
    HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header(("cache-control", "no-cache"))
        .insert_header(("x-accel-buffering", "no"))
        .streaming(stream)
}
