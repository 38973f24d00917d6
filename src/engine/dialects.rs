//! Out-of-band commands sent back the way a call arrived (kicks, recordings), through the platform of its dialect, and where a platform call stands in a conference.
//!
//! Which request carries a command is the platform's (`crate::dialects`): a native command
//! (§7.1) or a REST call to the customer's platform account (§11). Either goes through the
//! outbox in the transaction of the change.

use super::rules::Rules;
use super::{invalid, Engine, EngineError};
use crate::dialects::{self, Command, Outgoing, Platform, Recorder, Unsent};
use crate::domain::conference::{CallStatus, Conference, Conferencecall, Recording};
use crate::domain::dialect::Connections;
use crate::domain::{ConferenceId, CustomerId};
use crate::outbox::message;

/// `Recording::platform_call` of a recording waiting for a call of a platform that records
/// per call to join.
const RECORDING_PENDING: &str = "(pending)";
/// `Recording::platform_call` of a recording no platform runs (the calls' platforms cannot
/// record a conference; a per-call platform whose customer has no connection).
const RECORDING_NOWHERE: &str = "(none)";

/// Where a platform call stands in one conference, as a dialect's event ids need it.
#[derive(Debug, Clone, Default)]
pub struct Membership {
    /// The call's newest membership in the conference, if any.
    pub latest: Option<Conferencecall>,
    /// How many of its memberships there have ended.
    pub left: usize,
    /// The number of the platform's report of the newest membership's join, if it numbered
    /// one; read only when asked for (a numbered leave needs it, no other report does).
    pub join_sequence: Option<i64>,
}

/// The platform a call arrived by.
fn platform_of(call: &Conferencecall) -> &'static dyn Platform {
    dialects::platform(call.dialect)
}

impl Engine {
    /// A platform call's membership in one of the customer's conferences: dialects key their
    /// events by it, since their platforms send no event ids of their own. `with_join_sequence`
    /// also reads the number of its join's report.
    pub async fn membership(
        &self,
        customer: CustomerId,
        conference: ConferenceId,
        call_id: String,
        with_join_sequence: bool,
    ) -> Result<Membership, EngineError> {
        Ok(self
            .store
            .read(move |db| {
                if db.conference(Some(customer), conference)?.is_none() {
                    return Ok(Membership::default());
                }
                let latest = db.latest_call_in(&call_id, conference)?;
                let join_sequence = match &latest {
                    Some(call) if with_join_sequence => db.join_sequence(call.id)?,
                    _ => None,
                };
                Ok(Membership {
                    latest,
                    left: db.left_count_in(&call_id, conference)?,
                    join_sequence,
                })
            })
            .await?)
    }
}

