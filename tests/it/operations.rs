//! Operations and abuse: /metrics, rate limits, bad-key floods, graceful shutdown, and the
//! concurrency guarantees under many simultaneous requests.

use crate::support::{allow_private, signed, Receiver, Reply, TestServer};
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashSet};
use std::time::Duration;

#[tokio::test]
async fn metrics_expose_the_named_series() {
    let s = TestServer::start_with(signed).await;
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
        .starts_with("application/openmetrics-text"));
    let text = res.text().await.unwrap();
    for line in [
        "confab_http_requests_total{method=\"GET\",route=\"/v1.0/conferences/{id}\",status=\"200\"} 1",
        "confab_platform_events_total{type=\"call_joining\",outcome=\"applied\"} 1",
        "confab_platform_events_total{type=\"call_joining\",outcome=\"replayed\"} 1",
        "confab_platform_events_total{type=\"call_joining\",outcome=\"refused\"} 1",
        "confab_outbox_depth{kind=\"command\"} 0",
        "confab_active_conferences 1",
        "confab_active_calls 1",
        "# TYPE confab_store_write_failures counter",
        "confab_store_write_failures_total 0",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
}

#[tokio::test]
async fn a_customer_over_its_rate_gets_429_and_others_are_served() {
    let s = TestServer::start_with(|c| {
        signed(c);
        c.rate_limit = 5;
    })
    .await;
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
    let s = TestServer::start_with(|c| {
        signed(c);
        c.auth_failure_limit = 10;
    })
    .await;
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
    let receiver =
        Receiver::answering(Reply::status(200).delayed(Duration::from_millis(1500))).await;
    let s = TestServer::start_with(|c| {
        signed(c);
        allow_private(c);
    })
    .await;
    let a = s.create_customer("a").await;
    let conf = s
        .create_conference(&a.key, json!({"pre_actions": [{"type": "webhook_send", "option": {"uri": receiver.uri(), "sync": true}}, {"type": "beep"}]}))
        .await;
    let cid = conf["id"].as_str().unwrap().to_string();
    let in_flight = tokio::spawn(
        s.event(
            "slow",
            "call_joining",
            json!({"call_id": "c", "conference_id": cid}),
        )
        .send(),
    );
    // Once its sync webhook has reached the (slow) receiver, the event is in flight.
    receiver.wait_for_total(1, Duration::from_secs(10)).await;
    let base = s.base.clone();
    let stopping = tokio::spawn(s.stop());
    let answer = in_flight.await.expect("the in-flight request is answered");
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json["actions"][0]["type"], "beep");
    let _stopped = stopping.await.unwrap();
    assert!(
        reqwest::get(format!("{base}/healthz")).await.is_err(),
        "no longer accepting"
    );
}

