//! Conferences, their calls and recordings as domain values, and the rules that move them
//! between states. Nothing here knows about HTTP or SQL.

use super::dialect::Dialect;
use super::ids::{ConferenceId, ConferencecallId, CustomerId, RecordingId};
use super::names::names;
pub use super::recording::{
    Recording, RecordingFormat, RecordingJson, RecordingReferenceType, RecordingStatus,
};
use super::room::{Role, RoomRules};
use super::usage::{seconds_between, Usage};
use crate::domain::timestamp::{api_or_not_set, ApiTime, Timestamp};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum ConferenceType {
    Conference,
    Connect,
}

names!(ConferenceType {
    Conference = "conference",
    Connect = "connect",
});

impl ConferenceType {
    /// How many calls may be in the conference at once (joining or joined).
    pub fn capacity(self) -> Option<usize> {
        match self {
            ConferenceType::Conference => None,
            ConferenceType::Connect => Some(2),
        }
    }
}

/// Conference status; it only ever moves forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum ConferenceStatus {
    Starting,
    Progressing,
    Terminating,
    Terminated,
}

names!(ConferenceStatus {
    Starting = "starting",
    Progressing = "progressing",
    Terminating = "terminating",
    Terminated = "terminated",
});

impl ConferenceStatus {
    /// Whether new calls may join.
    pub fn is_open(self) -> bool {
        self < ConferenceStatus::Terminating
    }
}

pub use super::origin::{Origin, XmlAttributes, XmlStatus};

/// Longest accepted `timeout`, one week (§3.1).
pub const MAX_TIMEOUT_SECONDS: i64 = 604_800;
/// Largest accepted serialized `data` object (§3.1).
pub const MAX_DATA_BYTES: usize = 64 * 1024;
/// Longest `name`, in characters. The spec is silent; 255 fits any sensible label.
pub const MAX_NAME_CHARS: usize = 255;
/// Longest `detail`, in characters.
pub const MAX_DETAIL_CHARS: usize = 4096;

/// JSON kept as the text it was stored as: validated once on write, served verbatim, and parsed
/// only when something needs its contents (a run, a variable). Loading a conference on the
/// event path never parses or validates it.
#[derive(Debug, Clone)]
pub struct StoredJson(String);

impl StoredJson {
    pub fn from_value(v: &Value) -> StoredJson {
        StoredJson(v.to_string())
    }

    /// Wraps text read back from the store (written by `from_value`, so valid JSON).
    pub fn from_stored(text: String) -> StoredJson {
        StoredJson(text)
    }

    pub fn text(&self) -> &str {
        &self.0
    }

    pub fn parse(&self) -> Value {
        serde_json::from_str(&self.0).unwrap_or(Value::Null)
    }
}

impl Serialize for StoredJson {
    /// Emits the text as JSON as it is. Text that is somehow not JSON (a hand-edited database)
    /// is an error of the serializer, not a panic.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let raw: &RawValue = serde_json::from_str(&self.0).map_err(serde::ser::Error::custom)?;
        raw.serialize(serializer)
    }
}

/// Length of `s` as a JSON string, quotes and escapes included, as serde_json writes it.
pub fn json_string_len(s: &str) -> usize {
    2 + s
        .chars()
        .map(|c| match c {
            '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
            c if c < ' ' => 6,
            c => c.len_utf8(),
        })
        .sum::<usize>()
}

/// Bytes of an id in a JSON array: quotes, 36 characters, a comma.
const JSON_ID_ITEM: usize = 39;

/// Upper bounds of the parts of each JSON shape below that do not vary (names, punctuation,
/// ids, timestamps, numbers, enums), so `json_len` estimates are never below the real length
/// and a page cut by them never passes its byte budget. Checked by the tests at the end.
const CONFERENCE_JSON_FIXED: usize = 580;
const CALL_JSON_FIXED: usize = 480;

