//! Twilio and the platforms that speak TwiML (SignalWire cXML, Telnyx TeXML): form-encoded webhooks signed with the account's token, TwiML answers, and Twilio's REST API for kicks and recordings.

pub mod connection;
pub mod inbound;
pub mod rest;
pub mod signature;
pub mod twiml;

use crate::dialects::settings::{ConnectionDoc, Fields, SettingError};
use crate::dialects::{
    Answer, AnswerContext, BadInput, Command, Hook, Inbound, Keys, Outbound, Outgoing, Platform,
    Reading, Recorder, Refused, Unsent, Webhooks,
};
use crate::domain::dialect::{Connections, Dialect};
use crate::render::EventAnswer;
use crate::store::StoredMessage;
use connection::{TwilioConnection, TwilioConnectionChange, TwilioConnectionView};
use serde_json::Value;

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
        let conference = callbacks.conference.to_string();
        let ctx = twiml::Context {
            conference: &conference,
            after_url: &after,
            status_url: &status,
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

    fn connection_name(&self) -> Option<&'static str> {
        Some(connection::NAME)
    }

    fn change_connection(
        &self,
        stored: Option<&Value>,
        change: &Fields,
    ) -> Result<Value, SettingError> {
        let old: Option<TwilioConnection> =
            stored.and_then(|s| crate::dialects::settings::stored(connection::NAME, s));
        let new = connection::change(old.as_ref(), change)?;
        Ok(serde_json::to_value(new).unwrap_or(Value::Null))
    }

    fn mask_connection(&self, stored: &Value) -> Value {
        crate::dialects::settings::stored::<TwilioConnection>(connection::NAME, stored)
            .map_or(Value::Null, |t| connection::masked(&t))
    }

    fn connection_api_url(&self, stored: &Value) -> Option<String> {
        crate::dialects::settings::stored::<TwilioConnection>(connection::NAME, stored)
            .map(|t| t.api_url)
    }

    fn connection_doc(&self) -> Option<ConnectionDoc> {
        Some(ConnectionDoc::of::<
            TwilioConnectionChange,
            TwilioConnectionView,
        >(
            "Sets or changes the Twilio connection; `null` removes it.",
            "The Twilio connection, secrets masked; `null` when none.",
        ))
    }

    /// Twilio records calls, not conferences: a recording runs on one joined call, whose
    /// audio is the conference's mix.
    fn recorder(&self) -> Recorder {
        Recorder::PerCall
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
