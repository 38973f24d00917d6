//! What the benchmark and the crash test share: starting confab, signing platform events,
//! a local receiver, process measurements.

use base64::Engine as _;
use hmac::Mac;
use serde_json::{json, Value};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Ends the run with a message when its environment fails (a server that will not start, a
/// port that cannot be bound): a benchmark cannot continue, but it should say why, not panic.
pub trait OrDie<T> {
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

pub const SECRET: &str = "whsec_YmVuY2htYXJrLXBsYXRmb3JtLXNlY3JldC0wMTIzNDU2Nzg5";
pub const ADMIN: &str = "bench-admin-token";

pub fn confab_binary() -> PathBuf {
    let me = std::env::current_exe().unwrap_or_default();
    me.with_file_name(format!("confab{}", std::env::consts::EXE_SUFFIX))
}

/// Starts confab on `db` (a SQLite file or a `postgres://` URL) and waits until it answers
/// `/healthz`; returns it and the time taken.
pub fn start_confab(db: impl AsRef<OsStr>) -> (Child, String, Duration) {
    start_confab_with(db, &[])
}

pub fn start_confab_with(db: impl AsRef<OsStr>, extra: &[String]) -> (Child, String, Duration) {
    try_start_confab(db.as_ref(), extra).or_die("cannot start confab")
}

/// Starts confab like `start_confab_with`, but says why it failed instead of ending the run,
/// so a caller that already started other nodes or created a database can clean them up.
pub fn try_start_confab(db: &OsStr, extra: &[String]) -> Result<(Child, String, Duration), String> {
    let started = Instant::now();
    let mut child = Command::new(confab_binary())
        .args(["serve", "--bind", "127.0.0.1:0", "--db"])
        .arg(db)
        .args(extra)
        // No rate limits unless the caller sets one: the load measures confab, not the limiter.
        .args(if extra.iter().any(|a| a == "--rate-limit") {
            &[][..]
        } else {
            &["--rate-limit", "0", "--body-rate-limit-mb", "0"][..]
        })
        // No flows unless the caller names a directory: a flow file in the working directory
        // must not change what the load measures.
        .args(if extra.iter().any(|a| a == "--flows-dir") {
            &[][..]
        } else {
            &["--flows-dir", "/nonexistent"][..]
        })
        .args(["--admin-token", ADMIN, "--platform-secret", SECRET])
        .env("RUST_LOG", "warn,confab::cli=info")
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            format!(
                "{} (build it with cargo build --release): {e}",
                confab_binary().display()
            )
        })?;
    let Some(stderr) = child.stderr.take() else {
        let _ = child.kill();
        return Err("its stderr was not piped".into());
    };
    // A confab that exits (a database it cannot open) closes stderr, which ends the wait at
    // once; 600 s only bounds a start-up that hangs.
    let addr = match reported_address(stderr, Duration::from_secs(600)) {
        Ok(addr) => addr,
        Err(logged) => {
            let _ = child.kill();
            let status = child.wait().map(|s| s.to_string()).unwrap_or_default();
            return Err(format!(
                "it never reported its address ({status}); it logged:\n{logged}"
            ));
        }
    };
    let base = format!("http://{addr}");
    while !healthy(&addr) {
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok((child, base, started.elapsed()))
}

/// The address confab logs once it listens (`addr=…`), or, if its stderr closes or `limit`
/// passes first, what it logged until then, so a node that fails says why. Lines after the
/// address are read and dropped, so a full pipe never blocks the server.
fn reported_address(stderr: std::process::ChildStderr, limit: Duration) -> Result<String, String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        let mut listening = false;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if let Some(rest) = line.split("addr=").nth(1) {
                listening = true;
                let _ = tx.send(Ok(rest.split_whitespace().next().unwrap_or("").to_string()));
            } else if !listening {
                let _ = tx.send(Err(line));
            }
        }
    });
    let deadline = Instant::now() + limit;
    let mut logged = Vec::new();
    loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(Ok(addr)) => return Ok(addr),
            Ok(Err(line)) => logged.push(line),
            Err(_) => return Err(logged.join("\n")),
        }
    }
}