/// A conference as stored.
#[derive(Debug, Clone)]
pub struct Conference {
    pub id: ConferenceId,
    pub customer_id: CustomerId,
    pub kind: ConferenceType,
    pub status: ConferenceStatus,
    pub name: String,
    pub detail: String,
    pub data: StoredJson,
    pub timeout: i64,
    /// Validated action lists as the customer wrote them (ids filled in).
    pub pre_actions: StoredJson,
    pub post_actions: StoredJson,
    pub origin: Origin,
    pub xml: XmlAttributes,
    pub tm_create: Timestamp,
    pub tm_update: Timestamp,
    pub tm_delete: Option<Timestamp>,
    /// When the first call joined (the XML API's `beginTime`).
    pub tm_begin: Option<Timestamp>,
    /// When the conference reached `terminated` (the XML API's `endTime`).
    pub tm_end: Option<Timestamp>,
    /// Who may join and how (§14).
    pub room: RoomRules,
}

/// A conference with the lists derived from its calls and recordings, as the API shows it.
#[derive(Debug, Clone)]
pub struct ConferenceView {
    pub conference: Conference,
    /// Calls currently `joined`, in join order.
    pub conferencecall_ids: Vec<ConferencecallId>,
    /// The recording in progress, if any.
    pub recording_id: Option<RecordingId>,
    /// Every recording, oldest first.
    pub recording_ids: Vec<RecordingId>,
}

/// A conference (§3.1), fields in the seed's order.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Conference)]
pub struct ConferenceJson<'a> {
    id: ConferenceId,
    customer_id: CustomerId,
    #[serde(rename = "type")]
    #[schema(value_type = ConferenceType)]
    kind: &'static str,
    #[schema(value_type = ConferenceStatus)]
    status: &'static str,
    name: &'a str,
    detail: &'a str,
    /// The customer's own data, stored and returned as given.
    #[schema(value_type = Object)]
    data: &'a StoredJson,
    /// Seconds after the create or update that set it until the conference ends; 0 = none.
    #[schema(minimum = 0, maximum = 604800)]
    timeout: i64,
    // Action lists: `http::openapi` names their items' component (`Action`), which the
    // domain does not know.
    #[schema(value_type = Vec<Object>)]
    pre_actions: &'a StoredJson,
    #[schema(value_type = Vec<Object>)]
    post_actions: &'a StoredJson,
    /// The calls now joined, in join order.
    conferencecall_ids: &'a [ConferencecallId],
    /// The recording in progress; the nil UUID when none.
    recording_id: RecordingId,
    /// Every recording, oldest first.
    recording_ids: &'a [RecordingId],
    #[schema(value_type = ApiTime)]
    tm_create: String,
    #[schema(value_type = ApiTime)]
    tm_update: String,
    /// Set by DELETE; `9999-01-01 00:00:00.000000` until then.
    #[schema(value_type = ApiTime)]
    tm_delete: String,
    /// Calls joining or joined at most; 0 = no limit.
    #[schema(minimum = 0, maximum = 1000)]
    max_participants: i64,
    /// No call may join while set; calls already in stay.
    locked: bool,
    /// Only a moderator starts the room; the others hear `wait_music_url` until one joins.
    wait_for_moderator: bool,
    /// When the last joined moderator leaves, confab kicks the other joined calls; the
    /// conference stays open.
    end_on_moderator_exit: bool,
    /// What waiting callers hear (an http(s) URL), or `""`.
    wait_music_url: &'a str,
}

impl ConferenceView {
    /// At least the length of `json()` rendered, without rendering it: the stored JSON is
    /// served verbatim, so its text length is exact.
    pub fn json_len(&self) -> usize {
        let c = &self.conference;
        CONFERENCE_JSON_FIXED
            + json_string_len(&c.name)
            + json_string_len(&c.detail)
            + c.data.text().len()
            + c.pre_actions.text().len()
            + c.post_actions.text().len()
            + json_string_len(&c.room.wait_music_url)
            + JSON_ID_ITEM * (self.conferencecall_ids.len() + self.recording_ids.len())
    }

