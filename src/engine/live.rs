//! What the console watches: a signal per change to a customer's conferences, as this node's
//! transactions commit them, and the problems of the last flows reload.

use super::Engine;
use crate::domain::notification::NotificationType;
use crate::domain::{ConferenceId, CustomerId};
use std::sync::{Arc, RwLock};
use tokio::sync::broadcast;

/// One change: which customer's conference, and what happened. The rules record one wherever
/// they decide a customer's notification, whether or not the customer asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub customer: CustomerId,
    pub conference: ConferenceId,
    pub what: ChangeKind,
}

/// What a change was: the notification type it is reported by, or one of the two changes no
/// notification names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Notified(NotificationType),
    /// An XML conference's status, reported to its `onStatus`.
    XmlStatus,
    /// A recording asked to stop: the conference's `recording_id` is nil at once, whether or
    /// not the platform has reported the recording finished.
    RecordingStopped,
}

impl ChangeKind {
    /// The name the console's stream sends as `what`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Notified(t) => t.as_str(),
            ChangeKind::XmlStatus => "conf_status",
            ChangeKind::RecordingStopped => "recording_stopped",
        }
    }
}

/// The change signal and the last reload's problems. A slow listener misses signals rather
/// than holding memory (the channel keeps the last 256); the console then reloads in full.
#[derive(Clone)]
pub struct Live {
    changes: broadcast::Sender<Change>,
    flow_problems: Arc<RwLock<Vec<String>>>,
    /// Set when the server shuts down, so open streams end and do not hold the shutdown.
    closing: Arc<tokio::sync::watch::Sender<bool>>,
}

impl Default for Live {
    fn default() -> Self {
        Live {
            changes: broadcast::channel(256).0,
            flow_problems: Arc::default(),
            closing: Arc::new(tokio::sync::watch::channel(false).0),
        }
    }
}

impl Live {
    /// Tells listeners of the changes of a committed transaction.
    pub(super) fn announce(&self, changes: Vec<Change>) {
        for change in changes {
            // No listener is not an error.
            let _ = self.changes.send(change);
        }
    }
}

impl Engine {
    /// Changes from now on. Other nodes' changes are not seen here (a console also reloads
    /// now and then).
    pub fn subscribe_changes(&self) -> broadcast::Receiver<Change> {
        self.live.changes.subscribe()
    }

    /// Becomes `true` when the server shuts down: a stream ends then.
    pub fn closing(&self) -> tokio::sync::watch::Receiver<bool> {
        self.live.closing.subscribe()
    }

    /// Ends every open change stream (graceful shutdown waits for open responses).
    pub fn close_streams(&self) {
        self.live.closing.send_replace(true);
    }

    /// The problems the last flows reload found (the last good set stays loaded); empty when
    /// it succeeded.
    pub fn flow_problems(&self) -> Vec<String> {
        match self.live.flow_problems.read() {
            Ok(p) => p.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn set_flow_problems(&self, problems: Vec<String>) {
        match self.live.flow_problems.write() {
            Ok(mut p) => *p = problems,
            Err(poisoned) => *poisoned.into_inner() = problems,
        }
    }
}