impl Rules<'_> {
    /// Writes a command to the outbox as its platform carries it. `Ok(false)` when it was not
    /// sent (said in the log): the callers decide what an unsent command leaves behind.
    fn send(
        &self,
        platform: &dyn Platform,
        command: Command<'_>,
        ids: (CustomerId, ConferenceId),
    ) -> Result<bool, EngineError> {
        let kind = command.name();
        match self.try_send(platform, command, ids)? {
            Ok(()) => Ok(true),
            Err(Unsent::NotConfigured) => {
                tracing::debug!(kind, "no --platform-url: command not sent");
                Ok(false)
            }
            Err(why) => {
                // The connection was removed while the call was in, or the platform has no
                // such command: nothing can reach the platform.
                tracing::warn!(
                    dialect = platform.dialect().as_str(),
                    kind,
                    ?why,
                    conference = %ids.1,
                    "command not sent to the call's platform"
                );
                Ok(false)
            }
        }
    }

    /// Writes a dial-out's command to the outbox, the way `call.dialect` says. A dial that
    /// cannot be sent is refused (400 naming `dialect`) rather than left ringing nowhere
    /// until its timeout: the transaction that would have created the call is not committed.
    pub(crate) fn dial_command(
        &self,
        call: &Conferencecall,
        destination: &str,
        from: &str,
        timeout: i64,
    ) -> Result<(), EngineError> {
        let command = Command::Dial {
            call,
            destination,
            from,
            timeout,
        };
        let ids = (call.customer_id, call.conference_id);
        let name = call.dialect.as_str();
        match self.try_send(platform_of(call), command, ids)? {
            Ok(()) => Ok(()),
            Err(Unsent::NotConfigured) => Err(invalid(
                "dialect",
                format!("{name}: confab has no --platform-url to send the dial to"),
            )),
            Err(Unsent::NoConnection) => Err(invalid(
                "dialect",
                format!("{name}: the customer has no {name} connection (PUT /v1.0/customer)"),
            )),
            Err(Unsent::Unsupported) => Err(invalid(
                "dialect",
                format!("{name}: dial-out through this platform is not supported yet"),
            )),
        }
    }

    /// Writes a command to the outbox, or says why it cannot be sent.
    fn try_send(
        &self,
        platform: &dyn Platform,
        command: Command<'_>,
        (customer, conference): (CustomerId, ConferenceId),
    ) -> Result<Result<(), Unsent>, EngineError> {
        // Only a platform customers connect needs the customer's connections (read through
        // the writer's customer cache).
        let connections = match platform.connection() {
            Some(_) => self
                .cached_customer(customer)?
                .map(|c| c.connections.clone())
                .unwrap_or_default(),
            None => Connections::default(),
        };
        let out = Outgoing {
            connections: &connections,
            public_url: &self.settings.public_url,
            platform_url: self.settings.platform_url.as_deref(),
        };
        match platform.command(command, &out) {
            Ok(request) => {
                let now = self.now();
                let first = now.micros() + self.settings.command_first_delay_micros;
                self.db().enqueue(&message::outbound(
                    request, customer, conference, first, now,
                ))?;
                Ok(Ok(()))
            }
            Err(why) => Ok(Err(why)),
        }
    }

    /// Carries a command about one call (mute, hold, say) to the platform it arrived by.
    pub(crate) fn call_command(
        &self,
        call: &Conferencecall,
        command: Command<'_>,
    ) -> Result<(), EngineError> {
        self.send(
            platform_of(call),
            command,
            (call.customer_id, call.conference_id),
        )?;
        Ok(())
    }

    /// Says `actions` to the joined calls of a room, the way each came in: one room-wide
    /// request per platform that has one (through any of its joined calls), else one per call.
    /// A platform that fetches what to say from confab gets an announcement stored for it.
    pub(crate) fn room_command(
        &self,
        conf: &Conference,
        joined: &[Conferencecall],
        actions: &[crate::actions::Emitted],
    ) -> Result<(), EngineError> {
        for platform in dialects::all() {
            let calls: Vec<&Conferencecall> = joined
                .iter()
                .filter(|c| c.dialect == platform.dialect())
                .collect();
            let Some(first) = calls.first() else {
                continue;
            };
            if !platform.plays_to_calls() {
                tracing::info!(conference_id = %conf.id, dialect = platform.dialect().as_str(),
                    calls = calls.len(), "the room's calls of this platform cannot be spoken to");
                continue;
            }
            let announcement = self.announcement(platform, conf, actions)?;
            if platform.plays_to_rooms() {
                let command = Command::RoomPlay {
                    call: first,
                    actions,
                    announcement,
                };
                self.send(platform, command, (conf.customer_id, conf.id))?;
                continue;
            }
            for call in calls {
                let command = Command::Play {
                    call,
                    actions,
                    announcement,
                };
                self.send(platform, command, (conf.customer_id, conf.id))?;
            }
        }
        Ok(())
    }

    /// The id a platform fetches `actions` by, stored for it when it fetches them from confab.
    pub(crate) fn announcement(
        &self,
        platform: &dyn Platform,
        conf: &Conference,
        actions: &[crate::actions::Emitted],
    ) -> Result<uuid::Uuid, EngineError> {
        let id = uuid::Uuid::now_v7();
        if platform.fetches_announcements() {
            let text = serde_json::to_string(actions).unwrap_or_else(|_| "[]".into());
            self.db().insert_announcement(
                id,
                conf.customer_id,
                conf.id,
                &text,
                self.now().micros(),
            )?;
        }
        Ok(id)
    }

    /// Tells the platform that placed a dial to stop it ringing; `platform_call` is its id of
    /// the call, when it has reported one.
    pub(crate) fn cancel_dial_command(
        &self,
        call: &Conferencecall,
        platform_call: Option<&str>,
    ) -> Result<(), EngineError> {
        let ids = (call.customer_id, call.conference_id);
        let command = Command::CancelDial {
            call,
            platform_call,
        };
        self.send(platform_of(call), command, ids)?;
        Ok(())
    }

    /// Tells the platform the call arrived by to take it out of its conference. Unsent, the
    /// kick grace marks the call left.
    pub(crate) fn kick_command(&self, call: &Conferencecall) -> Result<(), EngineError> {
        let ids = (call.customer_id, call.conference_id);
        self.send(platform_of(call), Command::Kick { call }, ids)?;
        Ok(())
    }

    /// Starts a new recording on the platform. With no call of a platform that records per
    /// call, the platform that records conferences (native) is told. Otherwise the recording
    /// runs on the conference's earliest joined call of a per-call platform (what it hears
    /// and says is the conference's mix); with none joined yet, it starts when the first one
    /// joins (`record_on_join`). Calls whose platforms cannot record leave it confab's record
    /// only, until stopped.
    pub(crate) fn recording_start_command(
        &self,
        conf: &Conference,
        rec: &mut Recording,
    ) -> Result<(), EngineError> {
        let calls = self.db().calls_in(conf.id)?;
        let elsewhere: Vec<&Conferencecall> = calls
            .iter()
            .filter(|c| platform_of(c).recorder() != Recorder::Conference)
            .collect();
        if elsewhere.is_empty() {
            let command = Command::RecordingStart {
                recording: rec,
                call: None,
            };
            let sent = match dialects::conference_recorder() {
                Some(recorder) => self.send(recorder, command, (rec.customer_id, conf.id))?,
                None => false,
            };
            // Started in an empty room with no platform told to record it (no
            // `--platform-url`: a deployment driven by the dialects alone), the recording
            // waits for the first call of a platform that records per call, as it would
            // beside one. (With native calls in the room, their platform may still report
            // it finished, as before.)
            if !sent && calls.is_empty() {
                rec.platform_call = RECORDING_PENDING.into();
            }
            return Ok(());
        }
        let per_call = |c: &&&Conferencecall| platform_of(c).recorder() == Recorder::PerCall;
        match elsewhere
            .iter()
            .find(|c| per_call(c) && c.status == CallStatus::Joined)
        {
            Some(call) => self.record_call(call, rec),
            None if elsewhere.iter().any(|c| per_call(&c)) => {
                rec.platform_call = RECORDING_PENDING.into();
                Ok(())
            }
            None => {
                tracing::warn!(conference_id = %conf.id, recording_id = %rec.id,
                    "the calls' platforms cannot record a conference through their API; recording not started on the platform");
                rec.platform_call = RECORDING_NOWHERE.into();
                Ok(())
            }
        }
    }

    /// Starts a recording waiting for a per-call platform's call to join, on the call that
    /// just joined.
    pub(crate) fn record_on_join(
        &self,
        conf: &Conference,
        call: &Conferencecall,
    ) -> Result<(), EngineError> {
        let db = self.db();
        if platform_of(call).recorder() != Recorder::PerCall {
            return Ok(());
        }
        let Some(mut rec) = db.active_recording(conf.id)? else {
            return Ok(());
        };
        if rec.platform_call != RECORDING_PENDING {
            return Ok(());
        }
        self.record_call(call, &mut rec)?;
        db.update_recording(&rec)
            .map_err(EngineError::from)
            .map(|_| ())
    }

    /// Starts recording on one call; a recording its platform cannot start runs nowhere.
    fn record_call(&self, call: &Conferencecall, rec: &mut Recording) -> Result<(), EngineError> {
        let command = Command::RecordingStart {
            recording: rec,
            call: Some(call),
        };
        let ids = (call.customer_id, call.conference_id);
        rec.platform_call = if self.send(platform_of(call), command, ids)? {
            call.reference_id.clone()
        } else {
            RECORDING_NOWHERE.into()
        };
        Ok(())
    }

    /// Stops a recording where it runs: on its call, or on the platform that records
    /// conferences. False when no
    /// platform runs it, so nothing will report it finished: it ends now.
    pub(crate) fn recording_stop_command(&self, rec: &Recording) -> Result<bool, EngineError> {
        let db = self.db();
        let ids = (rec.customer_id, rec.conference_id);
        let call = match rec.platform_call.as_str() {
            "" => {
                let Some(recorder) = dialects::conference_recorder() else {
                    return Ok(false);
                };
                let command = Command::RecordingStop {
                    recording: rec,
                    call: None,
                };
                self.send(recorder, command, ids)?;
                return Ok(true);
            }
            RECORDING_PENDING | RECORDING_NOWHERE => return Ok(false),
            platform_call => db.latest_call_in(platform_call, rec.conference_id)?,
        };
        let Some(call) = call else {
            return Ok(false);
        };
        let command = Command::RecordingStop {
            recording: rec,
            call: Some(&call),
        };
        self.send(platform_of(&call), command, ids)
    }
}
