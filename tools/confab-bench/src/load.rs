//! The main benchmark's phases: mixed load, reads, the final-state check, the machine's
//! ceilings and a seeded database for the start-up measurement.

use crate::support::*;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct LoadResult {
    pub events: usize,
    pub reads: usize,
    pub elapsed: Duration,
    pub event_latency: Vec<u32>,
    pub read_latency: Vec<u32>,
    pub failures: usize,
    /// Events answered with a 5xx: a server fault, never an expected refusal.
    pub server_errors: usize,
}

/// The events of a call in the order they are sent.
pub const CALL_CYCLE: [&str; 3] = ["call_joining", "call_joined", "call_left"];

/// Where the connections take their next call from: its conference and its events, signed, in
/// sending order; None when the load is over.
pub trait CallSource: Send + Sync {
    fn next_call(&self) -> Option<(String, Vec<SignedEvent>)>;
}

/// Calls signed before the clock starts, so the generator spends its share of the machine
/// sending rather than hashing; taken in order, each once.
pub struct Presigned {
    calls: Vec<(String, std::sync::Mutex<Vec<SignedEvent>>)>,
    next: AtomicUsize,
}

impl Presigned {
    /// `calls` calls per conference, conference after conference, each sending `kinds`. Call
    /// ids depend only on `run`, the conference and the call's number, so a later source with
    /// the same arguments and other kinds (a leave after a join) addresses the same calls.
    pub fn new(confs: &[String], calls: usize, run: &str, kinds: &[&str]) -> Presigned {
        let calls = confs
            .iter()
            .flat_map(|c| (0..calls).map(move |j| (c.clone(), j)))
            .map(|(conf, j)| {
                let events = sign_call(&format!("{run}-{conf}-{j}"), &conf, kinds);
                (conf, std::sync::Mutex::new(events))
            })
            .collect();
        Presigned {
            calls,
            next: AtomicUsize::new(0),
        }
    }
}

impl CallSource for Presigned {
    fn next_call(&self) -> Option<(String, Vec<SignedEvent>)> {
        let (conf, events) = self.calls.get(self.next.fetch_add(1, Ordering::Relaxed))?;
        let events = events
            .lock()
            .map(|mut e| std::mem::take(&mut *e))
            .unwrap_or_default();
        Some((conf.clone(), events))
    }
}

/// Full call cycles spread round-robin over `confs` until `until`, each signed as it is taken:
/// a load bounded by time has no length known in advance, and signing (a few µs per event)
/// is cheap beside sending it. Call i is `{run}-{i}` on conference `i % confs.len()`.
pub struct Cycle {
    confs: Vec<String>,
    run: String,
    until: Instant,
    next: AtomicUsize,
}

impl Cycle {
    pub fn new(confs: &[String], run: &str, until: Instant) -> Cycle {
        Cycle {
            confs: confs.to_vec(),
            run: run.to_string(),
            until,
            next: AtomicUsize::new(0),
        }
    }

    /// Calls taken so far; a connection sends every event of a call it took, so once the load
    /// is over each of them has joined and left.
    pub fn taken(&self) -> usize {
        self.next.load(Ordering::Relaxed)
    }

    /// How many of the calls taken went to conference `k`.
    pub fn taken_by(&self, k: usize) -> usize {
        let (taken, n) = (self.taken(), self.confs.len().max(1));
        taken / n + usize::from(k < taken % n)
    }
}

