//! The crash test: drives events while killing the server with SIGKILL, then checks that
//! nothing acknowledged was lost.

use crate::support::*;
use serde_json::{json, Value};
use std::sync::Arc;
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
    let dir = TempDir::new();
    let db = dir.path().join("crash.db");
    let (receiver, received, receiver_handle) = start_receiver().await;
    let extra: Vec<String> = [
        "--platform-url",
        &receiver,
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
    let mut child = Some(child);
    let base = Arc::new(std::sync::RwLock::new(base));
    let http = reqwest::Client::new();
    let current = base.read().map(|b| b.clone()).unwrap_or_default();
    let customer: Value = http
        .post(format!("{current}/v1.0/customers"))
        .bearer_auth(ADMIN)
        .json(&json!({"name": "crash", "webhook_uri": format!("{receiver}/hooks")}))
        .send()
        .await
        .or_die("admin")
        .json()
        .await
        .or_die("json");
    let key = customer["api_key"].as_str().unwrap_or_default().to_string();
    // A third of the conferences time out after 2 s, while events still arrive for them.
    let mut confs = Vec::new();
    for i in 0..args.conferences {
        let mut body = seed_body(i);
        if i % 3 == 0 {
            body["timeout"] = json!(2);
        }
        let v: Value = http
            .post(format!("{current}/v1.0/conferences"))
            .bearer_auth(&key)
            .json(&body)
            .send()
            .await
            .or_die("create")
            .json()
            .await
            .or_die("json");
        confs.push((v["id"].as_str().unwrap_or_default().to_string(), i % 3 == 0));
    }
    println!(
        "crash test: {} conferences x {} calls, {} kills",
        confs.len(),
        args.calls,
        args.crash_kills
    );

    // Drivers: every call's three events, each retried until acknowledged.
    let work: Arc<Vec<(String, usize)>> = Arc::new(
        confs
            .iter()
            .flat_map(|(c, _)| (0..args.calls).map(move |j| (c.clone(), j)))
            .collect(),
    );
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let acked: Acks = Arc::default();
    let mut drivers = Vec::new();
    for _ in 0..args.connections.min(32) {
        let (work, next, acked, base) = (work.clone(), next.clone(), acked.clone(), base.clone());
        drivers.push(tokio::spawn(async move {
            let c = client();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some((conf, j)) = work.get(i) else { break };
                let call = format!("crash-{conf}-{j}");
                let data = json!({"call_id": call, "conference_id": conf});
                for kind in ["call_joining", "call_joined", "call_left"] {
                    let st = deliver_event(&c, &base, &format!("{call}-{kind}"), kind, &data).await;
                    if let Ok(mut a) = acked.lock() {
                        a.push((call.clone(), kind, st));
                    }
                    if kind == "call_joining" && st != 200 {
                        break;
                    }
                }
            }
        }));
    }
    // The killer.
    let mut kills = 0;
    let mut seed = chrono::Utc::now().timestamp_subsec_nanos() as u64;
    while kills < args.crash_kills && next.load(std::sync::atomic::Ordering::Relaxed) < work.len() {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        tokio::time::sleep(Duration::from_millis(200 + (seed >> 33) % 800)).await;
        if let Some(mut c) = child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        kills += 1;
        let (c, b, took) = start_confab_with(&db, &extra);
        println!(
            "kill {kills}: restarted in {:.0} ms",
            took.as_secs_f64() * 1000.0
        );
        if let Ok(mut w) = base.write() {
            *w = b;
        }
        child = Some(c);
    }
    for d in drivers {
        let _ = d.await;
    }
    let acked = acked.lock().map(|a| a.clone()).unwrap_or_default();
    let current = base.read().map(|b| b.clone()).unwrap_or_default();
    println!("{} events answered, {} kills survived", acked.len(), kills);

    // Let deadlines fire and the outbox drain.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut settled = false;
    while Instant::now() < deadline {
        let text = http.get(format!("{current}/metrics")).send().await.ok();
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
            settled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut ok = true;
    let mut fail = |msg: String| {
        println!("FAIL: {msg}");
        ok = false;
    };
    if !settled {
        fail("deadlines, outbox or calls did not settle within 60 s".into());
    }
    // Every acknowledged call_left is reflected; no call is left between states.
    let c = client();
    let mut checked = 0;
    for (conf, timed) in &confs {
        let v: Value = match c
            .get(format!("{current}/v1.0/conferences/{conf}"))
            .bearer_auth(&key)
            .send()
            .await
        {
            Ok(r) => r.json().await.unwrap_or(Value::Null),
            Err(e) => {
                fail(format!("conference {conf}: {e}"));
                continue;
            }
        };
        if *timed && v["status"] != "terminated" {
            fail(format!(
                "conference {conf} had a 2 s timeout but is {}",
                v["status"]
            ));
        }
        if v["conferencecall_ids"] != json!([]) {
            fail(format!(
                "conference {conf} still lists joined calls: {}",
                v["conferencecall_ids"]
            ));
        }
        let mut token = String::new();
        loop {
            let page: Value = match c
                .get(format!(
                    "{current}/v1.0/conferencecalls?conference_id={conf}&page_token={token}"
                ))
                .bearer_auth(&key)
                .send()
                .await
            {
                Ok(r) => r.json().await.unwrap_or(Value::Null),
                Err(_) => Value::Null,
            };
            for call in page["result"].as_array().into_iter().flatten() {
                checked += 1;
                if call["status"] != "leaved" {
                    fail(format!(
                        "call {} is stuck in {}",
                        call["reference_id"], call["status"]
                    ));
                }
            }
            token = page["next_page_token"].as_str().unwrap_or("").to_string();
            if token.is_empty() {
                break;
            }
        }
    }
    let joined_acked = acked
        .iter()
        .filter(|(_, k, st)| *k == "call_joining" && *st == 200)
        .count();
    if checked != joined_acked {
        fail(format!(
            "{joined_acked} joins were acknowledged but {checked} conferencecalls exist"
        ));
    }
    // Every outbox message was delivered: compare the store with what the receiver got.
    if let Some(mut c) = child.take() {
        let _ = c.kill();
        let _ = c.wait();
    }
    let got = received.lock().map(|r| r.clone()).unwrap_or_default();
    let got_ids: std::collections::HashSet<&str> = got.iter().map(|(_, id)| id.as_str()).collect();
    let conn = rusqlite::Connection::open(&db).or_die("open");
    let mut stmt = conn
        .prepare("SELECT id, status FROM outbox")
        .or_die("prepare");
    let rows: Vec<(String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .or_die("query")
        .filter_map(Result::ok)
        .collect();
    let mut missing = 0;
    for (id, status) in &rows {
        if status != "delivered" || !got_ids.contains(id.as_str()) {
            missing += 1;
        }
    }
    if missing > 0 {
        fail(format!(
            "{missing} of {} outbox messages were not delivered",
            rows.len()
        ));
    }
    let duplicates = got.len() - got_ids.len();
    println!(
        "checked {} conferences, {checked} conferencecalls (all leaved), {} outbox messages delivered ({} duplicate deliveries, each with its message's webhook-id)",
        confs.len(),
        rows.len(),
        duplicates
    );
    receiver_handle.stop(false).await;
    println!(
        "{}",
        if ok {
            "crash test: ok"
        } else {
            "crash test: FAILED"
        }
    );
    ok
}
