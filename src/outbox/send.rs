//! One delivery attempt of one message: the target check, the Standard Webhooks headers, the
//! HTTP request and what its answer means.

use super::{classify, Attempt, DeliverySettings, ATTEMPT_TIMEOUT};
use crate::domain::dialect::Connections;
use crate::domain::signature;
use crate::domain::timestamp::Clock;
use crate::domain::CustomerId;
use crate::store::MessageKind;
use crate::store::{OutboxView, StoredMessage};
use std::collections::HashMap;
use std::time::Duration;

/// Bytes of a receiver's answer read (and thrown away) so its connection can be reused.
const MAX_ANSWER_READ: usize = 64 * 1024;
/// How long the answer's body is read once its status has come (never past the attempt's
/// timeout): the status decides the outcome, and a receiver that sends its body slowly must
/// not hold the lane for the rest of the attempt's 10 s.
const ANSWER_READ_TIME: Duration = Duration::from_secs(1);

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
    /// Platform connections by customer, for REST calls to the customers' platform accounts.
    pub connections: HashMap<CustomerId, Result<Connections, String>>,
}

/// What one attempt came to, and what it says about the receiver (see `Lanes::note`):
/// `Some(true)` when it did not answer in time, could not be reached or answered 5xx,
/// `Some(false)` when the message was delivered, `None` when the attempt says neither (a 4xx
/// or 429 answer, a refused target, credentials or keys that could not be read).
pub struct Sent {
    pub attempt: Attempt,
    pub failing: Option<bool>,
}

impl Sent {
    /// An attempt that never reached the receiver and says nothing about it.
    fn not_sent(attempt: Attempt) -> Sent {
        Sent {
            attempt,
            failing: None,
        }
    }
}

/// Attempts one message.
pub async fn attempt(
    client: &reqwest::Client,
    store: &OutboxView,
    clock: &dyn Clock,
    settings: &DeliverySettings,
    run: &mut RunContext,
    m: &StoredMessage,
) -> Sent {
    // Customers choose webhook targets and platform API URLs, so both are held to public
    // addresses; the operator's own platform URL is not.
    if m.kind != MessageKind::Command && !settings.allow_private {
        if !run.targets.contains_key(&m.url) {
            let checked = crate::outbox::target::check_public(&m.url).await;
            run.targets.insert(m.url.clone(), checked);
        }
        if let Some(Err(e)) = run.targets.get(&m.url) {
            return Sent::not_sent(Attempt::Failed {
                status: None,
                error: e.clone(),
            });
        }
    }
    // Every stored method was written from an `HttpMethod`; a row edited by hand to another
    // is sent as POST, as before.
    let method = crate::actions::HttpMethod::parse(&m.method)
        .map(super::courier::reqwest_method)
        .unwrap_or(reqwest::Method::POST);
    let req = client
        .request(method, &m.url)
        .header(reqwest::header::CONTENT_TYPE, m.content_type.as_str());
    let req = match m.kind {
        MessageKind::PlatformApi => match credentials(store, run, m).await {
            Ok(auth) => req.header(reqwest::header::AUTHORIZATION, auth),
            Err(attempt) => return Sent::not_sent(attempt),
        },
        MessageKind::Command | MessageKind::Webhook => {
            match keys(store, clock, settings, run, m).await {
                Ok(keys) => signed(
                    req,
                    &keys,
                    &m.id,
                    clock.now().unix_seconds(),
                    m.body.as_bytes(),
                ),
                Err(e) => {
                    return Sent::not_sent(Attempt::Retry {
                        status: None,
                        error: e.clone(),
                        retry_after: None,
                    })
                }
            }
        }
    };
    exchange(req.body(m.body.clone()), m).await
}

/// Sends the request and classifies the answer by its status. The answer's body is read
/// only briefly (see `read_answer`), so a receiver that trickles it holds neither the lane nor
/// the connection for the attempt's whole timeout.
async fn exchange(req: reqwest::RequestBuilder, m: &StoredMessage) -> Sent {
    let started = tokio::time::Instant::now();
    let res = match tokio::time::timeout(ATTEMPT_TIMEOUT, req.send()).await {
        Ok(Ok(res)) => res,
        Ok(Err(e)) => {
            let error = if e.is_timeout() {
                "timed out".to_string()
            } else {
                format!("connection error: {}", e.without_url())
            };
            return unreachable(error);
        }
        Err(_) => return unreachable("timed out".to_string()),
    };
    let retry_after = res
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let status = res.status().as_u16();
    let deadline = (tokio::time::Instant::now() + ANSWER_READ_TIME).min(started + ATTEMPT_TIMEOUT);
    let answer = read_answer(res, deadline).await;
    let failing = match status {
        200..=299 => Some(false),
        500..=599 => Some(true),
        _ => None,
    };
    let attempt = if m.kind == MessageKind::PlatformApi && gone(m, status, &answer) {
        Attempt::Delivered(status)
    } else {
        classify(status, retry_after)
    };
    Sent { attempt, failing }
}

