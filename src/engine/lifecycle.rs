//! The conference over its life: termination and kicks, timeouts, `connect` rooms, recordings,
//! the platform commands they send and the deadlines they set.

use super::{Engine, EngineError, Refusal};
use crate::actions::{RecordingFormat, MAX_RECORDING_SECONDS};
use crate::domain::conference::{
    self, CallStatus, Conference, ConferenceStatus, ConferenceType, ConferenceView, Conferencecall,
    Recording, RecordingStatus,
};
use crate::domain::deadline::{DeadlineKind, DueDeadline};
use crate::domain::notification::NotificationType;
use crate::domain::timestamp::Timestamp;
use crate::domain::{ConferenceId, ConferencecallId, CustomerId, RecordingId};
use crate::store::prelude::*;
use uuid::Uuid;

impl Engine {
    /// Kicks one call: `leaving`, a `call_kick` command, and a kick-grace deadline after which
    /// confab marks it left itself. Calls already leaving or left are untouched.
    pub(crate) fn kick(
        &self,
        db: &dyn Tx,
        call: &mut Conferencecall,
        now: Timestamp,
    ) -> Result<(), EngineError> {
        if !matches!(call.status, CallStatus::Joining | CallStatus::Joined) {
            return Ok(());
        }
        call.status = CallStatus::Leaving;
        call.tm_update = now;
        db.set_call_status(call)?;
        self.notify_call(db, call, NotificationType::ConferencecallLeaving, now)?;
        self.kick_command(db, call, now)?;
        db.set_deadline(
            DeadlineKind::KickGrace,
            &call.id.to_string(),
            now.plus_seconds(self.settings.kick_grace_seconds),
        )?;
        Ok(())
    }

    /// Terminates a conference: straight to `terminated` when empty, else `terminating` with
    /// every call kicked. Stops an active recording. Does nothing to a closed conference.
    pub(crate) fn terminate(
        &self,
        db: &dyn Tx,
        conf: &mut Conference,
        now: Timestamp,
    ) -> Result<(), EngineError> {
        if !conf.status.is_open() {
            return Ok(());
        }
        let mut calls = db.calls_in(conf.id)?;
        conf.status = conference::status_on_terminate(calls.len());
        if conf.status == ConferenceStatus::Terminated {
            conf.tm_end = Some(now);
        }
        for call in calls.iter_mut() {
            self.kick(db, call, now)?;
        }
        if db.active_recording(conf.id)?.is_some() {
            self.stop_recording_in(db, conf.id, now)?;
        }
        conf.tm_update = now;
        db.clear_deadline(DeadlineKind::ConferenceTimeout, &conf.id.to_string())?;
        db.clear_deadline(DeadlineKind::Idle, &conf.id.to_string())?;
        db.update_conference(conf)?;
        self.sync_xml_status(db, conf.id, now)?;
        // `sync_xml_status` may have recorded the reported status on the row.
        if let Some(fresh) = db.conference(None, conf.id)? {
            *conf = fresh;
        }
        Ok(())
    }

    /// The conference rules after a call reached `leaved` (§5): an empty terminating
    /// conference terminates; a `connect` room whose other call is still joined is closed.
    pub(crate) fn after_leave(
        &self,
        db: &dyn Tx,
        conf: &mut Conference,
        call: &Conferencecall,
        was: CallStatus,
        now: Timestamp,
    ) -> Result<(), EngineError> {
        db.clear_deadline(DeadlineKind::KickGrace, &call.id.to_string())?;
        let (remaining, joined) = db.call_counts(conf.id)?;
        if conf.status == ConferenceStatus::Terminating && remaining == 0 {
            conf.status = ConferenceStatus::Terminated;
            conf.tm_end = Some(now);
            conf.tm_update = now;
            db.update_conference(conf)?;
            self.notify_conference(db, conf, NotificationType::ConferenceUpdated, now)?;
            return Ok(());
        }
        if self.xml_empty_rule(db, conf, now)? {
            return Ok(());
        }
        let had_joined = matches!(was, CallStatus::Joined | CallStatus::Leaving);
        if conf.kind == ConferenceType::Connect && conf.status.is_open() && had_joined && joined > 0
        {
            self.terminate(db, conf, now)?;
            self.notify_conference(db, conf, NotificationType::ConferenceUpdated, now)?;
        }
        Ok(())
    }

