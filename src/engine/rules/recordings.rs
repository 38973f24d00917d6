//! Recordings of a conference (§3.3): started and stopped by the API or by actions, finished
//! when the platform reports it.

use super::Rules;
use crate::actions::RecordingFormat;
use crate::domain::conference::{ConferenceStatus, Recording, RecordingStatus};
use crate::domain::notification::NotificationType;
use crate::domain::{ConferenceId, CustomerId, RecordingId};
use crate::engine::live::ChangeKind;
use crate::engine::{EngineError, Refusal};

impl Rules<'_> {
    /// Starts recording a progressing conference: a recording row and the platform's start.
    pub(crate) fn start_recording(
        &self,
        conference_id: ConferenceId,
        format: RecordingFormat,
        duration: i64,
    ) -> Result<Recording, EngineError> {
        let conf = self
            .db
            .conference(None, conference_id)?
            .ok_or(Refusal::ConferenceNotFound)?;
        if conf.status != ConferenceStatus::Progressing || conf.tm_delete.is_some() {
            return Err(Refusal::StateInvalid(format!(
                "recording needs a progressing conference; this one is {}",
                conf.status.as_str()
            ))
            .into());
        }
        if self.db.active_recording(conf.id)?.is_some() {
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
            tm_start: self.now,
            tm_end: None,
            tm_create: self.now,
            platform_call: String::new(),
        };
        self.recording_start_command(&conf, &mut rec)?;
        self.db.insert_recording(&rec)?;
        self.notify_recording(&rec, NotificationType::RecordingStarted)?;
        Ok(rec)
    }

    /// Asks the active recording to stop: `stopping` until the platform reports it finished.
    pub(crate) fn stop_recording(
        &self,
        conference_id: ConferenceId,
    ) -> Result<Recording, EngineError> {
        let mut rec = self
            .db
            .active_recording(conference_id)?
            .ok_or_else(|| Refusal::StateInvalid("no active recording".into()))?;
        self.record(
            rec.customer_id,
            rec.conference_id,
            ChangeKind::RecordingStopped,
        );
        rec.status = RecordingStatus::Stopping;
        if !self.recording_stop_command(&rec)? {
            // No platform runs it, so none will report it finished: it ends now.
            rec.status = RecordingStatus::Ended;
            rec.tm_end = Some(self.now);
            self.db.update_recording(&rec)?;
            self.count_recording(&rec)?;
            self.notify_recording(&rec, NotificationType::RecordingFinished)?;
        } else {
            self.db.update_recording(&rec)?;
        }
        Ok(rec)
    }

    /// The platform reports a recording finished, with where its media is. A recording
    /// already ended is answered as it is.
    pub(crate) fn finish_recording(
        &self,
        scope: Option<CustomerId>,
        id: RecordingId,
        media_url: &str,
    ) -> Result<Recording, EngineError> {
        let found = self
            .db
            .recording(scope, id)?
            .ok_or(Refusal::RecordingNotFound)?;
        // Under the conference's lock, read it again: another writer may have ended it.
        self.db.lock_conference(found.conference_id)?;
        let mut rec = self
            .db
            .recording(None, id)?
            .ok_or(Refusal::RecordingNotFound)?;
        if rec.status != RecordingStatus::Ended {
            rec.status = RecordingStatus::Ended;
            rec.media_url = media_url.to_string();
            rec.tm_end = Some(self.now);
            self.db.update_recording(&rec)?;
            self.count_recording(&rec)?;
            self.notify_recording(&rec, NotificationType::RecordingFinished)?;
        }
        Ok(rec)
    }
}
