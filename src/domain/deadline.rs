//! The kinds of durable deadline: each is a row with a due time, fired once.

use super::names::names;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadlineKind {
    /// A conference's `timeout` elapsed: terminate it.
    ConferenceTimeout,
    /// A kicked call was not reported as left in time: mark it left.
    KickGrace,
    /// An XML-API conference nobody joined in time: terminate and delete it.
    Idle,
    /// A call dialled out (§15) was not reported answered or failed in time: mark it left,
    /// so no call stays `dialing` after a lost report.
    DialTimeout,
}

names!(DeadlineKind {
    ConferenceTimeout = "conference_timeout",
    KickGrace = "kick_grace",
    Idle = "idle",
    DialTimeout = "dial_timeout",
});

/// A deadline that is due, as the store holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueDeadline {
    /// Its kind, or the stored name of a kind this build does not know (a row it did not
    /// write), which is dropped rather than fired.
    pub kind: Result<DeadlineKind, String>,
    /// The conference or call it is about, as stored.
    pub subject: String,
    /// When it is due, in microseconds: taking it checks this, so a moved one is not fired.
    pub due_at: i64,
}

impl DueDeadline {
    /// A stored row's deadline; an unknown kind is kept by name rather than refused, so one
    /// odd row cannot stop the others from firing.
    pub fn from_stored(kind: String, subject: String, due_at: i64) -> DueDeadline {
        DueDeadline {
            kind: DeadlineKind::parse(&kind).ok_or(kind),
            subject,
            due_at,
        }
    }

    /// The name its kind is stored by, known or not.
    pub fn kind_name(&self) -> &str {
        match &self.kind {
            Ok(k) => k.as_str(),
            Err(stored) => stored,
        }
    }
}