impl CallSource for Cycle {
    fn next_call(&self) -> Option<(String, Vec<SignedEvent>)> {
        if self.confs.is_empty() || Instant::now() >= self.until {
            return None;
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        let conf = &self.confs[i % self.confs.len()];
        let events = sign_call(&format!("{}-{i}", self.run), conf, &CALL_CYCLE);
        Some((conf.clone(), events))
    }
}

/// One call's events, in the order of `kinds`, each with an id of its own.
fn sign_call(call: &str, conf: &str, kinds: &[&str]) -> Vec<SignedEvent> {
    kinds
        .iter()
        .map(|kind| {
            signed_event(
                &format!("{call}-{kind}"),
                kind,
                json!({"call_id": call, "conference_id": conf}),
            )
        })
        .collect()
}

/// Each connection takes conferences in turn and drives their calls through join, joined, left,
/// with reads mixed in. Connection i talks to node `bases[i % bases.len()]`: consecutive calls
/// of one conference go to different connections, so with several nodes every conference is
/// written by all of them at once (a call's own three events go through one connection).
pub async fn drive(
    bases: &[String],
    key: &str,
    confs: &[String],
    calls: usize,
    connections: usize,
    reads_per_call: usize,
    run: &str,
) -> LoadResult {
    let work = Arc::new(Presigned::new(confs, calls, run, &CALL_CYCLE));
    drive_source(bases, key, work, connections, reads_per_call).await
}

/// `connections` connections taking calls from `source` until it has none left, each sending a
/// call's events and then reading its conference `reads_per_call` times.
pub async fn drive_source(
    bases: &[String],
    key: &str,
    source: Arc<dyn CallSource>,
    connections: usize,
    reads_per_call: usize,
) -> LoadResult {
    let started = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|i| {
            let (base, key) = (node(bases, i).to_string(), key.to_string());
            let source = source.clone();
            tokio::spawn(async move {
                drive_connection(&base, &key, source.as_ref(), reads_per_call).await
            })
        })
        .collect();
    let mut total = ConnectionLoad::default();
    for t in tasks {
        if let Ok(done) = t.await {
            total.events.extend(done.events);
            total.reads.extend(done.reads);
            total.failures += done.failures;
            total.server_errors += done.server_errors;
        }
    }
    let elapsed = started.elapsed();
    total.events.sort_unstable();
    total.reads.sort_unstable();
    LoadResult {
        events: total.events.len(),
        reads: total.reads.len(),
        elapsed,
        event_latency: total.events,
        read_latency: total.reads,
        failures: total.failures,
        server_errors: total.server_errors,
    }
}

/// What one connection measured: latencies in microseconds, and requests that failed.
#[derive(Default)]
struct ConnectionLoad {
    events: Vec<u32>,
    reads: Vec<u32>,
    failures: usize,
    server_errors: usize,
}

/// One connection: takes the next call until none is left, sends its events, then reads the
/// conference `reads_per_call` times.
async fn drive_connection(
    base: &str,
    key: &str,
    source: &dyn CallSource,
    reads_per_call: usize,
) -> ConnectionLoad {
    let c = client();
    let mut load = ConnectionLoad::default();
    while let Some((conf, events)) = source.next_call() {
        for event in events {
            let t = Instant::now();
            let st = send_event(&c, base, event).await;
            load.events.push(t.elapsed().as_micros() as u32);
            match st {
                Ok(200) => {}
                Ok(s) if s >= 500 => {
                    load.failures += 1;
                    load.server_errors += 1;
                }
                _ => load.failures += 1,
            }
        }
        for _ in 0..reads_per_call {
            let t = Instant::now();
            if !read_conference(&c, base, key, &conf).await {
                load.failures += 1;
            }
            load.reads.push(t.elapsed().as_micros() as u32);
        }
    }
    load
}

/// One GET of a conference, body read; false when it failed or was not a success.
async fn read_conference(c: &reqwest::Client, base: &str, key: &str, conf: &str) -> bool {
    match c
        .get(format!("{base}/v1.0/conferences/{conf}"))
        .bearer_auth(key)
        .send()
        .await
    {
        Ok(r) if r.status().is_success() => {
            let _ = r.bytes().await;
            true
        }
        _ => false,
    }
}

/// The node connection `i` talks to: round-robin over the nodes.
fn node(bases: &[String], i: usize) -> &str {
    bases.get(i % bases.len().max(1)).map_or("", String::as_str)
}

