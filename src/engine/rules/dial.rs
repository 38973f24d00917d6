//! Dial-out (§15): a conferencecall confab creates by calling someone. It is `dialing` from
//! the moment it is dialled (and counted in the room's admission from then on), becomes
//! `joining` when the callee's call arrives naming it, and `leaved` when the platform reports
//! that nobody answered, or when nothing was reported before its dial timeout. A dial kicked
//! while it rings is cancelled on the platform.

use super::calls::join_refusal;
use super::Rules;
use crate::domain::conference::{self, CallStatus, Conference, ConferenceStatus, Conferencecall};
use crate::domain::deadline::DeadlineKind;
use crate::domain::dialect::Dialect;
use crate::domain::notification::NotificationType;
use crate::domain::ConferencecallId;
use crate::engine::{EngineError, Refusal};

/// A dial-out as the customer asked for it, its fields checked already.
#[derive(Debug, Clone)]
pub struct Dial {
    /// Whom to call: an E.164 number or a `sip:` URI.
    pub destination: String,
    /// The caller id shown to them: an E.164 number or a `sip:` URI.
    pub from: String,
    /// The platform that places the call.
    pub dialect: Dialect,
    /// Seconds the platform lets it ring.
    pub timeout: i64,
}

/// The `reference_id` of a call being dialled: the platform's call id is not known until the
/// callee answers, and this one cannot be any platform's (the unique index on active calls'
/// reference ids must not see two dials collide).
pub(crate) fn dial_reference(id: ConferencecallId) -> String {
    format!("dial:{id}")
}

/// The `leave_reason` of a dial confab gave up on at its timeout.
const DIAL_TIMEOUT: &str = "timeout";

/// The `leave_reason` of a dial kicked while it rang that the platform never reported ended.
pub(super) const DIAL_CANCELED: &str = "canceled";

/// Whether the call was dialled and never answered: it still carries its dial reference.
pub(super) fn unanswered(call: &Conferencecall) -> bool {
    call.reference_id == dial_reference(call.id)
}