    pub fn json(&self) -> ConferenceJson<'_> {
        let c = &self.conference;
        ConferenceJson {
            id: c.id,
            customer_id: c.customer_id,
            kind: c.kind.as_str(),
            status: c.status.as_str(),
            name: &c.name,
            detail: &c.detail,
            data: &c.data,
            timeout: c.timeout,
            pre_actions: &c.pre_actions,
            post_actions: &c.post_actions,
            conferencecall_ids: &self.conferencecall_ids,
            recording_id: self.recording_id.unwrap_or(RecordingId::nil()),
            recording_ids: &self.recording_ids,
            tm_create: c.tm_create.to_api(),
            tm_update: c.tm_update.to_api(),
            tm_delete: api_or_not_set(c.tm_delete),
            max_participants: c.room.max_participants,
            locked: c.room.locked,
            wait_for_moderator: c.room.wait_for_moderator,
            end_on_moderator_exit: c.room.end_on_moderator_exit,
            wait_music_url: &c.room.wait_music_url,
        }
    }
}

/// Conferencecall status (§3.2); forward only. `dialing` comes first and only for a call
/// confab dials out (§15): it counts as active (admission, `max_participants`, `locked`)
/// from the moment it is dialled, so a room cannot be overfilled by calls still ringing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum CallStatus {
    Dialing,
    Joining,
    Joined,
    Leaving,
    Leaved,
}

names!(CallStatus {
    Dialing = "dialing",
    Joining = "joining",
    Joined = "joined",
    Leaving = "leaving",
    Leaved = "leaved",
});

/// One call's membership of one conference.
#[derive(Debug, Clone, PartialEq)]
pub struct Conferencecall {
    pub id: ConferencecallId,
    pub customer_id: CustomerId,
    pub conference_id: ConferenceId,
    pub reference_id: String,
    pub status: CallStatus,
    pub tm_create: Timestamp,
    pub tm_update: Timestamp,
    pub tm_delete: Option<Timestamp>,
    /// The protocol the call arrived by: its kicks go back the same way.
    pub dialect: Dialect,
    /// The platform's own id of the conference the call is in (kept for kicks), once
    /// the platform has said; empty for the native protocol.
    pub platform_conference: String,
    /// The role it joins with (§14), set when its `pre_actions` end in a join.
    pub role: Role,
    /// Whether it is muted in the room (a listener joins muted).
    pub muted: bool,
    /// Whether it is on hold (§15).
    pub hold: bool,
    /// When it joined the room (`joined`), if it did (§16).
    pub tm_joined: Option<Timestamp>,
    /// When it left (`leaved`), if it has.
    pub tm_left: Option<Timestamp>,
    /// Why a dialled call ended without being answered (§15): the platform's word
    /// (`no-answer`, `busy`, `failed`) or `timeout`; empty for every other call.
    pub leave_reason: String,
    /// The caller's number as the platform gave it when the call arrived (a dial's caller
    /// id): `call.from` of every run for the call.
    pub from: String,
    /// The number it called (a dial's destination): `call.to`.
    pub to: String,
}

/// What a conferencecall refers to: always a call.
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum CallReferenceType {
    Call,
}

/// One call's stay in one conference (§3.2).
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Conferencecall)]
pub struct ConferencecallJson<'a> {
    id: ConferencecallId,
    customer_id: CustomerId,
    conference_id: ConferenceId,
    #[schema(value_type = CallReferenceType)]
    reference_type: &'static str,
    /// The platform's call id.
    reference_id: &'a str,
    #[schema(value_type = CallStatus)]
    status: &'static str,
    #[schema(value_type = ApiTime)]
    tm_create: String,
    #[schema(value_type = ApiTime)]
    tm_update: String,
    #[schema(value_type = ApiTime)]
    tm_delete: String,
    /// The role it joins with: `participant` unless a `role_set` action said otherwise.
    #[schema(value_type = Role)]
    role: &'static str,
    /// Whether it is muted in the room.
    muted: bool,
    /// Whether it is on hold.
    hold: bool,
    /// When it joined the room; `9999-…` if it never did.
    #[schema(value_type = ApiTime)]
    tm_joined: String,
    /// When it left; `9999-…` while it has not. Its billable time is `tm_left − tm_joined`
    /// in whole seconds (rounded down).
    #[schema(value_type = ApiTime)]
    tm_left: String,
    /// Why a dialled call ended without being answered: the platform's word (`no-answer`,
    /// `busy`, `failed`, …) or `timeout` when nothing was reported; `""` for every other call.
    #[schema(max_length = 256)]
    leave_reason: &'a str,
}