/// Reads only, for `seconds`, connection i on node `bases[i % bases.len()]`. Returns the
/// reads, the time they took, their latencies (µs, sorted) and how many failed.
pub async fn read_phase(
    bases: &[String],
    key: &str,
    confs: &[String],
    connections: usize,
    seconds: u64,
) -> (usize, Duration, Vec<u32>, usize) {
    let confs = Arc::new(confs.to_vec());
    let until = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..connections {
        let (base, key, confs) = (node(bases, w).to_string(), key.to_string(), confs.clone());
        tasks.push(tokio::spawn(async move {
            let c = client();
            let (mut lat, mut failed) = (Vec::new(), 0);
            let mut i = w;
            while Instant::now() < until {
                let conf = &confs[i % confs.len()];
                i += connections;
                let t = Instant::now();
                if !read_conference(&c, &base, &key, conf).await {
                    failed += 1;
                }
                lat.push(t.elapsed().as_micros() as u32);
            }
            (lat, failed)
        }));
    }
    let (mut all, mut failed) = (Vec::new(), 0);
    for t in tasks {
        let (lat, f) = t.await.unwrap_or_default();
        all.extend(lat);
        failed += f;
    }
    all.sort_unstable();
    (all.len(), started.elapsed(), all, failed)
}

/// Checks that every conference's state is what the acknowledged events imply: no call joined,
/// exactly `calls` conferencecalls per conference from this run, all `leaved`.
pub async fn verify(
    base: &str,
    key: &str,
    confs: &[String],
    calls: usize,
    run: &str,
) -> Result<usize, String> {
    let expected: Vec<(String, usize)> = confs.iter().map(|c| (c.clone(), calls)).collect();
    verify_each(base, key, &expected, run).await
}

/// [`verify`] with a number of calls of its own per conference.
pub async fn verify_each(
    base: &str,
    key: &str,
    expected: &[(String, usize)],
    run: &str,
) -> Result<usize, String> {
    let c = client();
    let mut checked = 0;
    for (conf, calls) in expected {
        let calls = *calls;
        let v: Value = c
            .get(format!("{base}/v1.0/conferences/{conf}"))
            .bearer_auth(key)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        if v["conferencecall_ids"] != json!([]) || v["status"] != "progressing" {
            return Err(format!("conference {conf}: {v}"));
        }
        let mut token = String::new();
        let mut seen = std::collections::HashSet::new();
        loop {
            let page: Value = c
                .get(format!("{base}/v1.0/conferencecalls?conference_id={conf}&page_size=100&page_token={token}"))
                .bearer_auth(key)
                .send()
                .await
                .map_err(|e| e.to_string())?
                .json()
                .await
                .map_err(|e| e.to_string())?;
            for call in page["result"].as_array().into_iter().flatten() {
                let reference = call["reference_id"].as_str().unwrap_or("");
                if !reference.starts_with(&format!("{run}-")) {
                    continue;
                }
                if call["status"] != "leaved" {
                    return Err(format!("call {reference} is {}", call["status"]));
                }
                if !seen.insert(reference.to_string()) {
                    return Err(format!("call {reference} doubled"));
                }
                checked += 1;
            }
            token = page["next_page_token"].as_str().unwrap_or("").to_string();
            if token.is_empty() {
                break;
            }
        }
        if seen.len() != calls {
            return Err(format!(
                "conference {conf}: {} calls, expected {calls}",
                seen.len()
            ));
        }
    }
    Ok(checked)
}

