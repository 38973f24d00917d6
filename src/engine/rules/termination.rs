//! How a conference ends: kicks, termination, the rules after a call left (an empty
//! terminating conference, a `connect` room losing one of its two calls) and the timeout and
//! idle rules.

use super::Rules;
use crate::domain::conference::{
    self, CallStatus, Conference, ConferenceStatus, ConferenceType, Conferencecall,
};
use crate::domain::deadline::DeadlineKind;
use crate::domain::notification::NotificationType;
use crate::domain::room::Role;
use crate::engine::EngineError;

impl Rules<'_> {
    /// Kicks one call: `leaving`, a kick sent the way the call arrived, and a kick-grace
    /// deadline after which confab marks it left itself. Calls already leaving or left are
    /// untouched.
    /// A call still being dialled has no platform call id to kick yet: it goes `leaving`
    /// without a command, and the platform's report of the dial (refused on answer, or its
    /// no-answer) or the kick grace ends it.
    pub(crate) fn kick(&self, call: &mut Conferencecall) -> Result<(), EngineError> {
        let dialing = call.status == CallStatus::Dialing;
        if !matches!(
            call.status,
            CallStatus::Dialing | CallStatus::Joining | CallStatus::Joined
        ) {
            return Ok(());
        }
        call.status = CallStatus::Leaving;
        call.tm_update = self.now;
        self.db.set_call_status(call)?;
        self.notify_call(call, NotificationType::ConferencecallLeaving)?;
        if dialing {
            // Nobody answered yet: the phone stops ringing rather than being answered into a
            // room that no longer wants it.
            self.cancel_dial(call)?;
        } else {
            self.kick_command(call)?;
        }
        self.db.set_deadline(
            DeadlineKind::KickGrace,
            &call.id.to_string(),
            self.now.plus_seconds(self.settings.kick_grace_seconds),
        )?;
        Ok(())
    }

    /// Terminates a conference: straight to `terminated` when empty, else `terminating` with
    /// every call kicked. Stops an active recording. Does nothing to a closed conference.
    /// `conf` is written once, with its XML status brought up to date.
    pub(crate) fn terminate(&self, conf: &mut Conference) -> Result<(), EngineError> {
        if !conf.status.is_open() {
            return Ok(());
        }
        let mut calls = self.db.calls_in(conf.id)?;
        conf.status = conference::status_on_terminate(calls.len());
        if conf.status == ConferenceStatus::Terminated {
            conf.tm_end = Some(self.now);
        }
        for call in calls.iter_mut() {
            self.kick(call)?;
        }
        if self.db.active_recording(conf.id)?.is_some() {
            self.stop_recording(conf.id)?;
        }
        conf.tm_update = self.now;
        self.db
            .clear_deadline(DeadlineKind::ConferenceTimeout, &conf.id.to_string())?;
        self.db
            .clear_deadline(DeadlineKind::Idle, &conf.id.to_string())?;
        self.report_xml_status(conf)?;
        self.db.update_conference(conf)?;
        Ok(())
    }

    /// The conference rules after a call reached `leaved` (§5): an empty terminating
    /// conference terminates; an XML conference that emptied is deleted; a `connect` room
    /// whose other call is still joined is closed. `(remaining, joined)` are the conference's
    /// call counts after the leave, which the caller has read already.
    pub(crate) fn after_leave(
        &self,
        conf: &mut Conference,
        call: &Conferencecall,
        was: CallStatus,
        (remaining, joined): (usize, usize),
    ) -> Result<(), EngineError> {
        self.db
            .clear_deadline(DeadlineKind::KickGrace, &call.id.to_string())?;
        if conf.status == ConferenceStatus::Terminating && remaining == 0 {
            conf.status = ConferenceStatus::Terminated;
            conf.tm_end = Some(self.now);
            conf.tm_update = self.now;
            self.db.update_conference(conf)?;
            self.notify_conference(conf, NotificationType::ConferenceUpdated)?;
            return Ok(());
        }
        if self.xml_empty_rule(conf, remaining)? {
            return Ok(());
        }
        let had_joined = matches!(was, CallStatus::Joined | CallStatus::Leaving);
        if conf.kind == ConferenceType::Connect && conf.status.is_open() && had_joined && joined > 0
        {
            self.terminate(conf)?;
            self.notify_conference(conf, NotificationType::ConferenceUpdated)?;
            return Ok(());
        }
        if conf.room.end_on_moderator_exit
            && conf.status.is_open()
            && had_joined
            && call.role == Role::Moderator
            && joined > 0
        {
            self.moderator_left(conf)?;
        }
        Ok(())
    }

    /// A joined moderator of an `end_on_moderator_exit` room left (§14): when it was the last
    /// joined moderator, every other joined call is kicked; the conference stays open for the
    /// next moderator. Under the conference's lock, so of two moderators leaving at once on
    /// two nodes only the second sees none left, and the kicks are decided once.
    fn moderator_left(&self, conf: &Conference) -> Result<(), EngineError> {
        let mut calls = self.db.calls_in(conf.id)?;
        let moderator_in = calls
            .iter()
            .any(|c| c.status == CallStatus::Joined && c.role == Role::Moderator);
        if moderator_in {
            return Ok(());
        }
        tracing::info!(conference_id = %conf.id, "the last moderator left; kicking the others");
        for c in calls.iter_mut().filter(|c| c.status == CallStatus::Joined) {
            self.kick(c)?;
        }
        Ok(())
    }

    /// The conference's timeout elapsed: it terminates as on DELETE (§3.1).
    pub(crate) fn timeout_elapsed(&self, conf: &mut Conference) -> Result<(), EngineError> {
        tracing::info!(conference_id = %conf.id, "conference timeout elapsed");
        self.terminate(conf)?;
        self.notify_conference(conf, NotificationType::ConferenceUpdated)
    }

    /// The XML idle rule fired: if nobody has joined since creation the conference is
    /// terminated (kicking any call still joining) and deleted (§6.2).
    pub(crate) fn idle_expired(&self, conf: &mut Conference) -> Result<(), EngineError> {
        if conf.tm_begin.is_some() || !conf.status.is_open() {
            return Ok(());
        }
        if conf.tm_delete.is_none() {
            conf.tm_delete = Some(self.now);
        }
        self.terminate(conf)?;
        self.notify_conference(conf, NotificationType::ConferenceDeleted)
    }

    /// A kicked call was not reported left within the kick grace: confab marks it left and
    /// applies the rules after a leave.
    pub(crate) fn kick_grace_elapsed(&self, mut call: Conferencecall) -> Result<(), EngineError> {
        if call.status == CallStatus::Leaved {
            return Ok(());
        }
        tracing::info!(conferencecall_id = %call.id, "kicked call not reported left in time; marking it left");
        if super::dial::unanswered(&call) {
            // A dial kicked while it rang: the customer learns why it never joined.
            call.leave_reason = super::dial::DIAL_CANCELED.to_string();
        }
        let was = call.status;
        self.leave(&mut call)?;
        self.notify_call(&call, NotificationType::ConferencecallLeaved)?;
        if let Some(mut conf) = self.db.conference(None, call.conference_id)? {
            let counts = self.db.call_counts(conf.id)?;
            self.after_leave(&mut conf, &call, was, counts)?;
            self.sync_xml_status(&mut conf)?;
        }
        Ok(())
    }
}
