//! End-to-end tests of platform events that need more than a scenario file: restarts,
//! concurrency, a real webhook receiver, flow reloads.

mod common;

use common::{seed_conference_body, sign_event, Server};
use serde_json::{json, Value};
use std::time::Duration;
use wiremock::matchers::{body_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn post_event(s: &Server, event: &Value, accept: Option<&str>) -> (u16, String) {
    let body = event.to_string().into_bytes();
    let id = event["id"].as_str().unwrap_or("x");
    let mut req = s.client.post(s.url("/v1.0/platform/events"));
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    let req = sign_event(req, id, &body, "valid")
        .header("content-type", "application/json")
        .body(body);
    let res = req.send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

async fn signed_server() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let mut c = common::test_config(&dir);
    c.platform_secret = Some(common::PLATFORM_SECRET.into());
    // The webhook receivers of these tests listen on 127.0.0.1.
    c.webhook_allow_private = true;
    Server::start_with(dir, c).await
}

#[tokio::test]
async fn seed_conference_join_and_leave_say_the_seed_texts() {
    let s = signed_server().await;
    let a = s.create_customer("a").await;
    let (_, conf) = s
        .call(
            "POST",
            "/v1.0/conferences",
            Some(&a.key),
            Some(seed_conference_body()),
        )
        .await;
    let cid = conf["id"].as_str().unwrap();
    let (st, body) = post_event(
        &s,
        &json!({"id": "j", "type": "call_joining", "data": {"call_id": "c", "conference_id": cid}}),
        None,
    )
    .await;
    assert_eq!(st, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        v["actions"],
        json!([
            {"type": "talk", "option": {"text": "Hello. Welcome to the test conference.", "gender": "female", "language": "en-US"}},
            {"type": "conference_join", "option": {"conference_id": cid}}
        ])
    );
    let (_, body) = post_event(
        &s,
        &json!({"id": "l", "type": "call_left", "data": {"call_id": "c", "conference_id": cid}}),
        None,
    )
    .await;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        v["actions"],
        json!([{"type": "talk", "option": {"text": "The conference has closed. Thank you. Good bye.", "gender": "female", "language": "en-US"}}])
    );
}

#[tokio::test]
async fn replays_answer_byte_for_byte_even_after_a_restart() {
    let s = signed_server().await;
    let a = s.create_customer("a").await;
    let (_, conf) = s
        .call(
            "POST",
            "/v1.0/conferences",
            Some(&a.key),
            Some(seed_conference_body()),
        )
        .await;
    let cid = conf["id"].as_str().unwrap().to_string();
    let join = json!({"id": "evt-join", "type": "call_joining", "data": {"call_id": "c1", "conference_id": cid}});
    let missing = json!({"id": "evt-missing", "type": "call_joining", "data": {"call_id": "c2", "conference_id": "00000000-0000-0000-0000-000000000009"}});
    let (st1, first) = post_event(&s, &join, None).await;
    let (st2, refused) = post_event(&s, &missing, None).await;
    assert_eq!((st1, st2), (200, 404));
    let (_, xml_first) = post_event(&s, &join, Some("application/xml")).await;

    let dir = s.stop().await;
    let mut c = common::test_config(&dir);
    c.platform_secret = Some(common::PLATFORM_SECRET.into());
    let s = Server::start_with(dir, c).await;
    assert_eq!(post_event(&s, &join, None).await, (200, first.clone()));
    assert_eq!(post_event(&s, &missing, None).await, (404, refused));
    assert_eq!(
        post_event(&s, &join, Some("application/xml")).await,
        (200, xml_first)
    );
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
    let s = signed_server().await;
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
    let events: Vec<Value> = (0..100)
        .map(|i| json!({"id": format!("j{i}"), "type": "call_joining", "data": {"call_id": format!("c{i}"), "conference_id": cid}}))
        .collect();
    let answers =
        futures_util::future::join_all(events.iter().map(|e| post_event(&s, e, None))).await;
    let ok = answers.iter().filter(|(st, _)| *st == 200).count();
    let full = answers
        .iter()
        .filter(|(st, b)| *st == 409 && b.contains("CONFERENCE_FULL"))
        .count();
    assert_eq!((ok, full), (2, 98));
}

