//! Noisy neighbours, delivery lanes: customers whose webhook endpoints accept connections and
//! never answer must not delay another customer's notifications, and a receiver that trickles
//! its answer must not hold a lane (or its connection) for the attempt's whole timeout.

use crate::support::{poll_until, Customer, Receiver, TestServer};
use futures_util::StreamExt;
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

/// Customers with dead endpoints: more than the old global cap (256) could hold at 16 lanes
/// each.
const NOISY: usize = 30;
/// Conferences per noisy customer: more than its 16 lanes, so it always has a key waiting.
const CONFERENCES_EACH: usize = 20;
/// The customer's notification delays measured per phase.
const SAMPLES: usize = 5;
/// Longest wait for one of the customer's notifications: far beyond what a pass takes, and
/// long enough for the code before the fix to show its real delays instead of a panic.
const SAMPLE_LIMIT: Duration = Duration::from_secs(30);

/// A webhook endpoint that accepts every connection, reads what it is sent and never answers.
/// It counts the connections it accepted and those the client has since closed.
struct DeadEndpoint {
    url: String,
    accepted: Arc<AtomicUsize>,
    closed: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl DeadEndpoint {
    async fn start() -> DeadEndpoint {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/hooks", listener.local_addr().expect("address"));
        let accepted = Arc::new(AtomicUsize::new(0));
        let closed = Arc::new(AtomicUsize::new(0));
        let (a, c) = (accepted.clone(), closed.clone());
        let task = tokio::spawn(async move {
            // The connections live in the accepting task's set, so stopping it ends them all.
            let mut connections = JoinSet::new();
            while let Ok((mut socket, _)) = listener.accept().await {
                a.fetch_add(1, Ordering::SeqCst);
                let c = c.clone();
                connections.spawn(async move {
                    let mut buf = [0u8; 4096];
                    while matches!(socket.read(&mut buf).await, Ok(n) if n > 0) {}
                    c.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
        DeadEndpoint {
            url,
            accepted,
            closed,
            task,
        }
    }
}

impl Drop for DeadEndpoint {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn total(endpoints: &[DeadEndpoint], count: impl Fn(&DeadEndpoint) -> usize) -> usize {
    endpoints.iter().map(count).sum()
}

/// Time from the API call that creates a conference of `a` to its notification's arrival at
/// `r`, or `None` when it did not arrive within `SAMPLE_LIMIT`.
async fn notification_delay(s: &TestServer, a: &Customer, r: &Receiver) -> Option<Duration> {
    let seen = r.arrivals().len();
    let started = Instant::now();
    s.create_conference(&a.key, json!({})).await;
    // The receiver's own wait is longer: this one ends first, with `None` rather than a panic.
    let wait = r.wait_for_total(seen + 1, SAMPLE_LIMIT * 2);
    let arrived = tokio::time::timeout(SAMPLE_LIMIT, wait).await.ok()?;
    Some(arrived[seen].at.saturating_duration_since(started))
}

async fn delays(s: &TestServer, a: &Customer, r: &Receiver) -> Vec<Option<Duration>> {
    let mut out = Vec::new();
    for _ in 0..SAMPLES {
        out.push(notification_delay(s, a, r).await);
    }
    out
}

fn worst(samples: &[Option<Duration>]) -> Duration {
    samples
        .iter()
        .map(|d| d.unwrap_or(SAMPLE_LIMIT))
        .max()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn customers_whose_endpoints_never_answer_do_not_delay_another_customers_notifications() {
    let s = TestServer::start_with(|c| {
        c.webhook_allow_private = true;
        // A timed-out attempt is due again a second later: the dead endpoints' lanes fill up
        // again at each retry.
        c.webhook_retry_schedule = "0,1,1,1,1".into();
    })
    .await;
    let r = Receiver::start().await;
    let a = s.create_customer_with("a", &r.uri()).await;
    let idle = delays(&s, &a, &r).await;

    let mut endpoints = Vec::new();
    let mut noisy = Vec::new();
    for i in 0..NOISY {
        let e = DeadEndpoint::start().await;
        noisy.push(s.create_customer_with(&format!("b{i}"), &e.url).await);
        endpoints.push(e);
    }
    let creates = noisy
        .iter()
        .flat_map(|b| (0..CONFERENCES_EACH).map(|_| s.create_conference(&b.key, json!({}))));
    futures_util::stream::iter(creates)
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await;
    // The dead endpoints hold at least as many lanes as the old global cap had.
    poll_until(
        Duration::from_secs(10),
        "the dead endpoints hold 256 lanes",
        || {
            let n = total(&endpoints, |e| e.accepted.load(Ordering::SeqCst));
            async move { (n >= 256).then_some(()) }
        },
    )
    .await;
    let loaded = delays(&s, &a, &r).await;

    // The first attempts time out (10 s) and are due again a second later: the customer's
    // notifications stay prompt while the dead endpoints are retried.
    poll_until(
        Duration::from_secs(30),
        "the first attempts timed out",
        || {
            let n = total(&endpoints, |e| e.closed.load(Ordering::SeqCst));
            async move { (n >= 256).then_some(()) }
        },
    )
    .await;
    let retrying = delays(&s, &a, &r).await;

    let allowed = (worst(&idle) * 2).max(Duration::from_millis(300));
    let held = total(&endpoints, |e| e.accepted.load(Ordering::SeqCst));
    let figures = format!(
        "notification delays: idle {idle:?}, under {NOISY} dead endpoints {loaded:?}, while \
         they are retried {retrying:?}; allowed {allowed:?} ({held} connections to the dead \
         endpoints)"
    );
    // Printed when it passes too (`--nocapture`): the figures are the point of the test.
    eprintln!("{figures}");
    assert!(
        worst(&loaded) <= allowed && worst(&retrying) <= allowed,
        "{figures}"
    );
}

/// What the trickling receiver saw: when it sent its answer's head, and when the client
/// closed the connection.
#[derive(Default)]
struct Trickle {
    head_sent: Option<Instant>,
    closed: Option<Instant>,
    connections: usize,
}

/// A receiver that answers `200` with a 100-byte body at one byte a second.
async fn trickling_receiver() -> (String, Arc<std::sync::Mutex<Trickle>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/hooks", listener.local_addr().expect("address"));
    let seen = Arc::new(std::sync::Mutex::new(Trickle::default()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            log.lock().unwrap().connections += 1;
            let log = log.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 8192];
                // The request is small: its first read holds its head (and body).
                if socket.read(&mut buf).await.unwrap_or(0) == 0 {
                    return;
                }
                let head = "HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n";
                if socket.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                log.lock().unwrap().head_sent = Some(Instant::now());
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                loop {
                    tokio::select! {
                        _ = tick.tick() => {
                            if socket.write_all(b"x").await.is_err() {
                                break;
                            }
                        }
                        read = socket.read(&mut buf) => {
                            if matches!(read, Ok(0) | Err(_)) {
                                break;
                            }
                        }
                    }
                }
                log.lock().unwrap().closed = Some(Instant::now());
            });
        }
    });
    (url, seen)
}

#[tokio::test]
async fn a_trickling_answer_counts_by_its_status_and_its_connection_is_closed() {
    let (url, seen) = trickling_receiver().await;
    let s = TestServer::start_with(|c| c.webhook_allow_private = true).await;
    let c = s.create_customer_with("c", &url).await;
    s.create_conference(&c.key, json!({})).await;
    s.wait_for_delivery(&c.key, "status=delivered", "delivered", |_| true)
        .await;
    let delivered = Instant::now();
    let head_sent = seen.lock().unwrap().head_sent.expect("the answer was sent");
    assert!(
        delivered - head_sent < Duration::from_millis(2500),
        "delivered {:?} after the answer's status",
        delivered - head_sent
    );
    let closed = poll_until(Duration::from_secs(5), "the connection closed", || {
        let closed = seen.lock().unwrap().closed;
        async move { closed }
    })
    .await;
    assert!(
        closed - head_sent < Duration::from_millis(2500),
        "connection closed {:?} after the answer's status",
        closed - head_sent
    );
    assert_eq!(seen.lock().unwrap().connections, 1);
}
