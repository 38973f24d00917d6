//! A platform event's rules (§5): a call's admission to a conference, its join and its leave,
//! each running the conference's action list, and a recording reported finished.

use super::actions::variables;
use super::Rules;
use crate::actions::interpreter::{Outcome, Variables};
use crate::actions::simulation::{answer_actions, conference_join, role_of, CallEvent};
use crate::domain::conference::{self, CallStatus, Conference, Conferencecall, JoinRefusal};
use crate::domain::dialect::Dialect;
use crate::domain::notification::NotificationType;
use crate::domain::room::Role;
use crate::domain::{ConferenceId, ConferencecallId, CustomerId};
use crate::engine::{EngineError, EventKind, PlatformEvent, Refusal};
use crate::outbox::WebhookRequest;
use crate::render::EventAnswer;

/// An event's answer and the `sync` webhooks to send once it has committed.
pub(crate) type Applied = (EventAnswer, Vec<WebhookRequest>);

/// The platform call a `call_joining` is about.
struct Caller<'a> {
    call_id: &'a str,
    from: &'a str,
    to: &'a str,
    dialect: Dialect,
    /// The dialled conferencecall it answers, for the callee of a dial-out.
    dialled: Option<ConferencecallId>,
}

/// The refusal of a join the room's rules do not admit.
pub(super) fn join_refusal(r: JoinRefusal) -> Refusal {
    match r {
        JoinRefusal::Closed => Refusal::ConferenceClosed,
        JoinRefusal::Full => Refusal::ConferenceFull,
        JoinRefusal::AtLimit(n) => Refusal::ConferenceAtLimit(n),
        JoinRefusal::Locked => Refusal::ConferenceLocked,
    }
}

