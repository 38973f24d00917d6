//! confab-bench: starts confab (the release binary beside this one) on a temporary SQLite
//! database or on a fresh PostgreSQL database with one to three nodes, or targets a running
//! one, drives platform events and reads through it, measures the machine's ceilings, and
//! checks that the final state is exactly what the acknowledged events imply.

use clap::Parser;
use confab_bench::cluster::*;
use confab_bench::load::*;
use confab_bench::scenarios::{self, Scenario};
use confab_bench::support::*;
use serde_json::json;
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
    /// Run on PostgreSQL instead of SQLite: the server's URL without a database, e.g.
    /// postgres://postgres@127.0.0.1:5432. The bench creates a fresh database there and drops
    /// it at the end.
    #[arg(long, value_name = "URL_BASE")]
    postgres: Option<String>,
    /// An existing database on the --postgres server to connect to for CREATE/DROP DATABASE.
    #[arg(long, default_value = "test")]
    pg_admin_db: String,
    /// confab nodes sharing the PostgreSQL database; connection i talks to node i % N. At most
    /// 3: each node holds --pg-writers + one reader per core connections, and three stay well
    /// inside PostgreSQL's default max_connections of 100.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=3))]
    nodes: u8,
    /// Passed to every node as --pg-writers (confab's default when unset).
    #[arg(long)]
    pg_writers: Option<u16>,
    /// Passed to every node as --secrets-key-file: customers' secrets stored encrypted, to
    /// compare with a run without it.
    #[arg(long)]
    secrets_key_file: Option<std::path::PathBuf>,
    /// Run the same load on SQLite, then on PostgreSQL with 1, 2 and 3 nodes (needs
    /// --postgres), and print a comparison table; exits 1 if any final state is not exact.
    /// Ceilings, memory and start-up are not measured in this mode.
    #[arg(long)]
    compare: bool,
    /// Instead of the benchmark, run the hot-conference scenarios of issue 13 on SQLite, each
    /// on a fresh server, after the spread load (--conferences conferences) they are compared
    /// with, and print a table with the targets and this machine's ceilings (unless
    /// --no-ceilings); exits 1 if a final state is wrong or an event got a 5xx.
    #[arg(long, value_enum)]
    scenario: Option<Scenario>,
    /// Seconds of the spread and hot loads and of each history window.
    #[arg(long, default_value_t = 8)]
    window_seconds: u64,
    /// Left calls the history scenario's conference holds before its windows.
    #[arg(long, default_value_t = 1_000_000)]
    history_calls: usize,
    /// Old platform events the prune scenario seeds (with half as many delivered messages),
    /// all past their retention.
    #[arg(long, default_value_t = 1_000_000)]
    prune_rows: usize,
    /// Consecutive windows of the hot load on the long history.
    #[arg(long, default_value_t = 3)]
    history_windows: usize,
    /// Calls joined at once in the big room.
    #[arg(long, default_value_t = 1_000)]
    room_calls: usize,
    /// Times the big room fills and empties: one fill is over in well under a second here, so
    /// a few of them make its rates less of a coin toss.
    #[arg(long, default_value_t = 5)]
    room_rounds: usize,
    /// Instead of the benchmark, run the noisy-neighbours scenario (issue 30): customer A's
    /// list latency and notification delay for this many seconds alone, then as long beside a
    /// customer abusing confab within its limits.
    #[arg(long, default_value_t = 0)]
    neighbours_seconds: u64,
    /// Conferences in the noisy neighbour's history, which its rare-filter lists page through.
    #[arg(long, default_value_t = 100_000)]
    neighbours_history: usize,
    /// Only one kind of the neighbour's abuse: readers, endpoints, filters or xml.
    #[arg(long, value_parser = ["readers", "endpoints", "filters", "xml"])]
    neighbours_only: Option<String>,
    /// Pages per second of each of the neighbour's 8 rare-filter loops; 0 = as many as its
    /// rate limit lets through.
    #[arg(long, default_value_t = 0)]
    neighbours_filter_rate: u32,
    /// Seconds of the sustained spread load.
    #[arg(long, default_value_t = 60)]
    sustained_seconds: u64,
    /// Instead of the benchmark, PIN joins (issue 24): --conferences × --calls calls on plain
    /// conferences, then the same on PIN rooms (the flow `pin`), each on a fresh SQLite server;
    /// a PIN call sends call_joining, call_digits_received (a wrong PIN first for every
    /// --pin-wrong-every-th call, then the right one), call_joined and call_left. Then one busy
    /// conference of each kind for --pin-hot-seconds. Events only, no reads mixed in; exits 1
    /// if an answer, an event or a final state is wrong.
    #[arg(long)]
    pin: bool,
    /// Every n-th PIN call enters a wrong PIN before the right one (0: none).
    #[arg(long, default_value_t = 4)]
    pin_wrong_every: usize,
    /// Rounds of plain and PIN loads, alternating which runs first (0: only the busy
    /// conferences).
    #[arg(long, default_value_t = 1)]
    pin_rounds: usize,
    /// Seconds every connection cycles calls through one busy conference of each kind of
    /// --pin-hot-rooms (0 skips them).
    #[arg(long, default_value_t = 60)]
    pin_hot_seconds: u64,
    /// Windows the busy conferences' runs are reported in (first against last).
    #[arg(long, default_value_t = 6)]
    pin_windows: usize,
    /// The busy conferences and their order, comma-separated: plain, pin.
    #[arg(long, value_delimiter = ',', default_value = "plain,pin", value_parser = ["plain", "pin"])]
    pin_hot_rooms: Vec<String>,
    /// The flows directory the PIN runs' servers load (it must hold pin.json); default
    /// CONFAB_FLOWS_DIR, else this repository's flows/ as it was when the bench was built.
    #[arg(long)]
    flows_dir: Option<std::path::PathBuf>,
    /// Instead of the benchmark, usage reports (issue 28): --conferences × --calls calls
    /// through confab, then --history-calls left calls seeded into one conference over the
    /// last 30 days; times a month's usage alone and beside one busy conference for
    /// --usage-hot-seconds, and checks it against a scan of every call. SQLite, or
    /// --postgres.
    #[arg(long)]
    usage: bool,
    /// Usage requests per measurement alone.
    #[arg(long, default_value_t = 1_000)]
    usage_queries: usize,
    #[arg(long, default_value_t = 20)]
    usage_hot_seconds: u64,
    /// Instead of the benchmark, the cluster's ceiling (issue 29; needs --postgres): pgbench's
    /// TPC-B-like load, then full call cycles spread over --conferences conferences and on one
    /// hot conference, each on one and on three fresh nodes, --window-seconds each; prints
    /// events per pgbench transaction against the targets; exits 1 if a final state is wrong
    /// or an event failed.
    #[arg(long)]
    ceiling: bool,
    /// pgbench's clients in --ceiling.
    #[arg(long, default_value_t = 16)]
    pgbench_clients: usize,
    /// In --ceiling: milliseconds each way between the nodes (and pgbench) and PostgreSQL,
    /// through a delaying proxy, as with a database one network hop away.
    #[arg(long, default_value_t = 0)]
    pg_latency_ms: u64,
}

