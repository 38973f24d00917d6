//! The conference over its life, with a real local HTTP server playing the telephony platform:
//! termination and kicks, kick grace, timeouts, connect rooms, recordings, command retries and
//! restarts.

mod common;

use common::{eventually, signature_valid, Server, PLATFORM_SECRET};
use serde_json::{json, Value};
use std::time::Duration;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn platform(status: u16) -> MockServer {
    let p = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/commands"))
        .respond_with(ResponseTemplate::new(status))
        .mount(&p)
        .await;
    p
}

async fn start(platform: &MockServer, kick_grace: u64) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let mut c = common::test_config(&dir);
    c.platform_secret = Some(PLATFORM_SECRET.into());
    c.platform_url = Some(platform.uri());
    c.kick_grace = kick_grace;
    Server::start_with(dir, c).await
}

async fn join(s: &Server, conf: &str, call: &str) {
    let (st, _) = s
        .event(
            &format!("{call}-joining"),
            "call_joining",
            json!({"call_id": call, "conference_id": conf}),
        )
        .await;
    assert_eq!(st, 200);
    let (st, _) = s
        .event(
            &format!("{call}-joined"),
            "call_joined",
            json!({"call_id": call, "conference_id": conf}),
        )
        .await;
    assert_eq!(st, 200);
}

/// The commands the platform received, with signatures checked.
async fn commands(p: &MockServer) -> Vec<Value> {
    let mut out = Vec::new();
    for r in p.received_requests().await.unwrap_or_default() {
        let h = |n: &str| {
            r.headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string()
        };
        assert!(
            signature_valid(
                PLATFORM_SECRET,
                &h("webhook-id"),
                &h("webhook-timestamp"),
                &r.body,
                &h("webhook-signature")
            ),
            "command signed with the platform secret"
        );
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(
            v["id"].as_str(),
            Some(h("webhook-id").as_str()),
            "webhook-id is the command id"
        );
        out.push(v);
    }
    out
}

async fn status_of(s: &Server, key: &str, conf: &str) -> Value {
    s.call("GET", &format!("/v1.0/conferences/{conf}"), Some(key), None)
        .await
        .1
}

#[tokio::test]
async fn terminate_with_zero_one_and_three_calls() {
    let p = platform(200).await;
    let s = start(&p, 30).await;
    let a = s.create_customer("a").await;
    for n in [0usize, 1, 3] {
        let (_, conf) = s
            .call(
                "POST",
                "/v1.0/conferences",
                Some(&a.key),
                Some(json!({"name": format!("n{n}")})),
            )
            .await;
        let cid = conf["id"].as_str().unwrap().to_string();
        for i in 0..n {
            join(&s, &cid, &format!("n{n}-c{i}")).await;
        }
        let (st, del) = s
            .call(
                "DELETE",
                &format!("/v1.0/conferences/{cid}"),
                Some(&a.key),
                None,
            )
            .await;
        assert_eq!(st, 200);
        if n == 0 {
            assert_eq!(del["status"], "terminated");
            continue;
        }
        assert_eq!(del["status"], "terminating");
        assert_eq!(
            del["conferencecall_ids"],
            json!([]),
            "kicked calls are leaving, no longer joined"
        );
        let kicks = eventually(Duration::from_secs(5), "kicks delivered", || async {
            let k: Vec<Value> = commands(&p)
                .await
                .into_iter()
                .filter(|c| c["type"] == "call_kick" && c["data"]["conference_id"] == cid.as_str())
                .collect();
            (k.len() == n).then_some(k)
        })
        .await;
        let mut kicked: Vec<String> = kicks
            .iter()
            .map(|k| k["data"]["call_id"].as_str().unwrap().to_string())
            .collect();
        kicked.sort();
        assert_eq!(
            kicked,
            (0..n).map(|i| format!("n{n}-c{i}")).collect::<Vec<_>>()
        );
        let (st, e) = s
            .event(
                &format!("late-{n}"),
                "call_joining",
                json!({"call_id": format!("late-{n}"), "conference_id": cid}),
            )
            .await;
        assert_eq!(
            (st, e["error"]["reason"].as_str()),
            (409, Some("CONFERENCE_CLOSED"))
        );
        for i in 0..n {
            let (st, _) = s
                .event(
                    &format!("n{n}-c{i}-left"),
                    "call_left",
                    json!({"call_id": format!("n{n}-c{i}"), "conference_id": cid}),
                )
                .await;
            assert_eq!(st, 200);
            let expect = if i + 1 == n {
                "terminated"
            } else {
                "terminating"
            };
            assert_eq!(status_of(&s, &a.key, &cid).await["status"], expect);
        }
    }
}

