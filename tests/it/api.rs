//! End-to-end tests of the JSON conference API through the real server.

use crate::support::{seed_conference_body, TestServer, ADMIN_TOKEN};
use serde_json::{json, Value};
use std::collections::HashSet;

/// The seed's 16 fields, then the room rules of SPEC §14.
const FIELDS: [&str; 21] = [
    "id",
    "customer_id",
    "type",
    "status",
    "name",
    "detail",
    "data",
    "timeout",
    "pre_actions",
    "post_actions",
    "conferencecall_ids",
    "recording_id",
    "recording_ids",
    "tm_create",
    "tm_update",
    "tm_delete",
    "max_participants",
    "locked",
    "wait_for_moderator",
    "end_on_moderator_exit",
    "wait_music_url",
];

fn is_api_timestamp(v: &Value) -> bool {
    let s = v.as_str().unwrap_or("");
    s.len() == 26 && &s[4..5] == "-" && &s[10..11] == " " && &s[19..20] == "."
}

#[tokio::test]
async fn seed_example_round_trips_with_exact_fields_in_order() {
    let s = TestServer::start().await;
    let alice = s.create_customer("alice").await;
    let res = s
        .client
        .post(s.url("/v1.0/conferences"))
        .bearer_auth(&alice.key)
        .json(&seed_conference_body())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    // Field order is part of the contract: check it on the raw text.
    let created: serde_json::Map<String, Value> = serde_json::from_str(&text).unwrap();
    let keys: Vec<&str> = created.keys().map(String::as_str).collect();
    assert_eq!(keys, FIELDS);
    assert_eq!(created["status"], "progressing");
    assert_eq!(created["customer_id"], alice.id.as_str());
    assert_eq!(
        created["recording_id"],
        "00000000-0000-0000-0000-000000000000"
    );
    assert_eq!(created["tm_delete"], "9999-01-01 00:00:00.000000");
    assert!(is_api_timestamp(&created["tm_create"]));
    let seed = seed_conference_body();
    for k in [
        "type",
        "name",
        "detail",
        "data",
        "timeout",
        "pre_actions",
        "post_actions",
    ] {
        assert_eq!(created[k], seed[k], "field {k} round-trips");
    }
    assert_eq!(created["conferencecall_ids"], json!([]));
    assert_eq!(created["recording_ids"], json!([]));

    let id = created["id"].as_str().unwrap();
    let (status, got) = s
        .call(
            "GET",
            &format!("/v1.0/conferences/{id}"),
            Some(&alice.key),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(Value::Object(created.clone()), got);
}

#[tokio::test]
async fn update_changes_only_given_fields_and_delete_is_soft_and_idempotent() {
    let s = TestServer::start().await;
    let a = s.create_customer("a").await;
    let (_, c) = s
        .call(
            "POST",
            "/v1.0/conferences",
            Some(&a.key),
            Some(seed_conference_body()),
        )
        .await;
    let id = c["id"].as_str().unwrap().to_string();
    let path = format!("/v1.0/conferences/{id}");

    let (st, u) = s
        .call(
            "PUT",
            &path,
            Some(&a.key),
            Some(json!({"name": "renamed", "timeout": 60})),
        )
        .await;
    assert_eq!(st, 200, "{u}");
    assert_eq!(u["name"], "renamed");
    assert_eq!(u["timeout"], 60);
    assert_eq!(u["detail"], c["detail"]);
    assert_eq!(u["pre_actions"], c["pre_actions"]);
    assert_ne!(u["tm_update"], c["tm_update"]);
    assert_eq!(u["tm_create"], c["tm_create"]);
    // The whole conference as it was read, sent back with one field changed.
    let mut whole = u.clone();
    whole["name"] = json!("round trip");
    let (st, r) = s.call("PUT", &path, Some(&a.key), Some(whole)).await;
    assert_eq!((st, r["name"].as_str()), (200, Some("round trip")), "{r}");
    assert_eq!(r["pre_actions"], u["pre_actions"]);

    let (st, d) = s.call("DELETE", &path, Some(&a.key), None).await;
    assert_eq!(st, 200);
    assert_eq!(d["status"], "terminated");
    assert_ne!(d["tm_delete"], "9999-01-01 00:00:00.000000");
    let (st, d2) = s.call("DELETE", &path, Some(&a.key), None).await;
    assert_eq!(st, 200);
    assert_eq!(d2, d, "a repeated DELETE changes nothing");

    // Still readable by id, hidden from the list unless deleted=true.
    let (st, _) = s.call("GET", &path, Some(&a.key), None).await;
    assert_eq!(st, 200);
    let (_, list) = s.call("GET", "/v1.0/conferences", Some(&a.key), None).await;
    assert_eq!(list["result"], json!([]));
    let (_, list) = s
        .call("GET", "/v1.0/conferences?deleted=true", Some(&a.key), None)
        .await;
    assert_eq!(list["result"][0]["id"], id.as_str());

    // A terminated conference cannot be changed.
    let (st, e) = s
        .call("PUT", &path, Some(&a.key), Some(json!({"name": "x"})))
        .await;
    assert_eq!(st, 409);
    assert_eq!(e["error"]["reason"], "STATE_INVALID");
}

#[tokio::test]
async fn another_customers_conference_answers_404_on_every_route() {
    let s = TestServer::start().await;
    let a = s.create_customer("a").await;
    let b = s.create_customer("b").await;
    let (_, c) = s
        .call(
            "POST",
            "/v1.0/conferences",
            Some(&a.key),
            Some(seed_conference_body()),
        )
        .await;
    let path = format!("/v1.0/conferences/{}", c["id"].as_str().unwrap());
    for (method, body) in [
        ("GET", None),
        ("PUT", Some(json!({"name": "stolen"}))),
        ("DELETE", None),
    ] {
        let (st, e) = s.call(method, &path, Some(&b.key), body).await;
        assert_eq!(st, 404, "{method}");
        assert_eq!(e["error"]["reason"], "CONFERENCE_NOT_FOUND");
    }
    let (_, list) = s.call("GET", "/v1.0/conferences", Some(&b.key), None).await;
    assert_eq!(list["result"], json!([]));
    // And nothing changed for the owner.
    let (st, got) = s.call("GET", &path, Some(&a.key), None).await;
    assert_eq!(st, 200);
    assert_eq!(got["name"], "test conference");
    assert_eq!(got["status"], "progressing");
}

#[tokio::test]
async fn pagination_neither_skips_nor_repeats_when_many_share_tm_create() {
    let s = TestServer::start().await;
    let a = s.create_customer("a").await;
    // Many conferences created concurrently: the group-committing writer gives many of them
    // timestamps microseconds apart or, on a coarse clock, equal; the cursor must not care.
    let mut created = HashSet::new();
    let futures: Vec<_> = (0..230)
        .map(|i| {
            s.call(
                "POST",
                "/v1.0/conferences",
                Some(&a.key),
                Some(json!({"name": format!("c{i}")})),
            )
        })
        .collect();
    for (st, c) in futures_join(futures).await {
        assert_eq!(st, 200);
        created.insert(c["id"].as_str().unwrap().to_string());
    }
    for page_size in [1usize, 7, 100] {
        let mut seen = Vec::new();
        let mut token = String::new();
        let mut last_key: Option<(String, String)> = None;
        loop {
            let (st, page) = s
                .call(
                    "GET",
                    &format!("/v1.0/conferences?page_size={page_size}&page_token={token}"),
                    Some(&a.key),
                    None,
                )
                .await;
            assert_eq!(st, 200, "{page}");
            let items = page["result"].as_array().unwrap();
            assert!(items.len() <= page_size);
            for it in items {
                let key = (
                    it["tm_create"].as_str().unwrap().to_string(),
                    it["id"].as_str().unwrap().to_string(),
                );
                if let Some(prev) = &last_key {
                    assert!(key < *prev, "newest first");
                }
                last_key = Some(key);
                seen.push(it["id"].as_str().unwrap().to_string());
            }
            token = page["next_page_token"].as_str().unwrap().to_string();
            if token.is_empty() {
                break;
            }
            if page_size == 1 && seen.len() > 40 {
                // Enough to prove the walk with page_size 1; the bigger pages cover the rest.
                break;
            }
        }
        if page_size != 1 {
            assert_eq!(seen.len(), created.len());
            assert_eq!(seen.iter().cloned().collect::<HashSet<_>>(), created);
        }
    }
}

async fn futures_join<F: std::future::Future>(fs: Vec<F>) -> Vec<F::Output> {
    futures_util::future::join_all(fs).await
}

#[tokio::test]
async fn shared_tm_create_is_paged_exactly_by_id() {
    // Forces equal tm_create values directly in the database, then pages through them.
    let s = TestServer::start().await;
    let a = s.create_customer("a").await;
    for i in 0..25 {
        s.call(
            "POST",
            "/v1.0/conferences",
            Some(&a.key),
            Some(json!({"name": format!("c{i}")})),
        )
        .await;
    }
    s.db()
        .execute("UPDATE conferences SET tm_create = 1643868536672025")
        .await;
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let (_, page) = s
            .call(
                "GET",
                &format!("/v1.0/conferences?page_size=4&page_token={token}"),
                Some(&a.key),
                None,
            )
            .await;
        for it in page["result"].as_array().unwrap() {
            assert_eq!(it["tm_create"], "2022-02-03 06:08:56.672025");
            seen.push(it["id"].as_str().unwrap().to_string());
        }
        token = page["next_page_token"].as_str().unwrap().to_string();
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(seen.len(), 25);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 25);
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.reverse();
    assert_eq!(seen, sorted, "ties are ordered by id, descending");
}

