//! Store faults on a real full filesystem: a tmpfs the test mounts itself (it needs root, as
//! CI has). While the disk is full, writes answer 503 with `Retry-After`, replays of answered
//! events are still served byte for byte, `/healthz` says why, and no notification is sent
//! more often than its retry schedule allows; once space returns the service recovers by
//! itself under continuing load and loses nothing it acknowledged.

mod common;

use common::{test_config, Server};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// A tmpfs mounted for one test, unmounted when dropped.
struct SmallDisk {
    path: PathBuf,
}

impl SmallDisk {
    /// Mounts a tmpfs of `mib` MiB, or says why it cannot.
    fn mount(under: &Path, mib: u32) -> Result<SmallDisk, String> {
        let path = under.join("disk");
        std::fs::create_dir_all(&path).map_err(|e| e.to_string())?;
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(&path)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        Ok(SmallDisk { path })
    }

    /// Writes a ballast file until the filesystem is full.
    fn fill(&self) -> PathBuf {
        use std::io::Write;
        let ballast = self.path.join("ballast");
        let mut f = std::fs::File::create(&ballast).expect("ballast file");
        let block = vec![0u8; 64 * 1024];
        while f.write_all(&block).is_ok() {}
        let small = [0u8; 512];
        while f.write_all(&small).is_ok() {}
        let _ = f.flush();
        ballast
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.path)
            .status();
    }
}

/// One request the receiver got: webhook id, when, whether it answered 200, the body.
type Seen = (String, Instant, bool, Value);

