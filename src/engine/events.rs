//! Platform events (§5): a call joining, joined, left, a recording finished. Each is applied in
//! one write transaction together with the record of its answer, so a replay of the same event
//! id returns the first answer and changes nothing.

use super::{Engine, EngineError, Refusal};
use crate::actions::interpreter::Variables;
use crate::domain::dialect::Dialect;
use crate::domain::{ConferenceId, ConferencecallId, CustomerId, RecordingId};
use crate::outbox::WebhookRequest;
use crate::render::EventAnswer;
use crate::store::{EventClaim, StoreError};
use serde_json::{json, Value};

/// A platform event, parsed and checked by the HTTP layer.
#[derive(Debug, Clone)]
pub struct PlatformEvent {
    pub id: String,
    pub kind: EventKind,
    /// The customer the event is limited to: a dialect's webhooks are a customer's own (its
    /// URL names the customer and its signature is the customer's), so they reach only that
    /// customer's conferences; the native platform (one shared secret) reaches every one.
    pub scope: Option<CustomerId>,
}

#[derive(Debug, Clone)]
pub enum EventKind {
    CallJoining {
        call_id: String,
        conference_id: ConferenceId,
        from: String,
        to: String,
        variables: Variables,
        /// The protocol the call arrived by; its kicks and recordings go back the same way.
        dialect: Dialect,
        /// The dialled conferencecall this call answers (the callee of a dial-out, §15).
        dialled: Option<ConferencecallId>,
    },
    CallJoined {
        call_id: String,
        conference_id: ConferenceId,
        /// The platform's own id of the conference the call joined (kept for kicks);
        /// empty for the native protocol.
        platform_conference: String,
        /// The platform's number of its report, when it numbers its conference's events
        /// (kept: a leave numbered before it is about an earlier membership).
        sequence: Option<i64>,
    },
    CallLeft {
        call_id: String,
        conference_id: ConferenceId,
        reason: String,
        /// The dialled conferencecall it is about: a dial that was never answered has no
        /// platform call id in confab, so its report names the conferencecall.
        dialled: Option<ConferencecallId>,
    },
    /// The caller's digits for a paused list (§13); `pause`, when the platform names it, must
    /// be the call's current pause or the event is stale.
    CallDigitsReceived {
        call_id: String,
        conference_id: ConferenceId,
        digits: String,
        pause: Option<u32>,
    },
    /// The platform reports a call muted or unmuted, held or resumed (§15): the state
    /// follows, nothing is sent back.
    CallUpdated {
        call_id: String,
        conference_id: ConferenceId,
        muted: Option<bool>,
        hold: Option<bool>,
        /// The platform's number of the report, when it numbers them: a report older than
        /// one applied already changes nothing.
        sequence: Option<i64>,
    },
    /// A dial-out's call rings on the platform, which gives its own id of the call (`call_id`):
    /// kept, so a kick of the dial cancels it; a dial kicked already is cancelled now.
    DialRinging {
        call_id: String,
        conference_id: ConferenceId,
        dialled: ConferencecallId,
    },
    RecordingFinished {
        recording_id: RecordingId,
        media_url: String,
        duration_ms: Option<i64>,
    },
}

impl EventKind {
    /// The conference the event changes, when it names one (a finished recording names only
    /// itself; its conference is locked once it is found).
    pub fn conference_id(&self) -> Option<ConferenceId> {
        match self {
            EventKind::CallJoining { conference_id, .. }
            | EventKind::CallJoined { conference_id, .. }
            | EventKind::CallLeft { conference_id, .. }
            | EventKind::CallDigitsReceived { conference_id, .. }
            | EventKind::CallUpdated { conference_id, .. }
            | EventKind::DialRinging { conference_id, .. } => Some(*conference_id),
            EventKind::RecordingFinished { .. } => None,
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            EventKind::CallJoining { .. } => "call_joining",
            EventKind::CallJoined { .. } => "call_joined",
            EventKind::CallLeft { .. } => "call_left",
            EventKind::CallDigitsReceived { .. } => "call_digits_received",
            EventKind::CallUpdated { .. } => "call_updated",
            EventKind::DialRinging { .. } => "dial_ringing",
            EventKind::RecordingFinished { .. } => "recording_finished",
        }
    }
}

/// Stored `status` of an event answer that was a success; refusals store 0 and their reason.
const ANSWERED: u16 = 200;
const REFUSED: u16 = 0;

