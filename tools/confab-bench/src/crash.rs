//! The crash test: drives events while killing the server with SIGKILL, then checks that
//! nothing acknowledged was lost.

use crate::support::*;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Child;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// Every event the crash test's drivers got an answer to: (call, event type, status).
type Acks = Arc<std::sync::Mutex<Vec<(String, &'static str, u16)>>>;

/// What the crash test drives.
pub struct CrashArgs {
    pub conferences: usize,
    pub calls: usize,
    pub connections: usize,
    pub crash_kills: usize,
}

pub async fn crash_test(args: &CrashArgs) -> bool {
    let (receiver, received, receiver_handle) = start_receiver().await;
    let mut victim = Victim::start(&receiver);
    let http = reqwest::Client::new();
    let current = victim.base();
    let key = create_crash_customer(&http, &current, &receiver).await;
    let confs = create_crash_conferences(&http, &current, &key, args.conferences).await;
    println!(
        "crash test: {} conferences x {} calls, {} kills",
        confs.len(),
        args.calls,
        args.crash_kills
    );

    let calls = Arc::new(Calls::new(&confs, args.calls));
    let acked: Acks = Arc::default();
    let drivers: Vec<_> = (0..args.connections.min(32))
        .map(|_| {
            let (calls, acked, base) = (calls.clone(), acked.clone(), victim.base.clone());
            tokio::spawn(async move { drive_calls(&calls, &acked, &base).await })
        })
        .collect();
    let kills = kill_loop(&mut victim, args.crash_kills, &calls).await;
    for d in drivers {
        let _ = d.await;
    }
    let acked = acked.lock().map(|a| a.clone()).unwrap_or_default();
    let current = victim.base();
    println!("{} events answered, {} kills survived", acked.len(), kills);

    let mut verdict = Verdict { ok: true };
    if !settle(&http, &current).await {
        verdict.fail("deadlines, outbox or calls did not settle within 60 s".into());
    }
    let checked = check_conferences(&current, &key, &confs, &mut verdict).await;
    check_joins(&acked, checked, &mut verdict);
    victim.kill();
    let outbox = check_outbox(&victim.db, &received, &mut verdict);
    println!(
        "checked {} conferences, {checked} conferencecalls (all leaved), {} outbox messages delivered ({} duplicate deliveries, each with its message's webhook-id)",
        confs.len(),
        outbox.messages,
        outbox.duplicates
    );
    receiver_handle.stop(false).await;
    println!(
        "{}",
        if verdict.ok {
            "crash test: ok"
        } else {
            "crash test: FAILED"
        }
    );
    verdict.ok
}

/// The server under test: killed and restarted on the same database, each time on a new port.
struct Victim {
    db: PathBuf,
    extra: Vec<String>,
    child: Option<Child>,
    /// Where the server answers now; drivers read it before every attempt.
    base: Arc<RwLock<String>>,
    // Held so the database outlives every restart and the final outbox check.
    _dir: TempDir,
}

impl Victim {
    /// Starts confab with the receiver as its platform and short retry schedules, so that
    /// commands, webhooks and kicks settle quickly after the last kill.
    fn start(receiver: &str) -> Victim {
        let dir = TempDir::new();
        let db = dir.path().join("crash.db");
        let extra: Vec<String> = [
            "--platform-url",
            receiver,
            "--webhook-allow-private",
            "--kick-grace",
            "1",
            "--command-retry-schedule",
            "0,1",
            "--webhook-retry-schedule",
            "0,1,1,1,1,1,1,1,1,1",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let (child, base, _) = start_confab_with(&db, &extra);
        Victim {
            db,
            extra,
            child: Some(child),
            base: Arc::new(RwLock::new(base)),
            _dir: dir,
        }
    }

    fn base(&self) -> String {
        self.base.read().map(|b| b.clone()).unwrap_or_default()
    }

    /// SIGKILL: the server gets no chance to finish anything it started.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Kills the server and starts it again on the same database; returns the start-up time.
    fn restart(&mut self) -> Duration {
        self.kill();
        let (c, b, took) = start_confab_with(&self.db, &self.extra);
        if let Ok(mut w) = self.base.write() {
            *w = b;
        }
        self.child = Some(c);
        took
    }
}

async fn create_crash_customer(http: &reqwest::Client, base: &str, receiver: &str) -> String {
    let customer: Value = http
        .post(format!("{base}/v1.0/customers"))
        .bearer_auth(ADMIN)
        .json(&json!({"name": "crash", "webhook_uri": format!("{receiver}/hooks")}))
        .send()
        .await
        .or_die("admin")
        .json()
        .await
        .or_die("json");
    customer["api_key"].as_str().unwrap_or_default().to_string()
}

/// Creates the conferences; returns each one's id and whether it has the 2 s timeout.
async fn create_crash_conferences(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    n: usize,
) -> Vec<(String, bool)> {
    // A third of the conferences time out after 2 s, while events still arrive for them.
    let mut confs = Vec::new();
    for i in 0..n {
        let mut body = seed_body(i);
        if i % 3 == 0 {
            body["timeout"] = json!(2);
        }
        let id = crate::support::create_conference(http, base, key, &body).await;
        confs.push((id, i % 3 == 0));
    }
    confs
}

/// Every (conference, call number) to drive; each driver takes the next one until none is left.
struct Calls {
    list: Vec<(String, usize)>,
    next: AtomicUsize,
}

impl Calls {
    fn new(confs: &[(String, bool)], calls: usize) -> Calls {
        Calls {
            list: confs
                .iter()
                .flat_map(|(c, _)| (0..calls).map(move |j| (c.clone(), j)))
                .collect(),
            next: AtomicUsize::new(0),
        }
    }

    fn take(&self) -> Option<&(String, usize)> {
        self.list.get(self.next.fetch_add(1, Ordering::Relaxed))
    }

    fn all_taken(&self) -> bool {
        self.next.load(Ordering::Relaxed) >= self.list.len()
    }
}

/// One driver: every call's three events, each retried until acknowledged; a call whose
/// joining was refused gets no more events.
async fn drive_calls(calls: &Calls, acked: &Acks, base: &RwLock<String>) {
    let c = client();
    while let Some((conf, j)) = calls.take() {
        let call = format!("crash-{conf}-{j}");
        let data = json!({"call_id": call, "conference_id": conf});
        for kind in ["call_joining", "call_joined", "call_left"] {
            let st = deliver_event(&c, base, &format!("{call}-{kind}"), kind, &data).await;
            if let Ok(mut a) = acked.lock() {
                a.push((call.clone(), kind, st));
            }
            if kind == "call_joining" && st != 200 {
                break;
            }
        }
    }
}

/// Kills the server at random moments (0.2 to 1 s apart) while calls remain to be taken, up to
/// `wanted` times; returns how many kills it made.
async fn kill_loop(victim: &mut Victim, wanted: usize, calls: &Calls) -> usize {
    let mut kills = 0;
    let mut seed = chrono::Utc::now().timestamp_subsec_nanos() as u64;
    while kills < wanted && !calls.all_taken() {
        // A linear congruential step: random enough for timing, with no extra dependency.
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        tokio::time::sleep(Duration::from_millis(200 + (seed >> 33) % 800)).await;
        kills += 1;
        let took = victim.restart();
        println!(
            "kill {kills}: restarted in {:.0} ms",
            took.as_secs_f64() * 1000.0
        );
    }
    kills
}

/// Whether the checks passed so far; every failure is printed as it is found.
struct Verdict {
    ok: bool,
}

impl Verdict {
    fn fail(&mut self, msg: String) {
        println!("FAIL: {msg}");
        self.ok = false;
    }
}

/// Waits (at most 60 s) until deadlines have fired, the outbox has drained and no call is
/// active; false if that never happened.
async fn settle(http: &reqwest::Client, base: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let text = http.get(format!("{base}/metrics")).send().await.ok();
        let text = match text {
            Some(r) => r.text().await.unwrap_or_default(),
            None => String::new(),
        };
        let zero = |name: &str| text.lines().any(|l| l == format!("{name} 0"));
        if zero("confab_deadlines_pending")
            && zero("confab_outbox_depth{kind=\"command\"}")
            && zero("confab_outbox_depth{kind=\"webhook\"}")
            && zero("confab_active_calls")
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

/// Every acknowledged call_left is reflected; no call is left between states. Returns how
/// many conferencecalls exist.
async fn check_conferences(
    base: &str,
    key: &str,
    confs: &[(String, bool)],
    verdict: &mut Verdict,
) -> usize {
    let c = client();
    let mut checked = 0;
    for (conf, timed) in confs {
        let v: Value = match c
            .get(format!("{base}/v1.0/conferences/{conf}"))
            .bearer_auth(key)
            .send()
            .await
        {
            Ok(r) => r.json().await.unwrap_or(Value::Null),
            Err(e) => {
                verdict.fail(format!("conference {conf}: {e}"));
                continue;
            }
        };
        if *timed && v["status"] != "terminated" {
            verdict.fail(format!(
                "conference {conf} had a 2 s timeout but is {}",
                v["status"]
            ));
        }
        if v["conferencecall_ids"] != json!([]) {
            verdict.fail(format!(
                "conference {conf} still lists joined calls: {}",
                v["conferencecall_ids"]
            ));
        }
        checked += check_calls(&c, base, key, conf, verdict).await;
    }
    checked
}

/// Pages through one conference's conferencecalls; each must be leaved. Returns how many there
/// are.
async fn check_calls(
    c: &reqwest::Client,
    base: &str,
    key: &str,
    conf: &str,
    verdict: &mut Verdict,
) -> usize {
    let mut checked = 0;
    let mut token = String::new();
    loop {
        let page: Value = match c
            .get(format!(
                "{base}/v1.0/conferencecalls?conference_id={conf}&page_token={token}"
            ))
            .bearer_auth(key)
            .send()
            .await
        {
            Ok(r) => r.json().await.unwrap_or(Value::Null),
            Err(_) => Value::Null,
        };
        for call in page["result"].as_array().into_iter().flatten() {
            checked += 1;
            if call["status"] != "leaved" {
                verdict.fail(format!(
                    "call {} is stuck in {}",
                    call["reference_id"], call["status"]
                ));
            }
        }
        token = page["next_page_token"].as_str().unwrap_or("").to_string();
        if token.is_empty() {
            return checked;
        }
    }
}

/// Every acknowledged join made exactly one conferencecall.
fn check_joins(acked: &[(String, &'static str, u16)], checked: usize, verdict: &mut Verdict) {
    let joined_acked = acked
        .iter()
        .filter(|(_, k, st)| *k == "call_joining" && *st == 200)
        .count();
    if checked != joined_acked {
        verdict.fail(format!(
            "{joined_acked} joins were acknowledged but {checked} conferencecalls exist"
        ));
    }
}

/// The store's outbox against what the receiver got.
struct OutboxCheck {
    messages: usize,
    duplicates: usize,
}

/// Every outbox message was delivered: compares the store (read directly, with the server
/// stopped) with what the receiver got.
fn check_outbox(db: &std::path::Path, received: &Received, verdict: &mut Verdict) -> OutboxCheck {
    let got = received.lock().map(|r| r.clone()).unwrap_or_default();
    let got_ids: std::collections::HashSet<&str> = got.iter().map(|(_, id)| id.as_str()).collect();
    let conn = rusqlite::Connection::open(db).or_die("open");
    let mut stmt = conn
        .prepare("SELECT id, status FROM outbox")
        .or_die("prepare");
    let rows: Vec<(String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .or_die("query")
        .filter_map(Result::ok)
        .collect();
    let missing = rows
        .iter()
        .filter(|(id, status)| status != "delivered" || !got_ids.contains(id.as_str()))
        .count();
    if missing > 0 {
        verdict.fail(format!(
            "{missing} of {} outbox messages were not delivered",
            rows.len()
        ));
    }
    OutboxCheck {
        messages: rows.len(),
        duplicates: got.len() - got_ids.len(),
    }
}
