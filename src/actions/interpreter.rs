//! The action interpreter: runs a compiled action list against a set of variables. Pure: no
//! I/O, no clock, no store — the same inputs always give the same output.

use crate::actions::{ActionKind, ConditionValue, Emitted, HttpMethod, Program, RecordingFormat};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

/// Most steps one run may take (§4).
pub const MAX_STEPS: usize = 1000;

/// Variables visible to `${name}` substitution and to `branch`/`condition_variable`.
pub type Variables = BTreeMap<String, String>;

/// Something the engine must do because an action asked for it.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Webhook {
        uri: String,
        method: HttpMethod,
        data_type: String,
        body: String,
        sync: bool,
    },
    RecordingStart {
        format: RecordingFormat,
        duration: i64,
    },
    RecordingStop,
}

/// What a run produced.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Outcome {
    /// Media actions for the platform, in order, variables substituted.
    pub actions: Vec<Emitted>,
    /// Engine-side effects, in order.
    pub effects: Vec<Effect>,
    /// The run ended with `hangup`: the call must not join.
    pub hangup: bool,
    /// Why the run stopped early, if it did (the step bound).
    pub error: Option<String>,
    /// Variables as the run left them.
    pub variables: Variables,
    /// Steps executed.
    pub steps: usize,
}

/// Replaces every `${name}` with its value; unknown names become the empty string.
pub fn substitute(text: &str, vars: &Variables) -> String {
    if !text.contains("${") {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end) => {
                if let Some(v) = vars.get(&after[..end]) {
                    out.push_str(v);
                }
                rest = &after[end + 1..];
            }
            None => {
                // An unterminated `${` is literal text.
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// Substitutes inside every string of a JSON value (keys included), so a JSON webhook body stays
/// valid JSON whatever the variables contain.
fn substitute_json(v: &Value, vars: &Variables) -> Value {
    match v {
        Value::String(s) => Value::String(substitute(s, vars)),
        Value::Array(a) => Value::Array(a.iter().map(|x| substitute_json(x, vars)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| (substitute(k, vars), substitute_json(x, vars)))
                .collect::<Map<_, _>>(),
        ),
        other => other.clone(),
    }
}

fn condition_holds(cond: &crate::actions::Comparison, value: &ConditionValue, var: &str) -> bool {
    match value {
        ConditionValue::String(s) => cond.holds(&var, &s.as_str()),
        ConditionValue::Number(n) => match var.trim().parse::<f64>() {
            Ok(v) => cond.holds(&v, n),
            Err(_) => false,
        },
        ConditionValue::Length(l) => cond.holds(&(var.chars().count() as i64), l),
    }
}

/// Runs `program` from its first step.
pub fn run(program: &Program, variables: Variables) -> Outcome {
    execute(program, variables, None)
}

/// Runs `program` exactly as `run` does and also returns one trace entry per step: the step,
/// its action's id and type, what it did (emitted, set, jumped or not and why) and where
/// control went; the last entry says why the run ended.
pub fn run_traced(program: &Program, variables: Variables) -> (Outcome, Vec<Value>) {
    let mut trace = Vec::new();
    let out = execute(program, variables, Some(&mut trace));
    (out, trace)
}

fn execute(program: &Program, variables: Variables, mut trace: Option<&mut Vec<Value>>) -> Outcome {
    let mut run = Run {
        program,
        out: Outcome {
            variables,
            ..Outcome::default()
        },
        loops: HashMap::new(),
        note: trace.as_ref().map(|_| Map::new()),
    };
    let end = program.steps.len();
    let mut pc = 0usize;
    let ended = loop {
        if pc >= end {
            break "the end of the list";
        }
        if run.out.steps >= MAX_STEPS {
            run.out.error = Some(format!(
                "the action list ran for more than {MAX_STEPS} steps and was stopped"
            ));
            break "the step limit";
        }
        run.out.steps += 1;
        let next = run.step(pc);
        if let (Some(t), Some(note)) = (trace.as_mut(), run.note.as_mut()) {
            t.push(super::simulation::trace_entry(program, pc, next, note));
        }
        match next {
            Some(n) => pc = n,
            None if run.out.hangup => break "hangup",
            None => break "stop",
        }
    };
    if let Some(t) = trace {
        t.push(json!({"end": ended, "steps": run.out.steps}));
    }
    run.out
}

/// One run in progress: the program, what it has produced, and how often each `goto` jumped.
/// `note` collects what the current step decided, when the run is traced.
struct Run<'p> {
    program: &'p Program,
    out: Outcome,
    loops: HashMap<usize, u32>,
    note: Option<Map<String, Value>>,
}

impl Run<'_> {
    /// Records a fact about the current step for the trace. `value` is only built when the
    /// run is traced: a real event's run (on the store's writer) pays nothing for it.
    fn note(&mut self, key: &str, value: impl FnOnce() -> Value) {
        if let Some(n) = self.note.as_mut() {
            n.insert(key.to_string(), value());
        }
    }
}