impl Conferencecall {
    /// A new call of `conf` at `now`: a participant, neither muted nor on hold, not yet joined.
    pub fn new(
        conf: &Conference,
        id: ConferencecallId,
        reference_id: String,
        status: CallStatus,
        dialect: Dialect,
        now: Timestamp,
    ) -> Conferencecall {
        Conferencecall {
            id,
            customer_id: conf.customer_id,
            conference_id: conf.id,
            reference_id,
            status,
            tm_create: now,
            tm_update: now,
            tm_delete: None,
            dialect,
            platform_conference: String::new(),
            role: Role::Participant,
            muted: false,
            hold: false,
            tm_joined: None,
            tm_left: None,
            leave_reason: String::new(),
            from: String::new(),
            to: String::new(),
        }
    }

    /// The call has left: `leaved` at `now`. It is no longer muted or on hold (§15), whatever
    /// a command still on its way to the platform said. What it used of the room is returned,
    /// to be counted (§16): nothing for a call that never joined (a caller who failed a PIN, a
    /// dial nobody answered), nor for one already left, which keeps its `tm_left`.
    #[must_use = "the usage of a call that left must be counted"]
    pub fn mark_leaved(&mut self, now: Timestamp) -> Option<Usage> {
        let already = self.status == CallStatus::Leaved;
        self.status = CallStatus::Leaved;
        self.tm_update = now;
        self.muted = false;
        self.hold = false;
        if already && self.tm_left.is_some() {
            return None;
        }
        self.tm_left = Some(now);
        self.stay_seconds().map(Usage::of_call)
    }

    /// Whole seconds from joining to leaving, once it has done both.
    pub fn stay_seconds(&self) -> Option<i64> {
        Some(seconds_between(self.tm_joined?, self.tm_left?))
    }

    /// The call has joined the room at `now`.
    pub fn mark_joined(&mut self, now: Timestamp) {
        self.status = CallStatus::Joined;
        self.tm_update = now;
        self.tm_joined = Some(now);
    }

    /// At least the length of `json()` rendered.
    pub fn json_len(&self) -> usize {
        CALL_JSON_FIXED + json_string_len(&self.reference_id) + json_string_len(&self.leave_reason)
    }

    pub fn json(&self) -> ConferencecallJson<'_> {
        ConferencecallJson {
            id: self.id,
            customer_id: self.customer_id,
            conference_id: self.conference_id,
            reference_type: "call",
            reference_id: &self.reference_id,
            status: self.status.as_str(),
            tm_create: self.tm_create.to_api(),
            tm_update: self.tm_update.to_api(),
            tm_delete: api_or_not_set(self.tm_delete),
            role: self.role.as_str(),
            muted: self.muted,
            hold: self.hold,
            tm_joined: api_or_not_set(self.tm_joined),
            tm_left: api_or_not_set(self.tm_left),
            leave_reason: &self.leave_reason,
        }
    }
}

/// Why a call may not join.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinRefusal {
    Closed,
    /// A `connect` room holds two calls.
    Full,
    /// The room holds `max_participants` calls (§14).
    AtLimit(i64),
    Locked,
}

/// Decides whether one more call may join, given how many calls are joining or joined now.
pub fn admit(conference: &Conference, active_calls: usize) -> Result<(), JoinRefusal> {
    if !conference.status.is_open() || conference.tm_delete.is_some() {
        return Err(JoinRefusal::Closed);
    }
    if conference.room.locked {
        return Err(JoinRefusal::Locked);
    }
    if conference
        .kind
        .capacity()
        .is_some_and(|cap| active_calls >= cap)
    {
        return Err(JoinRefusal::Full);
    }
    if !conference.room.has_room_for_one_more(active_calls) {
        return Err(JoinRefusal::AtLimit(conference.room.max_participants));
    }
    Ok(())
}

