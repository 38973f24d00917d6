//! Property-based fuzzing of everything that parses client input: action lists, platform event
//! bodies and XML API bodies must never panic, and whatever parses must run within the step
//! bound. CI runs the default number of cases; a longer run is documented in
//! docs/operations.md (`PROPTEST_CASES=1000000 cargo test --release --test it fuzz::`).

use crate::support::TestServer;
use confab::actions::interpreter::{run, Variables, MAX_STEPS};
use confab::actions::{compile, parse_list, NoFlows};
use confab::http::platform::parse_event_body;
use confab::http::xml_api::parse_create;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use serde_json::{json, Value};

/// Arbitrary JSON, biased towards the shapes actions have so parsing goes deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        "[a-z_]{0,12}".prop_map(Value::String),
        prop_oneof![
            Just("talk"),
            Just("goto"),
            Just("branch"),
            Just("condition_variable"),
            Just("sleep"),
            Just("play"),
            Just("flow"),
            Just("webhook_send"),
            Just("hangup")
        ]
        .prop_map(|s| json!(s)),
        (0u8..4).prop_map(|i| json!(format!("00000000-0000-0000-0000-00000000000{i}"))),
        ".{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("id".to_string()),
                    Just("next_id".to_string()),
                    Just("type".to_string()),
                    Just("option".to_string()),
                    Just("text".to_string()),
                    Just("target_id".to_string()),
                    Just("loop_count".to_string()),
                    Just("duration".to_string()),
                    Just("stream_urls".to_string()),
                    "[a-z_]{1,10}"
                ],
                inner,
                0..6,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn action_lists_never_panic_and_always_terminate(list in any_json()) {
        if let Ok(parsed) = parse_list("pre_actions", &list) {
            if let Ok(program) = compile("pre_actions", &parsed.actions, &NoFlows) {
                let out = run(&program, Variables::new());
                prop_assert!(out.steps <= MAX_STEPS);
            }
        }
    }

    #[test]
    fn platform_event_bodies_never_panic(body in any_json(), bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = parse_event_body(body.to_string().as_bytes());
        let _ = parse_event_body(&bytes);
        let wrapped = json!({"id": "x", "type": "call_joining", "data": body});
        let _ = parse_event_body(wrapped.to_string().as_bytes());
    }

    #[test]
    fn xml_bodies_never_panic(text in "(<[a-zA-Z]{1,8}( [a-z]{1,4}=\"[^\"]{0,6}\")?>|</[a-zA-Z]{1,8}>|<[a-zA-Z]{1,8}/>|&[a-z#0-9]{0,6};|<!\\[CDATA\\[[^\\]]{0,8}\\]\\]>|<\\?xml[^>]{0,10}\\?>|[^<&]{0,10}){0,16}", bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = parse_create(text.as_bytes());
        let _ = parse_create(&bytes);
        let wrapped = format!("<conf><userData>{text}</userData><onStatus>{text}</onStatus></conf>");
        let _ = parse_create(wrapped.as_bytes());
    }
}

/// Random bodies through the real server: whatever comes in, the answer is never a 500.
#[tokio::test]
async fn random_bodies_through_the_server_never_get_a_500() {
    let s = TestServer::start().await;
    let a = s.create_customer("a").await;
    let (_, conf) = s
        .call("POST", "/v1.0/conferences", Some(&a.key), Some(json!({})))
        .await;
    let cid = conf["id"].as_str().unwrap().to_string();
    let mut runner = proptest::test_runner::TestRunner::default();
    let strategy = any_json();
    let mut sent = 0;
    for _ in 0..150 {
        let value = strategy.new_tree(&mut runner).expect("a value").current();
        let acct = a.id.clone();
        let requests: Vec<(&str, String, String)> = vec![
            ("POST", "/v1.0/conferences".into(), value.to_string()),
            (
                "PUT",
                format!("/v1.0/conferences/{cid}"),
                json!({"pre_actions": [value.clone()]}).to_string(),
            ),
            (
                "POST",
                "/v1.0/conferences".into(),
                json!({"post_actions": value.clone(), "data": value.clone()}).to_string(),
            ),
            (
                "POST",
                "/v1.0/platform/events".into(),
                json!({"id": format!("f{sent}"), "type": "call_joining", "data": value.clone()})
                    .to_string(),
            ),
            (
                "POST",
                format!("/v1/account/{acct}/conf"),
                format!(
                    "<c><userData>{}</userData></c>",
                    value.to_string().replace('<', "&lt;")
                ),
            ),
        ];
        for (method, path, body) in requests {
            let res = s
                .client
                .request(
                    reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                    s.url(&path),
                )
                .bearer_auth(&a.key)
                .body(body.clone())
                .send()
                .await
                .unwrap();
            assert!(
                res.status().as_u16() < 500,
                "{method} {path} {body} -> {}",
                res.status()
            );
            sent += 1;
        }
    }
    assert_eq!(sent, 750);
}

/// Found by the contract test on PostgreSQL, which cannot store NUL in text: a NUL in any text
/// a client sends is refused with 400 naming its field, on both backends alike, never a 500.
#[tokio::test]
async fn nul_characters_are_refused_naming_their_field() {
    let s = TestServer::start().await;
    let a = s.create_customer("a").await;
    let conf = s.create_conference(&a.key, json!({"name": "room"})).await;
    let cid = conf["id"].as_str().unwrap().to_string();
    let joining =
        |call: &str, from: &str| json!({"call_id": call, "conference_id": cid, "from": from});
    let mut with_variable = joining("c1", "");
    with_variable["variables"] = json!({"pin": "1\u{0}"});
    for (id, data, field) in [
        ("nul-var", with_variable, "data.variables.pin"),
        ("nul\u{0}id", joining("c1", ""), "id"),
        ("nul-call", joining("c\u{0}1", ""), "data.call_id"),
        ("nul-from", joining("c1", "+1\u{0}"), "data.from"),
    ] {
        let res = s
            .event(id, "call_joining", data)
            .signed_as("msg_nul")
            .send()
            .await;
        assert_eq!(res.status, 400, "{field}: {}", res.text());
        let message = res.json["error"]["message"].as_str().unwrap().to_string();
        assert!(message.starts_with(&format!("{field}: ")), "{message}");
    }
    let (status, e) = s
        .call(
            "POST",
            "/v1.0/conferences",
            Some(&a.key),
            Some(json!({"name": "a\u{0}b"})),
        )
        .await;
    assert_eq!(status, 400, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("name: "),
        "{e}"
    );
    // The XML API's texts are checked like the JSON API's (a character reference is how XML
    // carries a control character at all).
    let res = s
        .client
        .post(s.url(&format!("/v1/account/{}/conf", a.id)))
        .bearer_auth(&a.key)
        .body("<conf><userData>a&#1;b</userData></conf>")
        .send()
        .await
        .unwrap();
    let doc = res.text().await.unwrap();
    assert!(doc.contains("userData"), "{doc}");
    // Inside JSON a NUL is stored escaped, so conference data may hold one.
    let (status, e) = s
        .call(
            "POST",
            "/v1.0/conferences",
            Some(&a.key),
            Some(json!({"data": {"k": "\u{0}"}})),
        )
        .await;
    assert_eq!(status, 200, "{e}");
    assert_eq!(e["data"]["k"], "\u{0}");
}
