//! The noisy-neighbours scenario (issue 30): customer A uses confab normally — a 10-item list,
//! a conference created and its `conference_created` notification awaited — first alone, then
//! while "B" abuses it within each customer's limits, all at once: 8 clients that ask for B's
//! largest pages and never read them, 30 customers whose webhook endpoints accept and never
//! answer, 8 loops of rare-filter lists over a long history, and two 1 MB XML bodies at a
//! time. Reports A's list latency and notification delay beside the idle baseline.

use crate::support::{
    client, create_conference, create_customer, percentile, report, set_webhook, start_confab_with,
    OrDie, TempDir,
};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpSocket, TcpStream};

/// Sizes of the scenario.
pub struct Options {
    /// Seconds A is measured for, idle and then under the neighbours' load.
    pub seconds: u64,
    /// Conferences in B's history (the rare filters scan it).
    pub history: usize,
    /// Customers whose endpoints never answer.
    pub dead_customers: usize,
    /// Only this kind of abuse (`readers`, `endpoints`, `filters`, `xml`); all when `None`.
    pub only: Option<String>,
    /// Pages per second of each rare-filter loop (0 = as fast as B's rate limit lets it).
    pub filter_rate: u32,
}

/// When each conference's `conference_created` reached A's receiver, by conference id.
type Arrivals = Arc<Mutex<HashMap<String, Instant>>>;

pub async fn run(o: Options) {
    println!(
        "\n-- noisy neighbours: A measured {} s idle, then {} s beside B ({}: 8 stalled readers of 1 MB pages, {} dead endpoints, 8 rare-filter loops of {} pages/s over {} conferences, two 1 MB XML bodies at a time; every customer at --rate-limit 1000)",
        o.seconds, o.seconds, o.only.as_deref().unwrap_or("all at once"), o.dead_customers,
        if o.filter_rate == 0 { "as many".to_string() } else { o.filter_rate.to_string() }, o.history
    );
    let dir = TempDir::new();
    let db = dir.path().join("neighbours.db");
    // Set up without a rate limit (a history of 100,000 conferences takes seconds instead of
    // minutes), then measure on the same database with every customer held to confab's
    // default limit, as in production: B abuses confab within its limits.
    let (mut child, base, _) = start_confab_with(&db, &["--webhook-allow-private".to_string()]);
    let (receiver, arrivals) = start_arrival_receiver().await;
    let a_key = create_customer(&base).await;
    set_webhook(&base, &a_key, &format!("{receiver}/a")).await;
    for i in 0..10 {
        create_conference(&client(), &base, &a_key, &json!({"name": format!("a {i}")})).await;
    }
    let b = Neighbour::set_up(&base, &o).await;
    let _ = child.kill();
    let _ = child.wait();
    let flags = ["--webhook-allow-private", "--rate-limit", "1000"].map(String::from);
    let (mut child, base, _) = start_confab_with(&db, &flags);

    let idle = measure_a(&base, &a_key, &arrivals, o.seconds).await;
    let stop = Arc::new(AtomicBool::new(false));
    let load = b.start(&base, &stop, &o);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let loaded = measure_a(&base, &a_key, &arrivals, o.seconds).await;
    stop.store(true, Ordering::SeqCst);
    for task in load {
        task.abort();
    }
    print_figures(&idle, &loaded);
    let _ = child.kill();
    let _ = child.wait();
}

/// A's figures over one window: list latencies and notification delays, in µs, sorted.
struct Figures {
    lists: Vec<u32>,
    notifications: Vec<u32>,
    missed: usize,
    unanswered: usize,
}

async fn measure_a(base: &str, key: &str, arrivals: &Arrivals, seconds: u64) -> Figures {
    let c = client();
    let mut f = Figures {
        lists: Vec::new(),
        notifications: Vec::new(),
        missed: 0,
        unanswered: 0,
    };
    let until = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < until {
        for _ in 0..10 {
            if Instant::now() >= until {
                break;
            }
            let started = Instant::now();
            // A list not answered within 30 s counts as 30 s, and as unanswered.
            let res = c
                .get(format!("{base}/v1.0/conferences?page_size=10"))
                .bearer_auth(key)
                .timeout(Duration::from_secs(30))
                .send()
                .await;
            let answered = match res {
                Ok(res) => res.status().is_success() && res.bytes().await.is_ok(),
                Err(_) => false,
            };
            if !answered {
                f.unanswered += 1;
            }
            f.lists.push(started.elapsed().as_micros() as u32);
        }
        let made = Instant::now();
        // A create that fails (a 408 from a server whose workers are held) is a missed
        // notification, not the end of the run.
        let Some(id) = try_create(&c, base, key).await else {
            f.missed += 1;
            continue;
        };
        match wait_arrival(arrivals, &id, Duration::from_secs(30)).await {
            Some(at) => f
                .notifications
                .push(at.duration_since(made).as_micros() as u32),
            None => f.missed += 1,
        }
    }
    f.lists.sort_unstable();
    f.notifications.sort_unstable();
    f
}