/// What the writer hands back: the answer, webhooks to send once it has committed, and whether
/// the answer is a replay.
type Applied = (Result<EventAnswer, Refusal>, Vec<WebhookRequest>, bool);

impl Engine {
    /// Applies a platform event and returns the JSON answer body, or the refusal. A replayed
    /// event id returns the first outcome without applying anything.
    pub async fn handle_event(&self, event: PlatformEvent) -> Result<EventAnswer, EngineError> {
        let (id, type_name) = (event.id.clone(), event.kind.type_name());
        // The common path is one write: apply the event and record its answer. A refusal makes
        // the closure fail, so the job's savepoint undoes anything it wrote; the refusal is
        // then recorded by a second, small write. (No nested savepoint on the hot path.)
        let applied = self
            .transact(move |rules| {
                let db = rules.db();
                if let EventClaim::Answered { status, body } = db.claim_event(&event.id)? {
                    return Ok((replayed(status, &body)?, Vec::new(), true));
                }
                if let Some(conference) = event.kind.conference_id() {
                    db.lock_conference(conference)?;
                }
                let (answer, webhooks) = rules.apply(&event)?;
                let now = rules.now();
                db.record_event_answer(&event.id, type_name, ANSWERED, &answer.to_json(), now)?;
                Ok::<Applied, EngineError>((Ok(answer), webhooks, false))
            })
            .await;
        let (answer, webhooks) = match applied {
            Ok((answer, webhooks, replay)) => {
                let outcome = match (&answer, replay) {
                    (_, true) => "replayed",
                    (Ok(_), false) => "applied",
                    (Err(_), false) => "refused",
                };
                self.metrics().event(type_name, outcome);
                (answer, webhooks)
            }
            Err(EngineError::Refused(r)) => {
                let first = self.record_refusal(id, type_name, r).await?;
                self.metrics().event(type_name, "refused");
                (first, Vec::new())
            }
            Err(EngineError::Store(StoreError::Unavailable(reason))) => {
                // A replay is a read: while nothing can be written, an event answered before
                // is still answered from its stored answer.
                match self.store.read(move |db| db.event_answer(&id)).await {
                    Ok(Some((status, body))) => {
                        self.metrics().event(type_name, "replayed");
                        (replayed(status, &body)?, Vec::new())
                    }
                    _ => return Err(StoreError::Unavailable(reason).into()),
                }
            }
            Err(other) => return Err(other),
        };
        self.send_webhooks(webhooks).await;
        answer.map_err(EngineError::Refused)
    }

    /// Records a refused event's answer under its id, unless the same id was answered
    /// meanwhile: that first answer stands, and is returned.
    async fn record_refusal(
        &self,
        id: String,
        type_name: &'static str,
        r: Refusal,
    ) -> Result<Result<EventAnswer, Refusal>, EngineError> {
        let stored =
            json!({"reason": r.code(), "message": r.to_string(), "refusal": r}).to_string();
        self.transact(move |rules| {
            let db = rules.db();
            if let EventClaim::Answered { status, body } = db.claim_event(&id)? {
                return replayed(status, &body);
            }
            db.record_event_answer(&id, type_name, REFUSED, &stored, rules.now())?;
            Ok(Err(r.clone()))
        })
        .await
    }

    /// Sends the `sync` webhooks actions asked for, in order, each within 3 s, before the call
    /// gets its answer. (Async ones were queued in the outbox with the event's changes.)
    async fn send_webhooks(&self, webhooks: Vec<WebhookRequest>) {
        for w in webhooks {
            self.courier
                .send_action_webhook(&w, self.settings().allow_private_targets)
                .await;
        }
    }
}

/// The first outcome of an event id, read back from its stored form: the answer, or the
/// refusal. A stored answer that no longer reads is a store fault, not a client's.
fn replayed(status: u16, body: &str) -> Result<Result<EventAnswer, Refusal>, EngineError> {
    if status == REFUSED {
        let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
        // Refusals are stored in their own serde form; rows written before it existed carry
        // only the reason code and message, rebuilt as before.
        return Ok(Err(
            match serde_json::from_value::<Refusal>(v["refusal"].clone()) {
                Ok(r) => r,
                Err(_) => Refusal::from_stored(
                    v["reason"].as_str().unwrap_or(""),
                    v["message"].as_str().unwrap_or(""),
                ),
            },
        ));
    }
    EventAnswer::from_json(body).map(Ok).map_err(|e| {
        EngineError::Store(StoreError::Corrupt(format!(
            "a stored platform event answer does not read: {e}"
        )))
    })
}
