//! The one server builder: the real confab (the same `App` production runs) on port 0 with a
//! database of its own (a temporary SQLite file, or a fresh PostgreSQL database when the suite
//! runs on PostgreSQL) and a clock the test can move, configured by a closure.

use super::clock::TestClock;
use super::database::TestDb;
use super::events::EventPost;
use super::signature::PLATFORM_SECRET;
use super::wait::poll_until;
use confab::{App, Config};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{oneshot, Notify};

pub const ADMIN_TOKEN: &str = "test-admin-token";

/// Configuration: platform events must be signed with `PLATFORM_SECRET`.
pub fn signed(c: &mut Config) {
    c.platform_secret = Some(PLATFORM_SECRET.into());
}

/// Configuration: webhooks may go to the tests' receivers, which listen on 127.0.0.1.
pub fn allow_private(c: &mut Config) {
    c.webhook_allow_private = true;
}

/// A running confab.
pub struct TestServer {
    pub base: String,
    pub client: reqwest::Client,
    dir: tempfile::TempDir,
    db: TestDb,
    clock: Arc<TestClock>,
    /// The notifiers of the outbox dispatcher and the deadline scheduler, so moving the
    /// clock takes effect at once rather than at their next look (up to a second later).
    wakers: (Arc<Notify>, Arc<Notify>),
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// A stopped server: its directory (with the database) and its clock, to start again on.
pub struct Stopped {
    pub dir: tempfile::TempDir,
    pub db: TestDb,
    pub clock: Arc<TestClock>,
}

pub struct Customer {
    pub id: String,
    pub key: String,
    /// The webhook secret (`whsec_...`) its notifications are signed with.
    pub secret: String,
}

impl TestServer {
    /// A server with the test defaults (`Stopped::start_with`).
    pub async fn start() -> TestServer {
        TestServer::start_with(|_| {}).await
    }

    /// A server with the test defaults changed by `configure`.
    pub async fn start_with(configure: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().expect("temp dir");
        let stopped = Stopped {
            db: TestDb::new(dir.path()).await,
            dir,
            clock: Arc::new(TestClock::default()),
        };
        stopped.start_with(configure).await
    }

    /// Stops gracefully (in-flight requests are answered) and hands back the directory.
    pub async fn stop(mut self) -> Stopped {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("temp dir"));
        Stopped {
            dir,
            db: self.db.clone(),
            clock: self.clock.clone(),
        }
    }

    /// Stops and starts again on the same database and clock, configured afresh.
    pub async fn restart_with(self, configure: impl FnOnce(&mut Config)) -> TestServer {
        self.stop().await.start_with(configure).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// The database this server runs on.
    pub fn db(&self) -> &TestDb {
        &self.db
    }

    /// What confab's clock says now (µs since the epoch), as the test has moved it.
    pub fn now_micros(&self) -> i64 {
        confab::domain::timestamp::Clock::now(&*self.clock).0
    }

    /// Moves confab's clock forward and wakes what waits on it: deadlines and retries that
    /// come due within `by` are handled now, without the test sleeping.
    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
        self.wakers.0.notify_one();
        self.wakers.1.notify_one();
    }

    /// The outbox driver: wakes the dispatcher so it delivers what is due now, and returns once
    /// the outbox has nothing due — every message whose attempt time has come (and whose
    /// conference's earlier messages are done) has been sent and its outcome recorded. After
    /// it, what a receiver got and what the delivery log shows are final for now, without
    /// polling either or sleeping to see that nothing more comes. A retry scheduled later stays
    /// pending: `advance_and_drain` brings it due. Nothing announces a recorded outcome, so
    /// this watches the outbox table (the same condition a claim uses, lease aside).
    pub async fn drain_outbox(&self) {
        poll_until(
            Duration::from_secs(10),
            "the outbox has nothing due",
            || async {
                self.wakers.0.notify_one();
                let now = confab::domain::timestamp::Clock::now(&*self.clock).0;
                let due = self.db.query_i64(&due_messages(now)).await;
                (due == 0).then_some(())
            },
        )
        .await
    }

    /// Moves the clock forward by `by` (`advance`) and delivers what that brought due
    /// (`drain_outbox`): a retry's attempt, without the test sleeping through its delay.
    pub async fn advance_and_drain(&self, by: Duration) {
        self.advance(by);
        self.drain_outbox().await;
    }

    pub async fn create_customer(&self, name: &str) -> Customer {
        self.create_customer_with(name, "").await
    }

