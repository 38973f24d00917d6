//! PostgreSQL group commit (issue 29): a write whose lock another transaction holds never
//! holds up the other writes of its batch, and runs once the lock is free. The lock is held by
//! the test's own PostgreSQL session, as another node's transaction would hold it. Each test
//! makes a PostgreSQL database of its own, so they are `#[ignore]`d like `multinode::`.

use crate::multinode::Cluster;
use serde_json::json;
use std::time::Duration;

/// The advisory lock space of conferences (`LockSpace::Conference` in the PostgreSQL store).
const CONFERENCE_LOCKS: i32 = 2;

/// One writer: a first write waits for its conference's lock; the two writes queued behind it
/// form the next batch, where the second finds its conference locked too. That one is rolled
/// back and carried to the batch after, while the first commits and answers at once; it
/// answers once the lock is given back, and the room ends exactly as the events say.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL (CONFAB_TEST_PG): run with -- --include-ignored, as the PostgreSQL pass does"]
async fn a_write_whose_lock_is_held_is_carried_and_holds_up_no_other() {
    let cluster = Cluster::start(1, &["--pg-writers", "1"]).await;
    let key = cluster.customer("").await;
    let z = cluster.conference(0, &key, json!({})).await;
    let y = cluster.conference(0, &key, json!({})).await;
    let x = cluster.conference(0, &key, json!({})).await;
    let (holder, connection) = tokio_postgres::connect(&cluster.db.arg(), tokio_postgres::NoTls)
        .await
        .expect("the test's own PostgreSQL session");
    tokio::spawn(connection);
    let lock = |conf: &str, take: bool| {
        let sql = if take {
            "SELECT pg_advisory_lock($1, hashtext($2))::text"
        } else {
            "SELECT pg_advisory_unlock($1, hashtext($2))::text"
        };
        let (holder, conf) = (&holder, conf.to_string());
        async move {
            holder
                .query_one(sql, &[&CONFERENCE_LOCKS, &conf])
                .await
                .expect("advisory lock");
        }
    };
    lock(&z, true).await;
    lock(&x, true).await;
    let done: [std::sync::Mutex<Option<u16>>; 3] = Default::default();
    let join = |conf: &str, n: usize| {
        let (cluster, conf, done) = (&cluster, conf.to_string(), &done);
        async move {
            let data = json!({"call_id": format!("call-{n}"), "conference_id": conf});
            let (status, _) = cluster
                .event(0, &format!("join-{n}"), "call_joining", &data)
                .await;
            *done[n].lock().expect("not poisoned") = Some(status);
        }
    };
    let answered = |n: usize| *done[n].lock().expect("not poisoned");
    let control = async {
        // Z's lock is given back once the writes on Y and X wait behind Z's: they form the
        // next batch, Y's first.
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert_eq!((answered(0), answered(1), answered(2)), (None, None, None));
        lock(&z, false).await;
        crate::support::poll_until(
            Duration::from_secs(10),
            "the write on Y, which must not wait for X's lock",
            || async { answered(1) },
        )
        .await;
        assert_eq!(answered(0), Some(200));
        assert_eq!(answered(1), Some(200));
        assert_eq!(
            answered(2),
            None,
            "the write on X ran while its lock was held"
        );
        let (_, metrics) = cluster.call(0, "GET", "/metrics", None, None).await;
        let carried = metrics
            .as_str()
            .and_then(|m| {
                m.lines()
                    .find_map(|l| l.strip_prefix("confab_store_writes_carried_total "))
            })
            .and_then(|n| n.trim().parse::<f64>().ok());
        assert!(carried >= Some(1.0), "carried: {carried:?}");
        lock(&x, false).await;
    };
    tokio::join!(
        join(&z, 0),
        async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            join(&y, 1).await
        },
        async {
            tokio::time::sleep(Duration::from_millis(400)).await;
            join(&x, 2).await
        },
        control,
    );
    assert_eq!(answered(2), Some(200));
    for conf in [&z, &y, &x] {
        let path = format!("/v1.0/conferencecalls?conference_id={conf}");
        let (_, calls) = cluster.call(0, "GET", &path, Some(&key), None).await;
        let calls = calls["result"].as_array().expect("calls");
        assert_eq!(calls.len(), 1, "{calls:?}");
        assert_eq!(calls[0]["status"], "joining");
    }
}

/// Three nodes, two writers each: 180 calls over 6 conferences, each call's three events sent
/// to three different nodes, 36 at a time. Every node's batches hold events of several
/// conferences and cross the others' in every order; none may wait on another in a cycle
/// (that would be a 503 after PostgreSQL's deadlock timeout, or a lock timeout). Every event
/// answers 200, every call leaves once, and the usage counters (written last in each batch,
/// in key order) count each call exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL (CONFAB_TEST_PG): run with -- --include-ignored, as the PostgreSQL pass does"]
async fn three_nodes_batches_crossing_conferences_never_wait_in_a_cycle() {
    use futures_util::StreamExt;
    let cluster = Cluster::start(3, &[]).await;
    let key = cluster.customer("").await;
    let mut confs = Vec::new();
    for _ in 0..6 {
        confs.push(cluster.conference(0, &key, json!({})).await);
    }
    let calls = (0..180).map(|i| {
        let (cluster, conf) = (&cluster, confs[i % 6].clone());
        async move {
            let data = json!({"call_id": format!("call-{i}"), "conference_id": conf});
            let mut statuses = Vec::new();
            for (step, kind) in ["call_joining", "call_joined", "call_left"]
                .iter()
                .enumerate()
            {
                let id = format!("{kind}-{i}");
                let (status, body) = cluster.event((i + step) % 3, &id, kind, &data).await;
                statuses.push((status, String::from_utf8_lossy(&body).into_owned()));
            }
            statuses
        }
    });
    let answered: Vec<_> = futures_util::stream::iter(calls)
        .buffer_unordered(36)
        .collect()
        .await;
    for statuses in &answered {
        for (status, body) in statuses {
            assert_eq!(*status, 200, "{body}");
        }
    }
    for conf in &confs {
        let (_, room) = cluster
            .call(
                1,
                "GET",
                &format!("/v1.0/conferences/{conf}"),
                Some(&key),
                None,
            )
            .await;
        assert_eq!(room["conferencecall_ids"], json!([]), "{room}");
        let path = format!("/v1.0/conferencecalls?conference_id={conf}&page_size=100");
        let (_, calls) = cluster.call(2, "GET", &path, Some(&key), None).await;
        let calls = calls["result"].as_array().expect("calls");
        assert_eq!(calls.len(), 30);
        assert!(calls.iter().all(|c| c["status"] == "leaved"), "{calls:?}");
    }
    // Yesterday to today: a run across midnight counts its conferences and calls on two days.
    let today = chrono::Utc::now().date_naive();
    let yesterday = today - chrono::Duration::days(1);
    let path = format!("/v1.0/usage?from={yesterday}&to={today}&granularity=day");
    let (status, usage) = cluster.call(0, "GET", &path, Some(&key), None).await;
    assert_eq!(status, 200, "{usage}");
    let total = |field: &str| -> i64 {
        usage["result"]
            .as_array()
            .expect("periods")
            .iter()
            .map(|p| p[field].as_i64().unwrap_or(0))
            .sum()
    };
    assert_eq!((total("calls"), total("conferences")), (180, 6), "{usage}");
}
