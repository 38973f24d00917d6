//! Secrets at rest (§17): with `--secrets-key-file` no customer secret is in the database in
//! clear (its files read as bytes, its rows read with SQL), yet webhooks stay signed and the
//! platforms get the right credentials; `confab secrets rotate` reseals under load without
//! losing a write; a value moved to another customer is refused; start-up refuses a missing
//! key and a malformed key file names the line. The rotation's tests are in `rotation`.

mod rotation;

use crate::support::dialects::{
    Dialect, JAMBONZ_ACCOUNT, JAMBONZ_KEY, JAMBONZ_SECRET, TWILIO_ACCOUNT, TWILIO_TOKEN,
};
use crate::support::{allow_private, Receiver, Reply, TestDb, TestServer};
use base64::Engine as _;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

/// A key file in a directory of its own.
struct Keys {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

/// A key line `ID:BASE64` with 32 fresh random bytes.
fn key_line(id: &str) -> String {
    let mut bytes = uuid::Uuid::new_v4().as_bytes().to_vec();
    bytes.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
    format!(
        "{id}:{}\n",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

impl Keys {
    fn new(ids: &[&str]) -> Keys {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("keys");
        let text: String = ids.iter().map(|id| key_line(id)).collect();
        std::fs::write(&path, text).expect("write the key file");
        Keys { _dir: dir, path }
    }

    /// Appends a new (newest) key, as an operator rotating does.
    fn append(&self, id: &str) {
        let mut text = std::fs::read_to_string(&self.path).expect("read the key file");
        text.push_str(&key_line(id));
        std::fs::write(&self.path, text).expect("write the key file");
    }

    fn config(&self) -> impl FnOnce(&mut confab::Config) + '_ {
        move |c| c.secrets_key_file = Some(self.path.clone())
    }
}

fn confab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_confab"))
        .args(args)
        .output()
        .expect("confab runs")
}

/// `confab secrets rotate` on `db` (off the async executor: it blocks until done).
async fn rotate(db: &TestDb, keys: &Path, batch: usize) -> (bool, String) {
    let (db, keys) = (db.arg(), keys.display().to_string());
    let out = tokio::task::spawn_blocking(move || {
        confab(&[
            "secrets",
            "rotate",
            "--db",
            &db,
            "--secrets-key-file",
            &keys,
            "--batch",
            &batch.to_string(),
        ])
    })
    .await
    .expect("rotate ran");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Everything a reader of the database sees: the SQLite files (and WAL) as bytes, or every
/// row of every table as PostgreSQL prints it.
async fn raw_contents(db: &TestDb) -> String {
    if let Some(path) = db.sqlite_path() {
        let mut all = Vec::new();
        for suffix in ["", "-wal"] {
            let file = PathBuf::from(format!("{}{suffix}", path.display()));
            if let Ok(bytes) = std::fs::read(&file) {
                all.extend_from_slice(&bytes);
            }
        }
        return String::from_utf8_lossy(&all).into_owned();
    }
    let mut all = String::new();
    for table in [
        "customers",
        "api_keys",
        "conferences",
        "conferencecalls",
        "platform_events",
        "outbox",
        "deadlines",
        "call_pauses",
        "announcements",
    ] {
        let sql = format!("SELECT t::text FROM {table} t");
        all.push_str(&db.query_texts(&sql).await.join("\n"));
    }
    all
}

/// The secret columns of every customer as stored.
async fn stored_secrets(db: &TestDb) -> Vec<String> {
    db.query_texts(
        "SELECT webhook_secret, webhook_secret_previous, connections FROM customers ORDER BY id",
    )
    .await
    .iter()
    .flat_map(|row| row.split(' ').map(str::to_string).collect::<Vec<_>>())
    .filter(|v| !v.is_empty())
    .collect()
}

/// How many stored secret values name key `id`.
async fn sealed_under(db: &TestDb, id: &str) -> i64 {
    let like = format!("'enc:v1:{id}:%'");
    db.query_i64(&format!(
        "SELECT (SELECT COUNT(*) FROM customers WHERE webhook_secret LIKE {like}) \
         + (SELECT COUNT(*) FROM customers WHERE webhook_secret_previous LIKE {like}) \
         + (SELECT COUNT(*) FROM customers WHERE connections LIKE {like})"
    ))
    .await
}

fn assert_absent(raw: &str, secrets: &[&str]) {
    for s in secrets {
        assert!(!raw.contains(s), "a secret is stored in clear: {s}");
    }
}

const CALL: &str = "CA00000000000000000000000000000001";
const CONFERENCE_SID: &str = "CF00000000000000000000000000000009";

#[tokio::test]
async fn twilio_and_jambonz_credentials_are_sealed_and_still_sign_and_authenticate() {
    let keys = Keys::new(&["k1"]);
    let d = Dialect::twilio(keys.config()).await;
    let jambonz = json!({"jambonz": {"account_sid": JAMBONZ_ACCOUNT, "api_key": JAMBONZ_KEY,
        "webhook_secret": JAMBONZ_SECRET, "api_url": d.api.url("/api")}});
    let (status, body) = d.api("PUT", "/v1.0/customer", Some(jambonz)).await;
    assert_eq!(status, 200, "{body}");
    let (status, rotated) = d.api("POST", "/v1.0/customer/webhook_secret", None).await;
    assert_eq!(status, 200, "{rotated}");
    let (old, new) = (
        d.customer.secret.clone(),
        rotated["webhook_secret"].to_string(),
    );
    let new = new.trim_matches('"').to_string();
    assert_ne!(old, new);

    // The Twilio signature of the call is checked with the sealed auth token.
    let voice = [
        ("AccountSid", TWILIO_ACCOUNT),
        ("CallSid", CALL),
        ("From", "+15550001"),
        ("To", "+15559999"),
        ("CallStatus", "ringing"),
        ("Direction", "inbound"),
    ];
    let (status, twiml) = d.twilio_post("voice", &voice).await;
    assert_eq!(status, 200, "{twiml}");
    let (status, _) = d.twilio_post_signed("voice", &voice, Some("bad")).await;
    assert_eq!(status, 403, "a wrong signature is still refused");
    let join = [
        ("AccountSid", TWILIO_ACCOUNT),
        ("ConferenceSid", CONFERENCE_SID),
        ("StatusCallbackEvent", "participant-join"),
        ("CallSid", CALL),
        ("SequenceNumber", "1"),
    ];
    let (status, _) = d.twilio_post("status", &join).await;
    assert_eq!(status, 200);
    let (_, calls) = d.api("GET", "/v1.0/conferencecalls", None).await;
    let cc = calls["result"][0]["id"]
        .as_str()
        .expect("a call")
        .to_string();

    // A kick reaches the fake Twilio API with the account's Basic auth.
    let (status, _) = d
        .api("DELETE", &format!("/v1.0/conferencecalls/{cc}"), None)
        .await;
    assert_eq!(status, 200);
    let got = d
        .api
        .wait_for_total(1, Duration::from_secs(5))
        .await
        .remove(0);
    let basic = base64::engine::general_purpose::STANDARD
        .encode(format!("{TWILIO_ACCOUNT}:{TWILIO_TOKEN}"));
    assert_eq!(got.header("authorization"), format!("Basic {basic}"));

    // Webhooks sent after the rotation verify with the new secret and, during the grace
    // period, with the old one (checked by the tests' own Standard Webhooks implementation).
    let hooks = d.hooks.wait_for_total(3, Duration::from_secs(5)).await;
    let last = hooks.last().expect("a webhook");
    assert!(last.signed_by(&new), "signed with the new secret");
    assert!(last.signed_by(&old), "and with the previous one");
    assert!(!last.signed_by("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));

    // Nothing secret is in the database in clear, and every secret names the key k1.
    let raw = raw_contents(d.server.db()).await;
    assert_absent(
        &raw,
        &[TWILIO_TOKEN, JAMBONZ_KEY, JAMBONZ_SECRET, &old, &new],
    );
    let stored = stored_secrets(d.server.db()).await;
    assert_eq!(
        stored.len(),
        3,
        "current, previous and connections: {stored:?}"
    );
    assert!(
        stored.iter().all(|v| v.starts_with("enc:v1:k1:")),
        "{stored:?}"
    );
    // The API still shows them as before: the webhook secret whole, platform secrets masked.
    let (_, me) = d.api("GET", "/v1.0/customer", None).await;
    assert_eq!(me["webhook_secret"], new.as_str());
    assert_eq!(me["twilio"]["auth_token"], "****9012");
}

#[tokio::test]
async fn a_jambonz_webhook_is_verified_and_its_call_control_authenticated_with_sealed_secrets() {
    let keys = Keys::new(&["k1"]);
    let d = Dialect::jambonz(keys.config()).await;
    let call = json!({"call_sid": "5f1c2e5b-8a2d-4a39-9f5e-1c2d3e4f5a6b", "direction": "inbound",
        "from": "+15550001", "to": "+15559999", "call_id": "sip-1", "sip_status": 100,
        "call_status": "trying", "account_sid": JAMBONZ_ACCOUNT});
    let (status, verbs) = d.jambonz_post("call", &call).await;
    assert_eq!(status, 200, "{verbs}");
    let (status, _) = d
        .jambonz_post_signed("call", &call.to_string(), Some("t=1,v1=00"))
        .await;
    assert_eq!(status, 403, "a wrong signature is still refused");
    let mut join = call.clone();
    join["call_status"] = json!("in-progress");
    join["event"] = json!("join");
    join["conference_sid"] = json!(format!("conf:{JAMBONZ_ACCOUNT}:{}", d.conf));
    join["friendly_name"] = json!(d.conf);
    join["members"] = json!(1);
    let (status, _) = d.jambonz_post("status", &join).await;
    assert_eq!(status, 200);
    let conf = d.server.conference(&d.customer.key, &d.conf).await;
    let cc = conf["conferencecall_ids"][0].as_str().expect("joined");
    let (status, _) = d
        .api("DELETE", &format!("/v1.0/conferencecalls/{cc}"), None)
        .await;
    assert_eq!(status, 200);
    let got = d
        .api
        .wait_for_total(1, Duration::from_secs(5))
        .await
        .remove(0);
    assert_eq!(got.header("authorization"), format!("Bearer {JAMBONZ_KEY}"));
    let raw = raw_contents(d.server.db()).await;
    assert_absent(&raw, &[JAMBONZ_KEY, JAMBONZ_SECRET, &d.customer.secret]);
}

#[tokio::test]
async fn a_secret_moved_to_another_customer_is_refused_and_reported() {
    let keys = Keys::new(&["k1"]);
    let api = Receiver::answering(Reply::status(204)).await;
    let server = TestServer::start_with(|c| {
        allow_private(c);
        c.secrets_key_file = Some(keys.path.clone());
    })
    .await;
    let a = server.create_customer("a").await;
    let b = server.create_customer("b").await;
    for (c, token) in [(&a, "a".repeat(32)), (&b, TWILIO_TOKEN.to_string())] {
        let body = json!({"twilio": {"account_sid": TWILIO_ACCOUNT, "auth_token": token,
            "api_url": api.uri()}});
        let (status, got) = server
            .call("PUT", "/v1.0/customer", Some(&c.key), Some(body))
            .await;
        assert_eq!(status, 200, "{got}");
    }
    let db = server.db().clone();
    // Someone with write access to the database gives a b's credentials.
    let moved = db
        .execute(&format!(
            "UPDATE customers SET connections = (SELECT connections FROM customers WHERE id = '{}') \
             WHERE id = '{}'",
            b.id, a.id
        ))
        .await;
    assert_eq!(moved, 1);
    // Started again (the cache forgotten), confab starts, and refuses to use a's value.
    let server = server
        .restart_with(|c| {
            allow_private(c);
            c.secrets_key_file = Some(keys.path.clone());
        })
        .await;
    let (status, body) = server
        .call("GET", "/v1.0/customer", Some(&a.key), None)
        .await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["error"]["reason"], "SECRET_UNREADABLE", "{body}");
    assert!(!body.to_string().contains(TWILIO_TOKEN), "{body}");
    assert!(!body.to_string().contains("9012"), "{body}");
    let (status, me) = server
        .call("GET", "/v1.0/customer", Some(&b.key), None)
        .await;
    assert_eq!(
        (status, me["twilio"]["auth_token"].as_str()),
        (200, Some("****9012"))
    );
    // A Twilio webhook for a is refused, not verified with b's token.
    let path = format!(
        "/v1.0/twiml/{}/conferences/{}/voice",
        a.id,
        uuid::Uuid::new_v4()
    );
    let res = server
        .client
        .post(server.url(&path))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("X-Twilio-Signature", "x")
        .body("CallSid=CA1")
        .send()
        .await
        .expect("answer");
    assert_eq!(res.status().as_u16(), 500);
    assert!(api.arrivals().is_empty(), "no platform call was made");
    // The rotation reports it by customer and field, and leaves it alone.
    let (ok, report) = rotate(&db, &keys.path, 10).await;
    assert!(!ok, "{report}");
    assert!(
        report.contains(&format!("unreadable: customer {} connections", a.id)),
        "{report}"
    );
    assert!(!report.contains(TWILIO_TOKEN), "{report}");
    // The operator's remedy (docs/operations.md): replace the value; the rotation seals it.
    let fixed = db
        .execute(&format!(
            "UPDATE customers SET connections = '{{}}' WHERE id = '{}'",
            a.id
        ))
        .await;
    assert_eq!(fixed, 1);
    let (status, me) = server
        .call("GET", "/v1.0/customer", Some(&a.key), None)
        .await;
    assert_eq!(
        (status, &me["twilio"]),
        (200, &serde_json::Value::Null),
        "{me}"
    );
    let (ok, report) = rotate(&db, &keys.path, 10).await;
    assert!(ok, "{report}");
    assert!(report.contains("in clear: 0"), "{report}");
}

/// `confab serve` on `db` with `args` that must fail to start: its stderr.
fn refused_start(db: &TestDb, args: &[&str]) -> String {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/flows");
    let mut all = vec!["serve", "--bind", "127.0.0.1:0", "--flows-dir", dir];
    let arg = db.arg();
    all.extend(["--db", &arg]);
    all.extend(args);
    let out = Command::new(env!("CARGO_BIN_EXE_confab"))
        .args(&all)
        .env("RUST_LOG", "warn")
        .output()
        .expect("confab runs");
    assert!(!out.status.success(), "confab started: {out:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test]
async fn a_missing_key_or_a_malformed_key_file_stops_start_up() {
    let keys = Keys::new(&["k1"]);
    let server = TestServer::start_with(keys.config()).await;
    server.create_customer("sealed").await;
    let stopped = server.stop().await;
    let db = stopped.db.clone();

    let other = Keys::new(&["k2"]);
    let err = refused_start(
        &db,
        &["--secrets-key-file", &other.path.display().to_string()],
    );
    assert!(err.contains("key \"k1\""), "{err}");
    assert!(err.contains("does not hold"), "{err}");
    // A key file whose k1 line was regenerated: the id is there, the key is wrong.
    let wrong = Keys::new(&["k1"]);
    let err = refused_start(
        &db,
        &["--secrets-key-file", &wrong.path.display().to_string()],
    );
    assert!(
        err.contains("key \"k1\"") && err.contains("not the key"),
        "{err}"
    );
    let err = refused_start(&db, &[]);
    assert!(
        err.contains("key \"k1\"") && err.contains("no --secrets-key-file"),
        "{err}"
    );
    // `confab customer create` without the key file refuses too, instead of storing the new
    // customer's webhook secret in clear beside the sealed ones.
    let arg = db.arg();
    let out = confab(&["customer", "create", "--db", &arg, "--name", "late"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "customer created: {out:?}");
    assert!(err.contains("key \"k1\""), "{err}");

    let text = std::fs::read_to_string(&keys.path).expect("key file");
    let material = text
        .trim()
        .split_once(':')
        .expect("a key line")
        .1
        .to_string();
    let bad = keys.path.with_file_name("bad");
    std::fs::write(&bad, format!("{text}# a comment\nk2 {material}\n")).expect("write");
    let err = refused_start(&db, &["--secrets-key-file", &bad.display().to_string()]);
    assert!(err.contains("line 3"), "{err}");
    assert!(!err.contains(&material), "the key is never echoed: {err}");
    std::fs::write(&bad, format!("k2:{}\n", &material[..20])).expect("write");
    let err = refused_start(&db, &["--secrets-key-file", &bad.display().to_string()]);
    assert!(err.contains("line 1") && err.contains("32 bytes"), "{err}");

    // With the right key it starts again.
    let server = stopped.start_with(keys.config()).await;
    let (status, _) = server.call("GET", "/healthz", None, None).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn logs_show_neither_keys_nor_secrets() {
    let keys = Keys::new(&["k1"]);
    let key_material = std::fs::read_to_string(&keys.path).expect("key file");
    let key_material = key_material
        .trim()
        .split_once(':')
        .expect("a line")
        .1
        .to_string();
    let dir = tempfile::tempdir().expect("temp dir");
    let db = TestDb::new(dir.path()).await;
    let log_path = dir.path().join("confab.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let mut child = Command::new(env!("CARGO_BIN_EXE_confab"))
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--admin-token",
            "adm",
            "--db",
        ])
        .arg(db.arg())
        .args(["--flows-dir", concat!(env!("CARGO_MANIFEST_DIR"), "/flows")])
        .arg("--secrets-key-file")
        .arg(&keys.path)
        .env("RUST_LOG", "debug")
        .stderr(log)
        .spawn()
        .expect("confab starts");
    let addr = crate::support::poll_until(Duration::from_secs(20), "confab listens", || async {
        let text = std::fs::read_to_string(&log_path).ok()?;
        let rest = text.split("addr=").nth(1)?;
        Some(rest.split_whitespace().next()?.to_string())
    })
    .await;
    let client = reqwest::Client::new();
    let call = |method: reqwest::Method, path: &str, key: &str, body: Option<serde_json::Value>| {
        let mut req = client
            .request(method, format!("http://{addr}{path}"))
            .bearer_auth(key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        async move {
            let res = req.send().await.expect("answer");
            let status = res.status().as_u16();
            (
                status,
                res.json::<serde_json::Value>().await.unwrap_or_default(),
            )
        }
    };
    let mut customers = Vec::new();
    for name in ["a", "b"] {
        let (_, c) = call(
            reqwest::Method::POST,
            "/v1.0/customers",
            "adm",
            Some(json!({"name": name})),
        )
        .await;
        let key = c["api_key"].as_str().expect("api key").to_string();
        let twilio = json!({"twilio": {"account_sid": TWILIO_ACCOUNT, "auth_token": TWILIO_TOKEN}});
        let (status, _) = call(reqwest::Method::PUT, "/v1.0/customer", &key, Some(twilio)).await;
        assert_eq!(status, 200);
        let (_, rotated) = call(
            reqwest::Method::POST,
            "/v1.0/customer/webhook_secret",
            &key,
            None,
        )
        .await;
        customers.push((
            c["id"].as_str().expect("id").to_string(),
            key,
            c["webhook_secret"].clone(),
            rotated["webhook_secret"].clone(),
        ));
    }
    // A value moved between customers: its failure is logged, naming where it is stored.
    db.execute(&format!(
        "UPDATE customers SET connections = (SELECT connections FROM customers WHERE id = '{}') \
         WHERE id = '{}'",
        customers[1].0, customers[0].0
    ))
    .await;
    let (status, _) = call(
        reqwest::Method::GET,
        "/v1.0/customer",
        &customers[0].1,
        None,
    )
    .await;
    assert_eq!(status, 500);
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(&log_path).expect("log");
    assert!(
        text.contains("cannot be used") && text.contains(&customers[0].0),
        "{text}"
    );
    let mut secrets = vec![TWILIO_TOKEN.to_string(), key_material];
    for (_, _, old, new) in &customers {
        secrets.extend([old, new].map(|s| s.as_str().expect("a secret").to_string()));
    }
    for s in &secrets {
        assert!(!text.contains(s.as_str()), "the log shows a secret or key");
    }
}
