//! TwiML documents (Twilio, SignalWire cXML, Telnyx TeXML) rendered from emitted actions.

use crate::actions::Emitted;
use crate::dialects::{voices, whole_seconds};
use crate::domain::room::JoinOptions;
use crate::render::xml::xml_safe;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::Writer;

/// What the documents need besides the actions: the callback URLs and the beep sound.
pub struct Context<'a> {
    /// The conference's name on the platform (confab's conference id).
    pub conference: &'a str,
    /// `<Dial action>`: Twilio requests it when the call leaves the conference.
    pub after_url: &'a str,
    /// `<Conference statusCallback>`: participant joins and leaves.
    pub status_url: &'a str,
    pub beep_url: &'a str,
    /// `participantLabel`: the conferencecall id, so the platform's participant names it.
    pub label: &'a str,
    /// `<Gather action>`: the caller's digits for the pause the answer ends with.
    pub gather_url: &'a str,
}

fn put(w: &mut Writer<Vec<u8>>, e: Event<'_>) {
    // Writing into a Vec cannot fail.
    let _ = w.write_event(e);
}

fn element(w: &mut Writer<Vec<u8>>, name: &str, attrs: &[(&str, &str)], text: Option<&str>) {
    let mut start = BytesStart::new(name);
    for (k, v) in attrs {
        start.push_attribute((*k, xml_safe(v).as_str()));
    }
    match text {
        Some(t) => {
            put(w, Event::Start(start));
            put(w, Event::Text(BytesText::new(&xml_safe(t))));
            put(w, Event::End(BytesEnd::new(name)));
        }
        None => put(w, Event::Empty(start)),
    }
}

fn finish(w: Writer<Vec<u8>>) -> String {
    String::from_utf8_lossy(&w.into_inner()).into_owned()
}

fn open() -> Writer<Vec<u8>> {
    let mut w = Writer::new(Vec::new());
    put(
        &mut w,
        Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)),
    );
    put(&mut w, Event::Start(BytesStart::new("Response")));
    w
}

/// The answer's actions as a TwiML `<Response>`: a talk is a `<Say>`, play and beep are
/// `<Play>`, a sleep a `<Pause>`, a hangup `<Hangup/>`, and `conference_join` the `<Dial>`
/// that puts the call in the conference (Twilio's own beep off: a `beep` action plays one).
pub fn response(actions: &[Emitted], ctx: &Context<'_>) -> String {
    let mut w = open();
    for action in actions {
        match action {
            Emitted::Talk {
                text,
                gender,
                language,
                digits_handle,
            } => {
                if !digits_handle.is_empty() {
                    tracing::debug!("talk.digits_handle has no TwiML equivalent; ignored");
                }
                let voice = voices::twiml(*gender, language);
                element(
                    &mut w,
                    "Say",
                    &[("voice", &voice), ("language", language)],
                    Some(text),
                );
            }
            Emitted::Play { stream_urls } => {
                for url in stream_urls {
                    element(&mut w, "Play", &[], Some(url));
                }
            }
            Emitted::Beep {} => element(&mut w, "Play", &[], Some(ctx.beep_url)),
            Emitted::Sleep { duration_ms } => {
                let length = whole_seconds(*duration_ms).to_string();
                element(&mut w, "Pause", &[("length", &length)], None);
            }
            Emitted::Hangup { .. } => element(&mut w, "Hangup", &[], None),
            Emitted::DigitsReceive {
                duration_ms,
                key,
                length,
            } => gather(&mut w, *duration_ms, key, *length, ctx.gather_url),
            Emitted::ConferenceJoin { .. } => dial(&mut w, ctx, action.join_options()),
        }
    }
    put(&mut w, Event::End(BytesEnd::new("Response")));
    finish(w)
}

/// A `digits_receive` as the `<Gather>` that ends the document: Twilio collects the digits and
/// posts them to `action` even when none came (`actionOnEmptyResult`), and the answer to that
/// continues the list. Twilio ends input on `#` unless told otherwise, so no key is said as an
/// empty `finishOnKey`; it takes one key, so of several the first is used.
fn gather(w: &mut Writer<Vec<u8>>, duration_ms: u32, key: &str, length: u32, action: &str) {
    let digits = length.to_string();
    let finish: String = key.chars().take(1).collect();
    let timeout = whole_seconds(duration_ms).to_string();
    element(
        w,
        "Gather",
        &[
            ("input", "dtmf"),
            ("numDigits", &digits),
            ("finishOnKey", &finish),
            ("timeout", &timeout),
            ("action", action),
            ("method", "POST"),
            ("actionOnEmptyResult", "true"),
        ],
        None,
    );
}