    /// Sets or clears the timeout deadline after a create or an update that set `timeout`.
    pub(crate) fn schedule_timeout(
        &self,
        db: &dyn Tx,
        conf: &Conference,
        now: Timestamp,
    ) -> Result<(), EngineError> {
        let subject = conf.id.to_string();
        if conf.timeout > 0 && conf.status.is_open() {
            db.set_deadline(
                DeadlineKind::ConferenceTimeout,
                &subject,
                now.plus_seconds(conf.timeout),
            )?;
        } else {
            db.clear_deadline(DeadlineKind::ConferenceTimeout, &subject)?;
        }
        Ok(())
    }

    /// Fires one deadline, unless it was moved or cleared since it was read.
    pub async fn fire_deadline(&self, due: &DueDeadline) -> Result<(), EngineError> {
        let due_at = due.due_at;
        let k = match &due.kind {
            Ok(k) => *k,
            Err(kind) => {
                tracing::warn!(kind, "unknown deadline kind; dropping it");
                let (kind, subject) = (kind.clone(), due.subject.clone());
                return self
                    .write(move |db| Ok(db.drop_unknown_deadline(&kind, &subject)?))
                    .await;
            }
        };
        let Ok(id) = Uuid::parse_str(&due.subject) else {
            let subject = due.subject.clone();
            return self
                .write(move |db| Ok(db.clear_deadline(k, &subject)?))
                .await;
        };
        let engine = self.clone();
        let now = self.now();
        self.write(move |db| {
            // A timeout or idle rule is about a conference; a kick grace about a call, whose
            // conference is locked before the call is read again.
            match k {
                DeadlineKind::ConferenceTimeout | DeadlineKind::Idle => db.lock_conference(id.into())?,
                DeadlineKind::KickGrace => {
                    if let Some(call) = db.call(None, id.into())? {
                        db.lock_conference(call.conference_id)?;
                    }
                }
            }
            if !db.take_deadline(k, &id.to_string(), due_at)? {
                // Moved, cleared, or fired by another owner since it was read.
                return Ok(());
            }
            match k {
                DeadlineKind::ConferenceTimeout => {
                    if let Some(mut conf) = db.conference(None, id.into())? {
                        tracing::info!(conference_id = %id, "conference timeout elapsed");
                        engine.terminate(db, &mut conf, now)?;
                        engine.notify_conference(db, &conf, NotificationType::ConferenceUpdated, now)?;
                    }
                }
                DeadlineKind::Idle => {
                    if let Some(mut conf) = db.conference(None, id.into())? {
                        engine.idle_expired(db, &mut conf, now)?;
                    }
                }
                DeadlineKind::KickGrace => {
                    if let Some(mut call) = db.call(None, id.into())? {
                        if call.status != CallStatus::Leaved {
                            tracing::info!(conferencecall_id = %id, "kicked call not reported left in time; marking it left");
                            let was = call.status;
                            call.status = CallStatus::Leaved;
                            call.tm_update = now;
                            db.set_call_status(&call)?;
                            engine.notify_call(db, &call, NotificationType::ConferencecallLeaved, now)?;
                            if let Some(mut conf) = db.conference(None, call.conference_id)? {
                                engine.after_leave(db, &mut conf, &call, was, now)?;
                            }
                            engine.sync_xml_status(db, call.conference_id, now)?;
                        }
                    }
                }
            }
            Ok(())
        })
        .await
    }

    /// The XML idle rule fired: if nobody has joined since creation the conference is
    /// terminated (kicking any call still joining) and deleted (§6.2).
    pub(crate) fn idle_expired(
        &self,
        db: &dyn Tx,
        conf: &mut Conference,
        now: Timestamp,
    ) -> Result<(), EngineError> {
        if conf.tm_begin.is_some() || !conf.status.is_open() {
            return Ok(());
        }
        if conf.tm_delete.is_none() {
            conf.tm_delete = Some(now);
        }
        self.terminate(db, conf, now)?;
        self.notify_conference(db, conf, NotificationType::ConferenceDeleted, now)
    }

