//! Operations and abuse: /metrics, rate limits, bad-key floods, graceful shutdown, and the
//! concurrency guarantees under many simultaneous requests.

mod common;

use common::{sign_event, Server, PLATFORM_SECRET};
use serde_json::{json, Value};
use std::time::Duration;

async fn signed_server(configure: impl FnOnce(&mut confab::Config)) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let mut c = common::test_config(&dir);
    c.platform_secret = Some(PLATFORM_SECRET.into());
    configure(&mut c);
    Server::start_with(dir, c).await
}

#[tokio::test]
async fn metrics_expose_the_named_series() {
    let s = signed_server(|_| {}).await;
    let a = s.create_customer("a").await;
    let (_, conf) = s
        .call("POST", "/v1.0/conferences", Some(&a.key), Some(json!({})))
        .await;
    let cid = conf["id"].as_str().unwrap();
    s.event(
        "m1",
        "call_joining",
        json!({"call_id": "c1", "conference_id": cid}),
    )
    .await;
    s.event(
        "m1",
        "call_joining",
        json!({"call_id": "c1", "conference_id": cid}),
    )
    .await;
    s.event(
        "m2",
        "call_joining",
        json!({"call_id": "c2", "conference_id": "00000000-0000-0000-0000-000000000009"}),
    )
    .await;
    s.call(
        "GET",
        &format!("/v1.0/conferences/{cid}"),
        Some(&a.key),
        None,
    )
    .await;
    let res = s.client.get(s.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = res.text().await.unwrap();
    for line in [
        "confab_http_requests_total{method=\"GET\",route=\"/v1.0/conferences/{id}\",status=\"200\"} 1",
        "confab_platform_events_total{type=\"call_joining\",outcome=\"applied\"} 1",
        "confab_platform_events_total{type=\"call_joining\",outcome=\"replayed\"} 1",
        "confab_platform_events_total{type=\"call_joining\",outcome=\"refused\"} 1",
        "confab_outbox_depth{kind=\"command\"} 0",
        "confab_active_conferences 1",
        "confab_active_calls 1",
        "# TYPE confab_deliveries_total counter",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
}

#[tokio::test]
async fn a_customer_over_its_rate_gets_429_and_others_are_served() {
    let s = signed_server(|c| c.rate_limit = 5).await;
    let noisy = s.create_customer("noisy").await;
    let quiet = s.create_customer("quiet").await;
    let mut limited = None;
    for _ in 0..30 {
        let res = s
            .client
            .get(s.url("/v1.0/conferences"))
            .bearer_auth(&noisy.key)
            .send()
            .await
            .unwrap();
        if res.status() == 429 {
            limited = Some(res);
            break;
        }
    }
    let res = limited.expect("the limit applies");
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry));
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["reason"], "RATE_LIMITED");
    let (st, _) = s
        .call("GET", "/v1.0/conferences", Some(&quiet.key), None)
        .await;
    assert_eq!(st, 200, "another customer is still served");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (st, _) = s
        .call("GET", "/v1.0/conferences", Some(&noisy.key), None)
        .await;
    assert_eq!(st, 200, "the bucket refills");
}

#[tokio::test]
async fn a_flood_of_bad_keys_is_cut_off_without_hurting_real_customers() {
    let s = signed_server(|c| c.auth_failure_limit = 10).await;
    let a = s.create_customer("a").await;
    let (st, _) = s.call("GET", "/v1.0/conferences", Some(&a.key), None).await;
    assert_eq!(st, 200, "a customer already using the service");
    let mut codes = std::collections::HashMap::new();
    let started = std::time::Instant::now();
    for i in 0..200 {
        let res = s
            .client
            .get(s.url("/v1.0/conferences"))
            .bearer_auth(format!("cfk_guess{i}"))
            .send()
            .await
            .unwrap();
        *codes.entry(res.status().as_u16()).or_insert(0) += 1;
    }
    // A burst of 20 plus 10 per second of the flood's duration get a 401; the rest get 429.
    let allowed = 20 + (10.0 * started.elapsed().as_secs_f64()).ceil() as usize + 1;
    let unauthorized = codes.get(&401).copied().unwrap_or(0);
    let limited = codes.get(&429).copied().unwrap_or(0);
    assert!(unauthorized <= allowed, "{codes:?}, allowed {allowed}");
    assert_eq!(limited + unauthorized, 200, "{codes:?}");
    assert!(limited > 0, "{codes:?}");
    // The flood came from this address too, yet a valid key is not refused for it.
    let (st, _) = s.call("GET", "/v1.0/conferences", Some(&a.key), None).await;
    assert_eq!(st, 200);
    let text = s
        .client
        .get(s.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.lines()
            .any(|l| l.starts_with("confab_rate_limited_total ") && !l.ends_with(" 0")),
        "{text}"
    );
}

