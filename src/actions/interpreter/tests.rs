//! The interpreter's cases: data-driven lists with their variables and expected actions, and
//! properties every run keeps.

use super::*;
use crate::actions::{compile, parse_list, NoFlows};
use proptest::prelude::*;

/// Data-driven cases: (actions, input variables, expected emitted actions).
fn cases() -> Vec<(Value, Value, Value)> {
    let a = "11111111-1111-1111-1111-111111111111";
    let b = "22222222-2222-2222-2222-222222222222";
    let c = "33333333-3333-3333-3333-333333333333";
    vec![
        // The seed's talk, defaults applied.
        (
            json!([{"type": "talk", "option": {"text": "Hello. Welcome to ${conference.name}."}}]),
            json!({"conference.name": "the test conference"}),
            json!([{"type": "talk", "option": {"text": "Hello. Welcome to the test conference.", "gender": "female", "language": "en-US"}}]),
        ),
        // Unknown variables substitute as empty; variable_set feeds later actions.
        (
            json!([{"type": "variable_set", "option": {"key": "who", "value": "${call.from}!"}},
                   {"type": "talk", "option": {"text": "hi ${who}${nope}", "gender": "male", "language": "ko-KR"}}]),
            json!({"call.from": "+15551234"}),
            json!([{"type": "talk", "option": {"text": "hi +15551234!", "gender": "male", "language": "ko-KR"}}]),
        ),
        // goto with loop_count 2: the jump is taken twice, then falls through.
        (
            json!([{"id": a, "type": "beep"},
                   {"type": "goto", "option": {"target_id": a, "loop_count": 2}},
                   {"type": "hangup", "option": {"reason": "done"}}]),
            json!({}),
            json!([{"type": "beep", "option": {}}, {"type": "beep", "option": {}}, {"type": "beep", "option": {}},
                   {"type": "hangup", "option": {"reason": "done"}}]),
        ),
        // branch on a platform variable, with a default.
        (
            json!([{"type": "branch", "option": {"variable": "digits", "target_ids": {"1": a, "2": b}, "default_target_id": c}},
                   {"id": a, "type": "talk", "option": {"text": "sales"}, "next_id": c},
                   {"id": b, "type": "talk", "option": {"text": "support"}},
                   {"id": c, "type": "beep"}]),
            json!({"digits": "2"}),
            json!([{"type": "talk", "option": {"text": "support", "gender": "female", "language": "en-US"}}, {"type": "beep", "option": {}}]),
        ),
        (
            json!([{"type": "branch", "option": {"variable": "digits", "target_ids": {"1": a}, "default_target_id": c}},
                   {"id": a, "type": "talk", "option": {"text": "sales"}},
                   {"id": c, "type": "beep"}]),
            json!({"digits": "9"}),
            json!([{"type": "beep", "option": {}}]),
        ),
        // condition_variable: match continues, no match jumps.
        (
            json!([{"type": "condition_variable", "option": {"condition": ">=", "variable": "conference.participant_count", "value_type": "number", "value_number": 2, "false_target_id": a}},
                   {"type": "talk", "option": {"text": "busy room"}, "next_id": b},
                   {"id": a, "type": "talk", "option": {"text": "you are first"}},
                   {"id": b, "type": "stop"},
                   {"type": "beep"}]),
            json!({"conference.participant_count": "0"}),
            json!([{"type": "talk", "option": {"text": "you are first", "gender": "female", "language": "en-US"}}]),
        ),
        (
            json!([{"type": "condition_variable", "option": {"condition": "==", "variable": "name", "value_type": "length", "value_length": 3, "false_target_id": a}},
                   {"type": "beep"},
                   {"id": a, "type": "stop"}]),
            json!({"name": "bob"}),
            json!([{"type": "beep", "option": {}}]),
        ),
        // A compared string is substituted first: the PIN is the conference's (§13).
        (
            json!([{"type": "condition_variable", "option": {"variable": "digits", "value_string": "${conference.data.pin}", "false_target_id": a}},
                   {"type": "talk", "option": {"text": "welcome"}, "next_id": b},
                   {"id": a, "type": "hangup", "option": {"reason": "wrong pin"}},
                   {"id": b, "type": "stop"}]),
            json!({"digits": "4711", "conference.data.pin": "4711"}),
            json!([{"type": "talk", "option": {"text": "welcome", "gender": "female", "language": "en-US"}}]),
        ),
        (
            json!([{"type": "condition_variable", "option": {"variable": "digits", "value_string": "${conference.data.pin}", "false_target_id": a}},
                   {"type": "talk", "option": {"text": "welcome"}},
                   {"id": a, "type": "hangup", "option": {"reason": "wrong pin"}}]),
            json!({"digits": "1234", "conference.data.pin": "4711"}),
            json!([{"type": "hangup", "option": {"reason": "wrong pin"}}]),
        ),
        // No PIN set and nothing entered: an unset variable never compares equal, so the
        // room stays closed rather than open to everyone.
        (
            json!([{"type": "condition_variable", "option": {"variable": "digits", "value_string": "${conference.data.pin}", "false_target_id": a}},
                   {"type": "talk", "option": {"text": "welcome"}},
                   {"id": a, "type": "hangup", "option": {"reason": "wrong pin"}}]),
            json!({}),
            json!([{"type": "hangup", "option": {"reason": "wrong pin"}}]),
        ),
        (
            json!([{"type": "condition_variable", "option": {"condition": "!=", "variable": "digits", "value_string": "${nope}", "false_target_id": a}},
                   {"type": "talk", "option": {"text": "held"}},
                   {"id": a, "type": "beep"}]),
            json!({"digits": "1"}),
            json!([{"type": "beep", "option": {}}]),
        ),
        // Branch keys are substituted; a key naming an unset variable matches nothing.
        (
            json!([{"type": "branch", "option": {"variable": "digits", "target_ids": {"${conference.data.moderator_pin}": a, "${nope}": b}, "default_target_id": c}},
                   {"id": a, "type": "talk", "option": {"text": "moderator"}, "next_id": c},
                   {"id": b, "type": "talk", "option": {"text": "unset"}},
                   {"id": c, "type": "beep"}]),
            json!({"digits": "9999", "conference.data.moderator_pin": "9999"}),
            json!([{"type": "talk", "option": {"text": "moderator", "gender": "female", "language": "en-US"}}, {"type": "beep", "option": {}}]),
        ),
        (
            json!([{"type": "branch", "option": {"variable": "digits", "target_ids": {"${nope}": b}, "default_target_id": c}},
                   {"id": b, "type": "talk", "option": {"text": "unset"}},
                   {"id": c, "type": "beep"}]),
            json!({}),
            json!([{"type": "beep", "option": {}}]),
        ),
        // play, sleep; stop ends the list.
        (
            json!([{"type": "play", "option": {"stream_urls": ["https://x.example/${f}.wav"]}},
                   {"type": "sleep", "option": {"duration": 500}},
                   {"type": "stop"},
                   {"type": "beep"}]),
            json!({"f": "hold"}),
            json!([{"type": "play", "option": {"stream_urls": ["https://x.example/hold.wav"]}}, {"type": "sleep", "option": {"duration": 500}}]),
        ),
    ]
}

