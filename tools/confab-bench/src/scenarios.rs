//! Hot conferences, long histories, big rooms (issue 13: the cost of an event must not grow
//! with the conference), on SQLite. Each scenario starts a server of its own on a fresh file,
//! so its peak memory (VmHWM) and WAL are its own; the spread load runs first as the yardstick
//! the others are compared with.

use crate::history::{check_left_calls, old_events_left, seed_left_calls, seed_old_history};
use crate::load::*;
use crate::scenario_table::{print_table, Ceilings, Kind, Outcome};
use crate::support::*;
use crate::watch::{ServerTimes, Watch};
use serde_json::Value;
use std::path::PathBuf;
use std::process::Child;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Which scenarios to run.
#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum)]
pub enum Scenario {
    /// Every call on one conference, beside the spread load.
    Hot,
    /// The hot load on a conference that already holds a long history of left calls.
    History,
    /// One conference with a thousand calls joined at once, and reads of it.
    Bigroom,
    /// The spread load for a minute: the WAL's bound and the server's memory.
    Sustained,
    /// The spread load right after a start that prunes a long backlog of old history.
    Prune,
    All,
}

/// The scenarios' sizes, from the command line.
#[derive(Clone, Debug)]
pub struct Options {
    pub scenario: Scenario,
    pub connections: usize,
    /// Conferences of the spread and sustained loads.
    pub conferences: usize,
    /// Seconds of the spread and hot loads and of each history window.
    pub window_seconds: u64,
    pub history_calls: usize,
    pub history_windows: usize,
    pub room_calls: usize,
    pub room_rounds: usize,
    /// Seconds of the big room's read phase.
    pub read_seconds: u64,
    pub sustained_seconds: u64,
    /// Old platform events the prune scenario's backlog holds (and half as many messages).
    pub prune_rows: usize,
    pub ceilings: bool,
}

impl Options {
    fn runs(&self, s: Scenario) -> bool {
        self.scenario == Scenario::All || self.scenario == s
    }
}

/// Runs the chosen scenarios and prints their table; false when a final state was wrong or
/// the server answered an event with a 5xx.
pub async fn run(opts: &Options) -> bool {
    let mut rows: Vec<Outcome> = Vec::new();
    let mut exact = true;
    // Every target but the sustained run's is relative to the spread load of the same run.
    if opts.scenario != Scenario::Sustained {
        let secs = opts.window_seconds;
        exact &= cycle_scenario(Kind::Spread, opts.conferences, secs, opts, &mut rows).await;
    }
    if opts.runs(Scenario::Hot) {
        exact &= cycle_scenario(Kind::Hot, 1, opts.window_seconds, opts, &mut rows).await;
    }
    if opts.runs(Scenario::History) {
        exact &= history(opts, &mut rows).await;
    }
    if opts.runs(Scenario::Bigroom) {
        exact &= big_room(opts, &mut rows).await;
    }
    if opts.runs(Scenario::Prune) {
        exact &= prune(opts, &mut rows).await;
    }
    if opts.runs(Scenario::Sustained) {
        let (n, secs) = (opts.conferences, opts.sustained_seconds);
        exact &= cycle_scenario(Kind::Sustained, n, secs, opts, &mut rows).await;
    }
    let ceilings = if opts.ceilings {
        Some(ceilings(opts.connections).await)
    } else {
        None
    };
    print_table(opts, &rows, ceilings);
    exact && rows.iter().all(|r| r.server_errors == 0)
}

/// confab on a SQLite file of its own, with a customer; killed on drop.
pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) base: String,
    pub(crate) key: String,
    pub(crate) db: PathBuf,
    // Held so the file outlives the server; removed with the scenario.
    _dir: TempDir,
}

impl Server {
    async fn start() -> Server {
        Server::start_with(&[]).await
    }