/// A plain HTTP/1.1 GET of /healthz, so the start-up measurement needs no async runtime.
pub fn healthy(addr: &str) -> bool {
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
pub struct TempDir(PathBuf);

impl Default for TempDir {
    fn default() -> Self {
        TempDir::new()
    }
}

impl TempDir {
    pub fn new() -> TempDir {
        let p =
            std::env::temp_dir().join(format!("confab-bench-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&p).or_die("temp dir");
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn peak_rss_mb(pid: u32) -> Option<f64> {
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

pub fn current_rss_mb(pid: u32) -> Option<f64> {
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
pub fn cpu_seconds(pid: &str) -> f64 {
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

/// CPU seconds the whole machine has been busy (every core: user, nice, system, irq, softirq,
/// steal), from /proc/stat; beside a process's own CPU it shows what the rest used.
pub fn machine_busy_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
        return 0.0;
    };
    let Some(cpu) = stat.lines().find(|l| l.starts_with("cpu ")) else {
        return 0.0;
    };
    let ticks: Vec<f64> = cpu
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().unwrap_or(0.0))
        .collect();
    // user nice system idle iowait irq softirq steal: all but idle and iowait.
    let busy: f64 = [0, 1, 2, 5, 6, 7]
        .iter()
        .filter_map(|&i| ticks.get(i))
        .sum();
    busy / 100.0
}

pub fn sign(id: &str, body: &[u8]) -> (String, String) {
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
pub struct SignedEvent {
    id: String,
    body: Vec<u8>,
    ts: String,
    sig: String,
}

pub fn signed_event(id: &str, kind: &str, data: Value) -> SignedEvent {
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

pub async fn post_event(
    client: &reqwest::Client,
    base: &str,
    id: &str,
    kind: &str,
    data: Value,
) -> Result<u16, String> {
    send_event(client, base, signed_event(id, kind, data)).await
}

pub async fn send_event(
    client: &reqwest::Client,
    base: &str,
    e: SignedEvent,
) -> Result<u16, String> {
    send_event_checked(client, base, e, |_| Ok(()))
        .await
        .map(|(st, _)| st)
}

/// Sends one event and hands its answer's body to `check`; returns the status and what
/// `check` found wrong with the answer, if anything.
pub async fn send_event_checked(
    client: &reqwest::Client,
    base: &str,
    e: SignedEvent,
    check: impl FnOnce(&[u8]) -> Result<(), String>,
) -> Result<(u16, Option<String>), String> {
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
    let body = res.bytes().await.map_err(|e| e.to_string())?;
    Ok((st, check(&body).err()))
}

pub fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx] as f64 / 1000.0
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .tcp_nodelay(true)
        .build()
        .or_die("client")
}

pub fn seed_body(i: usize) -> Value {
    json!({
        "name": format!("bench {i}"),
        "pre_actions": [{"type": "talk", "option": {"text": "Hello. Welcome to the test conference.", "gender": "female", "language": "en-US"}}],
        "post_actions": [{"type": "talk", "option": {"text": "The conference has closed. Thank you. Good bye.", "gender": "female", "language": "en-US"}}]
    })
}

pub async fn create_customer(base: &str) -> String {
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

/// Creates one conference with `body` and returns its id; ends the run if confab refuses.
pub async fn create_conference(c: &reqwest::Client, base: &str, key: &str, body: &Value) -> String {
    let res = c
        .post(format!("{base}/v1.0/conferences"))
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .or_die("create conference");
    let status = res.status();
    let v: Value = res.json().await.or_die("json");
    if !status.is_success() {
        eprintln!("confab-bench: create conference: {status} {v}");
        std::process::exit(1);
    }
    v["id"].as_str().or_die("conference id").to_string()
}

/// Points the customer's notifications at `uri`; ends the run if confab refuses.
pub async fn set_webhook(base: &str, key: &str, uri: &str) {
    let res = client()
        .put(format!("{base}/v1.0/customer"))
        .bearer_auth(key)
        .json(&json!({"webhook_uri": uri}))
        .send()
        .await
        .or_die("set webhook_uri");
    if !res.status().is_success() {
        eprintln!("confab-bench: set webhook_uri: {}", res.status());
        std::process::exit(1);
    }
}

pub async fn create_conferences(
    base: &str,
    key: &str,
    n: usize,
    connections: usize,
) -> Vec<String> {
    create_conferences_with(base, key, n, connections, seed_body).await
}

/// Creates `n` conferences, conference i with `body(i)`, from up to `connections` connections.
pub async fn create_conferences_with<F>(
    base: &str,
    key: &str,
    n: usize,
    connections: usize,
    body: F,
) -> Vec<String>
where
    F: Fn(usize) -> Value + Copy + Send + 'static,
{
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
                ids.push(create_conference(&c, &base, &key, &body(i)).await);
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

pub fn report(name: &str, value: f64, unit: &str) {
    println!("{name:<44} {value:>12.1} {unit}");
}

/// Messages the receiver got: (path, webhook-id).
pub type Received = Arc<std::sync::Mutex<Vec<(String, String)>>>;

/// A local HTTP server playing the platform (`/commands`) and the customer's webhook receiver.
pub async fn start_receiver() -> (String, Received, actix_web::dev::ServerHandle) {
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
pub async fn deliver_event(
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