/// What the phases share once the nodes are up: where they answer (node 1 first), the
/// customer's key and its conferences.
struct Setup {
    bases: Vec<String>,
    key: String,
    confs: Vec<String>,
}

/// What one configuration measured, for its report and the comparison table.
#[derive(Default)]
struct Measured {
    events_per_s: f64,
    /// Event latency p50, p99 and p99.9 in ms.
    latency: [f64; 3],
    failures: usize,
    /// Reads per second of the read-only phase.
    reads_per_s: f64,
    /// Cores busy during the event load: all confab nodes this tool started, and PostgreSQL.
    confab_cores: Option<f64>,
    pg_cores: Option<f64>,
    exact: bool,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    if args.busy_seconds > 0 {
        confab_bench::busy::run(args.connections, args.busy_seconds).await;
        return;
    }
    if args.neighbours_seconds > 0 {
        confab_bench::neighbours::run(confab_bench::neighbours::Options {
            seconds: args.neighbours_seconds,
            history: args.neighbours_history,
            dead_customers: 30,
            only: args.neighbours_only.clone(),
            filter_rate: args.neighbours_filter_rate,
        })
        .await;
        return;
    }
    let backend = backend(&args);
    if args.usage {
        let exact = confab_bench::usage::run(&confab_bench::usage::Options {
            backend: backend.clone(),
            history: args.history_calls,
            conferences: args.conferences,
            calls: args.calls,
            connections: args.connections,
            queries: args.usage_queries,
            hot_seconds: args.usage_hot_seconds,
        })
        .await;
        std::process::exit(if exact { 0 } else { 1 });
    }
    if args.ceiling {
        let Backend::Postgres(server) = backend.clone() else {
            eprintln!("confab-bench: --ceiling needs --postgres URL_BASE");
            std::process::exit(2);
        };
        let exact = confab_bench::ceiling::run(&confab_bench::ceiling::Options {
            server,
            connections: args.connections,
            conferences: args.conferences,
            seconds: args.window_seconds,
            pgbench_clients: args.pgbench_clients,
            pg_writers: args.pg_writers,
            latency_ms: args.pg_latency_ms,
        })
        .await;
        std::process::exit(if exact { 0 } else { 1 });
    }
    if args.pin {
        let exact = confab_bench::pin::run(&pin_options(&args)).await;
        std::process::exit(if exact { 0 } else { 1 });
    }
    if let Some(scenario) = args.scenario {
        let exact = run_scenarios(&args, scenario).await;
        std::process::exit(if exact { 0 } else { 1 });
    }
    print_header(&args, &backend);
    if args.compare {
        let exact = compare(&args, &backend).await;
        std::process::exit(if exact { 0 } else { 1 });
    }
    let cluster = match &args.target {
        Some(t) => Cluster::target(t),
        None => Cluster::start(&backend, args.nodes.into(), &node_flags(&args, &backend)),
    };
    let (measured, setup) = measure(&cluster, &backend, &args).await;
    if !measured.exact {
        // Dropped first: exit skips destructors, and the nodes and database must not outlive
        // the run.
        drop(cluster);
        std::process::exit(1);
    }
    if !args.no_ceilings {
        ceilings(
            args.connections,
            measured.events_per_s,
            measured.reads_per_s,
        )
        .await;
    }
    if let (true, Some(&pid)) = (args.memory_conferences > 0, cluster.pids().first()) {
        memory(pid, &setup, &args).await;
    }
    drop(cluster);
    if args.startup_conferences > 0 {
        startup(args.startup_conferences);
    }
}

