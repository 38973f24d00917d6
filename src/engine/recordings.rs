//! Recordings as a customer reads, starts and stops them (§3.3).

use super::{invalid, Engine, EngineError, Refusal};
use crate::actions::{RecordingFormat, MAX_RECORDING_SECONDS};
use crate::domain::conference::{ConferenceView, Recording};
use crate::domain::{ConferenceId, CustomerId, RecordingId};

impl Engine {
    pub async fn recording(
        &self,
        customer: CustomerId,
        id: RecordingId,
    ) -> Result<Recording, EngineError> {
        self.store
            .read(move |db| db.recording(Some(customer), id))
            .await?
            .ok_or(EngineError::Refused(Refusal::RecordingNotFound))
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
            return Err(invalid(
                "duration",
                format!("must be between 0 and {MAX_RECORDING_SECONDS} seconds"),
            ));
        }
        self.transact(move |rules| {
            let db = rules.db();
            let conf = rules.locked_conference(customer, id)?;
            rules.start_recording(conf.id, format.unwrap_or(RecordingFormat::Wav), duration)?;
            Ok(db.view(conf)?)
        })
        .await
    }

    pub async fn stop_recording(
        &self,
        customer: CustomerId,
        id: ConferenceId,
    ) -> Result<ConferenceView, EngineError> {
        self.transact(move |rules| {
            let db = rules.db();
            let conf = rules.locked_conference(customer, id)?;
            rules.stop_recording(conf.id)?;
            Ok(db.view(conf)?)
        })
        .await
    }
}
