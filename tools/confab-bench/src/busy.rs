//! The busy-conference scenario: every connection cycles calls through ONE conference while a
//! fast local receiver takes its notifications; reports how far delivery falls behind.

use crate::support::{
    client, create_customer, report, send_event, signed_event, start_confab_with, start_receiver,
    OrDie, Received, TempDir, ADMIN,
};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Runs the scenario for `seconds` with `connections` callers.
pub async fn run(connections: usize, seconds: u64) {
    println!("\n-- busy conference: {connections} callers cycling for {seconds} s, one receiver");
    let (receiver, received, receiver_handle) = start_receiver().await;
    let dir = TempDir::new();
    let db = dir.path().join("busy.db");
    let (mut child, base, _) = start_confab_with(&db, &["--webhook-allow-private".to_string()]);
    let key = create_customer(&base).await;
    let admin = reqwest::Client::new();
    let _ = admin
        .put(format!("{base}/v1.0/customer"))
        .bearer_auth(&key)
        .json(&json!({"webhook_uri": format!("{receiver}/hooks")}))
        .send()
        .await
        .or_die("set webhook_uri");
    let conf: Value = admin
        .post(format!("{base}/v1.0/conferences"))
        .bearer_auth(&key)
        .json(&json!({"name": "busy"}))
        .send()
        .await
        .or_die("create conference")
        .json()
        .await
        .or_die("json");
    let conf = conf["id"].as_str().or_die("conference id").to_string();

    let stop = Arc::new(AtomicBool::new(false));
    let events = Arc::new(AtomicUsize::new(0));
    let mut callers = Vec::new();
    for n in 0..connections {
        let (base, conf, stop, events) = (base.clone(), conf.clone(), stop.clone(), events.clone());
        callers.push(tokio::spawn(async move {
            let c = client();
            let mut i = 0usize;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let call = format!("busy-{n}-{i}");
                for kind in ["call_joining", "call_joined", "call_left"] {
                    let e = signed_event(
                        &format!("{call}-{kind}"),
                        kind,
                        json!({"call_id": call, "conference_id": conf}),
                    );
                    if send_event(&c, &base, e).await == Ok(200) {
                        events.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }

    // Once a second: notifications produced (the outbox's depth plus what arrived) against
    // what the receiver got.
    let started = Instant::now();
    let (mut max_pending, mut max_pending_s) = (0i64, 0.0f64);
    let metrics = reqwest::Client::new();
    while started.elapsed() < Duration::from_secs(seconds) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let pending = outbox_depth(&metrics, &base).await;
        let got = hooks_received(&received);
        let rate = (pending + got as i64) as f64 / started.elapsed().as_secs_f64();
        if pending > max_pending {
            max_pending = pending;
            max_pending_s = pending as f64 / rate.max(1.0);
        }
    }
    let wall = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for c in callers {
        let _ = c.await;
    }
    let pending_at_end = outbox_depth(&metrics, &base).await;
    let delivered = hooks_received(&received);
    let drained = Instant::now();
    while outbox_depth(&metrics, &base).await > 0 && drained.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    report(
        "busy conference: events per second",
        events.load(Ordering::Relaxed) as f64 / wall,
        "/s",
    );
    report(
        "busy conference: notifications produced per second",
        (delivered as i64 + pending_at_end) as f64 / wall,
        "/s",
    );
    report(
        "busy conference: notifications delivered per second (one conference, in order)",
        delivered as f64 / wall,
        "/s",
    );
    report(
        "busy conference: most notifications pending",
        max_pending as f64,
        "",
    );
    report(
        "busy conference: most pending, as seconds of production",
        max_pending_s,
        "s",
    );
    report(
        "busy conference: time to drain after the load stopped",
        drained.elapsed().as_secs_f64(),
        "s",
    );
    let _ = child.kill();
    let _ = child.wait();
    receiver_handle.stop(false).await;
    let _ = ADMIN;
}

async fn outbox_depth(c: &reqwest::Client, base: &str) -> i64 {
    let Ok(res) = c.get(format!("{base}/metrics")).send().await else {
        return 0;
    };
    let text = res.text().await.unwrap_or_default();
    text.lines()
        .find(|l| l.starts_with("confab_outbox_depth{kind=\"webhook\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn hooks_received(received: &Received) -> usize {
    received
        .lock()
        .map(|v| v.iter().filter(|(path, _)| path == "/hooks").count())
        .unwrap_or(0)
}