/// The database the flags ask for; ends the run on combinations that cannot work.
fn backend(args: &Args) -> Backend {
    fn fail(why: &str) -> ! {
        eprintln!("confab-bench: {why}");
        std::process::exit(2)
    }
    if args.target.is_some() && (args.postgres.is_some() || args.nodes > 1 || args.compare) {
        fail("--target measures one running server; --postgres, --nodes and --compare start their own");
    }
    // The scenarios seed and read the server's SQLite file, so they start servers of their own.
    if args.scenario.is_some() && (args.target.is_some() || args.postgres.is_some()) {
        fail("--scenario runs on SQLite servers it starts; not with --target or --postgres");
    }
    // The PIN runs read the pauses from the server's SQLite file.
    if args.usage && args.target.is_some() {
        fail("--usage starts its own server; not with --target");
    }
    if args.pin && (args.target.is_some() || args.postgres.is_some()) {
        fail("--pin runs on SQLite servers it starts; not with --target or --postgres");
    }
    match &args.postgres {
        Some(url) => Backend::Postgres(PgServer {
            base: url.trim_end_matches('/').to_string(),
            admin_db: args.pg_admin_db.clone(),
        }),
        None if args.compare => fail("--compare needs --postgres URL_BASE"),
        // Nodes share state only through PostgreSQL; a SQLite file has one server.
        None if args.nodes > 1 => fail("--nodes above 1 needs --postgres URL_BASE"),
        None => Backend::Sqlite,
    }
}

/// The issue-13 scenarios with the sizes the flags give.
async fn run_scenarios(args: &Args, scenario: Scenario) -> bool {
    let opts = scenarios::Options {
        scenario,
        connections: args.connections,
        conferences: args.conferences,
        window_seconds: args.window_seconds,
        history_calls: args.history_calls,
        history_windows: args.history_windows,
        room_calls: args.room_calls,
        room_rounds: args.room_rounds,
        read_seconds: args.read_seconds,
        sustained_seconds: args.sustained_seconds,
        prune_rows: args.prune_rows,
        ceilings: !args.no_ceilings,
    };
    println!(
        "confab-bench --scenario {scenario:?}: SQLite, {} connections, spread over {} conferences",
        args.connections, args.conferences
    );
    println!(
        "machine: {} cores, {}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        std::env::consts::ARCH
    );
    scenarios::run(&opts).await
}

