//! Customer notifications delivered to real local receivers: body, headers and signature,
//! order, retries, failures, filters, rotation, SSRF refusal, restarts and isolation.

use crate::support::{allow_private, signed, Receiver, Reply, TestServer};
use confab::Config;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;

/// Webhooks to loopback receivers allowed or not, and a short retry schedule (0,1,1).
fn quick_retries(allow: bool) -> impl FnOnce(&mut Config) {
    move |c| {
        c.webhook_allow_private = allow;
        c.webhook_retry_schedule = "0,1,1".into();
    }
}

#[tokio::test]
async fn body_headers_and_signature_are_exact() {
    let r = Receiver::answering(Reply::status(204)).await;
    let s = TestServer::start_with(quick_retries(true)).await;
    let c = s.create_customer_with("c", &r.url("/hooks")).await;
    let conf = s
        .create_conference(&c.key, crate::support::seed_conference_body())
        .await;
    let got = r.wait_for_total(1, Duration::from_secs(5)).await.remove(0);
    assert_eq!(got.path(), "/hooks");
    assert_eq!(got.header("content-type"), "application/json");
    let id = got.webhook_id();
    assert!(id.starts_with("msg_"), "{id}");
    let ts = got.header("webhook-timestamp");
    let now = crate::support::signature::unix_now();
    assert!((now - ts.parse::<i64>().unwrap()).abs() < 60);
    assert!(got.signed_by(&c.secret), "signature verifies independently");
    let b = got.json();
    assert_eq!(
        b.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["type", "timestamp", "data"]
    );
    assert_eq!(b["type"], "conference_created");
    assert_eq!(
        b["data"], conf,
        "data is the resource as the JSON API returned it"
    );
    assert_eq!(b["timestamp"].as_str().unwrap().len(), 26);
    // The outcome is recorded once the receiver has answered.
    s.wait_for_delivery(&c.key, "status=delivered", "delivery recorded", |d| {
        d["id"] == id.as_str()
    })
    .await;
    let (_, log) = s
        .call(
            "GET",
            "/v1.0/webhook_deliveries?status=delivered",
            Some(&c.key),
            None,
        )
        .await;
    let d = &log["result"][0];
    assert_eq!(
        (
            d["id"].as_str(),
            d["event_type"].as_str(),
            d["last_status"].as_i64(),
            d["attempts"].as_i64()
        ),
        (
            Some(id.as_str()),
            Some("conference_created"),
            Some(204),
            Some(1)
        )
    );
}

#[tokio::test]
async fn every_change_is_notified_in_order_per_conference_under_concurrency() {
    let r = Receiver::answering(Reply::status(200).delayed(Duration::from_millis(15))).await;
    let s = TestServer::start_with(|c| {
        allow_private(c);
        signed(c);
    })
    .await;
    let c = s.create_customer_with("c", &r.uri()).await;
    let per_conference = |i: usize| {
        let s = &s;
        let key = c.key.clone();
        async move {
            let conf = s
                .create_conference(&key, json!({"name": format!("c{i}")}))
                .await;
            let cid = conf["id"].as_str().unwrap().to_string();
            for call in 0..3 {
                for kind in ["call_joining", "call_joined", "call_left"] {
                    let id = format!("{i}-{call}-{kind}");
                    let data = json!({"call_id": format!("c{i}-{call}"), "conference_id": cid});
                    assert_eq!(s.event(&id, kind, data).await.status, 200);
                }
            }
            let path = format!("/v1.0/conferences/{cid}");
            s.call("DELETE", &path, Some(&key), None).await;
            cid
        }
    };
    let ids = futures_util::future::join_all((0..8).map(per_conference)).await;
    let expected: Vec<&str> = std::iter::once("conference_created")
        .chain((0..3).flat_map(|_| {
            [
                "conferencecall_joining",
                "conferencecall_joined",
                "conferencecall_leaved",
            ]
        }))
        .chain(std::iter::once("conference_deleted"))
        .collect();
    r.wait_for_total(ids.len() * expected.len(), Duration::from_secs(15))
        .await;
    let all = r.bodies("/");
    assert_eq!(all.len(), ids.len() * expected.len(), "nothing doubled");
    let mut by_conf: HashMap<String, Vec<String>> = HashMap::new();
    for b in &all {
        let conf = b["data"]["conference_id"]
            .as_str()
            .or(b["data"]["id"].as_str())
            .unwrap()
            .to_string();
        by_conf
            .entry(conf)
            .or_default()
            .push(b["type"].as_str().unwrap().to_string());
    }
    for id in &ids {
        assert_eq!(by_conf[id], expected, "order for conference {id}");
    }
}