/// Conference bodies and what they must get: the error reason and a text its message must
/// contain (naming the field). An empty reason: the body is accepted.
const BAD_BODIES: &[(&str, &str, &str)] = &[
    ("{not json", "INVALID_JSON_BODY", "malformed"),
    ("", "INVALID_JSON_BODY", "JSON object"),
    ("[]", "INVALID_JSON_BODY", "JSON object"),
    ("[null, 5]", "INVALID_JSON_BODY", "JSON object"),
    (r#"{"timeout": "ten"}"#, "INVALID_JSON_BODY", "timeout"),
    (r#"{"name": 5}"#, "INVALID_JSON_BODY", "name"),
    (r#"{"data": [1]}"#, "INVALID_JSON_BODY", "data"),
    (r#"{"pre_actions": {}}"#, "INVALID_JSON_BODY", "pre_actions"),
    (r#"{"timeout": -1}"#, "INVALID_ARGUMENT", "timeout"),
    (r#"{"timeout": 604801}"#, "INVALID_ARGUMENT", "timeout"),
    (r#"{"type": "webinar"}"#, "INVALID_ARGUMENT", "type"),
    (
        r#"{"pre_actions": [{"type": "talk"}]}"#,
        "INVALID_ACTION",
        "pre_actions[0].option.text",
    ),
    (
        r#"{"post_actions": [{"type": "beep"}, {"type": "fly"}]}"#,
        "INVALID_ACTION",
        "post_actions[1].type",
    ),
    (
        r#"{"pre_actions": [{"type": "sleep", "option": {"duration": "x"}}]}"#,
        "INVALID_ACTION",
        "pre_actions[0].option.duration",
    ),
    (
        r#"{"pre_actions": [{"type": "goto", "option": {"target_id": "11111111-1111-1111-1111-111111111111"}}]}"#,
        "INVALID_ACTION",
        "pre_actions[0].option.target_id",
    ),
    (
        r#"{"pre_actions": [{"id": "11111111-1111-1111-1111-111111111111", "type": "beep"}, {"id": "11111111-1111-1111-1111-111111111111", "type": "beep"}]}"#,
        "INVALID_ACTION",
        "pre_actions[1].id",
    ),
    (
        r#"{"pre_actions": [{"type": "beep", "next_id": "22222222-2222-2222-2222-222222222222"}]}"#,
        "INVALID_ACTION",
        "pre_actions[0].next_id",
    ),
    (
        r#"{"pre_actions": [{"type": "talk", "option": {"text": "hi", "gender": "robot"}}]}"#,
        "INVALID_ACTION",
        "pre_actions[0].option.gender",
    ),
    (r#"{"unknown": {"deep": [1, 2]}, "name": "ok"}"#, "", ""),
];

#[tokio::test]
async fn bad_input_gets_a_clear_4xx_never_a_500() {
    let s = TestServer::start().await;
    let a = s.create_customer("a").await;
    for &(body, reason, needle) in BAD_BODIES {
        let res = post_raw(&s, &a.key, body.to_string()).await;
        let status = res.status().as_u16();
        let json: Value = res.json().await.unwrap();
        if reason.is_empty() {
            assert_eq!(status, 200, "unknown fields are ignored: {json}");
            continue;
        }
        assert_eq!(status, 400, "{body} -> {json}");
        assert_eq!(json["error"]["reason"], reason, "{body}");
        assert_eq!(json["error"]["status"], 400);
        assert!(
            json["error"]["message"].as_str().unwrap().contains(needle),
            "{body} -> {json}"
        );
        assert!(json["error"]["request_id"].as_str().unwrap().len() == 36);
    }
    oversized_and_deep_bodies_are_refused(&s, &a.key).await;
    bad_ids_and_queries_are_refused(&s, &a.key).await;
}

async fn post_raw(s: &TestServer, key: &str, body: String) -> reqwest::Response {
    s.client
        .post(s.url("/v1.0/conferences"))
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
}

/// Posted without a content-type: the size and depth limits apply whatever the client says.
async fn oversized_and_deep_bodies_are_refused(s: &TestServer, key: &str) {
    let post = |body: String| {
        s.client
            .post(s.url("/v1.0/conferences"))
            .bearer_auth(key)
            .body(body)
            .send()
    };
    let big = format!(r#"{{"name": "{}"}}"#, "x".repeat(1024 * 1024 + 10));
    let res = post(big).await.unwrap();
    assert_eq!(res.status(), 413);
    let json: Value = res.json().await.unwrap();
    assert_eq!(json["error"]["status"], 413);

    // Deeply nested JSON is refused by the parser's depth limit, not by a stack overflow.
    let deep = format!(
        r#"{{"data": {{"a": {}1{}}}}}"#,
        "[".repeat(5000),
        "]".repeat(5000)
    );
    let res = post(deep).await.unwrap();
    assert_eq!(res.status(), 400);
}

async fn bad_ids_and_queries_are_refused(s: &TestServer, key: &str) {
    for (path, reason) in [
        ("/v1.0/conferences/not-a-uuid", "INVALID_ID"),
        ("/v1.0/conferencecalls/123", "INVALID_ID"),
        ("/v1.0/conferences?page_size=0", "INVALID_ARGUMENT"),
        ("/v1.0/conferences?page_size=101", "INVALID_ARGUMENT"),
        ("/v1.0/conferences?page_token=%%%", "INVALID_ARGUMENT"),
        ("/v1.0/conferences?status=bogus", "INVALID_ARGUMENT"),
        ("/v1.0/conferences?deleted=maybe", "INVALID_ARGUMENT"),
    ] {
        let (st, e) = s.call("GET", path, Some(key), None).await;
        assert_eq!(st, 400, "{path}: {e}");
        assert_eq!(e["error"]["reason"], reason, "{path}");
    }
    let (st, e) = s
        .call(
            "GET",
            "/v1.0/conferences/11111111-1111-1111-1111-111111111111",
            Some(key),
            None,
        )
        .await;
    assert_eq!(
        (st, e["error"]["reason"].as_str()),
        (404, Some("CONFERENCE_NOT_FOUND"))
    );
}

#[tokio::test]
async fn authentication_failures_answer_401() {
    let s = TestServer::start().await;
    let a = s.create_customer("a").await;
    for key in [None, Some("cfk_wrong"), Some("")] {
        let (st, e) = s.call("GET", "/v1.0/conferences", key, None).await;
        assert_eq!(st, 401);
        assert_eq!(e["error"]["reason"], "AUTHENTICATION_REQUIRED");
    }
    let res = s
        .client
        .get(s.url("/v1.0/conferences"))
        .header("authorization", "Basic Zm9vOmJhcg==")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    // ?token= works as well as the header.
    let (st, _) = s
        .call(
            "GET",
            &format!("/v1.0/conferences?token={}", a.key),
            None,
            None,
        )
        .await;
    assert_eq!(st, 200);
    // The admin token is not a customer key, and a customer key is not the admin token.
    let (st, _) = s
        .call("GET", "/v1.0/conferences", Some(ADMIN_TOKEN), None)
        .await;
    assert_eq!(st, 401);
    let (st, _) = s
        .call(
            "POST",
            "/v1.0/customers",
            Some(&a.key),
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!(st, 401);
}

#[tokio::test]
async fn admin_routes_do_not_exist_without_an_admin_token() {
    let s = TestServer::start_with(|c| c.admin_token = None).await;
    let (st, e) = s
        .call(
            "POST",
            "/v1.0/customers",
            Some(ADMIN_TOKEN),
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!(st, 404);
    assert_eq!(e["error"]["reason"], "NOT_FOUND");
}

#[tokio::test]
async fn healthz_answers_and_unknown_routes_get_the_envelope() {
    let s = TestServer::start().await;
    let (st, _) = s.call("GET", "/healthz", None, None).await;
    assert_eq!(st, 200);
    let (st, e) = s.call("GET", "/nope", None, None).await;
    assert_eq!(st, 404);
    assert_eq!(e["error"]["reason"], "NOT_FOUND");
    let a = s.create_customer("a").await;
    let (st, e) = s
        .call("PATCH", "/v1.0/conferences", Some(&a.key), None)
        .await;
    assert_eq!(st, 405);
    assert_eq!(e["error"]["reason"], "METHOD_NOT_ALLOWED");
}

/// RFC 9110: a 405 names the methods the route takes, in both APIs.
#[tokio::test]
async fn method_not_allowed_answers_carry_allow_in_both_apis() {
    let s = TestServer::start().await;
    let a = s.create_customer("a").await;
    let cases = [
        ("PATCH", "/v1.0/conferences".to_string(), "GET, POST"),
        (
            "POST",
            format!("/v1.0/conferences/{}", uuid::Uuid::nil()),
            "GET, PUT, DELETE",
        ),
        ("GET", "/v1.0/platform/events".to_string(), "POST"),
        ("DELETE", "/v1/account/acc/conf".to_string(), "POST"),
        ("PUT", "/v1/account/acc/conf/sid1/part".to_string(), "GET"),
        ("POST", "/healthz".to_string(), "GET"),
        ("DELETE", "/metrics".to_string(), "GET"),
        ("POST", "/openapi.json".to_string(), "GET"),
        ("PUT", "/console/console.js".to_string(), "GET"),
    ];
    for (method, path, allow) in cases {
        let res = s
            .client
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                s.url(&path),
            )
            .bearer_auth(&a.key)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 405, "{method} {path}");
        assert_eq!(res.headers()["allow"], allow, "{method} {path}");
        let xml = path.starts_with("/v1/account");
        let body = res.text().await.unwrap();
        if xml {
            assert!(body.contains("<code>000405</code>"), "{body}");
        } else {
            assert!(body.contains("METHOD_NOT_ALLOWED"), "{body}");
        }
    }
}

#[tokio::test]
async fn restart_keeps_customers_and_conferences() {
    let s = TestServer::start().await;
    let a = s.create_customer("a").await;
    let (_, c) = s
        .call(
            "POST",
            "/v1.0/conferences",
            Some(&a.key),
            Some(seed_conference_body()),
        )
        .await;
    let s = s.restart_with(|_| {}).await;
    let (st, got) = s
        .call(
            "GET",
            &format!("/v1.0/conferences/{}", c["id"].as_str().unwrap()),
            Some(&a.key),
            None,
        )
        .await;
    assert_eq!(st, 200);
    assert_eq!(got, c);
}
