//! The answer to a platform event as one typed value: its JSON form is what the platform
//! receives and what is stored for replays; its XML form is rendered from the same value.

use crate::actions::Emitted;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// `{"conferencecall", "actions"}` for call events, `{"recording"}` for a finished recording.
/// The resources are kept as the JSON the API renders for them (raw), so they are written once.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EventAnswer {
    /// The call's conferencecall (call events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::domain::conference::ConferencecallJson>, nullable = false)]
    pub conferencecall: Option<Box<RawValue>>,
    /// The recording (`recording_finished`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<crate::domain::conference::RecordingJson>, nullable = false)]
    pub recording: Option<Box<RawValue>>,
    /// The actions the call must perform, in order; absent for events that run none. A stored
    /// answer's actions read back into the same typed values, so a replay renders from them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<EmittedAction>>, nullable = false)]
    pub actions: Option<Vec<Emitted>>,
    /// When the actions end with `digits_receive`: the number of this pause among the call's
    /// pauses (1, 2, …). A platform may send it back with the digits (`data.pause`), so a
    /// late report of an earlier pause is told apart from one for this pause.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause: Option<u32>,
}

/// An action the platform performs: a media action with its options, variables substituted;
/// `digits_receive` (`option.duration`, `key`, `length`), which ends an answer that waits for
/// the caller's digits; or `conference_join` (`option.conference_id`) after the `pre_actions`
/// of a join. This is the
/// OpenAPI description of `Emitted`'s JSON form, kept as it was so the document is unchanged.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct EmittedAction {
    #[serde(rename = "type")]
    #[schema(inline)]
    kind: EmittedType,
    #[schema(value_type = Object)]
    option: (),
}

#[derive(utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
enum EmittedType {
    Talk,
    Play,
    Beep,
    Sleep,
    Hangup,
    DigitsReceive,
    ConferenceJoin,
}

impl EventAnswer {
    /// A call event's answer, with the actions it runs (if it runs any).
    pub fn call(conferencecall: &impl Serialize, actions: Option<Vec<Emitted>>) -> EventAnswer {
        EventAnswer {
            conferencecall: raw(conferencecall),
            recording: None,
            actions,
            pause: None,
        }
    }

    pub fn recording(recording: &impl Serialize) -> EventAnswer {
        EventAnswer {
            conferencecall: None,
            recording: raw(recording),
            actions: None,
            pause: None,
        }
    }

    /// The JSON form: sent to the platform and stored, byte for byte, for replays.
    pub fn to_json(&self) -> String {
        // Serializing raw JSON, strings and integers cannot fail; an empty object would only
        // mark a bug.
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_string())
    }

    /// Reads a stored answer back.
    pub fn from_json(stored: &str) -> Result<EventAnswer, serde_json::Error> {
        serde_json::from_str(stored)
    }

    /// The XML form (`Accept: application/xml`).
    pub fn to_xml(&self) -> String {
        super::xml::platform_answer(self)
    }
}

/// A resource's JSON, written once. Serializing the API's own JSON shapes cannot fail.
fn raw(resource: &impl Serialize) -> Option<Box<RawValue>> {
    serde_json::value::to_raw_value(resource).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_json_form_is_the_documented_shape_and_reads_back() {
        let a = EventAnswer::call(
            &json!({"id": "c", "status": "joining"}),
            Some(vec![Emitted::Beep {}]),
        );
        let text = a.to_json();
        assert_eq!(
            text,
            r#"{"conferencecall":{"id":"c","status":"joining"},"actions":[{"type":"beep","option":{}}]}"#
        );
        let back = EventAnswer::from_json(&text).map(|b| b.to_json()).ok();
        assert_eq!(
            back.as_deref(),
            Some(text.as_str()),
            "reads back byte for byte"
        );
        let r = EventAnswer::recording(&json!({"id": "r"}));
        assert_eq!(r.to_json(), r#"{"recording":{"id":"r"}}"#);
    }
}
