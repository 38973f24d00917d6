//! Platform events (§5): a call joining, joined, left, a recording finished. Each is applied in
//! one write transaction together with the record of its answer, so a replay of the same event
//! id returns the first answer and changes nothing.

use super::{Engine, EngineError, Refusal};
use crate::actions::interpreter::{self, Effect, Outcome, Variables};
use crate::actions::{self};
use crate::domain::conference::{
    self, CallStatus, Conference, Conferencecall, JoinRefusal, RecordingStatus,
};
use crate::domain::dialect::Dialect;
use crate::domain::notification::NotificationType;
use crate::domain::timestamp::Timestamp;
use crate::domain::{ConferenceId, ConferencecallId, CustomerId, RecordingId};
use crate::outbox::WebhookRequest;
use crate::render::EventAnswer;
use crate::store::prelude::*;
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
    },
    CallJoined {
        call_id: String,
        conference_id: ConferenceId,
        /// The platform's own id of the conference the call joined (kept for kicks);
        /// empty for the native protocol.
        platform_conference: String,
    },
    CallLeft {
        call_id: String,
        conference_id: ConferenceId,
        reason: String,
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
            | EventKind::CallLeft { conference_id, .. } => Some(*conference_id),
            EventKind::RecordingFinished { .. } => None,
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            EventKind::CallJoining { .. } => "call_joining",
            EventKind::CallJoined { .. } => "call_joined",
            EventKind::CallLeft { .. } => "call_left",
            EventKind::RecordingFinished { .. } => "recording_finished",
        }
    }
}

/// The platform call a `call_joining` is about.
struct Caller<'a> {
    call_id: &'a str,
    from: &'a str,
    to: &'a str,
    dialect: Dialect,
}

/// Stored `status` of an event answer that was a success; refusals store 0 and their reason.
const ANSWERED: u16 = 200;
const REFUSED: u16 = 0;

impl Refusal {
    /// Rebuilds a refusal stored before refusals had a serde form, from its reason code and
    /// message.
    fn from_stored(code: &str, message: &str) -> Refusal {
        match code {
            "CONFERENCE_NOT_FOUND" => Refusal::ConferenceNotFound,
            "CONFERENCECALL_NOT_FOUND" => Refusal::ConferencecallNotFound,
            "RECORDING_NOT_FOUND" => Refusal::RecordingNotFound,
            "CONFERENCE_CLOSED" => Refusal::ConferenceClosed,
            "CONFERENCE_FULL" => Refusal::ConferenceFull,
            "CALL_BUSY" => Refusal::CallBusy(
                message
                    .rsplit(' ')
                    .next()
                    .and_then(ConferenceId::parse)
                    .unwrap_or(ConferenceId::nil()),
            ),
            _ => Refusal::StateInvalid(message.to_string()),
        }
    }
}

/// What the writer hands back: the answer, webhooks to send once it has committed, and whether
/// the answer is a replay.
type Applied = (Result<EventAnswer, Refusal>, Vec<WebhookRequest>, bool);

