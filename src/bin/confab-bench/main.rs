//! confab-bench: starts confab (the release binary beside this one) on a temporary database, or
//! targets a running one, drives platform events and reads through it, measures the machine's
//! ceilings, and checks that the final state is exactly what the acknowledged events imply.

mod busy;

use base64::Engine as _;
use clap::Parser;
use hmac::Mac;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Ends the run with a message when its environment fails (a server that will not start, a
/// port that cannot be bound): a benchmark cannot continue, but it should say why, not panic.
trait OrDie<T> {
    fn or_die(self, what: &str) -> T;
}

impl<T, E: std::fmt::Display> OrDie<T> for Result<T, E> {
    fn or_die(self, what: &str) -> T {
        match self {
            Ok(v) => v,
            Err(e) => {
                eprintln!("confab-bench: {what}: {e}");
                std::process::exit(2)
            }
        }
    }
}

impl<T> OrDie<T> for Option<T> {
    fn or_die(self, what: &str) -> T {
        match self {
            Some(v) => v,
            None => {
                eprintln!("confab-bench: {what}: missing");
                std::process::exit(2)
            }
        }
    }
}

const SECRET: &str = "whsec_YmVuY2htYXJrLXBsYXRmb3JtLXNlY3JldC0wMTIzNDU2Nzg5";
const ADMIN: &str = "bench-admin-token";

#[derive(Parser, Clone)]
#[command(about = "Benchmark confab: events/s, reads/s, latency, memory, start-up")]
struct Args {
    /// Conferences to create (each with the seed's pre/post actions).
    #[arg(long, default_value_t = 200)]
    conferences: usize,
    /// Calls per conference, each driven through joining, joined and left.
    #[arg(long, default_value_t = 50)]
    calls: usize,
    /// Concurrent connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// GET /v1.0/conferences/{id} reads mixed in per call.
    #[arg(long, default_value_t = 1)]
    reads_per_call: usize,
    /// Seconds of the read-only phase.
    #[arg(long, default_value_t = 5)]
    read_seconds: u64,
    /// Target a running confab instead of starting one (needs its admin token and platform
    /// secret to be this tool's: --admin-token bench-admin-token, the SECRET constant).
    #[arg(long)]
    target: Option<String>,
    /// Skip the ceilings (raw SQLite writes, a trivial actix endpoint).
    #[arg(long)]
    no_ceilings: bool,
    /// Also measure memory with this many conferences stored and a tenth as many calls joined.
    #[arg(long, default_value_t = 0)]
    memory_conferences: usize,
    /// Also measure start-up with this many conferences (each with a timeout deadline) stored.
    #[arg(long, default_value_t = 0)]
    startup_conferences: usize,
    /// Instead of the benchmark, run the crash test: drive events while killing the server
    /// with SIGKILL this many times, then check nothing answered was lost.
    #[arg(long, default_value_t = 0)]
    crash_kills: usize,
    /// Instead of the benchmark, run the busy-conference scenario for this many seconds: every
    /// connection cycles calls through one conference while a local receiver takes its
    /// notifications.
    #[arg(long, default_value_t = 0)]
    busy_seconds: u64,
}

struct Server {
    child: Option<Child>,
    base: String,
    _dir: Option<TempDir>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn confab_binary() -> PathBuf {
    let me = std::env::current_exe().unwrap_or_default();
    me.with_file_name(format!("confab{}", std::env::consts::EXE_SUFFIX))
}

/// Starts confab on `db` and waits until it answers `/healthz`; returns it and the time taken.
fn start_confab(db: &Path) -> (Child, String, Duration) {
    start_confab_with(db, &[])
}

fn start_confab_with(db: &Path, extra: &[String]) -> (Child, String, Duration) {
    let started = Instant::now();
    let mut child = Command::new(confab_binary())
        .args(["serve", "--bind", "127.0.0.1:0", "--db"])
        .arg(db)
        .args(extra)
        .args([
            "--flows-dir",
            "/nonexistent",
            "--admin-token",
            ADMIN,
            "--rate-limit",
            "0",
            "--platform-secret",
            SECRET,
        ])
        .env("RUST_LOG", "warn,confab::cli=info")
        .stderr(Stdio::piped())
        .spawn()
        .or_die(&format!(
            "cannot start {} (build it with cargo build --release)",
            confab_binary().display()
        ));
    let stderr = child.stderr.take().or_die("piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if let Some(rest) = line.split("addr=").nth(1) {
                let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_string());
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(600))
        .or_die("confab reports its address");
    let base = format!("http://{addr}");
    while !healthy(&addr) {
        std::thread::sleep(Duration::from_millis(5));
    }
    (child, base, started.elapsed())
}

/// A plain HTTP/1.1 GET of /healthz, so the start-up measurement needs no async runtime.
fn healthy(addr: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return false;
    };
    if s.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.1 200")
}