/// The status a conference takes when asked to terminate, given the calls still in it.
pub fn status_on_terminate(calls_in_conference: usize) -> ConferenceStatus {
    if calls_in_conference == 0 {
        ConferenceStatus::Terminated
    } else {
        ConferenceStatus::Terminating
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_only_move_forward_in_order() {
        assert!(ConferenceStatus::Progressing < ConferenceStatus::Terminating);
        assert!(ConferenceStatus::Progressing.is_open());
        assert!(!ConferenceStatus::Terminating.is_open());
        assert!(CallStatus::Joined < CallStatus::Leaved);
        assert!(CallStatus::Dialing < CallStatus::Joining);
        assert_eq!(status_on_terminate(0), ConferenceStatus::Terminated);
        assert_eq!(status_on_terminate(3), ConferenceStatus::Terminating);
    }

    fn conference(name: &str, timeout: i64) -> Conference {
        Conference {
            id: ConferenceId::new(),
            customer_id: CustomerId::new(),
            kind: ConferenceType::Conference,
            status: ConferenceStatus::Progressing,
            name: name.into(),
            detail: "tab\there \"quoted\" \\ bell\u{7}".into(),
            data: StoredJson::from_value(&serde_json::json!({"k": [1, {"x": "y"}]})),
            timeout,
            pre_actions: StoredJson::from_value(&serde_json::json!([{"type": "talk"}])),
            post_actions: StoredJson::from_value(&serde_json::json!([])),
            origin: Origin::Json,
            xml: XmlAttributes::default(),
            tm_create: Timestamp(1_700_000_000_000_000),
            tm_update: Timestamp(1_700_000_000_000_000),
            tm_delete: None,
            tm_begin: None,
            tm_end: None,
            room: RoomRules {
                wait_music_url: "https://music.example/hold \"q\".mp3".into(),
                ..RoomRules::default()
            },
        }
    }

    /// The estimate is never below the real length (a page cut by it stays in its budget)
    /// and barely above it, whatever the numbers, enums and escapes.
    fn assert_close(estimate: usize, json: impl Serialize) {
        let actual = serde_json::to_string(&json).unwrap().len();
        assert!(estimate >= actual, "estimate {estimate} < actual {actual}");
        assert!(
            estimate - actual <= 64,
            "estimate {estimate} far above {actual}"
        );
    }

    #[test]
    fn json_len_estimates_bound_the_rendered_length() {
        assert_eq!(json_string_len("a\"b\n\u{1}é"), 2 + 1 + 2 + 1 + 2 + 6 + 2);
        for (name, timeout, ids) in [("", 0, 0), ("naïve \"x\"", i64::MIN, 3)] {
            let view = ConferenceView {
                conference: conference(name, timeout),
                conferencecall_ids: (0..ids).map(|_| ConferencecallId::new()).collect(),
                recording_id: None,
                recording_ids: (0..ids).map(|_| RecordingId::new()).collect(),
            };
            assert_close(view.json_len(), view.json());
        }
        let mut call = Conferencecall {
            id: Default::default(),
            customer_id: CustomerId::new(),
            conference_id: ConferenceId::new(),
            reference_id: "call \u{1}".into(),
            status: CallStatus::Joining,
            tm_create: Timestamp(0),
            tm_update: Timestamp(0),
            tm_delete: Some(Timestamp(0)),
            dialect: Dialect::Native,
            platform_conference: String::new(),
            role: Role::Participant,
            muted: false,
            hold: false,
            tm_joined: Some(Timestamp(0)),
            tm_left: None,
            leave_reason: String::new(),
            from: String::new(),
            to: String::new(),
        };
        assert_close(call.json_len(), call.json());
        call.reference_id.clear();
        assert_close(call.json_len(), call.json());
        let rec = Recording {
            id: Default::default(),
            customer_id: CustomerId::new(),
            conference_id: ConferenceId::new(),
            status: RecordingStatus::Recording,
            format: RecordingFormat::Wav,
            duration: i64::MIN,
            media_url: "https://x/a.wav?a=1&b=\"2\"".into(),
            tm_start: Timestamp(0),
            tm_end: None,
            tm_create: Timestamp(0),
            platform_call: String::new(),
        };
        assert_close(rec.json_len(), rec.json());
    }
}
