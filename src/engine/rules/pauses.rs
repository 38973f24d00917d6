//! Caller input (§13): a run that pauses at `digits_receive` is stored with its call in the
//! transaction that answers, and the caller's digits resume it there, on any node, once.

use super::actions::stored_list;
use super::calls::Applied;
use super::Rules;
use crate::actions::interpreter::{self, Outcome, Resume, Variables};
use crate::actions::{Emitted, Program, DIGITS_VARIABLE};
use crate::domain::conference::{CallStatus, Conference, Conferencecall};
use crate::engine::{EngineError, Refusal};
use crate::render::EventAnswer;
use crate::store::{StoreError, StoredPause};
use serde::{Deserialize, Serialize};

/// A paused run as stored with its pause: where it continues, its variables, and the
/// fingerprint of the program it ran, so a resume never continues a different program at the
/// same step number.
#[derive(Serialize, Deserialize)]
struct PausedRun {
    resume: Resume,
    variables: Variables,
    program: String,
}

/// Why a resume hangs up instead of continuing: what the caller would otherwise get is not
/// the list they were in (a PIN room must not let a caller in because its list changed).
const CHANGED: &str = "the action list changed while the call waited for input";
const CLOSED: &str = "the conference closed while the call waited for input";
const KICKED: &str = "the call was removed while it waited for input";

impl Rules<'_> {
    /// Runs one of a conference's lists for a call from its start; a run that pauses is
    /// stored, and its number returned.
    pub(super) fn run_for_call(
        &self,
        conf: &Conference,
        call: &Conferencecall,
        list: &'static str,
        vars: Variables,
    ) -> Result<(Outcome, Option<u32>), EngineError> {
        let text = stored_list(conf, list).text();
        let Some(program) = self.program(conf, list, text) else {
            return Ok((Outcome::default(), None));
        };
        let outcome = interpreter::run(&program, vars);
        self.log_error(conf, list, &outcome);
        let pause = match &outcome.paused {
            Some(resume) => {
                // Only a call that has paused before has a row: a new call (a join) has
                // none, so the common paths read nothing more.
                let before = match list {
                    "pre_actions" => 0,
                    _ => self.db.pause(call.id)?.map_or(0, |p| p.seq),
                };
                Some(self.store_pause(call, list, text, &program, &outcome, resume, before)?)
            }
            None => None,
        };
        Ok((outcome, pause))
    }

    /// Writes a call's pause, numbered after its `before` pauses; returns its number.
    #[allow(clippy::too_many_arguments)]
    fn store_pause(
        &self,
        call: &Conferencecall,
        list: &str,
        text: &str,
        program: &Program,
        outcome: &Outcome,
        resume: &Resume,
        before: i64,
    ) -> Result<u32, EngineError> {
        let state = PausedRun {
            resume: resume.clone(),
            variables: outcome.variables.clone(),
            program: program.fingerprint().to_string(),
        };
        let seq = before + 1;
        self.db.put_pause(&StoredPause {
            conferencecall_id: call.id,
            seq,
            active: true,
            list: list.to_string(),
            program: text.to_string(),
            state: serde_json::to_string(&state)
                .map_err(|e| StoreError::Corrupt(format!("a pause does not write: {e}")))?,
            tm_update: self.now.micros(),
        })?;
        Ok(u32::try_from(seq).unwrap_or(u32::MAX))
    }

    /// Ends a call's pause, if it has one: it was resumed, or the call left the list that
    /// paused. The row stays, so the call's next pause takes the next number.
    pub(super) fn end_pause(&self, call: &Conferencecall) -> Result<(), EngineError> {
        if let Some(mut p) = self.db.pause(call.id)?.filter(|p| p.active) {
            self.clear(&mut p)?;
        }
        Ok(())
    }

    fn clear(&self, p: &mut StoredPause) -> Result<(), EngineError> {
        p.active = false;
        p.program.clear();
        p.state.clear();
        p.tm_update = self.now.micros();
        self.db.put_pause(p)?;
        Ok(())
    }

    /// `call_digits_received`: resumes the call's paused list with `call.digits` set and
    /// answers in the shape of the event that started it. A call that is not paused, or
    /// digits for another of its pauses, is stale: 200 with the call and no actions.
    pub(super) fn call_digits(
        &self,
        conf: &Conference,
        call_id: &str,
        digits: &str,
        pause: Option<u32>,
    ) -> Result<Applied, EngineError> {
        let call = self
            .db
            .latest_call_in(call_id, conf.id)?
            .ok_or(Refusal::ConferencecallNotFound)?;
        let stale = |call: &Conferencecall| Ok((EventAnswer::call(&call.json(), None), Vec::new()));
        let Some(mut stored) = self.db.pause(call.id)?.filter(|p| p.active) else {
            return stale(&call);
        };
        if pause.is_some_and(|n| i64::from(n) != stored.seq) {
            return stale(&call);
        }
        let joining = stored.list == "pre_actions";
        if joining && call.status != CallStatus::Joining {
            self.clear(&mut stored)?;
            if call.status == CallStatus::Leaving {
                // Kicked while it waited (its conference closed): the platform is hanging it
                // up; the answer says so too rather than continuing towards a join.
                let hangup = vec![Emitted::Hangup {
                    reason: KICKED.to_string(),
                }];
                return Ok((EventAnswer::call(&call.json(), Some(hangup)), Vec::new()));
            }
            // The platform put the call in the room without waiting for the input.
            return stale(&call);
        }
        let list: &'static str = if joining {
            "pre_actions"
        } else {
            "post_actions"
        };
        let state: PausedRun = serde_json::from_str(&stored.state)
            .map_err(|e| StoreError::Corrupt(format!("a stored pause does not read: {e}")))?;
        let closed = joining && (!conf.status.is_open() || conf.tm_delete.is_some());
        let program = self
            .program(conf, list, &stored.program)
            .filter(|p| p.fingerprint() == state.program);
        let outcome = match program {
            Some(program) if !closed => {
                let mut vars = state.variables;
                vars.insert(DIGITS_VARIABLE.to_string(), digits.to_string());
                let outcome = interpreter::resume(&program, vars, state.resume);
                self.log_error(conf, list, &outcome);
                if let Some(resume) = &outcome.paused {
                    let text = std::mem::take(&mut stored.program);
                    let seq = self
                        .store_pause(&call, list, &text, &program, &outcome, resume, stored.seq)?;
                    let webhooks = self.apply_effects(conf, &outcome);
                    let mut answer = EventAnswer::call(&call.json(), Some(outcome.actions));
                    answer.pause = Some(seq);
                    return Ok((answer, webhooks));
                }
                outcome
            }
            _ => {
                let why = if closed { CLOSED } else { CHANGED };
                tracing::warn!(conference_id = %conf.id, conferencecall_id = %call.id, "{why}; hanging up");
                hung_up(why)
            }
        };
        self.clear(&mut stored)?;
        let webhooks = self.apply_effects(conf, &outcome);
        if !joining {
            return Ok((
                EventAnswer::call(&call.json(), Some(outcome.actions)),
                webhooks,
            ));
        }
        self.end_join_run(conf, call, outcome, webhooks)
    }
}

/// A run that hangs up at once, saying why.
fn hung_up(reason: &str) -> Outcome {
    Outcome {
        actions: vec![Emitted::Hangup {
            reason: reason.to_string(),
        }],
        hangup: true,
        ..Outcome::default()
    }
}
