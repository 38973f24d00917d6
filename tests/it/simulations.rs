//! `POST /v1.0/simulations` and `confab flows simulate` (§12): data-driven cases whose
//! simulated actions must equal what a real platform event gets for the same input, traces
//! that say what each step did, and nothing changed by a simulation.

use crate::support::{signed, TestServer};
use serde_json::{json, Value};

const A: &str = "11111111-1111-1111-1111-111111111111";
const B: &str = "22222222-2222-2222-2222-222222222222";
const C: &str = "33333333-3333-3333-3333-333333333333";

/// (name, pre_actions, post_actions, variables, the trace's step types on join (empty: not
/// checked), how the join's run ended).
type Case = (
    &'static str,
    Value,
    Value,
    Value,
    Vec<&'static str>,
    &'static str,
);

fn cases() -> Vec<Case> {
    vec![
        (
            "variables from the platform and the conference",
            json!([{"type": "talk", "option": {"text": "Hi ${call.from}, welcome to ${conference.name} (${conference.data.room})"}}]),
            json!([{"type": "talk", "option": {"text": "Bye ${call.from}"}}]),
            json!({"call.from": "+15550100", "call.id": "sim-1"}),
            vec!["talk"],
            "the end of the list",
        ),
        (
            "a branch on a variable, with a default",
            json!([{"type": "branch", "option": {"variable": "digits", "target_ids": {"1": A, "2": B}, "default_target_id": C}},
                   {"id": A, "type": "talk", "option": {"text": "sales"}, "next_id": C},
                   {"id": B, "type": "talk", "option": {"text": "support"}},
                   {"id": C, "type": "beep"}]),
            json!([{"type": "branch", "option": {"variable": "digits", "target_ids": {"2": B}}},
                   {"type": "hangup"},
                   {"id": B, "type": "talk", "option": {"text": "thanks for calling support"}}]),
            json!({"digits": "2", "call.id": "sim-2"}),
            vec!["branch", "talk", "beep"],
            "the end of the list",
        ),
        (
            "a goto taken twice, then falling through",
            json!([{"id": A, "type": "variable_set", "option": {"key": "n", "value": "${n}x"}},
                   {"type": "goto", "option": {"target_id": A, "loop_count": 2}},
                   {"type": "talk", "option": {"text": "n=${n}"}}]),
            json!([]),
            json!({"call.id": "sim-3"}),
            vec![
                "variable_set",
                "goto",
                "variable_set",
                "goto",
                "variable_set",
                "goto",
                "talk",
            ],
            "the end of the list",
        ),
        (
            "a condition that fails jumps; a hangup keeps the call out",
            json!([{"type": "condition_variable", "option": {"variable": "call.from", "condition": "==", "value_type": "length", "value_length": 3, "false_target_id": B}},
                   {"type": "talk", "option": {"text": "short number"}},
                   {"id": B, "type": "hangup", "option": {"reason": "screened"}}]),
            json!([{"type": "stop"}, {"type": "talk", "option": {"text": "never"}}]),
            json!({"call.from": "+15550100", "call.id": "sim-4"}),
            vec!["condition_variable", "hangup"],
            "hangup",
        ),
        (
            "a flow inlined",
            json!([{"type": "flow", "option": {"name": "welcome"}}, {"type": "stop"}]),
            json!([{"type": "flow", "option": {"name": "goodbye"}}]),
            json!({"call.id": "sim-5"}),
            vec![],
            "stop",
        ),
    ]
}

async fn simulate(s: &TestServer, key: &str, body: Value) -> Value {
    let (status, answer) = s
        .call("POST", "/v1.0/simulations", Some(key), Some(body.clone()))
        .await;
    assert_eq!(status, 200, "{body} -> {answer}");
    answer
}

