//! The hot-conference scenarios' results: one row per load, the targets beside them,
//! and the machine's ceilings of the same run, as a Markdown table for BENCHMARKS.md.

use crate::load::LoadResult;
use crate::scenarios::Options;
use crate::support::{percentile, report};
use crate::watch::ServerDelta;
use std::time::Duration;

/// The targets, on this machine's two cores.
const SPREAD_EVENTS: f64 = 12_000.0;
const SPREAD_P99_MS: f64 = 25.0;
const HOT_SHARE: f64 = 0.8;
const HISTORY_KEEP: f64 = 0.9;
const ROOM_READS: f64 = 2_000.0;
const WAL_MB: f64 = 64.0;
const RSS_MB: f64 = 150.0;

/// What a row measured.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Spread,
    Hot,
    /// Window w of n on the long history.
    History(usize, usize),
    /// The spread load while a backlog of this many old events is pruned.
    Pruning(usize),
    RoomJoins,
    RoomLeaves,
    RoomReads,
    Sustained,
}

impl Kind {
    pub fn name(&self) -> String {
        match self {
            Kind::Spread => "spread".into(),
            Kind::Hot => "hot".into(),
            Kind::History(w, n) => format!("history, window {w} of {n}"),
            Kind::Pruning(n) => format!("spread, pruning {n} old events"),
            Kind::RoomJoins => "big room, joins".into(),
            Kind::RoomLeaves => "big room, leaves".into(),
            Kind::RoomReads => "big room, reads".into(),
            Kind::Sustained => "sustained".into(),
        }
    }
}

/// One load's figures and what was sampled beside it.
pub struct Outcome {
    pub kind: Kind,
    /// Events (or reads) answered per second.
    pub rate: f64,
    pub count: usize,
    pub seconds: f64,
    pub p50: f64,
    pub p99: f64,
    pub failures: usize,
    pub server_errors: usize,
    /// The server's own timings (event loads only).
    pub server: Option<ServerDelta>,
    /// The server's peak RSS (VmHWM) and the largest WAL sampled, in MiB.
    pub rss_mb: f64,
    pub wal_mb: f64,
    /// The final state, checked after the scenario's last load (on its last row).
    pub state: Option<bool>,
}

impl Outcome {
    pub fn of_events(
        kind: Kind,
        l: &LoadResult,
        s: ServerDelta,
        rss_mb: f64,
        wal_mb: f64,
    ) -> Outcome {
        let secs = l.elapsed.as_secs_f64();
        Outcome {
            kind,
            rate: l.events as f64 / secs,
            count: l.events,
            seconds: secs,
            p50: percentile(&l.event_latency, 0.50),
            p99: percentile(&l.event_latency, 0.99),
            failures: l.failures,
            server_errors: l.server_errors,
            server: Some(s),
            rss_mb,
            wal_mb,
            state: None,
        }
    }

    /// Several phases of one kind taken together: their events over their summed time.
    pub fn of_phases(
        kind: Kind,
        phases: Vec<(LoadResult, ServerDelta)>,
        rss: f64,
        wal: f64,
    ) -> Outcome {
        let mut all = LoadResult {
            events: 0,
            reads: 0,
            elapsed: Duration::ZERO,
            event_latency: Vec::new(),
            read_latency: Vec::new(),
            failures: 0,
            server_errors: 0,
        };
        let mut server = ServerDelta::default();
        for (l, s) in phases {
            all.events += l.events;
            all.elapsed += l.elapsed;
            all.event_latency.extend(l.event_latency);
            all.failures += l.failures;
            all.server_errors += l.server_errors;
            server = server + s;
        }
        all.event_latency.sort_unstable();
        Outcome::of_events(kind, &all, server, rss, wal)
    }

    pub fn of_reads(
        kind: Kind,
        reads: usize,
        took: Duration,
        lat: &[u32],
        failed: usize,
    ) -> Outcome {
        Outcome {
            kind,
            // Failed reads are counted apart, not as reads.
            rate: reads.saturating_sub(failed) as f64 / took.as_secs_f64(),
            count: reads,
            seconds: took.as_secs_f64(),
            p50: percentile(lat, 0.50),
            p99: percentile(lat, 0.99),
            failures: failed,
            server_errors: 0,
            server: None,
            rss_mb: 0.0,
            wal_mb: 0.0,
            state: None,
        }
    }

    pub fn print(&self) {
        let name = self.kind.name();
        let unit = if self.kind == Kind::RoomReads {
            "reads"
        } else {
            "events"
        };
        println!(
            "{name}: {} {unit} in {:.2} s, {} failures ({} 5xx)",
            self.count, self.seconds, self.failures, self.server_errors
        );
        report(&format!("{name}: {unit} per second"), self.rate, "/s");
        report(&format!("{name}: latency p50"), self.p50, "ms");
        report(&format!("{name}: latency p99"), self.p99, "ms");
        if let Some(s) = &self.server {
            report(
                &format!("{name}: server apply per event"),
                s.apply_us(),
                "µs",
            );
            report(&format!("{name}: server commit"), s.commit_us(), "µs");
            report(&format!("{name}: server writes per commit"), s.batch(), "");
        }
        report(
            &format!("{name}: server peak RSS (VmHWM)"),
            self.rss_mb,
            "MB",
        );
        report(&format!("{name}: largest WAL sampled"), self.wal_mb, "MB");
    }
}

/// This machine's ceilings measured in the same run.
#[derive(Clone, Copy, Debug)]
pub struct Ceilings {
    pub sqlite: f64,
    pub actix: f64,
}

