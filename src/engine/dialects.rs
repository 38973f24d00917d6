//! Out-of-band commands by the way a call arrived: a native call's kick is a platform command
//! (§7.1); a TwiML or jambonz call's kick and recordings are REST calls to the customer's
//! platform account (§11). All go through the outbox in the transaction of the change.

use super::rules::Rules;
use super::{Engine, EngineError};
use crate::domain::conference::{CallStatus, Conference, Conferencecall, Recording};
use crate::domain::dialect::{Connections, Dialect};
use crate::domain::CustomerId;
use crate::outbox::platforms::{self, Callbacks};
use serde_json::json;

/// `Recording::platform_call` of a recording waiting for a Twilio call to join.
const RECORDING_PENDING: &str = "(pending)";
/// `Recording::platform_call` of a recording no platform runs (jambonz cannot record a
/// conference; a Twilio conference whose customer has no connection).
const RECORDING_NOWHERE: &str = "(none)";

/// Where a platform call stands in one conference, as a dialect's event ids need it.
#[derive(Debug, Clone, Default)]
pub struct Membership {
    /// The call's newest membership in the conference, if any.
    pub latest: Option<Conferencecall>,
    /// How many of its memberships there have ended.
    pub left: usize,
}

impl Engine {
    /// A platform call's membership in one of the customer's conferences: dialects key their
    /// events by it, since their platforms send no event ids of their own.
    pub async fn membership(
        &self,
        customer: CustomerId,
        conference: crate::domain::ConferenceId,
        call_id: String,
    ) -> Result<Membership, EngineError> {
        Ok(self
            .store
            .read(move |db| {
                if db.conference(Some(customer), conference)?.is_none() {
                    return Ok(Membership::default());
                }
                Ok(Membership {
                    latest: db.latest_call_in(&call_id, conference)?,
                    left: db.left_count_in(&call_id, conference)?,
                })
            })
            .await?)
    }
}

