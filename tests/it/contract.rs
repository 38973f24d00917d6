//! The JSON API against its own OpenAPI document, with other projects' tools: Schemathesis
//! generates requests from the served `/openapi.json` (schema-valid and invalid ones, and
//! stateful sequences along its links) and checks every answer against it; a client generated
//! by openapi-python-client must compile, type-check and round-trip a conference, a call
//! listing and platform events. Both run against the real server, installed by the tests
//! (`tests/contract/`, `tests/client/`).

use crate::support::tools::suite_python;
use crate::support::{signed, TestServer, ADMIN_TOKEN, PLATFORM_SECRET};
use std::path::PathBuf;
use std::process::Command;

/// Runs a suite's script with the suite's venv while the server keeps answering; its exit
/// code and output.
async fn run_suite(suite: &'static str, script: &str, args: Vec<String>) -> (bool, String) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(suite)
        .join(script);
    tokio::task::spawn_blocking(move || {
        let python = suite_python(suite);
        let out = Command::new(python)
            .arg(&script)
            .args(&args)
            .output()
            .unwrap_or_else(|e| panic!("could not start {}: {e}", script.display()));
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    })
    .await
    .expect("suite thread")
}

/// The number after `label` in a summary line such as `test cases generated: 1952, ...`.
fn count_after(text: &str, label: &str) -> Option<u64> {
    let rest = &text[text.find(label)? + label.len()..];
    rest.trim_start()
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

#[tokio::test]
async fn schemathesis_finds_no_failure_in_the_served_document() {
    // Schemathesis sends thousands of requests with wrong keys from one address, faster or
    // slower with the machine's load; the per-address brute-force limit would then answer
    // some of them 429 instead of 401 (seen in CI). That limit is tested on its own
    // (`operations::a_flood_of_bad_keys_is_cut_off_without_hurting_real_customers`); the
    // contract is checked without it.
    let s = TestServer::start_with(|c| {
        signed(c);
        c.auth_failure_limit = 0;
    })
    .await;
    let c = s.create_customer("contract").await;
    let reports = tempfile::tempdir().expect("temp dir");
    // A fixed seed keeps CI reproducible; CONFAB_CONTRACT_SEED=<n> explores other inputs.
    let seed = std::env::var("CONFAB_CONTRACT_SEED").unwrap_or_else(|_| "20261123".into());
    let args = vec![
        "--seed".into(),
        seed,
        "--base-url".into(),
        s.base.clone(),
        "--api-key".into(),
        c.key.clone(),
        "--platform-secret".into(),
        PLATFORM_SECRET.into(),
        "--admin-token".into(),
        ADMIN_TOKEN.into(),
        "--report-dir".into(),
        reports.path().display().to_string(),
        // Per operation and phase: about 2,000 cases over the 20 operations.
        "--max-examples".into(),
        "25".into(),
    ];
    let (ok, out) = run_suite("contract", "run.py", args).await;
    assert!(ok, "Schemathesis found failures:\n{out}");
    let cases = count_after(&out, "test cases generated:").unwrap_or(0);
    assert!(cases >= 1000, "only {cases} test cases ran:\n{out}");
    for phase in ["examples", "coverage", "fuzzing", "stateful"] {
        assert!(
            out.contains(&format!("phase {phase}: success")),
            "phase {phase} did not succeed:\n{out}"
        );
    }
}

#[tokio::test]
async fn a_generated_client_round_trips_conferences_calls_and_events() {
    let s = TestServer::start_with(signed).await;
    let c = s.create_customer("client").await;
    let args = vec![
        "--base-url".into(),
        s.base.clone(),
        "--api-key".into(),
        c.key.clone(),
        "--platform-secret".into(),
        PLATFORM_SECRET.into(),
    ];
    let (ok, out) = run_suite("client", "roundtrip.py", args).await;
    assert!(ok, "the generated client's round trip failed:\n{out}");
    assert!(out.contains("round trip: PASS"), "{out}");
}

/// `/metrics` as Prometheus's own Python client reads OpenMetrics (its parser is strict: one
/// family per name, `# EOF` last, counters with `_total` samples, histogram buckets in order).
/// Families with no series yet (no platform event, no delivery) are not written at all.
#[tokio::test]
async fn metrics_parse_with_the_prometheus_openmetrics_parser() {
    let s = TestServer::start_with(signed).await;
    let c = s.create_customer("metrics").await;
    s.call("GET", "/v1.0/conferences", Some(&c.key), None).await;
    let text = s
        .client
        .get(s.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    let parse = "import sys\n\
        from prometheus_client.openmetrics.parser import text_string_to_metric_families\n\
        for f in text_string_to_metric_families(sys.stdin.read()):\n\
        \x20   print(f.name, f.type, len(f.samples))\n";
    let families = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = Command::new(suite_python("contract"))
            .args(["-c", parse])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("python");
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(text.as_bytes()).expect("write metrics");
        }
        let out = child.wait_with_output().expect("parser");
        assert!(
            out.status.success(),
            "the OpenMetrics parser refused /metrics: {}\n{text}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    })
    .await
    .expect("parser thread");
    for family in [
        "confab_http_requests counter",
        "confab_rate_limited counter",
        "confab_http_request_duration_seconds histogram",
        "confab_outbox_depth gauge",
        "confab_active_conferences gauge",
        "confab_store_write_failures counter",
        "confab_store_batch_size histogram",
        "confab_store_commit_seconds histogram",
    ] {
        assert!(families.contains(family), "{family} missing in\n{families}");
    }
}
