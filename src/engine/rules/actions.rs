//! Running a conference's action lists (§4) inside an event's transaction: the compiled
//! program, the variables it sees, and the effects that change state or send webhooks.

use super::{Rules, Webhook};
use crate::actions::interpreter::{Effect, Outcome, Variables};
use crate::actions::Program;
use crate::actions::{self};
use crate::domain::conference::{Conference, Conferencecall, StoredJson};
use crate::outbox::{Signing, WebhookRequest};
use serde_json::Value;
use std::sync::Arc;

impl Rules<'_> {
    /// The compiled program of `text`, a list of `conf` (its stored text, or the text a paused
    /// run ran), with the flows loaded now; `None`, logged, when it no longer compiles.
    pub(super) fn program(
        &self,
        conf: &Conference,
        list: &'static str,
        text: &str,
    ) -> Option<Arc<Program>> {
        let flows = self.shared.flows();
        self.shared
            .programs
            .get((conf.id, list), text, &flows, || {
                let value: Value = serde_json::from_str(text).unwrap_or(Value::Null);
                let parsed = actions::parse_list(list, &value).map_err(|e| {
                    tracing::error!(conference_id = %conf.id, error = %e, "stored action list no longer parses; running nothing");
                })?;
                actions::compile(list, &parsed.actions, flows.as_ref()).map_err(|e| {
                    tracing::warn!(conference_id = %conf.id, error = %e, "action list no longer compiles; running nothing");
                })
            })
            .ok()
    }

    /// Logs why a run stopped early (the step or pause bound), once.
    pub(super) fn log_error(&self, conf: &Conference, list: &str, outcome: &Outcome) {
        if let Some(err) = &outcome.error {
            tracing::warn!(conference_id = %conf.id, list, error = %err, "action run stopped");
        }
    }

    /// The customer's signing keys for a sync webhook: its secret, and the previous one during
    /// a rotation. A customer that cannot be read (a store fault) sends it unsigned, logged:
    /// the call's answer must not wait on it.
    fn signing_keys(&self, conf: &Conference) -> Vec<Vec<u8>> {
        match self.cached_customer(conf.customer_id) {
            Ok(Some(c)) => c
                .signing_secrets(self.now())
                .iter()
                .filter_map(|s| crate::domain::signature::secret_key(s).ok())
                .collect(),
            Ok(None) => Vec::new(),
            Err(e) => {
                tracing::warn!(conference_id = %conf.id, error = %e, "sync webhook sent unsigned: the customer's secrets could not be read");
                Vec::new()
            }
        }
    }

    /// Applies the effects that change state (recordings) inside the transaction and returns
    /// the webhooks to send after it commits. A refused recording effect is logged, not fatal:
    /// the call still gets its actions.
    pub(super) fn apply_effects(
        &self,
        conf: &Conference,
        outcome: &Outcome,
    ) -> Vec<WebhookRequest> {
        let mut webhooks = Vec::new();
        let mut keys = None;
        for effect in &outcome.effects {
            let result = match effect {
                Effect::Webhook {
                    uri,
                    method,
                    data_type,
                    body,
                    sync,
                } if *sync => {
                    let keys = keys.get_or_insert_with(|| self.signing_keys(conf));
                    webhooks.push(WebhookRequest {
                        uri: uri.clone(),
                        method: *method,
                        data_type: data_type.clone(),
                        body: body.clone(),
                        signing: Signing {
                            id: format!("msg_{}", uuid::Uuid::now_v7().simple()),
                            timestamp: self.now().unix_seconds(),
                            keys: keys.clone(),
                        },
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
                } => match self.cached_customer(conf.customer_id) {
                    Ok(Some(customer)) => self.enqueue_webhook(Webhook {
                        customer: customer.id,
                        conference: conf.id,
                        event_type: "webhook_send",
                        url: uri,
                        method: *method,
                        content_type: data_type,
                        body: body.clone(),
                    }),
                    Ok(None) => Ok(()),
                    Err(e) => Err(e),
                },
                Effect::RecordingStart { format, duration } => self.atomically(|rules| {
                    rules
                        .start_recording(conf.id, *format, *duration)
                        .map(|_| ())
                }),
                Effect::RecordingStop => {
                    self.atomically(|rules| rules.stop_recording(conf.id).map(|_| ()))
                }
            };
            if let Err(e) = result {
                tracing::warn!(conference_id = %conf.id, error = %e, "action effect refused");
            }
        }
        webhooks
    }
}

/// The stored text of one of a conference's lists.
pub(super) fn stored_list<'c>(conf: &'c Conference, list: &str) -> &'c StoredJson {
    if list == "pre_actions" {
        &conf.pre_actions
    } else {
        &conf.post_actions
    }
}

/// The variables every run sees (§4). `call.from` and `call.to` are the numbers the call
/// arrived with (a dial's caller id and destination), in its `post_actions` and in what it is
/// told in the room as in its `pre_actions`.
pub(crate) fn variables(
    conf: &Conference,
    call: &Conferencecall,
    participants: usize,
) -> Variables {
    let mut v = conference_variables(conf, participants);
    v.insert("call.id".into(), call.reference_id.clone());
    v.insert("call.from".into(), call.from.clone());
    v.insert("call.to".into(), call.to.clone());
    v.insert("conferencecall.id".into(), call.id.to_string());
    v.insert(
        crate::actions::ROLE_VARIABLE.into(),
        call.role.as_str().to_string(),
    );
    v
}

/// The `conference.*` variables of a run: its id, name, detail, type, participants and data.
pub(crate) fn conference_variables(conf: &Conference, participants: usize) -> Variables {
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