#[tokio::test]
async fn a_simulation_emits_exactly_what_a_real_join_and_leave_get() {
    let s = TestServer::start_with(signed).await;
    let c = s.create_customer("sim").await;
    for (name, pre, post, vars, steps, end) in cases() {
        let conf = s
            .create_conference(
                &c.key,
                json!({"name": "Sim room", "data": {"room": "4B"}, "pre_actions": pre, "post_actions": post}),
            )
            .await;
        let id = conf["id"].as_str().unwrap();
        let join = simulate(
            &s,
            &c.key,
            json!({"conference_id": id, "event": "join", "variables": vars}),
        )
        .await;
        let leave = simulate(
            &s,
            &c.key,
            json!({"conference_id": id, "event": "leave", "variables": {"call.id": vars["call.id"],
                "call.from": vars["call.from"].as_str().unwrap_or(""), "call.to": ""}}),
        )
        .await;
        // Nothing changed: no call, same conference.
        let (_, calls) = s
            .call(
                "GET",
                &format!("/v1.0/conferencecalls?conference_id={id}"),
                Some(&c.key),
                None,
            )
            .await;
        assert_eq!(
            calls["result"],
            json!([]),
            "{name}: a simulation made a call"
        );
        assert_eq!(
            s.conference(&c.key, id).await,
            conf,
            "{name}: the conference changed"
        );

        let call_id = vars["call.id"].as_str().unwrap();
        let data = json!({"call_id": call_id, "conference_id": id,
            "from": vars["call.from"].as_str().unwrap_or(""), "variables": vars});
        let real = s.event(&format!("{name}-join"), "call_joining", data).await;
        assert_eq!(real.status, 200, "{name}: {}", real.text());
        assert_eq!(join["actions"], real.json["actions"], "{name}: join");
        let traced: Vec<&str> = join["trace"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|t| t["type"].as_str())
            .collect();
        if !steps.is_empty() {
            assert_eq!(traced, steps, "{name}: {}", join["trace"]);
        }
        assert_eq!(
            join["trace"].as_array().unwrap().last().unwrap()["end"],
            end,
            "{name}"
        );

        if join["hangup"] == true {
            continue;
        }
        let left_data = json!({"call_id": call_id, "conference_id": id});
        s.event(&format!("{name}-joined"), "call_joined", left_data.clone())
            .await;
        let real = s
            .event(&format!("{name}-left"), "call_left", left_data)
            .await;
        // A real leave carries only the call's id, and confab adds the numbers the call
        // arrived with (the join's `from`; no `to`), so the leave was simulated with those.
        assert_eq!(leave["actions"], real.json["actions"], "{name}: leave");
    }
}

#[tokio::test]
async fn traces_say_why_each_step_went_where_it_went() {
    let s = TestServer::start().await;
    let c = s.create_customer("sim").await;
    let menu = simulate(&s, &c.key, json!({"flow": "menu", "inputs": ["9"]})).await;
    let branch = menu["trace"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["type"] == "branch")
        .cloned()
        .unwrap();
    assert_eq!(branch["branch"]["value"], "9");
    assert_ne!(branch["branch"]["by"], "target_ids", "{branch}");
    let looped = simulate(
        &s,
        &c.key,
        json!({"actions": [{"id": A, "type": "beep"}, {"type": "goto", "option": {"target_id": A, "loop_count": 1}}]}),
    )
    .await;
    let gotos: Vec<&Value> = looped["trace"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["type"] == "goto")
        .collect();
    assert_eq!(
        gotos[0]["goto"],
        json!({"jumped": true, "jumps_taken": 1, "loop_count": 1})
    );
    assert_eq!(gotos[0]["next_id"], A);
    assert_eq!(gotos[1]["goto"]["jumped"], false);
    let effects = simulate(
        &s,
        &c.key,
        json!({"actions": [{"type": "webhook_send", "option": {"uri": "https://hooks.example/x", "data": "from ${call.from}"}}],
               "variables": {"call.from": "+1555"}, "event": "leave"}),
    )
    .await;
    assert_eq!(effects["effects"][0]["body"], "from +1555");
    assert_eq!(
        effects["actions"],
        json!([]),
        "a leave has no conference_join"
    );
}

#[tokio::test]
async fn simulations_render_every_dialect_and_refuse_what_a_write_would() {
    let s = TestServer::start().await;
    let c = s.create_customer("sim").await;
    let other = s.create_customer("other").await;
    let list = json!([{"type": "talk", "option": {"text": "hello"}}]);
    let twiml = simulate(&s, &c.key, json!({"actions": list, "dialect": "twiml"})).await;
    let doc = twiml["actions"].as_str().unwrap();
    assert!(
        doc.contains("<Say") && doc.contains("hello") && doc.contains("<Conference"),
        "{doc}"
    );
    let jambonz = simulate(&s, &c.key, json!({"actions": list, "dialect": "jambonz"})).await;
    assert_eq!(jambonz["actions"][0]["verb"], "say");
    assert_eq!(
        jambonz["actions"].as_array().unwrap().last().unwrap()["verb"],
        "conference"
    );
    let xml = simulate(&s, &c.key, json!({"actions": list, "dialect": "xml"})).await;
    assert!(xml["actions"].as_str().unwrap().contains("<talk"), "{xml}");

    let conf = s
        .create_conference(&c.key, json!({"pre_actions": list}))
        .await;
    let (status, body) = s
        .call(
            "POST",
            "/v1.0/simulations",
            Some(&other.key),
            Some(json!({"conference_id": conf["id"]})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["reason"].as_str()),
        (404, Some("CONFERENCE_NOT_FOUND"))
    );
    for (bad, reason, field) in [
        (
            json!({"actions": [{"type": "goto", "option": {"target_id": A}}]}),
            "INVALID_ACTION",
            "target_id",
        ),
        (json!({"flow": "no-such-flow"}), "INVALID_ARGUMENT", "flow"),
        (
            json!({"flow": "menu", "actions": []}),
            "INVALID_ARGUMENT",
            "conference_id",
        ),
        (json!({}), "INVALID_ARGUMENT", "conference_id"),
        (
            json!({"flow": "menu", "event": "dance"}),
            "INVALID_ARGUMENT",
            "event",
        ),
        (
            json!({"flow": "menu", "dialect": "sip"}),
            "INVALID_ARGUMENT",
            "dialect",
        ),
        (
            json!({"flow": "menu", "variables": {"a": [1]}}),
            "INVALID_ARGUMENT",
            "variables.a",
        ),
    ] {
        let (status, body) = s
            .call("POST", "/v1.0/simulations", Some(&c.key), Some(bad.clone()))
            .await;
        assert_eq!(status, 400, "{bad} -> {body}");
        assert_eq!(body["error"]["reason"], reason, "{bad}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(field),
            "{bad} -> {body}"
        );
    }
}

