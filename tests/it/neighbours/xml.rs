//! Parsing time: customer B posts megabyte XML bodies crafted to be expensive to check (100,000
//! attributes, or as many namespace declarations, on the root element), two at a time, over and
//! over. They are refused quickly, parsing runs off the HTTP workers, and customer A's health
//! checks, platform events and lists are answered as if B were not there.

use super::{check_within_twice, in_one_of, p50};
use crate::support::{Customer, TestServer};
use serde_json::json;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A root element with as many distinct attributes named `{prefix}{n}` as fit in a body just
/// under the 1 MiB limit (about 100,000 plain ones).
fn many_attributes(prefix: &str) -> Vec<u8> {
    let mut body = String::from("<conf");
    for i in 0.. {
        let attr = format!(" {prefix}{i:x}=\"1\"");
        if body.len() + attr.len() + 40 > 1024 * 1024 {
            break;
        }
        body.push_str(&attr);
    }
    body.push_str("><appSid>x</appSid></conf>");
    body.into_bytes()
}

/// What A does while B posts: a health check, a platform event of a call joining its
/// conference, and a list; each timed.
async fn a_round(s: &TestServer, a: &Customer, conf: &str, n: &AtomicUsize) -> [Duration; 3] {
    let mut times = [Duration::ZERO; 3];
    let started = std::time::Instant::now();
    let res = s
        .client
        .get(s.url("/healthz"))
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    times[0] = started.elapsed();
    let i = n.fetch_add(1, Ordering::SeqCst);
    let started = std::time::Instant::now();
    let ev = s
        .event(
            &format!("xml-nb-{i}"),
            "call_joining",
            json!({"call_id": format!("c{i}"), "conference_id": conf}),
        )
        .send()
        .await;
    assert_eq!(ev.status, 200, "{}", ev.text());
    times[1] = started.elapsed();
    let started = std::time::Instant::now();
    let res = s
        .client
        .get(s.url("/v1.0/conferences?page_size=10"))
        .bearer_auth(&a.key)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    times[2] = started.elapsed();
    times
}

async fn a_figures(s: &TestServer, a: &Customer, conf: &str, n: &AtomicUsize) -> [Duration; 3] {
    let mut rounds = Vec::new();
    for _ in 0..20 {
        rounds.push(a_round(s, a, conf, n).await);
    }
    let mut out = [Duration::ZERO; 3];
    for (k, slot) in out.iter_mut().enumerate() {
        let mut column: Vec<Duration> = rounds.iter().map(|r| r[k]).collect();
        column.sort();
        *slot = p50(&column);
    }
    out
}

#[tokio::test]
async fn megabyte_xml_bodies_of_one_customer_do_not_stall_another() {
    let s = Arc::new(TestServer::start().await);
    let (a, b) = (s.create_customer("a").await, s.create_customer("b").await);
    let conf = s
        .create_conference(&a.key, json!({"name": "a's room"}))
        .await;
    let conf = conf["id"].as_str().unwrap().to_string();
    let n = AtomicUsize::new(0);
    in_one_of(3, || one_attempt(&s, &a, &b, &conf, &n)).await;
}

/// A's figures idle, then while B posts its bodies, held to twice the idle ones.
async fn one_attempt(
    s: &Arc<TestServer>,
    a: &Customer,
    b: &Customer,
    conf: &str,
    n: &AtomicUsize,
) -> Result<(), String> {
    let idle = a_figures(s, a, conf, n).await;
    let stop = Arc::new(AtomicBool::new(false));
    let refused = Arc::new(AtomicUsize::new(0));
    let mut posters = Vec::new();
    for prefix in ["a", "xmlns:n"] {
        let (s, stop, refused) = (s.clone(), stop.clone(), refused.clone());
        let (account, key) = (b.id.clone(), b.key.clone());
        let body = many_attributes(prefix);
        assert!(body.len() > 1_000_000 && body.len() <= 1024 * 1024);
        posters.push(tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let res = s
                    .client
                    .post(s.url(&format!("/v1/account/{account}/conf")))
                    .bearer_auth(&key)
                    .body(body.clone())
                    .send()
                    .await
                    .unwrap();
                // Refused as malformed, or (past B's byte rate) before it is read.
                let status = res.status().as_u16();
                let doc = res.text().await.unwrap();
                match status {
                    400 => assert!(doc.contains("<code>000001</code>"), "{doc}"),
                    429 => assert!(doc.contains("byte rate"), "{doc}"),
                    other => panic!("{other}: {doc}"),
                }
                refused.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let loaded = a_figures(s, a, conf, n).await;
    stop.store(true, Ordering::SeqCst);
    for p in posters {
        p.await.unwrap();
    }
    assert!(
        refused.load(Ordering::SeqCst) >= 2,
        "B's bodies were posted and answered"
    );
    let floor = Duration::from_millis(25);
    check_within_twice("A's /healthz", idle[0], loaded[0], floor)?;
    check_within_twice("A's call_joining", idle[1], loaded[1], floor)?;
    check_within_twice("A's 10-item list", idle[2], loaded[2], floor)
}

#[tokio::test]
async fn bodies_past_a_customers_byte_rate_are_refused_before_they_are_read() {
    let s = TestServer::start_with(|c| c.body_rate_limit_mb = 1.0).await;
    let (a, b) = (s.create_customer("a").await, s.create_customer("b").await);
    // About 0.9 MiB each: two fit the burst of 2 MiB, the third does not.
    let big = json!({"name": "big", "data": {"blob": "d".repeat(60_000)},
        "pre_actions": (0..100).map(|n| json!({"type": "talk", "option": {"text": format!("{n} {}", "x".repeat(4000))}})).collect::<Vec<_>>(),
        "post_actions": (0..80).map(|n| json!({"type": "talk", "option": {"text": format!("{n} {}", "x".repeat(4000))}})).collect::<Vec<_>>()});
    let post = |key: &str, body: &serde_json::Value| {
        s.client
            .post(s.url("/v1.0/conferences"))
            .bearer_auth(key.to_string())
            .json(body)
            .send()
    };
    // The three are sent at once, so their lengths are charged within milliseconds of each
    // other: the bucket refills too little meanwhile to let a third through, however slowly
    // this machine then reads and stores the two it takes.
    let three = futures_util::future::join_all((0..3).map(|_| post(&b.key, &big))).await;
    let (mut taken, mut refused) = (0, Vec::new());
    for res in three {
        let res = res.unwrap();
        match res.status().as_u16() {
            200 => taken += 1,
            429 => refused.push(res),
            other => panic!("{other}: {}", res.text().await.unwrap()),
        }
    }
    assert_eq!(
        (taken, refused.len()),
        (2, 1),
        "two fit the burst, the third does not"
    );
    let res = refused.remove(0);
    let retry_after: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    let e: serde_json::Value = res.json().await.unwrap();
    assert_eq!(e["error"]["reason"], "RATE_LIMITED");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("byte rate"),
        "{e}"
    );
    // Small requests of B still go (its request rate is not spent), and A is not touched.
    assert_eq!(
        post(&b.key, &json!({"name": "small"}))
            .await
            .unwrap()
            .status(),
        200
    );
    for _ in 0..2 {
        assert_eq!(post(&a.key, &big).await.unwrap().status(), 200);
    }
}
