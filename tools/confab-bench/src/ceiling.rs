//! The cluster's ceiling (issue 29): PostgreSQL's own `pgbench` (TPC-B-like) beside confab's
//! spread and hot loads on one and three nodes, in the same run, with each load's events per
//! pgbench transaction and its exact final state.

use crate::cluster::{postgres_cpu_seconds, Backend, Cluster, PgDatabase, PgServer};
use crate::load::{drive_source, verify_each, Cycle, LoadResult};
use crate::support::*;
use crate::watch::{ServerDelta, ServerTimes};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The run's sizes, from the command line.
#[derive(Clone, Debug)]
pub struct Options {
    pub server: PgServer,
    pub connections: usize,
    /// Conferences of the spread load.
    pub conferences: usize,
    /// Seconds of each load and of pgbench.
    pub seconds: u64,
    /// pgbench clients (TPC-B-like, scale 10).
    pub pgbench_clients: usize,
    /// `--pg-writers` of every node; confab's default when unset.
    pub pg_writers: Option<u16>,
    /// Milliseconds each way between the nodes (and pgbench) and PostgreSQL, through a
    /// delaying proxy; 0 = straight to the server.
    pub latency_ms: u64,
}

/// One load's outcome.
struct Row {
    load: &'static str,
    nodes: usize,
    events_per_s: f64,
    p50: f64,
    p99: f64,
    failures: usize,
    confab_cores: f64,
    pg_cores: f64,
    /// The nodes' own figures over the load: writes per commit, carried writes.
    server: ServerDelta,
    exact: bool,
}

/// Runs pgbench, then the spread and hot loads on one and three nodes, and prints the table
/// with the targets; false when a final state was not exact or an event failed.
pub async fn run(opts: &Options) -> bool {
    println!(
        "confab-bench --ceiling: PostgreSQL at {}, {} connections, {} s per load",
        opts.server.base, opts.connections, opts.seconds
    );
    let mut opts = opts.clone();
    if opts.latency_ms > 0 {
        match through_proxy(&opts.server.base, opts.latency_ms).await {
            Ok(base) => {
                println!(
                    "through a proxy adding {} ms each way: {base}",
                    opts.latency_ms
                );
                opts.server.base = base;
            }
            Err(e) => {
                eprintln!("confab-bench: cannot start the delaying proxy: {e}");
                return false;
            }
        }
    }
    let opts = &opts;
    let tps = match pgbench(opts) {
        Ok(tps) => tps,
        Err(e) => {
            eprintln!("confab-bench: pgbench: {e}");
            return false;
        }
    };
    report("pgbench TPC-B transactions per second", tps, "/s");
    let mut rows = Vec::new();
    for (load, confs, nodes) in [
        ("spread", opts.conferences, 1),
        ("spread", opts.conferences, 3),
        ("hot", 1, 1),
        ("hot", 1, 3),
    ] {
        rows.push(cycle(opts, load, confs, nodes).await);
    }
    print_table(opts, tps, &rows);
    rows.iter().all(|r| r.exact && r.failures == 0)
}

/// The server's URL with its host and port replaced by a delaying proxy's.
async fn through_proxy(base: &str, ms: u64) -> Result<String, String> {
    let (scheme, rest) = base.split_once("://").ok_or("not a URL")?;
    let (user, hostport) = match rest.rsplit_once('@') {
        Some((user, hostport)) => (format!("{user}@"), hostport),
        None => (String::new(), rest),
    };
    let addr = crate::latency::start(hostport.to_string(), Duration::from_millis(ms))
        .await
        .map_err(|e| e.to_string())?;
    Ok(format!("{scheme}://{user}{addr}"))
}

/// pgbench's TPC-B-like load on a database of its own (scale 10, `-c clients -j 2`, no vacuum
/// between runs), for `seconds`: the transactions per second this machine's PostgreSQL commits.
fn pgbench(opts: &Options) -> Result<f64, String> {
    let db = PgDatabase::create(&opts.server)?;
    let url = db.url();
    let init = Command::new("pgbench")
        .args(["-i", "-q", "-s", "10", &url])
        .output()
        .map_err(|e| format!("cannot run pgbench (is it installed?): {e}"))?;
    if !init.status.success() {
        return Err(String::from_utf8_lossy(&init.stderr).into_owned());
    }
    println!(
        "\n-- pgbench: {} clients, {} s",
        opts.pgbench_clients, opts.seconds
    );
    let out = Command::new("pgbench")
        .args(["-c", &opts.pgbench_clients.to_string(), "-j", "2"])
        .args(["-T", &opts.seconds.to_string(), "-n", &url])
        .output()
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("no tps in pgbench's output: {text}"))
}