#[tokio::test]
async fn kicked_calls_not_reported_left_are_marked_left_after_the_grace() {
    let p = platform(200).await;
    let s = start(&p, 1).await;
    let a = s.create_customer("a").await;
    let (_, conf) = s
        .call("POST", "/v1.0/conferences", Some(&a.key), Some(json!({})))
        .await;
    let cid = conf["id"].as_str().unwrap().to_string();
    join(&s, &cid, "silent").await;
    let (_, del) = s
        .call(
            "DELETE",
            &format!("/v1.0/conferences/{cid}"),
            Some(&a.key),
            None,
        )
        .await;
    assert_eq!(del["status"], "terminating");
    eventually(
        Duration::from_secs(5),
        "terminated after the kick grace",
        || async { (status_of(&s, &a.key, &cid).await["status"] == "terminated").then_some(()) },
    )
    .await;
    let (_, calls) = s
        .call(
            "GET",
            &format!("/v1.0/conferencecalls?conference_id={cid}"),
            Some(&a.key),
            None,
        )
        .await;
    assert_eq!(calls["result"][0]["status"], "leaved");
    // The platform's late call_left is stale and harmless.
    let (st, v) = s
        .event(
            "late-left",
            "call_left",
            json!({"call_id": "silent", "conference_id": cid}),
        )
        .await;
    assert_eq!((st, v["actions"].clone()), (200, json!([])));
}

#[tokio::test]
async fn kicking_one_call() {
    let p = platform(200).await;
    let s = start(&p, 30).await;
    let a = s.create_customer("a").await;
    let b = s.create_customer("b").await;
    let (_, conf) = s
        .call("POST", "/v1.0/conferences", Some(&a.key), Some(json!({})))
        .await;
    let cid = conf["id"].as_str().unwrap().to_string();
    join(&s, &cid, "k1").await;
    join(&s, &cid, "k2").await;
    let (_, list) = s
        .call(
            "GET",
            &format!("/v1.0/conferencecalls?conference_id={cid}&status=joined"),
            Some(&a.key),
            None,
        )
        .await;
    let victim = list["result"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["reference_id"] == "k1")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (st, _) = s
        .call(
            "DELETE",
            &format!("/v1.0/conferencecalls/{victim}"),
            Some(&b.key),
            None,
        )
        .await;
    assert_eq!(st, 404, "another customer's call");
    let (st, c) = s
        .call(
            "DELETE",
            &format!("/v1.0/conferencecalls/{victim}"),
            Some(&a.key),
            None,
        )
        .await;
    assert_eq!((st, c["status"].as_str()), (200, Some("leaving")));
    let (st, again) = s
        .call(
            "DELETE",
            &format!("/v1.0/conferencecalls/{victim}"),
            Some(&a.key),
            None,
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(again, c, "already leaving: unchanged");
    eventually(Duration::from_secs(5), "one kick", || async {
        let k = commands(&p).await;
        (k.len() == 1 && k[0]["type"] == "call_kick" && k[0]["data"]["call_id"] == "k1")
            .then_some(())
    })
    .await;
    let conf = status_of(&s, &a.key, &cid).await;
    assert_eq!(conf["status"], "progressing");
    assert_eq!(conf["conferencecall_ids"].as_array().unwrap().len(), 1);
    s.event(
        "k1-left",
        "call_left",
        json!({"call_id": "k1", "conference_id": cid}),
    )
    .await;
    let (_, c) = s
        .call(
            "GET",
            &format!("/v1.0/conferencecalls/{victim}"),
            Some(&a.key),
            None,
        )
        .await;
    assert_eq!(c["status"], "leaved");
    let (st, again) = s
        .call(
            "DELETE",
            &format!("/v1.0/conferencecalls/{victim}"),
            Some(&a.key),
            None,
        )
        .await;
    assert_eq!((st, again["status"].as_str()), (200, Some("leaved")));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(commands(&p).await.len(), 1, "no second kick");
}

#[tokio::test]
async fn timeout_terminates_and_put_moves_it() {
    let p = platform(200).await;
    let s = start(&p, 30).await;
    let a = s.create_customer("a").await;
    let (_, c1) = s
        .call(
            "POST",
            "/v1.0/conferences",
            Some(&a.key),
            Some(json!({"timeout": 1})),
        )
        .await;
    let (_, c2) = s
        .call(
            "POST",
            "/v1.0/conferences",
            Some(&a.key),
            Some(json!({"timeout": 1})),
        )
        .await;
    let (_, c3) = s
        .call(
            "POST",
            "/v1.0/conferences",
            Some(&a.key),
            Some(json!({"timeout": 1})),
        )
        .await;
    let (id1, id2, id3) = (
        c1["id"].as_str().unwrap().to_string(),
        c2["id"].as_str().unwrap().to_string(),
        c3["id"].as_str().unwrap().to_string(),
    );
    join(&s, &id3, "t3").await;
    // c2: the timeout is cleared; c3 with a call: terminating, kick sent.
    let (st, u) = s
        .call(
            "PUT",
            &format!("/v1.0/conferences/{id2}"),
            Some(&a.key),
            Some(json!({"timeout": 0})),
        )
        .await;
    assert_eq!((st, u["timeout"].as_i64()), (200, Some(0)));
    eventually(Duration::from_secs(5), "timeout fired", || async {
        (status_of(&s, &a.key, &id1).await["status"] == "terminated").then_some(())
    })
    .await;
    let c1 = status_of(&s, &a.key, &id1).await;
    assert_eq!(
        c1["tm_delete"], "9999-01-01 00:00:00.000000",
        "a timeout terminates but does not delete"
    );
    eventually(Duration::from_secs(5), "timeout with a call", || async {
        (status_of(&s, &a.key, &id3).await["status"] == "terminating").then_some(())
    })
    .await;
    eventually(Duration::from_secs(5), "kick on timeout", || async {
        commands(&p)
            .await
            .iter()
            .any(|c| c["type"] == "call_kick" && c["data"]["call_id"] == "t3")
            .then_some(())
    })
    .await;
    assert_eq!(status_of(&s, &a.key, &id2).await["status"], "progressing");

    // A PUT moves the deadline: counted from the update that set it.
    let (_, c4) = s
        .call(
            "POST",
            "/v1.0/conferences",
            Some(&a.key),
            Some(json!({"timeout": 1})),
        )
        .await;
    let id4 = c4["id"].as_str().unwrap().to_string();
    s.call(
        "PUT",
        &format!("/v1.0/conferences/{id4}"),
        Some(&a.key),
        Some(json!({"timeout": 3})),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1600)).await;
    assert_eq!(
        status_of(&s, &a.key, &id4).await["status"],
        "progressing",
        "the old 1 s deadline was replaced"
    );
    eventually(Duration::from_secs(5), "moved timeout fired", || async {
        (status_of(&s, &a.key, &id4).await["status"] == "terminated").then_some(())
    })
    .await;
}