#[tokio::test]
async fn a_failed_attempt_is_retried_with_the_same_id_and_retry_after_is_honoured() {
    let r = Receiver::start().await;
    r.answer_first(1, Reply::status(429).retry_after(2))
        .answer_first(1, Reply::status(500));
    let s = TestServer::start_with(quick_retries(true)).await;
    let c = s.create_customer_with("c", &r.uri()).await;
    s.create_conference(&c.key, json!({})).await;
    // On the real clock: the spacing of the attempts is what this test is about.
    let got = r.wait_for_total(3, Duration::from_secs(10)).await;
    let ids: Vec<String> = got.iter().map(|g| g.webhook_id()).collect();
    assert!(
        ids.iter().all(|i| *i == ids[0]),
        "same webhook-id on every retry"
    );
    let ts: Vec<i64> = got
        .iter()
        .map(|g| g.header("webhook-timestamp").parse().unwrap())
        .collect();
    assert!(ts[1] - ts[0] >= 2, "Retry-After: 2 was honoured ({ts:?})");
    s.wait_for_delivery(&c.key, "", "delivered", |d| {
        d["status"] == "delivered" && d["attempts"] == 3
    })
    .await;
}

#[tokio::test]
async fn a_permanent_4xx_fails_and_a_customer_can_send_it_again() {
    let r = Receiver::start().await;
    r.answer_first(1, Reply::status(410));
    let s = TestServer::start_with(quick_retries(true)).await;
    let c = s.create_customer_with("c", &r.uri()).await;
    s.create_conference(&c.key, json!({})).await;
    s.drain_outbox().await;
    let (_, log) = s
        .call(
            "GET",
            "/v1.0/webhook_deliveries?status=failed",
            Some(&c.key),
            None,
        )
        .await;
    let failed = &log["result"][0];
    assert_eq!(
        (failed["last_status"].as_i64(), failed["attempts"].as_i64()),
        (Some(410), Some(1))
    );
    assert_eq!(failed["last_error"], "HTTP 410");
    // Past the schedule's 1 s retry delay: a retry would be due, and sent, by now.
    s.advance_and_drain(Duration::from_secs(2)).await;
    assert_eq!(r.arrivals().len(), 1, "a 4xx is not retried");
    let id = failed["id"].as_str().unwrap();
    let retry = format!("/v1.0/webhook_deliveries/{id}/retry");
    let other = s.create_customer_with("c", &r.uri()).await;
    let (st, _) = s.call("POST", &retry, Some(&other.key), None).await;
    assert_eq!(st, 404, "another customer's delivery");
    let (st, d) = s.call("POST", &retry, Some(&c.key), None).await;
    assert_eq!((st, d["status"].as_str()), (200, Some("pending")));
    s.drain_outbox().await;
    let (_, log) = s
        .call(
            "GET",
            "/v1.0/webhook_deliveries?status=delivered",
            Some(&c.key),
            None,
        )
        .await;
    assert_eq!(log["result"][0]["id"], id, "redelivered");
    let (st, e) = s.call("POST", &retry, Some(&c.key), None).await;
    assert_eq!(
        (st, e["error"]["reason"].as_str()),
        (409, Some("STATE_INVALID"))
    );
}

