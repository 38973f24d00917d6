//! confab's own protocol (§5, §7.1): events signed with the platform secret (Standard Webhooks), answers as the native JSON, and commands to `{platform-url}/commands`.
//!
//! Its events come to `/v1.0/platform/events`, part of the JSON API: their ids, types and
//! fields are that API's, read and documented there (`http::platform`), so this platform has
//! no webhooks of its own to read.

use crate::actions::{Emitted, HttpMethod};
use crate::dialects::{
    Answer, AnswerContext, BadInput, Command, Hook, Inbound, Keys, Outbound, Outgoing, Platform,
    Reading, Recorder, Refused, Unsent, Webhooks,
};
use crate::domain::dialect::{Connections, Dialect};
use crate::domain::signature;
use crate::render::EventAnswer;
use crate::store::{MessageKind, StoredMessage};
use serde_json::{json, Value};
use uuid::Uuid;

/// The native platform.
pub struct Native;

fn native_json(body: String) -> Answer {
    Answer {
        content_type: "application/json",
        body,
    }
}

/// A command `{"id","type","data"}` to `{platform-url}/commands`, signed with the platform
/// secret when it is sent.
fn native_command(base: &str, kind: &str, data: Value) -> Outbound {
    let id = Uuid::now_v7().to_string();
    let body = json!({"id": id, "type": kind, "data": data}).to_string();
    Outbound {
        kind: MessageKind::Command,
        id,
        event_type: kind.to_string(),
        url: format!("{}/commands", base.trim_end_matches('/')),
        method: HttpMethod::Post,
        content_type: "application/json",
        body,
    }
}

impl Platform for Native {
    fn dialect(&self) -> Dialect {
        Dialect::Native
    }

    fn webhooks(&self) -> Option<Webhooks> {
        None
    }

    /// The Standard Webhooks headers over the body, with the platform secret; without a
    /// secret configured, unsigned events are accepted (start-up warns).
    fn verify(&self, request: &Inbound<'_>, keys: &Keys<'_>) -> Result<(), Refused> {
        let Some(key) = keys.platform_key else {
            return Ok(());
        };
        let header = request.header;
        let (Some(id), Some(ts), Some(sigs)) = (
            header("webhook-id"),
            header("webhook-timestamp"),
            header("webhook-signature"),
        ) else {
            return Err(Refused(
                signature::SignatureError::MissingHeader.to_string(),
            ));
        };
        signature::verify(key, id, ts, sigs, request.body, request.now)
            .map_err(|e| Refused(format!("platform event signature: {e}")))
    }

    fn read(&self, _hook: Hook, _request: &Inbound<'_>) -> Result<Reading, BadInput> {
        Err(BadInput::Malformed(
            "native events are read by the JSON API at /v1.0/platform/events".into(),
        ))
    }

    /// The answer's JSON: the bytes stored for replays.
    fn render(&self, answer: &EventAnswer, _context: &AnswerContext<'_>) -> Answer {
        native_json(answer.to_json())
    }

    /// A native answer that only hangs up. (`/v1.0/platform/events` refuses with the JSON
    /// API's error envelope instead; this is the same refusal in a native answer's words.)
    fn hang_up(&self) -> Answer {
        let reason = String::new();
        let answer = EventAnswer {
            conferencecall: None,
            recording: None,
            actions: Some(vec![Emitted::Hangup { reason }]),
            pause: None,
        };
        native_json(answer.to_json())
    }

    fn acknowledge(&self) -> Answer {
        native_json("{}".into())
    }

    /// The platform was given the conferencecall with the dial (`call_dial`).
    fn knows_dials(&self) -> bool {
        true
    }

    /// The platform records the whole conference when told.
    fn recorder(&self) -> Recorder {
        Recorder::Conference
    }