#[tokio::test]
async fn connect_room_closes_when_one_of_two_leaves() {
    let p = platform(200).await;
    let s = start(&p, 30).await;
    let a = s.create_customer("a").await;
    let (_, conf) = s
        .call(
            "POST",
            "/v1.0/conferences",
            Some(&a.key),
            Some(json!({"type": "connect"})),
        )
        .await;
    let cid = conf["id"].as_str().unwrap().to_string();
    join(&s, &cid, "alice").await;
    join(&s, &cid, "bob").await;
    let (st, e) = s
        .event(
            "carol",
            "call_joining",
            json!({"call_id": "carol", "conference_id": cid}),
        )
        .await;
    assert_eq!(
        (st, e["error"]["reason"].as_str()),
        (409, Some("CONFERENCE_FULL"))
    );
    s.event(
        "alice-left",
        "call_left",
        json!({"call_id": "alice", "conference_id": cid}),
    )
    .await;
    assert_eq!(status_of(&s, &a.key, &cid).await["status"], "terminating");
    eventually(Duration::from_secs(5), "bob kicked", || async {
        commands(&p)
            .await
            .iter()
            .any(|c| c["type"] == "call_kick" && c["data"]["call_id"] == "bob")
            .then_some(())
    })
    .await;
    s.event(
        "bob-left",
        "call_left",
        json!({"call_id": "bob", "conference_id": cid}),
    )
    .await;
    assert_eq!(status_of(&s, &a.key, &cid).await["status"], "terminated");
}