/// The PIN runs' sizes from the flags; the flows directory from --flows-dir, else
/// CONFAB_FLOWS_DIR, else the repository's.
fn pin_options(args: &Args) -> confab_bench::pin::Options {
    let flows_dir = args
        .flows_dir
        .clone()
        .or_else(|| std::env::var_os("CONFAB_FLOWS_DIR").map(Into::into))
        .unwrap_or_else(confab_bench::pin::repo_flows_dir);
    confab_bench::pin::Options {
        conferences: args.conferences,
        calls: args.calls,
        connections: args.connections,
        wrong_every: args.pin_wrong_every,
        rounds: args.pin_rounds,
        hot_seconds: args.pin_hot_seconds,
        windows: args.pin_windows,
        hot_pin: args.pin_hot_rooms.iter().map(|r| r == "pin").collect(),
        flows_dir,
    }
}

/// Flags every node gets beyond the ones `start_confab` always passes.
fn node_flags(args: &Args, backend: &Backend) -> Vec<String> {
    let mut flags = match (backend, args.pg_writers) {
        (Backend::Postgres(_), Some(w)) => vec!["--pg-writers".into(), w.to_string()],
        _ => Vec::new(),
    };
    if let Some(keys) = &args.secrets_key_file {
        flags.push("--secrets-key-file".into());
        flags.push(keys.display().to_string());
    }
    flags
}

fn print_header(args: &Args, backend: &Backend) {
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
    match (backend, &args.target) {
        (_, Some(t)) => println!("target: {t}"),
        (Backend::Postgres(pg), None) if !args.compare => {
            println!(
                "database: PostgreSQL at {}, {} node(s)",
                pg.base, args.nodes
            )
        }
        (Backend::Postgres(pg), None) => println!("databases: SQLite, PostgreSQL at {}", pg.base),
        (Backend::Sqlite, None) => println!("database: SQLite"),
    }
}

/// One configuration's phases on a started cluster: setup, mixed load, reads only, and the
/// final-state check.
async fn measure(cluster: &Cluster, backend: &Backend, args: &Args) -> (Measured, Setup) {
    let setup = setup(cluster, args).await;
    let run = format!("r{}", chrono::Utc::now().timestamp_millis());
    let mut measured = mixed_load(cluster, backend, &setup, args, &run).await;
    measured.reads_per_s = reads_only(&setup, args).await;
    measured.exact = final_state(cluster, &setup, args, &run).await;
    (measured, setup)
}

/// SQLite, then PostgreSQL with 1, 2 and 3 nodes: the same load on a fresh database each.
/// Prints the comparison; returns whether every final state was exact.
async fn compare(args: &Args, pg: &Backend) -> bool {
    let configs = [
        (Backend::Sqlite, 1),
        (pg.clone(), 1),
        (pg.clone(), 2),
        (pg.clone(), 3),
    ];
    let mut rows = Vec::new();
    for (backend, nodes) in configs {
        println!("\n==== {}, {nodes} node(s)", backend.name());
        let cluster = Cluster::start(&backend, nodes, &node_flags(args, &backend));
        let (measured, _) = measure(&cluster, &backend, args).await;
        drop(cluster);
        rows.push((backend.name(), nodes, measured));
    }
    print_comparison(args, &rows);
    rows.iter().all(|(_, _, m)| m.exact)
}

/// The comparison as a Markdown table, ready for BENCHMARKS.md.
fn print_comparison(args: &Args, rows: &[(&str, usize, Measured)]) {
    println!(
        "\n-- comparison: {} conferences x {} calls, {} connections, a fresh database each\n",
        args.conferences, args.calls, args.connections
    );
    println!("| database | nodes | events/s | event p50 / p99 / p99.9 | failures | reads/s (read-only) | confab CPU | PostgreSQL CPU | final state |");
    println!("|---|---|---|---|---|---|---|---|---|");
    let cores = |c: Option<f64>| c.map_or("–".to_string(), |c| format!("{c:.2} cores"));
    for (name, nodes, m) in rows {
        let [p50, p99, p999] = m.latency;
        println!(
            "| {name} | {nodes} | {:.0} | {p50:.1} / {p99:.1} / {p999:.1} ms | {} | {:.0} | {} | {} | {} |",
            m.events_per_s,
            m.failures,
            m.reads_per_s,
            cores(m.confab_cores),
            cores(m.pg_cores),
            if m.exact { "exact" } else { "MISMATCH" }
        );
    }
}