impl Engine {
    /// Applies a platform event and returns the JSON answer body, or the refusal. A replayed
    /// event id returns the first outcome without applying anything.
    pub async fn handle_event(&self, event: PlatformEvent) -> Result<EventAnswer, EngineError> {
        let now = self.clock.now();
        let engine = self.clone();
        let (id, type_name) = (event.id.clone(), event.kind.type_name());
        let replay_id = event.id.clone();
        // The common path is one write: apply the event and record its answer. A refusal makes
        // the closure fail, so the job's savepoint undoes anything it wrote; the refusal is
        // then recorded by a second, small write. (No nested savepoint on the hot path.)
        let applied = self
            .write(move |db| {
                if let EventClaim::Answered { status, body } = db.claim_event(&event.id)? {
                    return Ok((replayed(status, &body)?, Vec::new(), true));
                }
                if let Some(conference) = event.kind.conference_id() {
                    db.lock_conference(conference)?;
                }
                let started = std::time::Instant::now();
                let (answer, webhooks) = engine.apply(db, &event, now)?;
                engine.metrics.apply_time(type_name, started);
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
                self.metrics.event(type_name, outcome);
                if let (Ok(a), false) = (&answer, replay) {
                    self.announce_answer(a, type_name);
                }
                (answer, webhooks)
            }
            Err(EngineError::Refused(r)) => {
                let stored =
                    json!({"reason": r.code(), "message": r.to_string(), "refusal": r}).to_string();
                // If the same id was answered meanwhile, that first answer stands.
                let first = self
                    .write(move |db| {
                        if let EventClaim::Answered { status, body } = db.claim_event(&id)? {
                            return replayed(status, &body);
                        }
                        db.record_event_answer(&id, type_name, REFUSED, &stored, now)?;
                        Ok::<_, EngineError>(Err(r))
                    })
                    .await?;
                self.metrics.event(type_name, "refused");
                (first, Vec::new())
            }
            Err(EngineError::Store(StoreError::Unavailable(reason))) => {
                // A replay is a read: while nothing can be written, an event answered before
                // is still answered from its stored answer.
                let id = replay_id;
                match self.store.read(move |db| db.event_answer(&id)).await {
                    Ok(Some((status, body))) => {
                        self.metrics.event(type_name, "replayed");
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

    /// Applies an event, then reports the XML status of its conference if it moved.
    fn apply(
        &self,
        db: &dyn Tx,
        event: &PlatformEvent,
        now: Timestamp,
    ) -> Result<(EventAnswer, Vec<WebhookRequest>), EngineError> {
        let answer = self.apply_event(db, &event.kind, event.scope, now)?;
        match &event.kind {
            EventKind::CallJoining { conference_id, .. }
            | EventKind::CallJoined { conference_id, .. }
            | EventKind::CallLeft { conference_id, .. } => {
                self.sync_xml_status(db, *conference_id, now)?
            }
            EventKind::RecordingFinished { .. } => {}
        }
        Ok(answer)
    }

    fn apply_event(
        &self,
        db: &dyn Tx,
        kind: &EventKind,
        scope: Option<CustomerId>,
        now: Timestamp,
    ) -> Result<(EventAnswer, Vec<WebhookRequest>), EngineError> {
        match kind {
            EventKind::CallJoining {
                call_id,
                conference_id,
                from,
                to,
                variables,
                dialect,
            } => {
                let conf = db
                    .conference(scope, *conference_id)?
                    .ok_or(Refusal::ConferenceNotFound)?;
                let caller = Caller {
                    call_id,
                    from,
                    to,
                    dialect: *dialect,
                };
                self.call_joining(db, now, conf, caller, variables)
            }
            EventKind::CallJoined {
                call_id,
                conference_id,
                platform_conference,
            } => self.call_joined(db, now, scope, call_id, *conference_id, platform_conference),
            EventKind::CallLeft {
                call_id,
                conference_id,
                reason: _,
            } => {
                let conf = db
                    .conference(scope, *conference_id)?
                    .ok_or(Refusal::ConferenceNotFound)?;
                self.call_left(db, now, call_id, conf)
            }
            EventKind::RecordingFinished {
                recording_id,
                media_url,
                duration_ms: _,
            } => {
                let found = db
                    .recording(scope, *recording_id)?
                    .ok_or(Refusal::RecordingNotFound)?;
                // Under the conference's lock, read it again: another writer may have ended it.
                db.lock_conference(found.conference_id)?;
                let mut rec = db
                    .recording(None, *recording_id)?
                    .ok_or(Refusal::RecordingNotFound)?;
                if rec.status != RecordingStatus::Ended {
                    rec.status = RecordingStatus::Ended;
                    rec.media_url = media_url.clone();
                    rec.tm_end = Some(now);
                    db.update_recording(&rec)?;
                    self.notify_recording(db, &rec, NotificationType::RecordingFinished, now)?;
                }
                Ok((EventAnswer::recording(&rec.json()), Vec::new()))
            }
        }
    }

    fn call_joining(
        &self,
        db: &dyn Tx,
        now: Timestamp,
        conf: Conference,
        caller: Caller<'_>,
        platform_vars: &Variables,
    ) -> Result<(EventAnswer, Vec<WebhookRequest>), EngineError> {
        let Caller {
            call_id,
            from,
            to,
            dialect,
        } = caller;
        if let Some(active) = db.active_call(call_id)? {
            return Err(Refusal::CallBusy(active.conference_id).into());
        }
        let (active, joined) = db.call_counts(conf.id)?;
        conference::admit(&conf, active).map_err(|r| match r {
            JoinRefusal::Closed => Refusal::ConferenceClosed,
            JoinRefusal::Full => Refusal::ConferenceFull,
        })?;
        let mut call = Conferencecall {
            id: ConferencecallId::new(),
            customer_id: conf.customer_id,
            conference_id: conf.id,
            reference_id: call_id.to_string(),
            status: CallStatus::Joining,
            tm_create: now,
            tm_update: now,
            tm_delete: None,
            dialect,
            platform_conference: String::new(),
        };
        db.insert_call(&call)?;
        self.notify_call(db, &call, NotificationType::ConferencecallJoining, now)?;
        let mut vars = platform_vars.clone();
        vars.extend(variables(&conf, &call, from, to, joined));
        let outcome = self.run_list(&conf, "pre_actions", vars);
        let webhooks = self.apply_effects(db, &conf, &outcome, now);
        let actions = crate::actions::simulation::answer_actions(
            outcome.actions,
            outcome.hangup,
            crate::actions::simulation::CallEvent::Join,
            &conf.id.to_string(),
        );
        if outcome.hangup {
            call.status = CallStatus::Leaved;
            call.tm_update = now;
            db.set_call_status(&call)?;
            self.notify_call(db, &call, NotificationType::ConferencecallLeaved, now)?;
        }
        Ok((EventAnswer::call(&call.json(), Some(actions)), webhooks))
    }

    /// Only `joining` moves to `joined`; anything later means this event is stale (it arrived
    /// after `call_left`) and changes nothing.
    fn call_joined(
        &self,
        db: &dyn Tx,
        now: Timestamp,
        scope: Option<CustomerId>,
        call_id: &str,
        conference_id: ConferenceId,
        platform_conference: &str,
    ) -> Result<(EventAnswer, Vec<WebhookRequest>), EngineError> {
        let conf = db
            .conference(scope, conference_id)?
            .ok_or(Refusal::ConferenceNotFound)?;
        let mut call = db
            .latest_call_in(call_id, conf.id)?
            .ok_or(Refusal::ConferencecallNotFound)?;
        if call.status == CallStatus::Joining {
            call.status = CallStatus::Joined;
            call.tm_update = now;
            call.platform_conference = platform_conference.to_string();
            db.set_call_status(&call)?;
            self.notify_call(db, &call, NotificationType::ConferencecallJoined, now)?;
            self.record_on_join(db, &conf, &call, now)?;
            if conf.tm_begin.is_none() {
                let mut conf = conf;
                conf.tm_begin = Some(now);
                db.update_conference(&conf)?;
            }
        }
        Ok((EventAnswer::call(&call.json(), None), Vec::new()))
    }

    fn call_left(
        &self,
        db: &dyn Tx,
        now: Timestamp,
        call_id: &str,
        mut conf: Conference,
    ) -> Result<(EventAnswer, Vec<WebhookRequest>), EngineError> {
        let mut call = db
            .latest_call_in(call_id, conf.id)?
            .ok_or(Refusal::ConferencecallNotFound)?;
        if call.status == CallStatus::Leaved {
            // A second `call_left`: already handled, nothing runs again.
            return Ok((
                EventAnswer::call(&call.json(), Some(Vec::new())),
                Vec::new(),
            ));
        }
        let was = call.status;
        call.status = CallStatus::Leaved;
        call.tm_update = now;
        db.set_call_status(&call)?;
        self.notify_call(db, &call, NotificationType::ConferencecallLeaved, now)?;
        let (_, joined) = db.call_counts(conf.id)?;
        let vars = variables(&conf, &call, "", "", joined);
        let outcome = self.run_list(&conf, "post_actions", vars);
        let webhooks = self.apply_effects(db, &conf, &outcome, now);
        self.after_leave(db, &mut conf, &call, was, now)?;
        Ok((
            EventAnswer::call(&call.json(), Some(outcome.actions)),
            webhooks,
        ))
    }

    /// Compiles a conference's list with the flows loaded now and runs it. A list that no
    /// longer compiles (a flow it includes was removed) runs as empty and is logged.
    fn run_list(&self, conf: &Conference, list: &'static str, vars: Variables) -> Outcome {
        let stored = if list == "pre_actions" {
            &conf.pre_actions
        } else {
            &conf.post_actions
        };
        let flows = self.flows();
        let compiled = self
            .programs
            .get((conf.id, list), stored.text(), &flows, || {
                let parsed = actions::parse_list(list, &stored.parse()).map_err(|e| {
                    tracing::error!(conference_id = %conf.id, error = %e, "stored action list no longer parses; running nothing");
                })?;
                actions::compile(list, &parsed.actions, flows.as_ref()).map_err(|e| {
                    tracing::warn!(conference_id = %conf.id, error = %e, "action list no longer compiles; running nothing");
                })
            });
        let Ok(program) = compiled else {
            return Outcome::default();
        };
        let outcome = interpreter::run(&program, vars);
        if let Some(err) = &outcome.error {
            tracing::warn!(conference_id = %conf.id, list, error = %err, "action run stopped");
        }
        outcome
    }

    /// Applies the effects that change state (recordings) inside the transaction and returns
    /// the webhooks to send after it commits. A refused recording effect is logged, not fatal:
    /// the call still gets its actions.
    fn apply_effects(
        &self,
        db: &dyn Tx,
        conf: &Conference,
        outcome: &Outcome,
        now: Timestamp,
    ) -> Vec<WebhookRequest> {
        let mut webhooks = Vec::new();
        for effect in &outcome.effects {
            let result = match effect {
                Effect::Webhook {
                    uri,
                    method,
                    data_type,
                    body,
                    sync,
                } if *sync => {
                    webhooks.push(WebhookRequest {
                        uri: uri.clone(),
                        method: *method,
                        data_type: data_type.clone(),
                        body: body.clone(),
                    });
                    Ok(())
                }
                // Async webhooks go through the durable outbox, in this transaction: ordered
                // with the conference's notifications, retried, signed with the customer's
                // secret, and listed in its delivery log.
                Effect::Webhook {
                    uri,
                    method,
                    data_type,
                    body,
                    ..
                } => match self.cached_customer(db, conf.customer_id) {
                    Ok(Some(customer)) => self.enqueue_webhook(
                        db,
                        &customer,
                        conf.id,
                        "webhook_send",
                        uri,
                        *method,
                        data_type,
                        body.clone(),
                        now,
                    ),
                    Ok(None) => Ok(()),
                    Err(e) => Err(e),
                },
                Effect::RecordingStart { format, duration } => crate::store::atomically(db, |db| {
                    self.start_recording_in(db, conf.id, *format, *duration, now)
                        .map(|_| ())
                }),
                Effect::RecordingStop => crate::store::atomically(db, |db| {
                    self.stop_recording_in(db, conf.id, now).map(|_| ())
                }),
            };
            if let Err(e) = result {
                tracing::warn!(conference_id = %conf.id, error = %e, "action effect refused");
            }
        }
        webhooks
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

/// The variables every run sees (§4).
fn variables(
    conf: &Conference,
    call: &Conferencecall,
    from: &str,
    to: &str,
    participants: usize,
) -> Variables {
    let mut v = conference_variables(conf, participants);
    v.insert("call.id".into(), call.reference_id.clone());
    v.insert("call.from".into(), from.to_string());
    v.insert("call.to".into(), to.to_string());
    v.insert("conferencecall.id".into(), call.id.to_string());
    v
}

/// The `conference.*` variables of a run: its id, name, detail, type, participants and data.
pub(super) fn conference_variables(conf: &Conference, participants: usize) -> Variables {
    let mut v = Variables::new();
    v.insert("conference.id".into(), conf.id.to_string());
    v.insert("conference.name".into(), conf.name.clone());
    v.insert("conference.detail".into(), conf.detail.clone());
    v.insert("conference.type".into(), conf.kind.as_str().into());
    v.insert(
        "conference.participant_count".into(),
        participants.to_string(),
    );
    if let Value::Object(data) = conf.data.parse() {
        for (k, val) in data {
            let text = match val {
                Value::String(s) => s,
                other => other.to_string(),
            };
            v.insert(format!("conference.data.{k}"), text);
        }
    }
    v
}
