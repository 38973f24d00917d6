//! The kinds of durable deadline: each is a row with a due time, fired once.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadlineKind {
    /// A conference's `timeout` elapsed: terminate it.
    ConferenceTimeout,
    /// A kicked call was not reported as left in time: mark it left.
    KickGrace,
    /// An XML-API conference nobody joined in time: terminate and delete it.
    Idle,
}

impl DeadlineKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DeadlineKind::ConferenceTimeout => "conference_timeout",
            DeadlineKind::KickGrace => "kick_grace",
            DeadlineKind::Idle => "idle",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "conference_timeout" => Some(DeadlineKind::ConferenceTimeout),
            "kick_grace" => Some(DeadlineKind::KickGrace),
            "idle" => Some(DeadlineKind::Idle),
            _ => None,
        }
    }
}