#[tokio::test]
async fn the_event_filter_and_customer_settings() {
    let r = Receiver::start().await;
    let s = TestServer::start_with(quick_retries(true)).await;
    let c = s.create_customer_with("c", &r.uri()).await;
    let put = |body: Value| s.call("PUT", "/v1.0/customer", Some(&c.key), Some(body));
    let (st, e) = put(json!({"webhook_events": ["conference_exploded"]})).await;
    assert_eq!(
        (st, e["error"]["reason"].as_str()),
        (400, Some("INVALID_ARGUMENT"))
    );
    let (st, e) = put(json!({"webhook_uri": "ftp://x"})).await;
    assert_eq!(
        (st, e["error"]["reason"].as_str()),
        (400, Some("INVALID_ARGUMENT"))
    );
    let (st, me) = put(json!({"webhook_events": ["conference_deleted"], "name": "renamed"})).await;
    assert_eq!(st, 200);
    assert_eq!(
        (me["webhook_events"].clone(), me["name"].as_str()),
        (json!(["conference_deleted"]), Some("renamed"))
    );
    let conf = s.create_conference(&c.key, json!({})).await;
    let path = format!("/v1.0/conferences/{}", conf["id"].as_str().unwrap());
    s.call("PUT", &path, Some(&c.key), Some(json!({"name": "x"})))
        .await;
    s.call("DELETE", &path, Some(&c.key), None).await;
    s.drain_outbox().await;
    let got = r.arrivals();
    assert_eq!(got.len(), 1, "filtered events are not sent");
    assert_eq!(got[0].json()["type"], "conference_deleted");
}

#[tokio::test]
async fn during_rotation_both_secrets_sign() {
    let r = Receiver::start().await;
    let s = TestServer::start_with(quick_retries(true)).await;
    let c = s.create_customer_with("c", &r.uri()).await;
    let (st, rotated) = s
        .call("POST", "/v1.0/customer/webhook_secret", Some(&c.key), None)
        .await;
    assert_eq!(st, 200);
    let new_secret = rotated["webhook_secret"].as_str().unwrap().to_string();
    assert_ne!(new_secret, c.secret);
    s.create_conference(&c.key, json!({})).await;
    let got = r.wait_for_total(1, Duration::from_secs(5)).await.remove(0);
    let sig = got.header("webhook-signature");
    assert_eq!(sig.split(' ').count(), 2, "{sig}");
    assert!(got.signed_by(&new_secret));
    assert!(got.signed_by(&c.secret));
}

#[tokio::test]
async fn private_targets_are_refused_unless_allowed() {
    let r = Receiver::start().await;
    let s = TestServer::start_with(quick_retries(false)).await;
    let hook = format!("http://localhost:{}/hook", r.port());
    let c = s.create_customer_with("c", &hook).await;
    s.create_conference(&c.key, json!({})).await;
    let failed = s
        .wait_for_delivery(&c.key, "status=failed", "refused delivery", |_| true)
        .await;
    assert!(
        failed["last_error"]
            .as_str()
            .unwrap()
            .contains("private address"),
        "{failed}"
    );
    assert!(
        r.arrivals().is_empty(),
        "nothing reached the private target"
    );
}

#[tokio::test]
async fn undelivered_notifications_are_delivered_after_a_restart_exactly_once_more() {
    let r = Receiver::answering(Reply::status(503)).await;
    let s = TestServer::start_with(|c| {
        allow_private(c);
        c.webhook_retry_schedule = "0,60".into();
    })
    .await;
    let c = s.create_customer_with("c", &r.uri()).await;
    for i in 0..5 {
        s.create_conference(&c.key, json!({"name": format!("c{i}")}))
            .await;
    }
    // Stopped only once the refusals are recorded: a record still in flight would land after
    // the database is changed below and put the retry back a minute away.
    s.drain_outbox().await;
    assert_eq!(r.arrivals().len(), 5, "each sent once");
    let stopped = s.stop().await;
    r.clear();
    r.answer(Reply::status(200));
    // The next attempt is a minute away by the schedule; a restart does not lose it, and the
    // receiver gets each message once when it comes due. To keep the test short the restarted
    // server uses a schedule whose retry is immediate.
    let pending = stopped
        .db
        .query_i64("SELECT COUNT(*) FROM outbox WHERE status = 'pending'")
        .await;
    assert_eq!(pending, 5);
    stopped
        .db
        .execute("UPDATE outbox SET next_attempt_at = 0 WHERE status = 'pending'")
        .await;
    let s = stopped.start_with(allow_private).await;
    s.drain_outbox().await;
    let per_id = r.count_by_webhook_id();
    assert_eq!(
        (r.arrivals().len(), per_id.len()),
        (5, 5),
        "each undelivered message exactly once more"
    );
    let (_, log) = s
        .call(
            "GET",
            "/v1.0/webhook_deliveries?status=delivered",
            Some(&c.key),
            None,
        )
        .await;
    assert_eq!(log["result"].as_array().unwrap().len(), 5, "{log}");
}

