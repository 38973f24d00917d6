//! What the console watches: a signal per change to a customer's conferences, as it happens on
//! this node, and the problems of the last flows reload.

use super::Engine;
use crate::domain::{ConferenceId, CustomerId};
use crate::render::EventAnswer;
use serde_json::Value;
use std::sync::{Arc, RwLock};
use tokio::sync::broadcast;

/// One change: which customer's conference, and what happened (`call_joining`,
/// `conference_updated`, ...).
#[derive(Debug, Clone)]
pub struct Change {
    pub customer: CustomerId,
    pub conference: ConferenceId,
    pub what: &'static str,
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

    /// Tells listeners that a customer's conference changed.
    pub fn announce(&self, customer: CustomerId, conference: ConferenceId, what: &'static str) {
        // No listener is not an error.
        let _ = self.live.changes.send(Change {
            customer,
            conference,
            what,
        });
    }

    /// Announces what a platform event's answer says changed: its call's or recording's
    /// conference.
    pub(super) fn announce_answer(&self, answer: &EventAnswer, what: &'static str) {
        // Reading the answer back costs a parse; only worth it when a console listens.
        if self.live.changes.receiver_count() == 0 {
            return;
        }
        let resource = answer.conferencecall.as_ref().or(answer.recording.as_ref());
        let Some(Ok(v)) = resource.map(|r| serde_json::from_str::<Value>(r.get())) else {
            return;
        };
        let id = |field: &str| {
            v[field]
                .as_str()
                .and_then(|s| uuid::Uuid::parse_str(s).ok())
        };
        let conference = id("conference_id").or_else(|| id("reference_id"));
        if let (Some(customer), Some(conference)) = (id("customer_id"), conference) {
            self.announce(CustomerId(customer), ConferenceId(conference), what);
        }
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
