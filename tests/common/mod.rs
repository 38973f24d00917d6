//! The test harness: starts the real confab (the same `App` production runs) on port 0 with a
//! temporary SQLite file, and talks HTTP to it.
#![allow(dead_code)]

use confab::{App, Config};
use serde_json::{json, Value};
use std::path::PathBuf;
use tokio::sync::oneshot;

pub const ADMIN_TOKEN: &str = "test-admin-token";

pub struct Server {
    pub base: String,
    pub client: reqwest::Client,
    pub dir: tempfile::TempDir,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

pub struct Customer {
    pub id: String,
    pub key: String,
    pub json: Value,
}

/// A config with the test defaults: temp database, port 0, admin token.
pub fn test_config(dir: &tempfile::TempDir) -> Config {
    let mut c = Config::with_db(dir.path().join("confab.db"));
    c.admin_token = Some(ADMIN_TOKEN.into());
    c.flows_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("flows");
    c.workers = Some(2);
    c
}

impl Server {
    pub async fn start() -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = test_config(&dir);
        Server::start_with(dir, config).await
    }

    pub async fn start_with(dir: tempfile::TempDir, config: Config) -> Server {
        let app = App::build(config).expect("confab builds");
        let addr = app.local_addr().expect("bound address");
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            app.run(async {
                let _ = rx.await;
            })
            .await
            .expect("confab runs");
        });
        Server {
            base: format!("http://{addr}"),
            client: reqwest::Client::new(),
            dir,
            stop: Some(tx),
            task: Some(task),
        }
    }

    /// Stops the server gracefully and hands back its directory (with the database).
    pub async fn stop(mut self) -> tempfile::TempDir {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        std::mem::replace(&mut self.dir, dir)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn create_customer(&self, name: &str) -> Customer {
        self.create_customer_with(name, "").await
    }

    pub async fn create_customer_with(&self, name: &str, webhook_uri: &str) -> Customer {
        let res = self
            .client
            .post(self.url("/v1.0/customers"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"name": name, "webhook_uri": webhook_uri}))
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), 200);
        let json: Value = res.json().await.expect("json");
        Customer {
            id: json["id"].as_str().expect("id").to_string(),
            key: json["api_key"].as_str().expect("api_key").to_string(),
            json,
        }
    }

    /// Posts a signed platform event and returns status and JSON answer.
    pub async fn event(&self, id: &str, kind: &str, data: Value) -> (u16, Value) {
        let body = json!({"id": id, "type": kind, "data": data})
            .to_string()
            .into_bytes();
        let req = sign_event(
            self.client.post(self.url("/v1.0/platform/events")),
            id,
            &body,
            "valid",
        );
        let res = req
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("request");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// Sends a request as `key` (or unauthenticated) and returns status and JSON body.
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
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// The seed's example body (the welcome and goodbye talk actions).
pub fn seed_conference_body() -> Value {
    json!({
        "type": "conference",
        "name": "test conference",
        "detail": "test conference for example.",
        "data": {},
        "timeout": 0,
        "pre_actions": [{
            "id": "00000000-0000-0000-0000-000000000000",
            "next_id": "00000000-0000-0000-0000-000000000000",
            "type": "talk",
            "option": {"text": "Hello. Welcome to the test conference.", "gender": "female", "language": "en-US"}
        }],
        "post_actions": [{
            "id": "00000000-0000-0000-0000-000000000000",
            "next_id": "00000000-0000-0000-0000-000000000000",
            "type": "talk",
            "option": {"text": "The conference has closed. Thank you. Good bye.", "gender": "female", "language": "en-US"}
        }]
    })
}

/// The platform secret the test servers are configured with.
pub const PLATFORM_SECRET: &str = "whsec_dGVzdC1wbGF0Zm9ybS1zZWNyZXQtMDEyMzQ1Njc4OQ==";

/// Adds Standard Webhooks headers to a platform event request. `mode` is `valid`, `none`
/// (no headers), `wrong` (a signature by another key) or `stale` (signed 10 minutes ago).
pub fn sign_event(
    req: reqwest::RequestBuilder,
    id: &str,
    body: &[u8],
    mode: &str,
) -> reqwest::RequestBuilder {
    use base64::Engine as _;
    use hmac::Mac;
    if mode == "none" {
        return req;
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64;
    let ts = if mode == "stale" { now - 600 } else { now };
    let key = if mode == "wrong" {
        b"some-other-key".to_vec()
    } else {
        base64::engine::general_purpose::STANDARD
            .decode(PLATFORM_SECRET.trim_start_matches("whsec_"))
            .expect("test secret is base64")
    };
    // An independent implementation of the scheme, so the server's verifier is really tested.
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).expect("any key length");
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(body);
    let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    req.header("webhook-id", id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", format!("v1,{sig}"))
}

impl Server {
    /// A server for a scenario file; `config` may override settings by their flag names.
    pub async fn start_scenario(config: Option<&Value>, peer: &str) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut c = test_config(&dir);
        c.platform_secret = Some(PLATFORM_SECRET.into());
        c.platform_url = Some(peer.to_string());
        c.webhook_allow_private = true;
        if let Some(cfg) = config.and_then(Value::as_object) {
            for (k, v) in cfg {
                match (k.as_str(), v) {
                    ("idle_timeout", Value::Number(n)) => {
                        c.idle_timeout = n.as_u64().unwrap_or(600)
                    }
                    ("kick_grace", Value::Number(n)) => c.kick_grace = n.as_u64().unwrap_or(30),
                    ("platform_secret", Value::Null) => c.platform_secret = None,
                    (other, _) => panic!("scenario config {other:?} is not supported"),
                }
            }
        }
        Server::start_with(dir, c).await
    }
}

/// Polls `check` every 50 ms until it returns `Some`, or panics after `limit`.
pub async fn eventually<T, F, Fut>(limit: std::time::Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Checks a Standard Webhooks signature independently of confab's own code.
pub fn signature_valid(secret: &str, id: &str, ts: &str, body: &[u8], header: &str) -> bool {
    use base64::Engine as _;
    use hmac::Mac;
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .expect("secret is base64");
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).expect("any key length");
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(body);
    let expected = format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    );
    header.split(' ').any(|s| s == expected)
}
