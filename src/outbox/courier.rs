//! The courier: sends the `webhook_send` actions that wait for their answer (`sync`), outside
//! the outbox and within the call's answer time.

use crate::actions::HttpMethod;
use std::time::Duration;

/// A `sync` webhook an action asked for, sent after the event's changes commit and before the
/// call gets its answer.
#[derive(Debug, Clone)]
pub struct WebhookRequest {
    pub uri: String,
    pub method: HttpMethod,
    pub data_type: String,
    pub body: String,
    /// Signed as every customer webhook is (§7.2), with the customer's secrets.
    pub signing: Signing,
}

/// What signs one sync webhook: its `webhook-id` and `webhook-timestamp`, and the customer's
/// signing keys (its secret, and the previous one during a rotation). The keys never show in
/// `Debug`.
#[derive(Clone)]
pub struct Signing {
    pub id: String,
    pub timestamp: i64,
    pub keys: Vec<Vec<u8>>,
}

impl std::fmt::Debug for Signing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signing")
            .field("id", &self.id)
            .field("timestamp", &self.timestamp)
            .field("keys", &format_args!("[{} redacted]", self.keys.len()))
            .finish()
    }
}
/// How long a `webhook_send` action with `sync: true` may hold up the call's answer (§4).
pub const SYNC_WEBHOOK_TIMEOUT: Duration = Duration::from_secs(3);

/// A URL fit for logs: scheme, host and path, without the query or credentials, which may carry
/// secrets.
pub fn redact(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => format!(
            "{}://{}{}",
            u.scheme(),
            u.host_str().unwrap_or(""),
            u.path()
        ),
        Err(_) => "<invalid url>".to_string(),
    }
}

/// The HTTP client for outbound requests; cheap to clone (one connection pool).
#[derive(Clone)]
pub struct Courier {
    client: reqwest::Client,
}

impl Default for Courier {
    fn default() -> Self {
        Courier::new()
    }
}

impl Courier {
    pub fn new() -> Courier {
        let client = reqwest::Client::builder()
            .user_agent(concat!("confab/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(3))
            // Redirects could lead a flow's webhook somewhere its author did not name.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Courier { client }
    }

    /// Sends an action's webhook. Failures are logged: an unreachable flow webhook must not
    /// stop the call. Action lists are written by customers, so their targets are checked like
    /// every customer webhook's.
    pub async fn send_action_webhook(&self, w: &WebhookRequest, allow_private: bool) {
        if !allow_private {
            if let Err(e) = crate::outbox::target::check_public(&w.uri).await {
                tracing::warn!(uri = %redact(&w.uri), error = %e, "action webhook refused");
                return;
            }
        }
        let method = reqwest_method(w.method);
        let mut req = self
            .client
            .request(method, &w.uri)
            .timeout(SYNC_WEBHOOK_TIMEOUT)
            .header(reqwest::header::CONTENT_TYPE, w.data_type.as_str());
        let s = &w.signing;
        req = super::send::signed(req, &s.keys, &s.id, s.timestamp, w.body.as_bytes());
        if !w.body.is_empty() {
            req = req.body(w.body.clone());
        }
        match req.send().await {
            Ok(res) if res.status().is_success() => {
                tracing::debug!(uri = %redact(&w.uri), status = res.status().as_u16(), "action webhook sent")
            }
            Ok(res) => {
                tracing::warn!(uri = %redact(&w.uri), status = res.status().as_u16(), "action webhook refused")
            }
            Err(e) => {
                tracing::warn!(uri = %redact(&w.uri), error = %e.without_url(), "action webhook failed")
            }
        }
    }
}

/// The request method of a typed one: every method an action may name is one reqwest has.
pub(crate) fn reqwest_method(m: HttpMethod) -> reqwest::Method {
    match m {
        HttpMethod::Post => reqwest::Method::POST,
        HttpMethod::Get => reqwest::Method::GET,
        HttpMethod::Put => reqwest::Method::PUT,
        HttpMethod::Delete => reqwest::Method::DELETE,
    }
}
