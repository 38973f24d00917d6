//! Usage reports on a long history (issue 28): a customer with a million left calls asks for a
//! month's usage, alone and while one busy conference takes all the other connections; the
//! answer must equal a full scan of its calls, and its cost must not grow with them.

use crate::cluster::{Backend, PgDatabase};
use crate::load::{drive, drive_source, Cycle};
use crate::support::*;
use confab::domain::usage::shard_of;
use confab::domain::ConferenceId;
use serde_json::Value;
use std::process::Child;
use std::sync::Arc;
use std::time::{Duration, Instant};

const DAY_MICROS: i64 = 86_400_000_000;

pub struct Options {
    pub backend: Backend,
    /// Left calls seeded into the history conference, spread over the last 30 days.
    pub history: usize,
    /// Conferences and calls each driven through confab before the history is seeded.
    pub conferences: usize,
    pub calls: usize,
    pub connections: usize,
    /// Usage requests per measurement.
    pub queries: usize,
    /// Seconds of the busy conference beside the usage requests.
    pub hot_seconds: u64,
}

/// The database of the run: a SQLite file in a directory removed afterwards, or a fresh
/// PostgreSQL database dropped afterwards.
enum Db {
    Sqlite(TempDir),
    Postgres(PgDatabase),
}

impl Db {
    fn arg(&self) -> String {
        match self {
            Db::Sqlite(dir) => dir.path().join("usage.db").to_string_lossy().to_string(),
            Db::Postgres(pg) => pg.url(),
        }
    }
}

/// Runs the measurement; false if a figure confab answered differs from the scan of its rows.
pub async fn run(opts: &Options) -> bool {
    let db = match &opts.backend {
        Backend::Sqlite => Db::Sqlite(TempDir::new()),
        Backend::Postgres(server) => Db::Postgres(PgDatabase::create(server).or_die("database")),
    };
    println!(
        "confab-bench --usage: {}, {} conferences x {} calls through confab, then {} left calls of history in one conference, {} connections",
        opts.backend.name(),
        opts.conferences,
        opts.calls,
        opts.history,
        opts.connections
    );
    let (child, base, _) = start_confab(db.arg());
    let child = Running(child);
    let key = create_customer(&base).await;
    let confs = create_conferences(&base, &key, opts.conferences + 1, opts.connections).await;
    let (history, driven) = confs.split_first().or_die("conferences");
    let load = drive(
        std::slice::from_ref(&base),
        &key,
        driven,
        opts.calls,
        opts.connections,
        0,
        "usage",
    )
    .await;
    report(
        "calls through confab: events/s",
        load.events as f64 / load.elapsed.as_secs_f64(),
        "",
    );
    stop(child);
    let seeding = Instant::now();
    let db_arg = db.arg();
    let (hist, n) = (history.clone(), opts.history);
    tokio::task::spawn_blocking(move || seed(&db_arg, &hist, n))
        .await
        .or_die("seed thread")
        .or_die("seed history");
    report("history seeded in", seeding.elapsed().as_secs_f64(), "s");
    let (child, base, _) = start_confab(db.arg());
    let child = Running(child);
    let month = usage_path();
    let alone = timed_gets(&base, &key, &month, opts.queries).await;
    print_latency("month of usage, by day (alone)", &alone);
    let by_month = timed_gets(
        &base,
        &key,
        &format!("{month}&granularity=month"),
        opts.queries,
    )
    .await;
    print_latency("month of usage, by month (alone)", &by_month);
    let summary = timed_gets(
        &base,
        &key,
        &format!("/v1.0/conferences/{history}/summary"),
        5,
    )
    .await;
    print_latency("summary of the 1M-call conference", &summary);
    let busy = beside_busy_room(&base, &key, &driven[0], &month, opts).await;
    print_latency("month of usage, by day (busy room)", &busy);
    let exact = compare_with_scan(&base, &key, &db.arg(), &month).await
        && summary_is_exact(&base, &key, &db.arg(), history).await;
    stop(child);
    exact
}

/// `GET /v1.0/usage` for the 30 days ending today (UTC).
fn usage_path() -> String {
    let today = chrono::Utc::now().date_naive();
    let from = today - chrono::Days::new(29);
    format!("/v1.0/usage?from={from}&to={today}")
}

