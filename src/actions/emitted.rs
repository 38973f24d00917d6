//! What a run emits for the call to perform: media actions as resolved, and `conference_join`.

use super::Gender;
use crate::domain::room::{JoinOptions, Role};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One action the call performs, in the form the interpreter resolved it: variables
/// substituted and defaults (gender, language) filled in. A join's answer ends with
/// `ConferenceJoin`. Engine-side actions (webhooks, recordings) are effects, never emitted.
///
/// The serde form is the native answer's `{"type": …, "option": {…}}` object, byte for byte
/// what every earlier build wrote and stored for replays: option fields in the order declared
/// here, `digits_handle` only when set, `beep` with an empty `option`. A stored answer reads
/// back into this type and writes out the same bytes (tested in `render::answer`), so the
/// declaration order and attributes below are the stored format and must not change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "option", rename_all = "snake_case")]
pub enum Emitted {
    Talk {
        text: String,
        gender: Gender,
        language: String,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        digits_handle: String,
    },
    Play {
        stream_urls: Vec<String>,
    },
    /// A struct variant without fields, because serde writes a unit variant's adjacent tag
    /// without its content, and stored answers carry `"option":{}`.
    Beep {},
    Sleep {
        #[serde(rename = "duration")]
        duration_ms: u32,
    },
    Hangup {
        reason: String,
    },
    /// Collect the caller's digits; the run is paused until they are reported (§13). Always
    /// the last action of an answer.
    DigitsReceive {
        #[serde(rename = "duration")]
        duration_ms: u32,
        key: String,
        length: u32,
    },
    /// Join the conference: appended to a join's actions unless the run hung up or paused.
    /// How the call joins (§14) is carried since roles exist; answers stored before have only
    /// `conference_id`, read back with the rest absent and written out as they were.
    ConferenceJoin {
        conference_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        role: Option<Role>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        muted: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        start_on_enter: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        end_on_exit: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        wait_music_url: Option<String>,
    },
}

impl Emitted {
    /// The `conference_join` that puts a call in a conference with these options.
    pub fn join(conference_id: &str, options: JoinOptions) -> Emitted {
        Emitted::ConferenceJoin {
            conference_id: conference_id.to_string(),
            role: Some(options.role),
            muted: Some(options.muted),
            start_on_enter: Some(options.start_on_enter),
            end_on_exit: Some(options.end_on_exit),
            wait_music_url: Some(options.wait_music_url),
        }
    }

    /// How a `conference_join` puts the call in the room; `None` for other actions and for a
    /// join stored before roles existed (rendered as joins were then).
    pub fn join_options(&self) -> Option<JoinOptions> {
        match self {
            Emitted::ConferenceJoin {
                role: Some(role),
                muted,
                start_on_enter,
                end_on_exit,
                wait_music_url,
                ..
            } => Some(JoinOptions {
                role: *role,
                muted: muted.unwrap_or(false),
                start_on_enter: start_on_enter.unwrap_or(true),
                end_on_exit: end_on_exit.unwrap_or(false),
                wait_music_url: wait_music_url.clone().unwrap_or_default(),
            }),
            _ => None,
        }
    }

