//! What one write job knows of the rows no other writer can change while it runs, so it does
//! not read them again: a conference's counts and its calls' statuses, as it last saw them.

use crate::domain::conference::{CallStatus, Conferencecall};
use std::collections::HashMap;

/// Rows read or written while no other writer could change them: on PostgreSQL under a
/// conference lock this job took, on SQLite always (one writer applies every write). What the
/// job last saw of them is what the database holds.
#[derive(Debug, Default)]
pub(crate) struct Known {
    /// SQLite: every row is the job's alone while it runs.
    sole_writer: bool,
    /// PostgreSQL: conferences whose lock this job took.
    locked: Vec<String>,
    /// (calls_active, calls_joined) of a locked conference.
    counts: HashMap<String, (i64, i64)>,
    /// The status of a call of a locked conference.
    statuses: HashMap<String, CallStatus>,
}

impl Known {
    /// For the one writer of a SQLite store.
    pub(crate) fn sole_writer() -> Known {
        Known {
            sole_writer: true,
            ..Known::default()
        }
    }

    pub(crate) fn locked(&mut self, conference: &str) {
        if !self.holds(conference) {
            self.locked.push(conference.to_string());
        }
    }

    fn holds(&self, conference: &str) -> bool {
        self.sole_writer || self.locked.iter().any(|c| c == conference)
    }

    /// Counts read or written under the conference's lock.
    pub(crate) fn set_counts(&mut self, conference: &str, counts: (i64, i64)) {
        if self.holds(conference) {
            self.counts.insert(conference.to_string(), counts);
        }
    }

    pub(crate) fn counts(&self, conference: &str) -> Option<(i64, i64)> {
        self.counts.get(conference).copied()
    }

    /// A call as read or written: its status is known if its conference's lock is held.
    pub(crate) fn saw(&mut self, call: &Conferencecall) {
        if self.holds(&call.conference_id.to_string()) {
            self.statuses.insert(call.id.to_string(), call.status);
        }
    }

    pub(crate) fn status(&self, call: &str) -> Option<CallStatus> {
        self.statuses.get(call).copied()
    }

    /// A nested step was rolled back: what it wrote is gone, and so may be the locks it took.
    pub(crate) fn forget(&mut self) {
        *self = Known {
            sole_writer: self.sole_writer,
            ..Known::default()
        };
    }
}