fn run_json(actions: &Value, vars: &Value) -> Outcome {
    let list = parse_list("pre_actions", actions).unwrap();
    let program = compile("pre_actions", &list.actions, &NoFlows).unwrap();
    let vars = vars
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect();
    run(&program, vars)
}

#[test]
fn data_driven_cases() {
    for (i, (actions, vars, expected)) in cases().into_iter().enumerate() {
        let out = run_json(&actions, &vars);
        let emitted: Vec<Value> = out.actions.iter().map(Emitted::to_json).collect();
        assert_eq!(Value::Array(emitted), expected, "case {i}");
        assert!(out.error.is_none(), "case {i}");
    }
}

#[test]
fn hangup_ends_the_run_and_is_reported() {
    let out = run_json(&json!([{"type": "hangup"}, {"type": "beep"}]), &json!({}));
    assert!(out.hangup);
    assert_eq!(out.actions.len(), 1);
}

#[test]
fn an_endless_loop_stops_at_the_step_bound_keeping_what_was_emitted() {
    let a = "11111111-1111-1111-1111-111111111111";
    let out = run_json(
        &json!([{"id": a, "type": "beep", "next_id": a}]),
        &json!({}),
    );
    assert_eq!(out.steps, MAX_STEPS);
    assert_eq!(out.actions.len(), MAX_STEPS);
    assert!(out.error.is_some());
}

