//! Answers bounded in bytes: list pages stop at a byte budget without skipping or repeating an
//! item, and the real binary's memory stays bounded while many clients read the largest pages.

use crate::support::process::{self, Process};
use crate::support::{Customer, TestDb, TestServer, ADMIN_TOKEN};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::time::Duration;

/// A conference close to the largest a client can write: `data` near 64 KiB and 100 long
/// `talk` actions in each list, the body just under the 1 MiB request limit.
fn big_conference(i: usize) -> Value {
    let talk = |list: &str, n: usize| json!({"type": "talk", "option": {"text": format!("{list} {n} {}", "x".repeat(4700))}});
    let body = json!({
        "name": format!("big {i}"),
        "data": {"blob": "d".repeat(60_000)},
        "pre_actions": (0..100).map(|n| talk("pre", n)).collect::<Vec<_>>(),
        "post_actions": (0..100).map(|n| talk("post", n)).collect::<Vec<_>>(),
    });
    assert!(body.to_string().len() < 1024 * 1024, "fits the body limit");
    body
}

/// Walks every page of a JSON list; checks each page's items stay within `budget` bytes (or
/// the page has one item) and that it was cut only when the next item would not fit.
/// Returns the ids in order and the number of pages.
async fn walk(s: &TestServer, key: &str, path: &str, budget: usize) -> (Vec<String>, usize) {
    let mut pages: Vec<Vec<Value>> = Vec::new();
    let mut token = String::new();
    loop {
        let sep = if path.contains('?') { '&' } else { '?' };
        let url = s.url(&format!("{path}{sep}page_token={token}"));
        let res = s.client.get(url).bearer_auth(key).send().await.unwrap();
        assert_eq!(res.status(), 200);
        let page: Value = serde_json::from_str(&res.text().await.unwrap()).unwrap();
        let items = page["result"].as_array().unwrap().clone();
        assert!(!items.is_empty(), "a page always holds at least one item");
        pages.push(items);
        token = page["next_page_token"].as_str().unwrap().to_string();
        if token.is_empty() {
            break;
        }
    }
    let size = |items: &[Value]| items.iter().map(|i| i.to_string().len()).sum::<usize>();
    for (n, items) in pages.iter().enumerate() {
        let bytes = size(items);
        assert!(
            items.len() == 1 || bytes <= budget,
            "{path}: page {n} has {bytes} bytes in {} items",
            items.len()
        );
        if let Some(next) = pages.get(n + 1) {
            assert!(
                items.len() == 100 || bytes + size(&next[..1]) > budget * 9 / 10,
                "{path}: page {n} was cut at {bytes} bytes although more fitted"
            );
        }
    }
    let ids = pages
        .iter()
        .flatten()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect();
    (ids, pages.len())
}

#[tokio::test]
async fn pages_of_big_conferences_are_cut_by_bytes_and_skip_or_repeat_nothing() {
    let s = TestServer::start().await;
    let c = s.create_customer("acme").await;
    let mut created = Vec::new();
    for i in 0..10 {
        // Small ones between the big ones, so a cut can fall anywhere.
        let body = if i % 3 == 2 {
            json!({"name": format!("small {i}")})
        } else {
            big_conference(i)
        };
        let (status, conf) = s
            .call("POST", "/v1.0/conferences", Some(&c.key), Some(body))
            .await;
        assert_eq!(status, 200, "{conf}");
        created.push(conf["id"].as_str().unwrap().to_string());
    }
    let (seen, pages) = walk(&s, &c.key, "/v1.0/conferences?page_size=100", 4 << 20).await;
    assert!(
        pages >= 2,
        "7 conferences of ~1 MB need 2 pages, got {pages}"
    );
    created.reverse();
    assert_eq!(seen, created, "newest first, none skipped or repeated");
    let unique: HashSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len());
}

/// Walks the XML API's participant pages; returns the `callSid`s in order and the number of
/// pages.
async fn xml_parts(s: &TestServer, c: &Customer, cid: &str) -> (Vec<String>, usize) {
    let mut parts = Vec::new();
    let mut query = String::new();
    for pages in 1..=10 {
        let url = s.url(&format!("/v1/account/{}/conf/{cid}/part{query}", c.id));
        let res = s.client.get(url).bearer_auth(&c.key).send().await.unwrap();
        assert_eq!(res.status(), 200);
        let xml = res.text().await.unwrap();
        let texts = |tag: &str| -> Vec<String> {
            xml.split(&format!("<{tag}>"))
                .skip(1)
                .filter_map(|t| t.split(&format!("</{tag}>")).next())
                .map(str::to_string)
                .collect()
        };
        let page = texts("callSid");
        assert!(!page.is_empty(), "{xml}");
        parts.extend(page);
        match texts("nextPageToken").first() {
            Some(t) => query = format!("?pageToken={t}"),
            None => return (parts, pages),
        }
    }
    panic!("more than 10 pages of participants");
}

