//! The one mock receiver: a wiremock server that plays a customer's webhook endpoint, an
//! `onStatus` URL or the telephony platform (`/commands`). It answers by a script, logs every
//! request with when it came and what it was answered, and wakes waiters on each arrival, so
//! tests wait for exactly the requests they expect instead of polling or sleeping.

use super::signature;
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// One answer of the script.
#[derive(Debug, Clone)]
pub struct Reply {
    status: u16,
    delay: Option<Duration>,
    retry_after: Option<u64>,
}

impl Reply {
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            delay: None,
            retry_after: None,
        }
    }

    /// Answers only after `delay` (a slow or hanging receiver).
    pub fn delayed(mut self, delay: Duration) -> Reply {
        self.delay = Some(delay);
        self
    }

    pub fn retry_after(mut self, seconds: u64) -> Reply {
        self.retry_after = Some(seconds);
        self
    }

    fn template(&self) -> ResponseTemplate {
        let mut t = ResponseTemplate::new(self.status);
        if let Some(d) = self.delay {
            t = t.set_delay(d);
        }
        if let Some(s) = self.retry_after {
            t = t.insert_header("retry-after", s.to_string().as_str());
        }
        t
    }
}

/// A request the receiver got.
#[derive(Debug, Clone)]
pub struct Arrival {
    pub at: Instant,
    /// The status it was answered with.
    pub answered: u16,
    pub request: Request,
}

impl Arrival {
    pub fn path(&self) -> &str {
        self.request.url.path()
    }

    pub fn method(&self) -> &str {
        self.request.method.as_str()
    }

    /// A header's value, or "" when absent.
    pub fn header(&self, name: &str) -> String {
        self.request
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    }

    pub fn webhook_id(&self) -> String {
        self.header("webhook-id")
    }

    /// The body as JSON, `Null` when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.request.body).unwrap_or(Value::Null)
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.request.body).into_owned()
    }

    /// True when the Standard Webhooks signature verifies with `secret` (checked by the
    /// tests' own implementation, not confab's).
    pub fn signed_by(&self, secret: &str) -> bool {
        signature::verify(
            secret,
            &self.webhook_id(),
            &self.header("webhook-timestamp"),
            &self.request.body,
            &self.header("webhook-signature"),
        )
    }
}

/// What the receiver answers: queued replies first (each for a number of requests), then
/// the standing one.
struct Script {
    queued: VecDeque<(Reply, usize)>,
    standing: Reply,
}

struct Shared {
    script: Mutex<Script>,
    arrivals: Mutex<Vec<Arrival>>,
    /// Bumped on every arrival; waiters watch it.
    arrived: watch::Sender<u64>,
}

/// The responder mounted on the mock server: answers by the script and logs the arrival.
struct Recorder(Arc<Shared>);

impl Respond for Recorder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let reply = {
            let mut script = lock(&self.0.script);
            match script.queued.front_mut() {
                Some((reply, left)) => {
                    let reply = reply.clone();
                    *left -= 1;
                    if *left == 0 {
                        script.queued.pop_front();
                    }
                    reply
                }
                None => script.standing.clone(),
            }
        };
        lock(&self.0.arrivals).push(Arrival {
            at: Instant::now(),
            answered: reply.status,
            request: request.clone(),
        });
        self.0.arrived.send_modify(|n| *n += 1);
        reply.template()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub struct Receiver {
    server: MockServer,
    shared: Arc<Shared>,
}

impl Receiver {
    /// A receiver answering 200 to everything.
    pub async fn start() -> Receiver {
        Receiver::answering(Reply::status(200)).await
    }

    /// A receiver answering `reply` to everything (until told otherwise).
    pub async fn answering(reply: Reply) -> Receiver {
        // Not wiremock's pooled servers: a pooled port passes from test to test, and a late
        // retry from one test's confab must not land in another test's receiver.
        let server = MockServer::builder().start().await;
        let shared = Arc::new(Shared {
            script: Mutex::new(Script {
                queued: VecDeque::new(),
                standing: reply,
            }),
            arrivals: Mutex::new(Vec::new()),
            arrived: watch::channel(0).0,
        });
        Mock::given(wiremock::matchers::any())
            .respond_with(Recorder(shared.clone()))
            .mount(&server)
            .await;
        Receiver { server, shared }
    }

    /// The next `n` requests get `reply` (after replies queued before); then the standing one.
    pub fn answer_first(&self, n: usize, reply: Reply) -> &Receiver {
        lock(&self.shared.script).queued.push_back((reply, n));
        self
    }

    /// From now on every request gets `reply`.
    pub fn answer(&self, reply: Reply) {
        let mut script = lock(&self.shared.script);
        script.queued.clear();
        script.standing = reply;
    }