/// The customer's receiver: answers 500 until switched, then 200; counts every request by
/// `webhook-id`.
#[derive(Clone, Default)]
struct Receiver {
    ok: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Respond for Receiver {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let id = req
            .headers
            .get("webhook-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let ok = self.ok.load(Ordering::SeqCst);
        let body = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        if let Ok(mut s) = self.seen.lock() {
            s.push((id, Instant::now(), ok, body));
        }
        ResponseTemplate::new(if ok { 200 } else { 500 })
    }
}

/// Posts a platform event and returns the status, `Retry-After` and the raw answer.
async fn post_event(s: &Server, id: &str, kind: &str, data: Value) -> (u16, bool, Vec<u8>) {
    let body = json!({"id": id, "type": kind, "data": data}).to_string();
    let res = s
        .client
        .post(s.url("/v1.0/platform/events"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("request");
    let status = res.status().as_u16();
    let retry_after = res.headers().contains_key("retry-after");
    (
        status,
        retry_after,
        res.bytes().await.expect("body").to_vec(),
    )
}

/// What the load saw: acknowledged conference ids and event answers, and every 503.
#[derive(Default)]
struct LoadLog {
    created: Mutex<Vec<String>>,
    events: Mutex<HashMap<String, Vec<u8>>>,
    unavailable: AtomicUsize,
    unexpected: Mutex<Vec<String>>,
    last_ok: Mutex<Option<Instant>>,
}

/// One writer of the load: creates conferences with some data and joins a call to each,
/// until `stop`.
async fn load(s: Arc<Server>, key: String, n: usize, stop: Arc<AtomicBool>, log: Arc<LoadLog>) {
    let data = json!({"note": "x".repeat(8_000)});
    let mut i = 0;
    while !stop.load(Ordering::SeqCst) {
        i += 1;
        let res = s
            .client
            .post(s.url("/v1.0/conferences"))
            .bearer_auth(&key)
            .json(&json!({"name": format!("load {n}-{i}"), "data": data}))
            .send()
            .await
            .expect("request");
        let status = res.status().as_u16();
        let retry_after = res.headers().contains_key("retry-after");
        let body: Value = res.json().await.unwrap_or(Value::Null);
        match status {
            200 => {
                let id = body["id"].as_str().unwrap_or_default().to_string();
                log.created.lock().unwrap().push(id.clone());
                *log.last_ok.lock().unwrap() = Some(Instant::now());
                let ev = format!("load-{n}-{i}");
                let (st, ra, answer) = post_event(
                    &s,
                    &ev,
                    "call_joining",
                    json!({"call_id": ev, "conference_id": id}),
                )
                .await;
                match st {
                    200 => {
                        log.events.lock().unwrap().insert(ev, answer);
                    }
                    503 if ra => {
                        log.unavailable.fetch_add(1, Ordering::SeqCst);
                    }
                    other => log
                        .unexpected
                        .lock()
                        .unwrap()
                        .push(format!("event {other}")),
                }
            }
            503 if retry_after => {
                assert_eq!(body["error"]["reason"], "STORE_UNAVAILABLE");
                log.unavailable.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            other => log
                .unexpected
                .lock()
                .unwrap()
                .push(format!("create {other}: {body}")),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_answers_503_serves_replays_sends_no_storm_and_recovers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let disk = match SmallDisk::mount(dir.path(), 24) {
        Ok(d) => d,
        Err(why) if std::env::var_os("CI").is_none() => {
            eprintln!("skipped: mounting a tmpfs needs root ({why}); CI runs it");
            return;
        }
        Err(why) => panic!("CI must be able to mount a tmpfs for the disk-full test: {why}"),
    };
    let receiver = Receiver::default();
    let hooks = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(receiver.clone())
        .mount(&hooks)
        .await;
    let mut config = test_config(&dir);
    config.db = disk.path.join("confab.db");
    config.webhook_allow_private = true;
    // The WAL bound must sit well inside the disk, or the WAL itself fills it again.
    config.wal_limit_mb = 4;
    // Nine attempts a second apart, then give up: a storm would show as far more.
    config.webhook_retry_schedule = "0,1,1,1,1,1,1,1,1".into();
    let server = Arc::new(Server::start_with(tempfile::tempdir().expect("dir"), config).await);
    let alice = server
        .create_customer_with("alice", &format!("{}/hooks", hooks.uri()))
        .await;

    // Answered before the fault: these must replay byte for byte while the disk is full.
    let (_, conf) = server
        .call(
            "POST",
            "/v1.0/conferences",
            Some(&alice.key),
            Some(json!({})),
        )
        .await;
    let conf = conf["id"].as_str().expect("id").to_string();
    let mut answered = Vec::new();
    for i in 0..5 {
        let id = format!("before-{i}");
        let (st, _, body) = post_event(
            &server,
            &id,
            "call_joining",
            json!({"call_id": id, "conference_id": conf}),
        )
        .await;
        assert_eq!(st, 200);
        answered.push((id, body));
    }
    // The receiver is failing, so these notifications wait for their next attempt.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let ballast = disk.fill();
    let stop = Arc::new(AtomicBool::new(false));
    let log = Arc::new(LoadLog::default());
    let writers: Vec<_> = (0..4)
        .map(|n| {
            tokio::spawn(load(
                server.clone(),
                alice.key.clone(),
                n,
                stop.clone(),
                log.clone(),
            ))
        })
        .collect();

    // The load soon meets the full disk.
    let started = Instant::now();
    while log.unavailable.load(Ordering::SeqCst) < 20 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "writes never failed on a full disk"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The receiver recovers now; deliveries succeed but cannot be recorded.
    receiver.ok.store(true, Ordering::SeqCst);
    let switched = Instant::now();
    let (st, health) = server.call("GET", "/healthz", None, None).await;
    assert_eq!(st, 503, "healthz while writes fail: {health}");
    assert_eq!(health["store"]["write"]["status"], "failing");
    assert_eq!(health["store"]["write"]["reason"], "disk full");
    for (id, first) in &answered {
        let data = json!({"call_id": id, "conference_id": conf});
        let (st, _, again) = post_event(&server, id, "call_joining", data).await;
        assert_eq!(st, 200, "replay of {id} while the disk is full");
        assert_eq!(
            &again, first,
            "replay of {id} is byte for byte the first answer"
        );
    }
    tokio::time::sleep(Duration::from_secs(3)).await;

    // Space returns; the load goes on and must succeed again within 5 s.
    std::fs::remove_file(&ballast).expect("free the space");
    let freed = Instant::now();
    loop {
        let ok_since_freed = log
            .last_ok
            .lock()
            .unwrap()
            .is_some_and(|t| t > freed + Duration::from_millis(50));
        if ok_since_freed {
            break;
        }
        assert!(
            freed.elapsed() < Duration::from_secs(5),
            "writes did not recover within 5 s of space returning"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::SeqCst);
    for w in writers {
        w.await.expect("load task");
    }
    assert!(
        log.unexpected.lock().unwrap().is_empty(),
        "only 200 or 503 + Retry-After: {:?}",
        log.unexpected.lock().unwrap()
    );
    // Healthy again once no write has failed for the recovery window (5 s).
    let s2 = server.clone();
    common::eventually(Duration::from_secs(10), "healthz 200 again", || {
        let s2 = s2.clone();
        async move { (s2.call("GET", "/healthz", None, None).await.0 == 200).then_some(()) }
    })
    .await;

    // Everything acknowledged is there, and every notification arrives.
    let created = log.created.lock().unwrap().clone();
    for id in &created {
        let (st, _) = server
            .call(
                "GET",
                &format!("/v1.0/conferences/{id}"),
                Some(&alice.key),
                None,
            )
            .await;
        assert_eq!(st, 200, "acknowledged conference {id} is stored");
    }
    let events = log.events.lock().unwrap().clone();
    for (id, first) in events.iter().take(50) {
        // The platform repeats the same event; its answer names the conference it joined.
        let conf: Value = serde_json::from_slice(first).expect("stored answer is JSON");
        let data = json!({"call_id": id, "conference_id": conf["conferencecall"]["conference_id"]});
        let (_, _, again) = post_event(&server, id, "call_joining", data).await;
        assert_eq!(&again, first, "acknowledged event {id} replays its answer");
    }
    common::eventually(
        Duration::from_secs(15),
        "every notification delivered",
        || {
            let seen = receiver.seen.lock().unwrap().clone();
            let created = created.clone();
            async move {
                let delivered: std::collections::HashSet<String> = seen
                    .iter()
                    .filter(|(_, _, ok, b)| *ok && b["type"] == "conference_created")
                    .filter_map(|(_, _, _, b)| b["data"]["id"].as_str().map(str::to_string))
                    .collect();
                created.iter().all(|c| delivered.contains(c)).then_some(())
            }
        },
    )
    .await;

    // No storm: after the receiver recovered, each message was sent at most once more (its
    // delivery), however long its outcome could not be recorded; before, at most once per
    // second of its schedule.
    let seen = receiver.seen.lock().unwrap().clone();
    let mut after: HashMap<&str, usize> = HashMap::new();
    let mut before: HashMap<&str, usize> = HashMap::new();
    for (id, at, _, _) in &seen {
        let bucket = if *at >= switched {
            &mut after
        } else {
            &mut before
        };
        *bucket.entry(id.as_str()).or_default() += 1;
    }
    let worst_after = after.values().max().copied().unwrap_or(0);
    assert!(
        worst_after <= 1,
        "a message was sent {worst_after} times after the receiver recovered"
    );
    let allowed = switched.duration_since(started).as_secs() as usize + 2;
    let worst_before = before.values().max().copied().unwrap_or(0);
    assert!(
        worst_before <= allowed,
        "a message was sent {worst_before} times in {allowed} s of a 1 s schedule"
    );
}
