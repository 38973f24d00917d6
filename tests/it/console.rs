//! The console (§12) in a real browser: headless Debian Chromium driven by playwright-core
//! (`tests/console/console_test.cjs`), against the real server, including a PIN room's
//! simulation with the caller's digits (§13), a conference created with room rules whose
//! calls show their roles (§14), and a joined call muted, held, resumed and spoken to, and the
//! room spoken to, from its controls (§15), and a call dialled into a room from its dial box
//! (§15, issue 27), and the charts of a room's participants over time and of the customer's
//! usage per day (§16, issue 28), on calls that joined and left at known moments. Screenshots
//! of each step are kept in `target/console-screenshots/` for review.

use crate::support::tools::{chromium, playwright_node_modules};
use crate::support::{signed, Receiver, TestServer, PLATFORM_SECRET};
use serde_json::json;
use std::path::PathBuf;
use std::process::Command;

#[tokio::test]
async fn a_flow_author_signs_in_watches_edits_saves_and_simulates() {
    let (modules, browser) =
        tokio::task::spawn_blocking(|| (playwright_node_modules(), chromium()))
            .await
            .expect("install thread");
    // The platform a native dial's command goes to (§15: dial-out needs a --platform-url).
    let platform = Receiver::start().await;
    let platform_url = platform.uri();
    let s = TestServer::start_with(move |c| {
        signed(c);
        c.platform_url = Some(platform_url);
    })
    .await;
    let c = s.create_customer("console").await;
    let conf = s
        .create_conference(
            &c.key,
            json!({"name": "Console room", "pre_actions": [{"type": "talk", "option": {"text": "Welcome"}}]}),
        )
        .await;
    // A PIN room (§13): the shipped `pin` flow asks for its data's PIN, pausing the list.
    s.create_conference(
        &c.key,
        json!({"name": "PIN room", "data": {"pin": "4711"}, "pre_actions": [{"type": "flow", "option": {"name": "pin"}}]}),
    )
    .await;
    // A room whose calls join and leave at known moments on confab's clock (moved here, 75 s
    // in all: within the platform signature's tolerance of the browser's clock), for the
    // participants chart (§16): c1 joins; 10 s later c2; 20 s later c1 leaves; 15 s later c3
    // joins; 30 s later c2 leaves; c3 stays. A fourth call never joins. Joined: 1, 2, 1, 2, 1
    // (five changes, at most 2); c1 stayed 30 s and c2 65 s: 95 participant-seconds today.
    let chart = s
        .create_conference(&c.key, json!({"name": "Chart room"}))
        .await;
    let chart_id = chart["id"].as_str().unwrap().to_string();
    let event = |call: &str, kind: &str| {
        let data = json!({"call_id": call, "conference_id": chart_id});
        s.event(&format!("{call}-{kind}"), kind, data)
    };
    for call in ["chart-c1", "chart-c2", "chart-c3", "chart-c4"] {
        assert_eq!(event(call, "call_joining").await.status, 200);
    }
    for (after, call, kind) in [
        (0, "chart-c1", "call_joined"),
        (10, "chart-c2", "call_joined"),
        (20, "chart-c1", "call_left"),
        (15, "chart-c3", "call_joined"),
        (30, "chart-c2", "call_left"),
    ] {
        s.advance(std::time::Duration::from_secs(after));
        assert_eq!(event(call, kind).await.status, 200, "{call} {kind}");
    }
    // The day those calls left on confab's clock: the usage chart's last day.
    let today = chrono::DateTime::<chrono::Utc>::from_timestamp_micros(s.now_micros())
        .unwrap()
        .format("%Y-%m-%d")
        .to_string();
    // A hundred newer conferences put "Console room" and "PIN room" on the list's second page.
    for i in 0..100 {
        s.create_conference(&c.key, json!({"name": format!("Newer {i}")}))
            .await;
    }
    let screenshots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/console-screenshots");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/console/console_test.cjs");
    let (base, key, id) = (
        s.base.clone(),
        c.key.clone(),
        conf["id"].as_str().unwrap().to_string(),
    );
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(&script)
            .env("NODE_PATH", &modules)
            .env("CONFAB_URL", base)
            .env("CONFAB_KEY", key)
            .env("CONFAB_CONFERENCE", id)
            .env("CONFAB_CHART_CONFERENCE", chart_id)
            .env("CONFAB_TODAY", today)
            .env("CONFAB_PLATFORM_SECRET", PLATFORM_SECRET)
            .env("CHROMIUM", browser)
            .env("SCREENSHOTS", &screenshots)
            .output()
            .expect("node")
    })
    .await
    .expect("browser thread");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // The console's dial reached the platform as one call_dial command, as it was typed (the
    // dial into the locked room was refused: nothing was sent for it).
    let is_dial =
        |a: &crate::support::Arrival| a.path() == "/commands" && a.json()["type"] == "call_dial";
    platform
        .wait_for(
            std::time::Duration::from_secs(10),
            "a call_dial command",
            |all| all.iter().any(is_dial).then_some(()),
        )
        .await;
    let dials: Vec<_> = platform
        .arrivals()
        .iter()
        .filter(|a| is_dial(a))
        .map(|a| a.json())
        .collect();
    assert_eq!(dials.len(), 1, "{dials:?}");
    assert_eq!(dials[0]["data"]["destination"], "+15550100");
    assert_eq!(dials[0]["data"]["from"], "+15550199");
    assert_eq!(dials[0]["data"]["timeout"], 30);
}

#[tokio::test]
async fn the_console_is_served_from_the_binary_with_nothing_from_elsewhere() {
    let s = TestServer::start().await;
    for (path, kind) in [
        ("/console", "text/html"),
        ("/console/console.js", "text/javascript"),
        ("/console/charts.js", "text/javascript"),
        ("/console/console.css", "text/css"),
    ] {
        let res = s.client.get(s.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        assert!(res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with(kind));
        assert!(res.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'self'"));
        let body = res.text().await.unwrap();
        assert!(
            !body.contains("http://") && !body.contains("https://"),
            "{path} names another host"
        );
    }
    // The change stream needs a key, like the API.
    let res = s.client.get(s.url("/console/events")).send().await.unwrap();
    assert_eq!(res.status(), 401);
}

/// The change stream carries this customer's changes only, and an open stream does not hold
/// a graceful shutdown (it ends when the server stops).
#[tokio::test]
async fn the_change_stream_is_per_customer_and_ends_at_shutdown() {
    let s = TestServer::start().await;
    let mine = s.create_customer("mine").await;
    let other = s.create_customer("other").await;
    let mut stream = s
        .client
        .get(s.url("/console/events"))
        .bearer_auth(&mine.key)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert!(stream.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let hello = stream.chunk().await.unwrap().unwrap();
    assert!(String::from_utf8_lossy(&hello).contains("event: hello"));
    s.create_conference(&other.key, json!({"name": "not mine"}))
        .await;
    let conf = s
        .create_conference(&mine.key, json!({"name": "mine"}))
        .await;
    let change = tokio::time::timeout(std::time::Duration::from_secs(5), stream.chunk())
        .await
        .expect("a change within 5 s")
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&change).into_owned();
    assert!(text.contains("event: change"), "{text}");
    assert!(
        text.contains(conf["id"].as_str().unwrap()),
        "another customer's change: {text}"
    );
    let started = std::time::Instant::now();
    tokio::time::timeout(std::time::Duration::from_secs(10), s.stop())
        .await
        .expect("the server stops with a stream open");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}
