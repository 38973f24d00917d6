//! jambonz verbs (JSON): an event answer's steps as `say`, `play`, `pause`, `hangup`, and the
//! conference as a `conference` verb whose hooks call confab back.

use super::steps::{steps, Step};
use super::voices;
use serde_json::{json, Value};

/// What the verbs need besides the actions.
pub struct Context<'a> {
    /// The conference's name on the platform (confab's conference id).
    pub conference: &'a str,
    /// `actionHook`: jambonz requests it when the call leaves the conference.
    pub after_url: &'a str,
    /// `statusHook`: joins and leaves.
    pub status_url: &'a str,
    pub beep_url: &'a str,
    /// The speech vendor `say` names (the customer's `tts_vendor`).
    pub tts_vendor: &'a str,
}

/// The answer's actions as a list of verbs. jambonz's `say` has no gender and voice names
/// are the speech vendor's own: with the `aws` vendor the gender and language pick a Polly
/// voice (`voices`); with `default` (the application's own vendor) or another, the voice is
/// left to the application and the gender cannot be expressed.
pub fn verbs(actions: &[Value], ctx: &Context<'_>) -> Value {
    let mut out = Vec::new();
    for step in steps(actions) {
        match step {
            Step::Talk {
                text,
                gender,
                language,
            } => {
                let mut synthesizer = json!({"vendor": ctx.tts_vendor, "language": language});
                if ctx.tts_vendor == "aws" {
                    if let Some(voice) = voices::polly(&gender, &language) {
                        synthesizer["voice"] = json!(voice);
                    }
                }
                out.push(json!({"verb": "say", "text": text, "synthesizer": synthesizer}));
            }
            Step::Play(urls) => {
                out.extend(urls.into_iter().map(|u| json!({"verb": "play", "url": u})));
            }
            Step::Beep => out.push(json!({"verb": "play", "url": ctx.beep_url})),
            Step::Sleep(ms) => out.push(json!({"verb": "pause", "length": Step::seconds(ms)})),
            Step::Hangup => out.push(json!({"verb": "hangup"})),
            Step::Join => out.push(json!({
                "verb": "conference",
                "name": ctx.conference,
                "beep": false,
                "startConferenceOnEnter": true,
                "statusHook": ctx.status_url,
                "statusEvents": ["join", "leave"],
                "actionHook": ctx.after_url,
            })),
        }
    }
    Value::Array(out)
}

/// The answer to a call confab will not take: hang up.
pub fn hangup() -> Value {
    json!([{"verb": "hangup"}])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_render_as_verbs_with_the_conference_last() {
        let ctx = Context {
            conference: "conf-1",
            after_url: "https://c/after",
            status_url: "https://c/status",
            beep_url: "https://c/beep.wav",
            tts_vendor: "default",
        };
        let v = verbs(
            &[
                json!({"type": "talk", "option": {"text": "Hi", "gender": "female", "language": "xx-XX"}}),
                json!({"type": "sleep", "option": {"duration": 10}}),
                json!({"type": "conference_join", "option": {}}),
            ],
            &ctx,
        );
        assert_eq!(
            v,
            json!([
                {"verb": "say", "text": "Hi", "synthesizer": {"vendor": "default", "language": "xx-XX"}},
                {"verb": "pause", "length": 1},
                {"verb": "conference", "name": "conf-1", "beep": false, "startConferenceOnEnter": true,
                 "statusHook": "https://c/status", "statusEvents": ["join", "leave"],
                 "actionHook": "https://c/after"}
            ])
        );
    }
}
