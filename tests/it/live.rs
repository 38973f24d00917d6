//! The console's live feed (`GET /console/events`) comes from the write path: every committed
//! change is on it, whichever door it came in by — the JSON API, the XML API, a platform event
//! or a deadline the scheduler fired — and nothing of a write that was refused.

use crate::support::{field, TestServer};
use serde_json::{json, Value};
use std::time::Duration;

/// An open change stream of one customer, read event by event.
struct Feed {
    response: reqwest::Response,
    /// What was read but is not a whole event yet.
    buffer: String,
}

impl Feed {
    /// Opens the stream and waits for its `hello`, so every later change is on it.
    async fn open(s: &TestServer, key: &str) -> Feed {
        let response = s
            .client
            .get(s.url("/console/events"))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let mut feed = Feed {
            response,
            buffer: String::new(),
        };
        let (event, _) = feed.next_event().await;
        assert_eq!(event, "hello");
        feed
    }

    /// The next event's name and data (keepalive comments are skipped).
    async fn next_event(&mut self) -> (String, Value) {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let line = |prefix: &str| {
                    block
                        .lines()
                        .find_map(|l| l.strip_prefix(prefix))
                        .map(str::to_string)
                };
                if let (Some(event), Some(data)) = (line("event: "), line("data: ")) {
                    return (event, serde_json::from_str(&data).unwrap());
                }
                continue;
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.response.chunk())
                .await
                .expect("an event within 10 s")
                .unwrap()
                .expect("the stream stays open");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// The next change, as `(conference_id, what)`.
    async fn next_change(&mut self) -> (String, String) {
        let (event, data) = self.next_event().await;
        assert_eq!(event, "change", "{data}");
        let text = |k: &str| data[k].as_str().unwrap().to_string();
        (text("conference_id"), text("what"))
    }

    /// Reads changes until `what` of `conference` arrives, and returns what came before it.
    async fn until(&mut self, conference: &str, what: &str) -> Vec<(String, String)> {
        let mut before = Vec::new();
        loop {
            let change = self.next_change().await;
            if change.0 == conference && change.1 == what {
                return before;
            }
            before.push(change);
        }
    }
}

/// An XML API request as `key`; the answer's status and document.
async fn xml_post(s: &TestServer, key: &str, path: &str, body: &str) -> (u16, String) {
    let res = s
        .client
        .post(s.url(path))
        .bearer_auth(key)
        .header("content-type", "application/xml")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

#[tokio::test]
async fn xml_api_creates_and_disposals_are_on_the_live_feed() {
    let s = TestServer::start().await;
    let c = s.create_customer("xml").await;
    let mut feed = Feed::open(&s, &c.key).await;
    let base = format!("/v1/account/{}/conf", c.id);
    let (status, doc) = xml_post(&s, &c.key, &base, "<conf/>").await;
    assert_eq!(status, 200, "{doc}");
    let sid = field(&doc, "sid").unwrap();
    let id = uuid::Uuid::parse_str(&sid).unwrap().to_string();
    assert_eq!(
        feed.next_change().await,
        (id.clone(), "conference_created".to_string())
    );

    let (status, doc) = xml_post(&s, &c.key, &format!("{base}/{sid}/dispose"), "").await;
    assert_eq!(status, 200, "{doc}");
    // Disposing moves the XML status to `completed` and deletes the conference: both changes
    // of that one transaction are on the feed, in the order they were made.
    let changes = [feed.next_change().await, feed.next_change().await];
    assert_eq!(
        changes,
        [
            (id.clone(), "conf_status".to_string()),
            (id.clone(), "conference_deleted".to_string())
        ]
    );
}

#[tokio::test]
async fn deadline_firings_are_on_the_live_feed() {
    let s = TestServer::start_with(|c| {
        c.idle_timeout = 60;
        c.kick_grace = 30;
    })
    .await;
    let c = s.create_customer("timers").await;
    let mut feed = Feed::open(&s, &c.key).await;

    // A timeout terminates the conference: `conference_updated`, from the scheduler.
    let timed = s
        .create_conference(&c.key, json!({"name": "timed", "timeout": 5}))
        .await;
    let timed = timed["id"].as_str().unwrap().to_string();
    feed.until(&timed, "conference_created").await;
    s.advance(Duration::from_secs(5));
    feed.until(&timed, "conference_updated").await;
    assert_eq!(s.conference(&c.key, &timed).await["status"], "terminated");

    // A kicked call not reported left within the kick grace is marked left by confab.
    let room = s.create_conference(&c.key, json!({"name": "room"})).await;
    let room = room["id"].as_str().unwrap().to_string();
    for (n, kind) in ["call_joining", "call_joined"].into_iter().enumerate() {
        let data = json!({"call_id": "grace-call", "conference_id": room});
        assert_eq!(s.event(&format!("g{n}"), kind, data).await.status, 200);
    }
    feed.until(&room, "conferencecall_joined").await;
    let (_, calls) = s
        .call(
            "GET",
            &format!("/v1.0/conferencecalls?conference_id={room}"),
            Some(&c.key),
            None,
        )
        .await;
    let call = calls["result"][0]["id"].as_str().unwrap().to_string();
    let path = format!("/v1.0/conferencecalls/{call}");
    assert_eq!(s.call("DELETE", &path, Some(&c.key), None).await.0, 200);
    feed.until(&room, "conferencecall_leaving").await;
    s.advance(Duration::from_secs(30));
    feed.until(&room, "conferencecall_leaved").await;

    // Nobody joins an XML conference within the idle timeout: it is deleted.
    let base = format!("/v1/account/{}/conf", c.id);
    let (_, doc) = xml_post(&s, &c.key, &base, "<conf/>").await;
    let idle = uuid::Uuid::parse_str(&field(&doc, "sid").unwrap())
        .unwrap()
        .to_string();
    feed.until(&idle, "conference_created").await;
    s.advance(Duration::from_secs(60));
    feed.until(&idle, "conference_deleted").await;
}

#[tokio::test]
async fn a_refused_write_puts_nothing_on_the_live_feed() {
    let s = TestServer::start().await;
    let c = s.create_customer("refused").await;
    let mut feed = Feed::open(&s, &c.key).await;
    let room = s
        .create_conference(&c.key, json!({"name": "connect", "type": "connect"}))
        .await;
    let room = room["id"].as_str().unwrap().to_string();
    feed.until(&room, "conference_created").await;
    for (n, call) in ["a", "b", "c"].into_iter().enumerate() {
        let data = json!({"call_id": call, "conference_id": room});
        let answer = s.event(&format!("r{n}"), "call_joining", data).await;
        assert_eq!(answer.status, if call == "c" { 409 } else { 200 });
    }
    // The third call was refused (a connect room holds two); the next change on the feed is
    // the conference created after it, with nothing of the refused join between.
    let after = s.create_conference(&c.key, json!({"name": "after"})).await;
    let after = after["id"].as_str().unwrap().to_string();
    let before = feed.until(&after, "conference_created").await;
    assert_eq!(
        before,
        [
            (room.clone(), "conferencecall_joining".to_string()),
            (room.clone(), "conferencecall_joining".to_string())
        ]
    );
}