    /// The action's `type`, as its JSON form names it (a test holds the two together).
    pub fn type_name(&self) -> &'static str {
        match self {
            Emitted::Talk { .. } => "talk",
            Emitted::Play { .. } => "play",
            Emitted::Beep {} => "beep",
            Emitted::Sleep { .. } => "sleep",
            Emitted::Hangup { .. } => "hangup",
            Emitted::DigitsReceive { .. } => "digits_receive",
            Emitted::ConferenceJoin { .. } => "conference_join",
        }
    }

    /// The JSON form as a value, for traces and answers built as values.
    pub fn to_json(&self) -> Value {
        // The form holds only strings and integers, so serializing it cannot fail; `Null` would
        // only mark a bug, never hide input.
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    /// How the interpreter built an emitted action before it was typed (copied from the
    /// previous build), kept to prove the typed form writes the same bytes.
    fn legacy(e: &Emitted) -> Value {
        match e {
            Emitted::Talk {
                text,
                gender,
                language,
                digits_handle,
            } => {
                let mut option =
                    json!({"text": text, "gender": gender.as_str(), "language": language});
                if !digits_handle.is_empty() {
                    option["digits_handle"] = json!(digits_handle);
                }
                json!({"type": "talk", "option": option})
            }
            Emitted::Play { stream_urls } => {
                json!({"type": "play", "option": {"stream_urls": stream_urls}})
            }
            Emitted::Beep {} => json!({"type": "beep", "option": {}}),
            Emitted::Sleep { duration_ms } => {
                json!({"type": "sleep", "option": {"duration": duration_ms}})
            }
            Emitted::Hangup { reason } => json!({"type": "hangup", "option": {"reason": reason}}),
            Emitted::DigitsReceive {
                duration_ms,
                key,
                length,
            } => {
                json!({"type": "digits_receive", "option": {"duration": duration_ms, "key": key, "length": length}})
            }
            Emitted::ConferenceJoin {
                conference_id,
                role: None,
                ..
            } => {
                json!({"type": "conference_join", "option": {"conference_id": conference_id}})
            }
            Emitted::ConferenceJoin {
                conference_id,
                role: Some(role),
                muted,
                start_on_enter,
                end_on_exit,
                wait_music_url,
            } => json!({"type": "conference_join", "option": {"conference_id": conference_id,
                "role": role.as_str(), "muted": muted, "start_on_enter": start_on_enter,
                "end_on_exit": end_on_exit, "wait_music_url": wait_music_url}}),
        }
    }

    fn arb_emitted() -> impl Strategy<Value = Emitted> {
        let text = "(\\PC|[\u{0}-\u{1f}\"\\\\<>&/\u{7f}\u{2028}\u{fffe}]){0,12}";
        let gender = prop_oneof![
            Just(Gender::Male),
            Just(Gender::Female),
            Just(Gender::Neutral)
        ];
        prop_oneof![
            (
                text,
                gender,
                text,
                prop_oneof![Just(String::new()), Just("next".to_string())]
            )
                .prop_map(|(text, gender, language, digits_handle)| Emitted::Talk {
                    text,
                    gender,
                    language,
                    digits_handle,
                }),
            proptest::collection::vec(text, 0..4)
                .prop_map(|stream_urls| Emitted::Play { stream_urls }),
            Just(Emitted::Beep {}),
            any::<u32>().prop_map(|duration_ms| Emitted::Sleep { duration_ms }),
            text.prop_map(|reason| Emitted::Hangup { reason }),
            (any::<u32>(), text, any::<u32>()).prop_map(|(duration_ms, key, length)| {
                Emitted::DigitsReceive {
                    duration_ms,
                    key,
                    length,
                }
            }),
            text.prop_map(|conference_id| Emitted::ConferenceJoin {
                conference_id,
                role: None,
                muted: None,
                start_on_enter: None,
                end_on_exit: None,
                wait_music_url: None,
            }),
            (text, any::<bool>(), any::<bool>(), text).prop_map(|(id, a, b, url)| {
                let rules = crate::domain::room::RoomRules {
                    wait_for_moderator: a,
                    end_on_moderator_exit: b,
                    wait_music_url: url,
                    ..Default::default()
                };
                Emitted::join(&id, rules.join_options(Role::Moderator))
            }),
        ]
    }

    proptest! {
        /// The typed form writes exactly the bytes the untyped one did, and those bytes read
        /// back into the same value.
        #[test]
        fn writes_the_bytes_of_the_previous_build_and_reads_them_back(e in arb_emitted()) {
            let typed = serde_json::to_string(&e).unwrap();
            prop_assert_eq!(&typed, &legacy(&e).to_string());
            prop_assert_eq!(serde_json::from_str::<Emitted>(&typed).unwrap(), e.clone());
            let json = e.to_json();
            prop_assert_eq!(json["type"].as_str(), Some(e.type_name()));
        }
    }

    #[test]
    fn the_stored_shapes_read_as_typed_actions() {
        let stored = r#"[{"type":"talk","option":{"text":"hi","gender":"male","language":"ko-KR","digits_handle":"next"}},{"type":"beep","option":{}},{"type":"sleep","option":{"duration":1500}}]"#;
        let read: Vec<Emitted> = serde_json::from_str(stored).unwrap();
        assert_eq!(
            read,
            vec![
                Emitted::Talk {
                    text: "hi".into(),
                    gender: Gender::Male,
                    language: "ko-KR".into(),
                    digits_handle: "next".into(),
                },
                Emitted::Beep {},
                Emitted::Sleep { duration_ms: 1500 },
            ]
        );
        assert_eq!(serde_json::to_string(&read).unwrap(), stored);
        assert!(serde_json::from_str::<Emitted>(r#"{"type":"webhook_send","option":{}}"#).is_err());
    }
}
