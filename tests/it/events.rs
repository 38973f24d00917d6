//! End-to-end tests of platform events that need more than a scenario file: restarts,
//! concurrency, a real webhook receiver, flow reloads.

use crate::support::{
    allow_private, poll_until, seed_conference_body, signed, Receiver, Reply, TestServer, XmlDoc,
};
use confab::Config;
use serde_json::{json, Value};
use std::time::Duration;

/// Signed platform events; action webhooks may reach the tests' receivers on 127.0.0.1.
fn signed_local(c: &mut Config) {
    signed(c);
    allow_private(c);
}

#[tokio::test]
async fn seed_conference_join_and_leave_say_the_seed_texts() {
    let s = TestServer::start_with(signed_local).await;
    let a = s.create_customer("a").await;
    let conf = s.create_conference(&a.key, seed_conference_body()).await;
    let cid = conf["id"].as_str().unwrap();
    let joined = s
        .event(
            "j",
            "call_joining",
            json!({"call_id": "c", "conference_id": cid}),
        )
        .await;
    assert_eq!(joined.status, 200);
    assert_eq!(
        joined.json["actions"],
        json!([
            {"type": "talk", "option": {"text": "Hello. Welcome to the test conference.", "gender": "female", "language": "en-US"}},
            {"type": "conference_join", "option": {"conference_id": cid, "role": "participant", "muted": false,
                "start_on_enter": true, "end_on_exit": false, "wait_music_url": ""}}
        ])
    );
    let left = s
        .event(
            "l",
            "call_left",
            json!({"call_id": "c", "conference_id": cid}),
        )
        .await;
    assert_eq!(
        left.json["actions"],
        json!([{"type": "talk", "option": {"text": "The conference has closed. Thank you. Good bye.", "gender": "female", "language": "en-US"}}])
    );
}

#[tokio::test]
async fn replays_answer_byte_for_byte_even_after_a_restart() {
    let s = TestServer::start_with(signed_local).await;
    let a = s.create_customer("a").await;
    let conf = s.create_conference(&a.key, seed_conference_body()).await;
    let cid = conf["id"].as_str().unwrap().to_string();
    let join = json!({"id": "evt-join", "type": "call_joining", "data": {"call_id": "c1", "conference_id": cid}});
    let missing = json!({"id": "evt-missing", "type": "call_joining", "data": {"call_id": "c2", "conference_id": "00000000-0000-0000-0000-000000000009"}});
    let first = s.post_event(&join).await;
    let refused = s.post_event(&missing).await;
    assert_eq!((first.status, refused.status), (200, 404));
    let xml_first = s.post_event(&join).accept_xml().await;

    let s = s.restart_with(signed).await;
    let again = s.post_event(&join).await;
    assert_eq!((again.status, again.bytes), (200, first.bytes));
    let again = s.post_event(&missing).await;
    assert_eq!((again.status, again.bytes), (404, refused.bytes));
    let again = s.post_event(&join).accept_xml().await;
    assert_eq!((again.status, again.bytes), (200, xml_first.bytes));
    let (_, calls) = s
        .call(
            "GET",
            &format!("/v1.0/conferencecalls?conference_id={cid}"),
            Some(&a.key),
            None,
        )
        .await;
    assert_eq!(
        calls["result"].as_array().unwrap().len(),
        1,
        "the replay created nothing"
    );
}

#[tokio::test]
async fn a_hundred_simultaneous_joins_of_a_connect_room_admit_exactly_two() {
    let s = TestServer::start_with(signed_local).await;
    let a = s.create_customer("a").await;
    let conf = s
        .create_conference(&a.key, json!({"type": "connect"}))
        .await;
    let cid = conf["id"].as_str().unwrap().to_string();
    let events: Vec<Value> = (0..100)
        .map(|i| json!({"id": format!("j{i}"), "type": "call_joining", "data": {"call_id": format!("c{i}"), "conference_id": cid}}))
        .collect();
    let answers =
        futures_util::future::join_all(events.iter().map(|e| s.post_event(e).send())).await;
    let ok = answers.iter().filter(|a| a.status == 200).count();
    let full = answers
        .iter()
        .filter(|a| a.status == 409 && a.text().contains("CONFERENCE_FULL"))
        .count();
    assert_eq!((ok, full), (2, 98));
}

