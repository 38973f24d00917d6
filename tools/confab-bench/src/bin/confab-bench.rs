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

#[tokio::main]
async fn main() {
    let args = Args::parse();
    if args.busy_seconds > 0 {
        confab_bench::busy::run(args.connections, args.busy_seconds).await;
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