fn print_figures(idle: &Figures, loaded: &Figures) {
    println!("{:<44} {:>12} {:>12}", "", "idle", "neighbours");
    let row = |name: &str, sorted_idle: &[u32], sorted_loaded: &[u32], p: f64| {
        println!(
            "{name:<44} {:>9.2} ms {:>9.2} ms",
            percentile(sorted_idle, p),
            percentile(sorted_loaded, p)
        );
    };
    row("A's 10-item list p50", &idle.lists, &loaded.lists, 0.50);
    row("A's 10-item list p99", &idle.lists, &loaded.lists, 0.99);
    row(
        "A's notification delay p50",
        &idle.notifications,
        &loaded.notifications,
        0.50,
    );
    row(
        "A's notification delay p99",
        &idle.notifications,
        &loaded.notifications,
        0.99,
    );
    report(
        "A's notifications measured (idle)",
        idle.notifications.len() as f64,
        "",
    );
    report(
        "A's notifications measured (neighbours)",
        loaded.notifications.len() as f64,
        "",
    );
    report(
        "A's lists unanswered within 30 s",
        (idle.unanswered + loaded.unanswered) as f64,
        "",
    );
    report(
        "A's creates failed or notifications missing after 30 s",
        (idle.missed + loaded.missed) as f64,
        "",
    );
}

async fn wait_arrival(arrivals: &Arrivals, id: &str, limit: Duration) -> Option<Instant> {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        if let Some(at) = arrivals.lock().ok().and_then(|m| m.get(id).copied()) {
            return Some(at);
        }
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    None
}

async fn try_create(c: &reqwest::Client, base: &str, key: &str) -> Option<String> {
    let res = c
        .post(format!("{base}/v1.0/conferences"))
        .bearer_auth(key)
        .json(&json!({"name": "a probe"}))
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .ok()?;
    let v: Value = res.json().await.ok()?;
    v["id"].as_str().map(str::to_string)
}

/// Customer B and its helpers' accounts, set up before A is measured.
struct Neighbour {
    key: String,
    id: String,
    dead: Vec<String>,
}

impl Neighbour {
    async fn set_up(base: &str, o: &Options) -> Neighbour {
        let key = create_customer(base).await;
        let me: Value = client()
            .get(format!("{base}/v1.0/customer"))
            .bearer_auth(&key)
            .send()
            .await
            .or_die("customer")
            .json()
            .await
            .or_die("json");
        let id = me["id"].as_str().or_die("customer id").to_string();
        crate::support::create_conferences(base, &key, o.history, 16).await;
        for i in 0..8 {
            create_conference(&client(), base, &key, &big_conference(i)).await;
        }
        let hole = black_hole().await;
        let mut dead = Vec::new();
        for _ in 0..o.dead_customers {
            let k = create_customer(base).await;
            set_webhook(base, &k, &hole).await;
            dead.push(k);
        }
        Neighbour { key, id, dead }
    }

    /// Starts every kind of abuse at once; the tasks run until aborted.
    fn start(
        &self,
        base: &str,
        stop: &Arc<AtomicBool>,
        o: &Options,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        let on = |kind: &str| o.only.as_deref().is_none_or(|k| k == kind);
        let mut tasks = Vec::new();
        for _ in 0..if on("readers") { 8 } else { 0 } {
            let (base, key, stop) = (base.to_string(), self.key.clone(), stop.clone());
            tasks.push(tokio::spawn(async move {
                stalled_reader(&base, &key, &stop).await
            }));
        }
        for k in self.dead.iter().filter(|_| on("endpoints")) {
            let (base, key, stop) = (base.to_string(), k.clone(), stop.clone());
            tasks.push(tokio::spawn(async move {
                notify_dead_endpoint(&base, &key, &stop).await
            }));
        }
        let filters = [
            "status=terminated",
            "status=starting",
            "type=connect",
            "status=terminated&type=connect",
        ];
        for n in 0..if on("filters") { 8 } else { 0 } {
            let (base, key, stop) = (base.to_string(), self.key.clone(), stop.clone());
            let filter = filters[n % filters.len()];
            let rate = o.filter_rate;
            tasks.push(tokio::spawn(async move {
                rare_filter_loop(&base, &key, filter, rate, &stop).await
            }));
        }
        for prefix in ["a", "xmlns:n"].into_iter().filter(|_| on("xml")) {
            let (base, key, id, stop) = (
                base.to_string(),
                self.key.clone(),
                self.id.clone(),
                stop.clone(),
            );
            tasks.push(tokio::spawn(async move {
                xml_bodies(&base, &key, &id, prefix, &stop).await
            }));
        }
        tasks
    }
}