#[tokio::test]
async fn simultaneous_joins_and_leaves_leave_the_joined_list_exact() {
    let s = signed_server().await;
    let a = s.create_customer("a").await;
    let (_, conf) = s
        .call("POST", "/v1.0/conferences", Some(&a.key), Some(json!({})))
        .await;
    let cid = conf["id"].as_str().unwrap().to_string();
    let n = 60;
    let ev = |t: &str, i: usize| json!({"id": format!("{t}{i}"), "type": t, "data": {"call_id": format!("c{i}"), "conference_id": cid}});
    let joins: Vec<Value> = (0..n).map(|i| ev("call_joining", i)).collect();
    for r in futures_util::future::join_all(joins.iter().map(|e| post_event(&s, e, None))).await {
        assert_eq!(r.0, 200);
    }
    let joined: Vec<Value> = (0..n).map(|i| ev("call_joined", i)).collect();
    futures_util::future::join_all(joined.iter().map(|e| post_event(&s, e, None))).await;
    // Every odd call leaves while the even ones are re-sent `call_joined` (harmless duplicates).
    let mixed: Vec<Value> = (0..n)
        .map(|i| if i % 2 == 1 { ev("call_left", i) } else { json!({"id": format!("dup{i}"), "type": "call_joined", "data": {"call_id": format!("c{i}"), "conference_id": cid}}) })
        .collect();
    futures_util::future::join_all(mixed.iter().map(|e| post_event(&s, e, None))).await;
    let (_, conf) = s
        .call(
            "GET",
            &format!("/v1.0/conferences/{cid}"),
            Some(&a.key),
            None,
        )
        .await;
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
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .and(body_json(json!({"event": "joining", "from": "+1 \"555\""})))
        .respond_with(ResponseTemplate::new(200))
        .expect(1)
        .mount(&receiver)
        .await;
    let s = signed_server().await;
    let a = s.create_customer("a").await;
    let (st, conf) = s
        .call("POST", "/v1.0/conferences", Some(&a.key), Some(json!({"pre_actions": [
            {"type": "webhook_send", "option": {"uri": format!("{}/hook", receiver.uri()), "sync": true, "data": {"event": "joining", "from": "${call.from}"}}},
            {"type": "beep"}
        ]})))
        .await;
    assert_eq!(st, 200, "{conf}");
    let cid = conf["id"].as_str().unwrap();
    let (st, body) = post_event(&s, &json!({"id": "w", "type": "call_joining", "data": {"call_id": "c", "conference_id": cid, "from": "+1 \"555\""}}), None).await;
    assert_eq!(st, 200, "{body}");
    // Sync: the request has already arrived when the answer comes back.
    assert_eq!(receiver.received_requests().await.unwrap().len(), 1);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["actions"][0]["type"], "beep");
}

#[tokio::test]
async fn a_slow_sync_webhook_holds_the_answer_at_most_three_seconds() {
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(20)))
        .mount(&receiver)
        .await;
    let s = signed_server().await;
    let a = s.create_customer("a").await;
    let (_, conf) = s
        .call(
            "POST",
            "/v1.0/conferences",
            Some(&a.key),
            Some(json!({"pre_actions": [
                {"type": "webhook_send", "option": {"uri": receiver.uri(), "sync": true}}
            ]})),
        )
        .await;
    let cid = conf["id"].as_str().unwrap();
    let started = std::time::Instant::now();
    let (st, _) = post_event(
        &s,
        &json!({"id": "w", "type": "call_joining", "data": {"call_id": "c", "conference_id": cid}}),
        None,
    )
    .await;
    assert_eq!(st, 200);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the 3 s limit applies"
    );
}

