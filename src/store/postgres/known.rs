//! What one write job knows of the rows its conference locks guard, so it does not read them
//! again: a conference's counts and its calls' statuses, as this job last read or wrote them.

use crate::domain::conference::{CallStatus, Conferencecall};
use std::collections::HashMap;

/// Rows read or written under a conference lock this job took. While the job holds the lock
/// no other writer changes them, so what it last saw is what the database holds.
#[derive(Debug, Default)]
pub(super) struct Known {
    /// Conferences whose lock this job took.
    locked: Vec<String>,
    /// (calls_active, calls_joined) of a locked conference.
    counts: HashMap<String, (i64, i64)>,
    /// The status of a call of a locked conference.
    statuses: HashMap<String, CallStatus>,
}

impl Known {
    pub(super) fn locked(&mut self, conference: &str) {
        if !self.holds(conference) {
            self.locked.push(conference.to_string());
        }
    }

    fn holds(&self, conference: &str) -> bool {
        self.locked.iter().any(|c| c == conference)
    }

    /// Counts read or written under the conference's lock.
    pub(super) fn set_counts(&mut self, conference: &str, counts: (i64, i64)) {
        if self.holds(conference) {
            self.counts.insert(conference.to_string(), counts);
        }
    }

    pub(super) fn counts(&self, conference: &str) -> Option<(i64, i64)> {
        self.counts.get(conference).copied()
    }

    /// A call as read or written: its status is known if its conference's lock is held.
    pub(super) fn saw(&mut self, call: &Conferencecall) {
        if self.holds(&call.conference_id.to_string()) {
            self.statuses.insert(call.id.to_string(), call.status);
        }
    }

    pub(super) fn status(&self, call: &str) -> Option<CallStatus> {
        self.statuses.get(call).copied()
    }

    /// A nested step was rolled back: what it wrote is gone, and so may be the locks it took.
    pub(super) fn forget(&mut self) {
        *self = Known::default();
    }
}
