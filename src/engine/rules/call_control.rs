//! Acting on live calls and rooms (§15): mute, hold, and media said to one call or the whole
//! room, carried to each platform the way the call came in; and the same state as a platform
//! reports it (which sends nothing back).

use super::Rules;
use crate::actions::Emitted;
use crate::dialects::Command;
use crate::domain::conference::{CallStatus, Conference, Conferencecall};
use crate::domain::notification::NotificationType;
use crate::engine::{EngineError, Refusal};

/// Only a joined call can be acted on; the refusal says what the call is instead.
fn joined(call: &Conferencecall, what: &str) -> Result<(), EngineError> {
    if call.status == CallStatus::Joined {
        return Ok(());
    }
    Err(Refusal::StateInvalid(format!(
        "only a joined call can be {what}; this one is {}",
        call.status
    ))
    .into())
}

impl Rules<'_> {
    /// Mutes or unmutes a joined call. Its current state again changes and sends nothing.
    pub(crate) fn set_muted(
        &self,
        call: &mut Conferencecall,
        muted: bool,
    ) -> Result<(), EngineError> {
        joined(call, if muted { "muted" } else { "unmuted" })?;
        if call.muted == muted {
            return Ok(());
        }
        call.muted = muted;
        self.call_updated(call)?;
        self.call_command(call, Command::Mute { call, muted })
    }

    /// Puts a joined call on hold with `music_url`, or takes it off. Its current state again
    /// changes and sends nothing.
    pub(crate) fn set_held(
        &self,
        call: &mut Conferencecall,
        hold: bool,
        music_url: &str,
    ) -> Result<(), EngineError> {
        joined(call, if hold { "held" } else { "resumed" })?;
        if call.hold == hold {
            return Ok(());
        }
        call.hold = hold;
        self.call_updated(call)?;
        let command = Command::Hold {
            call,
            hold,
            music_url,
        };
        self.call_command(call, command)
    }

    /// Says or plays `actions` to one joined call only.
    pub(crate) fn say_to_call(
        &self,
        conf: &Conference,
        call: &Conferencecall,
        actions: &[Emitted],
    ) -> Result<(), EngineError> {
        joined(call, "spoken to")?;
        let platform = crate::dialects::platform(call.dialect);
        if !platform.plays_to_calls() {
            // Said plainly rather than accepted and dropped: nothing would reach the caller.
            return Err(Refusal::StateInvalid(format!(
                "a {} call cannot be spoken to: its platform plays nothing into a conference",
                call.dialect
            ))
            .into());
        }
        let announcement = self.announcement(platform, conf, actions)?;
        let command = Command::Play {
            call,
            actions,
            announcement,
        };
        self.call_command(call, command)
    }

    /// Says or plays `actions` to every joined call of a progressing room.
    pub(crate) fn say_to_room(
        &self,
        conf: &Conference,
        actions: &[Emitted],
    ) -> Result<(), EngineError> {
        if !conf.status.is_open() || conf.tm_delete.is_some() {
            return Err(Refusal::StateInvalid(format!(
                "only a progressing conference can be spoken to; this one is {}",
                conf.status
            ))
            .into());
        }
        let joined: Vec<Conferencecall> = self
            .db()
            .calls_in(conf.id)?
            .into_iter()
            .filter(|c| c.status == CallStatus::Joined)
            .collect();
        self.room_command(conf, &joined, actions)
    }

    /// A platform reported a call muted or unmuted, held or resumed: the state follows and
    /// the customer is told, and nothing goes back to the platform. A call that is not joined
    /// (a report after its leave) changes nothing, and neither does a report the platform
    /// numbered before one applied already.
    pub(crate) fn reported_state(
        &self,
        call: &mut Conferencecall,
        muted: Option<bool>,
        hold: Option<bool>,
        sequence: Option<i64>,
    ) -> Result<(), EngineError> {
        if call.status != CallStatus::Joined {
            return Ok(());
        }
        // Reports can arrive out of order (each is its own request, retried on its own): one
        // numbered before a report applied already is stale, whatever it says.
        if let Some(n) = sequence {
            if !self
                .db
                .advance_update_sequence(call.id, n, self.now.micros())?
            {
                tracing::debug!(conferencecall_id = %call.id, sequence = n, "stale platform report ignored");
                return Ok(());
            }
        }
        let (muted, hold) = (muted.unwrap_or(call.muted), hold.unwrap_or(call.hold));
        if (muted, hold) == (call.muted, call.hold) {
            return Ok(());
        }
        call.muted = muted;
        call.hold = hold;
        self.call_updated(call)
    }

    /// A media list (checked by `Engine::media_list`) as it is said: variables substituted as
    /// in a run of the conference's lists for `call`, or of the room's alone.
    pub(crate) fn media(
        &self,
        conf: &Conference,
        call: Option<&Conferencecall>,
        program: &crate::actions::Program,
    ) -> Result<Vec<Emitted>, EngineError> {
        let joined = self.db().call_counts(conf.id)?.1;
        let vars = match call {
            Some(c) => super::actions::variables(conf, c, joined),
            None => super::actions::conference_variables(conf, joined),
        };
        Ok(crate::actions::interpreter::run(program, vars).actions)
    }

    /// Writes a call whose role, mute or hold changed and tells the customer
    /// (`conferencecall_updated`).
    fn call_updated(&self, call: &mut Conferencecall) -> Result<(), EngineError> {
        call.tm_update = self.now;
        self.db.set_call_status(call)?;
        self.notify_call(call, NotificationType::ConferencecallUpdated)
    }
}