#[test]
fn effects_are_collected_with_substitution_that_keeps_json_valid() {
    let out = run_json(
        &json!([{"type": "webhook_send", "option": {"uri": "https://h.example/${conference.id}", "data": {"who": "${call.from}"}}},
                {"type": "recording_start", "option": {"format": "mp3", "duration": 60}},
                {"type": "recording_stop"}]),
        &json!({"conference.id": "c1", "call.from": "say \"hi\""}),
    );
    assert_eq!(out.effects.len(), 3);
    match &out.effects[0] {
        Effect::Webhook {
            uri, body, sync, ..
        } => {
            assert_eq!(uri, "https://h.example/c1");
            assert_eq!(
                serde_json::from_str::<Value>(body).unwrap(),
                json!({"who": "say \"hi\""})
            );
            assert!(!sync);
        }
        other => panic!("unexpected {other:?}"),
    }
}

/// A JSON body written as text gets its values escaped as string content: a caller id
/// crafted to close the string and add a field stays one string. Other data types get the
/// values as they are.
#[test]
fn a_json_body_written_as_text_cannot_be_injected_into() {
    let body_of = |data_type: &str| {
        let out = run_json(
            &json!([{"type": "webhook_send", "option": {"uri": "https://h.example/x",
                "data_type": data_type,
                "data": "{\"from\": \"${call.from}\", \"n\": ${conference.participant_count}}"}}]),
            &json!({"call.from": "x\", \"admin\": true, \"y\": \"\\\n", "conference.participant_count": "3"}),
        );
        match &out.effects[0] {
            Effect::Webhook { body, .. } => body.clone(),
            other => panic!("unexpected {other:?}"),
        }
    };
    for json_type in ["application/json", "application/vnd.x+json; charset=utf-8"] {
        let body: Value = serde_json::from_str(&body_of(json_type)).unwrap();
        assert_eq!(
            body,
            json!({"from": "x\", \"admin\": true, \"y\": \"\\\n", "n": 3}),
            "{json_type}"
        );
    }
    assert!(body_of("text/plain").contains("\"admin\": true"));
}

#[test]
fn substitution_edge_cases() {
    let vars: Variables = [("a".to_string(), "1".to_string())].into();
    assert_eq!(substitute("${a}${a}", &vars), "11");
    assert_eq!(substitute("x ${a", &vars), "x ${a");
    assert_eq!(substitute("${}", &vars), "");
    assert_eq!(substitute("${b}-", &vars), "-");
}

fn arb_action(ids: Vec<String>) -> impl Strategy<Value = Value> {
    let pick = proptest::sample::select(ids);
    prop_oneof![
        Just(json!({"type": "beep"})),
        Just(json!({"type": "stop"})),
        Just(json!({"type": "talk", "option": {"text": "t ${v}"}})),
        Just(json!({"type": "variable_set", "option": {"key": "v", "value": "${v}x"}})),
        pick.clone().prop_map(|t| json!({"type": "beep", "next_id": t})),
        (pick.clone(), 0u32..=100).prop_map(|(t, n)| json!({"type": "goto", "option": {"target_id": t, "loop_count": n}})),
        (pick.clone(), pick.clone()).prop_map(|(t, d)| json!({"type": "branch", "option": {"variable": "v", "target_ids": {"x": t}, "default_target_id": d}})),
        pick.clone().prop_map(|t| json!({"type": "condition_variable", "option": {"condition": "<", "variable": "v", "value_type": "length", "value_length": 5, "false_target_id": t}})),
    ]
}

fn arb_list() -> impl Strategy<Value = Value> {
    (1usize..=20).prop_flat_map(|n| {
        let ids: Vec<String> = (0..n)
            .map(|i| format!("00000000-0000-0000-0000-{:012}", i + 1))
            .collect();
        proptest::collection::vec(arb_action(ids.clone()), n).prop_map(move |actions| {
            Value::Array(
                actions
                    .into_iter()
                    .zip(ids.iter())
                    .map(|(mut a, id)| {
                        a["id"] = json!(id);
                        a
                    })
                    .collect(),
            )
        })
    })
}

proptest! {
    #[test]
    fn any_valid_list_terminates_within_the_step_bound(list in arb_list()) {
        let parsed = parse_list("pre_actions", &list).unwrap();
        let program = compile("pre_actions", &parsed.actions, &NoFlows).unwrap();
        let out = run(&program, Variables::new());
        prop_assert!(out.steps <= MAX_STEPS);
        prop_assert!(out.actions.len() <= MAX_STEPS);
        // Pure: the same input gives the same output.
        prop_assert_eq!(out, run(&program, Variables::new()));
    }
}