    /// A server started with `extra` flags (see `start_confab_with`).
    pub(crate) async fn start_with(extra: &[String]) -> Server {
        let dir = TempDir::new();
        let db = dir.path().join("hot.db");
        let (child, base, _) = start_confab_with(&db, extra);
        let key = create_customer(&base).await;
        Server {
            child,
            base,
            key,
            db,
            _dir: dir,
        }
    }

    /// Kills the server (its answered writes are in the WAL, which the next open recovers),
    /// lets `change` work on the file alone, and starts a fresh process on it.
    fn restart_after(
        &mut self,
        change: impl FnOnce(&std::path::Path) -> Result<(), String>,
    ) -> Result<(), String> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        change(&self.db)?;
        let (child, base, _) = start_confab(&self.db);
        (self.child, self.base) = (child, base);
        Ok(())
    }

    pub(crate) fn peak_rss(&self) -> f64 {
        peak_rss_mb(self.child.id()).unwrap_or(0.0)
    }

    async fn conferences(&self, n: usize, connections: usize) -> Vec<String> {
        create_conferences(&self.base, &self.key, n, connections).await
    }

    /// Full call cycles over `confs` for `seconds`, with the server's own timings around it.
    async fn cycle(&self, confs: &[String], seconds: u64, run: &str, opts: &Options) -> Cycled {
        let until = Instant::now() + Duration::from_secs(seconds);
        let source = Arc::new(Cycle::new(confs, run, until));
        let before = ServerTimes::read(&self.base).await;
        let bases = [self.base.clone()];
        let load = drive_source(&bases, &self.key, source.clone(), opts.connections, 0).await;
        let means = before.until(&ServerTimes::read(&self.base).await);
        Cycled {
            load,
            source,
            means,
        }
    }

    /// The conferences read through the API: progressing, no call joined.
    async fn idle(&self, confs: &[String]) -> Result<(), String> {
        let c = client();
        for conf in confs {
            let v = self.get_conference(&c, conf).await?;
            if v["conferencecall_ids"] != serde_json::json!([]) || v["status"] != "progressing" {
                return Err(format!("conference {conf} through the API: {v}"));
            }
        }
        Ok(())
    }

    async fn get_conference(&self, c: &reqwest::Client, conf: &str) -> Result<Value, String> {
        let r = c
            .get(format!("{}/v1.0/conferences/{conf}", self.base))
            .bearer_auth(&self.key)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !r.status().is_success() {
            return Err(format!("GET conference {conf}: {}", r.status()));
        }
        r.json().await.map_err(|e| e.to_string())
    }

    /// The final state, through the API and straight from the file, against `expected` calls
    /// per conference; prints what it found.
    pub(crate) async fn check(&self, what: &str, expected: &[(String, usize)]) -> bool {
        let confs: Vec<String> = expected.iter().map(|(c, _)| c.clone()).collect();
        let checked = match self.idle(&confs).await {
            Ok(()) => check_left_calls(&self.db, expected),
            Err(e) => Err(e),
        };
        match checked {
            Ok(n) => {
                println!("{what}: final state exact: {} conference(s), {n} calls, all left once, counters agree", confs.len());
                true
            }
            Err(e) => {
                println!("{what}: STATE MISMATCH: {e}");
                false
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A load of full call cycles, the calls it took, and the server's timings over it.
struct Cycled {
    load: LoadResult,
    source: Arc<Cycle>,
    means: crate::watch::ServerDelta,
}

impl Cycled {
    /// Calls per conference the load took, for the final-state check.
    fn expected(&self, confs: &[String], before: usize) -> Vec<(String, usize)> {
        let by = |k| before + self.source.taken_by(k);
        confs
            .iter()
            .enumerate()
            .map(|(k, c)| (c.clone(), by(k)))
            .collect()
    }
}

fn run_id(what: &str) -> String {
    format!("{what}{}", chrono::Utc::now().timestamp_millis())
}

/// Spread, hot or sustained: full call cycles over `n` new conferences for `seconds` on a
/// fresh server; one row.
async fn cycle_scenario(
    kind: Kind,
    n: usize,
    seconds: u64,
    opts: &Options,
    rows: &mut Vec<Outcome>,
) -> bool {
    println!(
        "\n-- {}: {n} conference(s), {} connections, {seconds} s",
        kind.name(),
        opts.connections
    );
    let server = Server::start().await;
    let confs = server.conferences(n, opts.connections).await;
    let watch = Watch::start(&server.db);
    let run = run_id("c");
    let cycled = server.cycle(&confs, seconds, &run, opts).await;
    let wal = watch.take_wal_mb();
    let row = Outcome::of_events(kind, &cycled.load, cycled.means, server.peak_rss(), wal);
    row.print();
    rows.push(row);
    let exact = server
        .check(&kind.name(), &cycled.expected(&confs, 0))
        .await;
    mark_state(rows, exact)
}

/// Puts the final state of a scenario on its last row; returns it.
fn mark_state(rows: &mut [Outcome], exact: bool) -> bool {
    if let Some(last) = rows.last_mut() {
        last.state = Some(exact);
    }
    exact
}

/// A conference holding `history_calls` left calls, seeded into the stopped server's file,
/// then the hot load on it in consecutive windows; one row per window.
async fn history(opts: &Options, rows: &mut Vec<Outcome>) -> bool {
    let calls = opts.history_calls;
    println!(
        "\n-- history: one conference holding {calls} left calls, {} windows of {} s",
        opts.history_windows, opts.window_seconds
    );
    let mut server = Server::start().await;
    let conf = server.conferences(1, 1).await;
    let seeding = Instant::now();
    if let Err(e) = server.restart_after(|db| seed_left_calls(db, &conf[0], calls)) {
        println!("history: cannot seed the left calls: {e}");
        return false;
    }
    report("seeded left calls (server stopped)", calls as f64, "");
    report("seeding took", seeding.elapsed().as_secs_f64(), "s");
    let watch = Watch::start(&server.db);
    let mut taken = calls;
    for w in 1..=opts.history_windows {
        let run = run_id(&format!("h{w}-"));
        let cycled = server.cycle(&conf, opts.window_seconds, &run, opts).await;
        taken += cycled.source.taken();
        let wal = watch.take_wal_mb();
        let kind = Kind::History(w, opts.history_windows);
        let row = Outcome::of_events(kind, &cycled.load, cycled.means, server.peak_rss(), wal);
        row.print();
        rows.push(row);
    }
    let exact = server.check("history", &[(conf[0].clone(), taken)]).await;
    mark_state(rows, exact)
}

/// A backlog of `prune_rows` old events (and half as many delivered messages) seeded into the
/// stopped server's file; the restarted server prunes it at start while the spread load runs
/// over `conferences` conferences: the load's latencies while it prunes, then how long the
/// pruning took. One row.
async fn prune(opts: &Options, rows: &mut Vec<Outcome>) -> bool {
    let n = opts.prune_rows;
    println!(
        "\n-- prune: spread over {} conferences while {n} old events and {} old messages are pruned",
        opts.conferences,
        n / 2
    );
    let mut server = Server::start().await;
    let confs = server.conferences(opts.conferences, opts.connections).await;
    if let Err(e) = server.restart_after(|db| seed_old_history(db, n)) {
        println!("prune: cannot seed the backlog: {e}");
        return false;
    }
    let started = Instant::now();
    let watch = Watch::start(&server.db);
    let run = run_id("p");
    let cycled = server.cycle(&confs, opts.window_seconds, &run, opts).await;
    let wal = watch.take_wal_mb();
    let row = Outcome::of_events(
        Kind::Pruning(n),
        &cycled.load,
        cycled.means,
        server.peak_rss(),
        wal,
    );
    row.print();
    report(
        "prune: slowest event during the load",
        cycled.load.event_latency.last().copied().unwrap_or(0) as f64 / 1000.0,
        "ms",
    );
    rows.push(row);
    let mut left = old_events_left(&server.db);
    while matches!(left, Ok(n) if n > 0) && started.elapsed() < Duration::from_secs(600) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        left = old_events_left(&server.db);
    }
    match left {
        Ok(0) => report(
            "prune: backlog gone after",
            started.elapsed().as_secs_f64(),
            "s",
        ),
        other => println!("prune: backlog not pruned: {other:?}"),
    }
    let exact = server.check("prune", &cycled.expected(&confs, 0)).await;
    mark_state(rows, exact)
}

/// One conference with `room_calls` calls joined at once, then all leaving, `room_rounds`
/// times; after the first round's joins, GETs of the conference while it holds them. Rows:
/// joins, leaves, reads.
async fn big_room(opts: &Options, rows: &mut Vec<Outcome>) -> bool {
    let (n, rounds) = (opts.room_calls, opts.room_rounds);
    println!("\n-- big room: {n} calls joined at once, then all leave, {rounds} round(s)");
    let server = Server::start().await;
    let conf = server.conferences(1, 1).await;
    let watch = Watch::start(&server.db);
    let (mut joins, mut leaves) = (Vec::new(), Vec::new());
    let mut reads = None;
    let mut exact = true;
    for round in 0..rounds {
        let run = run_id(&format!("b{round}-"));
        let join = Presigned::new(&conf, n, &run, &["call_joining", "call_joined"]);
        joins.push(room_phase(&server, join, opts).await);
        exact &= room_full(&server, &conf[0], n).await;
        if round == 0 {
            reads = Some(room_reads(&server, &conf, opts).await);
        }
        let leave = Presigned::new(&conf, n, &run, &["call_left"]);
        leaves.push(room_phase(&server, leave, opts).await);
    }
    let wal = watch.take_wal_mb();
    let rss = server.peak_rss();
    for (kind, phases) in [(Kind::RoomJoins, joins), (Kind::RoomLeaves, leaves)] {
        let row = Outcome::of_phases(kind, phases, rss, wal);
        row.print();
        rows.push(row);
    }
    if let Some(mut row) = reads {
        (row.rss_mb, row.wal_mb) = (rss, wal);
        row.print();
        rows.push(row);
    }
    exact &= server
        .check("big room", &[(conf[0].clone(), n * rounds)])
        .await;
    mark_state(rows, exact)
}

/// One phase of the big room: every call of `source` sent once, with the server's timings.
async fn room_phase(
    server: &Server,
    source: Presigned,
    opts: &Options,
) -> (LoadResult, crate::watch::ServerDelta) {
    let before = ServerTimes::read(&server.base).await;
    let bases = [server.base.clone()];
    let load = drive_source(&bases, &server.key, Arc::new(source), opts.connections, 0).await;
    (load, before.until(&ServerTimes::read(&server.base).await))
}

/// Whether the conference, read through the API, lists `n` joined calls.
async fn room_full(server: &Server, conf: &str, n: usize) -> bool {
    let listed = server
        .get_conference(&client(), conf)
        .await
        .map(|v| v["conferencecall_ids"].as_array().map_or(0, Vec::len));
    if listed != Ok(n) {
        println!(
            "big room: STATE MISMATCH: the conference lists {listed:?} joined calls, {n} joined"
        );
    }
    listed == Ok(n)
}

/// GETs of the full room for --read-seconds.
async fn room_reads(server: &Server, conf: &[String], opts: &Options) -> Outcome {
    let bases = [server.base.clone()];
    let (reads, took, lat, failed) = read_phase(
        &bases,
        &server.key,
        conf,
        opts.connections,
        opts.read_seconds,
    )
    .await;
    Outcome::of_reads(Kind::RoomReads, reads, took, &lat, failed)
}

/// This machine's ceilings, measured the same way as the main benchmark's.
async fn ceilings(connections: usize) -> Ceilings {
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
    Ceilings { sqlite, actix }
}