/// The server under test, killed when dropped, so a run that ends early leaves none behind.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn stop(child: Running) {
    drop(child);
}

/// Left calls in `conf`, call i leaving i × 2.59 s before now (so a million spread over 30
/// days) after staying 30 s to an hour; and the counters confab would have kept for them, on
/// the conference's shard, by the same rule (the day it left, whole seconds rounded down).
fn seed(db: &str, conf: &str, calls: usize) -> Result<(), String> {
    let now = chrono::Utc::now().timestamp_micros();
    let step = 30 * DAY_MICROS / calls.max(1) as i64;
    let shard = ConferenceId::parse(conf)
        .map(shard_of)
        .ok_or("conference id")?;
    if db.starts_with("postgres") {
        seed_postgres(db, conf, calls, now, step, shard)
    } else {
        seed_sqlite(db, conf, calls, now, step, shard)
    }
}

/// The rows, as one statement: `$calls`, `$now`, `$step`, `$conf` are bound by the caller.
fn call_rows(series: &str, p: [&str; 4]) -> String {
    let [calls, now, step, conf] = p;
    format!(
        "WITH n(i) AS ({series}), c(i, l, d) AS (SELECT i, {now} - i * {step}, \
         (30 + i % 3570) * 1000000 FROM n) \
         INSERT INTO conferencecalls (id, customer_id, conference_id, reference_id, status, \
            join_seq, tm_create, tm_update, tm_delete, tm_joined, tm_left) \
         SELECT '{{uuid}}', (SELECT customer_id FROM conferences WHERE id = {conf}), {conf}, \
            'hist-' || i, 'leaved', i, l - d, l, NULL, l - d, l FROM c WHERE i <= {calls}"
    )
}

const COUNTERS: &str = "INSERT INTO usage_days (customer_id, day, shard, conferences, calls, \
     participant_seconds, recording_seconds) \
     SELECT customer_id, tm_left / 86400000000, SHARD, 0, COUNT(*), \
        SUM((tm_left - tm_joined) / 1000000), 0 \
     FROM conferencecalls WHERE conference_id = {conf} AND reference_id LIKE 'hist-%' \
     GROUP BY customer_id, tm_left / 86400000000 \
     ON CONFLICT (customer_id, day, shard) DO UPDATE SET calls = usage_days.calls + excluded.calls, \
        participant_seconds = usage_days.participant_seconds + excluded.participant_seconds";

/// The conference's own totals (its summary), as confab keeps them on its row.
const TOTALS: &str = "UPDATE conferences SET \
     participant_seconds = participant_seconds + (SELECT CAST(SUM((tm_left - tm_joined) / 1000000) AS BIGINT) \
        FROM conferencecalls WHERE conference_id = {conf} AND reference_id LIKE 'hist-%'), \
     join_seq_last = join_seq_last + (SELECT COUNT(*) FROM conferencecalls \
        WHERE conference_id = {conf} AND reference_id LIKE 'hist-%'), \
     max_concurrent = CASE WHEN max_concurrent < 1 THEN 1 ELSE max_concurrent END \
     WHERE id = {conf}";

fn seed_sqlite(
    db: &str,
    conf: &str,
    calls: usize,
    now: i64,
    step: i64,
    shard: i32,
) -> Result<(), String> {
    let conn = rusqlite::Connection::open(db).map_err(|e| e.to_string())?;
    conn.execute_batch(
        "PRAGMA journal_mode=DELETE; PRAGMA synchronous=OFF; PRAGMA cache_size=-262144;",
    )
    .map_err(|e| e.to_string())?;
    let rows = call_rows(
        "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < ?1) SELECT i FROM k",
        ["?1", "?2", "?3", "?4"],
    )
    .replace("'{uuid}'", "printf('%08x-%04x-7000-8000-%012x', (l / 1000) >> 16, (l / 1000) & 65535, i)");
    let tx = conn.unchecked_transaction().map_err(|e| e.to_string())?;
    tx.execute(&rows, rusqlite::params![calls as i64, now, step, conf])
        .map_err(|e| format!("seed calls: {e}"))?;
    let counters = COUNTERS
        .replace("SHARD", &shard.to_string())
        .replace("{conf}", "?1");
    tx.execute(&counters, [conf])
        .map_err(|e| format!("seed counters: {e}"))?;
    tx.execute(&TOTALS.replace("{conf}", "?1"), [conf])
        .map_err(|e| format!("seed totals: {e}"))?;
    tx.commit().map_err(|e| e.to_string())?;
    conn.query_row("PRAGMA journal_mode=WAL", [], |_| Ok(()))
        .map_err(|e| e.to_string())
}

