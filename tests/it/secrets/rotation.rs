//! `confab secrets rotate`: values stored in clear are sealed, a rotation under load loses no
//! write and leaves nothing under the old key, and a reseal never overwrites a newer value.

use super::{assert_absent, raw_contents, rotate, sealed_under, stored_secrets, Keys};
use crate::support::dialects::{TWILIO_ACCOUNT, TWILIO_TOKEN};
use crate::support::TestServer;
use serde_json::json;

#[tokio::test]
async fn secrets_stored_in_clear_before_the_key_file_are_sealed_by_rotate() {
    let server = TestServer::start().await;
    let c = server.create_customer("early").await;
    let twilio = json!({"twilio": {"account_sid": TWILIO_ACCOUNT, "auth_token": TWILIO_TOKEN}});
    let (status, body) = server
        .call("PUT", "/v1.0/customer", Some(&c.key), Some(twilio))
        .await;
    assert_eq!(status, 200, "{body}");
    let db = server.db().clone();
    assert!(
        raw_contents(&db).await.contains(TWILIO_TOKEN),
        "in clear without a key file"
    );

    let keys = Keys::new(&["k1"]);
    let server = server.restart_with(keys.config()).await;
    // Still readable while in clear; rotate seals them.
    let (_, me) = server
        .call("GET", "/v1.0/customer", Some(&c.key), None)
        .await;
    assert_eq!(me["webhook_secret"], c.secret.as_str());
    let (ok, report) = rotate(&db, &keys.path, 10).await;
    assert!(ok, "{report}");
    assert!(
        report.contains("resealed 2 value(s) under key k1"),
        "{report}"
    );
    assert!(report.contains("key k1: 2 value(s) (newest)"), "{report}");
    assert!(report.contains("in clear: 0"), "{report}");
    let stored = stored_secrets(&db).await;
    assert!(
        stored.iter().all(|v| v.starts_with("enc:v1:k1:")),
        "{stored:?}"
    );
    let (_, me) = server
        .call("GET", "/v1.0/customer", Some(&c.key), None)
        .await;
    assert_eq!(me["webhook_secret"], c.secret.as_str());
    assert_eq!(me["twilio"]["auth_token"], "****9012");
    // A SQLite file keeps freed pages: what matters is the live rows, checked above, and
    // on PostgreSQL every row as printed.
    if db.sqlite_path().is_none() {
        assert_absent(&raw_contents(&db).await, &[TWILIO_TOKEN, &c.secret]);
    }
}

/// One customer's writer during the rotation: alternately sets a new Twilio auth token and
/// rotates the webhook secret, and returns what it last had acknowledged.
async fn keep_writing(
    server: &TestServer,
    key: &str,
    until: &tokio::sync::watch::Receiver<bool>,
) -> (String, String) {
    let (mut token, mut secret) = (String::new(), String::new());
    let mut n = 0u32;
    while n < 6 || !*until.borrow() {
        n += 1;
        let t = format!("{:032}", u64::from(n) * 7919 + 17);
        let body = json!({"twilio": {"account_sid": TWILIO_ACCOUNT, "auth_token": t}});
        let (status, got) = server
            .call("PUT", "/v1.0/customer", Some(key), Some(body))
            .await;
        assert_eq!(status, 200, "{got}");
        token = t;
        let (status, got) = server
            .call("POST", "/v1.0/customer/webhook_secret", Some(key), None)
            .await;
        assert_eq!(status, 200, "{got}");
        secret = got["webhook_secret"].as_str().expect("secret").to_string();
    }
    (token, secret)
}

const CUSTOMERS: usize = 30;
const WRITTEN: usize = 8;

