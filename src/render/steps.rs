//! The emitted actions of an event answer read back as the media steps a dialect renders:
//! what TwiML and jambonz verbs are made from, so both read the answer the same way.

use serde_json::Value;

/// One thing the call does, as the interpreter emitted it.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Talk {
        text: String,
        gender: String,
        language: String,
    },
    Play(Vec<String>),
    Beep,
    /// Milliseconds.
    Sleep(u64),
    Hangup,
    /// Join the conference (the answer to a `call_joining` that was admitted).
    Join,
}

impl Step {
    /// Whole seconds of a pause, rounded up so a short sleep is not dropped (both dialects
    /// pause in whole seconds).
    pub fn seconds(ms: u64) -> u64 {
        ms.div_ceil(1000).max(1)
    }
}

fn text(option: &Value, name: &str, default: &str) -> String {
    option[name].as_str().unwrap_or(default).to_string()
}

/// The steps of an answer's actions. An action a dialect has no verb for is skipped and
/// logged (none exist today; the interpreter emits only these types).
pub fn steps(actions: &[Value]) -> Vec<Step> {
    actions
        .iter()
        .filter_map(|a| {
            let option = &a["option"];
            let step = match a["type"].as_str().unwrap_or("") {
                "talk" => {
                    if option["digits_handle"]
                        .as_str()
                        .is_some_and(|d| !d.is_empty())
                    {
                        tracing::debug!("talk.digits_handle has no dialect equivalent; ignored");
                    }
                    Step::Talk {
                        text: text(option, "text", ""),
                        gender: text(option, "gender", "female"),
                        language: text(option, "language", "en-US"),
                    }
                }
                "play" => Step::Play(
                    option["stream_urls"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|u| u.as_str().map(str::to_string))
                        .collect(),
                ),
                "beep" => Step::Beep,
                "sleep" => Step::Sleep(option["duration"].as_u64().unwrap_or(0)),
                "hangup" => Step::Hangup,
                "conference_join" => Step::Join,
                other => {
                    tracing::warn!(action = other, "action has no dialect verb; skipped");
                    return None;
                }
            };
            Some(step)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn actions_read_as_steps_with_defaults() {
        let s = steps(&[
            json!({"type": "talk", "option": {"text": "hi"}}),
            json!({"type": "play", "option": {"stream_urls": ["a", "b"]}}),
            json!({"type": "sleep", "option": {"duration": 1001}}),
            json!({"type": "conference_join", "option": {"conference_id": "x"}}),
            json!({"type": "mystery"}),
        ]);
        assert_eq!(
            s,
            vec![
                Step::Talk {
                    text: "hi".into(),
                    gender: "female".into(),
                    language: "en-US".into()
                },
                Step::Play(vec!["a".into(), "b".into()]),
                Step::Sleep(1001),
                Step::Join,
            ]
        );
        assert_eq!(Step::seconds(1001), 2);
        assert_eq!(Step::seconds(1), 1);
        assert_eq!(Step::seconds(600_000), 600);
    }
}
