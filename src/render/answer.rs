//! The answer to a platform event as one typed value: its JSON form is what the platform
//! receives and what is stored for replays; its XML form is rendered from the same value.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

/// `{"conferencecall", "actions"}` for call events, `{"recording"}` for a finished recording.
/// The resources are kept as the JSON the API renders for them (raw), so they are written once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventAnswer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conferencecall: Option<Box<RawValue>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording: Option<Box<RawValue>>,
    /// The actions the call must perform; absent for events that run none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actions: Option<Vec<Value>>,
}

impl EventAnswer {
    /// A call event's answer, with the actions it runs (if it runs any).
    pub fn call(conferencecall: &impl Serialize, actions: Option<Vec<Value>>) -> EventAnswer {
        EventAnswer {
            conferencecall: raw(conferencecall),
            recording: None,
            actions,
        }
    }

    pub fn recording(recording: &impl Serialize) -> EventAnswer {
        EventAnswer {
            conferencecall: None,
            recording: raw(recording),
            actions: None,
        }
    }

    /// The JSON form: sent to the platform and stored, byte for byte, for replays.
    pub fn to_json(&self) -> String {
        // Serializing plain JSON values cannot fail; an empty object would only hide a bug.
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
            Some(vec![json!({"type": "beep", "option": {}})]),
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
