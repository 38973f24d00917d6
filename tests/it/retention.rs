//! History past its retention is pruned (at start and every ten minutes), a bounded batch per
//! table per transaction: answered platform events and announcements after the idempotency
//! window (7 days); delivered messages, finished pauses and what confab kept of calls on their
//! platforms after 30 days. What is younger, and a pause still waiting, stays. Time is moved
//! with confab's clock, then a restart runs the pruning.

use crate::support::{allow_private, poll_until, Receiver, Reply, TestServer};
use serde_json::json;
use std::time::Duration;

const DAY: i64 = 24 * 3600 * 1_000_000;
/// Old platform events written straight to the store: more than two batches.
const OLD_EVENTS: i64 = 2_500;

#[tokio::test]
async fn history_past_its_retention_is_pruned_in_batches_and_the_rest_stays() {
    let hooks = Receiver::answering(Reply::status(204)).await;
    let s = TestServer::start_with(allow_private).await;
    let a = s.create_customer_with("a", &hooks.url("/hooks")).await;
    let conf = s.create_conference(&a.key, json!({"name": "kept"})).await["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let joining = |id: &str, call: &str| {
        s.event(
            id,
            "call_joining",
            json!({"call_id": call, "conference_id": conf}),
        )
    };
    let first = joining("ev-old", "c1").send().await;
    assert_eq!(first.status, 200, "{}", first.text());
    let left = s
        .event(
            "ev-old-left",
            "call_left",
            json!({"call_id": "c1", "conference_id": conf}),
        )
        .send()
        .await;
    assert_eq!(left.status, 200);
    hooks.wait_for_total(3, Duration::from_secs(5)).await;
    s.drain_outbox().await;

    // What no API makes: thousands of answered events eight days old, and announcements,
    // pauses and platform call rows either side of their cutoffs.
    let now = s.now_micros();
    let db = s.db();
    let eight_days = now - 8 * DAY;
    let inserted = db
        .execute(&format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {OLD_EVENTS}) \
             INSERT INTO platform_events (id, type, status, body, tm_create) \
             SELECT 'bulk-' || i, 'call_joined', 200, '{{}}', {eight_days} FROM n"
        ))
        .await;
    assert_eq!(inserted, OLD_EVENTS as u64);

    // A month later (and a day), a new event; then a restart prunes.
    s.advance(Duration::from_secs(31 * 24 * 3600));
    let now = s.now_micros();
    let (old, recent) = (now - 31 * DAY, now - DAY);
    for (id, at) in [("old-a", old), ("new-a", recent)] {
        db.execute(&format!(
            "INSERT INTO announcements (id, customer_id, conference_id, actions, tm_create) \
             VALUES ('{id}', '{}', '{conf}', '[]', {at})",
            a.id
        ))
        .await;
    }
    for (id, active, at) in [
        ("old-done", 0, old),
        ("old-waiting", 1, old),
        ("new-done", 0, recent),
    ] {
        db.execute(&format!(
            "INSERT INTO call_pauses (conferencecall_id, seq, active, list, program, state, tm_update) \
             VALUES ('{id}', 1, {active}, 'pre_actions', '', '', {at})"
        ))
        .await;
    }
    for (id, at) in [("old-call", old), ("new-call", recent)] {
        db.execute(&format!(
            "INSERT INTO platform_calls (conferencecall_id, dial_call_id, tm_update) \
             VALUES ('{id}', 'CA1', {at})"
        ))
        .await;
    }
    let fresh = joining("ev-new", "c2").send().await;
    assert_eq!(fresh.status, 200);
    s.drain_outbox().await;

    let s = s.restart_with(allow_private).await;
    let db = s.db();
    poll_until(
        Duration::from_secs(20),
        "old platform events pruned",
        || async {
            (db.query_i64("SELECT COUNT(*) FROM platform_events").await == 1).then_some(())
        },
    )
    .await;
    let texts = |sql: &'static str| db.query_texts(sql);
    assert_eq!(texts("SELECT id FROM platform_events").await, ["ev-new"]);
    assert_eq!(texts("SELECT id FROM announcements").await, ["new-a"]);
    let mut pauses = texts("SELECT conferencecall_id FROM call_pauses").await;
    pauses.sort();
    assert_eq!(pauses, ["new-done", "old-waiting"], "a waiting pause stays");
    assert_eq!(
        texts("SELECT conferencecall_id FROM platform_calls").await,
        ["new-call"]
    );
    // The month-old deliveries are gone from the log; the new call's are there.
    let (status, log) = s
        .call("GET", "/v1.0/webhook_deliveries", Some(&a.key), None)
        .await;
    assert_eq!(status, 200);
    let kinds: Vec<&str> = log["result"]
        .as_array()
        .map(|r| r.iter().filter_map(|d| d["event_type"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(kinds, ["conferencecall_joining"], "{log}");

    // An event id past the idempotency window is a new event: c1 joins again, as a new
    // conferencecall.
    let again = s
        .event(
            "ev-old",
            "call_joining",
            json!({"call_id": "c1", "conference_id": conf}),
        )
        .send()
        .await;
    assert_eq!(again.status, 200, "{}", again.text());
    assert_ne!(
        again.json["conferencecall"]["id"], first.json["conferencecall"]["id"],
        "not the first answer replayed"
    );
}