/// A directory removed when dropped (the bench does not depend on test-only crates).
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let p =
            std::env::temp_dir().join(format!("confab-bench-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&p).or_die("temp dir");
        TempDir(p)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn peak_rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

fn current_rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

/// CPU seconds (user + system) a process has used, from /proc.
fn cpu_seconds(pid: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let Some(rest) = stat.rsplit(')').next() else {
        return 0.0;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

fn sign(id: &str, body: &[u8]) -> (String, String) {
    let key = base64::engine::general_purpose::STANDARD
        .decode(SECRET.trim_start_matches("whsec_"))
        .unwrap_or_default();
    let ts = chrono::Utc::now().timestamp().to_string();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).or_die("any key length");
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(body);
    (
        ts,
        format!(
            "v1,{}",
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
        ),
    )
}

/// A platform event ready to send: id, body, signature timestamp and signature.
struct SignedEvent {
    id: String,
    body: Vec<u8>,
    ts: String,
    sig: String,
}

fn signed_event(id: &str, kind: &str, data: Value) -> SignedEvent {
    let body = json!({"id": id, "type": kind, "data": data})
        .to_string()
        .into_bytes();
    let (ts, sig) = sign(id, &body);
    SignedEvent {
        id: id.to_string(),
        body,
        ts,
        sig,
    }
}

async fn post_event(
    client: &reqwest::Client,
    base: &str,
    id: &str,
    kind: &str,
    data: Value,
) -> Result<u16, String> {
    send_event(client, base, signed_event(id, kind, data)).await
}

async fn send_event(client: &reqwest::Client, base: &str, e: SignedEvent) -> Result<u16, String> {
    let res = client
        .post(format!("{base}/v1.0/platform/events"))
        .header("webhook-id", e.id)
        .header("webhook-timestamp", e.ts)
        .header("webhook-signature", e.sig)
        .header("content-type", "application/json")
        .body(e.body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let st = res.status().as_u16();
    res.bytes().await.map_err(|e| e.to_string())?;
    Ok(st)
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx] as f64 / 1000.0
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .tcp_nodelay(true)
        .build()
        .or_die("client")
}

fn seed_body(i: usize) -> Value {
    json!({
        "name": format!("bench {i}"),
        "pre_actions": [{"type": "talk", "option": {"text": "Hello. Welcome to the test conference.", "gender": "female", "language": "en-US"}}],
        "post_actions": [{"type": "talk", "option": {"text": "The conference has closed. Thank you. Good bye.", "gender": "female", "language": "en-US"}}]
    })
}

async fn create_customer(base: &str) -> String {
    let v: Value = reqwest::Client::new()
        .post(format!("{base}/v1.0/customers"))
        .bearer_auth(ADMIN)
        .json(&json!({"name": "bench"}))
        .send()
        .await
        .or_die("admin route")
        .json()
        .await
        .or_die("json");
    v["api_key"].as_str().or_die("api_key").to_string()
}

async fn create_conferences(base: &str, key: &str, n: usize, connections: usize) -> Vec<String> {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..connections.min(n.max(1)) {
        let (base, key, next) = (base.to_string(), key.to_string(), next.clone());
        tasks.push(tokio::spawn(async move {
            let c = client();
            let mut ids = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= n {
                    break;
                }
                let v: Value = c
                    .post(format!("{base}/v1.0/conferences"))
                    .bearer_auth(&key)
                    .json(&seed_body(i))
                    .send()
                    .await
                    .or_die("create")
                    .json()
                    .await
                    .or_die("json");
                ids.push(v["id"].as_str().or_die("id").to_string());
            }
            ids
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap_or_default());
    }
    all
}

struct LoadResult {
    events: usize,
    reads: usize,
    elapsed: Duration,
    event_latency: Vec<u32>,
    read_latency: Vec<u32>,
    failures: usize,
}

/// Each connection takes conferences in turn and drives their calls through join, joined, left,
/// with reads mixed in.
async fn drive(
    base: &str,
    key: &str,
    confs: &[String],
    calls: usize,
    connections: usize,
    reads_per_call: usize,
    run: &str,
) -> LoadResult {
    // Bodies are built and signed before the clock starts, so the generator spends its share
    // of the machine sending rather than hashing.
    let work: Vec<(String, std::sync::Mutex<Vec<SignedEvent>>)> = confs
        .iter()
        .flat_map(|c| (0..calls).map(move |j| (c.clone(), j)))
        .map(|(conf, j)| {
            let call = format!("{run}-{conf}-{j}");
            let events = ["call_left", "call_joined", "call_joining"]
                .iter()
                .map(|kind| {
                    signed_event(
                        &format!("{call}-{kind}"),
                        kind,
                        json!({"call_id": call, "conference_id": conf}),
                    )
                })
                .collect();
            (conf, std::sync::Mutex::new(events))
        })
        .collect();
    let work = Arc::new(work);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (base, key, work, next) = (
            base.to_string(),
            key.to_string(),
            work.clone(),
            next.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let c = client();
            let (mut ev, mut rd, mut fails) = (Vec::new(), Vec::new(), 0usize);
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some((conf, events)) = work.get(i) else {
                    break;
                };
                let mut events = match events.lock() {
                    Ok(mut e) => std::mem::take(&mut *e),
                    Err(_) => Vec::new(),
                };
                while let Some(event) = events.pop() {
                    let t = Instant::now();
                    let st = send_event(&c, &base, event).await;
                    ev.push(t.elapsed().as_micros() as u32);
                    if st != Ok(200) {
                        fails += 1;
                    }
                }
                for _ in 0..reads_per_call {
                    let t = Instant::now();
                    match c
                        .get(format!("{base}/v1.0/conferences/{conf}"))
                        .bearer_auth(&key)
                        .send()
                        .await
                    {
                        Ok(r) if r.status().is_success() => {
                            let _ = r.bytes().await;
                        }
                        _ => fails += 1,
                    }
                    rd.push(t.elapsed().as_micros() as u32);
                }
            }
            (ev, rd, fails)
        }));
    }
    let (mut event_latency, mut read_latency, mut failures) = (Vec::new(), Vec::new(), 0);
    for t in tasks {
        if let Ok((e, r, f)) = t.await {
            event_latency.extend(e);
            read_latency.extend(r);
            failures += f;
        }
    }
    let elapsed = started.elapsed();
    event_latency.sort_unstable();
    read_latency.sort_unstable();
    LoadResult {
        events: event_latency.len(),
        reads: read_latency.len(),
        elapsed,
        event_latency,
        read_latency,
        failures,
    }
}