    /// Kicks one call at a customer's request (`DELETE /conferencecalls/{id}`).
    pub async fn kick_call(
        &self,
        customer: CustomerId,
        id: ConferencecallId,
    ) -> Result<Conferencecall, EngineError> {
        let engine = self.clone();
        let now = self.now();
        self.write(move |db| {
            let found = db
                .call(Some(customer), id)?
                .ok_or(Refusal::ConferencecallNotFound)?;
            // Under the conference's lock, read the call again: it may have moved meanwhile.
            db.lock_conference(found.conference_id)?;
            let mut call = db
                .call(Some(customer), id)?
                .ok_or(Refusal::ConferencecallNotFound)?;
            engine.kick(db, &mut call, now)?;
            Ok(call)
        })
        .await
    }

    /// Starts recording (REST or action): a recording row and a `recording_start` command.
    pub(crate) fn start_recording_in(
        &self,
        db: &dyn Tx,
        conference_id: ConferenceId,
        format: RecordingFormat,
        duration: i64,
        now: Timestamp,
    ) -> Result<Recording, EngineError> {
        let conf = db
            .conference(None, conference_id)?
            .ok_or(Refusal::ConferenceNotFound)?;
        if conf.status != ConferenceStatus::Progressing || conf.tm_delete.is_some() {
            return Err(Refusal::StateInvalid(format!(
                "recording needs a progressing conference; this one is {}",
                conf.status.as_str()
            ))
            .into());
        }
        if db.active_recording(conf.id)?.is_some() {
            return Err(Refusal::StateInvalid("a recording is already active".into()).into());
        }
        let mut rec = Recording {
            id: RecordingId::new(),
            customer_id: conf.customer_id,
            conference_id: conf.id,
            status: RecordingStatus::Recording,
            format,
            duration,
            media_url: String::new(),
            tm_start: now,
            tm_end: None,
            tm_create: now,
            platform_call: String::new(),
        };
        self.recording_start_command(db, &conf, &mut rec, now)?;
        db.insert_recording(&rec)?;
        self.notify_recording(db, &rec, NotificationType::RecordingStarted, now)?;
        Ok(rec)
    }

    /// Asks the active recording to stop: `stopping` until the platform reports it finished.
    pub(crate) fn stop_recording_in(
        &self,
        db: &dyn Tx,
        conference_id: ConferenceId,
        now: Timestamp,
    ) -> Result<Recording, EngineError> {
        let mut rec = db
            .active_recording(conference_id)?
            .ok_or_else(|| Refusal::StateInvalid("no active recording".into()))?;
        rec.status = RecordingStatus::Stopping;
        if !self.recording_stop_command(db, &rec, now)? {
            // No platform runs it, so none will report it finished: it ends now.
            rec.status = RecordingStatus::Ended;
            rec.tm_end = Some(now);
            db.update_recording(&rec)?;
            self.notify_recording(db, &rec, NotificationType::RecordingFinished, now)?;
        } else {
            db.update_recording(&rec)?;
        }
        Ok(rec)
    }

    pub async fn start_recording(
        &self,
        customer: CustomerId,
        id: ConferenceId,
        format: Option<RecordingFormat>,
        duration: Option<i64>,
    ) -> Result<ConferenceView, EngineError> {
        let duration = duration.unwrap_or(0);
        if !(0..=MAX_RECORDING_SECONDS).contains(&duration) {
            return Err(super::invalid(
                "duration",
                format!("must be between 0 and {MAX_RECORDING_SECONDS} seconds"),
            ));
        }
        let engine = self.clone();
        let now = self.now();
        self.write(move |db| {
            db.lock_conference(id)?;
            let conf = db
                .conference(Some(customer), id)?
                .ok_or(Refusal::ConferenceNotFound)?;
            engine.start_recording_in(
                db,
                conf.id,
                format.unwrap_or(RecordingFormat::Wav),
                duration,
                now,
            )?;
            Ok(db.view(conf)?)
        })
        .await
    }

    pub async fn stop_recording(
        &self,
        customer: CustomerId,
        id: ConferenceId,
    ) -> Result<ConferenceView, EngineError> {
        let engine = self.clone();
        let now = self.now();
        self.write(move |db| {
            db.lock_conference(id)?;
            let conf = db
                .conference(Some(customer), id)?
                .ok_or(Refusal::ConferenceNotFound)?;
            engine.stop_recording_in(db, conf.id, now)?;
            Ok(db.view(conf)?)
        })
        .await
    }
}
