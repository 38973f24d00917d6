//! The `confab` binary's subcommands, run as a user would run them.

use crate::support::{on_postgres, TestDb, TestServer};
use std::process::Command;

fn confab() -> Command {
    Command::new(env!("CARGO_BIN_EXE_confab"))
}

#[tokio::test]
async fn customer_create_prints_one_json_object() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(dir.path()).await;
    let out = confab()
        .args(["customer", "create", "--db"])
        .arg(db.arg())
        .args(["--name", "acme", "--webhook-uri", "https://example.com/h"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["name"], "acme");
    assert!(v["api_key"].as_str().unwrap().starts_with("cfk_"));
    assert!(v["webhook_secret"].as_str().unwrap().starts_with("whsec_"));
    assert!(uuid::Uuid::parse_str(v["id"].as_str().unwrap()).is_ok());
    // The key is stored hashed (SHA-256), never in clear.
    let stored = db.query_i64("SELECT length(key_hash) FROM api_keys").await;
    assert_eq!(stored, 32);
}

#[test]
fn flows_check_passes_on_the_shipped_flows_and_locates_problems() {
    let out = confab()
        .args(["flows", "check"])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/flows"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.json"), "{\n  \"name\": \"bad\",\n  \"actions\": [\n    {\"type\": \"sleep\", \"option\": {\"duration\": 0}}\n  ]\n}").unwrap();
    let out = confab()
        .args(["flows", "check"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(
            "bad.json:4:5: actions[0].option.duration: must be between 1 and 600000 milliseconds"
        ),
        "{text}"
    );
}

#[test]
fn flows_render_prints_what_the_platform_receives() {
    let out = confab()
        .args(["flows", "render", "menu", "--input", "1", "--dir"])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/flows"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // The menu asks (and pauses); the input 1 resumes it: both answers, in order.
    assert_eq!(v["actions"][1]["type"], "digits_receive");
    assert_eq!(
        v["actions"][2]["option"]["text"],
        "Connecting you to sales."
    );
    assert_eq!(v["actions"][3]["type"], "conference_join");
    let bad = confab()
        .args(["flows", "render", "menu", "--input", "1x", "--dir"])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/flows"))
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--input \"1x\""));
}

#[test]
fn serve_help_lists_every_setting() {
    let out = confab().args(["serve", "--help"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--bind",
        "--db",
        "--flows-dir",
        "--admin-token",
        "--platform-url",
        "--platform-secret",
        "--idle-timeout",
        "--kick-grace",
        "--webhook-retry-schedule",
        "--command-retry-schedule",
        "--webhook-allow-private",
    ] {
        assert!(text.contains(flag), "{flag} missing from --help");
    }
    assert!(text.contains("CONFAB_BIND"));
}

#[tokio::test]
async fn backup_copies_a_live_database() {
    if on_postgres() {
        return backup_of_postgres_points_to_pg_dump().await;
    }
    // A running server with data in it.
    let s = TestServer::start().await;
    let a = s.create_customer("a").await;
    s.call(
        "POST",
        "/v1.0/conferences",
        Some(&a.key),
        Some(serde_json::json!({"name": "kept"})),
    )
    .await;
    let db = s.db().sqlite_path().expect("a SQLite run").to_path_buf();
    let copy = db.with_file_name("copy.db");
    let out = confab()
        .args(["backup", "--db"])
        .arg(&db)
        .arg("--to")
        .arg(&copy)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let conn = rusqlite::Connection::open(&copy).unwrap();
    let name: String = conn
        .query_row("SELECT name FROM conferences", [], |r| r.get(0))
        .unwrap();
    assert_eq!(name, "kept");
    let again = confab()
        .args(["backup", "--db"])
        .arg(&db)
        .arg("--to")
        .arg(&copy)
        .output()
        .unwrap();
    assert!(
        !again.status.success(),
        "an existing file is not overwritten"
    );
}

/// `confab backup` copies SQLite files; given a PostgreSQL URL it says what to use instead.
async fn backup_of_postgres_points_to_pg_dump() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::postgres().await;
    let out = confab()
        .args(["backup", "--db", &db.arg(), "--to"])
        .arg(dir.path().join("copy.db"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("pg_dump"), "{err}");
    assert!(!dir.path().join("copy.db").exists());
}
