//! What confab asks of a platform (kick a call, start or stop a recording, mute, hold, say something) and the request that carries it through the outbox.

use crate::actions::{Emitted, HttpMethod};
use crate::domain::conference::{Conferencecall, Recording};
use crate::domain::dialect::Connections;
use crate::store::MessageKind;
use uuid::Uuid;

/// A command for the platform a call arrived by.
#[derive(Debug, Clone, Copy)]
pub enum Command<'a> {
    /// Take the call out of its conference.
    Kick { call: &'a Conferencecall },
    /// Start recording: the conference (`call` is `None`), or one call's audio for platforms
    /// that record per call (`Recorder::PerCall`).
    RecordingStart {
        recording: &'a Recording,
        call: Option<&'a Conferencecall>,
    },
    /// Stop a recording where it runs.
    RecordingStop {
        recording: &'a Recording,
        call: Option<&'a Conferencecall>,
    },
    /// Mute a joined call, or unmute it (§15).
    Mute {
        call: &'a Conferencecall,
        muted: bool,
    },
    /// Put a joined call on hold with `music_url` (`""`: the platform's own), or take it off.
    Hold {
        call: &'a Conferencecall,
        hold: bool,
        music_url: &'a str,
    },
    /// Say or play `actions` (media actions, resolved) to one joined call. `announcement`
    /// names the stored copy a platform that fetches what to say from a URL is pointed at.
    Play {
        call: &'a Conferencecall,
        actions: &'a [Emitted],
        announcement: Uuid,
    },
    /// Say or play `actions` to the whole room, on the platform of `call` (a joined call of
    /// the room, whose platform conference names it). A platform without a room-wide request
    /// answers `Unsupported`, and each of its joined calls is told with `Play`.
    RoomPlay {
        call: &'a Conferencecall,
        actions: &'a [Emitted],
        announcement: Uuid,
    },
    /// Dial `destination` from `from` for `call`, a conferencecall being dialled (§15), ringing
    /// for at most `timeout` seconds; the callee then joins the conference like any call,
    /// naming `call` so confab knows it was dialled.
    Dial {
        call: &'a Conferencecall,
        destination: &'a str,
        from: &'a str,
        timeout: i64,
    },
    /// Stop ringing `call`, a dialled call kicked before anyone answered (§15).
    /// `platform_call` is the platform's own id of the ringing call, which a platform that
    /// does not know its dials by the conferencecall needs (`Platform::knows_dials`).
    CancelDial {
        call: &'a Conferencecall,
        platform_call: Option<&'a str>,
    },
}

impl Command<'_> {
    /// The command's name, as native commands are typed (`call_kick`, …).
    pub fn name(&self) -> &'static str {
        match self {
            Command::Kick { .. } => "call_kick",
            Command::RecordingStart { .. } => "recording_start",
            Command::RecordingStop { .. } => "recording_stop",
            Command::Mute { muted: true, .. } => "call_mute",
            Command::Mute { muted: false, .. } => "call_unmute",
            Command::Hold { hold: true, .. } => "call_hold",
            Command::Hold { hold: false, .. } => "call_unhold",
            Command::Play { .. } => "call_play",
            Command::RoomPlay { .. } => "conference_play",
            Command::Dial { .. } => "call_dial",
            Command::CancelDial { .. } => "call_dial_cancel",
        }
    }
}

/// What a command's request needs from confab's settings and the customer.
pub struct Outgoing<'a> {
    /// The customer's connections (empty for a platform customers do not connect).
    pub connections: &'a Connections,
    /// `--public-url`, for the callbacks a request names.
    pub public_url: &'a str,
    /// `--platform-url`, where native commands go.
    pub platform_url: Option<&'a str>,
}

/// How a platform records a conference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorder {
    /// It records the whole conference itself, told by a command about the conference.
    Conference,
    /// It records one call, whose audio is the conference's mix: the recording runs on a
    /// joined call of the platform.
    PerCall,
    /// Its API cannot record a conference.
    Unable,
}

/// A command as the request that carries it, to be written to the outbox in the
/// transaction of the change and sent by it. No credentials: a REST request is authorized at
/// each attempt (`Platform::authorization`), so a changed secret applies to what is waiting.
#[derive(Debug, Clone, PartialEq)]
pub struct Outbound {
    /// `Command` (signed with the platform secret) or `PlatformApi` (authorized with the
    /// customer's connection).
    pub kind: MessageKind,
    /// The message id (a native command's body carries it too).
    pub id: String,
    /// `{type}` of a native command, `{dialect}.{type}` of a REST request: the outbox finds
    /// the platform that authorizes a request by this prefix.
    pub event_type: String,
    pub url: String,
    pub method: HttpMethod,
    pub content_type: &'static str,
    pub body: String,
}

/// Why a command was not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsent {
    /// The operator has not said where the platform is (`--platform-url`).
    NotConfigured,
    /// The customer has no connection to the call's platform (removed while the call was in).
    NoConnection,
    /// The platform has no such command (a recording on a platform that cannot record).
    Unsupported,
}

/// A REST request to a customer's platform account.
pub(crate) fn api_request(
    event_type: String,
    url: String,
    method: HttpMethod,
    content_type: &'static str,
    body: String,
) -> Outbound {
    Outbound {
        kind: MessageKind::PlatformApi,
        id: format!("api_{}", Uuid::now_v7().simple()),
        event_type,
        url,
        method,
        content_type,
        body,
    }
}

/// A form body.
pub(crate) fn form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// A platform id as one path segment: ids are plain, but nothing from a webhook may add a
/// segment or a query to the URL confab calls with the customer's credentials.
pub(crate) fn path_part(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// Holds a REST request to the API its connection names now: a request written before the
/// connection moved to another API stays unsent, since the credentials go only to the API
/// they belong to.
pub(crate) fn under(url: &str, api_url: &str) -> Result<(), String> {
    // The base must end where a path, query or the URL ends: `https://api.example.com` is
    // not the base of `https://api.example.com.elsewhere/…`.
    let base = api_url.trim_end_matches('/');
    let rest = url.strip_prefix(base);
    if rest.is_some_and(|r| r.is_empty() || r.starts_with(['/', '?'])) {
        Ok(())
    } else {
        Err("the connection's api_url changed since this call was queued".into())
    }
}

/// A call for tests of the platforms' requests.
#[cfg(test)]
pub(crate) fn test_call(
    dialect: crate::domain::dialect::Dialect,
    platform_conference: &str,
) -> Conferencecall {
    Conferencecall {
        id: Default::default(),
        customer_id: crate::domain::CustomerId::new(),
        conference_id: crate::domain::ConferenceId::new(),
        reference_id: "CA1/../x?y".into(),
        status: crate::domain::conference::CallStatus::Joined,
        tm_create: crate::domain::timestamp::Timestamp(0),
        tm_update: crate::domain::timestamp::Timestamp(0),
        tm_delete: None,
        dialect,
        platform_conference: platform_conference.into(),
        role: Default::default(),
        muted: false,
        hold: false,
        tm_joined: None,
        tm_left: None,
        leave_reason: String::new(),
        from: String::new(),
        to: String::new(),
    }
}

#[cfg(test)]
mod under_tests {
    #[test]
    fn a_base_covers_its_paths_and_not_a_longer_host() {
        let base = "https://api.example.com/";
        assert!(super::under("https://api.example.com/2010-04-01/x", base).is_ok());
        assert!(super::under("https://api.example.com", base).is_ok());
        assert!(super::under("https://api.example.com.elsewhere/2010-04-01/x", base).is_err());
        assert!(super::under("https://api.example.comx/", base).is_err());
    }
}
