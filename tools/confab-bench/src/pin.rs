//! PIN joins (issue 24, SPEC §13): conferences whose `pre_actions` start with the shipped flow
//! `pin`, so every join pauses for the caller's digits before it joins. A PIN call runs
//! `call_joining` (answered with `digits_receive` and `"pause": 1`), `call_digits_received`
//! with a wrong PIN for every `--pin-wrong-every`th call (answered with the next pause), then
//! with the right one (answered with `conference_join`), `call_joined` and `call_left`. The
//! same load runs on plain conferences (the seed's, without the flow), each load on a fresh
//! server with the repo's flows directory; then one busy conference of each kind is cycled by
//! every connection in consecutive windows, so a cost that grows with its history shows as a
//! falling rate.

use crate::load::verify;
use crate::scenarios::Server;
use crate::support::*;
use crate::watch::{ServerDelta, ServerTimes};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The PIN every PIN room has, and the wrong one some callers enter first.
pub const PIN: &str = "4711";
pub const WRONG_PIN: &str = "0000";

/// The sizes, from the command line.
#[derive(Clone, Debug)]
pub struct Options {
    pub conferences: usize,
    /// Calls per conference in the spread loads.
    pub calls: usize,
    pub connections: usize,
    /// Every n-th call enters a wrong PIN before the right one; 0: none does.
    pub wrong_every: usize,
    /// Plain and PIN loads, alternating which goes first; 0: only the busy conferences.
    pub rounds: usize,
    /// Seconds each busy conference is cycled; 0 skips the busy conferences.
    pub hot_seconds: u64,
    /// Windows the busy run is cut into.
    pub windows: usize,
    /// The busy conferences, in the order they run: `false` plain, `true` PIN.
    pub hot_pin: Vec<bool>,
    /// The flows directory given to the server (it must hold pin.json).
    pub flows_dir: PathBuf,
}

/// The flows directory of this repository, as it was when the bench was built.
pub fn repo_flows_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../flows")
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Room {
    Plain,
    Pin,
}

impl Room {
    fn name(self) -> &'static str {
        match self {
            Room::Plain => "plain",
            Room::Pin => "PIN",
        }
    }

    /// The seed's conference; a PIN room also has `data.pin` and the flow `pin` first, as the
    /// flow's description asks (the greeting then plays only to callers who got in).
    fn body(self, i: usize) -> Value {
        let mut body = seed_body(i);
        if self == Room::Pin {
            body["data"] = json!({ "pin": PIN });
            if let Some(pre) = body["pre_actions"].as_array_mut() {
                pre.insert(0, json!({"type": "flow", "option": {"name": "pin"}}));
            }
        }
        body
    }
}

/// What an event's answer must say, checked on the body's bytes (no JSON parse per event).
#[derive(Clone, Copy, Debug)]
enum Expect {
    /// Only the status (`call_joined`, `call_left`).
    Status,
    /// The call joins: a `conference_join` action, no pause.
    Joins,
    /// Pause number n: a `digits_receive` action, `"pause": n`, no `conference_join` yet.
    Pauses(u32),
}

