//! Dry runs: what a call would get from an action list for a join or a leave, by the same
//! interpreter a real event runs, with a trace of every step. Shared by the simulation
//! endpoint, the `flows simulate` command and the real join (which appends `conference_join`
//! the same way).

use super::interpreter::{self, Effect, Variables};
use super::{Emitted, HttpMethod, Program};
use crate::domain::room::{Role, RoomRules};
use serde_json::{json, Map, Value};

/// Which list a call runs: `pre_actions` on a join, `post_actions` on a leave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallEvent {
    Join,
    Leave,
}

impl CallEvent {
    pub fn parse(s: &str) -> Option<CallEvent> {
        match s {
            "join" => Some(CallEvent::Join),
            "leave" => Some(CallEvent::Leave),
            _ => None,
        }
    }

    /// The conference list this event runs.
    pub fn list(self) -> &'static str {
        match self {
            CallEvent::Join => "pre_actions",
            CallEvent::Leave => "post_actions",
        }
    }
}

/// What a dry run produced.
#[derive(Debug, Clone)]
pub struct Simulated {
    /// The actions the call gets, as platform events' answers carry them: every answer's, in
    /// order (one answer, unless the run paused for input).
    pub actions: Vec<Emitted>,
    /// Each answer's actions: the first event's, then one per resume. Every answer but the
    /// last ends with `digits_receive`; so does the last when `waiting`.
    pub answers: Vec<Vec<Emitted>>,
    /// The run ended waiting for input (more pauses than inputs).
    pub waiting: bool,
    /// One entry per step, then the end.
    pub trace: Vec<Value>,
    /// Webhooks and recordings the run would have caused (none is sent or started).
    pub effects: Vec<Value>,
    /// The variables as the run left them.
    pub variables: Variables,
    /// The run ended with `hangup`: a joining call would not join.
    pub hangup: bool,
    /// Why the run stopped early (the step limit).
    pub error: Option<String>,
}

/// The `reason` of the hang-up that ends a join whose run stopped early.
pub const RUN_STOPPED: &str = "the pre_actions stopped at their step or pause limit";

/// The actions a call gets: on a join, what the list emitted and then `join`, unless it hung
/// up; on a leave, what the list emitted. A join whose run stopped early (`failed`: the step
/// or pause limit) hangs up instead of joining: the list decides who gets in (a PIN loop), so
/// one cut short fails closed rather than letting the caller in.
pub fn answer_actions(
    mut emitted: Vec<Emitted>,
    hangup: bool,
    failed: bool,
    event: CallEvent,
    join: impl FnOnce() -> Emitted,
) -> Vec<Emitted> {
    if event == CallEvent::Join && !hangup {
        emitted.push(if failed {
            Emitted::Hangup {
                reason: RUN_STOPPED.to_string(),
            }
        } else {
            join()
        });
    }
    emitted
}

/// The `conference_join` that ends a join's run: the role its `role_set` chose (a participant
/// unless one did) and how the room's rules put such a call in it (§14).
pub fn conference_join(conference_id: &str, room: &RoomRules, variables: &Variables) -> Emitted {
    Emitted::join(conference_id, room.join_options(role_of(variables)))
}

/// The role a run left in `conferencecall.role`; `participant` when none is set.
pub fn role_of(variables: &Variables) -> Role {
    variables
        .get(super::ROLE_VARIABLE)
        .and_then(|r| Role::parse(r))
        .unwrap_or_default()
}

/// Runs `program` with `variables` as a real `event` would and says what happened. Each
/// pause takes the next of `inputs` as the caller's digits and the run resumes, as a real
/// `call_digits_received` resumes it; when the inputs run out at a pause, the simulation ends
/// there, waiting. Inputs left over are not used.
pub fn simulate(
    program: &Program,
    variables: Variables,
    event: CallEvent,
    conference_id: &str,
    room: &RoomRules,
    inputs: &[String],
) -> Simulated {
    let (mut outcome, mut trace) = interpreter::run_traced(program, variables);
    let mut effects: Vec<Value> = outcome.effects.iter().map(effect_json).collect();
    let mut answers = Vec::new();
    let mut inputs = inputs.iter();
    let waiting = loop {
        let actions = std::mem::take(&mut outcome.actions);
        let Some(resume) = outcome.paused.take() else {
            let vars = &outcome.variables;
            let join = || conference_join(conference_id, room, vars);
            let failed = outcome.error.is_some();
            answers.push(answer_actions(actions, outcome.hangup, failed, event, join));
            break false;
        };
        answers.push(actions);
        let Some(digits) = inputs.next() else {
            break true;
        };
        trace.push(json!({"resume": {"pause": answers.len(), "digits": digits}}));
        let mut vars = std::mem::take(&mut outcome.variables);
        vars.insert(super::DIGITS_VARIABLE.to_string(), digits.clone());
        let (next, more) = interpreter::resume_traced(program, vars, resume);
        trace.extend(more);
        effects.extend(next.effects.iter().map(effect_json));
        outcome = next;
    };
    Simulated {
        actions: answers.concat(),
        answers,
        waiting,
        trace,
        effects,
        variables: outcome.variables,
        hangup: outcome.hangup || (event == CallEvent::Join && outcome.error.is_some()),
        error: outcome.error,
    }
}

/// An effect as the trace and the simulation answer show it.
pub fn effect_json(effect: &Effect) -> Value {
    match effect {
        Effect::Webhook {
            uri,
            method,
            data_type,
            body,
            sync,
        } => json!({
            "type": "webhook_send",
            "uri": uri,
            "method": method_name(*method),
            "data_type": data_type,
            "body": body,
            "sync": sync,
        }),
        Effect::RecordingStart { format, duration } => json!({
            "type": "recording_start", "format": format.as_str(), "duration": duration,
        }),
        Effect::RecordingStop => json!({"type": "recording_stop"}),
    }
}

fn method_name(m: HttpMethod) -> &'static str {
    m.as_str()
}

/// The trace entry of the step at `pc`: its position, its action's id and type, what it
/// noted (taken from `note`, which is left empty for the next step), and where control went.
pub(super) fn trace_entry(
    program: &Program,
    pc: usize,
    next: Option<usize>,
    note: &mut Map<String, Value>,
) -> Value {
    let step = &program.steps[pc];
    let mut entry = Map::new();
    entry.insert("step".into(), json!(pc));
    let id = step.action.id;
    entry.insert(
        "id".into(),
        if id.is_nil() { Value::Null } else { json!(id) },
    );
    entry.insert("type".into(), json!(step.action.kind.type_name()));
    entry.append(note);
    let next_step = next.filter(|n| *n < program.steps.len());
    entry.insert("next".into(), json!(next_step));
    entry.insert(
        "next_id".into(),
        next_step
            .map(|n| program.steps[n].action.id)
            .filter(|id| !id.is_nil())
            .map_or(Value::Null, |id| json!(id)),
    );
    Value::Object(entry)
}