#[tokio::test]
async fn the_cli_prints_the_same_simulation_as_the_api() {
    let s = TestServer::start().await;
    let c = s.create_customer("sim").await;
    let api = simulate(
        &s,
        &c.key,
        json!({"flow": "menu", "event": "join", "inputs": ["1"], "variables": {"call.from": "+15550100"}}),
    )
    .await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_confab"))
        .args([
            "flows", "simulate", "menu", "--event", "join", "--input", "1",
        ])
        .args(["--var", "call.from=+15550100", "--dir"])
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/flows"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cli: Value = serde_json::from_slice(&out.stdout).unwrap();
    for field in [
        "actions",
        "trace",
        "effects",
        "variables",
        "hangup",
        "error",
        "answers",
        "waiting",
    ] {
        assert_eq!(cli[field], api[field], "{field}");
    }
}

/// With calls in the conference: a simulated leave counts the participants as a real leave
/// does (without the leaving call), a draft list runs with the conference's variables, and a
/// request cannot override the conference's own variables (a real event cannot either).
#[tokio::test]
async fn a_busy_conference_is_simulated_as_its_real_events_run() {
    let s = TestServer::start_with(signed).await;
    let c = s.create_customer("sim").await;
    let talk = |text: &str| json!([{"type": "talk", "option": {"text": text}}]);
    let conf = s
        .create_conference(
            &c.key,
            json!({"name": "Busy", "pre_actions": talk("in: ${conference.participant_count}"),
                   "post_actions": talk("left: ${conference.participant_count}")}),
        )
        .await;
    let id = conf["id"].as_str().unwrap();
    for call in ["b1", "b2"] {
        let data = json!({"call_id": call, "conference_id": id});
        s.event(&format!("{call}-joining"), "call_joining", data.clone())
            .await;
        s.event(&format!("{call}-joined"), "call_joined", data)
            .await;
    }
    let leave = simulate(
        &s,
        &c.key,
        json!({"conference_id": id, "event": "leave", "variables": {"call.id": "b2"}}),
    )
    .await;
    let real = s
        .event(
            "b2-left",
            "call_left",
            json!({"call_id": "b2", "conference_id": id}),
        )
        .await;
    assert_eq!(leave["actions"], real.json["actions"]);
    assert_eq!(leave["actions"][0]["option"]["text"], "left: 1");

    let draft = simulate(
        &s,
        &c.key,
        json!({"conference_id": id, "actions": talk("draft for ${conference.name} (${conference.participant_count})"),
               "variables": {"conference.name": "not the name"}}),
    )
    .await;
    assert_eq!(draft["actions"][0]["option"]["text"], "draft for Busy (1)");
    assert_eq!(draft["actions"][1]["option"]["conference_id"], id);
    assert_eq!(
        s.conference(&c.key, id).await["pre_actions"][0]["option"]["text"],
        "in: ${conference.participant_count}",
        "a draft is not saved"
    );
}

/// Whether `body` satisfies one `oneOf` branch of the document as written there: `required`
/// names present, and each listed property, where present, of the listed JSON type.
fn branch_holds(branch: &Value, body: &Value) -> bool {
    let present = |k: &str| body.get(k).is_some();
    let required = branch["required"].as_array().into_iter().flatten();
    let types = branch["properties"].as_object().into_iter().flatten();
    required.filter_map(Value::as_str).all(present)
        && types
            .into_iter()
            .all(|(k, t)| match (body.get(k), t["type"].as_str()) {
                (None, _) => true,
                (Some(v), Some("null")) => v.is_null(),
                (Some(v), Some("string")) => v.is_string(),
                (Some(v), Some("array")) => v.is_array(),
                (Some(_), other) => panic!("a type this check does not know: {other:?}"),
            })
}