/// With a small `--page-bytes`, the other lists are cut the same way: calls, recordings, the
/// delivery log, and the XML API's participants (which continue with `pageToken`).
#[tokio::test]
async fn every_list_is_cut_by_a_small_byte_budget() {
    const BUDGET: usize = 1500;
    let s = TestServer::start_with(|c| c.page_bytes = BUDGET).await;
    // Notifications to a loopback receiver are refused (and logged as failed): enough to
    // fill the delivery log.
    let c = s
        .create_customer_with("acme", "http://127.0.0.1:9/hooks")
        .await;
    let (_, conf) = s
        .call(
            "POST",
            "/v1.0/conferences",
            Some(&c.key),
            Some(json!({"name": "room"})),
        )
        .await;
    let cid = conf["id"].as_str().unwrap().to_string();
    for n in 0..4 {
        let rec = format!("/v1.0/conferences/{cid}/recording_");
        let (st, _) = s
            .call("POST", &format!("{rec}start"), Some(&c.key), None)
            .await;
        assert_eq!(st, 200);
        let (_, v) = s
            .call("POST", &format!("{rec}stop"), Some(&c.key), None)
            .await;
        let rid = v["recording_ids"][n].as_str().unwrap().to_string();
        let data = json!({"recording_id": rid, "media_url": "https://media.example/r.wav"});
        assert_eq!(
            s.event(&format!("rf{n}"), "recording_finished", data)
                .await
                .status,
            200
        );
    }
    for n in 0..10 {
        let data = json!({"call_id": format!("call-{n}"), "conference_id": cid});
        assert_eq!(
            s.event(&format!("j{n}"), "call_joining", data).await.status,
            200
        );
    }
    let (calls, pages) = walk(&s, &c.key, "/v1.0/conferencecalls", BUDGET).await;
    assert_eq!(
        (calls.len(), calls.iter().collect::<HashSet<_>>().len()),
        (10, 10)
    );
    assert!(pages >= 2, "{pages}");
    let (recs, pages) = walk(&s, &c.key, "/v1.0/recordings", BUDGET).await;
    assert_eq!(
        (recs.len(), recs.iter().collect::<HashSet<_>>().len()),
        (4, 4)
    );
    assert!(pages >= 2, "{pages}");
    let (deliveries, pages) = walk(&s, &c.key, "/v1.0/webhook_deliveries", BUDGET).await;
    let unique = deliveries.iter().collect::<HashSet<_>>().len();
    assert!(deliveries.len() > 10 && unique == deliveries.len() && pages > 5);

    // The XML participants: oldest first, continued by <nextPageToken>.
    let (parts, pages) = xml_parts(&s, &c, &cid).await;
    let expected: Vec<String> = (0..10).map(|n| format!("call-{n}")).collect();
    assert_eq!(parts, expected);
    assert!(pages >= 2, "{pages}");
    let url = s.url(&format!(
        "/v1/account/{}/conf/{cid}/part?pageToken=nope",
        c.id
    ));
    let res = s.client.get(url).bearer_auth(&c.key).send().await.unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("<code>000001</code>"));
}

/// Starts the real `confab serve` (its own process, so its memory can be measured alone).
fn spawn(db: &str) -> Process {
    process::spawn(
        db,
        &["--admin-token", ADMIN_TOKEN, "--rate-limit", "0"],
        "warn,confab::cli=info",
    )
}

/// A `Vm*` figure of /proc/<pid>/status, in MiB.
fn vm_mib(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: f64 = status
        .lines()
        .find_map(|l| {
            l.strip_prefix(field)?
                .trim_start_matches(':')
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .unwrap();
    kb / 1024.0
}

fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// 20 clients read the largest page of max-size conferences over and over; the server's peak
/// resident memory must stay under 150 MB. `CONFAB_MEMTEST_CONFERENCES`, `_CLIENTS` and
/// `_ROUNDS` scale it up for a manual measurement.
#[tokio::test]
async fn concurrent_reads_of_the_largest_pages_keep_memory_bounded() {
    let conferences = knob("CONFAB_MEMTEST_CONFERENCES", 8);
    let clients = knob("CONFAB_MEMTEST_CLIENTS", 20);
    let rounds = knob("CONFAB_MEMTEST_ROUNDS", 5);
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(dir.path()).await;
    let p = spawn(&db.arg());
    let pid = p.child.id();
    let client = reqwest::Client::new();
    let key = p.create_customer(&client).await;
    let body = big_conference(0).to_string();
    for _ in 0..conferences {
        let res = client
            .post(format!("{}/v1.0/conferences", p.base))
            .bearer_auth(&key)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    let before = vm_mib(pid, "VmHWM");
    let started = std::time::Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (client, url, key) = (
            reqwest::Client::new(),
            format!("{}/v1.0/conferences?page_size=100", p.base),
            key.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut bytes = 0;
            for _ in 0..rounds {
                let res = client.get(&url).bearer_auth(&key).send().await;
                let res = res.map_err(|e| e.to_string())?;
                let status = res.status();
                let body = res.bytes().await.map_err(|e| e.to_string())?;
                if status != 200 {
                    return Err(format!("status {status}"));
                }
                bytes += body.len();
            }
            Ok(bytes)
        }));
    }
    let mut total = 0;
    let mut failures = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok(n) => total += n,
            Err(e) => failures.push(e),
        }
    }
    let peak = vm_mib(pid, "VmHWM");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = vm_mib(pid, "VmRSS");
    eprintln!(
        "memory: {conferences} conferences, {clients} clients x {rounds} rounds, \
         {:.0} MB read in {:.1} s; peak RSS {before:.0} MiB before the reads, {peak:.0} MiB \
         during, {after:.0} MiB held after",
        total as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    assert!(failures.is_empty(), "{failures:?}");
    assert!(
        peak * 1.048_576 <= 150.0,
        "peak RSS {peak:.0} MiB is over 150 MB"
    );
}
