//! Counting usage (§16) as it happens: a conference created, a call that left the room, a
//! recording ended, each added to its customer's day in the transaction that made it so.

use super::Rules;
use crate::domain::conference::{Conference, Conferencecall, Recording};
use crate::domain::usage::{seconds_between, shard_of, Day, Usage};
use crate::domain::{ConferenceId, CustomerId};
use crate::engine::EngineError;

impl Rules<'_> {
    /// Marks a call left, writes it, and counts what it used of the room (nothing for a call
    /// that never joined, or one already left). A call that joined before midnight and left
    /// after counts, whole, on the day it left: the day its usage became known.
    pub(super) fn leave(&self, call: &mut Conferencecall) -> Result<(), EngineError> {
        let used = call.mark_leaved(self.now);
        self.db.set_call_status(call)?;
        match used {
            Some(usage) => self.count(
                call.customer_id,
                call.conference_id,
                Day::of(self.now),
                &usage,
            ),
            None => Ok(()),
        }
    }

    /// A new conference counts on the day it was created.
    pub(crate) fn count_conference(&self, conference: &Conference) -> Result<(), EngineError> {
        let usage = Usage {
            conferences: 1,
            ..Usage::default()
        };
        self.count(
            conference.customer_id,
            conference.id,
            Day::of(conference.tm_create),
            &usage,
        )
    }

    /// An ended recording counts its length on the day it ended.
    pub(super) fn count_recording(&self, rec: &Recording) -> Result<(), EngineError> {
        let Some(end) = rec.tm_end else {
            return Ok(());
        };
        let usage = Usage {
            recording_seconds: seconds_between(rec.tm_start, end),
            ..Usage::default()
        };
        self.count(rec.customer_id, rec.conference_id, Day::of(end), &usage)
    }

    fn count(
        &self,
        customer: CustomerId,
        conference: ConferenceId,
        day: Day,
        usage: &Usage,
    ) -> Result<(), EngineError> {
        self.db
            .add_usage(customer, conference, day, shard_of(conference), usage)?;
        self.participant_seconds
            .set(self.participant_seconds.get() + usage.participant_seconds);
        Ok(())
    }
}