/// Reads only, for `seconds`.
async fn read_phase(
    base: &str,
    key: &str,
    confs: &[String],
    connections: usize,
    seconds: u64,
) -> (usize, Duration, Vec<u32>) {
    let confs = Arc::new(confs.to_vec());
    let until = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..connections {
        let (base, key, confs) = (base.to_string(), key.to_string(), confs.clone());
        tasks.push(tokio::spawn(async move {
            let c = client();
            let mut lat = Vec::new();
            let mut i = w;
            while Instant::now() < until {
                let conf = &confs[i % confs.len()];
                i += connections;
                let t = Instant::now();
                if let Ok(r) = c
                    .get(format!("{base}/v1.0/conferences/{conf}"))
                    .bearer_auth(&key)
                    .send()
                    .await
                {
                    let _ = r.bytes().await;
                }
                lat.push(t.elapsed().as_micros() as u32);
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap_or_default());
    }
    all.sort_unstable();
    (all.len(), started.elapsed(), all)
}

/// Checks that every conference's state is what the acknowledged events imply: no call joined,
/// exactly `calls` conferencecalls per conference from this run, all `leaved`.
async fn verify(
    base: &str,
    key: &str,
    confs: &[String],
    calls: usize,
    run: &str,
) -> Result<usize, String> {
    let c = client();
    let mut checked = 0;
    for conf in confs {
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
fn sqlite_ceiling(events: usize, batch: usize) -> f64 {
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
async fn actix_ceiling(connections: usize, seconds: u64) -> f64 {
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
fn seed_database(path: &Path, conferences: usize) {
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

fn report(name: &str, value: f64, unit: &str) {
    println!("{name:<44} {value:>12.1} {unit}");
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    if args.crash_kills > 0 {
        let ok = crash_test(&args).await;
        std::process::exit(if ok { 0 } else { 1 });
    }
    if args.busy_seconds > 0 {
        busy::run(args.connections, args.busy_seconds).await;
        return;
    }
    println!(
        "confab-bench: {} conferences x {} calls, {} connections, {} read(s) per call",
        args.conferences, args.calls, args.connections, args.reads_per_call
    );
    println!(
        "machine: {} cores, {}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        std::env::consts::ARCH
    );

    let server = match &args.target {
        Some(t) => Server {
            child: None,
            base: t.trim_end_matches('/').to_string(),
            _dir: None,
        },
        None => {
            let dir = TempDir::new();
            let db = dir.path().join("bench.db");
            let (child, base, took) = start_confab(&db);
            report(
                "start-up, empty database",
                took.as_secs_f64() * 1000.0,
                "ms",
            );
            Server {
                child: Some(child),
                base,
                _dir: Some(dir),
            }
        }
    };
    let base = server.base.clone();
    let key = create_customer(&base).await;
    let t = Instant::now();
    let confs = create_conferences(&base, &key, args.conferences, args.connections).await;
    report(
        "conferences created per second",
        confs.len() as f64 / t.elapsed().as_secs_f64(),
        "/s",
    );

    let run = format!("r{}", chrono::Utc::now().timestamp_millis());
    let server_pid = server.child.as_ref().map(|c| c.id().to_string());
    let (gen_before, srv_before) = (
        cpu_seconds("self"),
        server_pid.as_deref().map(cpu_seconds).unwrap_or(0.0),
    );
    let load = drive(
        &base,
        &key,
        &confs,
        args.calls,
        args.connections,
        args.reads_per_call,
        &run,
    )
    .await;
    let events_per_s = load.events as f64 / load.elapsed.as_secs_f64();
    println!(
        "\n-- mixed load: {} events + {} reads in {:.2} s, {} failures",
        load.events,
        load.reads,
        load.elapsed.as_secs_f64(),
        load.failures
    );
    report("platform events per second", events_per_s, "/s");
    report(
        "conference reads per second (mixed)",
        load.reads as f64 / load.elapsed.as_secs_f64(),
        "/s",
    );
    report(
        "event latency p50",
        percentile(&load.event_latency, 0.50),
        "ms",
    );
    report(
        "event latency p99",
        percentile(&load.event_latency, 0.99),
        "ms",
    );
    report(
        "event latency p99.9",
        percentile(&load.event_latency, 0.999),
        "ms",
    );
    report(
        "read latency p50 (mixed)",
        percentile(&load.read_latency, 0.50),
        "ms",
    );
    report(
        "read latency p99 (mixed)",
        percentile(&load.read_latency, 0.99),
        "ms",
    );
    let wall = load.elapsed.as_secs_f64();
    let gen_cpu = cpu_seconds("self") - gen_before;
    report("load generator CPU (cores busy)", gen_cpu / wall, "cores");
    if let Some(pid) = server_pid.as_deref() {
        let srv_cpu = cpu_seconds(pid) - srv_before;
        report("server CPU (cores busy)", srv_cpu / wall, "cores");
        report(
            "events per server CPU-second",
            load.events as f64 / srv_cpu.max(0.001),
            "/s",
        );
    }

    let (reads, took, lat) =
        read_phase(&base, &key, &confs, args.connections, args.read_seconds).await;
    let reads_per_s = reads as f64 / took.as_secs_f64();
    println!("\n-- reads only for {} s", args.read_seconds);
    report("conference reads per second", reads_per_s, "/s");
    report("read latency p50", percentile(&lat, 0.50), "ms");
    report("read latency p99", percentile(&lat, 0.99), "ms");

    println!("\n-- final state");
    match verify(&base, &key, &confs, args.calls, &run).await {
        Ok(n) => println!("ok: {} conferences, {n} conferencecalls, every one leaved exactly once, no call left joined", confs.len()),
        Err(e) => {
            println!("STATE MISMATCH: {e}");
            std::process::exit(1);
        }
    }
    if let Some(pid) = server.child.as_ref().map(Child::id) {
        report("server peak RSS", peak_rss_mb(pid).unwrap_or(0.0), "MB");
    }

    if !args.no_ceilings {
        println!("\n-- ceilings of this machine");
        let sqlite = tokio::task::spawn_blocking(|| sqlite_ceiling(50_000, 64))
            .await
            .unwrap_or(0.0);
        report(
            "raw SQLite event writes per second (batch 64)",
            sqlite,
            "/s",
        );
        let actix = actix_ceiling(args.connections, 5).await;
        report("trivial actix-web JSON endpoint per second", actix, "/s");
        report(
            "confab events as % of SQLite ceiling",
            100.0 * events_per_s / sqlite,
            "%",
        );
        report(
            "confab events as % of actix ceiling",
            100.0 * events_per_s / actix,
            "%",
        );
        report(
            "confab reads as % of actix ceiling",
            100.0 * reads_per_s / actix,
            "%",
        );
    }

    if args.memory_conferences > 0 {
        if let (Some(pid), false) = (server.child.as_ref().map(Child::id), args.target.is_some()) {
            println!(
                "\n-- memory with {} conferences and {} calls joined",
                args.memory_conferences,
                args.memory_conferences / 10
            );
            let more =
                create_conferences(&base, &key, args.memory_conferences, args.connections).await;
            let joined_calls = args.memory_conferences / 10;
            let c = client();
            for (i, conf) in more.iter().take(joined_calls).enumerate() {
                let call = format!("mem-{i}");
                let _ = post_event(
                    &c,
                    &base,
                    &format!("{call}-j"),
                    "call_joining",
                    json!({"call_id": call, "conference_id": conf}),
                )
                .await;
                let _ = post_event(
                    &c,
                    &base,
                    &format!("{call}-d"),
                    "call_joined",
                    json!({"call_id": call, "conference_id": conf}),
                )
                .await;
            }
            report("server RSS now", current_rss_mb(pid).unwrap_or(0.0), "MB");
            report("server peak RSS", peak_rss_mb(pid).unwrap_or(0.0), "MB");
        }
    }
    drop(server);

    if args.startup_conferences > 0 {
        println!(
            "\n-- start-up with {} conferences and their deadlines stored",
            args.startup_conferences
        );
        let dir = TempDir::new();
        let db = dir.path().join("startup.db");
        let t = Instant::now();
        seed_database(&db, args.startup_conferences);
        println!("(seeded in {:.1} s)", t.elapsed().as_secs_f64());
        let (mut child, _, took) = start_confab(&db);
        report(
            "start-up until /healthz answers",
            took.as_secs_f64() * 1000.0,
            "ms",
        );
        report(
            "server RSS after start-up",
            current_rss_mb(child.id()).unwrap_or(0.0),
            "MB",
        );
        let _ = child.kill();
        let _ = child.wait();
    }
    let _ = args.target;
}

// ---- the crash test ------------------------------------------------------------------------

/// Every event the crash test's drivers got an answer to: (call, event type, status).
type Acks = Arc<std::sync::Mutex<Vec<(String, &'static str, u16)>>>;

/// Messages the receiver got: (path, webhook-id).
type Received = Arc<std::sync::Mutex<Vec<(String, String)>>>;

/// A local HTTP server playing the platform (`/commands`) and the customer's webhook receiver.
async fn start_receiver() -> (String, Received, actix_web::dev::ServerHandle) {
    let received: Received = Arc::default();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").or_die("bind");
    let addr = listener.local_addr().or_die("addr");
    let r = received.clone();
    let server = actix_web::HttpServer::new(move || {
        let r = r.clone();
        actix_web::App::new().default_service(actix_web::web::to(
            move |req: actix_web::HttpRequest| {
                let r = r.clone();
                async move {
                    let id = req
                        .headers()
                        .get("webhook-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string();
                    if let Ok(mut v) = r.lock() {
                        v.push((req.path().to_string(), id));
                    }
                    actix_web::HttpResponse::Ok().finish()
                }
            },
        ))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .or_die("listen")
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    (format!("http://{addr}"), received, handle)
}

/// Sends one event until some server answers it (a platform retries what was not
/// acknowledged); returns the status it got.
async fn deliver_event(
    client: &reqwest::Client,
    base: &std::sync::RwLock<String>,
    id: &str,
    kind: &str,
    data: &Value,
) -> u16 {
    loop {
        let current = base.read().map(|b| b.clone()).unwrap_or_default();
        match post_event(client, &current, id, kind, data.clone()).await {
            Ok(st) => return st,
            Err(_) => tokio::time::sleep(Duration::from_millis(30)).await,
        }
    }
}

async fn crash_test(args: &Args) -> bool {
    let dir = TempDir::new();
    let db = dir.path().join("crash.db");
    let (receiver, received, receiver_handle) = start_receiver().await;
    let extra: Vec<String> = [
        "--platform-url",
        &receiver,
        "--webhook-allow-private",
        "--kick-grace",
        "1",
        "--command-retry-schedule",
        "0,1",
        "--webhook-retry-schedule",
        "0,1,1,1,1,1,1,1,1,1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let (child, base, _) = start_confab_with(&db, &extra);
    let mut child = Some(child);
    let base = Arc::new(std::sync::RwLock::new(base));
    let http = reqwest::Client::new();
    let current = base.read().map(|b| b.clone()).unwrap_or_default();
    let customer: Value = http
        .post(format!("{current}/v1.0/customers"))
        .bearer_auth(ADMIN)
        .json(&json!({"name": "crash", "webhook_uri": format!("{receiver}/hooks")}))
        .send()
        .await
        .or_die("admin")
        .json()
        .await
        .or_die("json");
    let key = customer["api_key"].as_str().unwrap_or_default().to_string();
    // A third of the conferences time out after 2 s, while events still arrive for them.
    let mut confs = Vec::new();
    for i in 0..args.conferences {
        let mut body = seed_body(i);
        if i % 3 == 0 {
            body["timeout"] = json!(2);
        }
        let v: Value = http
            .post(format!("{current}/v1.0/conferences"))
            .bearer_auth(&key)
            .json(&body)
            .send()
            .await
            .or_die("create")
            .json()
            .await
            .or_die("json");
        confs.push((v["id"].as_str().unwrap_or_default().to_string(), i % 3 == 0));
    }
    println!(
        "crash test: {} conferences x {} calls, {} kills",
        confs.len(),
        args.calls,
        args.crash_kills
    );

    // Drivers: every call's three events, each retried until acknowledged.
    let work: Arc<Vec<(String, usize)>> = Arc::new(
        confs
            .iter()
            .flat_map(|(c, _)| (0..args.calls).map(move |j| (c.clone(), j)))
            .collect(),
    );
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let acked: Acks = Arc::default();
    let mut drivers = Vec::new();
    for _ in 0..args.connections.min(32) {
        let (work, next, acked, base) = (work.clone(), next.clone(), acked.clone(), base.clone());
        drivers.push(tokio::spawn(async move {
            let c = client();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some((conf, j)) = work.get(i) else { break };
                let call = format!("crash-{conf}-{j}");
                let data = json!({"call_id": call, "conference_id": conf});
                for kind in ["call_joining", "call_joined", "call_left"] {
                    let st = deliver_event(&c, &base, &format!("{call}-{kind}"), kind, &data).await;
                    if let Ok(mut a) = acked.lock() {
                        a.push((call.clone(), kind, st));
                    }
                    if kind == "call_joining" && st != 200 {
                        break;
                    }
                }
            }
        }));
    }
    // The killer.
    let mut kills = 0;
    let mut seed = chrono::Utc::now().timestamp_subsec_nanos() as u64;
    while kills < args.crash_kills && next.load(std::sync::atomic::Ordering::Relaxed) < work.len() {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        tokio::time::sleep(Duration::from_millis(200 + (seed >> 33) % 800)).await;
        if let Some(mut c) = child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        kills += 1;
        let (c, b, took) = start_confab_with(&db, &extra);
        println!(
            "kill {kills}: restarted in {:.0} ms",
            took.as_secs_f64() * 1000.0
        );
        if let Ok(mut w) = base.write() {
            *w = b;
        }
        child = Some(c);
    }
    for d in drivers {
        let _ = d.await;
    }
    let acked = acked.lock().map(|a| a.clone()).unwrap_or_default();
    let current = base.read().map(|b| b.clone()).unwrap_or_default();
    println!("{} events answered, {} kills survived", acked.len(), kills);

    // Let deadlines fire and the outbox drain.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut settled = false;
    while Instant::now() < deadline {
        let text = http.get(format!("{current}/metrics")).send().await.ok();
        let text = match text {
            Some(r) => r.text().await.unwrap_or_default(),
            None => String::new(),
        };
        let zero = |name: &str| text.lines().any(|l| l == format!("{name} 0"));
        if zero("confab_deadlines_pending")
            && zero("confab_outbox_depth{kind=\"command\"}")
            && zero("confab_outbox_depth{kind=\"webhook\"}")
            && zero("confab_active_calls")
        {
            settled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut ok = true;
    let mut fail = |msg: String| {
        println!("FAIL: {msg}");
        ok = false;
    };
    if !settled {
        fail("deadlines, outbox or calls did not settle within 60 s".into());
    }
    // Every acknowledged call_left is reflected; no call is left between states.
    let c = client();
    let mut checked = 0;
    for (conf, timed) in &confs {
        let v: Value = match c
            .get(format!("{current}/v1.0/conferences/{conf}"))
            .bearer_auth(&key)
            .send()
            .await
        {
            Ok(r) => r.json().await.unwrap_or(Value::Null),
            Err(e) => {
                fail(format!("conference {conf}: {e}"));
                continue;
            }
        };
        if *timed && v["status"] != "terminated" {
            fail(format!(
                "conference {conf} had a 2 s timeout but is {}",
                v["status"]
            ));
        }
        if v["conferencecall_ids"] != json!([]) {
            fail(format!(
                "conference {conf} still lists joined calls: {}",
                v["conferencecall_ids"]
            ));
        }
        let mut token = String::new();
        loop {
            let page: Value = match c
                .get(format!(
                    "{current}/v1.0/conferencecalls?conference_id={conf}&page_token={token}"
                ))
                .bearer_auth(&key)
                .send()
                .await
            {
                Ok(r) => r.json().await.unwrap_or(Value::Null),
                Err(_) => Value::Null,
            };
            for call in page["result"].as_array().into_iter().flatten() {
                checked += 1;
                if call["status"] != "leaved" {
                    fail(format!(
                        "call {} is stuck in {}",
                        call["reference_id"], call["status"]
                    ));
                }
            }
            token = page["next_page_token"].as_str().unwrap_or("").to_string();
            if token.is_empty() {
                break;
            }
        }
    }
    let joined_acked = acked
        .iter()
        .filter(|(_, k, st)| *k == "call_joining" && *st == 200)
        .count();
    if checked != joined_acked {
        fail(format!(
            "{joined_acked} joins were acknowledged but {checked} conferencecalls exist"
        ));
    }
    // Every outbox message was delivered: compare the store with what the receiver got.
    if let Some(mut c) = child.take() {
        let _ = c.kill();
        let _ = c.wait();
    }
    let got = received.lock().map(|r| r.clone()).unwrap_or_default();
    let got_ids: std::collections::HashSet<&str> = got.iter().map(|(_, id)| id.as_str()).collect();
    let conn = rusqlite::Connection::open(&db).or_die("open");
    let mut stmt = conn
        .prepare("SELECT id, status FROM outbox")
        .or_die("prepare");
    let rows: Vec<(String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .or_die("query")
        .filter_map(Result::ok)
        .collect();
    let mut missing = 0;
    for (id, status) in &rows {
        if status != "delivered" || !got_ids.contains(id.as_str()) {
            missing += 1;
        }
    }
    if missing > 0 {
        fail(format!(
            "{missing} of {} outbox messages were not delivered",
            rows.len()
        ));
    }
    let duplicates = got.len() - got_ids.len();
    println!(
        "checked {} conferences, {checked} conferencecalls (all leaved), {} outbox messages delivered ({} duplicate deliveries, each with its message's webhook-id)",
        confs.len(),
        rows.len(),
        duplicates
    );
    receiver_handle.stop(false).await;
    println!(
        "{}",
        if ok {
            "crash test: ok"
        } else {
            "crash test: FAILED"
        }
    );
    ok
}