impl Rules<'_> {
    /// The customer's platform connections, read through the writer's customer cache.
    fn connections(&self, customer: CustomerId) -> Result<Connections, EngineError> {
        Ok(self
            .cached_customer(customer)?
            .map(|c| c.connections.clone())
            .unwrap_or_default())
    }

    fn callbacks(&self, call: &Conferencecall) -> Callbacks<'_> {
        Callbacks {
            public_url: &self.settings.public_url,
            customer: call.customer_id,
            conference: call.conference_id,
        }
    }

    fn api_due(&self) -> platforms::Due {
        let now = self.now();
        (now.micros() + self.settings.command_first_delay_micros, now)
    }

    /// Tells the platform the call arrived by to take it out of its conference.
    pub(crate) fn kick_command(&self, call: &Conferencecall) -> Result<(), EngineError> {
        let db = self.db();
        let message =
            match call.dialect {
                Dialect::Native => {
                    let data =
                        json!({"call_id": call.reference_id, "conference_id": call.conference_id});
                    return self.command(call.conference_id, "call_kick", data);
                }
                Dialect::Twilio => self.connections(call.customer_id)?.twilio.map(|t| {
                    platforms::twilio_kick(&t, call, &self.callbacks(call), self.api_due())
                }),
                Dialect::Jambonz => self.connections(call.customer_id)?.jambonz.map(|j| {
                    platforms::jambonz_kick(&j, call, &self.callbacks(call), self.api_due())
                }),
            };
        match message {
            Some(m) => db.enqueue(&m)?,
            // The connection was removed while the call was in: nothing can reach the
            // platform; the kick grace marks the call left.
            None => tracing::warn!(
                call_id = %call.id,
                dialect = call.dialect.as_str(),
                "kick not sent: the customer has no connection for the call's platform"
            ),
        }
        Ok(())
    }

    /// Starts a new recording on the platform. Twilio records per call, so the recording
    /// runs on the conference's earliest joined Twilio call (what it hears and says is the
    /// conference's mix); with none joined yet, it starts when the first one joins
    /// (`record_on_join`). jambonz cannot record a conference through its API: logged, and
    /// the recording stays confab's record until stopped. Otherwise a native command.
    pub(crate) fn recording_start_command(
        &self,
        conf: &Conference,
        rec: &mut Recording,
    ) -> Result<(), EngineError> {
        let db = self.db();
        let calls = db.calls_in(conf.id)?;
        let dialect_calls: Vec<&Conferencecall> = calls
            .iter()
            .filter(|c| c.dialect != Dialect::Native)
            .collect();
        if dialect_calls.is_empty() {
            let data = json!({"recording_id": rec.id, "conference_id": conf.id,
                "format": rec.format.as_str(), "duration": rec.duration});
            return self.command(conf.id, "recording_start", data);
        }
        let twilio_joined = dialect_calls
            .iter()
            .find(|c| c.dialect == Dialect::Twilio && c.status == CallStatus::Joined);
        match twilio_joined {
            Some(call) => self.twilio_record(call, rec),
            None if dialect_calls.iter().any(|c| c.dialect == Dialect::Twilio) => {
                rec.platform_call = RECORDING_PENDING.into();
                Ok(())
            }
            None => {
                tracing::warn!(conference_id = %conf.id, recording_id = %rec.id,
                    "jambonz cannot record a conference through its API; recording not started on the platform");
                rec.platform_call = RECORDING_NOWHERE.into();
                Ok(())
            }
        }
    }

    /// Starts a recording waiting for a Twilio call to join, on the call that just joined.
    pub(crate) fn record_on_join(
        &self,
        conf: &Conference,
        call: &Conferencecall,
    ) -> Result<(), EngineError> {
        let db = self.db();
        if call.dialect != Dialect::Twilio {
            return Ok(());
        }
        let Some(mut rec) = db.active_recording(conf.id)? else {
            return Ok(());
        };
        if rec.platform_call != RECORDING_PENDING {
            return Ok(());
        }
        self.twilio_record(call, &mut rec)?;
        db.update_recording(&rec)
            .map_err(EngineError::from)
            .map(|_| ())
    }

    fn twilio_record(&self, call: &Conferencecall, rec: &mut Recording) -> Result<(), EngineError> {
        let db = self.db();
        let Some(t) = self.connections(call.customer_id)?.twilio else {
            tracing::warn!(recording_id = %rec.id, "recording not started: the customer has no twilio connection");
            rec.platform_call = RECORDING_NOWHERE.into();
            return Ok(());
        };
        rec.platform_call = call.reference_id.clone();
        let m = platforms::twilio_recording_start(
            &t,
            call,
            rec.id,
            &self.callbacks(call),
            self.api_due(),
        );
        db.enqueue(&m)?;
        Ok(())
    }

    /// Stops a recording where it runs: on its Twilio call, or by a native command. False when
    /// no platform runs it, so nothing will report it finished: it ends now.
    pub(crate) fn recording_stop_command(&self, rec: &Recording) -> Result<bool, EngineError> {
        let db = self.db();
        match rec.platform_call.as_str() {
            "" => {
                let data = json!({"recording_id": rec.id, "conference_id": rec.conference_id});
                self.command(rec.conference_id, "recording_stop", data)?;
                return Ok(true);
            }
            RECORDING_PENDING | RECORDING_NOWHERE => return Ok(false),
            _ => {}
        }
        let Some(t) = self.connections(rec.customer_id)?.twilio else {
            tracing::warn!(recording_id = %rec.id, "recording stop not sent: the customer has no twilio connection");
            return Ok(false);
        };
        let Some(call) = db.latest_call_in(&rec.platform_call, rec.conference_id)? else {
            return Ok(false);
        };
        db.enqueue(&platforms::twilio_recording_stop(&t, &call, self.api_due()))?;
        Ok(true)
    }
}