    /// A customer whose notifications go to `webhook_uri` ("" for none).
    pub async fn create_customer_with(&self, name: &str, webhook_uri: &str) -> Customer {
        let (status, json) = self
            .call(
                "POST",
                "/v1.0/customers",
                Some(ADMIN_TOKEN),
                Some(json!({"name": name, "webhook_uri": webhook_uri})),
            )
            .await;
        assert_eq!(status, 200, "{json}");
        let text = |k: &str| {
            json[k]
                .as_str()
                .unwrap_or_else(|| panic!("{k}"))
                .to_string()
        };
        Customer {
            id: text("id"),
            key: text("api_key"),
            secret: text("webhook_secret"),
        }
    }

    /// Sends a request as `key` (or unauthenticated) and returns status and JSON body (the
    /// text as a JSON string when it is not JSON, `Null` when empty).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.client.request(method, self.url(path));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("request");
        let status = res.status().as_u16();
        let text = res.text().await.expect("body");
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, json)
    }

    /// Creates a conference, which must succeed, and returns it.
    pub async fn create_conference(&self, key: &str, body: Value) -> Value {
        let (status, conf) = self
            .call("POST", "/v1.0/conferences", Some(key), Some(body))
            .await;
        assert_eq!(status, 200, "{conf}");
        conf
    }

    /// A conference as the JSON API shows it now.
    pub async fn conference(&self, key: &str, id: &str) -> Value {
        let path = format!("/v1.0/conferences/{id}");
        self.call("GET", &path, Some(key), None).await.1
    }

    /// Waits (polling: no event announces it) until a conference has `status`.
    pub async fn wait_for_status(&self, key: &str, id: &str, status: &str) -> Value {
        let what = format!("conference {id} {status}");
        poll_until(Duration::from_secs(10), &what, || async {
            let c = self.conference(key, id).await;
            (c["status"] == status).then_some(c)
        })
        .await
    }

    /// Waits until the delivery log (`GET /v1.0/webhook_deliveries?{query}`, first page)
    /// satisfies `check`, and returns it. An attempt's outcome is recorded after the receiver
    /// has answered and nothing announces it, so this polls the log.
    pub async fn wait_for_deliveries(
        &self,
        key: &str,
        query: &str,
        what: &str,
        check: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let path = format!("/v1.0/webhook_deliveries?{query}");
        poll_until(Duration::from_secs(10), what, || async {
            let (_, log) = self.call("GET", &path, Some(key), None).await;
            let entries = log["result"].as_array()?;
            check(entries).then(|| entries.clone())
        })
        .await
    }

    /// Waits until the delivery log shows an entry `pick` accepts, and returns it.
    pub async fn wait_for_delivery(
        &self,
        key: &str,
        query: &str,
        what: &str,
        pick: impl Fn(&Value) -> bool,
    ) -> Value {
        let entries = self
            .wait_for_deliveries(key, query, what, |all| all.iter().any(&pick))
            .await;
        entries.into_iter().find(|d| pick(d)).expect("just seen")
    }

    /// A platform event `{"id", "type", "data"}`, signed validly unless changed.
    pub fn event(&self, id: &str, kind: &str, data: Value) -> EventPost {
        self.post_event(&EventPost::envelope(id, kind, data))
    }

    /// Any event envelope, posted as is.
    pub fn post_event(&self, envelope: &Value) -> EventPost {
        EventPost::new(&self.client, &self.base, envelope)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

impl Stopped {
    /// Starts confab on this directory and clock with the test defaults — the database in
    /// the directory, port 0, the admin token, the shipped flows, two workers, no platform
    /// secret — changed by `configure`.
    pub async fn start_with(self, configure: impl FnOnce(&mut Config)) -> TestServer {
        let mut config = test_config(&self.db);
        configure(&mut config);
        let app = App::build_with_clock(config, self.clock.clone()).expect("confab builds");
        let addr = app.local_addr().expect("bound address");
        let wakers = app.engine().wakers();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            app.run(async {
                let _ = rx.await;
            })
            .await
            .expect("confab runs");
        });
        TestServer {
            base: format!("http://{addr}"),
            client: reqwest::Client::new(),
            dir: self.dir,
            db: self.db,
            clock: self.clock,
            wakers,
            stop: Some(tx),
            task: Some(task),
        }
    }
}

/// How many outbox messages are due at `now` (microseconds): pending, their attempt time come,
/// and first of their ordering key's pending ones (a later one waits for it). Plain SQL that
/// both backends run.
fn due_messages(now: i64) -> String {
    format!(
        "SELECT COUNT(*) FROM outbox o WHERE o.status = 'pending' AND o.next_attempt_at <= {now} \
         AND o.seq = (SELECT MIN(p.seq) FROM outbox p \
                      WHERE p.ordering_key = o.ordering_key AND p.status = 'pending')"
    )
}

fn test_config(db: &TestDb) -> Config {
    let mut c = Config::with_db(db.database());
    c.admin_token = Some(ADMIN_TOKEN.into());
    c.flows_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("flows");
    c.workers = Some(2);
    c
}