fn seed_postgres(
    db: &str,
    conf: &str,
    calls: usize,
    now: i64,
    step: i64,
    shard: i32,
) -> Result<(), String> {
    let mut c = postgres::Client::connect(db, postgres::NoTls).map_err(|e| e.to_string())?;
    let rows = call_rows(
        "SELECT generate_series(1, $1::BIGINT)",
        ["$1", "$2::BIGINT", "$3::BIGINT", "$4::TEXT"],
    )
    .replace("'{uuid}'", "gen_random_uuid()::TEXT");
    let mut tx = c.transaction().map_err(|e| e.to_string())?;
    tx.execute(&rows, &[&(calls as i64), &now, &step, &conf])
        .map_err(|e| format!("seed calls: {e}"))?;
    let counters = COUNTERS
        .replace("SHARD", &shard.to_string())
        .replace("{conf}", "$1");
    tx.execute(&counters, &[&conf])
        .map_err(|e| format!("seed counters: {e}"))?;
    tx.execute(&TOTALS.replace("{conf}", "$1"), &[&conf])
        .map_err(|e| format!("seed totals: {e}"))?;
    tx.commit().map_err(|e| e.to_string())?;
    c.batch_execute("ANALYZE").map_err(|e| e.to_string())
}

/// `n` sequential GETs of `path`; their latencies in µs, sorted. Ends the run on an error.
async fn timed_gets(base: &str, key: &str, path: &str, n: usize) -> Vec<u32> {
    let c = client();
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let res = c
            .get(format!("{base}{path}"))
            .bearer_auth(key)
            .send()
            .await
            .or_die("usage request");
        let status = res.status();
        let body = res.bytes().await.or_die("usage body");
        if !status.is_success() {
            eprintln!(
                "confab-bench: GET {path}: {status} {}",
                String::from_utf8_lossy(&body)
            );
            std::process::exit(1);
        }
        times.push(t.elapsed().as_micros() as u32);
    }
    times.sort_unstable();
    times
}

/// The usage requests while every other connection cycles calls through one conference.
async fn beside_busy_room(
    base: &str,
    key: &str,
    hot: &str,
    path: &str,
    opts: &Options,
) -> Vec<u32> {
    let until = Instant::now() + Duration::from_secs(opts.hot_seconds);
    let cycle = Arc::new(Cycle::new(&[hot.to_string()], "busy", until));
    let bases = [base.to_string()];
    let load = tokio::spawn({
        let (bases, key, cycle) = (bases.clone(), key.to_string(), cycle.clone());
        let connections = opts.connections.saturating_sub(1).max(1);
        async move { drive_source(&bases, &key, cycle, connections, 0).await }
    });
    let mut times = Vec::new();
    while Instant::now() < until {
        times.extend(timed_gets(base, key, path, 10).await);
    }
    let load = load.await.or_die("busy room");
    report(
        "busy room beside them: events/s",
        load.events as f64 / load.elapsed.as_secs_f64(),
        "",
    );
    times.sort_unstable();
    times
}

fn print_latency(what: &str, sorted: &[u32]) {
    // `percentile` answers in ms of µs samples.
    let ms = |p| percentile(sorted, p);
    println!(
        "{what:<44} p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms  ({} requests)",
        ms(0.50),
        ms(0.99),
        sorted.last().copied().unwrap_or(0) as f64 / 1000.0,
        sorted.len()
    );
}