impl Run<'_> {
    /// Executes the step at `pc`; returns where control goes, or `None` when the run ends.
    fn step(&mut self, pc: usize) -> Option<usize> {
        let step = &self.program.steps[pc];
        let kind = &step.action.kind;
        if let Some(action) = media(kind, &self.out.variables) {
            self.note("emitted", || action.to_json());
            self.out.actions.push(action);
            if matches!(kind, ActionKind::Hangup { .. }) {
                self.out.hangup = true;
                return None;
            }
            return Some(step.next);
        }
        if let Some(effect) = effect(kind, &self.out.variables) {
            self.note("effect", || super::simulation::effect_json(&effect));
            self.out.effects.push(effect);
            return Some(step.next);
        }
        self.control(pc, kind, step.next)
    }

    /// Variables, jumps and the end of the list: where control goes next, or `None` to stop.
    fn control(&mut self, pc: usize, kind: &ActionKind, next: usize) -> Option<usize> {
        let end = self.program.steps.len();
        let vars = &self.out.variables;
        let program = self.program;
        let jump = |id: Uuid| program.resolve(id).unwrap_or(end);
        match kind {
            ActionKind::VariableSet { key, value } => {
                let (key, value) = (substitute(key, vars), substitute(value, vars));
                self.note("set", || json!({&key: &value}));
                self.out.variables.insert(key, value);
                Some(next)
            }
            ActionKind::Goto {
                target_id,
                loop_count,
            } => {
                let taken = self.loops.entry(pc).or_insert(0);
                let jumps = *taken < *loop_count;
                if jumps {
                    *taken += 1;
                }
                let count = *taken;
                self.note(
                    "goto",
                    || json!({"jumped": jumps, "jumps_taken": count, "loop_count": loop_count}),
                );
                Some(if jumps { jump(*target_id) } else { next })
            }
            ActionKind::Branch {
                variable,
                target_ids,
                default_target_id,
            } => {
                let value = vars.get(variable).cloned().unwrap_or_default();
                let matched = target_ids.iter().find(|(k, _)| *k == value);
                let target = matched.map(|(_, id)| *id).unwrap_or(*default_target_id);
                let by = match matched {
                    Some(_) => "target_ids",
                    None if target.is_nil() => "no match and no default: next",
                    None => "default_target_id",
                };
                self.note(
                    "branch",
                    || json!({"variable": variable, "value": value, "by": by}),
                );
                Some(if target.is_nil() { next } else { jump(target) })
            }
            ActionKind::ConditionVariable {
                condition,
                variable,
                value,
                false_target_id,
            } => {
                let current = vars.get(variable).cloned().unwrap_or_default();
                let holds = condition_holds(condition, value, &current);
                self.note(
                    "condition",
                    || json!({"variable": variable, "value": current, "held": holds}),
                );
                Some(if holds || false_target_id.is_nil() {
                    next
                } else {
                    jump(*false_target_id)
                })
            }
            ActionKind::Stop => None,
            ActionKind::Jump { target_id } => Some(jump(*target_id)),
            // Compilation inlines every flow; one left here is a bug, so skip it harmlessly.
            _ => Some(next),
        }
    }
}

/// The action a media step emits to the platform, with variables substituted.
fn media(kind: &ActionKind, vars: &Variables) -> Option<Emitted> {
    Some(match kind {
        ActionKind::Talk {
            text,
            gender,
            language,
            digits_handle,
        } => Emitted::Talk {
            text: substitute(text, vars),
            gender: *gender,
            language: language.clone(),
            digits_handle: digits_handle.clone(),
        },
        ActionKind::Play { stream_urls } => Emitted::Play {
            stream_urls: stream_urls.iter().map(|u| substitute(u, vars)).collect(),
        },
        ActionKind::Beep => Emitted::Beep {},
        ActionKind::Sleep { duration_ms } => Emitted::Sleep {
            duration_ms: *duration_ms,
        },
        ActionKind::Hangup { reason } => Emitted::Hangup {
            reason: substitute(reason, vars),
        },
        _ => return None,
    })
}

/// The engine-side effect of a step (webhooks, recordings), with variables substituted.
fn effect(kind: &ActionKind, vars: &Variables) -> Option<Effect> {
    Some(match kind {
        ActionKind::WebhookSend {
            uri,
            method,
            data_type,
            data,
            sync,
        } => {
            let body = match data {
                Value::String(s) => substitute(s, vars),
                other => substitute_json(other, vars).to_string(),
            };
            Effect::Webhook {
                uri: substitute(uri, vars),
                method: *method,
                data_type: data_type.clone(),
                body,
                sync: *sync,
            }
        }
        ActionKind::RecordingStart { format, duration } => Effect::RecordingStart {
            format: *format,
            duration: *duration,
        },
        ActionKind::RecordingStop => Effect::RecordingStop,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
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
}
