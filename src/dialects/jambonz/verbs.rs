//! jambonz verbs (JSON) rendered from emitted actions.

use crate::actions::Emitted;
use crate::dialects::{voices, whole_seconds};
use serde_json::{json, Value};

/// What the verbs need besides the actions.
pub struct Context<'a> {
    /// The conference's name on the platform (confab's conference id).
    pub conference: &'a str,
    /// `actionHook`: jambonz requests it when the call leaves the conference.
    pub after_url: &'a str,
    /// `statusHook`: joins and leaves.
    pub status_url: &'a str,
    /// `gather`'s `actionHook`: the caller's digits for the pause the answer ends with.
    pub gather_url: &'a str,
    /// `conference`'s `waitHook`: what a caller waiting for the room to start hears.
    pub wait_url: &'a str,
    pub beep_url: &'a str,
    /// The speech vendor `say` names (the customer's `tts_vendor`).
    pub tts_vendor: &'a str,
}

/// The answer's actions as a list of verbs: a talk is a `say`, play and beep are `play`, a
/// sleep a `pause`, a hangup `hangup`, and `conference_join` a `conference` verb whose hooks
/// call confab back. jambonz's `say` has no gender and voice names are the speech vendor's
/// own: with the `aws` vendor the gender and language pick a Polly voice (`voices`); with
/// `default` (the application's own vendor) or another, the voice is left to the application
/// and the gender cannot be expressed.
pub fn verbs(actions: &[Emitted], ctx: &Context<'_>) -> Value {
    let mut out = Vec::new();
    for action in actions {
        match action {
            Emitted::Talk {
                text,
                gender,
                language,
                digits_handle,
            } => {
                if !digits_handle.is_empty() {
                    tracing::debug!("talk.digits_handle has no jambonz equivalent; ignored");
                }
                let mut synthesizer = json!({"vendor": ctx.tts_vendor, "language": language});
                if ctx.tts_vendor == "aws" {
                    if let Some(voice) = voices::polly(*gender, language) {
                        synthesizer["voice"] = json!(voice);
                    }
                }
                out.push(json!({"verb": "say", "text": text, "synthesizer": synthesizer}));
            }
            Emitted::Play { stream_urls } => {
                out.extend(
                    stream_urls
                        .iter()
                        .map(|u| json!({"verb": "play", "url": u})),
                );
            }
            Emitted::Beep {} => out.push(json!({"verb": "play", "url": ctx.beep_url})),
            Emitted::Sleep { duration_ms } => {
                out.push(json!({"verb": "pause", "length": whole_seconds(*duration_ms)}))
            }
            Emitted::Hangup { .. } => out.push(json!({"verb": "hangup"})),
            Emitted::DigitsReceive {
                duration_ms,
                key,
                length,
            } => out.push(gather(*duration_ms, key, *length, ctx.gather_url)),
            Emitted::ConferenceJoin { .. } => out.push(conference(action, ctx)),
        }
    }
    Value::Array(out)
}

/// The `conference` verb that puts the call in the room, with the hooks that report its joins
/// and leaves and its end. A join carrying room rules (§14) says whether this call starts and
/// ends the room and joins muted; a caller who waits for a moderator hears the room's music
/// through `waitHook`, which confab answers with a looping `play`.
fn conference(action: &Emitted, ctx: &Context<'_>) -> Value {
    let mut verb = json!({
        "verb": "conference",
        "name": ctx.conference,
        "beep": false,
        "startConferenceOnEnter": true,
        "statusHook": ctx.status_url,
        "statusEvents": ["join", "leave"],
        "actionHook": ctx.after_url,
    });
    if let Some(o) = action.join_options() {
        verb["startConferenceOnEnter"] = json!(o.start_on_enter);
        verb["endConferenceOnExit"] = json!(o.end_on_exit);
        verb["joinMuted"] = json!(o.muted);
        if !o.wait_music_url.is_empty() {
            verb["waitHook"] = json!(ctx.wait_url);
        }
    }
    verb
}

/// What a caller waiting for the room to start hears: the room's music, looped; nothing when
/// it has none.
pub fn wait(music_url: &str) -> Value {
    if music_url.is_empty() {
        return json!([]);
    }
    json!([{"verb": "play", "url": music_url, "loop": "forever"}])
}

/// A `digits_receive` as the `gather` that ends the verbs: jambonz posts what was entered (or
/// that nothing was) to `actionHook`, whose answer continues the list. `finishOnKey` is one key
/// in jambonz, so of several the first is used; none is left out.
fn gather(duration_ms: u32, key: &str, length: u32, action_hook: &str) -> Value {
    let mut verb = json!({
        "verb": "gather",
        "input": ["digits"],
        "maxDigits": length,
        "timeout": whole_seconds(duration_ms),
        "actionHook": action_hook,
    });
    if let Some(first) = key.chars().next() {
        verb["finishOnKey"] = json!(first.to_string());
    }
    verb
}

/// The answer to a call confab will not take: hang up.
pub fn hangup() -> Value {
    json!([{"verb": "hangup"}])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::Gender;

    fn ctx(tts_vendor: &str) -> Context<'_> {
        Context {
            conference: "conf-1",
            after_url: "https://c/after",
            status_url: "https://c/status",
            gather_url: "https://c/gather?pause=1",
            wait_url: "https://c/wait",
            beep_url: "https://c/beep.wav",
            tts_vendor,
        }
    }

    fn talk(gender: Gender, language: &str) -> Emitted {
        Emitted::Talk {
            text: "Hi".into(),
            gender,
            language: language.into(),
            digits_handle: "next".into(),
        }
    }

    #[test]
    fn actions_render_as_verbs_with_the_conference_last() {
        let v = verbs(
            &[
                talk(Gender::Female, "xx-XX"),
                Emitted::Play {
                    stream_urls: vec!["https://x/a.wav".into()],
                },
                Emitted::Beep {},
                Emitted::Sleep { duration_ms: 10 },
                Emitted::ConferenceJoin {
                    conference_id: "conf-1".into(),
                    role: None,
                    muted: None,
                    start_on_enter: None,
                    end_on_exit: None,
                    wait_music_url: None,
                },
            ],
            &ctx("default"),
        );
        assert_eq!(
            v,
            json!([
                {"verb": "say", "text": "Hi", "synthesizer": {"vendor": "default", "language": "xx-XX"}},
                {"verb": "play", "url": "https://x/a.wav"},
                {"verb": "play", "url": "https://c/beep.wav"},
                {"verb": "pause", "length": 1},
                {"verb": "conference", "name": "conf-1", "beep": false, "startConferenceOnEnter": true,
                 "statusHook": "https://c/status", "statusEvents": ["join", "leave"],
                 "actionHook": "https://c/after"}
            ])
        );
    }

    #[test]
    fn the_aws_vendor_gets_a_polly_voice_and_a_hangup_hangs_up() {
        let v = verbs(
            &[
                talk(Gender::Male, "en-GB"),
                Emitted::Hangup {
                    reason: "busy".into(),
                },
            ],
            &ctx("aws"),
        );
        assert_eq!(
            v.to_string(),
            r#"[{"verb":"say","text":"Hi","synthesizer":{"vendor":"aws","language":"en-GB","voice":"Brian"}},{"verb":"hangup"}]"#
        );
    }
}
