//! Noisy neighbours: see mod.rs. This file is about the reader threads: customer B's list
//! loops over rare filters (a status or type almost none of its long history has, or a
//! combination nothing matches) must not hold the readers long enough to slow customer A's
//! small lists, and a page that stops at the store's scan bound still leads the client through
//! every matching item, once each, in order.

use crate::support::{on_postgres, Customer, TestServer};
use serde_json::Value;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// B's history: enough conferences that a page scanning all of them is slow.
const HISTORY: i64 = 80_000;

/// SQL that writes `n` conferences of `customer` (ids `…-{prefix}{i:08}`, `tm_create = i`)
/// with `status`/`type` given as SQL expressions over `i`, valid on both backends.
fn insert_conferences(customer: &str, prefix: &str, n: i64, status: &str, kind: &str) -> String {
    let id = if on_postgres() {
        format!("'00000000-0000-4000-8000-{prefix}' || lpad(i::text, 8, '0')")
    } else {
        format!("printf('00000000-0000-4000-8000-{prefix}%08d', i)")
    };
    format!(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n}) \
         INSERT INTO conferences (id, customer_id, type, status, name, detail, data, timeout, \
         pre_actions, post_actions, tm_create, tm_update) SELECT {id}, '{customer}', {kind}, \
         {status}, 'history', '', '{{}}', 0, '[]', '[]', i, i FROM n"
    )
}

/// The milliseconds one list request takes, after checking it succeeded.
async fn timed_list(s: &TestServer, key: &str, query: &str) -> (f64, Value) {
    let started = Instant::now();
    let (status, page) = s
        .call(
            "GET",
            &format!("/v1.0/conferences?{query}"),
            Some(key),
            None,
        )
        .await;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(status, 200, "{query}: {page}");
    (ms, page)
}

