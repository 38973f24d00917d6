//! The busy-conference scenario: every connection cycles calls through ONE conference while a
//! fast local receiver takes its notifications; reports how far delivery falls behind.

use crate::support::{
    client, create_conference, create_customer, report, send_event, set_webhook, signed_event,
    start_confab_with, start_receiver, Received, TempDir,
};
use serde_json::json;
use std::process::Child;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Runs the scenario for `seconds` with `connections` callers.
pub async fn run(connections: usize, seconds: u64) {
    println!("\n-- busy conference: {connections} callers cycling for {seconds} s, one receiver");
    let (receiver, received, receiver_handle) = start_receiver().await;
    let mut server = BusyServer::start(&receiver).await;
    let stop = Arc::new(AtomicBool::new(false));
    let events = Arc::new(AtomicUsize::new(0));
    let callers = spawn_callers(connections, &server, &stop, &events);

    let started = Instant::now();
    let metrics = reqwest::Client::new();
    let backlog = watch_backlog(&metrics, &server.base, &received, started, seconds).await;
    let wall = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for c in callers {
        let _ = c.await;
    }
    let pending_at_end = outbox_depth(&metrics, &server.base).await;
    let delivered = hooks_received(&received);
    let drain = drain_outbox(&metrics, &server.base).await;
    report_busy(&BusyOutcome {
        events: events.load(Ordering::Relaxed),
        wall,
        delivered,
        pending_at_end,
        backlog,
        drain,
    });
    server.stop();
    receiver_handle.stop(false).await;
}

/// confab on a database of its own, with a customer whose webhooks go to the local receiver
/// and the one conference every caller uses.
struct BusyServer {
    child: Child,
    base: String,
    key: String,
    conf: String,
    // Held so the database outlives the server; removed when the scenario ends.
    _dir: TempDir,
}

impl BusyServer {
    async fn start(receiver: &str) -> BusyServer {
        let dir = TempDir::new();
        let db = dir.path().join("busy.db");
        let (child, base, _) = start_confab_with(&db, &["--webhook-allow-private".to_string()]);
        let key = create_customer(&base).await;
        let mut server = BusyServer {
            child,
            base,
            key,
            conf: String::new(),
            _dir: dir,
        };
        set_webhook(&server.base, &server.key, &format!("{receiver}/hooks")).await;
        server.conf = create_conference(
            &client(),
            &server.base,
            &server.key,
            &json!({"name": "busy"}),
        )
        .await;
        server
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every caller cycles calls through the one conference until `stop`, counting the events
/// confab acknowledged.
fn spawn_callers(
    connections: usize,
    server: &BusyServer,
    stop: &Arc<AtomicBool>,
    events: &Arc<AtomicUsize>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..connections)
        .map(|n| {
            let (base, conf) = (server.base.clone(), server.conf.clone());
            let (stop, events) = (stop.clone(), events.clone());
            tokio::spawn(async move { cycle_calls(n, &base, &conf, &stop, &events).await })
        })
        .collect()
}

async fn cycle_calls(n: usize, base: &str, conf: &str, stop: &AtomicBool, events: &AtomicUsize) {
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
            if send_event(&c, base, e).await == Ok(200) {
                events.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// The largest backlog seen while the load ran: notifications pending, and that as seconds of
/// production.
struct Backlog {
    max_pending: i64,
    max_pending_s: f64,
}

/// Once a second until `seconds` have passed since `started`: notifications produced (the
/// outbox's depth plus what arrived) against what the receiver got.
async fn watch_backlog(
    metrics: &reqwest::Client,
    base: &str,
    received: &Received,
    started: Instant,
    seconds: u64,
) -> Backlog {
    let mut backlog = Backlog {
        max_pending: 0,
        max_pending_s: 0.0,
    };
    while started.elapsed() < Duration::from_secs(seconds) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let pending = outbox_depth(metrics, base).await;
        let got = hooks_received(received);
        let rate = (pending + got as i64) as f64 / started.elapsed().as_secs_f64();
        if pending > backlog.max_pending {
            backlog.max_pending = pending;
            backlog.max_pending_s = pending as f64 / rate.max(1.0);
        }
    }
    backlog
}

/// Waits (at most 60 s) until the outbox is empty; returns how long that took.
async fn drain_outbox(metrics: &reqwest::Client, base: &str) -> Duration {
    let drained = Instant::now();
    while outbox_depth(metrics, base).await > 0 && drained.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drained.elapsed()
}

/// What the scenario measured, for its report.
struct BusyOutcome {
    events: usize,
    wall: f64,
    delivered: usize,
    pending_at_end: i64,
    backlog: Backlog,
    drain: Duration,
}

fn report_busy(o: &BusyOutcome) {
    report(
        "busy conference: events per second",
        o.events as f64 / o.wall,
        "/s",
    );
    report(
        "busy conference: notifications produced per second",
        (o.delivered as i64 + o.pending_at_end) as f64 / o.wall,
        "/s",
    );
    report(
        "busy conference: notifications delivered per second (one conference, in order)",
        o.delivered as f64 / o.wall,
        "/s",
    );
    report(
        "busy conference: most notifications pending",
        o.backlog.max_pending as f64,
        "",
    );
    report(
        "busy conference: most pending, as seconds of production",
        o.backlog.max_pending_s,
        "s",
    );
    report(
        "busy conference: time to drain after the load stopped",
        o.drain.as_secs_f64(),
        "s",
    );
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
