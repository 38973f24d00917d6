//! Caller input (SPEC §13) where a scenario file cannot reach: a flow reloaded while a caller
//! waits at its prompt, and the raw pause rows.

use crate::support::{poll_until, signed, TestServer};
use serde_json::json;
use std::time::Duration;

/// A paused run continues only the program it paused in. When a flow it includes is reloaded
/// with different actions meanwhile, the step it would continue at may mean something else,
/// so the caller is hung up (and told why in the hangup reason) rather than let through a
/// list that, for a PIN room, might no longer check the PIN.
#[tokio::test]
async fn a_flow_reloaded_while_a_caller_waits_hangs_that_caller_up() {
    let flows = tempfile::tempdir().unwrap();
    let file = flows.path().join("ask.json");
    let write = |question: &str, extra: bool| {
        let mut actions = vec![
            json!({"type": "talk", "option": {"text": question}}),
            json!({"type": "digits_receive"}),
        ];
        if extra {
            actions.insert(0, json!({"type": "beep"}));
        }
        let flow = json!({"name": "ask", "description": question, "actions": actions});
        std::fs::write(&file, flow.to_string()).unwrap();
    };
    write("first?", false);
    let dir = flows.path().to_path_buf();
    let s = TestServer::start_with(|c| {
        c.flows_dir = dir;
        signed(c);
    })
    .await;
    let a = s.create_customer("a").await;
    let body = json!({"pre_actions": [{"type": "flow", "option": {"name": "ask"}}, {"type": "talk", "option": {"text": "in"}}]});
    let conf = s.create_conference(&a.key, body).await;
    let cid = conf["id"].as_str().unwrap().to_string();
    let data = |call: &str| json!({"call_id": call, "conference_id": cid});
    let digits = |call: &str| json!({"call_id": call, "conference_id": cid, "digits": "1"});

    // Caller 1 waits; an unchanged reload (none happens) lets it continue.
    assert_eq!(
        s.event("j1", "call_joining", data("c1")).await.json["pause"],
        1
    );
    let on = s.event("d1", "call_digits_received", digits("c1")).await;
    assert_eq!(
        on.json["actions"][0]["option"]["text"],
        "in",
        "{}",
        on.text()
    );

    // Caller 2 waits while the flow gains an action before its prompt.
    assert_eq!(
        s.event("j2", "call_joining", data("c2")).await.json["pause"],
        1
    );
    write("second?", true);
    poll_until(Duration::from_secs(10), "the reload picked up", || async {
        let (_, list) = s.call("GET", "/v1.0/flows", Some(&a.key), None).await;
        (list["result"][0]["description"] == "second?").then_some(())
    })
    .await;
    let off = s.event("d2", "call_digits_received", digits("c2")).await;
    assert_eq!(off.status, 200);
    assert_eq!(
        off.json["actions"],
        json!([{"type": "hangup", "option": {"reason": "the action list changed while the call waited for input"}}]),
        "{}",
        off.text()
    );
    assert_eq!(off.json["conferencecall"]["status"], "leaved");

    // A new caller runs the reloaded flow.
    let fresh = s.event("j3", "call_joining", data("c3")).await;
    assert_eq!(fresh.json["actions"][0]["type"], "beep");
}