/// The write one event needs, straight on SQLite with the store's pragmas and batching.
pub fn sqlite_ceiling(events: usize, batch: usize) -> f64 {
    let dir = TempDir::new();
    let path = dir.path().join("ceiling.db");
    drop(confab::store::Store::open(&path, 1).or_die("migrated"));
    let conn = rusqlite::Connection::open(&path).or_die("open");
    conn.pragma_update(None, "journal_mode", "WAL").ok();
    conn.pragma_update(None, "synchronous", "FULL").ok();
    conn.pragma_update(None, "foreign_keys", "ON").ok();
    conn.execute("INSERT INTO customers (id, name, webhook_secret, tm_create, tm_update) VALUES ('c', 'c', 's', 0, 0)", []).ok();
    conn.execute("INSERT INTO conferences (id, customer_id, type, status, name, detail, data, timeout, pre_actions, post_actions, tm_create, tm_update) VALUES ('k', 'c', 'conference', 'progressing', '', '', '{}', 0, '[]', '[]', 0, 0)", []).ok();
    let started = Instant::now();
    let mut done = 0;
    while done < events {
        conn.execute_batch("BEGIN IMMEDIATE").ok();
        for _ in 0..batch.min(events - done) {
            // One event: the idempotency record and one conferencecall row change.
            let id = format!("e{done}");
            conn.prepare_cached("INSERT INTO platform_events (id, type, status, body, tm_create) VALUES (?, 'call_joining', 200, '{\"conferencecall\":{},\"actions\":[]}', 0)")
                .and_then(|mut s| s.execute([&id]))
                .ok();
            conn.prepare_cached("INSERT INTO conferencecalls (id, customer_id, conference_id, reference_id, status, tm_create, tm_update) VALUES (?, 'c', 'k', ?, 'leaved', 0, 0)")
                .and_then(|mut s| s.execute([&id, &id]))
                .ok();
            done += 1;
        }
        conn.execute_batch("COMMIT").ok();
    }
    events as f64 / started.elapsed().as_secs_f64()
}

/// A trivial actix-web JSON endpoint driven by the same load generator.
pub async fn actix_ceiling(connections: usize, seconds: u64) -> f64 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").or_die("bind");
    let addr = listener.local_addr().or_die("addr");
    let server = actix_web::HttpServer::new(|| {
        actix_web::App::new().route(
            "/ok",
            actix_web::web::get()
                .to(|| async { actix_web::HttpResponse::Ok().json(json!({"ok": true})) }),
        )
    })
    .workers(2)
    .disable_signals()
    .listen(listener)
    .or_die("listen")
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    let until = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        tasks.push(tokio::spawn(async move {
            let c = client();
            let mut n = 0usize;
            while Instant::now() < until {
                if let Ok(r) = c.get(format!("http://{addr}/ok")).send().await {
                    let _ = r.bytes().await;
                }
                n += 1;
            }
            n
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap_or(0);
    }
    let rate = total as f64 / started.elapsed().as_secs_f64();
    handle.stop(false).await;
    rate
}

/// Fills a database with conferences (each with a timeout deadline) directly, for start-up.
pub fn seed_database(path: &Path, conferences: usize) {
    drop(confab::store::Store::open(path, 1).or_die("migrated"));
    let conn = rusqlite::Connection::open(path).or_die("open");
    conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;")
        .ok();
    conn.execute("INSERT INTO customers (id, name, webhook_secret, tm_create, tm_update) VALUES ('00000000-0000-4000-8000-000000000001', 'seed', 'whsec_c2VlZA==', 0, 0)", []).ok();
    let now = chrono::Utc::now().timestamp_micros();
    conn.execute_batch("BEGIN").ok();
    {
        let mut conf = conn.prepare("INSERT INTO conferences (id, customer_id, type, status, name, detail, data, timeout, pre_actions, post_actions, tm_create, tm_update) VALUES (?, '00000000-0000-4000-8000-000000000001', 'conference', 'progressing', 'seeded', '', '{}', 604800, '[]', '[]', ?, ?)").or_die("prepare");
        let mut deadline = conn.prepare("INSERT INTO deadlines (kind, subject_id, due_at) VALUES ('conference_timeout', ?, ?)").or_die("prepare");
        for i in 0..conferences {
            let id = uuid::Uuid::new_v4().to_string();
            let t = now - (conferences - i) as i64;
            conf.execute(rusqlite::params![id, t, t]).ok();
            deadline
                .execute(rusqlite::params![id, t + 604_800_000_000])
                .ok();
        }
    }
    conn.execute_batch("COMMIT").ok();
}