#[tokio::test]
async fn rotate_under_load_loses_no_write_and_leaves_nothing_under_the_old_key() {
    let keys = Keys::new(&["k1"]);
    let server = TestServer::start_with(keys.config()).await;
    let mut customers = Vec::new();
    // The first WRITTEN customers are written to throughout; the rest are left for the
    // rotation to reseal.
    for i in 0..CUSTOMERS {
        customers.push(server.create_customer(&format!("c{i}")).await);
    }
    let db = server.db().clone();
    assert_eq!(
        sealed_under(&db, "k1").await,
        CUSTOMERS as i64 * 2,
        "secret and connections"
    );

    keys.append("k2");
    let (stop, until) = tokio::sync::watch::channel(false);
    let writers = customers[..WRITTEN]
        .iter()
        .map(|c| keep_writing(&server, &c.key, &until));
    let rotation = async {
        let out = rotate(&db, &keys.path, 2).await;
        let _ = stop.send(true);
        out
    };
    let (written, (ok, report)) = tokio::join!(futures_util::future::join_all(writers), rotation);
    assert!(ok, "{report}");
    // Every value no one wrote meanwhile was resealed by the rotation itself (a written
    // customer's too if the rotation reached it before its first write).
    let untouched = (CUSTOMERS - WRITTEN) * 2;
    let resealed: usize = report
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{report}"));
    assert!(resealed >= untouched, "{report}");
    assert!(
        report.contains("key k1: 0 value(s) (protects nothing"),
        "{report}"
    );

    // Every acknowledged write is what the customer has now.
    for (c, (token, secret)) in customers.iter().zip(&written) {
        let (status, me) = server
            .call("GET", "/v1.0/customer", Some(&c.key), None)
            .await;
        assert_eq!(status, 200, "{me}");
        assert_eq!(me["webhook_secret"], secret.as_str(), "{}", c.id);
        assert_eq!(
            me["twilio"]["auth_token"],
            format!("****{}", &token[28..]),
            "{}",
            c.id
        );
    }
    assert_eq!(
        sealed_under(&db, "k1").await,
        0,
        "no ciphertext left under k1"
    );
    let written_values = WRITTEN * 3 + (CUSTOMERS - WRITTEN) * 2;
    assert_eq!(sealed_under(&db, "k2").await, written_values as i64);
    // k1 may go: the server starts without it.
    std::fs::write(
        &keys.path,
        std::fs::read_to_string(&keys.path)
            .expect("key file")
            .lines()
            .filter(|l| l.starts_with("k2:"))
            .map(|l| format!("{l}\n"))
            .collect::<String>(),
    )
    .expect("write the key file");
    let server = server.restart_with(keys.config()).await;
    let (status, _) = server
        .call("GET", "/v1.0/customer", Some(&customers[0].key), None)
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_reseal_never_overwrites_a_value_changed_since_it_was_read() {
    use confab::store::{SecretField, Store, StoreError, StoreOptions};
    let keys = Keys::new(&["k1"]);
    let server = TestServer::start_with(keys.config()).await;
    let c = server.create_customer("c").await;
    let db = server.db().clone();
    let options = StoreOptions {
        readers: 1,
        pg_writers: 1,
        secrets: confab::secrets::Secrets::from_file(&keys.path).expect("keys"),
        ..StoreOptions::default()
    };
    let store = Store::connect(&db.database(), options).expect("the store opens");
    // What a rotation read, then a customer's write before the rotation writes.
    let read = store
        .read(|tx| tx.stored_secrets("", 10))
        .await
        .expect("read");
    let stale = read[0].values[0].clone();
    let (status, rotated) = server
        .call("POST", "/v1.0/customer/webhook_secret", Some(&c.key), None)
        .await;
    assert_eq!(status, 200, "{rotated}");
    let id = c.id.clone();
    let replaced = store
        .write(move |tx| {
            let junk = "enc:v1:k1:AAAA";
            tx.replace_stored_secret(&id, SecretField::WebhookSecret, &stale, junk)
        })
        .await;
    assert!(
        matches!(replaced, Ok(false)),
        "{:?}",
        replaced.map_err(|e: StoreError| e.to_string())
    );
    let (_, me) = server
        .call("GET", "/v1.0/customer", Some(&c.key), None)
        .await;
    assert_eq!(me["webhook_secret"], rotated["webhook_secret"]);
}