/// Full call cycles over `n` new conferences for `opts.seconds` on `nodes` fresh nodes, the
/// connections spread over the nodes; then the final state read through the last node.
async fn cycle(opts: &Options, load: &'static str, n: usize, nodes: usize) -> Row {
    println!(
        "\n-- {load}: {n} conference(s), {nodes} node(s), {} connections",
        opts.connections
    );
    let flags = match opts.pg_writers {
        Some(w) => vec!["--pg-writers".to_string(), w.to_string()],
        None => Vec::new(),
    };
    let cluster = Cluster::start(&Backend::Postgres(opts.server.clone()), nodes, &flags);
    let key = create_customer(cluster.first()).await;
    let confs = create_conferences(cluster.first(), &key, n, opts.connections).await;
    let pids: Vec<String> = cluster.pids().iter().map(u32::to_string).collect();
    let nodes_cpu = || pids.iter().map(|p| cpu_seconds(p)).sum::<f64>();
    let times_before = read_times(&cluster.bases).await;
    let before = (nodes_cpu(), postgres_cpu_seconds());
    let run = format!("g{}", chrono::Utc::now().timestamp_millis());
    let until = Instant::now() + Duration::from_secs(opts.seconds);
    let source = Arc::new(Cycle::new(&confs, &run, until));
    let result: LoadResult =
        drive_source(&cluster.bases, &key, source.clone(), opts.connections, 0).await;
    let wall = result.elapsed.as_secs_f64().max(0.001);
    let (confab_cores, pg_cores) = (
        (nodes_cpu() - before.0) / wall,
        (postgres_cpu_seconds() - before.1) / wall,
    );
    let server = read_times(&cluster.bases)
        .await
        .iter()
        .zip(&times_before)
        .map(|(after, before)| before.until(after))
        .fold(ServerDelta::default(), |sum, d| sum + d);
    let expected: Vec<(String, usize)> = confs
        .iter()
        .enumerate()
        .map(|(k, c)| (c.clone(), source.taken_by(k)))
        .collect();
    let exact = match verify_each(cluster.last(), &key, &expected, &run).await {
        Ok(calls) => {
            println!("final state exact: {calls} calls, each left once, none joined");
            true
        }
        Err(e) => {
            println!("STATE MISMATCH: {e}");
            false
        }
    };
    let ev = &result.event_latency;
    let row = Row {
        load,
        nodes,
        events_per_s: result.events as f64 / wall,
        p50: percentile(ev, 0.50),
        p99: percentile(ev, 0.99),
        failures: result.failures + result.server_errors,
        confab_cores,
        pg_cores,
        server,
        exact,
    };
    report("platform events per second", row.events_per_s, "/s");
    report("event latency p99", row.p99, "ms");
    row
}

/// Each node's own figures from its /metrics, in node order.
async fn read_times(bases: &[String]) -> Vec<ServerTimes> {
    let mut times = Vec::with_capacity(bases.len());
    for base in bases {
        times.push(ServerTimes::read(base).await);
    }
    times
}

/// The table for BENCHMARKS.md, each row against issue 29's targets.
fn print_table(opts: &Options, tps: f64, rows: &[Row]) {
    println!(
        "\n-- the cluster's ceiling: {} connections, {} s per load, pgbench {} clients\n",
        opts.connections, opts.seconds, opts.pgbench_clients
    );
    println!("| load | nodes | events/s | events per pgbench tx | p50 / p99 | failures | confab CPU | PostgreSQL CPU | writes per commit, carried | final state | target | met |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    println!("| pgbench TPC-B | – | {tps:.0} tx/s | 1.00 | | | | | | | | |");
    let one_node = |load: &str| {
        rows.iter()
            .find(|r| r.load == load && r.nodes == 1)
            .map_or(0.0, |r| r.events_per_s)
    };
    for r in rows {
        let (target, met) = target(r, tps, one_node(r.load));
        println!(
            "| {} | {} | {:.0} | {:.2} | {:.1} / {:.1} ms | {} | {:.2} cores | {:.2} cores | {:.1}, {:.1} % | {} | {target} | {met} |",
            r.load,
            r.nodes,
            r.events_per_s,
            r.events_per_s / tps.max(1.0),
            r.p50,
            r.p99,
            r.failures,
            r.confab_cores,
            r.pg_cores,
            r.server.batch(),
            100.0 * r.server.carried(),
            if r.exact { "exact" } else { "**wrong**" },
        );
    }
}

/// A row's target and whether it was met: one node ≥ 1.5 × pgbench, three nodes ≥ 0.9 × one
/// node, p99 ≤ 50 ms; the hot load is reported against the same bars.
fn target(r: &Row, tps: f64, one_node: f64) -> (String, String) {
    let (bar, what) = if r.nodes == 1 {
        (1.5 * tps, "≥ 1.5 × pgbench")
    } else {
        (0.9 * one_node, "≥ 0.9 × one node")
    };
    let mut misses = Vec::new();
    if r.events_per_s < bar {
        misses.push(format!("{:.0} < {bar:.0}/s", r.events_per_s));
    }
    if r.p99 > 50.0 {
        misses.push(format!("p99 {:.1} > 50 ms", r.p99));
    }
    let met = if misses.is_empty() {
        "yes".to_string()
    } else {
        format!("**no**: {}", misses.join(", "))
    };
    (format!("{what}, p99 ≤ 50 ms"), met)
}
