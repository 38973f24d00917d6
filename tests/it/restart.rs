//! Restarts of the real binary, killed with SIGKILL: deadlines that passed while it was down
//! fire at once, and commands not yet delivered are delivered after the restart.

use crate::support::events::EventPost;
use crate::support::process::{self, Process};
use crate::support::{poll_until, Receiver, Reply, TestDb, ADMIN_TOKEN, PLATFORM_SECRET};
use serde_json::{json, Value};
use std::time::Duration;

/// Starts `confab serve` with the platform at `platform`, a 1 s kick grace and fast command
/// retries.
fn spawn(db: &str, platform: &str) -> Process {
    process::spawn(
        db,
        &[
            "--platform-url",
            platform,
            "--platform-secret",
            PLATFORM_SECRET,
            "--admin-token",
            ADMIN_TOKEN,
            "--kick-grace",
            "1",
            "--command-retry-schedule",
            "0,1",
            // As operators are told to run nodes on PostgreSQL (`nodes.rs` checks what the name
            // does to a restarted node's leases).
            "--node-name",
            "restart-test-node",
        ],
        "info",
    )
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

/// A signed platform event that must be accepted.
async fn event(client: &reqwest::Client, p: &Process, id: &str, kind: &str, data: Value) {
    let envelope = EventPost::envelope(id, kind, data);
    let answer = EventPost::new(client, &p.base, &envelope).await;
    assert_eq!(answer.status, 200);
}

/// Conference A: a joined call, then deleted: terminating, with a kick the platform keeps
/// refusing. Conference B: a 2 s timeout that will pass while the server is down.
async fn before_the_kill(client: &reqwest::Client, p: &Process, key: &str) -> (String, String) {
    let body = Some(json!({"name": "a"}));
    let a = call(
        client,
        p,
        reqwest::Method::POST,
        "/v1.0/conferences",
        key,
        body,
    )
    .await;
    let a_id = a["id"].as_str().unwrap().to_string();
    let data = json!({"call_id": "c1", "conference_id": a_id});
    event(client, p, "j1", "call_joining", data.clone()).await;
    event(client, p, "j2", "call_joined", data).await;
    let path = format!("/v1.0/conferences/{a_id}");
    let deleted = call(client, p, reqwest::Method::DELETE, &path, key, None).await;
    assert_eq!(deleted["status"], "terminating");
    let body = Some(json!({"name": "b", "timeout": 2}));
    let b = call(
        client,
        p,
        reqwest::Method::POST,
        "/v1.0/conferences",
        key,
        body,
    )
    .await;
    (a_id, b["id"].as_str().unwrap().to_string())
}

/// Waits (polling the API: nothing else announces it) until a conference is terminated.
async fn wait_until_terminated(
    client: &reqwest::Client,
    p: &Process,
    key: &str,
    id: &str,
    what: &str,
) {
    let path = format!("/v1.0/conferences/{id}");
    poll_until(Duration::from_secs(5), what, || async {
        let c = call(client, p, reqwest::Method::GET, &path, key, None).await;
        (c["status"] == "terminated").then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_killed_server_resumes_deadlines_and_commands_after_restart() {
    // The platform refuses every command until the server has been killed.
    let platform = Receiver::answering(Reply::status(503)).await;
    let dir = tempfile::tempdir().unwrap();
    let database = TestDb::new(dir.path()).await;
    let db = database.arg();
    let client = reqwest::Client::new();

    let mut p = spawn(&db, &platform.uri());
    let key = p.create_customer(&client).await;
    let (a_id, b_id) = before_the_kill(&client, &p, &key).await;
    let first_id = platform
        .wait_for(
            Duration::from_secs(5),
            "a first (refused) kick attempt",
            |all| {
                all.first()
                    .map(|r| r.json()["id"].as_str().unwrap().to_string())
            },
        )
        .await;

    p.child.kill().expect("SIGKILL");
    let _ = p.child.wait();
    drop(p);
    // The real binary runs on the real clock: B's 2 s timeout passes while it is down.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    platform.answer(Reply::status(200));

    let p = spawn(&db, &platform.uri());
    wait_until_terminated(&client, &p, &key, &b_id, "B's overdue timeout fired").await;
    wait_until_terminated(&client, &p, &key, &a_id, "A's kick grace fired").await;
    platform
        .wait_for(
            Duration::from_secs(5),
            "the pending kick delivered with its original id",
            |all| {
                // Accepted (200) means sent by the restarted server.
                all.iter()
                    .any(|r| r.answered == 200 && r.json()["id"] == first_id.as_str())
                    .then_some(())
            },
        )
        .await;
    let path = format!("/v1.0/conferencecalls?conference_id={a_id}");
    let calls = call(&client, &p, reqwest::Method::GET, &path, &key, None).await;
    assert_eq!(calls["result"][0]["status"], "leaved");
}

/// A signed platform event; returns its answer as JSON.
async fn answer(client: &reqwest::Client, p: &Process, id: &str, kind: &str, data: Value) -> Value {
    let envelope = EventPost::envelope(id, kind, data);
    let answer = EventPost::new(client, &p.base, &envelope).await;
    assert_eq!(answer.status, 200, "{id}: {}", answer.text());
    answer.json
}

/// A PIN room's caller waits at the prompt while the server is SIGKILLed: after the restart
/// the digits resume the list exactly where it paused, with its tries counted (SPEC §13).
#[tokio::test]
async fn a_paused_call_resumes_after_the_server_was_killed() {
    let platform = Receiver::answering(Reply::status(200)).await;
    let dir = tempfile::tempdir().unwrap();
    let database = TestDb::new(dir.path()).await;
    let db = database.arg();
    let client = reqwest::Client::new();
    let mut p = spawn(&db, &platform.uri());
    let key = p.create_customer(&client).await;
    let body = json!({"data": {"pin": "4711"}, "pre_actions": [{"type": "flow", "option": {"name": "pin"}}]});
    let conf = call(
        &client,
        &p,
        reqwest::Method::POST,
        "/v1.0/conferences",
        &key,
        Some(body),
    )
    .await;
    let conf = conf["id"].as_str().unwrap().to_string();
    let data = |digits: Option<&str>| match digits {
        Some(d) => json!({"call_id": "c1", "conference_id": conf, "digits": d}),
        None => json!({"call_id": "c1", "conference_id": conf}),
    };
    let joined = answer(&client, &p, "j1", "call_joining", data(None)).await;
    assert_eq!(joined["pause"], 1);
    let again = answer(&client, &p, "d1", "call_digits_received", data(Some("1"))).await;
    assert_eq!(again["pause"], 2, "{again}");

    p.child.kill().expect("SIGKILL");
    let _ = p.child.wait();
    drop(p);
    let p = spawn(&db, &platform.uri());

    // The replay of the answered resume is the first answer, byte for byte the same value.
    let replay = answer(&client, &p, "d1", "call_digits_received", data(Some("1"))).await;
    assert_eq!(replay, again);
    // The second wrong try continues the same run (its third pause)...
    let third = answer(&client, &p, "d2", "call_digits_received", data(Some("2"))).await;
    assert_eq!(third["pause"], 3, "{third}");
    // ...and the right PIN joins.
    let right = answer(
        &client,
        &p,
        "d3",
        "call_digits_received",
        data(Some("4711")),
    )
    .await;
    let types: Vec<&str> = right["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["talk", "conference_join"], "{right}");
    assert_eq!(right["conferencecall"]["status"], "joining");
}