/// The table, ready for BENCHMARKS.md, then whether each target is met.
pub fn print_table(opts: &Options, rows: &[Outcome], ceilings: Option<Ceilings>) {
    println!(
        "\n-- hot conferences, long histories, big rooms: SQLite, {} connections\n",
        opts.connections
    );
    println!("| load | rate | p50 / p99 | × spread | server apply / commit, writes per commit | peak RSS | max WAL | failures (5xx) | final state | target | met |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    let spread = rows.iter().find(|r| r.kind == Kind::Spread).map(|r| r.rate);
    let first_window = rows
        .iter()
        .find(|r| matches!(r.kind, Kind::History(1, _)))
        .map(|r| r.rate);
    for r in rows {
        let unit = if r.kind == Kind::RoomReads {
            "reads/s"
        } else {
            "events/s"
        };
        let mut ratio = match (spread, r.kind) {
            (_, Kind::Spread | Kind::RoomReads) | (None, _) => "–".to_string(),
            (Some(s), _) => format!("{:.2}", r.rate / s),
        };
        // Later history windows against the first: whether the same load slowed as the
        // history grew.
        if let (Kind::History(w, _), Some(first)) = (r.kind, first_window) {
            if w > 1 {
                ratio.push_str(&format!(" ({:.2} × window 1)", r.rate / first));
            }
        }
        let server = r.server.map_or("–".to_string(), |s| {
            format!(
                "{:.0} / {:.0} µs, {:.1}",
                s.apply_us(),
                s.commit_us(),
                s.batch()
            )
        });
        let state = match r.state {
            Some(true) => "exact",
            Some(false) => "MISMATCH",
            None => "",
        };
        let (target, met) = judge(r, spread, first_window);
        println!(
            "| {} | {} {unit} | {:.1} / {:.1} ms | {ratio} | {server} | {:.1} MB | {:.1} MB | {} ({}) | {state} | {target} | {met} |",
            r.kind.name(), thousands(r.rate), r.p50, r.p99, r.rss_mb, r.wal_mb, r.failures, r.server_errors
        );
    }
    if let Some(c) = ceilings {
        let of = |x: f64, c: f64| format!("{:.0} %", 100.0 * x / c);
        let s = spread.unwrap_or(0.0);
        println!(
            "| ceiling: raw SQLite event writes (batch 64) | {}/s | | spread at {} | | | | | | | |",
            thousands(c.sqlite),
            of(s, c.sqlite)
        );
        println!(
            "| ceiling: trivial actix-web JSON endpoint | {}/s | | spread at {} | | | | | | | |",
            thousands(c.actix),
            of(s, c.actix)
        );
    }
    println!("\nEvery row is also held to WAL ≤ {WAL_MB} MB and RSS ≤ {RSS_MB} MB (MB = MiB); \"met\" names what failed.");
}

/// A row's target and whether it is met; the WAL and memory bounds apply to every row.
fn judge(r: &Outcome, spread: Option<f64>, first_window: Option<f64>) -> (String, String) {
    let mut missed = Vec::new();
    let mut need = |ok: bool, what: String| {
        if !ok {
            missed.push(what)
        }
    };
    let share = |s: Option<f64>| s.map(|s| r.rate / s);
    let target = match r.kind {
        Kind::Spread => {
            need(
                r.rate >= SPREAD_EVENTS,
                format!("{} < 12,000/s", thousands(r.rate)),
            );
            need(r.p99 <= SPREAD_P99_MS, format!("p99 {:.1} > 25 ms", r.p99));
            "≥ 12,000 events/s, p99 ≤ 25 ms".to_string()
        }
        Kind::Hot | Kind::RoomJoins | Kind::RoomLeaves => {
            let x = share(spread);
            need(
                x.is_some_and(|x| x >= HOT_SHARE),
                format!("{} × spread", fmt2(x)),
            );
            "≥ 0.8 × spread".to_string()
        }
        Kind::History(w, n) if w == n && w > 1 => {
            let (x, y) = (share(first_window), share(spread));
            need(
                x.is_some_and(|x| x >= HISTORY_KEEP),
                format!("{} × window 1", fmt2(x)),
            );
            need(
                y.is_some_and(|y| y >= HOT_SHARE),
                format!("{} × spread", fmt2(y)),
            );
            "≥ 0.9 × window 1, ≥ 0.8 × spread".to_string()
        }
        Kind::History(..) => "–".to_string(),
        Kind::Pruning(_) => {
            need(r.p99 <= SPREAD_P99_MS, format!("p99 {:.1} > 25 ms", r.p99));
            "p99 ≤ 25 ms".to_string()
        }
        Kind::RoomReads => {
            need(
                r.rate >= ROOM_READS,
                format!("{} < 2,000/s", thousands(r.rate)),
            );
            "≥ 2,000 reads/s".to_string()
        }
        Kind::Sustained => "WAL ≤ 64 MB, RSS ≤ 150 MB".to_string(),
    };
    need(r.wal_mb <= WAL_MB, format!("WAL {:.1} MB", r.wal_mb));
    need(r.rss_mb <= RSS_MB, format!("RSS {:.1} MB", r.rss_mb));
    need(
        r.server_errors == 0 && r.state != Some(false),
        "state or 5xx".to_string(),
    );
    let met = if missed.is_empty() {
        "yes".to_string()
    } else {
        format!("**no**: {}", missed.join(", "))
    };
    (target, met)
}

fn fmt2(x: Option<f64>) -> String {
    x.map_or("?".to_string(), |x| format!("{x:.2}"))
}

/// 12345.6 as "12,346".
pub fn thousands(x: f64) -> String {
    let digits = format!("{:.0}", x.max(0.0));
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}