#[tokio::test]
async fn graceful_shutdown_finishes_in_flight_requests() {
    let receiver = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("POST"))
        .respond_with(wiremock::ResponseTemplate::new(200).set_delay(Duration::from_millis(1500)))
        .mount(&receiver)
        .await;
    let s = signed_server(|c| c.webhook_allow_private = true).await;
    let a = s.create_customer("a").await;
    let (_, conf) = s
        .call("POST", "/v1.0/conferences", Some(&a.key), Some(json!({"pre_actions": [{"type": "webhook_send", "option": {"uri": receiver.uri(), "sync": true}}, {"type": "beep"}]})))
        .await;
    let cid = conf["id"].as_str().unwrap().to_string();
    let body = json!({"id": "slow", "type": "call_joining", "data": {"call_id": "c", "conference_id": cid}}).to_string().into_bytes();
    let req = sign_event(
        s.client.post(s.url("/v1.0/platform/events")),
        "slow",
        &body,
        "valid",
    )
    .body(body);
    let in_flight = tokio::spawn(req.send());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let base = s.base.clone();
    let stopping = tokio::spawn(s.stop());
    let res = in_flight
        .await
        .unwrap()
        .expect("the in-flight request is answered");
    assert_eq!(res.status(), 200);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["actions"][0]["type"], "beep");
    let _dir = stopping.await.unwrap();
    assert!(
        reqwest::get(format!("{base}/healthz")).await.is_err(),
        "no longer accepting"
    );
}

