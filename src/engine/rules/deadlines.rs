//! Deadlines (§8): the timeout and idle deadlines a conference's writes set, and what each
//! kind of deadline does when it fires. Kick-grace deadlines are set by a kick
//! (`termination.rs`).

use super::Rules;
use crate::domain::conference::{Conference, Origin};
use crate::domain::deadline::DeadlineKind;
use crate::engine::EngineError;
use uuid::Uuid;

impl Rules<'_> {
    /// Sets or clears the timeout deadline after a create or an update that set `timeout`.
    pub(crate) fn schedule_timeout(&self, conf: &Conference) -> Result<(), EngineError> {
        let subject = conf.id.to_string();
        if conf.timeout > 0 && conf.status.is_open() {
            self.db.set_deadline(
                DeadlineKind::ConferenceTimeout,
                &subject,
                self.now.plus_seconds(conf.timeout),
            )?;
        } else {
            self.db
                .clear_deadline(DeadlineKind::ConferenceTimeout, &subject)?;
        }
        Ok(())
    }

    /// Sets the idle deadline of a new XML-API conference.
    pub(crate) fn schedule_idle(&self, conf: &Conference) -> Result<(), EngineError> {
        if conf.origin == Origin::Xml {
            self.db.set_deadline(
                DeadlineKind::Idle,
                &conf.id.to_string(),
                self.now.plus_seconds(self.settings.idle_timeout_seconds),
            )?;
        }
        Ok(())
    }

    /// Fires the deadline of `kind` about `id` that was due at `due_at`, unless it was moved,
    /// cleared or fired by another owner since it was read.
    pub(crate) fn fire_deadline(
        &self,
        kind: DeadlineKind,
        id: Uuid,
        due_at: i64,
    ) -> Result<(), EngineError> {
        // A timeout or idle rule is about a conference; a kick grace or a dial timeout about a
        // call, whose
        // conference is locked before the call is read again.
        match kind {
            DeadlineKind::ConferenceTimeout | DeadlineKind::Idle => {
                self.db.lock_conference(id.into())?
            }
            DeadlineKind::KickGrace | DeadlineKind::DialTimeout => {
                if let Some(call) = self.db.call(None, id.into())? {
                    self.db.lock_conference(call.conference_id)?;
                }
            }
        }
        if !self.db.take_deadline(kind, &id.to_string(), due_at)? {
            // Moved, cleared, or fired by another owner since it was read.
            return Ok(());
        }
        match kind {
            DeadlineKind::ConferenceTimeout => {
                if let Some(mut conf) = self.db.conference(None, id.into())? {
                    self.timeout_elapsed(&mut conf)?;
                }
            }
            DeadlineKind::Idle => {
                if let Some(mut conf) = self.db.conference(None, id.into())? {
                    self.idle_expired(&mut conf)?;
                }
            }
            DeadlineKind::KickGrace => {
                if let Some(call) = self.db.call(None, id.into())? {
                    self.kick_grace_elapsed(call)?;
                }
            }
            DeadlineKind::DialTimeout => {
                if let Some(call) = self.db.call(None, id.into())? {
                    self.dial_timed_out(call)?;
                }
            }
        }
        Ok(())
    }
}
