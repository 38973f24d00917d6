//! The store interface's rules with two writers on one database (a SQLite file, or a
//! PostgreSQL database when the suite runs on it): two confab servers (or two store handles)
//! share it, as several nodes do, and each rule holds.

use crate::support::events::EventPost;
use crate::support::{poll_until, Receiver, TestDb, TestServer};
use confab::domain::deadline::DeadlineKind;
use confab::store::{Store, StoreOptions, StoredMessage};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

/// Two servers on one database file.
async fn two_nodes(
    configure: impl Fn(&mut confab::Config),
) -> (TestServer, TestServer, (tempfile::TempDir, TestDb)) {
    let shared = tempfile::tempdir().expect("temp dir");
    let db = TestDb::new(shared.path()).await;
    let mut nodes = Vec::new();
    for _ in 0..2 {
        let db = db.database();
        nodes.push(
            TestServer::start_with(|c| {
                c.db = db;
                configure(c);
            })
            .await,
        );
    }
    let b = nodes.pop().expect("two");
    let a = nodes.pop().expect("two");
    (a, b, (shared, db))
}

/// Posts a platform event (unsigned: the test servers accept those) and returns its status.
async fn post(s: &TestServer, id: &str, kind: &str, data: Value) -> u16 {
    EventPost::new(&s.client, &s.base, &EventPost::envelope(id, kind, data))
        .send()
        .await
        .status
}

/// lock_conference: admission is decided by one writer at a time across nodes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connect_room_admits_exactly_two_across_two_writers() {
    let (a, b, _dir) = two_nodes(|_| {}).await;
    let alice = a.create_customer("alice").await;
    let conf = a
        .create_conference(&alice.key, json!({"type": "connect"}))
        .await;
    let conf = conf["id"].as_str().expect("id").to_string();
    let (a, b) = (Arc::new(a), Arc::new(b));
    let joins = (0..100).map(|i| {
        let node = if i % 2 == 0 { a.clone() } else { b.clone() };
        let conf = conf.clone();
        async move {
            let call = format!("call-{i}");
            post(
                &node,
                &format!("join-{i}"),
                "call_joining",
                json!({"call_id": call, "conference_id": conf}),
            )
            .await
        }
    });
    let statuses = futures_util::future::join_all(joins).await;
    let admitted = statuses.iter().filter(|s| **s == 200).count();
    let full = statuses.iter().filter(|s| **s == 409).count();
    assert_eq!((admitted, full), (2, 98), "statuses: {statuses:?}");
}

/// claim_event: one event id posted to both nodes at once is applied once, and both answers
/// (and a later replay) are byte for byte the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_id_posted_to_two_writers_at_once_is_applied_once() {
    let (a, b, _dir) = two_nodes(|_| {}).await;
    let alice = a.create_customer("alice").await;
    let conf = a.create_conference(&alice.key, json!({})).await;
    let conf = conf["id"].as_str().expect("id").to_string();
    for i in 0..20 {
        let id = format!("same-{i}");
        let data = json!({"call_id": format!("c{i}"), "conference_id": conf});
        let (ra, rb) = tokio::join!(
            raw_event(&a, &id, "call_joining", &data),
            raw_event(&b, &id, "call_joining", &data)
        );
        assert_eq!(ra.0, 200, "{}", String::from_utf8_lossy(&ra.1));
        assert_eq!(ra, rb, "both nodes answer {id} byte for byte the same");
        assert_eq!(raw_event(&a, &id, "call_joining", &data).await, ra);
    }
    let (_, calls) = a
        .call(
            "GET",
            &format!("/v1.0/conferencecalls?conference_id={conf}"),
            Some(&alice.key),
            None,
        )
        .await;
    let n = calls["result"].as_array().map(Vec::len).unwrap_or(0);
    assert_eq!(n, 20, "one conferencecall per event id");
}

