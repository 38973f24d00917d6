//! Restarts of the real binary, killed with SIGKILL: deadlines that passed while it was down
//! fire at once, and commands not yet delivered are delivered after the restart.

mod common;

use common::{eventually, sign_event, ADMIN_TOKEN, PLATFORM_SECRET};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

struct Process {
    child: Child,
    base: String,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `confab serve` on a free port and waits for it to say where it listens.
fn spawn(db: &Path, platform: &str) -> Process {
    let mut child = Command::new(env!("CARGO_BIN_EXE_confab"))
        .args(["serve", "--bind", "127.0.0.1:0", "--db"])
        .arg(db)
        .args(["--flows-dir", concat!(env!("CARGO_MANIFEST_DIR"), "/flows")])
        .args([
            "--platform-url",
            platform,
            "--platform-secret",
            PLATFORM_SECRET,
            "--admin-token",
            ADMIN_TOKEN,
        ])
        .args(["--kick-grace", "1", "--command-retry-schedule", "0,1"])
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .expect("confab starts");
    let stderr = child.stderr.take().expect("stderr piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("addr=").nth(1) {
                let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_string());
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("confab reports its address");
    Process {
        child,
        base: format!("http://{addr}"),
    }
}

async fn call(
    client: &reqwest::Client,
    p: &Process,
    method: reqwest::Method,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> Value {
    let mut req = client
        .request(method, format!("{}{path}", p.base))
        .bearer_auth(key);
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().await.unwrap().json().await.unwrap()
}

async fn event(client: &reqwest::Client, p: &Process, id: &str, kind: &str, data: Value) {
    let body = json!({"id": id, "type": kind, "data": data})
        .to_string()
        .into_bytes();
    let req = sign_event(
        client.post(format!("{}/v1.0/platform/events", p.base)),
        id,
        &body,
        "valid",
    );
    let res = req.body(body).send().await.unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn a_killed_server_resumes_deadlines_and_commands_after_restart() {
    let platform = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&platform)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("confab.db");
    let client = reqwest::Client::new();

    let mut p = spawn(&db, &platform.uri());
    let customer: Value = client
        .post(format!("{}/v1.0/customers", p.base))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"name": "acme"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = customer["api_key"].as_str().unwrap().to_string();
    // A: a joined call, then deleted: terminating, a kick the platform keeps refusing.
    let a = call(
        &client,
        &p,
        reqwest::Method::POST,
        "/v1.0/conferences",
        &key,
        Some(json!({"name": "a"})),
    )
    .await;
    let a_id = a["id"].as_str().unwrap().to_string();
    event(
        &client,
        &p,
        "j1",
        "call_joining",
        json!({"call_id": "c1", "conference_id": a_id}),
    )
    .await;
    event(
        &client,
        &p,
        "j2",
        "call_joined",
        json!({"call_id": "c1", "conference_id": a_id}),
    )
    .await;
    let deleted = call(
        &client,
        &p,
        reqwest::Method::DELETE,
        &format!("/v1.0/conferences/{a_id}"),
        &key,
        None,
    )
    .await;
    assert_eq!(deleted["status"], "terminating");
    // B: a timeout that will pass while the server is down.
    let b = call(
        &client,
        &p,
        reqwest::Method::POST,
        "/v1.0/conferences",
        &key,
        Some(json!({"name": "b", "timeout": 2})),
    )
    .await;
    let b_id = b["id"].as_str().unwrap().to_string();
    let first_id = eventually(
        Duration::from_secs(5),
        "a first (refused) kick attempt",
        || async {
            let r = platform.received_requests().await.unwrap_or_default();
            r.first().map(|r| {
                serde_json::from_slice::<Value>(&r.body).unwrap()["id"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
        },
    )
    .await;

    p.child.kill().expect("SIGKILL");
    let _ = p.child.wait();
    drop(p);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    platform.reset().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&platform)
        .await;

    let p = spawn(&db, &platform.uri());
    eventually(
        Duration::from_secs(5),
        "B's overdue timeout fired",
        || async {
            let b = call(
                &client,
                &p,
                reqwest::Method::GET,
                &format!("/v1.0/conferences/{b_id}"),
                &key,
                None,
            )
            .await;
            (b["status"] == "terminated").then_some(())
        },
    )
    .await;
    eventually(Duration::from_secs(5), "A's kick grace fired", || async {
        let a = call(
            &client,
            &p,
            reqwest::Method::GET,
            &format!("/v1.0/conferences/{a_id}"),
            &key,
            None,
        )
        .await;
        (a["status"] == "terminated").then_some(())
    })
    .await;
    eventually(
        Duration::from_secs(5),
        "the pending kick delivered with its original id",
        || async {
            let r = platform.received_requests().await.unwrap_or_default();
            r.iter()
                .any(|r| {
                    serde_json::from_slice::<Value>(&r.body).unwrap()["id"] == first_id.as_str()
                })
                .then_some(())
        },
    )
    .await;
    let calls = call(
        &client,
        &p,
        reqwest::Method::GET,
        &format!("/v1.0/conferencecalls?conference_id={a_id}"),
        &key,
        None,
    )
    .await;
    assert_eq!(calls["result"][0]["status"], "leaved");
}