#[tokio::test]
async fn xml_answer_parses_with_an_xml_parser_and_keeps_text_intact() {
    let s = signed_server().await;
    let a = s.create_customer("a").await;
    let text = "Tom & Jerry say <hello> \"quoted\" 'single' — 你好";
    let (_, conf) = s
        .call(
            "POST",
            "/v1.0/conferences",
            Some(&a.key),
            Some(json!({"pre_actions": [{"type": "talk", "option": {"text": text}}]})),
        )
        .await;
    let cid = conf["id"].as_str().unwrap();
    let (st, xml) = post_event(
        &s,
        &json!({"id": "x", "type": "call_joining", "data": {"call_id": "c", "conference_id": cid}}),
        Some("application/xml"),
    )
    .await;
    assert_eq!(st, 200);
    let mut reader = quick_xml::Reader::from_str(&xml);
    let mut talk_text = String::new();
    let mut in_talk = false;
    let mut elements = Vec::new();
    loop {
        match reader.read_event().expect("well-formed XML") {
            quick_xml::events::Event::Start(e) => {
                let n = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                in_talk = n == "talk";
                elements.push(n);
            }
            quick_xml::events::Event::Empty(e) => {
                elements.push(String::from_utf8(e.name().as_ref().to_vec()).unwrap())
            }
            quick_xml::events::Event::Text(t) if in_talk => {
                talk_text.push_str(&t.unescape().unwrap())
            }
            quick_xml::events::Event::End(_) => in_talk = false,
            quick_xml::events::Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!(elements, ["response", "talk", "conference_join"]);
    assert_eq!(talk_text, text);
}

#[tokio::test]
async fn flows_reload_on_change_and_keep_the_last_good_set() {
    let dir = tempfile::tempdir().unwrap();
    let flows = dir.path().join("flows");
    std::fs::create_dir(&flows).unwrap();
    std::fs::write(
        flows.join("hi.json"),
        r#"{"name": "hi", "actions": [{"type": "talk", "option": {"text": "version one"}}]}"#,
    )
    .unwrap();
    let mut c = common::test_config(&dir);
    c.flows_dir = flows.clone();
    c.platform_secret = Some(common::PLATFORM_SECRET.into());
    let s = Server::start_with(dir, c).await;
    let a = s.create_customer("a").await;
    let (st, conf) = s
        .call(
            "POST",
            "/v1.0/conferences",
            Some(&a.key),
            Some(json!({"pre_actions": [{"type": "flow", "option": {"name": "hi"}}]})),
        )
        .await;
    assert_eq!(st, 200, "{conf}");
    let cid = conf["id"].as_str().unwrap().to_string();
    let talk = |n: usize| {
        let s = &s;
        let cid = cid.clone();
        async move {
            let (_, body) = post_event(s, &json!({"id": format!("e{n}"), "type": "call_joining", "data": {"call_id": format!("c{n}"), "conference_id": cid}}), None).await;
            let v: Value = serde_json::from_str(&body).unwrap();
            v["actions"][0]["option"]["text"]
                .as_str()
                .unwrap_or("")
                .to_string()
        }
    };
    assert_eq!(talk(1).await, "version one");

    std::fs::write(
        flows.join("hi.json"),
        r#"{"name": "hi", "actions": [{"type": "talk", "option": {"text": "version two!"}}]}"#,
    )
    .unwrap();
    let mut n = 2;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while talk(n).await != "version two!" {
        assert!(
            std::time::Instant::now() < deadline,
            "the change was not picked up"
        );
        n += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // A broken file is refused and the last good set stays.
    std::fs::write(
        flows.join("hi.json"),
        r#"{"name": "hi", "actions": [{"type": "talk"}]}"#,
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    n += 1;
    assert_eq!(talk(n).await, "version two!");
    let (_, list) = s.call("GET", "/v1.0/flows", Some(&a.key), None).await;
    assert_eq!(
        list["result"][0]["actions"][0]["option"]["text"],
        "version two!"
    );
}

#[tokio::test]
async fn async_webhook_send_goes_through_the_outbox_signed() {
    let receiver = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(path("/async"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&receiver)
        .await;
    Mock::given(method("PUT"))
        .and(path("/async"))
        .respond_with(ResponseTemplate::new(200))
        .with_priority(2)
        .mount(&receiver)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let mut c = common::test_config(&dir);
    c.platform_secret = Some(common::PLATFORM_SECRET.into());
    c.webhook_allow_private = true;
    c.webhook_retry_schedule = "0,1".into();
    let s = Server::start_with(dir, c).await;
    let a = s.create_customer("a").await;
    let (_, conf) = s
        .call("POST", "/v1.0/conferences", Some(&a.key), Some(json!({"pre_actions": [
            {"type": "webhook_send", "option": {"uri": format!("{}/async", receiver.uri()), "method": "PUT", "data_type": "text/plain", "data": "joined ${call.id}"}},
            {"type": "beep"}
        ]})))
        .await;
    let cid = conf["id"].as_str().unwrap();
    let (st, _) = post_event(&s, &json!({"id": "aw", "type": "call_joining", "data": {"call_id": "c7", "conference_id": cid}}), None).await;
    assert_eq!(st, 200);
    let got = common::eventually(
        Duration::from_secs(5),
        "delivered after one retry",
        || async {
            let r = receiver.received_requests().await.unwrap_or_default();
            (r.len() >= 2).then_some(r)
        },
    )
    .await;
    let last = &got[1];
    assert_eq!(String::from_utf8_lossy(&last.body), "joined c7");
    assert_eq!(last.headers.get("content-type").unwrap(), "text/plain");
    let h = |n: &str| last.headers.get(n).unwrap().to_str().unwrap().to_string();
    assert!(common::signature_valid(
        a.json["webhook_secret"].as_str().unwrap(),
        &h("webhook-id"),
        &h("webhook-timestamp"),
        &last.body,
        &h("webhook-signature")
    ));
    let (_, log) = s
        .call("GET", "/v1.0/webhook_deliveries", Some(&a.key), None)
        .await;
    assert_eq!(log["result"][0]["event_type"], "webhook_send");
}

#[tokio::test]
async fn action_webhooks_to_private_addresses_are_refused_by_default() {
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    let s = Server::start().await;
    let a = s.create_customer("a").await;
    let (_, conf) = s
        .call("POST", "/v1.0/conferences", Some(&a.key), Some(json!({"pre_actions": [
            {"type": "webhook_send", "option": {"uri": format!("http://localhost:{}/x", receiver.address().port()), "sync": true}},
            {"type": "webhook_send", "option": {"uri": format!("http://127.0.0.1:{}/y", receiver.address().port())}},
            {"type": "beep"}
        ]})))
        .await;
    let cid = conf["id"].as_str().unwrap();
    let (st, _) = post_event(
        &s,
        &json!({"id": "p", "type": "call_joining", "data": {"call_id": "c", "conference_id": cid}}),
        None,
    )
    .await;
    assert_eq!(st, 200, "the call still gets its actions");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(receiver.received_requests().await.unwrap().is_empty());
}