fn program_of(list: Value) -> Program {
    let parsed = parse_list("pre_actions", &list).unwrap();
    compile("pre_actions", &parsed.actions, &NoFlows).unwrap()
}

/// A PIN prompt with three tries: the loop counter, the steps and the pauses carry across
/// resumes, and `branch` without `variable` reads the digits.
#[test]
fn a_paused_run_resumes_where_it_paused_with_its_counters() {
    let (ask, ok) = (
        "11111111-1111-1111-1111-111111111111",
        "22222222-2222-2222-2222-222222222222",
    );
    let program = program_of(json!([
        {"id": ask, "type": "talk", "option": {"text": "PIN?"}},
        {"type": "digits_receive", "option": {"length": 4, "duration": 3000}},
        {"type": "branch", "option": {"target_ids": {"${conference.data.pin}": ok}}},
        {"type": "goto", "option": {"target_id": ask, "loop_count": 2}},
        {"type": "hangup", "option": {"reason": "wrong pin"}},
        {"id": ok, "type": "talk", "option": {"text": "welcome"}}
    ]));
    let vars: Variables = [("conference.data.pin".to_string(), "1234".to_string())].into();
    let first = run(&program, vars);
    let paused = first.paused.clone().expect("paused at digits_receive");
    assert_eq!(
        first.actions.last().map(Emitted::to_json),
        Some(
            json!({"type": "digits_receive", "option": {"duration": 3000, "key": "", "length": 4}})
        )
    );
    assert_eq!((paused.at, paused.steps, paused.pauses), (2, 2, 1));
    let mut out = first;
    for _ in 0..2 {
        let mut v = out.variables.clone();
        v.insert("call.digits".into(), "0000".into());
        out = resume(&program, v, out.paused.clone().unwrap());
        assert!(out.paused.is_some(), "a wrong PIN asks again");
    }
    let resumed = out.paused.clone().unwrap();
    assert_eq!((resumed.pauses, resumed.loops.get(&3)), (3, Some(&2)));
    // The third wrong PIN: the loop is spent, the run hangs up.
    let mut v = out.variables.clone();
    v.insert("call.digits".into(), "9999".into());
    let last = resume(&program, v.clone(), resumed.clone());
    assert!(last.hangup && last.paused.is_none());
    // The right PIN on the third try joins.
    v.insert("call.digits".into(), "1234".into());
    let right = resume(&program, v, resumed);
    assert!(!right.hangup && right.paused.is_none());
    assert_eq!(right.actions[0].to_json()["option"]["text"], "welcome");
    assert!(
        right.steps > 9,
        "steps count across resumes: {}",
        right.steps
    );
}

#[test]
fn the_twenty_first_pause_ends_the_run_as_the_step_bound_does() {
    let a = "11111111-1111-1111-1111-111111111111";
    let program = program_of(json!([
        {"id": a, "type": "digits_receive"},
        {"type": "goto", "option": {"target_id": a, "loop_count": 100}}
    ]));
    let mut out = run(&program, Variables::new());
    let mut pauses = 0;
    while let Some(at) = out.paused.clone() {
        pauses += 1;
        out = resume(&program, out.variables.clone(), at);
    }
    assert_eq!(pauses, MAX_PAUSES);
    assert!(out.error.unwrap().contains("more than 20 times"));
    assert!(out.actions.is_empty(), "{:?}", out.actions);
}

#[test]
fn digits_receive_options_are_checked_and_defaulted() {
    let ok = program_of(json!([{"type": "digits_receive"}]));
    let out = run(&ok, Variables::new());
    assert_eq!(
        out.actions[0].to_json(),
        json!({"type": "digits_receive", "option": {"duration": 5000, "key": "", "length": 1}})
    );
    for (option, field) in [
        (json!({"duration": 0}), "duration"),
        (json!({"duration": 60001}), "duration"),
        (json!({"length": 65}), "length"),
        (json!({"length": 0}), "length"),
        (json!({"key": "x"}), "key"),
        (json!({"key": 5}), "key"),
    ] {
        let err = parse_list(
            "pre_actions",
            &json!([{"type": "digits_receive", "option": option}]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with(&format!("pre_actions[0].option.{field}")),
            "{err}"
        );
    }
    assert!(parse_list(
        "pre_actions",
        &json!([{"type": "digits_receive", "option": {"key": "#*"}}])
    )
    .is_ok());
}