#[tokio::test]
async fn recordings_follow_their_rules() {
    let p = platform(200).await;
    let s = start(&p, 30).await;
    let a = s.create_customer("a").await;
    let (_, conf) = s
        .call("POST", "/v1.0/conferences", Some(&a.key), Some(json!({})))
        .await;
    let cid = conf["id"].as_str().unwrap().to_string();
    let start_path = format!("/v1.0/conferences/{cid}/recording_start");
    let stop_path = format!("/v1.0/conferences/{cid}/recording_stop");
    let (st, e) = s.call("POST", &stop_path, Some(&a.key), None).await;
    assert_eq!(
        (st, e["error"]["reason"].as_str()),
        (409, Some("STATE_INVALID"))
    );
    let (st, e) = s
        .call(
            "POST",
            &start_path,
            Some(&a.key),
            Some(json!({"format": "ogg"})),
        )
        .await;
    assert_eq!(
        (st, e["error"]["reason"].as_str()),
        (400, Some("INVALID_ARGUMENT"))
    );
    let (st, e) = s
        .call(
            "POST",
            &start_path,
            Some(&a.key),
            Some(json!({"duration": 86401})),
        )
        .await;
    assert_eq!(st, 400, "{e}");
    let (st, c) = s
        .call(
            "POST",
            &start_path,
            Some(&a.key),
            Some(json!({"format": "mp3", "duration": 600})),
        )
        .await;
    assert_eq!(st, 200, "{c}");
    let rid = c["recording_id"].as_str().unwrap().to_string();
    assert_ne!(rid, "00000000-0000-0000-0000-000000000000");
    assert_eq!(c["recording_ids"], json!([rid]));
    let (st, e) = s.call("POST", &start_path, Some(&a.key), None).await;
    assert_eq!(
        (st, e["error"]["reason"].as_str()),
        (409, Some("STATE_INVALID")),
        "one at a time"
    );
    let (_, r) = s
        .call(
            "GET",
            &format!("/v1.0/recordings/{rid}"),
            Some(&a.key),
            None,
        )
        .await;
    assert_eq!(
        (
            r["status"].as_str(),
            r["format"].as_str(),
            r["duration"].as_i64(),
            r["reference_id"].as_str()
        ),
        (
            Some("recording"),
            Some("mp3"),
            Some(600),
            Some(cid.as_str())
        )
    );
    let (st, c) = s.call("POST", &stop_path, Some(&a.key), None).await;
    assert_eq!(st, 200);
    assert_eq!(
        c["recording_id"],
        rid.as_str(),
        "stopping is still active until the platform finishes"
    );
    let (st, _) = s.call("POST", &stop_path, Some(&a.key), None).await;
    assert_eq!(st, 409);
    let (st, v) = s.event("rf", "recording_finished", json!({"recording_id": rid, "media_url": "https://media.example/r.mp3", "duration_ms": 1200})).await;
    assert_eq!(
        (st, v["recording"]["status"].as_str()),
        (200, Some("ended"))
    );
    let (_, r) = s
        .call(
            "GET",
            &format!("/v1.0/recordings/{rid}"),
            Some(&a.key),
            None,
        )
        .await;
    assert_eq!(
        (r["status"].as_str(), r["media_url"].as_str()),
        (Some("ended"), Some("https://media.example/r.mp3"))
    );
    assert_ne!(r["tm_end"], "9999-01-01 00:00:00.000000");
    let c = status_of(&s, &a.key, &cid).await;
    assert_eq!(
        (c["recording_id"].as_str(), c["recording_ids"].clone()),
        (Some("00000000-0000-0000-0000-000000000000"), json!([rid]))
    );
    let (_, list) = s
        .call(
            "GET",
            &format!("/v1.0/recordings?conference_id={cid}"),
            Some(&a.key),
            None,
        )
        .await;
    assert_eq!(list["result"][0]["id"], rid.as_str());
    eventually(Duration::from_secs(5), "recording commands", || async {
        let types: Vec<String> = commands(&p)
            .await
            .iter()
            .map(|c| c["type"].as_str().unwrap().to_string())
            .collect();
        (types == ["recording_start", "recording_stop"]).then_some(())
    })
    .await;
    let start_cmd = &commands(&p).await[0];
    assert_eq!(
        start_cmd["data"],
        json!({"recording_id": rid, "conference_id": cid, "format": "mp3", "duration": 600})
    );
    s.call(
        "DELETE",
        &format!("/v1.0/conferences/{cid}"),
        Some(&a.key),
        None,
    )
    .await;
    let (st, e) = s.call("POST", &start_path, Some(&a.key), None).await;
    assert_eq!(
        (st, e["error"]["reason"].as_str()),
        (409, Some("STATE_INVALID")),
        "not on a terminated conference"
    );
}

#[tokio::test]
async fn commands_are_retried_until_the_platform_accepts_them() {
    let p = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&p)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .with_priority(2)
        .mount(&p)
        .await;
    let s = start(&p, 30).await;
    let a = s.create_customer("a").await;
    let (_, conf) = s
        .call("POST", "/v1.0/conferences", Some(&a.key), Some(json!({})))
        .await;
    let cid = conf["id"].as_str().unwrap().to_string();
    join(&s, &cid, "r1").await;
    s.call(
        "DELETE",
        &format!("/v1.0/conferences/{cid}"),
        Some(&a.key),
        None,
    )
    .await;
    // Default schedule 0,1,2,...: attempts at 0 s, 1 s, 3 s.
    let cmds = eventually(Duration::from_secs(10), "three attempts", || async {
        let c = commands(&p).await;
        (c.len() >= 3).then_some(c)
    })
    .await;
    assert_eq!(cmds.len(), 3, "no attempt after the 2xx");
    assert!(
        cmds.iter().all(|c| c["id"] == cmds[0]["id"]),
        "same id on every retry"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(commands(&p).await.len(), 3);
}