#[tokio::test]
async fn a_hanging_receiver_does_not_hold_up_other_customers_or_event_handling() {
    let slow = Receiver::answering(Reply::status(200).delayed(Duration::from_secs(30))).await;
    let fast = Receiver::start().await;
    let s = TestServer::start_with(quick_retries(true)).await;
    let hung = s.create_customer_with("c", &slow.uri()).await;
    let ok = s.create_customer_with("c", &fast.uri()).await;
    // The hanging customer has many conferences, each with a notification in flight.
    // More than one page (512) of due messages: the busy customer must not hide the others.
    for i in 0..600 {
        let started = std::time::Instant::now();
        let (st, _) = s
            .call(
                "POST",
                "/v1.0/conferences",
                Some(&hung.key),
                Some(json!({"name": format!("h{i}")})),
            )
            .await;
        assert_eq!(st, 200);
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "API calls are not slowed by deliveries"
        );
    }
    // The hanging receiver holds as many of the busy customer's deliveries as it may have in
    // flight (16, its cap) before the other customer's notification is queued.
    slow.wait_for_total(16, Duration::from_secs(10)).await;
    let started = std::time::Instant::now();
    s.create_conference(&ok.key, json!({})).await;
    fast.wait_for_total(1, Duration::from_secs(3)).await;
    assert!(started.elapsed() < Duration::from_secs(2));
}

/// The delivery log of one conference: each delivery names its conference, and
/// `?conference_id=` keeps only that conference's (the console's timeline reads it so).
#[tokio::test]
async fn the_delivery_log_is_filtered_by_conference() {
    let r = Receiver::answering(Reply::status(204)).await;
    let s = TestServer::start_with(quick_retries(true)).await;
    let c = s.create_customer_with("c", &r.url("/hooks")).await;
    let a = s.create_conference(&c.key, json!({"name": "a"})).await;
    let b = s.create_conference(&c.key, json!({"name": "b"})).await;
    s.call(
        "PUT",
        &format!("/v1.0/conferences/{}", a["id"].as_str().unwrap()),
        Some(&c.key),
        Some(json!({"name": "a2"})),
    )
    .await;
    r.wait_for_total(3, Duration::from_secs(5)).await;
    for (conf, types) in [
        (&a, vec!["conference_updated", "conference_created"]),
        (&b, vec!["conference_created"]),
    ] {
        let id = conf["id"].as_str().unwrap();
        let (status, log) = s
            .call(
                "GET",
                &format!("/v1.0/webhook_deliveries?conference_id={id}"),
                Some(&c.key),
                None,
            )
            .await;
        assert_eq!(status, 200, "{log}");
        let items = log["result"].as_array().unwrap();
        let got: Vec<&str> = items
            .iter()
            .map(|d| d["event_type"].as_str().unwrap())
            .collect();
        assert_eq!(got, types);
        assert!(items.iter().all(|d| d["conference_id"] == id));
    }
    let (status, _) = s
        .call(
            "GET",
            "/v1.0/webhook_deliveries?conference_id=nope",
            Some(&c.key),
            None,
        )
        .await;
    assert_eq!(status, 400);
}