impl Expect {
    fn check(self, body: &[u8]) -> Result<(), String> {
        let has = |s: &str| body.windows(s.len()).any(|w| w == s.as_bytes());
        let join = has(r#""type":"conference_join""#);
        let ok = match self {
            Expect::Status => true,
            Expect::Joins => join && !has(r#""pause":"#),
            Expect::Pauses(n) => {
                !join
                    && has(r#""type":"digits_receive""#)
                    && (has(&format!(r#""pause":{n}}}"#)) || has(&format!(r#""pause":{n},"#)))
            }
        };
        if ok {
            return Ok(());
        }
        Err(format!(
            "expected {self:?}, got {}",
            String::from_utf8_lossy(body)
        ))
    }
}

/// The events measured apart, in the order a call sends them.
const KINDS: [&str; 5] = [
    "call_joining",
    "call_digits_received, wrong PIN",
    "call_digits_received, right PIN",
    "call_joined",
    "call_left",
];
const JOINING: usize = 0;
const WRONG: usize = 1;
const RIGHT: usize = 2;
const JOINED: usize = 3;
const LEFT: usize = 4;

/// One event of a call, signed, with what its answer must say.
struct Step {
    kind: usize,
    expect: Expect,
    event: SignedEvent,
}

/// Whether call number `i` (counted over the whole load) enters a wrong PIN first.
fn wrong_first(i: usize, every: usize) -> bool {
    every > 0 && i % every == every - 1
}

/// How many of calls 0..n enter a wrong PIN first.
fn wrong_count(n: usize, every: usize) -> usize {
    n.checked_div(every).unwrap_or(0)
}

/// A call's events in sending order. Event ids are the call's id and the event's place (the
/// digits events by the pause they answer), so they are unique as long as call ids are.
fn call_steps(room: Room, call: &str, conf: &str, wrong: bool) -> Vec<Step> {
    let data = json!({"call_id": call, "conference_id": conf});
    let step = |kind, expect, tail: &str, event_type: &str, data: Value| Step {
        kind,
        expect,
        event: signed_event(&format!("{call}-{tail}"), event_type, data),
    };
    let digits = |digits: &str, pause: u32| {
        let mut d = data.clone();
        d["digits"] = json!(digits);
        d["pause"] = json!(pause);
        d
    };
    let mut steps = Vec::with_capacity(6);
    match room {
        Room::Plain => steps.push(step(
            JOINING,
            Expect::Joins,
            "call_joining",
            "call_joining",
            data.clone(),
        )),
        Room::Pin => {
            let joining = data.clone();
            steps.push(step(
                JOINING,
                Expect::Pauses(1),
                "call_joining",
                "call_joining",
                joining,
            ));
            let mut pause = 1;
            if wrong {
                let d = digits(WRONG_PIN, pause);
                let tail = format!("digits-{pause}");
                steps.push(step(
                    WRONG,
                    Expect::Pauses(pause + 1),
                    &tail,
                    "call_digits_received",
                    d,
                ));
                pause += 1;
            }
            let d = digits(PIN, pause);
            let tail = format!("digits-{pause}");
            steps.push(step(RIGHT, Expect::Joins, &tail, "call_digits_received", d));
        }
    }
    steps.push(step(
        JOINED,
        Expect::Status,
        "call_joined",
        "call_joined",
        data.clone(),
    ));
    steps.push(step(LEFT, Expect::Status, "call_left", "call_left", data));
    steps
}

/// Where the connections take their next call from; None when the load is over.
trait Calls: Send + Sync {
    fn next_call(&self) -> Option<Vec<Step>>;
}

/// `calls` calls per conference, conference after conference (the main benchmark's order),
/// all signed before the clock starts; each taken once. Call ids are `{run}-{conf}-{j}`.
struct Presigned {
    calls: Vec<Mutex<Vec<Step>>>,
    next: AtomicUsize,
}

impl Presigned {
    fn new(room: Room, confs: &[String], calls: usize, run: &str, wrong_every: usize) -> Self {
        let calls = confs
            .iter()
            .flat_map(|c| (0..calls).map(move |j| (c, j)))
            .enumerate()
            .map(|(i, (conf, j))| {
                let call = format!("{run}-{conf}-{j}");
                Mutex::new(call_steps(room, &call, conf, wrong_first(i, wrong_every)))
            })
            .collect();
        Presigned {
            calls,
            next: AtomicUsize::new(0),
        }
    }
}

impl Calls for Presigned {
    fn next_call(&self) -> Option<Vec<Step>> {
        let call = self.calls.get(self.next.fetch_add(1, Ordering::Relaxed))?;
        call.lock().map(|mut s| std::mem::take(&mut *s)).ok()
    }
}

/// Calls on one conference until `until`, numbered on from `first` (so consecutive windows of
/// one run never reuse a call id), each signed as it is taken: a load bounded by time has no
/// length known in advance (as the issue-13 scenarios' `Cycle`). Call ids are `{run}-{i}`.
struct Cycled {
    room: Room,
    conf: String,
    run: String,
    until: Instant,
    first: usize,
    wrong_every: usize,
    next: AtomicUsize,
}

impl Cycled {
    fn taken(&self) -> usize {
        self.next.load(Ordering::Relaxed)
    }
}

impl Calls for Cycled {
    fn next_call(&self) -> Option<Vec<Step>> {
        if Instant::now() >= self.until {
            return None;
        }
        let i = self.first + self.next.fetch_add(1, Ordering::Relaxed);
        let call = format!("{}-{i}", self.run);
        let wrong = wrong_first(i, self.wrong_every);
        Some(call_steps(self.room, &call, &self.conf, wrong))
    }
}

/// What a load measured on the generator's side.
#[derive(Default)]
struct Driven {
    calls: usize,
    /// Latencies in µs by kind (KINDS), sorted once the load is over.
    by_kind: [Vec<u32>; 5],
    failures: usize,
    server_errors: usize,
    wrong_answers: usize,
    first_wrong: Option<String>,
    elapsed: Duration,
}

impl Driven {
    fn events(&self) -> usize {
        self.by_kind.iter().map(Vec::len).sum()
    }

    fn all_latencies(&self) -> Vec<u32> {
        let mut all: Vec<u32> = self.by_kind.iter().flatten().copied().collect();
        all.sort_unstable();
        all
    }

    fn merge(&mut self, o: Driven) {
        self.calls += o.calls;
        for (mine, theirs) in self.by_kind.iter_mut().zip(o.by_kind) {
            mine.extend(theirs);
        }
        self.failures += o.failures;
        self.server_errors += o.server_errors;
        self.wrong_answers += o.wrong_answers;
        self.first_wrong = self.first_wrong.take().or(o.first_wrong);
    }
}

/// `connections` connections taking calls from `source` until it has none left, each sending
/// a call's events in order and checking each answer.
async fn drive(base: &str, source: Arc<dyn Calls>, connections: usize) -> Driven {
    let started = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            let (base, source) = (base.to_string(), source.clone());
            tokio::spawn(async move { drive_connection(&base, source.as_ref()).await })
        })
        .collect();
    let mut total = Driven::default();
    for t in tasks {
        if let Ok(done) = t.await {
            total.merge(done);
        }
    }
    total.elapsed = started.elapsed();
    for lat in &mut total.by_kind {
        lat.sort_unstable();
    }
    total
}

async fn drive_connection(base: &str, source: &dyn Calls) -> Driven {
    let c = client();
    let mut d = Driven::default();
    while let Some(steps) = source.next_call() {
        d.calls += 1;
        for Step {
            kind,
            expect,
            event,
        } in steps
        {
            let t = Instant::now();
            let sent = send_event_checked(&c, base, event, |b| expect.check(b)).await;
            d.by_kind[kind].push(t.elapsed().as_micros() as u32);
            match sent {
                Ok((200, None)) => {}
                Ok((200, Some(wrong))) => {
                    d.wrong_answers += 1;
                    d.first_wrong
                        .get_or_insert(format!("{}: {wrong}", KINDS[kind]));
                }
                Ok((s, _)) if s >= 500 => {
                    d.failures += 1;
                    d.server_errors += 1;
                }
                _ => d.failures += 1,
            }
        }
    }
    d
}

/// The server's counters around a load: its histograms (commits, apply time by event type)
/// and the CPU it and the generator used.
struct Sample {
    times: ServerTimes,
    apply: BTreeMap<String, (f64, f64)>,
    server_cpu: f64,
    generator_cpu: f64,
    machine_cpu: f64,
}

impl Sample {
    async fn take(server: &Server) -> Sample {
        Sample {
            times: ServerTimes::read(&server.base).await,
            apply: apply_by_type(&server.base).await,
            server_cpu: cpu_seconds(&server.child.id().to_string()),
            generator_cpu: cpu_seconds("self"),
            machine_cpu: machine_busy_seconds(),
        }
    }
}

/// `confab_platform_event_apply_seconds` by event type: (sum in seconds, count).
async fn apply_by_type(base: &str) -> BTreeMap<String, (f64, f64)> {
    let text = match reqwest::get(format!("{base}/metrics")).await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    };
    let mut by = BTreeMap::new();
    for (suffix, sum) in [("_sum", true), ("_count", false)] {
        let prefix = format!("confab_platform_event_apply_seconds{suffix}{{type=\"");
        for line in text.lines() {
            let Some(rest) = line.strip_prefix(&prefix) else {
                continue;
            };
            let Some((kind, rest)) = rest.split_once('"') else {
                continue;
            };
            let Some(v) = rest.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()) else {
                continue;
            };
            let e: &mut (f64, f64) = by.entry(kind.to_string()).or_default();
            if sum {
                e.0 = v;
            } else {
                e.1 = v;
            }
        }
    }
    by
}

/// One load's figures.
struct Row {
    room: Room,
    /// "round 1", "window 3 of 6".
    label: String,
    driven: Driven,
    server: ServerDelta,
    /// Mean apply time in µs by event type, over this load.
    apply_us: BTreeMap<String, f64>,
    server_cores: f64,
    generator_cores: f64,
    /// The rest of the machine's busy time: the kernel's networking, and any other process.
    rest_cores: f64,
    server_cpu_s: f64,
    rss_mb: f64,
}

impl Row {
    async fn measure(
        room: Room,
        label: String,
        server: &Server,
        source: Arc<dyn Calls>,
        connections: usize,
    ) -> Row {
        let before = Sample::take(server).await;
        let driven = drive(&server.base, source, connections).await;
        let after = Sample::take(server).await;
        let wall = driven.elapsed.as_secs_f64().max(1e-9);
        let apply_us = after
            .apply
            .iter()
            .map(|(kind, (sum, n))| {
                let (s0, n0) = before.apply.get(kind).copied().unwrap_or_default();
                let n = n - n0;
                let mean = if n > 0.0 { 1e6 * (sum - s0) / n } else { 0.0 };
                (kind.clone(), mean)
            })
            .collect();
        let server_cpu_s = after.server_cpu - before.server_cpu;
        let generator_cpu_s = after.generator_cpu - before.generator_cpu;
        let machine_cpu_s = after.machine_cpu - before.machine_cpu;
        Row {
            room,
            label,
            server: before.times.until(&after.times),
            apply_us,
            server_cores: server_cpu_s / wall,
            generator_cores: generator_cpu_s / wall,
            rest_cores: (machine_cpu_s - server_cpu_s - generator_cpu_s).max(0.0) / wall,
            server_cpu_s,
            rss_mb: server.peak_rss(),
            driven,
        }
    }

    fn secs(&self) -> f64 {
        self.driven.elapsed.as_secs_f64().max(1e-9)
    }

    fn events_per_s(&self) -> f64 {
        self.driven.events() as f64 / self.secs()
    }

    fn calls_per_s(&self) -> f64 {
        self.driven.calls as f64 / self.secs()
    }

    /// Server CPU per call and per event, in µs.
    fn cpu_per_call_us(&self) -> f64 {
        1e6 * self.server_cpu_s / self.driven.calls.max(1) as f64
    }

    fn cpu_per_event_us(&self) -> f64 {
        1e6 * self.server_cpu_s / self.driven.events().max(1) as f64
    }

    fn apply(&self, kind: &str) -> f64 {
        self.apply_us.get(kind).copied().unwrap_or(0.0)
    }

    fn print(&self) {
        let d = &self.driven;
        let all = d.all_latencies();
        println!(
            "{} rooms, {}: {} calls, {} events in {:.2} s, {} failures ({} 5xx), {} wrong answers",
            self.room.name(),
            self.label,
            d.calls,
            d.events(),
            self.secs(),
            d.failures,
            d.server_errors,
            d.wrong_answers
        );
        if let Some(w) = &d.first_wrong {
            println!("  first wrong answer: {w}");
        }
        report("  platform events per second", self.events_per_s(), "/s");
        report("  calls per second", self.calls_per_s(), "/s");
        report("  event latency p50", percentile(&all, 0.50), "ms");
        report("  event latency p99", percentile(&all, 0.99), "ms");
        report("  event latency p99.9", percentile(&all, 0.999), "ms");
        for (k, lat) in d.by_kind.iter().enumerate() {
            if lat.is_empty() {
                continue;
            }
            println!(
                "  {:<40} {:>7} sent, p50 {:>6.2} ms, p99 {:>6.2} ms",
                KINDS[k],
                lat.len(),
                percentile(lat, 0.50),
                percentile(lat, 0.99)
            );
        }
        for (kind, us) in &self.apply_us {
            if *us > 0.0 {
                println!("  server apply time, {kind:<28} {us:>8.1} µs");
            }
        }
        report("  server commit (µs)", self.server.commit_us(), "µs");
        report("  server writes per commit", self.server.batch(), "");
        report("  server CPU (cores busy)", self.server_cores, "cores");
        report(
            "  load generator CPU (cores busy)",
            self.generator_cores,
            "cores",
        );
        report(
            "  rest of the machine (kernel, other processes)",
            self.rest_cores,
            "cores",
        );
        report("  server CPU per call", self.cpu_per_call_us(), "µs");
        report("  server CPU per event", self.cpu_per_event_us(), "µs");
        report("  server peak RSS", self.rss_mb, "MB");
    }
}

/// Runs the plain and PIN loads and the busy conferences; prints the tables. False when a
/// final state was wrong, an answer was not what the flow implies, or an event failed.
pub async fn run(opts: &Options) -> bool {
    if !opts.flows_dir.join("pin.json").is_file() {
        eprintln!(
            "confab-bench: {} holds no pin.json; name the repository's flows directory with --flows-dir",
            opts.flows_dir.display()
        );
        std::process::exit(2);
    }
    println!(
        "confab-bench --pin: SQLite, {} conferences x {} calls, {} connections, every {} call(s) a wrong PIN first, flows from {}",
        opts.conferences,
        opts.calls,
        opts.connections,
        opts.wrong_every,
        opts.flows_dir.display()
    );
    let mut ok = true;
    let mut spread_rows = Vec::new();
    for round in 1..=opts.rounds {
        let order = if round % 2 == 1 {
            [Room::Plain, Room::Pin]
        } else {
            [Room::Pin, Room::Plain]
        };
        for room in order {
            let (row, exact) = spread(room, round, opts).await;
            ok &= exact && row.driven.failures == 0 && row.driven.wrong_answers == 0;
            spread_rows.push((row, exact));
        }
    }
    let mut hot_rows = Vec::new();
    if opts.hot_seconds > 0 {
        for &pin in &opts.hot_pin {
            let room = if pin { Room::Pin } else { Room::Plain };
            let (rows, exact) = hot(room, opts).await;
            ok &= exact
                && rows
                    .iter()
                    .all(|r| r.driven.failures == 0 && r.driven.wrong_answers == 0);
            hot_rows.push((rows, exact));
        }
    }
    print_tables(opts, &spread_rows, &hot_rows);
    ok
}

/// A fresh server with the flows directory; for a PIN load, it must have loaded `pin`.
async fn server_for(room: Room, opts: &Options) -> Server {
    let dir = opts.flows_dir.to_string_lossy().to_string();
    let server = Server::start_with(&["--flows-dir".to_string(), dir]).await;
    if room == Room::Pin && !flow_loaded(&server, "pin").await {
        eprintln!(
            "confab-bench: the server loaded no flow named pin from {} (GET /v1.0/flows)",
            opts.flows_dir.display()
        );
        std::process::exit(2);
    }
    server
}

async fn flow_loaded(server: &Server, name: &str) -> bool {
    let Ok(res) = client()
        .get(format!("{}/v1.0/flows", server.base))
        .bearer_auth(&server.key)
        .send()
        .await
    else {
        return false;
    };
    let v: Value = res.json().await.unwrap_or_default();
    v["result"]
        .as_array()
        .is_some_and(|flows| flows.iter().any(|f| f["name"] == name))
}

fn run_id(what: &str) -> String {
    format!("{what}{}", chrono::Utc::now().timestamp_millis())
}

/// `conferences` × `calls` calls of one kind of room on a fresh server, then the final state.
async fn spread(room: Room, round: usize, opts: &Options) -> (Row, bool) {
    println!(
        "\n-- {} rooms, round {round}: {} conferences x {} calls, {} connections",
        room.name(),
        opts.conferences,
        opts.calls,
        opts.connections
    );
    let server = server_for(room, opts).await;
    let confs = create_conferences_with(
        &server.base,
        &server.key,
        opts.conferences,
        opts.connections,
        move |i| room.body(i),
    )
    .await;
    let run = run_id(if room == Room::Pin { "pin" } else { "plain" });
    let source = Presigned::new(room, &confs, opts.calls, &run, opts.wrong_every);
    let label = format!("round {round}");
    let row = Row::measure(room, label, &server, Arc::new(source), opts.connections).await;
    row.print();
    let total = confs.len() * opts.calls;
    let expected: Vec<(String, usize)> = confs.iter().map(|c| (c.clone(), opts.calls)).collect();
    let exact = final_state(
        room, &server, &confs, opts.calls, &run, &expected, total, opts,
    )
    .await;
    (row, exact)
}

/// One conference cycled by every connection for --pin-hot-seconds, in --pin-windows windows.
async fn hot(room: Room, opts: &Options) -> (Vec<Row>, bool) {
    let windows = opts.windows.max(1);
    let window = Duration::from_secs_f64(opts.hot_seconds as f64 / windows as f64);
    println!(
        "\n-- one busy {} conference: {} connections, {} windows of {:.1} s",
        room.name(),
        opts.connections,
        windows,
        window.as_secs_f64()
    );
    let server = server_for(room, opts).await;
    let conf = create_conference(&client(), &server.base, &server.key, &room.body(0)).await;
    let run = run_id(if room == Room::Pin {
        "hotpin"
    } else {
        "hotplain"
    });
    let mut rows = Vec::new();
    let mut taken = 0;
    for w in 1..=windows {
        let source = Arc::new(Cycled {
            room,
            conf: conf.clone(),
            run: run.clone(),
            until: Instant::now() + window,
            first: taken,
            wrong_every: opts.wrong_every,
            next: AtomicUsize::new(0),
        });
        let label = format!("window {w} of {windows}");
        let row = Row::measure(room, label, &server, source.clone(), opts.connections).await;
        taken += source.taken();
        row.print();
        rows.push(row);
    }
    let confs = [conf.clone()];
    let exact = final_state(
        room,
        &server,
        &confs,
        taken,
        &run,
        &[(conf, taken)],
        taken,
        opts,
    )
    .await;
    (rows, exact)
}

/// The final state: through the API (no call joined, every call of the run `leaved` once),
/// straight from the file (calls and the conferences' counters agree), and the pauses: none
/// active, one row per PIN call, numbered up to the pauses its digits answered.
#[allow(clippy::too_many_arguments)]
async fn final_state(
    room: Room,
    server: &Server,
    confs: &[String],
    calls: usize,
    run: &str,
    expected: &[(String, usize)],
    total: usize,
    opts: &Options,
) -> bool {
    let what = format!("{} rooms", room.name());
    if let Err(e) = verify(&server.base, &server.key, confs, calls, run).await {
        println!("{what}: STATE MISMATCH through the API: {e}");
        return false;
    }
    println!(
        "{what}: through the API: {} conference(s), {total} calls, every one leaved once, none joined",
        confs.len()
    );
    let mut exact = server.check(&what, expected).await;
    let want = match room {
        Room::Plain => Pauses::default(),
        Room::Pin => Pauses {
            rows: total as i64,
            active: 0,
            numbered: (total + wrong_count(total, opts.wrong_every)) as i64,
            holding: 0,
        },
    };
    match pauses(&server.db) {
        Ok(got) if got == want => println!(
            "{what}: pauses exact: {} calls paused, {} pauses in all, none active, none holding a run",
            got.rows, got.numbered
        ),
        Ok(got) => {
            println!("{what}: PAUSE MISMATCH: found {got:?}, expected {want:?}");
            exact = false;
        }
        Err(e) => {
            println!("{what}: cannot read call_pauses: {e}");
            exact = false;
        }
    }
    exact
}

/// The `call_pauses` table in sum: rows (calls that ever paused), rows still active, the sum
/// of their pause numbers (pauses in all), and rows still holding a run's program or state.
#[derive(Debug, Default, PartialEq, Eq)]
struct Pauses {
    rows: i64,
    active: i64,
    numbered: i64,
    holding: i64,
}

fn pauses(db: &Path) -> Result<Pauses, String> {
    let conn = rusqlite::Connection::open(db).map_err(|e| e.to_string())?;
    conn.busy_timeout(Duration::from_secs(10))
        .map_err(|e| e.to_string())?;
    conn.query_row(
        "SELECT COUNT(*), COALESCE(SUM(active <> 0), 0), COALESCE(SUM(seq), 0), \
         COALESCE(SUM(program <> '' OR state <> ''), 0) FROM call_pauses",
        [],
        |r| {
            Ok(Pauses {
                rows: r.get(0)?,
                active: r.get(1)?,
                numbered: r.get(2)?,
                holding: r.get(3)?,
            })
        },
    )
    .map_err(|e| e.to_string())
}

/// The figures as Markdown tables, ready for BENCHMARKS.md.
fn print_tables(opts: &Options, spread: &[(Row, bool)], hot: &[(Vec<Row>, bool)]) {
    if !spread.is_empty() {
        print_spread(opts, spread);
    }
    if !hot.is_empty() {
        print_hot(hot);
    }
}

fn state(exact: bool) -> &'static str {
    if exact {
        "exact"
    } else {
        "MISMATCH"
    }
}

fn print_spread(opts: &Options, spread: &[(Row, bool)]) {
    println!(
        "\n-- plain against PIN joins: {} conferences x {} calls, {} connections, every {} call(s) a wrong PIN first\n",
        opts.conferences, opts.calls, opts.connections, opts.wrong_every
    );
    println!("| rooms | round | events/s | calls/s | event p50 / p99 / p99.9 | CPU: server / generator / rest | server CPU per call / per event | commit, writes per commit | failures / wrong answers | final state |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for (r, exact) in spread {
        let all = r.driven.all_latencies();
        println!(
            "| {} | {} | {:.0} | {:.0} | {:.1} / {:.1} / {:.1} ms | {:.2} / {:.2} / {:.2} cores | {:.0} / {:.0} µs | {:.0} µs, {:.1} | {} / {} | {} |",
            r.room.name(),
            r.label,
            r.events_per_s(),
            r.calls_per_s(),
            percentile(&all, 0.50),
            percentile(&all, 0.99),
            percentile(&all, 0.999),
            r.server_cores,
            r.generator_cores,
            r.rest_cores,
            r.cpu_per_call_us(),
            r.cpu_per_event_us(),
            r.server.commit_us(),
            r.server.batch(),
            r.driven.failures,
            r.driven.wrong_answers,
            state(*exact)
        );
    }
    println!(
        "\nBy event (p50 / p99 at the generator; mean time in the server's write transaction):\n"
    );
    println!("| rooms | round | event | sent | p50 / p99 | apply |");
    println!("|---|---|---|---|---|---|");
    for (r, _) in spread {
        for (k, lat) in r.driven.by_kind.iter().enumerate() {
            if lat.is_empty() {
                continue;
            }
            let event_type = KINDS[k].split(',').next().unwrap_or("");
            println!(
                "| {} | {} | {} | {} | {:.1} / {:.1} ms | {:.0} µs |",
                r.room.name(),
                r.label,
                KINDS[k],
                lat.len(),
                percentile(lat, 0.50),
                percentile(lat, 0.99),
                r.apply(event_type)
            );
        }
    }
}

fn print_hot(hot: &[(Vec<Row>, bool)]) {
    println!("\n-- one busy conference, every connection cycling calls through it\n");
    println!("| rooms | window | calls so far | events/s | calls/s | p50 / p99 | apply: joining / digits / left | commit, writes per commit | server CPU per event | CPU: server / rest | × window 1 |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for (rows, exact) in hot {
        let first = rows.first().map_or(1.0, Row::events_per_s).max(1e-9);
        let mut so_far = 0;
        for r in rows {
            so_far += r.driven.calls;
            let all = r.driven.all_latencies();
            println!(
                "| {} | {} | {} | {:.0} | {:.0} | {:.1} / {:.1} ms | {:.0} / {:.0} / {:.0} µs | {:.0} µs, {:.1} | {:.0} µs | {:.2} / {:.2} cores | {:.2} |",
                r.room.name(),
                r.label,
                so_far,
                r.events_per_s(),
                r.calls_per_s(),
                percentile(&all, 0.50),
                percentile(&all, 0.99),
                r.apply("call_joining"),
                r.apply("call_digits_received"),
                r.apply("call_left"),
                r.server.commit_us(),
                r.server.batch(),
                r.cpu_per_event_us(),
                r.server_cores,
                r.rest_cores,
                r.events_per_s() / first
            );
        }
        if let (Some(f), Some(l)) = (rows.first(), rows.last()) {
            println!(
                "{} busy conference: last window / first = {:.2} ({:.0} → {:.0} events/s); final state {}",
                f.room.name(),
                l.events_per_s() / f.events_per_s().max(1e-9),
                f.events_per_s(),
                l.events_per_s(),
                state(*exact)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fourth_call_enters_a_wrong_pin_first() {
        let wrong: Vec<usize> = (0..12).filter(|&i| wrong_first(i, 4)).collect();
        assert_eq!(wrong, [3, 7, 11]);
        assert_eq!(wrong_count(12, 4), 3);
        assert_eq!(wrong_count(13, 4), 3);
        assert_eq!(wrong_count(12, 0), 0);
        assert!(!(0..12).any(|i| wrong_first(i, 0)));
    }

    #[test]
    fn a_pin_call_sends_its_digits_with_the_pause_they_answer() {
        let steps = call_steps(Room::Pin, "c1", "k", true);
        let kinds: Vec<usize> = steps.iter().map(|s| s.kind).collect();
        assert_eq!(kinds, [JOINING, WRONG, RIGHT, JOINED, LEFT]);
        let plain = call_steps(Room::Plain, "c1", "k", true);
        assert_eq!(plain.len(), 3);
        assert_eq!(call_steps(Room::Pin, "c1", "k", false).len(), 4);
    }

    #[test]
    fn answers_are_checked_on_their_bytes() {
        let paused = br#"{"conferencecall":{},"actions":[{"type":"talk","option":{}},{"type":"digits_receive","option":{}}],"pause":1}"#;
        let joined = br#"{"conferencecall":{},"actions":[{"type":"conference_join","option":{"conference_id":"k"}}]}"#;
        assert!(Expect::Pauses(1).check(paused).is_ok());
        assert!(Expect::Pauses(2).check(paused).is_err());
        assert!(Expect::Joins.check(paused).is_err());
        assert!(Expect::Joins.check(joined).is_ok());
        assert!(Expect::Pauses(1).check(joined).is_err());
    }
}
