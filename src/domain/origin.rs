//! Which public API created a conference, and what the XML API keeps and shows of its own
//! conferences (§6.2).

use super::conference::Conference;
use super::names::names;

/// Which public API created a conference; the XML API's conferences follow extra rules (§6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Json,
    Xml,
}

names!(Origin {
    Json = "json",
    Xml = "xml",
});

/// Attributes only the XML API reads and writes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct XmlAttributes {
    pub app_sid: String,
    pub user_data: String,
    pub on_status: String,
    /// The XML status last reported to `on_status` (empty before the first).
    pub reported_status: String,
}

/// The XML API's view of a conference's life (§6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XmlStatus {
    /// Nobody has joined or is joining.
    Initiated,
    /// A call is joining; none has joined yet.
    Ringing,
    /// A call has joined.
    Running,
    /// Terminating, terminated or deleted.
    Completed,
}

names!(XmlStatus {
    Initiated = "initiated",
    Ringing = "ringing",
    Running = "running",
    Completed = "completed",
});

impl XmlStatus {
    /// Derives the status from the shared core: the conference, and whether any of its calls
    /// is still joining (`calls_joining`, from the counts kept on the conference).
    pub fn of(conf: &Conference, calls_joining: bool) -> XmlStatus {
        if !conf.status.is_open() || conf.tm_delete.is_some() {
            XmlStatus::Completed
        } else if conf.tm_begin.is_some() {
            XmlStatus::Running
        } else if calls_joining {
            XmlStatus::Ringing
        } else {
            XmlStatus::Initiated
        }
    }
}