/// The `<Dial><Conference>` that puts the call in the conference, with the callbacks that
/// report its joins and leaves and its end. A join carrying room rules (§14) says whether the
/// call starts and ends the room and joins muted; a call that waits for a moderator hears
/// `waitUrl` (Twilio plays an audio URL as it is, fetched with GET; `""` is silence, where
/// leaving it out would be Twilio's own hold music).
fn dial(w: &mut Writer<Vec<u8>>, ctx: &Context<'_>, join: Option<JoinOptions>) {
    let mut dial = BytesStart::new("Dial");
    dial.push_attribute(("action", xml_safe(ctx.after_url).as_str()));
    dial.push_attribute(("method", "POST"));
    // Twilio cuts a `<Dial>` off after 4 hours unless told otherwise; a conference lasts
    // until confab ends it, up to Twilio's 24-hour maximum.
    dial.push_attribute(("timeLimit", "86400"));
    put(w, Event::Start(dial));
    let mut attrs: Vec<(&str, String)> = vec![
        ("beep", "false".into()),
        ("participantLabel", ctx.label.into()),
        ("statusCallback", ctx.status_url.into()),
        ("statusCallbackEvent", "join leave mute hold".into()),
        ("statusCallbackMethod", "POST".into()),
    ];
    if let Some(o) = join {
        attrs.push(("startConferenceOnEnter", o.start_on_enter.to_string()));
        attrs.push(("endConferenceOnExit", o.end_on_exit.to_string()));
        attrs.push(("muted", o.muted.to_string()));
        if !o.wait_music_url.is_empty() {
            // Twilio requests `waitUrl` with POST unless told otherwise; the music is an audio
            // file, which static hosts (nginx, S3) refuse to POST and which Twilio caches only
            // when fetched with GET, as its docs ask for a WAV or MP3.
            attrs.push(("waitMethod", "GET".into()));
        }
        if !o.start_on_enter || !o.wait_music_url.is_empty() {
            attrs.push(("waitUrl", o.wait_music_url));
        }
    }
    let attrs: Vec<(&str, &str)> = attrs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    element(w, "Conference", &attrs, Some(ctx.conference));
    put(w, Event::End(BytesEnd::new("Dial")));
}

/// The answer to a call confab will not take (the conference is closed, full, unknown, or the
/// call is busy elsewhere): hang up, never a `<Dial>`.
pub fn hangup() -> String {
    let mut w = open();
    element(&mut w, "Hangup", &[], None);
    put(&mut w, Event::End(BytesEnd::new("Response")));
    finish(w)
}

/// An empty `<Response/>`: the answer to status callbacks, which Twilio does not play.
pub fn empty() -> String {
    let mut w = open();
    put(&mut w, Event::End(BytesEnd::new("Response")));
    finish(w)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::Gender;

    fn context() -> Context<'static> {
        Context {
            conference: "conf-1",
            after_url: "https://c/after?a=1&b=2",
            status_url: "https://c/status",
            gather_url: "https://c/gather?pause=1",
            beep_url: "https://c/beep.wav",
            label: "cc-1",
        }
    }

    #[test]
    fn actions_render_as_twiml_with_the_dial_last() {
        let ctx = context();
        let doc = response(
            &[
                Emitted::Talk {
                    text: "Hi <you> & me".into(),
                    gender: Gender::Male,
                    language: "en-GB".into(),
                    digits_handle: String::new(),
                },
                Emitted::Play {
                    stream_urls: vec!["https://x/a.wav".into(), "https://x/b.wav".into()],
                },
                Emitted::Beep {},
                Emitted::Sleep { duration_ms: 1500 },
                Emitted::ConferenceJoin {
                    conference_id: "conf-1".into(),
                    role: None,
                    muted: None,
                    start_on_enter: None,
                    end_on_exit: None,
                    wait_music_url: None,
                },
            ],
            &ctx,
        );
        assert_eq!(
            doc,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>\
             <Say voice=\"Polly.Brian\" language=\"en-GB\">Hi &lt;you&gt; &amp; me</Say>\
             <Play>https://x/a.wav</Play><Play>https://x/b.wav</Play>\
             <Play>https://c/beep.wav</Play><Pause length=\"2\"/>\
             <Dial action=\"https://c/after?a=1&amp;b=2\" method=\"POST\" timeLimit=\"86400\"><Conference beep=\"false\" \
             participantLabel=\"cc-1\" statusCallback=\"https://c/status\" \
             statusCallbackEvent=\"join leave mute hold\" statusCallbackMethod=\"POST\">conf-1</Conference>\
             </Dial></Response>"
        );
        let hung_up = response(
            &[Emitted::Hangup {
                reason: "busy".into(),
            }],
            &ctx,
        );
        assert!(hung_up.ends_with("<Response><Hangup/></Response>"));
        assert_eq!(hung_up, hangup());
    }

    /// A join with room rules (§14) says how the call enters; the music is fetched with GET
    /// (a static audio file), and a caller who waits without music hears silence.
    #[test]
    fn a_join_with_room_rules_says_how_the_call_enters_the_room() {
        use crate::domain::room::{Role, RoomRules};
        let join = |rules: &RoomRules, role: Role| {
            response(
                &[Emitted::join("conf-1", rules.join_options(role))],
                &context(),
            )
        };
        let moderated = RoomRules {
            wait_for_moderator: true,
            end_on_moderator_exit: true,
            wait_music_url: "https://m/hold.mp3?a=1&b=2".into(),
            ..RoomRules::default()
        };
        assert!(join(&moderated, Role::Moderator).contains(
            "startConferenceOnEnter=\"true\" endConferenceOnExit=\"true\" muted=\"false\" \
             waitMethod=\"GET\" waitUrl=\"https://m/hold.mp3?a=1&amp;b=2\">conf-1<"
        ));
        let silent = RoomRules {
            wait_for_moderator: true,
            ..RoomRules::default()
        };
        assert!(join(&silent, Role::Listener).contains(
            "startConferenceOnEnter=\"false\" endConferenceOnExit=\"false\" muted=\"true\" \
             waitUrl=\"\">conf-1<"
        ));
        let open = join(&RoomRules::default(), Role::Participant);
        assert!(open.contains("muted=\"false\">conf-1<"), "{open}");
    }
}
