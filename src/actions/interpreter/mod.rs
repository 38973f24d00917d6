//! The action interpreter: runs a compiled action list against a set of variables. Pure: no
//! I/O, no clock, no store — the same inputs always give the same output.

use crate::actions::{ActionKind, ConditionValue, Emitted, HttpMethod, Program, RecordingFormat};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use uuid::Uuid;

/// Most steps one run may take (§4), counted across its resumes (§13).
pub const MAX_STEPS: usize = 1000;

/// Most times one run may pause for caller input (§13); the next `digits_receive` ends it as
/// the step bound does.
pub const MAX_PAUSES: u32 = 20;

/// Where a paused run continues and what it has used so far: the step after its
/// `digits_receive`, the steps and pauses counted against the bounds, and how often each
/// `goto` has jumped (so a "three tries" loop still stops after three across pauses). Stored
/// with the paused call; a resume continues from it exactly.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Resume {
    pub at: usize,
    pub steps: usize,
    pub pauses: u32,
    #[serde(default)]
    pub loops: BTreeMap<usize, u32>,
}

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
    /// Steps executed, across the resumes of this run.
    pub steps: usize,
    /// The run paused at a `digits_receive` (the last of `actions`): where it continues.
    pub paused: Option<Resume>,
}

/// Replaces every `${name}` with its value; unknown names become the empty string.
pub fn substitute(text: &str, vars: &Variables) -> String {
    substitute_with(text, vars, &mut false, |out, v| out.push_str(v))
}

/// `substitute` for a JSON body written as text: each value goes in escaped as the inside of
/// a JSON string (`"` as `\"`, `\` as `\\`, control characters as escapes), so a value from
/// the caller (a caller id, a platform field) cannot end the string it is placed in and add
/// fields of its own. Values placed outside a string (a number) are unchanged unless they
/// hold such characters.
fn substitute_escaped(text: &str, vars: &Variables) -> String {
    substitute_with(text, vars, &mut false, |out, v| {
        let quoted = serde_json::to_string(v).unwrap_or_default();
        out.push_str(
            quoted
                .get(1..quoted.len().saturating_sub(1))
                .unwrap_or_default(),
        );
    })
}

/// Whether a webhook's `data_type` says its body is JSON.
fn is_json(data_type: &str) -> bool {
    let essence = data_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json" || essence.ends_with("+json")
}

/// What a comparison compares with: the text substituted, or `None` when it names a variable
/// that is not set. A comparison with an unset variable never holds, so a list that checks a
/// caller's PIN against `${conference.data.pin}` fails closed when the conference has none
/// (an empty PIN would otherwise equal empty input).
fn compared<'t>(text: &'t str, vars: &Variables) -> Option<std::borrow::Cow<'t, str>> {
    // Most keys and values name no variable: compared as they are, without a copy (a branch
    // tries every key on the writer thread).
    if !text.contains("${") {
        return Some(std::borrow::Cow::Borrowed(text));
    }
    let mut unset = false;
    let out = substitute_with(text, vars, &mut unset, |out, v| out.push_str(v));
    (!unset).then_some(std::borrow::Cow::Owned(out))
}