/// A customer and its conferences, created through node 1 and timed.
async fn setup(cluster: &Cluster, args: &Args) -> Setup {
    let key = create_customer(cluster.first()).await;
    let t = Instant::now();
    let confs = create_conferences(cluster.first(), &key, args.conferences, args.connections).await;
    report(
        "conferences created per second",
        confs.len() as f64 / t.elapsed().as_secs_f64(),
        "/s",
    );
    Setup {
        bases: cluster.bases.clone(),
        key,
        confs,
    }
}

/// Events with reads mixed in, spread over the nodes, and the CPU the generator, the nodes and
/// PostgreSQL spent on them.
async fn mixed_load(
    cluster: &Cluster,
    backend: &Backend,
    setup: &Setup,
    args: &Args,
    run: &str,
) -> Measured {
    let pids: Vec<String> = cluster.pids().iter().map(u32::to_string).collect();
    let on_pg = matches!(backend, Backend::Postgres(_));
    let nodes_cpu = || pids.iter().map(|p| cpu_seconds(p)).sum::<f64>();
    let pg_cpu = || if on_pg { postgres_cpu_seconds() } else { 0.0 };
    let before = (cpu_seconds("self"), nodes_cpu(), pg_cpu());
    let load = drive(
        &setup.bases,
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
    let gen_cpu = cpu_seconds("self") - before.0;
    report("load generator CPU (cores busy)", gen_cpu / wall, "cores");
    let confab_cores = (!pids.is_empty()).then(|| {
        let cpu = nodes_cpu() - before.1;
        report("server CPU, all nodes (cores busy)", cpu / wall, "cores");
        let per_cpu = load.events as f64 / cpu.max(0.001);
        report("events per server CPU-second", per_cpu, "/s");
        cpu / wall
    });
    let pg_cores = on_pg.then(|| {
        let cpu = pg_cpu() - before.2;
        report("PostgreSQL CPU (cores busy)", cpu / wall, "cores");
        cpu / wall
    });
    let ev = &load.event_latency;
    Measured {
        events_per_s: load.events as f64 / wall,
        latency: [0.50, 0.99, 0.999].map(|p| percentile(ev, p)),
        failures: load.failures,
        confab_cores,
        pg_cores,
        ..Measured::default()
    }
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
    let (reads, took, lat, failed) = read_phase(
        &setup.bases,
        &setup.key,
        &setup.confs,
        args.connections,
        args.read_seconds,
    )
    .await;
    let reads_per_s = reads as f64 / took.as_secs_f64();
    println!(
        "\n-- reads only for {} s, {failed} failed",
        args.read_seconds
    );
    report("conference reads per second", reads_per_s, "/s");
    report("read latency p50", percentile(&lat, 0.50), "ms");
    report("read latency p99", percentile(&lat, 0.99), "ms");
    reads_per_s
}

/// The state must be exactly what the acknowledged events imply. It is read through the last
/// node: with several nodes, one that did not create the conferences.
async fn final_state(cluster: &Cluster, setup: &Setup, args: &Args, run: &str) -> bool {
    println!("\n-- final state, read through node {}", setup.bases.len());
    let checked = verify(cluster.last(), &setup.key, &setup.confs, args.calls, run).await;
    let exact = match checked {
        Ok(n) => {
            println!("ok: {} conferences, {n} conferencecalls, every one leaved exactly once, no call left joined", setup.confs.len());
            true
        }
        Err(e) => {
            println!("STATE MISMATCH: {e}");
            false
        }
    };
    let pids = cluster.pids();
    for (i, &pid) in pids.iter().enumerate() {
        let what = match pids.len() {
            1 => "server peak RSS".to_string(),
            _ => format!("node {} peak RSS", i + 1),
        };
        report(&what, peak_rss_mb(pid).unwrap_or(0.0), "MB");
    }
    exact
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
    let base = setup.bases.first().map_or("", String::as_str);
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