/// The report's totals against a scan of every left call and conference (what a report
/// without counters would cost, timed); true when they are equal.
async fn compare_with_scan(base: &str, key: &str, db: &str, path: &str) -> bool {
    let v: Value = client()
        .get(format!("{base}{path}"))
        .bearer_auth(key)
        .send()
        .await
        .or_die("usage")
        .json()
        .await
        .or_die("usage json");
    let rows = v["result"].as_array().cloned().unwrap_or_default();
    let sum = |f: &str| rows.iter().map(|r| r[f].as_i64().unwrap_or(0)).sum::<i64>();
    let answered = [sum("conferences"), sum("calls"), sum("participant_seconds")];
    let from = chrono::Utc::now().timestamp_micros().div_euclid(DAY_MICROS) - 29;
    let started = Instant::now();
    let db = db.to_string();
    let scanned = tokio::task::spawn_blocking(move || scan(&db, from))
        .await
        .or_die("scan thread")
        .or_die("scan");
    report(
        "the same from a scan of every call",
        started.elapsed().as_secs_f64() * 1000.0,
        "ms",
    );
    let exact = answered == scanned;
    println!(
        "exact: {exact} (conferences, calls, participant seconds: confab {answered:?}, scan {scanned:?})"
    );
    exact
}

/// The history conference's summary against a scan of its calls.
async fn summary_is_exact(base: &str, key: &str, db: &str, conf: &str) -> bool {
    let path = format!("{base}/v1.0/conferences/{conf}/summary");
    let v: Value = client()
        .get(path)
        .bearer_auth(key)
        .send()
        .await
        .or_die("summary")
        .json()
        .await
        .or_die("summary json");
    let answered = [
        v["unique_calls"].as_i64().unwrap_or(-1),
        v["participant_seconds"].as_i64().unwrap_or(-1),
    ];
    let (db, conf) = (db.to_string(), conf.to_string());
    let scanned = tokio::task::spawn_blocking(move || scan_conference(&db, &conf))
        .await
        .or_die("scan thread")
        .or_die("scan");
    let exact = answered == scanned;
    println!("summary exact: {exact} (calls, participant seconds: confab {answered:?}, scan {scanned:?})");
    exact
}

const SCAN_CONFERENCE: &str = "SELECT CAST(COUNT(*) AS BIGINT), \
     CAST(COALESCE(SUM((tm_left - tm_joined) / 1000000), 0) AS BIGINT) \
     FROM conferencecalls WHERE conference_id = {conf} AND tm_joined IS NOT NULL";

fn scan_conference(db: &str, conf: &str) -> Result<[i64; 2], String> {
    if db.starts_with("postgres") {
        let mut c = postgres::Client::connect(db, postgres::NoTls).map_err(|e| e.to_string())?;
        let r = c
            .query_one(&SCAN_CONFERENCE.replace("{conf}", "$1"), &[&conf])
            .map_err(|e| e.to_string())?;
        Ok([r.get(0), r.get(1)])
    } else {
        let conn = rusqlite::Connection::open(db).map_err(|e| e.to_string())?;
        conn.query_row(&SCAN_CONFERENCE.replace("{conf}", "?1"), [conf], |r| {
            Ok([r.get(0)?, r.get(1)?])
        })
        .map_err(|e| e.to_string())
    }
}

const SCAN_CALLS: &str = "SELECT CAST(COUNT(*) AS BIGINT), \
     CAST(COALESCE(SUM((tm_left - tm_joined) / 1000000), 0) AS BIGINT) \
     FROM conferencecalls WHERE tm_joined IS NOT NULL AND tm_left IS NOT NULL \
     AND tm_left >= FROM_DAY * 86400000000";
const SCAN_CONFERENCES: &str =
    "SELECT CAST(COUNT(*) AS BIGINT) FROM conferences WHERE tm_create >= FROM_DAY * 86400000000";

fn scan(db: &str, from_day: i64) -> Result<[i64; 3], String> {
    let calls = SCAN_CALLS.replace("FROM_DAY", &from_day.to_string());
    let confs = SCAN_CONFERENCES.replace("FROM_DAY", &from_day.to_string());
    if db.starts_with("postgres") {
        let mut c = postgres::Client::connect(db, postgres::NoTls).map_err(|e| e.to_string())?;
        let r = c.query_one(&calls, &[]).map_err(|e| e.to_string())?;
        let n: i64 = c.query_one(&confs, &[]).map_err(|e| e.to_string())?.get(0);
        Ok([n, r.get(0), r.get(1)])
    } else {
        let conn = rusqlite::Connection::open(db).map_err(|e| e.to_string())?;
        let (count, seconds): (i64, i64) = conn
            .query_row(&calls, [], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| e.to_string())?;
        let n: i64 = conn
            .query_row(&confs, [], |r| r.get(0))
            .map_err(|e| e.to_string())?;
        Ok([n, count, seconds])
    }
}