/// `substitute`, noting in `unset` whether a name had no value; `put` writes a value.
fn substitute_with(
    text: &str,
    vars: &Variables,
    unset: &mut bool,
    put: impl Fn(&mut String, &str),
) -> String {
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
                match vars.get(&after[..end]) {
                    Some(v) => put(&mut out, v),
                    None => *unset = true,
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

/// Whether `var` compares as the action asks. A string value is substituted first (§13), and
/// one that names an unset variable never holds.
fn condition_holds(
    cond: &crate::actions::Comparison,
    value: &ConditionValue,
    var: &str,
    vars: &Variables,
) -> bool {
    match value {
        ConditionValue::String(s) => {
            compared(s, vars).is_some_and(|s| cond.holds(&var, &s.as_ref()))
        }
        ConditionValue::Number(n) => match var.trim().parse::<f64>() {
            Ok(v) => cond.holds(&v, n),
            Err(_) => false,
        },
        ConditionValue::Length(l) => cond.holds(&(var.chars().count() as i64), l),
    }
}

/// Runs `program` from its first step.
pub fn run(program: &Program, variables: Variables) -> Outcome {
    execute(program, variables, Resume::default(), None)
}

/// Continues a paused run of `program` where `from` says, with `variables` (the paused run's,
/// plus `call.digits`).
pub fn resume(program: &Program, variables: Variables, from: Resume) -> Outcome {
    execute(program, variables, from, None)
}

/// Runs `program` exactly as `run` does and also returns one trace entry per step: the step,
/// its action's id and type, what it did (emitted, set, jumped or not and why) and where
/// control went; the last entry says why the run ended.
pub fn run_traced(program: &Program, variables: Variables) -> (Outcome, Vec<Value>) {
    resume_traced(program, variables, Resume::default())
}

/// `resume`, traced as `run_traced` traces.
pub fn resume_traced(
    program: &Program,
    variables: Variables,
    from: Resume,
) -> (Outcome, Vec<Value>) {
    let mut trace = Vec::new();
    let out = execute(program, variables, from, Some(&mut trace));
    (out, trace)
}

fn execute(
    program: &Program,
    variables: Variables,
    from: Resume,
    mut trace: Option<&mut Vec<Value>>,
) -> Outcome {
    let mut run = Run {
        program,
        out: Outcome {
            variables,
            steps: from.steps,
            ..Outcome::default()
        },
        pauses: from.pauses,
        loops: from.loops,
        note: trace.as_ref().map(|_| Map::new()),
    };
    let end = program.steps.len();
    let mut pc = from.at;
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
            None if run.out.paused.is_some() => break "pause",
            None if run.out.error.is_some() => break "the pause limit",
            None => break "stop",
        }
    };
    if let Some(t) = trace {
        t.push(json!({"end": ended, "steps": run.out.steps}));
    }
    run.out
}

/// One run in progress: the program, what it has produced, how often it paused and how often
/// each `goto` jumped. `note` collects what the current step decided, when the run is traced.
struct Run<'p> {
    program: &'p Program,
    out: Outcome,
    pauses: u32,
    loops: BTreeMap<usize, u32>,
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
        if let ActionKind::DigitsReceive {
            duration_ms,
            key,
            length,
        } = kind
        {
            return self.pause(step.next, *duration_ms, key, *length);
        }
        if let Some(effect) = effect(kind, &self.out.variables) {
            self.note("effect", || super::simulation::effect_json(&effect));
            self.out.effects.push(effect);
            return Some(step.next);
        }
        self.control(pc, kind, step.next)
    }

    /// A `digits_receive`: emits it and pauses the run, to continue at `next`; past
    /// `MAX_PAUSES` the run ends instead, as at the step bound.
    fn pause(&mut self, next: usize, duration_ms: u32, key: &str, length: u32) -> Option<usize> {
        if self.pauses >= MAX_PAUSES {
            self.out.error = Some(format!(
                "the action list paused for input more than {MAX_PAUSES} times and was stopped"
            ));
            self.note("paused", || Value::Bool(false));
            return None;
        }
        self.pauses += 1;
        let action = Emitted::DigitsReceive {
            duration_ms,
            key: key.to_string(),
            length,
        };
        self.note("emitted", || action.to_json());
        let pauses = self.pauses;
        self.note("paused", || json!({"pause": pauses, "resumes_at": next}));
        self.out.actions.push(action);
        self.out.paused = Some(Resume {
            at: next,
            steps: self.out.steps,
            pauses: self.pauses,
            loops: self.loops.clone(),
        });
        None
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
                // Keys are substituted before they are compared (§13); a key naming an unset
                // variable matches nothing.
                let matched = target_ids
                    .iter()
                    .find(|(k, _)| compared(k, vars).is_some_and(|k| *k == *value));
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
                let holds = condition_holds(condition, value, &current, vars);
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
            ActionKind::RoleSet { role } => {
                self.note(
                    "set",
                    || json!({crate::actions::ROLE_VARIABLE: role.as_str()}),
                );
                self.out.variables.insert(
                    crate::actions::ROLE_VARIABLE.to_string(),
                    role.as_str().to_string(),
                );
                Some(next)
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
                Value::String(s) if is_json(data_type) => substitute_escaped(s, vars),
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
mod tests;