#[tokio::test]
async fn simultaneous_joins_and_leaves_leave_the_joined_list_exact() {
    let s = TestServer::start_with(signed_local).await;
    let a = s.create_customer("a").await;
    let conf = s.create_conference(&a.key, json!({})).await;
    let cid = conf["id"].as_str().unwrap().to_string();
    let n = 60;
    let ev = |t: &str, i: usize| json!({"id": format!("{t}{i}"), "type": t, "data": {"call_id": format!("c{i}"), "conference_id": cid}});
    let post_all = |events: Vec<Value>| {
        let s = &s;
        async move {
            futures_util::future::join_all(events.iter().map(|e| s.post_event(e).send())).await
        }
    };
    for r in post_all((0..n).map(|i| ev("call_joining", i)).collect()).await {
        assert_eq!(r.status, 200);
    }
    post_all((0..n).map(|i| ev("call_joined", i)).collect()).await;
    // Every odd call leaves while the even ones are re-sent `call_joined` (harmless duplicates).
    let mixed: Vec<Value> = (0..n)
        .map(|i| if i % 2 == 1 { ev("call_left", i) } else { json!({"id": format!("dup{i}"), "type": "call_joined", "data": {"call_id": format!("c{i}"), "conference_id": cid}}) })
        .collect();
    post_all(mixed).await;
    let conf = s.conference(&a.key, &cid).await;
    let ids = conf["conferencecall_ids"].as_array().unwrap();
    assert_eq!(ids.len(), n / 2);
    for id in ids {
        let (_, call) = s
            .call(
                "GET",
                &format!("/v1.0/conferencecalls/{}", id.as_str().unwrap()),
                Some(&a.key),
                None,
            )
            .await;
        assert_eq!(call["status"], "joined");
        let num: usize = call["reference_id"].as_str().unwrap()[1..].parse().unwrap();
        assert_eq!(num % 2, 0);
    }
}

#[tokio::test]
async fn sync_webhook_send_reaches_a_real_receiver_before_the_answer() {
    let receiver = Receiver::start().await;
    let s = TestServer::start_with(signed_local).await;
    let a = s.create_customer("a").await;
    let conf = s
        .create_conference(&a.key, json!({"pre_actions": [
            {"type": "webhook_send", "option": {"uri": receiver.url("/hook"), "sync": true, "data": {"event": "joining", "from": "${call.from}"}}},
            {"type": "beep"}
        ]}))
        .await;
    let cid = conf["id"].as_str().unwrap();
    let answer = s
        .event(
            "w",
            "call_joining",
            json!({"call_id": "c", "conference_id": cid, "from": "+1 \"555\""}),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    // Sync: the request has already arrived when the answer comes back.
    let got = receiver.arrivals();
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].method(), got[0].path()), ("POST", "/hook"));
    assert_eq!(
        got[0].json(),
        json!({"event": "joining", "from": "+1 \"555\""})
    );
    // Signed like every customer webhook, with the customer's secret.
    assert!(got[0].webhook_id().starts_with("msg_"));
    assert!(got[0].signed_by(&a.secret), "a sync webhook is signed");
    assert_eq!(answer.json["actions"][0]["type"], "beep");
}

#[tokio::test]
async fn a_slow_sync_webhook_holds_the_answer_at_most_three_seconds() {
    let receiver = Receiver::answering(Reply::status(200).delayed(Duration::from_secs(20))).await;
    let s = TestServer::start_with(signed_local).await;
    let a = s.create_customer("a").await;
    let conf = s
        .create_conference(
            &a.key,
            json!({"pre_actions": [
                {"type": "webhook_send", "option": {"uri": receiver.uri(), "sync": true}}
            ]}),
        )
        .await;
    let cid = conf["id"].as_str().unwrap();
    let started = std::time::Instant::now();
    let answer = s
        .event(
            "w",
            "call_joining",
            json!({"call_id": "c", "conference_id": cid}),
        )
        .await;
    assert_eq!(answer.status, 200);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the 3 s limit applies"
    );
}

#[tokio::test]
async fn xml_answer_parses_with_an_xml_parser_and_keeps_text_intact() {
    let s = TestServer::start_with(signed_local).await;
    let a = s.create_customer("a").await;
    let text = "Tom & Jerry say <hello> \"quoted\" 'single' — 你好";
    let conf = s
        .create_conference(
            &a.key,
            json!({"pre_actions": [{"type": "talk", "option": {"text": text}}]}),
        )
        .await;
    let cid = conf["id"].as_str().unwrap();
    let answer = s
        .event(
            "x",
            "call_joining",
            json!({"call_id": "c", "conference_id": cid}),
        )
        .accept_xml()
        .await;
    assert_eq!(answer.status, 200);
    let doc = XmlDoc::parse(&answer.text()).expect("well-formed XML");
    assert_eq!(doc.names(), ["response", "talk", "conference_join"]);
    assert_eq!(doc.text("talk"), Some(text));
}