    /// Forgets what arrived so far (the script stays).
    pub fn clear(&self) {
        lock(&self.shared.arrivals).clear();
    }

    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// The URL of `path` on this receiver.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.uri())
    }

    pub fn port(&self) -> u16 {
        self.server.address().port()
    }

    /// Everything that arrived, in order.
    pub fn arrivals(&self) -> Vec<Arrival> {
        lock(&self.shared.arrivals).clone()
    }

    /// What arrived at `path`, in order.
    pub fn at(&self, path: &str) -> Vec<Arrival> {
        at(&lock(&self.shared.arrivals), path)
    }

    /// The JSON bodies that arrived at `path`, in order.
    pub fn bodies(&self, path: &str) -> Vec<Value> {
        self.at(path).iter().map(Arrival::json).collect()
    }

    /// How many requests arrived with each `webhook-id`.
    pub fn count_by_webhook_id(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for a in lock(&self.shared.arrivals).iter() {
            *counts.entry(a.webhook_id()).or_insert(0) += 1;
        }
        counts
    }

    /// Waits until `check` finds what it looks for in the arrivals, re-checking on every
    /// arrival (no polling); panics naming `what`, with what did arrive, after `limit`.
    pub async fn wait_for<T>(
        &self,
        limit: Duration,
        what: &str,
        mut check: impl FnMut(&[Arrival]) -> Option<T>,
    ) -> T {
        let deadline = tokio::time::Instant::now() + limit;
        let mut arrived = self.shared.arrived.subscribe();
        loop {
            // Marked seen before checking: an arrival during the check wakes the next wait.
            arrived.borrow_and_update();
            if let Some(found) = check(&lock(&self.shared.arrivals)) {
                return found;
            }
            if tokio::time::timeout_at(deadline, arrived.changed())
                .await
                .is_err()
            {
                panic!(
                    "timed out after {limit:?} waiting for: {what}; arrived: {}",
                    self.summary()
                );
            }
        }
    }

    /// Waits until at least `n` requests arrived at `path` and returns them.
    pub async fn wait_for_count(&self, path: &str, n: usize, limit: Duration) -> Vec<Arrival> {
        let what = format!("{n} requests at {path}");
        self.wait_for(limit, &what, |all| {
            let got = at(all, path);
            (got.len() >= n).then_some(got)
        })
        .await
    }

    /// Waits until at least `n` requests arrived (anywhere) and returns them all.
    pub async fn wait_for_total(&self, n: usize, limit: Duration) -> Vec<Arrival> {
        let what = format!("{n} requests");
        self.wait_for(limit, &what, |all| (all.len() >= n).then(|| all.to_vec()))
            .await
    }

    /// Asserts that nothing more than `n` requests arrive during `quiet`: a check that
    /// something does *not* happen cannot wait for an event, so it watches for a while (and
    /// fails at once if a request too many arrives).
    pub async fn assert_stays_at(&self, n: usize, quiet: Duration, why: &str) {
        let mut arrived = self.shared.arrived.subscribe();
        let deadline = tokio::time::Instant::now() + quiet;
        loop {
            arrived.borrow_and_update();
            let count = lock(&self.shared.arrivals).len();
            assert_eq!(count, n, "{why}; arrived: {}", self.summary());
            if tokio::time::timeout_at(deadline, arrived.changed())
                .await
                .is_err()
            {
                return;
            }
        }
    }

    /// Waits until the number of arrivals exceeds `seen` or `deadline` passes; true if it did.
    pub async fn arrival_beyond(&self, seen: usize, deadline: tokio::time::Instant) -> bool {
        let mut arrived = self.shared.arrived.subscribe();
        loop {
            arrived.borrow_and_update();
            if lock(&self.shared.arrivals).len() > seen {
                return true;
            }
            if tokio::time::timeout_at(deadline, arrived.changed())
                .await
                .is_err()
            {
                return false;
            }
        }
    }

    /// One line per arrival (the first 40, bodies cut at 200 characters), for failure messages.
    fn summary(&self) -> String {
        let all = lock(&self.shared.arrivals);
        let lines: Vec<String> = all
            .iter()
            .take(40)
            .map(|a| {
                let body: String = a.text().chars().take(200).collect();
                format!("{} {} -> {}: {body}", a.method(), a.path(), a.answered)
            })
            .collect();
        format!("{} request(s)\n{}", all.len(), lines.join("\n"))
    }
}

fn at(all: &[Arrival], path: &str) -> Vec<Arrival> {
    all.iter().filter(|a| a.path() == path).cloned().collect()
}