#[tokio::test]
async fn a_thousand_simultaneous_joins_and_leaves_leave_the_list_exact() {
    let s = TestServer::start_with(|c| {
        signed(c);
        c.workers = Some(2);
    })
    .await;
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
    for answer in futures_util::future::join_all(
        joins
            .iter()
            .map(|(id, t, d)| s.event(id, t, d.clone()).send()),
    )
    .await
    {
        assert_eq!(answer.status, 200);
    }
    // Joined for all, and at the same time leaves for the odd ones: 1,050 concurrent events.
    let mixed: Vec<_> = (0..n)
        .map(|i| ev("call_joined", i))
        .chain((0..n).filter(|i| i % 2 == 1).map(|i| ev("call_left", i)))
        .collect();
    // Each event is sent as a platform sends it: again, with the same id, while the answer
    // says to try later (a 503 or 408 when this machine is saturated by the parallel suite).
    // A leave may overtake its call's joined (409, or a stale 200); nothing else may fail.
    let server = &s;
    futures_util::future::join_all(mixed.iter().map(|(id, t, d)| async move {
        for _ in 0..10 {
            let answer = server.event(id, t, d.clone()).send().await;
            if answer.status != 503 && answer.status != 408 {
                assert!(
                    answer.status < 500,
                    "{id}: {} {}",
                    answer.status,
                    answer.text()
                );
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        panic!("{id} was never answered");
    }))
    .await;
    let conf = s.conference(&a.key, &cid).await;
    let ids: HashSet<String> = conf["conferencecall_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    let expected = joined_calls(&s, &a.key, &cid).await;
    assert_eq!(expected.len(), n / 2);
    assert_eq!(
        ids, expected,
        "conferencecall_ids is exactly the joined calls"
    );
}

/// The ids of a conference's joined calls, page by page; each must be an even call.
async fn joined_calls(s: &TestServer, key: &str, cid: &str) -> HashSet<String> {
    let mut joined = HashSet::new();
    let mut token = String::new();
    loop {
        let path =
            format!("/v1.0/conferencecalls?conference_id={cid}&status=joined&page_token={token}");
        let (_, page) = s.call("GET", &path, Some(key), None).await;
        for c in page["result"].as_array().unwrap() {
            let num: usize = c["reference_id"].as_str().unwrap()[1..].parse().unwrap();
            assert_eq!(num % 2, 0, "only even calls stay joined");
            joined.insert(c["id"].as_str().unwrap().to_string());
        }
        token = page["next_page_token"].as_str().unwrap().to_string();
        if token.is_empty() {
            return joined;
        }
    }
}

#[tokio::test]
async fn concurrent_delete_and_joins_never_leave_a_joined_call_in_a_terminated_conference() {
    let s = TestServer::start_with(|c| {
        signed(c);
        c.kick_grace = 1;
    })
    .await;
    let a = s.create_customer("a").await;
    for round in 0..5 {
        let conf = s.create_conference(&a.key, json!({})).await;
        let cid = conf["id"].as_str().unwrap().to_string();
        let joins = (0..20).map(|i| {
            let (s, cid) = (&s, cid.clone());
            async move {
                let call = format!("r{round}-c{i}");
                let data = json!({"call_id": call, "conference_id": cid});
                let joining = s
                    .event(&format!("{call}-a"), "call_joining", data.clone())
                    .await;
                if joining.status == 200 {
                    s.event(&format!("{call}-b"), "call_joined", data).await;
                }
                joining.status
            }
        });
        let path = format!("/v1.0/conferences/{cid}");
        let delete = s.call("DELETE", &path, Some(&a.key), None);
        let (statuses, _) = tokio::join!(futures_util::future::join_all(joins), delete);
        assert!(
            statuses.iter().all(|st| *st == 200 || *st == 409),
            "{statuses:?}"
        );
        // Calls kicked by the DELETE have their grace (1 s) pass on confab's clock.
        s.advance(Duration::from_secs(1));
        s.wait_for_status(&a.key, &cid, "terminated").await;
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
    let s = TestServer::start_with(signed).await;
    let res = s.client.get(s.url("/openapi.json")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let doc: Value = res.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let mut described = BTreeSet::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            assert!(op["responses"]["200"].is_object(), "{method} {path}");
            let path = path.strip_prefix("/v1.0").unwrap_or(path);
            described.insert((method.clone(), path.to_string()));
        }
    }
    let registered: BTreeSet<(String, String)> =
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
    let s = TestServer::start_with(signed).await;
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

/// The served document is committed as `openapi.json` so clients can be generated (and
/// reviewed) without running confab. Regenerate it with
/// `CONFAB_WRITE_OPENAPI=1 cargo test --test it openapi_json_is_committed`.
#[tokio::test]
async fn openapi_json_is_committed_as_served() {
    let s = TestServer::start().await;
    let served: Value = s
        .client
        .get(s.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.json");
    let pretty = format!("{}\n", serde_json::to_string_pretty(&served).unwrap());
    if std::env::var_os("CONFAB_WRITE_OPENAPI").is_some() {
        std::fs::write(&path, &pretty).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == pretty,
        "openapi.json differs from the served /openapi.json; regenerate it with \
         CONFAB_WRITE_OPENAPI=1 cargo test --test it openapi_json_is_committed"
    );
}

/// The XML API's documents have exactly the elements, in order, that `/openapi.json` names
/// for them (the renderer is not derived from the schema, so this holds them together).
#[tokio::test]
async fn xml_documents_have_the_elements_the_openapi_document_names() {
    let s = TestServer::start().await;
    let c = s.create_customer("x").await;
    let doc: Value = s
        .client
        .get(s.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names = |schema: &str| -> Vec<String> {
        doc["components"]["schemas"][schema]["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("{schema} has no properties"))
            .keys()
            .cloned()
            .collect()
    };
    let xml = |method: reqwest::Method, path: String, body: &str| {
        s.client
            .request(method, s.url(&path))
            .bearer_auth(&c.key)
            .header("content-type", "application/xml")
            .body(body.to_string())
            .send()
    };
    let created = xml(
        reqwest::Method::POST,
        format!("/v1/account/{}/conf", c.id),
        "<conf><userData>u</userData></conf>",
    )
    .await
    .unwrap();
    assert_eq!(created.status(), 200);
    let text = created.text().await.unwrap();
    let parsed = crate::support::XmlDoc::parse(&text).unwrap();
    let mut expected = vec!["response".to_string(), "conf".to_string()];
    expected.extend(names("XmlConf"));
    assert_eq!(parsed.names(), expected, "{text}");
    let sid = parsed.text("sid").unwrap().to_string();
    let missing = xml(
        reqwest::Method::GET,
        format!("/v1/account/{}/conf/{}", c.id, "0".repeat(32)),
        "",
    )
    .await
    .unwrap();
    assert_eq!(missing.status(), 404);
    let text = missing.text().await.unwrap();
    let mut expected = vec!["response".to_string(), "error".to_string()];
    expected.extend(names("XmlErrorDetail"));
    assert_eq!(
        crate::support::XmlDoc::parse(&text).unwrap().names(),
        expected
    );
    let parts = xml(
        reqwest::Method::GET,
        format!("/v1/account/{}/conf/{sid}/part", c.id),
        "",
    )
    .await
    .unwrap();
    let text = parts.text().await.unwrap();
    assert_eq!(
        crate::support::XmlDoc::parse(&text).unwrap().names(),
        vec!["response", "parts"],
        "{text}"
    );
}