#[tokio::test]
async fn flows_reload_on_change_and_keep_the_last_good_set() {
    let flows = tempfile::tempdir().unwrap();
    let hi = flows.path().join("hi.json");
    let write = |text: &str| {
        let flow = json!({"name": "hi", "actions": [{"type": "talk", "option": {"text": text}}]});
        std::fs::write(&hi, flow.to_string()).unwrap();
    };
    write("version one");
    let dir = flows.path().to_path_buf();
    let s = TestServer::start_with(|c| {
        c.flows_dir = dir;
        signed(c);
    })
    .await;
    let a = s.create_customer("a").await;
    let conf = s
        .create_conference(
            &a.key,
            json!({"pre_actions": [{"type": "flow", "option": {"name": "hi"}}]}),
        )
        .await;
    let cid = conf["id"].as_str().unwrap().to_string();
    // Each look is a new call joining; the text it is told shows the flows in use.
    let calls = std::cell::Cell::new(0);
    let talk = || {
        calls.set(calls.get() + 1);
        let n = calls.get();
        let (s, cid) = (&s, cid.clone());
        async move {
            let data = json!({"call_id": format!("c{n}"), "conference_id": cid});
            let answer = s.event(&format!("e{n}"), "call_joining", data).await;
            let text = &answer.json["actions"][0]["option"]["text"];
            text.as_str().unwrap_or("").to_string()
        }
    };
    assert_eq!(talk().await, "version one");

    write("version two!");
    // The watcher looks at the directory once a second; nothing announces a reload.
    poll_until(Duration::from_secs(10), "the change picked up", || async {
        (talk().await == "version two!").then_some(())
    })
    .await;

    // A broken file is refused and the last good set stays. That something does not happen
    // cannot be awaited: give the watcher two of its one-second looks.
    std::fs::write(&hi, r#"{"name": "hi", "actions": [{"type": "talk"}]}"#).unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(talk().await, "version two!");
    let (_, list) = s.call("GET", "/v1.0/flows", Some(&a.key), None).await;
    assert_eq!(
        list["result"][0]["actions"][0]["option"]["text"],
        "version two!"
    );
}

#[tokio::test]
async fn async_webhook_send_goes_through_the_outbox_signed() {
    let receiver = Receiver::start().await;
    receiver.answer_first(1, Reply::status(500));
    let s = TestServer::start_with(|c| {
        signed_local(c);
        c.webhook_retry_schedule = "0,1".into();
    })
    .await;
    let a = s.create_customer("a").await;
    let conf = s
        .create_conference(&a.key, json!({"pre_actions": [
            {"type": "webhook_send", "option": {"uri": receiver.url("/async"), "method": "PUT", "data_type": "text/plain", "data": "joined ${call.id}"}},
            {"type": "beep"}
        ]}))
        .await;
    let cid = conf["id"].as_str().unwrap();
    let answer = s
        .event(
            "aw",
            "call_joining",
            json!({"call_id": "c7", "conference_id": cid}),
        )
        .await;
    assert_eq!(answer.status, 200);
    let got = receiver
        .wait_for_count("/async", 2, Duration::from_secs(5))
        .await;
    assert!(got.iter().all(|r| r.method() == "PUT"), "sent with PUT");
    let last = &got[1];
    assert_eq!(last.text(), "joined c7");
    assert_eq!(last.header("content-type"), "text/plain");
    assert!(last.signed_by(&a.secret));
    let (_, log) = s
        .call("GET", "/v1.0/webhook_deliveries", Some(&a.key), None)
        .await;
    assert_eq!(log["result"][0]["event_type"], "webhook_send");
}

#[tokio::test]
async fn action_webhooks_to_private_addresses_are_refused_by_default() {
    let receiver = Receiver::start().await;
    let s = TestServer::start().await;
    let a = s.create_customer("a").await;
    let port = receiver.port();
    let conf = s
        .create_conference(&a.key, json!({"pre_actions": [
            {"type": "webhook_send", "option": {"uri": format!("http://localhost:{port}/x"), "sync": true}},
            {"type": "webhook_send", "option": {"uri": format!("http://127.0.0.1:{port}/y")}},
            {"type": "beep"}
        ]}))
        .await;
    let cid = conf["id"].as_str().unwrap();
    let answer = s
        .event(
            "p",
            "call_joining",
            json!({"call_id": "c", "conference_id": cid}),
        )
        .await;
    assert_eq!(answer.status, 200, "the call still gets its actions");
    // The sync one was refused before the answer; the async one once the outbox has recorded
    // its refusal. Only then is "nothing arrived" final.
    s.drain_outbox().await;
    let (_, log) = s
        .call(
            "GET",
            "/v1.0/webhook_deliveries?status=failed",
            Some(&a.key),
            None,
        )
        .await;
    assert_eq!(log["result"][0]["event_type"], "webhook_send", "{log}");
    assert!(receiver.arrivals().is_empty());
}