#[tokio::test]
async fn a_thousand_simultaneous_joins_and_leaves_leave_the_list_exact() {
    let s = signed_server(|c| c.workers = Some(2)).await;
    let a = s.create_customer("a").await;
    let (_, conf) = s
        .call("POST", "/v1.0/conferences", Some(&a.key), Some(json!({})))
        .await;
    let cid = conf["id"].as_str().unwrap().to_string();
    let n = 700;
    let ev = |t: &'static str, i: usize| {
        (
            format!("{t}-{i}"),
            t,
            json!({"call_id": format!("c{i}"), "conference_id": cid}),
        )
    };
    let joins: Vec<_> = (0..n).flat_map(|i| [ev("call_joining", i)]).collect();
    for (st, _) in
        futures_util::future::join_all(joins.iter().map(|(id, t, d)| s.event(id, t, d.clone())))
            .await
    {
        assert_eq!(st, 200);
    }
    // Joined for all, and at the same time leaves for the odd ones: 1,050 concurrent events.
    let mixed: Vec<_> = (0..n)
        .map(|i| ev("call_joined", i))
        .chain((0..n).filter(|i| i % 2 == 1).map(|i| ev("call_left", i)))
        .collect();
    futures_util::future::join_all(mixed.iter().map(|(id, t, d)| s.event(id, t, d.clone()))).await;
    let (_, conf) = s
        .call(
            "GET",
            &format!("/v1.0/conferences/{cid}"),
            Some(&a.key),
            None,
        )
        .await;
    let ids: std::collections::HashSet<String> = conf["conferencecall_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let mut expected = std::collections::HashSet::new();
    let mut token = String::new();
    loop {
        let (_, page) = s
            .call(
                "GET",
                &format!(
                    "/v1.0/conferencecalls?conference_id={cid}&status=joined&page_token={token}"
                ),
                Some(&a.key),
                None,
            )
            .await;
        for c in page["result"].as_array().unwrap() {
            let num: usize = c["reference_id"].as_str().unwrap()[1..].parse().unwrap();
            assert_eq!(num % 2, 0, "only even calls stay joined");
            expected.insert(c["id"].as_str().unwrap().to_string());
        }
        token = page["next_page_token"].as_str().unwrap().to_string();
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(expected.len(), n / 2);
    assert_eq!(
        ids, expected,
        "conferencecall_ids is exactly the joined calls"
    );
}

#[tokio::test]
async fn concurrent_delete_and_joins_never_leave_a_joined_call_in_a_terminated_conference() {
    let s = signed_server(|c| c.kick_grace = 1).await;
    let a = s.create_customer("a").await;
    for round in 0..5 {
        let (_, conf) = s
            .call("POST", "/v1.0/conferences", Some(&a.key), Some(json!({})))
            .await;
        let cid = conf["id"].as_str().unwrap().to_string();
        let joins = (0..20).map(|i| {
            let (s, cid) = (&s, cid.clone());
            async move {
                let call = format!("r{round}-c{i}");
                let (st, _) = s
                    .event(
                        &format!("{call}-a"),
                        "call_joining",
                        json!({"call_id": call, "conference_id": cid}),
                    )
                    .await;
                if st == 200 {
                    s.event(
                        &format!("{call}-b"),
                        "call_joined",
                        json!({"call_id": call, "conference_id": cid}),
                    )
                    .await;
                }
                st
            }
        });
        let path = format!("/v1.0/conferences/{cid}");
        let delete = s.call("DELETE", &path, Some(&a.key), None);
        let (statuses, _) = tokio::join!(futures_util::future::join_all(joins), delete);
        assert!(
            statuses.iter().all(|st| *st == 200 || *st == 409),
            "{statuses:?}"
        );
        common::eventually(Duration::from_secs(6), "terminated", || async {
            let (_, c) = s
                .call(
                    "GET",
                    &format!("/v1.0/conferences/{cid}"),
                    Some(&a.key),
                    None,
                )
                .await;
            (c["status"] == "terminated").then_some(())
        })
        .await;
        let (_, calls) = s
            .call(
                "GET",
                &format!("/v1.0/conferencecalls?conference_id={cid}"),
                Some(&a.key),
                None,
            )
            .await;
        for c in calls["result"].as_array().unwrap() {
            assert_eq!(c["status"], "leaved", "round {round}: {c}");
        }
    }
}

#[tokio::test]
async fn openapi_describes_exactly_the_registered_routes() {
    let s = signed_server(|_| {}).await;
    let res = s.client.get(s.url("/openapi.json")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let doc: Value = res.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.0.3");
    let mut described = std::collections::BTreeSet::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            assert!(op["responses"]["200"].is_object(), "{method} {path}");
            described.insert((method.clone(), path.trim_start_matches("/v1.0").to_string()));
        }
    }
    let registered: std::collections::BTreeSet<(String, String)> =
        confab::http::registered_routes().into_iter().collect();
    assert!(!registered.is_empty());
    let undocumented: Vec<_> = registered.difference(&described).collect();
    let phantom: Vec<_> = described.difference(&registered).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from /openapi.json: {undocumented:?}"
    );
    assert!(
        phantom.is_empty(),
        "/openapi.json describes routes that do not exist: {phantom:?}"
    );
    // Every $ref points at a schema that exists.
    let text = doc.to_string();
    for r in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = r.split('"').next().unwrap();
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "dangling $ref {name}"
        );
    }
}

#[tokio::test]
async fn slow_and_oversized_clients_do_not_stop_others_being_served() {
    use tokio::io::AsyncWriteExt;
    let s = signed_server(|_| {}).await;
    let a = s.create_customer("a").await;
    let addr = s.base.trim_start_matches("http://").to_string();
    // Fifty slow-loris connections: half a request head each, never finished.
    let mut idle = Vec::new();
    for _ in 0..50 {
        let mut c = tokio::net::TcpStream::connect(&addr).await.unwrap();
        c.write_all(b"POST /v1.0/conferences HTTP/1.1\r\nhost: x\r\ncontent-le")
            .await
            .unwrap();
        idle.push(c);
    }
    // A body that promises more than it sends, and a huge array within the size limit.
    let mut trickle = tokio::net::TcpStream::connect(&addr).await.unwrap();
    trickle
        .write_all(format!("POST /v1.0/conferences HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {}\r\ncontent-length: 100000\r\n\r\n{{\"na", a.key).as_bytes())
        .await
        .unwrap();
    let huge = format!(
        "{{\"pre_actions\": [{}]}}",
        vec!["{\"type\":\"beep\"}"; 60_000].join(",")
    );
    assert!(huge.len() < 1024 * 1024);
    let started = std::time::Instant::now();
    let res = s
        .client
        .post(s.url("/v1.0/conferences"))
        .bearer_auth(&a.key)
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400, "over 100 actions is refused, quickly");
    let (st, _) = s.call("GET", "/v1.0/conferences", Some(&a.key), None).await;
    assert_eq!(st, 200);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "others are served while slow clients hang"
    );
    drop(idle);
    drop(trickle);
}