/// The document's `oneOf` on a simulation's subject (exactly one of `conference_id`, `flow`
/// and `actions`, or `conference_id` with `actions`; `null` as absent) is the server's rule:
/// every combination of the three absent, `null` or given is accepted exactly when exactly one
/// branch holds, and refused with 400 otherwise.
#[tokio::test]
async fn the_documented_subjects_are_the_accepted_ones() {
    let s = TestServer::start().await;
    let c = s.create_customer("a").await;
    let conf = s.create_conference(&c.key, json!({})).await;
    let doc = s.call("GET", "/openapi.json", None, None).await.1;
    let branches = doc["components"]["schemas"]["NewSimulation"]["allOf"][0]["oneOf"]
        .as_array()
        .expect("NewSimulation has a oneOf (in an allOf)")
        .clone();
    let given = [
        ("conference_id", conf["id"].clone()),
        ("flow", json!("welcome")),
        ("actions", json!([{"type": "beep"}])),
    ];
    for combination in 0..27u32 {
        let mut body = json!({});
        for (i, (field, value)) in given.iter().enumerate() {
            match combination / 3u32.pow(i as u32) % 3 {
                0 => {}
                1 => body[*field] = Value::Null,
                _ => body[*field] = value.clone(),
            }
        }
        let holding = branches.iter().filter(|b| branch_holds(b, &body)).count();
        let (status, answer) = s
            .call(
                "POST",
                "/v1.0/simulations",
                Some(&c.key),
                Some(body.clone()),
            )
            .await;
        let expected = if holding == 1 { 200 } else { 400 };
        assert_eq!(
            status, expected,
            "{body} ({holding} branches hold): {answer}"
        );
    }
}

/// Caller input in a simulation (SPEC §13): each pause takes the next input, the trace shows
/// each pause and resume, every answer is rendered as the platform gets it (a TwiML answer
/// that asks ends with a `<Gather>` naming its pause), and a run out of inputs ends waiting.
#[tokio::test]
async fn inputs_resume_each_pause_in_order() {
    let s = TestServer::start().await;
    let c = s.create_customer("sim").await;
    let pin = |inputs: Value, dialect: &str| {
        json!({"flow": "pin", "inputs": inputs, "dialect": dialect,
            "variables": {"conference.data.pin": "4711"}})
    };
    let native = simulate(&s, &c.key, pin(json!(["1111", "4711"]), "native")).await;
    assert_eq!(native["waiting"], false);
    let answers = native["answers"].as_array().unwrap();
    assert_eq!(answers.len(), 3, "{native}");
    let last = |a: &Value| a.as_array().unwrap().last().unwrap()["type"].clone();
    assert_eq!(last(&answers[0]), "digits_receive");
    assert_eq!(last(&answers[1]), "digits_receive");
    assert_eq!(last(&answers[2]), "conference_join");
    let trace = native["trace"].as_array().unwrap();
    let resumes: Vec<&Value> = trace.iter().filter(|t| t.get("resume").is_some()).collect();
    assert_eq!(resumes.len(), 2);
    assert_eq!(resumes[1]["resume"], json!({"pause": 2, "digits": "4711"}));
    let pauses = trace.iter().filter(|t| t["end"] == "pause").count();
    assert_eq!(pauses, 2, "each part that paused says so");
    assert_eq!(native["variables"]["call.digits"], "4711");

    let twiml = simulate(&s, &c.key, pin(json!(["1111"]), "twiml")).await;
    assert_eq!(
        twiml["waiting"], true,
        "one input for two pauses: waiting at the second"
    );
    let docs = twiml["answers"].as_array().unwrap();
    assert_eq!(docs.len(), 2);
    for (i, doc) in docs.iter().enumerate() {
        let doc = doc.as_str().unwrap();
        assert!(
            doc.contains("<Gather input=\"dtmf\" numDigits=\"8\" finishOnKey=\"#\" timeout=\"10\""),
            "{doc}"
        );
        assert!(doc.contains(&format!("/gather?pause={}\"", i + 1)), "{doc}");
    }

    for (inputs, field) in [
        (json!(["1", "x"]), "inputs[1]"),
        (json!([1]), "inputs[0]"),
        (json!(vec!["1"; 21]), "inputs"),
    ] {
        let (status, body) = s
            .call(
                "POST",
                "/v1.0/simulations",
                Some(&c.key),
                Some(pin(inputs, "native")),
            )
            .await;
        assert_eq!(status, 400, "{body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(field),
            "{body}"
        );
    }
}