async fn raw_event(s: &TestServer, id: &str, kind: &str, data: &Value) -> (u16, Vec<u8>) {
    let body = json!({"id": id, "type": kind, "data": data}).to_string();
    let res = s
        .client
        .post(s.url("/v1.0/platform/events"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("request");
    let status = res.status().as_u16();
    (status, res.bytes().await.expect("body").to_vec())
}

/// Two store handles on one database, as two nodes have.
async fn two_stores() -> (Store, Store, (tempfile::TempDir, TestDb)) {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = TestDb::new(dir.path()).await;
    let open = || Store::connect(&db.database(), StoreOptions::default()).expect("store");
    (open(), open(), (dir, db))
}

fn message(seq_hint: usize, key: &str) -> StoredMessage {
    StoredMessage {
        seq: 0,
        id: format!("msg_{key}_{seq_hint}"),
        kind: confab::store::MessageKind::Webhook,
        customer_id: None,
        ordering_key: key.into(),
        event_type: "test".into(),
        url: "http://127.0.0.1:9/".into(),
        method: "POST".into(),
        content_type: "application/json".into(),
        body: "{}".into(),
        status: confab::store::DeliveryStatus::Pending,
        attempts: 0,
        next_attempt_at: 0,
        last_status: None,
        last_error: String::new(),
        tm_create: 0,
        tm_update: 0,
    }
}

/// Outbox leases: two writers claiming at once never hold the same message, a key is held by
/// one owner at a time and handed over in order, and an expired lease is taken over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_messages_are_leased_to_one_owner_at_a_time_in_order() {
    let (one, two, _db) = two_stores().await;
    let keys: Vec<String> = (0..20).map(|k| format!("conf-{k}")).collect();
    let ks = keys.clone();
    one.write(move |tx| {
        for i in 0..5 {
            for k in &ks {
                tx.enqueue(&message(i, k))?;
            }
        }
        Ok::<_, confab::store::StoreError>(())
    })
    .await
    .expect("enqueued");

    // Both claim heads at once, many times: no key's head is ever held by both.
    let now = 1_000;
    let (a, b) = tokio::join!(
        one.write(move |tx| tx.claim_due_messages("one", now, now + 60, 100, &[])),
        two.write(move |tx| tx.claim_due_messages("two", now, now + 60, 100, &[]))
    );
    let (a, b) = (a.expect("claim one"), b.expect("claim two"));
    let a_keys: HashSet<_> = a.iter().map(|m| m.ordering_key.clone()).collect();
    let b_keys: HashSet<_> = b.iter().map(|m| m.ordering_key.clone()).collect();
    assert!(a_keys.is_disjoint(&b_keys), "a key claimed by both owners");
    assert_eq!(
        a_keys.len() + b_keys.len(),
        keys.len(),
        "every key claimed once"
    );
    assert!(
        a.iter().chain(&b).all(|m| m.id.ends_with("_0")),
        "heads only"
    );

    // The other owner cannot take the rest of a key while its head is leased...
    let k = a.first().unwrap_or_else(|| &b[0]).ordering_key.clone();
    let holder = if a_keys.contains(&k) { "one" } else { "two" };
    let other = if holder == "one" { "two" } else { "one" };
    let (k2, o2) = (k.clone(), other.to_string());
    let stolen = two
        .write(move |tx| tx.claim_run(&o2, &k2, now, now + 60, 10))
        .await
        .expect("claim_run");
    assert!(
        stolen.is_empty(),
        "another owner's leased key is left alone"
    );
    // ...the holder takes the key's messages in order...
    let (k3, h3) = (k.clone(), holder.to_string());
    let mut run = one
        .write(move |tx| tx.claim_run(&h3, &k3, now, now + 60, 10))
        .await
        .expect("claim_run");
    let ids: Vec<_> = run.iter().map(|m| m.id.clone()).collect();
    let expected: Vec<_> = (0..5).map(|i| format!("msg_{k}_{i}")).collect();
    assert_eq!(
        ids, expected,
        "the holder's run is the key's messages in order"
    );
    // ...and once its lease has expired, the other owner takes the key over.
    let later = now + 61;
    let (k4, o4) = (k.clone(), other.to_string());
    let taken = two
        .write(move |tx| tx.claim_run(&o4, &k4, later, later + 60, 10))
        .await
        .expect("claim_run");
    assert_eq!(taken.len(), 5, "an expired lease is taken over");
    // Recording an attempt releases it.
    let mut first = run.remove(0);
    first.status = confab::store::DeliveryStatus::Delivered;
    one.write(move |tx| tx.record_attempt(&first))
        .await
        .expect("recorded");
}

/// take_deadline: two writers firing the same deadlines at once fire each exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_deadline_is_taken_by_exactly_one_of_two_writers() {
    let (one, two, _db) = two_stores().await;
    let subjects: Vec<String> = (0..200).map(|i| format!("subject-{i}")).collect();
    let s = subjects.clone();
    one.write(move |tx| {
        for subject in &s {
            tx.set_deadline(
                DeadlineKind::ConferenceTimeout,
                subject,
                confab::domain::timestamp::Timestamp(500),
            )?;
        }
        Ok::<_, confab::store::StoreError>(())
    })
    .await
    .expect("set");
    let take = |store: Store, subjects: Vec<String>| async move {
        let mut won = Vec::new();
        for subject in subjects {
            let s = subject.clone();
            let got = store
                .write(move |tx| tx.take_deadline(DeadlineKind::ConferenceTimeout, &s, 500))
                .await
                .expect("take");
            if got {
                won.push(subject);
            }
        }
        won
    };
    let (a, b) = tokio::join!(
        take(one.clone(), subjects.clone()),
        take(two.clone(), subjects.clone())
    );
    let mut all: Vec<_> = a.iter().chain(&b).cloned().collect();
    all.sort();
    let mut expected = subjects.clone();
    expected.sort();
    assert_eq!(
        all, expected,
        "every deadline fired once, by one of the two"
    );
    // A deadline moved since it was read is not taken at its old time.
    one.write(|tx| {
        tx.set_deadline(
            DeadlineKind::KickGrace,
            "moved",
            confab::domain::timestamp::Timestamp(900),
        )
    })
    .await
    .expect("set");
    let stale = two
        .write(|tx| tx.take_deadline(DeadlineKind::KickGrace, "moved", 500))
        .await
        .expect("take");
    assert!(!stale, "a moved deadline is not fired at its old time");
}

