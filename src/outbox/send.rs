//! One delivery attempt of one message: the target check, the Standard Webhooks headers, the
//! HTTP request and what its answer means.

use super::{classify, Attempt, DeliverySettings, ATTEMPT_TIMEOUT};
use crate::domain::timestamp::Clock;
use crate::domain::CustomerId;
use crate::outbox::signature;
use crate::store::MessageKind;
use crate::store::{Store, StoredMessage};
use std::collections::HashMap;

/// Bytes of a receiver's answer read (and thrown away) so its connection can be reused.
const MAX_ANSWER_READ: usize = 64 * 1024;

/// The HTTP client every attempt uses: kept-alive connections, so a busy conference's
/// messages follow each other over one connection without a new handshake each.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent(concat!("confab/", env!("CARGO_PKG_VERSION")))
        .timeout(ATTEMPT_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

/// What a run of one key's messages shares: signing keys and target checks are looked up once
/// per run, not once per message.
#[derive(Default)]
pub struct RunContext {
    /// Signing keys by customer, or why they could not be read (the attempt is then
    /// retried). A key's messages mix platform commands and customer notifications.
    pub customer_keys: HashMap<CustomerId, Result<Vec<Vec<u8>>, String>>,
    /// Target checks already made in this run, by URL.
    pub targets: HashMap<String, Result<(), String>>,
}

/// Attempts one message.
pub async fn attempt(
    client: &reqwest::Client,
    store: &Store,
    clock: &dyn Clock,
    settings: &DeliverySettings,
    run: &mut RunContext,
    m: &StoredMessage,
) -> Attempt {
    if m.kind == MessageKind::Webhook && !settings.allow_private {
        if !run.targets.contains_key(&m.url) {
            let checked = crate::outbox::target::check_public(&m.url).await;
            run.targets.insert(m.url.clone(), checked);
        }
        if let Some(Err(e)) = run.targets.get(&m.url) {
            return Attempt::Failed {
                status: None,
                error: e.clone(),
            };
        }
    }
    let keys = match keys(store, clock, settings, run, m).await {
        Ok(k) => k,
        Err(e) => {
            return Attempt::Retry {
                status: None,
                error: e.clone(),
                retry_after: None,
            }
        }
    };
    let unix_now = clock.now().unix_seconds();
    let method = reqwest::Method::from_bytes(m.method.as_bytes()).unwrap_or(reqwest::Method::POST);
    let mut req = client
        .request(method, &m.url)
        .header(reqwest::header::CONTENT_TYPE, m.content_type.as_str())
        .header("webhook-id", m.id.as_str())
        .header("webhook-timestamp", unix_now.to_string());
    if !keys.is_empty() {
        let sigs: Vec<String> = keys
            .iter()
            .map(|k| signature::sign(k, &m.id, unix_now, m.body.as_bytes()))
            .collect();
        req = req.header("webhook-signature", sigs.join(" "));
    }
    match req.body(m.body.clone()).send().await {
        Ok(mut res) => {
            let retry_after = res
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok());
            let status = res.status().as_u16();
            // Reading a small answer to its end hands the connection back to the pool for the
            // next message; a large one is cut off rather than read.
            let mut read = 0usize;
            while let Ok(Some(chunk)) = res.chunk().await {
                read += chunk.len();
                if read > MAX_ANSWER_READ {
                    break;
                }
            }
            classify(status, retry_after)
        }
        Err(e) => Attempt::Retry {
            status: None,
            error: if e.is_timeout() {
                "timed out".to_string()
            } else {
                format!("connection error: {}", e.without_url())
            },
            retry_after: None,
        },
    }
}

/// The signing keys for a message: the platform secret for commands; the customer's current
/// secret, and during a rotation the previous one too, for notifications (read once per run).
async fn keys(
    store: &Store,
    clock: &dyn Clock,
    settings: &DeliverySettings,
    run: &mut RunContext,
    m: &StoredMessage,
) -> Result<Vec<Vec<u8>>, String> {
    if m.kind == MessageKind::Command {
        return Ok(settings.platform_key.clone().into_iter().collect());
    }
    let Some(customer) = m.customer_id else {
        return Ok(Vec::new());
    };
    if let Some(known) = run.customer_keys.get(&customer) {
        return known.clone();
    }
    let now = clock.now();
    let read = store
        .read(move |db| db.signing_secrets(customer, now))
        .await
        .map_err(|e| e.to_string())
        .and_then(|secrets| {
            secrets
                .iter()
                .map(|s| signature::secret_key(s).map_err(|e| e.to_string()))
                .collect::<Result<Vec<_>, _>>()
        });
    run.customer_keys.insert(customer, read.clone());
    read
}
