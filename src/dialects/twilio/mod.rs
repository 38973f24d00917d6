//! Twilio and the platforms that speak TwiML (SignalWire cXML, Telnyx TeXML): form-encoded webhooks signed with the account's token, TwiML answers, and Twilio's REST API for kicks and recordings.

pub mod connection;
pub mod inbound;
pub mod rest;
pub mod signature;
pub mod twiml;

use crate::dialects::settings::{Connection, ConnectionKind, ConnectionOf};
use crate::dialects::{
    Answer, AnswerContext, BadInput, Command, Hook, Inbound, Keys, Outbound, Outgoing, Platform,
    Reading, Recorder, Refused, Unsent, Webhooks,
};
use crate::domain::dialect::{Connections, Dialect};
use crate::render::EventAnswer;
use crate::store::StoredMessage;
use connection::TwilioConnection;

/// Twilio's platform.
pub struct Twilio;

/// The URL segment of its webhooks: `/v1.0/twiml/{customer}/conferences/{conference}/…`.
pub const SEGMENT: &str = "twiml";

fn xml(body: String) -> Answer {
    Answer {
        content_type: "text/xml; charset=utf-8",
        body,
    }
}

impl Platform for Twilio {
    fn dialect(&self) -> Dialect {
        Dialect::Twilio
    }

    fn webhooks(&self) -> Option<Webhooks> {
        Some(Webhooks {
            segment: SEGMENT,
            hooks: &[
                ("voice", Hook::Call),
                ("status", Hook::Status),
                ("after", Hook::After),
                ("recording", Hook::Recording),
                ("gather", Hook::Gather),
                ("announce", Hook::Announce),
            ],
        })
    }

    fn verify(&self, request: &Inbound<'_>, keys: &Keys<'_>) -> Result<(), Refused> {
        inbound::verify(request, keys.connections)
    }

    fn read(&self, hook: Hook, request: &Inbound<'_>) -> Result<Reading, BadInput> {
        inbound::read(hook, request)
    }

    /// The answer's actions, with the `<Dial>` for a call that joins; its callbacks report the
    /// joins and leaves (`…/status`) and the end (`…/after`).
    fn render(&self, answer: &EventAnswer, context: &AnswerContext<'_>) -> Answer {
        let callbacks = &context.callbacks;
        let (after, status) = (
            callbacks.url(SEGMENT, "after"),
            callbacks.url(SEGMENT, "status"),
        );
        let gather = callbacks.gather_url(SEGMENT, answer);
        let conference = callbacks.conference.to_string();
        let ctx = twiml::Context {
            conference: &conference,
            after_url: &after,
            status_url: &status,
            gather_url: &gather,
            beep_url: context.beep_url,
            label: context.label,
        };
        xml(twiml::response(
            answer.actions.as_deref().unwrap_or(&[]),
            &ctx,
        ))
    }

    fn hang_up(&self) -> Answer {
        xml(twiml::hangup())
    }

    fn acknowledge(&self) -> Answer {
        xml(twiml::empty())
    }

    fn connection(&self) -> Option<&'static dyn ConnectionKind> {
        Some(&ConnectionOf::<TwilioConnection>::KIND)
    }

    /// Twilio records calls, not conferences: a recording runs on one joined call, whose
    /// audio is the conference's mix.
    fn recorder(&self) -> Recorder {
        Recorder::PerCall
    }

    /// `AnnounceUrl` is fetched from confab (`…/announce?id=`).
    fn fetches_announcements(&self) -> bool {
        true
    }

    fn command(&self, command: Command<'_>, out: &Outgoing<'_>) -> Result<Outbound, Unsent> {
        let t = TwilioConnection::of(out.connections).ok_or(Unsent::NoConnection)?;
        match command {
            Command::Kick { call } => Ok(rest::kick(&t, call, out.public_url)),
            Command::RecordingStart {
                recording,
                call: Some(call),
            } => Ok(rest::recording_start(
                &t,
                call,
                recording.id,
                out.public_url,
            )),
            Command::RecordingStop {
                call: Some(call), ..
            } => Ok(rest::recording_stop(&t, call)),
            Command::RecordingStart { call: None, .. }
            | Command::RecordingStop { call: None, .. } => Err(Unsent::Unsupported),
            Command::Mute { call, muted } => Ok(rest::mute(&t, call, muted)),
            Command::Hold {
                call,
                hold,
                music_url,
            } => Ok(rest::hold(&t, call, hold, music_url)),
            Command::Play {
                call, announcement, ..
            } => {
                let url = rest::announce_url(call, out.public_url, announcement);
                Ok(rest::announce_to_call(&t, call, &url))
            }
            Command::RoomPlay {
                call, announcement, ..
            } => {
                let url = rest::announce_url(call, out.public_url, announcement);
                Ok(rest::announce_to_room(&t, call, &url))
            }
            Command::Dial {
                call,
                destination,
                from,
                timeout,
            } => Ok(rest::dial(
                &t,
                call,
                (destination, from, timeout),
                out.public_url,
            )),
            Command::CancelDial {
                platform_call: Some(sid),
                ..
            } => Ok(rest::cancel_dial(&t, sid)),
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
        let t = TwilioConnection::of(connections)
            .ok_or_else(|| "the customer has no twilio connection".to_string())?;
        rest::authorization(&t, message)
    }

    fn gone(&self, status: u16, answer: &[u8]) -> bool {
        rest::gone(status, answer)
    }
}
