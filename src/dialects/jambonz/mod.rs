//! jambonz: JSON webhooks signed with the account's webhook secret, answers as JSON verbs, and its live call control API for kicks, mute and hold.

pub mod connection;
pub mod inbound;
pub mod rest;
pub mod signature;
pub mod verbs;

use crate::dialects::settings::{Connection, ConnectionKind, ConnectionOf};
use crate::dialects::{
    Answer, AnswerContext, BadInput, Command, Hook, Inbound, Keys, Outbound, Outgoing, Platform,
    Reading, Recorder, Refused, Unsent, Webhooks,
};
use crate::domain::dialect::{Connections, Dialect};
use crate::render::EventAnswer;
use crate::store::StoredMessage;
use connection::JambonzConnection;
use serde_json::Value;

/// jambonz's platform.
pub struct Jambonz;

/// The URL segment of its webhooks: `/v1.0/jambonz/{customer}/conferences/{conference}/…`.
pub const SEGMENT: &str = "jambonz";

/// Answers are `application/json` arrays of verbs (jambonz ignores any other content type).
fn verbs_answer(verbs: Value) -> Answer {
    Answer {
        content_type: "application/json",
        body: verbs.to_string(),
    }
}

impl Platform for Jambonz {
    fn dialect(&self) -> Dialect {
        Dialect::Jambonz
    }

    fn webhooks(&self) -> Option<Webhooks> {
        Some(Webhooks {
            segment: SEGMENT,
            hooks: &[
                ("call", Hook::Call),
                ("status", Hook::Status),
                ("after", Hook::After),
                ("gather", Hook::Gather),
                ("wait", Hook::Wait),
            ],
        })
    }

    fn verify(&self, request: &Inbound<'_>, keys: &Keys<'_>) -> Result<(), Refused> {
        inbound::verify(request, keys.connections)
    }

    fn read(&self, hook: Hook, request: &Inbound<'_>) -> Result<Reading, BadInput> {
        inbound::read(hook, request)
    }

    /// The answer's actions as verbs, with the `conference` verb for a call that joins; its
    /// hooks report the joins and leaves (`…/status`) and the end (`…/after`). `say` names the
    /// customer's speech vendor.
    fn render(&self, answer: &EventAnswer, context: &AnswerContext<'_>) -> Answer {
        let callbacks = &context.callbacks;
        let (after, status) = (
            callbacks.url(SEGMENT, "after"),
            callbacks.url(SEGMENT, "status"),
        );
        let gather = callbacks.gather_url(SEGMENT, answer);
        let wait = callbacks.url(SEGMENT, "wait");
        let conference = callbacks.conference.to_string();
        let tts_vendor = JambonzConnection::of(context.connections)
            .map(|j| j.tts_vendor)
            .unwrap_or_else(|| "default".into());
        let ctx = verbs::Context {
            conference: &conference,
            after_url: &after,
            status_url: &status,
            gather_url: &gather,
            wait_url: &wait,
            beep_url: context.beep_url,
            tts_vendor: &tts_vendor,
        };
        verbs_answer(verbs::verbs(answer.actions.as_deref().unwrap_or(&[]), &ctx))
    }

    fn hang_up(&self) -> Answer {
        verbs_answer(verbs::hangup())
    }

    fn wait(&self, music_url: &str) -> Answer {
        verbs_answer(verbs::wait(music_url))
    }

    fn acknowledge(&self) -> Answer {
        verbs_answer(Value::Array(Vec::new()))
    }

    fn connection(&self) -> Option<&'static dyn ConnectionKind> {
        Some(&ConnectionOf::<JambonzConnection>::KIND)
    }

    /// jambonz's API cannot record a conference: a recording stays confab's record only.
    fn recorder(&self) -> Recorder {
        Recorder::Unable
    }

    /// jambonz can say nothing to a conference member (see `command`), so a room is asked
    /// once, and refused once, rather than call by call.
    fn plays_to_calls(&self) -> bool {
        false
    }

    fn plays_to_rooms(&self) -> bool {
        true
    }

    fn command(&self, command: Command<'_>, out: &Outgoing<'_>) -> Result<Outbound, Unsent> {
        match command {
            Command::Kick { call } => {
                let j = JambonzConnection::of(out.connections).ok_or(Unsent::NoConnection)?;
                Ok(rest::kick(&j, call, out.public_url))
            }
            Command::RecordingStart { .. } | Command::RecordingStop { .. } => {
                Err(Unsent::Unsupported)
            }
            Command::Mute { call, muted } => {
                let j = JambonzConnection::of(out.connections).ok_or(Unsent::NoConnection)?;
                Ok(rest::mute(&j, call, muted))
            }
            Command::Hold {
                call,
                hold,
                music_url,
            } => {
                let j = JambonzConnection::of(out.connections).ok_or(Unsent::NoConnection)?;
                Ok(rest::hold(&j, call, hold, music_url, out.public_url))
            }
            // Live call control's `whisper` plays only to a call in a `dial` (or `listen`):
            // jambonz's feature server ignores it for a call in a `conference`, and nothing
            // else says something to a member or a room. Not sent (logged).
            Command::Play { .. } | Command::RoomPlay { .. } => Err(Unsent::Unsupported),
            Command::Dial {
                call,
                destination,
                from,
                timeout,
            } => {
                let j = JambonzConnection::of(out.connections).ok_or(Unsent::NoConnection)?;
                Ok(rest::dial(
                    &j,
                    call,
                    (destination, from, timeout),
                    out.public_url,
                ))
            }
            Command::CancelDial {
                platform_call: Some(sid),
                ..
            } => {
                let j = JambonzConnection::of(out.connections).ok_or(Unsent::NoConnection)?;
                Ok(rest::cancel_dial(&j, sid))
            }
            Command::CancelDial {
                platform_call: None,
                ..
            } => Err(Unsent::Unsupported),
        }
    }

    fn authorization(
        &self,
        message: &StoredMessage,
        connections: &Connections,
    ) -> Result<String, String> {
        let j = JambonzConnection::of(connections)
            .ok_or_else(|| "the customer has no jambonz connection".to_string())?;
        rest::authorization(&j, message)
    }

    fn gone(&self, status: u16, _answer: &[u8]) -> bool {
        rest::gone(status)
    }
}