impl Rules<'_> {
    /// Applies a platform event, then reports the XML status of its conference if it moved.
    /// The event's conference is locked already.
    pub(crate) fn apply(&self, event: &PlatformEvent) -> Result<Applied, EngineError> {
        // Timed for `/metrics` only: nothing written depends on it (the time of the event is
        // the transaction's `now`).
        let started = std::time::Instant::now();
        let scope = event.scope;
        let applied = match &event.kind {
            EventKind::CallJoining {
                call_id,
                conference_id,
                from,
                to,
                variables,
                dialect,
                dialled,
            } => {
                let mut conf = self.conference(scope, *conference_id)?;
                let caller = Caller {
                    call_id,
                    from,
                    to,
                    dialect: *dialect,
                    dialled: *dialled,
                };
                let applied = self.call_joining(&conf, caller, variables)?;
                self.sync_xml_status(&mut conf)?;
                applied
            }
            EventKind::CallJoined {
                call_id,
                conference_id,
                platform_conference,
                sequence,
            } => {
                let mut conf = self.conference(scope, *conference_id)?;
                let applied =
                    self.call_joined(&mut conf, call_id, platform_conference, *sequence)?;
                self.sync_xml_status(&mut conf)?;
                applied
            }
            EventKind::CallLeft {
                call_id,
                conference_id,
                reason,
                dialled,
            } => {
                let mut conf = self.conference(scope, *conference_id)?;
                let applied = self.call_left(&mut conf, call_id, *dialled, reason)?;
                self.sync_xml_status(&mut conf)?;
                applied
            }
            EventKind::CallDigitsReceived {
                call_id,
                conference_id,
                digits,
                pause,
            } => {
                let mut conf = self.conference(scope, *conference_id)?;
                let applied = self.call_digits(&conf, call_id, digits, *pause)?;
                self.sync_xml_status(&mut conf)?;
                applied
            }
            EventKind::CallUpdated {
                call_id,
                conference_id,
                muted,
                hold,
                sequence,
            } => {
                let conf = self.conference(scope, *conference_id)?;
                let mut call = self
                    .db
                    .latest_call_in(call_id, conf.id)?
                    .ok_or(Refusal::ConferencecallNotFound)?;
                self.reported_state(&mut call, *muted, *hold, *sequence)?;
                (EventAnswer::call(&call.json(), None), Vec::new())
            }
            EventKind::DialRinging {
                call_id,
                conference_id,
                dialled,
            } => {
                let conf = self.conference(scope, *conference_id)?;
                let call = self.dial_ringing(&conf, *dialled, call_id)?;
                (EventAnswer::call(&call.json(), None), Vec::new())
            }
            EventKind::RecordingFinished {
                recording_id,
                media_url,
                duration_ms: _,
            } => {
                let rec = self.finish_recording(scope, *recording_id, media_url)?;
                (EventAnswer::recording(&rec.json()), Vec::new())
            }
        };
        self.shared
            .metrics
            .apply_time(event.kind.type_name(), started);
        Ok(applied)
    }

    /// The conference an event names, within the event's scope.
    fn conference(
        &self,
        scope: Option<CustomerId>,
        id: ConferenceId,
    ) -> Result<Conference, EngineError> {
        Ok(self
            .db
            .conference(scope, id)?
            .ok_or(Refusal::ConferenceNotFound)?)
    }

    /// Admits a call (or refuses it), inserts it as `joining` and runs `pre_actions`; a
    /// `hangup` among them moves it straight to `leaved`. The callee of a dial-out takes its
    /// dialled conferencecall instead, admitted when it was dialled.
    fn call_joining(
        &self,
        conf: &Conference,
        caller: Caller<'_>,
        platform_vars: &Variables,
    ) -> Result<Applied, EngineError> {
        let Caller {
            call_id,
            from,
            to,
            dialect,
            dialled,
        } = caller;
        if let Some(active) = self.db.active_call(call_id)? {
            return Err(Refusal::CallBusy(active.conference_id).into());
        }
        let (active, joined) = self.db.call_counts(conf.id)?;
        let call = match dialled {
            Some(id) => self.dial_answered(conf, id, call_id)?,
            None => {
                conference::admit(conf, active).map_err(join_refusal)?;
                self.insert_joining(conf, call_id, dialect, (from, to))?
            }
        };
        self.notify_call(&call, NotificationType::ConferencecallJoining)?;
        let mut vars = platform_vars.clone();
        vars.extend(variables(conf, &call, joined));
        let (outcome, pause) = self.run_for_call(conf, &call, "pre_actions", vars)?;
        let webhooks = self.apply_effects(conf, &outcome);
        if pause.is_some() {
            // The run waits for the caller's digits: no join yet, the call stays `joining`.
            let mut answer = EventAnswer::call(&call.json(), Some(outcome.actions));
            answer.pause = pause;
            return Ok((answer, webhooks));
        }
        self.end_join_run(conf, call, outcome, webhooks)
    }

    /// A new conferencecall for an arriving call, `joining`.
    /// `(from, to)` are the caller's numbers, kept for every later run for the call.
    fn insert_joining(
        &self,
        conf: &Conference,
        call_id: &str,
        dialect: Dialect,
        (from, to): (&str, &str),
    ) -> Result<Conferencecall, EngineError> {
        let mut call = Conferencecall::new(
            conf,
            ConferencecallId::new(),
            call_id.to_string(),
            CallStatus::Joining,
            dialect,
            self.now,
        );
        call.from = from.to_string();
        call.to = to.to_string();
        self.db.insert_call(&call)?;
        Ok(call)
    }

    /// The answer of a join's `pre_actions` that ran to their end (not paused): `conference_join`
    /// appended with the role the run chose, which the call takes (a listener is muted; a
    /// participant, as inserted, writes nothing more); or, when the run hung up or stopped at
    /// its step or pause limit (then it hangs up: see `answer_actions`), the call is `leaved`.
    pub(super) fn end_join_run(
        &self,
        conf: &Conference,
        mut call: Conferencecall,
        outcome: Outcome,
        webhooks: Vec<WebhookRequest>,
    ) -> Result<Applied, EngineError> {
        let conference_id = conf.id.to_string();
        let join = || conference_join(&conference_id, &conf.room, &outcome.variables);
        let failed = outcome.error.is_some();
        let actions = answer_actions(
            outcome.actions,
            outcome.hangup,
            failed,
            CallEvent::Join,
            join,
        );
        if outcome.hangup || failed {
            self.leave(&mut call)?;
            self.notify_call(&call, NotificationType::ConferencecallLeaved)?;
        } else {
            let role = role_of(&outcome.variables);
            if role != call.role {
                call.role = role;
                call.muted = role == Role::Listener;
                call.tm_update = self.now;
                self.db.set_call_status(&call)?;
                // §15: every change of `role` or `muted` is told.
                self.notify_call(&call, NotificationType::ConferencecallUpdated)?;
            }
        }
        Ok((EventAnswer::call(&call.json(), Some(actions)), webhooks))
    }

    /// Only `joining` moves to `joined`; anything later means this event is stale (it arrived
    /// after `call_left`) and changes nothing.
    fn call_joined(
        &self,
        conf: &mut Conference,
        call_id: &str,
        platform_conference: &str,
        sequence: Option<i64>,
    ) -> Result<Applied, EngineError> {
        let mut call = self
            .db
            .latest_call_in(call_id, conf.id)?
            .ok_or(Refusal::ConferencecallNotFound)?;
        if call.status == CallStatus::Joining {
            call.mark_joined(self.now);
            call.platform_conference = platform_conference.to_string();
            self.db.set_call_status(&call)?;
            if let Some(n) = sequence {
                self.db.set_join_sequence(call.id, n, self.now.micros())?;
            }
            self.notify_call(&call, NotificationType::ConferencecallJoined)?;
            self.record_on_join(conf, &call)?;
            if conf.tm_begin.is_none() {
                conf.tm_begin = Some(self.now);
                self.db.update_conference(conf)?;
            }
        }
        Ok((EventAnswer::call(&call.json(), None), Vec::new()))
    }

    /// A call left: `leaved`, `post_actions` run, and the conference rules after a leave. A
    /// dialled call that was never answered ends without `post_actions` (`reason` says why,
    /// in the log).
    fn call_left(
        &self,
        conf: &mut Conference,
        call_id: &str,
        dialled: Option<ConferencecallId>,
        reason: &str,
    ) -> Result<Applied, EngineError> {
        let mut call = self.leaving_call(conf, call_id, dialled)?;
        if self.dial_ended(conf, &mut call, reason)? {
            return Ok((
                EventAnswer::call(&call.json(), Some(Vec::new())),
                Vec::new(),
            ));
        }
        if call.status == CallStatus::Leaved {
            // A second `call_left`: already handled, nothing runs again.
            return Ok((
                EventAnswer::call(&call.json(), Some(Vec::new())),
                Vec::new(),
            ));
        }
        let was = call.status;
        if matches!(was, CallStatus::Joining | CallStatus::Leaving) {
            // It may have left while its `pre_actions` waited for input (also when it was
            // kicked there, which made it `leaving`): that run is over. A call that had
            // joined has no pause of its `pre_actions` left, so its leave reads nothing.
            self.end_pause(&call)?;
        }
        self.leave(&mut call)?;
        self.notify_call(&call, NotificationType::ConferencecallLeaved)?;
        // The counts after the leave; the post_actions' effects (webhooks, recordings) do not
        // change them, so the rules after the leave use the same.
        let counts = self.db.call_counts(conf.id)?;
        let vars = variables(conf, &call, counts.1);
        let (outcome, pause) = self.run_for_call(conf, &call, "post_actions", vars)?;
        let webhooks = self.apply_effects(conf, &outcome);
        self.after_leave(conf, &call, was, counts)?;
        let mut answer = EventAnswer::call(&call.json(), Some(outcome.actions));
        answer.pause = pause;
        Ok((answer, webhooks))
    }
}
