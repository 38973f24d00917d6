//! confab-bench: starts confab (the release binary beside this one) on a temporary database, or
//! targets a running one, drives platform events and reads through it, measures the machine's
//! ceilings, and checks that the final state is exactly what the acknowledged events imply.

use clap::Parser;
use confab_bench::load::*;
use confab_bench::support::*;
use serde_json::json;
use std::process::Child;
use std::time::Instant;

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
    /// Instead of the benchmark, run the busy-conference scenario for this many seconds: every
    /// connection cycles calls through one conference while a local receiver takes its
    /// notifications.
    #[arg(long, default_value_t = 0)]
    busy_seconds: u64,
}

/// The confab under test: one this tool started on a temporary database, or a running one.
struct Server {
    child: Option<Child>,
    base: String,
    _dir: Option<TempDir>,
}

impl Server {
    fn start(args: &Args) -> Server {
        if let Some(t) = &args.target {
            return Server {
                child: None,
                base: t.trim_end_matches('/').to_string(),
                _dir: None,
            };
        }
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

    /// The server's process id, when this tool started it.
    fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// What the phases share once the server is up: where it answers, its customer's key and its
/// conferences.
struct Setup {
    base: String,
    key: String,
    confs: Vec<String>,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    if args.busy_seconds > 0 {
        confab_bench::busy::run(args.connections, args.busy_seconds).await;
        return;
    }
    print_header(&args);
    let server = Server::start(&args);
    let setup = setup(&server, &args).await;
    let run = format!("r{}", chrono::Utc::now().timestamp_millis());
    let events_per_s = mixed_load(&server, &setup, &args, &run).await;
    let reads_per_s = reads_only(&setup, &args).await;
    final_state(&server, &setup, &args, &run).await;
    if !args.no_ceilings {
        ceilings(args.connections, events_per_s, reads_per_s).await;
    }
    if args.memory_conferences > 0 && args.target.is_none() {
        if let Some(pid) = server.pid() {
            memory(pid, &setup, &args).await;
        }
    }
    drop(server);
    if args.startup_conferences > 0 {
        startup(args.startup_conferences);
    }
}

fn print_header(args: &Args) {
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
}

/// A customer and its conferences, timed.
async fn setup(server: &Server, args: &Args) -> Setup {
    let base = server.base.clone();
    let key = create_customer(&base).await;
    let t = Instant::now();
    let confs = create_conferences(&base, &key, args.conferences, args.connections).await;
    report(
        "conferences created per second",
        confs.len() as f64 / t.elapsed().as_secs_f64(),
        "/s",
    );
    Setup { base, key, confs }
}

/// Events with reads mixed in, and the CPU the generator and the server spent on them; returns
/// the events per second.
async fn mixed_load(server: &Server, setup: &Setup, args: &Args, run: &str) -> f64 {
    let server_pid = server.pid().map(|p| p.to_string());
    let (gen_before, srv_before) = (
        cpu_seconds("self"),
        server_pid.as_deref().map(cpu_seconds).unwrap_or(0.0),
    );
    let load = drive(
        &setup.base,
        &setup.key,
        &setup.confs,
        args.calls,
        args.connections,
        args.reads_per_call,
        run,
    )
    .await;
    report_load(&load);
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
    load.events as f64 / load.elapsed.as_secs_f64()
}

fn report_load(load: &LoadResult) {
    println!(
        "\n-- mixed load: {} events + {} reads in {:.2} s, {} failures",
        load.events,
        load.reads,
        load.elapsed.as_secs_f64(),
        load.failures
    );
    let secs = load.elapsed.as_secs_f64();
    report(
        "platform events per second",
        load.events as f64 / secs,
        "/s",
    );
    report(
        "conference reads per second (mixed)",
        load.reads as f64 / secs,
        "/s",
    );
    let (ev, rd) = (&load.event_latency, &load.read_latency);
    report("event latency p50", percentile(ev, 0.50), "ms");
    report("event latency p99", percentile(ev, 0.99), "ms");
    report("event latency p99.9", percentile(ev, 0.999), "ms");
    report("read latency p50 (mixed)", percentile(rd, 0.50), "ms");
    report("read latency p99 (mixed)", percentile(rd, 0.99), "ms");
}

/// Reads only, for --read-seconds; returns the reads per second.
async fn reads_only(setup: &Setup, args: &Args) -> f64 {
    let (reads, took, lat) = read_phase(
        &setup.base,
        &setup.key,
        &setup.confs,
        args.connections,
        args.read_seconds,
    )
    .await;
    let reads_per_s = reads as f64 / took.as_secs_f64();
    println!("\n-- reads only for {} s", args.read_seconds);
    report("conference reads per second", reads_per_s, "/s");
    report("read latency p50", percentile(&lat, 0.50), "ms");
    report("read latency p99", percentile(&lat, 0.99), "ms");
    reads_per_s
}

/// The state must be exactly what the acknowledged events imply; exits 1 if it is not.
async fn final_state(server: &Server, setup: &Setup, args: &Args, run: &str) {
    println!("\n-- final state");
    match verify(&setup.base, &setup.key, &setup.confs, args.calls, run).await {
        Ok(n) => println!("ok: {} conferences, {n} conferencecalls, every one leaved exactly once, no call left joined", setup.confs.len()),
        Err(e) => {
            println!("STATE MISMATCH: {e}");
            std::process::exit(1);
        }
    }
    if let Some(pid) = server.pid() {
        report("server peak RSS", peak_rss_mb(pid).unwrap_or(0.0), "MB");
    }
}

/// Raw SQLite writes and a trivial actix endpoint on this machine, and confab against them.
async fn ceilings(connections: usize, events_per_s: f64, reads_per_s: f64) {
    println!("\n-- ceilings of this machine");
    let sqlite = tokio::task::spawn_blocking(|| sqlite_ceiling(50_000, 64))
        .await
        .unwrap_or(0.0);
    report(
        "raw SQLite event writes per second (batch 64)",
        sqlite,
        "/s",
    );
    let actix = actix_ceiling(connections, 5).await;
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

/// The server's memory with --memory-conferences more conferences and a tenth as many calls
/// joined (and left joined).
async fn memory(pid: u32, setup: &Setup, args: &Args) {
    let joined_calls = args.memory_conferences / 10;
    println!(
        "\n-- memory with {} conferences and {} calls joined",
        args.memory_conferences, joined_calls
    );
    let base = &setup.base;
    let more =
        create_conferences(base, &setup.key, args.memory_conferences, args.connections).await;
    let c = client();
    for (i, conf) in more.iter().take(joined_calls).enumerate() {
        let call = format!("mem-{i}");
        let data = json!({"call_id": call, "conference_id": conf});
        let _ = post_event(&c, base, &format!("{call}-j"), "call_joining", data.clone()).await;
        let _ = post_event(&c, base, &format!("{call}-d"), "call_joined", data).await;
    }
    report("server RSS now", current_rss_mb(pid).unwrap_or(0.0), "MB");
    report("server peak RSS", peak_rss_mb(pid).unwrap_or(0.0), "MB");
}

/// Start-up of a fresh server on a database seeded with `conferences` and their deadlines.
fn startup(conferences: usize) {
    println!("\n-- start-up with {conferences} conferences and their deadlines stored");
    let dir = TempDir::new();
    let db = dir.path().join("startup.db");
    let t = Instant::now();
    seed_database(&db, conferences);
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