/// Customer settings changed through one node are used by the other within a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_uri_changed_on_one_node_is_used_by_the_other_within_a_second() {
    let (first, second) = (Receiver::start().await, Receiver::start().await);
    let (a, b, _dir) = two_nodes(|c| c.webhook_allow_private = true).await;
    let alice = a.create_customer_with("alice", &first.url("/hooks")).await;
    // Node b reads (and caches) the customer.
    let (st, _) = b
        .call(
            "POST",
            "/v1.0/conferences",
            Some(&alice.key),
            Some(json!({"name": "before"})),
        )
        .await;
    assert_eq!(st, 200);
    let (st, _) = a
        .call(
            "PUT",
            "/v1.0/customer",
            Some(&alice.key),
            Some(json!({"webhook_uri": second.url("/hooks")})),
        )
        .await;
    assert_eq!(st, 200);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (st, _) = b
        .call(
            "POST",
            "/v1.0/conferences",
            Some(&alice.key),
            Some(json!({"name": "after"})),
        )
        .await;
    assert_eq!(st, 200);
    poll_until(
        Duration::from_secs(10),
        "the new URI gets node b's notification",
        || {
            let second = &second;
            async move {
                second
                    .bodies("/hooks")
                    .iter()
                    .any(|v| v["type"] == "conference_created" && v["data"]["name"] == "after")
                    .then_some(())
            }
        },
    )
    .await;
    let old: HashMap<String, usize> = first
        .bodies("/hooks")
        .iter()
        .filter_map(|v| Some((v["data"]["name"].as_str()?.to_string(), 1)))
        .collect();
    assert!(
        !old.contains_key("after"),
        "the old URI no longer gets notifications"
    );
}

/// A node restarted with its stable name gives back at once the leases its previous life held;
/// another node's leases are left to expire (on SQLite, which one node serves, every lease is
/// given back at start).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_gives_back_only_its_own_leases() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = TestDb::new(dir.path()).await;
    let open = |name: &str| {
        let options = StoreOptions {
            reset_leases: true,
            node_name: Some(name.to_string()),
            ..StoreOptions::default()
        };
        Store::connect(&db.database(), options).expect("store")
    };
    let first = open("alpha");
    first
        .write(|tx| {
            tx.enqueue(&message(0, "key-a"))?;
            tx.enqueue(&message(0, "key-b"))
        })
        .await
        .expect("enqueued");
    let far = 1_000_000_000_000_000;
    let claim = |store: Store, owner: &'static str, key: &'static str| async move {
        store
            .write(move |tx| tx.claim_run(owner, key, 1_000, far, 10))
            .await
            .expect("claim")
            .len()
    };
    assert_eq!(claim(first.clone(), "alpha/0", "key-a").await, 1);
    assert_eq!(claim(first.clone(), "beta/0", "key-b").await, 1);
    drop(first);
    // "alpha" restarts: its lease is back, "beta"'s (a live node) is not.
    let again = open("alpha");
    assert_eq!(
        claim(again.clone(), "gamma/0", "key-a").await,
        1,
        "alpha's lease given back"
    );
    let beta_kept = claim(again, "gamma/1", "key-b").await == 0;
    assert_eq!(
        beta_kept,
        db.sqlite_path().is_none(),
        "beta's lease kept on PostgreSQL only"
    );
}