/// A customer whose endpoint is broken fixes its `webhook_uri` (or its method): notifications
/// still to send go to the new one at their next attempt, failed ones go there when retried,
/// and the delivery log says where. Delivered ones keep the URL they went to; an action's
/// webhook keeps the URL it was given. Removing the webhook fails what was pending.
#[tokio::test]
async fn notifications_not_yet_delivered_follow_a_changed_webhook_uri() {
    let broken = Receiver::answering(Reply::status(500)).await;
    let gone = Receiver::answering(Reply::status(404)).await;
    let fixed = Receiver::answering(Reply::status(204)).await;
    let s = TestServer::start_with(|c| {
        c.webhook_allow_private = true;
        c.webhook_retry_schedule = "0,5,5".into();
    })
    .await;
    let c = s.create_customer_with("c", &gone.url("/a")).await;
    s.create_conference(&c.key, json!({"name": "first"})).await;
    s.drain_outbox().await;
    let failed = s
        .wait_for_delivery(&c.key, "status=failed", "the 404 failed", |_| true)
        .await;
    let put = |body: serde_json::Value| s.call("PUT", "/v1.0/customer", Some(&c.key), Some(body));
    assert_eq!(put(json!({"webhook_uri": broken.url("/b")})).await.0, 200);
    s.create_conference(&c.key, json!({"name": "second"})).await;
    s.drain_outbox().await;
    broken.wait_for_total(1, Duration::from_secs(5)).await;

    // Fixed (and moved to PUT): the pending one goes there at its next attempt.
    let fixed_put = json!({"webhook_uri": fixed.url("/c"), "webhook_method": "PUT"});
    assert_eq!(put(fixed_put).await.0, 200);
    s.advance_and_drain(Duration::from_secs(6)).await;
    let got = fixed.wait_for_total(1, Duration::from_secs(5)).await;
    assert_eq!(
        (
            got[0].method(),
            got[0].path(),
            got[0].json()["data"]["name"].as_str()
        ),
        ("PUT", "/c", Some("second"))
    );
    assert_eq!(broken.arrivals().len(), 1, "no retry went to the old URL");
    // The failed one, retried, goes there too; the log shows where each went.
    let id = failed["id"].as_str().unwrap_or_default();
    let (st, d) = s
        .call(
            "POST",
            &format!("/v1.0/webhook_deliveries/{id}/retry"),
            Some(&c.key),
            None,
        )
        .await;
    assert_eq!(
        (st, d["url"].as_str()),
        (200, Some(fixed.url("/c").as_str())),
        "{d}"
    );
    s.drain_outbox().await;
    let got = fixed.wait_for_total(2, Duration::from_secs(5)).await;
    assert_eq!(got[1].json()["data"]["name"], "first");
    let (_, log) = s
        .call("GET", "/v1.0/webhook_deliveries", Some(&c.key), None)
        .await;
    let urls: Vec<&str> = log["result"]
        .as_array()
        .map(|r| r.iter().filter_map(|d| d["url"].as_str()).collect())
        .unwrap_or_default();
    assert!(
        !urls.is_empty() && urls.iter().all(|u| *u == fixed.url("/c")),
        "{log}"
    );

    // Removed: what was pending fails, saying why, and nothing is sent.
    assert_eq!(put(json!({"webhook_uri": broken.url("/d")})).await.0, 200);
    s.create_conference(&c.key, json!({"name": "third"})).await;
    s.drain_outbox().await;
    assert_eq!(put(json!({"webhook_uri": ""})).await.0, 200);
    let removed = s
        .wait_for_delivery(&c.key, "status=failed", "failed on removal", |d| {
            d["last_error"] == "the customer removed its webhook_uri"
        })
        .await;
    assert_eq!(removed["status"], "failed");
    s.advance_and_drain(Duration::from_secs(6)).await;
    assert_eq!(
        broken.arrivals().len(),
        2,
        "one attempt at /d before the removal, no retry"
    );
}