/// An attempt that got no answer: retried, and the receiver counts as failing.
fn unreachable(error: String) -> Sent {
    Sent {
        attempt: Attempt::Retry {
            status: None,
            error,
            retry_after: None,
        },
        failing: Some(true),
    }
}

/// Reads the answer's body until it ends, `MAX_ANSWER_READ` bytes or `deadline`, whichever
/// comes first. A body read to its end hands the connection back to the pool for the next
/// message; one cut short is dropped here, and hyper then closes its connection rather than
/// reuse it (only a connection whose answer was read whole goes back to the pool), so a
/// receiver that trickles or floods its answer keeps no connection of ours.
async fn read_answer(mut res: reqwest::Response, deadline: tokio::time::Instant) -> Vec<u8> {
    let mut answer = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, res.chunk()).await {
            Ok(Ok(Some(chunk))) if answer.len() + chunk.len() <= MAX_ANSWER_READ => {
                answer.extend_from_slice(&chunk);
            }
            Ok(Ok(None)) => return answer,
            Ok(Ok(Some(_))) => {
                tracing::debug!(url = %res.url().path(), "outbox: answer over 64 KiB; connection closed");
                return answer;
            }
            Ok(Err(_)) => return answer,
            Err(_) => {
                tracing::debug!(url = %res.url().path(), "outbox: answer's body too slow; connection closed");
                return answer;
            }
        }
    }
}

/// Whether a platform API's failure says the call (or its recording) is already gone, so the
/// kick or stop has nothing left to do: the request's platform says (`Platform::gone`).
fn gone(m: &StoredMessage, status: u16, answer: &[u8]) -> bool {
    crate::dialects::of_message(m).is_some_and(|p| p.gone(status, answer))
}

/// The Standard Webhooks headers of message `id` sent at `unix_now` with `body`: id,
/// timestamp and one signature per key (none without keys). The outbox's messages and the
/// courier's sync webhooks are signed by this one function.
pub(crate) fn signed(
    req: reqwest::RequestBuilder,
    keys: &[Vec<u8>],
    id: &str,
    unix_now: i64,
    body: &[u8],
) -> reqwest::RequestBuilder {
    let mut req = req
        .header("webhook-id", id)
        .header("webhook-timestamp", unix_now.to_string());
    if !keys.is_empty() {
        let sigs: Vec<String> = keys
            .iter()
            .map(|k| signature::sign(k, id, unix_now, body))
            .collect();
        req = req.header("webhook-signature", sigs.join(" "));
    }
    req
}

/// The `Authorization` of a platform API call, from the customer's connection as it is now
/// (read once per run), as the request's platform makes it. A connection that was removed
/// (or moved to another API) fails the message for good; a store that cannot be read retries
/// it.
async fn credentials(
    store: &OutboxView,
    run: &mut RunContext,
    m: &StoredMessage,
) -> Result<String, Attempt> {
    let failed = |error: String| Attempt::Failed {
        status: None,
        error,
    };
    let Some(customer) = m.customer_id else {
        return Err(failed("platform API call without a customer".into()));
    };
    let Some(platform) = crate::dialects::of_message(m) else {
        return Err(failed(format!("unknown platform of {:?}", m.event_type)));
    };
    if let std::collections::hash_map::Entry::Vacant(slot) = run.connections.entry(customer) {
        let read = store
            .read(move |db| db.customer(customer))
            .await
            .map(|c| c.map(|c| c.connections).unwrap_or_default())
            .map_err(|e| e.to_string());
        slot.insert(read);
    }
    match run.connections.get(&customer) {
        Some(Ok(connections)) => platform.authorization(m, connections).map_err(failed),
        Some(Err(e)) => Err(Attempt::Retry {
            status: None,
            error: e.clone(),
            retry_after: None,
        }),
        None => Err(failed("customer not read".into())),
    }
}

/// The signing keys for a message: the platform secret for commands; the customer's current
/// secret, and during a rotation the previous one too, for notifications (read once per run).
async fn keys(
    store: &OutboxView,
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