fn p50(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// A's p50 over `n` sequential 10-item lists, a little apart.
async fn a_p50(s: &TestServer, a: &Customer, n: usize) -> f64 {
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        samples.push(timed_list(s, &a.key, "page_size=10").await.0);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    p50(samples)
}

/// One of B's loops: a rare-filter page every 50 ms (20 a second, 160 for all eight loops,
/// well within B's rate limit), following tokens, back to the start at the end.
async fn rare_loop(s: Arc<TestServer>, key: String, filter: &'static str, stop: Arc<AtomicBool>) {
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut token = String::new();
    while !stop.load(Ordering::Relaxed) {
        tick.tick().await;
        let query = format!("page_size=100&{filter}&page_token={token}");
        let (_, page) = timed_list(&s, &key, &query).await;
        token = page["next_page_token"]
            .as_str()
            .unwrap_or_default()
            .to_string();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rare_filter_loops_do_not_slow_another_customers_lists() {
    let s = Arc::new(TestServer::start().await);
    let a = s.create_customer("a").await;
    let b = s.create_customer("b").await;
    for i in 0..30 {
        s.create_conference(&a.key, serde_json::json!({"name": format!("a{i}")}))
            .await;
    }
    // B's history: every conference progressing and of type conference, except a few of the
    // oldest, so a page of the rare ones walks all of it unless an index leads to them.
    let kind = "CASE WHEN i % 40000 = 1 THEN 'connect' ELSE 'conference' END";
    let status = "CASE WHEN i % 40000 = 2 THEN 'terminated' WHEN i % 40000 = 3 THEN 'starting' \
                  ELSE 'progressing' END";
    let sql = insert_conferences(&b.id, "0000", HISTORY, status, kind);
    assert_eq!(s.db().execute(&sql).await, HISTORY as u64);
    s.db().execute("ANALYZE").await;

    // The rare filters; a combination whose first filter matches the whole history (each
    // page then examines the store's scan bound of rows); the default list from a token at
    // the oldest end (a seek, not a walk from the newest end).
    let oldest = format!("page_token=5_00000000-0000-4000-8000-0000{:08}", 5);
    for filter in [
        "status=terminated",
        "type=connect",
        "status=terminated&type=connect",
        "status=progressing&type=connect",
        oldest.as_str(),
    ] {
        let mut ms = Vec::new();
        for _ in 0..5 {
            ms.push(
                timed_list(&s, &b.key, &format!("page_size=100&{filter}"))
                    .await
                    .0,
            );
        }
        eprintln!(
            "B's first page of {filter} at {HISTORY} conferences: p50 {:.2} ms",
            p50(ms)
        );
    }
    let _ = a_p50(&s, &a, 10).await;
    super::in_one_of(3, || one_attempt(&s, &a, &b)).await;
}

/// A's list p50 idle, then beside B's rare-filter loops, held to twice the idle one.
async fn one_attempt(s: &Arc<TestServer>, a: &Customer, b: &Customer) -> Result<(), String> {
    let idle = a_p50(s, a, 60).await;
    let stop = Arc::new(AtomicBool::new(false));
    let filters = [
        "status=terminated",
        "status=starting",
        "type=connect",
        "status=terminated&type=connect",
    ];
    let loops: Vec<_> = (0..8)
        .map(|n| {
            let f = filters[n % filters.len()];
            tokio::spawn(rare_loop(s.clone(), b.key.clone(), f, stop.clone()))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let busy = a_p50(s, a, 60).await;
    stop.store(true, Ordering::Relaxed);
    for l in loops {
        l.await.expect("loop");
    }
    let limit = (2.0 * idle).max(20.0);
    eprintln!(
        "A's 10-item list: idle p50 {idle:.2} ms, beside B's loops {busy:.2} ms (limit {limit:.2})"
    );
    if busy > limit {
        return Err(format!(
            "A's list p50 went from {idle:.2} ms to {busy:.2} ms beside B's rare-filter loops"
        ));
    }
    Ok(())
}

/// Pages through `query` to the end, returning each page's ids.
async fn walk(s: &TestServer, key: &str, query: &str) -> Vec<Vec<String>> {
    let mut pages = Vec::new();
    let mut token = String::new();
    loop {
        let (_, page) = timed_list(s, key, &format!("{query}&page_token={token}")).await;
        let ids = page["result"].as_array().expect("result").iter();
        pages.push(
            ids.map(|c| c["id"].as_str().expect("id").to_string())
                .collect(),
        );
        token = page["next_page_token"].as_str().expect("token").to_string();
        if token.is_empty() {
            return pages;
        }
        assert!(pages.len() < 1000, "{query}: the pages end");
    }
}

/// The ids of conferences `i` in `range` (newest first) for which `pick(i)` holds.
fn expected(range: std::ops::RangeInclusive<i64>, pick: impl Fn(i64) -> bool) -> Vec<String> {
    range
        .rev()
        .filter(|i| pick(*i))
        .map(|i| format!("00000000-0000-4000-8000-0000{i:08}"))
        .collect()
}

#[tokio::test]
async fn bounded_pages_return_every_match_once_in_order() {
    let s = TestServer::start().await;
    let b = s.create_customer("b").await;
    // 6,000 terminated conferences, every 700th of them a connect one, with a stretch of
    // 3,000 (2,001..=5,000) where none is: the status index leads to all of them and the
    // type is left to the scan, which stops at its bound in that stretch.
    let n = 6_000;
    let kind = "CASE WHEN i % 700 = 0 AND (i <= 2000 OR i > 5000) THEN 'connect' \
                ELSE 'conference' END";
    let sql = insert_conferences(&b.id, "0000", n, "'terminated'", kind);
    assert_eq!(s.db().execute(&sql).await, n as u64);
    let connect = |i: i64| i % 700 == 0 && (i <= 2000 || i > 5000);

    let pages = walk(&s, &b.key, "page_size=3&status=terminated&type=connect").await;
    let seen: Vec<String> = pages.iter().flatten().cloned().collect();
    assert_eq!(
        seen,
        expected(1..=n, connect),
        "every match once, newest first"
    );
    assert!(
        pages[..pages.len() - 1].iter().any(|p| p.is_empty()),
        "the stretch without matches gives empty pages that still carry a token: {pages:?}"
    );
    assert_eq!(
        seen.iter().collect::<HashSet<_>>().len(),
        seen.len(),
        "no item twice"
    );

    // Filters an index serves whole give full pages, and a token at the oldest end seeks.
    let all = walk(&s, &b.key, "page_size=100&status=terminated").await;
    assert!(all[..all.len() - 1].iter().all(|p| p.len() == 100));
    assert_eq!(all.iter().map(Vec::len).sum::<usize>(), n as usize);
    let oldest = format!(
        "page_size=100&page_token=3_00000000-0000-4000-8000-0000{:08}",
        3
    );
    let (_, page) = timed_list(&s, &b.key, &oldest).await;
    let ids: Vec<&str> = page["result"]
        .as_array()
        .expect("result")
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "00000000-0000-4000-8000-000000000002",
            "00000000-0000-4000-8000-000000000001"
        ]
    );
    assert_eq!(page["next_page_token"], "");
}