impl Rules<'_> {
    /// Creates a dialled conferencecall and sends the dial, under the conference's lock: a
    /// progressing conference only, admitted as a join is (a full or locked room refuses),
    /// and within the customer's cap on calls being dialled at once. The dial timeout
    /// deadline is set with it.
    pub(crate) fn dial(
        &self,
        conf: &Conference,
        dial: &Dial,
    ) -> Result<Conferencecall, EngineError> {
        if conf.status != ConferenceStatus::Progressing || conf.tm_delete.is_some() {
            return Err(Refusal::StateInvalid(format!(
                "only a progressing conference can dial out; this one is {}",
                conf.status
            ))
            .into());
        }
        let (active, _) = self.db.call_counts(conf.id)?;
        conference::admit(conf, active).map_err(join_refusal)?;
        let limit = self.settings.dial_limit;
        if self.db.dialing_count(conf.customer_id)? >= limit {
            return Err(Refusal::DialLimit(limit).into());
        }
        let id = ConferencecallId::new();
        let mut call = Conferencecall::new(
            conf,
            id,
            dial_reference(id),
            CallStatus::Dialing,
            dial.dialect,
            self.now,
        );
        // The callee's view of the call: it is called from `from`, at `destination`.
        call.from = dial.from.clone();
        call.to = dial.destination.clone();
        self.db.insert_call(&call)?;
        self.notify_call(&call, NotificationType::ConferencecallDialing)?;
        self.dial_command(&call, &dial.destination, &dial.from, dial.timeout)?;
        // The platform gives up ringing after `timeout`; the kick grace is the time its report
        // may take to arrive before confab stops waiting for it.
        let due = self
            .now
            .plus_seconds(dial.timeout + self.settings.kick_grace_seconds);
        self.db
            .set_deadline(DeadlineKind::DialTimeout, &id.to_string(), due)?;
        Ok(call)
    }

    /// The callee of a dial answered: its call (`call_id`) takes the dialled conferencecall,
    /// which moves to `joining` without being admitted again (it was counted when dialled).
    /// Only a call still `dialing` in this conference can be answered.
    pub(super) fn dial_answered(
        &self,
        conf: &Conference,
        id: ConferencecallId,
        call_id: &str,
    ) -> Result<Conferencecall, EngineError> {
        let mut call = self
            .db
            .call(Some(conf.customer_id), id)?
            .filter(|c| c.conference_id == conf.id)
            .ok_or(Refusal::ConferencecallNotFound)?;
        if call.status != CallStatus::Dialing {
            return Err(Refusal::StateInvalid(format!(
                "the dialled conferencecall is {}; only a dialing one can be answered",
                call.status
            ))
            .into());
        }
        call.reference_id = call_id.to_string();
        call.status = CallStatus::Joining;
        call.tm_update = self.now;
        self.db.set_call_status(&call)?;
        self.db
            .clear_deadline(DeadlineKind::DialTimeout, &id.to_string())?;
        Ok(call)
    }

    /// The conferencecall a `call_left` is about: the one it names (a dial's report names it,
    /// since a call never answered has no platform call id in confab), else the platform
    /// call's newest membership of the conference.
    pub(super) fn leaving_call(
        &self,
        conf: &Conference,
        call_id: &str,
        dialled: Option<ConferencecallId>,
    ) -> Result<Conferencecall, EngineError> {
        let found = match dialled {
            Some(id) => self
                .db
                .call(Some(conf.customer_id), id)?
                .filter(|c| c.conference_id == conf.id),
            None => self.db.latest_call_in(call_id, conf.id)?,
        };
        Ok(found.ok_or(Refusal::ConferencecallNotFound)?)
    }

    /// A dialled call that was never answered ends (no answer, busy, failed, or kicked while
    /// ringing): `leaved`, with no `post_actions` (the callee heard nothing), and the rules
    /// after a leave. `Ok(false)` when the call was answered, which leaves as any call does.
    pub(super) fn dial_ended(
        &self,
        conf: &mut Conference,
        call: &mut Conferencecall,
        reason: &str,
    ) -> Result<bool, EngineError> {
        if !unanswered(call) || call.status == CallStatus::Leaved {
            return Ok(false);
        }
        tracing::info!(conferencecall_id = %call.id, reason, "dialled call ended unanswered");
        let was = call.status;
        // Kept on the call (the API, the `conferencecall_leaved` webhook): the one thing the
        // customer learns of a dial that never reached anyone. The event readers bound it.
        call.leave_reason = reason.to_string();
        self.leave(call)?;
        self.notify_call(call, NotificationType::ConferencecallLeaved)?;
        self.db
            .clear_deadline(DeadlineKind::DialTimeout, &call.id.to_string())?;
        let counts = self.db.call_counts(conf.id)?;
        self.after_leave(conf, call, was, counts)?;
        Ok(true)
    }

    /// The platform reports a dial's call placed or ringing, with its own id of the call
    /// (`platform_id`). A dial still ringing keeps the id, so a kick can cancel it; one kicked
    /// before the platform said which call it is is cancelled now, and so is one confab gave
    /// up on at its dial timeout (the platform's reports were late, and it may still ring).
    /// Anything else (answered, ended by the platform's own report, another conference's)
    /// changes nothing.
    pub(super) fn dial_ringing(
        &self,
        conf: &Conference,
        id: ConferencecallId,
        platform_id: &str,
    ) -> Result<Conferencecall, EngineError> {
        let call = self
            .db
            .call(Some(conf.customer_id), id)?
            .filter(|c| c.conference_id == conf.id)
            .ok_or(Refusal::ConferencecallNotFound)?;
        if !unanswered(&call) {
            return Ok(call);
        }
        match call.status {
            CallStatus::Dialing => {
                self.db
                    .set_dial_call_id(id, platform_id, self.now.micros())?;
            }
            CallStatus::Leaving => self.cancel_dial_command(&call, Some(platform_id))?,
            CallStatus::Leaved if call.leave_reason == DIAL_TIMEOUT => {
                self.cancel_dial_command(&call, Some(platform_id))?
            }
            _ => {}
        }
        Ok(call)
    }

    /// Cancels a dial kicked while it rings: at once on a platform that knows its dials by
    /// the conferencecall, else with the platform's id of the call once it has reported one.
    /// Not reported yet, the report of its ringing cancels it (`dial_ringing`); never
    /// reported, the callee who answers is refused, and the kick grace ends it meanwhile.
    pub(crate) fn cancel_dial(&self, call: &Conferencecall) -> Result<(), EngineError> {
        if crate::dialects::platform(call.dialect).knows_dials() {
            return self.cancel_dial_command(call, None);
        }
        match self.db.dial_call_id(call.id)? {
            Some(platform_id) => self.cancel_dial_command(call, Some(&platform_id)),
            None => Ok(()),
        }
    }

    /// The dial timeout fired: a call still `dialing` was not reported answered or failed in
    /// time (a lost report, a platform that never dialled), so confab ends it itself.
    pub(crate) fn dial_timed_out(&self, mut call: Conferencecall) -> Result<(), EngineError> {
        if call.status != CallStatus::Dialing {
            return Ok(());
        }
        if let Some(mut conf) = self.db.conference(None, call.conference_id)? {
            self.dial_ended(&mut conf, &mut call, DIAL_TIMEOUT)?;
            self.sync_xml_status(&mut conf)?;
        }
        Ok(())
    }
}