/// A conference of about 1 MB.
fn big_conference(i: usize) -> Value {
    let talk = |list: &str, n: usize| json!({"type": "talk", "option": {"text": format!("{list} {n} {}", "x".repeat(4700))}});
    json!({
        "name": format!("big {i}"),
        "data": {"blob": "d".repeat(60_000)},
        "pre_actions": (0..100).map(|n| talk("pre", n)).collect::<Vec<_>>(),
        "post_actions": (0..100).map(|n| talk("post", n)).collect::<Vec<_>>(),
    })
}

/// Asks for a page of B's largest conferences with a 4 KiB receive buffer and never reads;
/// when the server closes the connection, asks again.
async fn stalled_reader(base: &str, key: &str, stop: &AtomicBool) {
    let Ok(addr) = base.trim_start_matches("http://").parse() else {
        return;
    };
    while !stop.load(Ordering::SeqCst) {
        let Ok(socket) = TcpSocket::new_v4() else {
            return;
        };
        let _ = socket.set_recv_buffer_size(4096);
        let Ok(mut stream) = socket.connect(addr).await else {
            return;
        };
        let head = format!("GET /v1.0/conferences?page_size=100 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n\r\n");
        if stream.write_all(head.as_bytes()).await.is_err() {
            continue;
        }
        wait_closed(&stream, stop).await;
    }
}

/// Waits until the server resets `stream` (confab's send deadline does) without reading what
/// it sent: a reset leaves its error on the socket.
async fn wait_closed(stream: &TcpStream, stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if !matches!(stream.take_error(), Ok(None)) {
            return;
        }
    }
}

/// Makes conferences one after another (each a `conference_created` notification to an
/// endpoint that never answers), spread over more keys than a customer's lane cap.
async fn notify_dead_endpoint(base: &str, key: &str, stop: &AtomicBool) {
    let c = client();
    let mut n = 0usize;
    while !stop.load(Ordering::SeqCst) && n < 64 {
        let _ = c
            .post(format!("{base}/v1.0/conferences"))
            .bearer_auth(key)
            .json(&json!({"name": format!("dead {n}")}))
            .send()
            .await;
        n += 1;
    }
}

async fn rare_filter_loop(base: &str, key: &str, filter: &str, rate: u32, stop: &AtomicBool) {
    let c = client();
    let mut token = String::new();
    let gap = if rate == 0 {
        Duration::ZERO
    } else {
        Duration::from_secs(1) / rate
    };
    while !stop.load(Ordering::SeqCst) {
        tokio::time::sleep(gap).await;
        let url = format!("{base}/v1.0/conferences?{filter}&page_size=100&page_token={token}");
        let Ok(res) = c.get(url).bearer_auth(key).send().await else {
            continue;
        };
        let page: Value = res.json().await.unwrap_or_default();
        token = page["next_page_token"].as_str().unwrap_or("").to_string();
    }
}

async fn xml_bodies(base: &str, key: &str, account: &str, prefix: &str, stop: &AtomicBool) {
    let mut body = String::from("<conf");
    for i in 0.. {
        let attr = format!(" {prefix}{i:x}=\"1\"");
        if body.len() + attr.len() + 40 > 1024 * 1024 {
            break;
        }
        body.push_str(&attr);
    }
    body.push_str("><appSid>x</appSid></conf>");
    let c = client();
    while !stop.load(Ordering::SeqCst) {
        if let Ok(res) = c
            .post(format!("{base}/v1/account/{account}/conf"))
            .bearer_auth(key)
            .body(body.clone())
            .send()
            .await
        {
            let _ = res.bytes().await;
        }
    }
}

/// An endpoint that accepts connections and never answers (the connections are kept open).
async fn black_hole() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.or_die("bind");
    let addr = listener.local_addr().or_die("addr");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    format!("http://{addr}/hooks")
}

/// A's receiver: records when each conference's notification arrived.
async fn start_arrival_receiver() -> (String, Arrivals) {
    let arrivals: Arrivals = Arc::default();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").or_die("bind");
    let addr = listener.local_addr().or_die("addr");
    let seen = arrivals.clone();
    let count = Arc::new(AtomicUsize::new(0));
    let server = actix_web::HttpServer::new(move || {
        let (seen, count) = (seen.clone(), count.clone());
        actix_web::App::new().default_service(actix_web::web::to(
            move |body: actix_web::web::Bytes| {
                let (seen, count) = (seen.clone(), count.clone());
                async move {
                    let v: Value = serde_json::from_slice(&body).unwrap_or_default();
                    if let (Some(kind), Some(id)) = (v["type"].as_str(), v["data"]["id"].as_str()) {
                        if kind == "conference_created" {
                            if let Ok(mut m) = seen.lock() {
                                m.entry(id.to_string()).or_insert_with(Instant::now);
                            }
                        }
                    }
                    count.fetch_add(1, Ordering::Relaxed);
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
    tokio::spawn(server);
    (format!("http://{addr}"), arrivals)
}
