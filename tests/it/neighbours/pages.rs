//! The list page budget: customer B's clients ask for its largest pages and never read them.
//! B holds at most its share of the budget, only until `--send-timeout`, and customer A's lists
//! are answered as if B were not there.

use super::{latencies, p50, within_twice};
use crate::support::{Customer, TestServer};
use serde_json::{json, Value};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpSocket, TcpStream};

/// A conference of about 1 MB: `data` near 64 KiB and 100 long `talk` actions in each list.
fn big_conference(i: usize) -> Value {
    let talk = |list: &str, n: usize| json!({"type": "talk", "option": {"text": format!("{list} {n} {}", "x".repeat(4700))}});
    json!({
        "name": format!("big {i}"),
        "data": {"blob": "d".repeat(60_000)},
        "pre_actions": (0..100).map(|n| talk("pre", n)).collect::<Vec<_>>(),
        "post_actions": (0..100).map(|n| talk("post", n)).collect::<Vec<_>>(),
    })
}

/// A client with a 4 KiB receive buffer that asks for a page of `path` and never reads it.
async fn stalled_reader(s: &TestServer, key: &str, path: &str) -> TcpStream {
    let addr = s.base.trim_start_matches("http://").parse().unwrap();
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = socket.connect(addr).await.unwrap();
    let head = format!("GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

/// A's list of ten conferences, timed.
async fn list_ten(s: &TestServer, a: &Customer) -> Vec<Duration> {
    latencies(30, || async {
        let res = s
            .client
            .get(s.url("/v1.0/conferences?page_size=10"))
            .bearer_auth(&a.key)
            .timeout(Duration::from_secs(20))
            .send()
            .await
            .expect("A's list is answered");
        assert_eq!(res.status(), 200);
        res.bytes().await.unwrap();
    })
    .await
}

#[tokio::test]
async fn stalled_readers_of_one_customer_hold_its_share_only_and_only_until_the_send_deadline() {
    let s = TestServer::start_with(|c| c.send_timeout = 1).await;
    let (a, b) = (s.create_customer("a").await, s.create_customer("b").await);
    for i in 0..10 {
        s.create_conference(&a.key, json!({"name": format!("a {i}")}))
            .await;
    }
    for i in 0..8 {
        s.create_conference(&b.key, big_conference(i)).await;
    }
    let idle = p50(&list_ten(&s, &a).await);

    let mut readers = Vec::new();
    for _ in 0..8 {
        readers.push(stalled_reader(&s, &b.key, "/v1.0/conferences?page_size=100").await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let loaded = p50(&list_ten(&s, &a).await);
    within_twice("A's 10-item list", idle, loaded, Duration::from_millis(30));
    for path in [
        "/v1.0/conferencecalls",
        "/v1.0/recordings",
        "/v1.0/webhook_deliveries",
    ] {
        let res = s
            .client
            .get(s.url(path))
            .bearer_auth(&a.key)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .expect("A's other lists are answered");
        assert_eq!(res.status(), 200, "{path}");
    }

    // B's own lists wait behind its stalled readers, which the send deadline (1 s here)
    // closes two at a time, and then go again.
    let started = std::time::Instant::now();
    let res = s
        .client
        .get(s.url("/v1.0/conferences?page_size=1"))
        .bearer_auth(&b.key)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .expect("B is answered after the deadline");
    assert_eq!(res.status(), 200);
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(15), "B waited {waited:?}");
    // Every reader got its page before B's own request did (B's share is first come, first
    // served), so one send deadline later every one of them has been closed; reading them
    // sooner would drain the last one in time and make it an ordinary client.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for mut r in readers {
        assert!(
            closed_by_server(&mut r).await,
            "a stalled reader's connection is closed"
        );
    }
}

/// Reads what the server sent until the connection ends. An answer that was sent whole would
/// leave the connection open (keep-alive) and the read waiting: only a closed one ends.
async fn closed_by_server(stream: &mut TcpStream) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = vec![0u8; 64 * 1024];
    let read_all = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read_all)
        .await
        .is_ok()
}