    fn command(&self, command: Command<'_>, out: &Outgoing<'_>) -> Result<Outbound, Unsent> {
        let base = out.platform_url.ok_or(Unsent::NotConfigured)?;
        let kind = command.name();
        Ok(match command {
            Command::Kick { call } => native_command(
                base,
                kind,
                json!({"call_id": call.reference_id, "conference_id": call.conference_id}),
            ),
            Command::RecordingStart { recording: r, .. } => native_command(
                base,
                kind,
                json!({"recording_id": r.id, "conference_id": r.conference_id,
                    "format": r.format.as_str(), "duration": r.duration}),
            ),
            Command::RecordingStop { recording: r, .. } => native_command(
                base,
                kind,
                json!({"recording_id": r.id, "conference_id": r.conference_id}),
            ),
            Command::Mute { call, .. }
            | Command::Hold {
                call, hold: false, ..
            } => native_command(
                base,
                kind,
                json!({"call_id": call.reference_id, "conference_id": call.conference_id}),
            ),
            Command::Hold {
                call, music_url, ..
            } => native_command(
                base,
                kind,
                json!({"call_id": call.reference_id, "conference_id": call.conference_id,
                    "music_url": music_url}),
            ),
            Command::Play { call, actions, .. } => native_command(
                base,
                kind,
                json!({"call_id": call.reference_id, "conference_id": call.conference_id,
                    "actions": actions}),
            ),
            Command::RoomPlay { call, actions, .. } => native_command(
                base,
                kind,
                json!({"conference_id": call.conference_id, "actions": actions}),
            ),
            Command::Dial {
                call,
                destination,
                from,
                timeout,
            } => native_command(
                base,
                kind,
                json!({"conference_id": call.conference_id, "destination": destination,
                    "from": from, "conferencecall_id": call.id, "timeout": timeout}),
            ),
            Command::CancelDial { call, .. } => native_command(
                base,
                kind,
                json!({"conference_id": call.conference_id, "conferencecall_id": call.id}),
            ),
        })
    }

    fn authorization(&self, _: &StoredMessage, _: &Connections) -> Result<String, String> {
        Err("native commands are signed with the platform secret, not authorized".into())
    }

    fn gone(&self, _status: u16, _answer: &[u8]) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialects::outbound::test_call;

    #[test]
    fn commands_go_to_the_platform_url_only_when_it_is_set() {
        let call = test_call(Dialect::Native, "");
        let out = Outgoing {
            connections: &Connections::default(),
            public_url: "https://confab.example",
            platform_url: None,
        };
        assert_eq!(
            Native.command(Command::Kick { call: &call }, &out),
            Err(Unsent::NotConfigured)
        );
        let out = Outgoing {
            platform_url: Some("https://platform.example/"),
            ..out
        };
        let m = Native.command(Command::Kick { call: &call }, &out).unwrap();
        assert_eq!(m.url, "https://platform.example/commands");
        assert_eq!(m.kind, MessageKind::Command);
        let body: Value = serde_json::from_str(&m.body).unwrap();
        assert_eq!(body["id"], m.id.as_str());
        assert_eq!(body["type"], "call_kick");
        assert_eq!(body["data"]["call_id"], "CA1/../x?y");
    }

    #[test]
    fn events_are_verified_with_the_platform_secret() {
        let key = b"platform-key".to_vec();
        let body = br#"{"id":"e1"}"#;
        let sig = signature::sign(&key, "e1", 1000, body);
        let header = |name: &str| match name {
            "webhook-id" => Some("e1"),
            "webhook-timestamp" => Some("1000"),
            "webhook-signature" => Some(sig.as_str()),
            _ => None,
        };
        let request = Inbound {
            url: "https://c/v1.0/platform/events",
            header: &header,
            body,
            now: 1001,
        };
        let connections = Connections::default();
        let keys = |k| Keys {
            connections: &connections,
            platform_key: k,
        };
        assert_eq!(Native.verify(&request, &keys(Some(&key))), Ok(()));
        assert!(Native.verify(&request, &keys(Some(b"other"))).is_err());
        assert_eq!(Native.verify(&request, &keys(None)), Ok(()));
    }
}
