//! TwiML documents (Twilio, SignalWire cXML, Telnyx TeXML): an event answer's steps as
//! `<Say>`, `<Play>`, `<Pause>`, `<Hangup/>`, and the conference as a `<Dial><Conference>`.

use super::steps::{steps, Step};
use super::voices;
use super::xml::xml_safe;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::Writer;
use serde_json::Value;

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

/// The answer's actions as a TwiML `<Response>`. A `conference_join` becomes the `<Dial>`
/// that puts the call in the conference (Twilio's own beep off: a `beep` action plays one).
pub fn response(actions: &[Value], ctx: &Context<'_>) -> String {
    let mut w = open();
    for step in steps(actions) {
        match step {
            Step::Talk {
                text,
                gender,
                language,
            } => {
                let voice = voices::twiml(&gender, &language);
                element(
                    &mut w,
                    "Say",
                    &[("voice", &voice), ("language", &language)],
                    Some(&text),
                );
            }
            Step::Play(urls) => {
                for url in urls {
                    element(&mut w, "Play", &[], Some(&url));
                }
            }
            Step::Beep => element(&mut w, "Play", &[], Some(ctx.beep_url)),
            Step::Sleep(ms) => {
                let length = Step::seconds(ms).to_string();
                element(&mut w, "Pause", &[("length", &length)], None);
            }
            Step::Hangup => element(&mut w, "Hangup", &[], None),
            Step::Join => {
                let mut dial = BytesStart::new("Dial");
                dial.push_attribute(("action", xml_safe(ctx.after_url).as_str()));
                dial.push_attribute(("method", "POST"));
                // Twilio cuts a `<Dial>` off after 4 hours unless told otherwise; a
                // conference lasts until confab ends it, up to Twilio's 24-hour maximum.
                dial.push_attribute(("timeLimit", "86400"));
                put(&mut w, Event::Start(dial));
                element(
                    &mut w,
                    "Conference",
                    &[
                        ("beep", "false"),
                        ("participantLabel", ctx.label),
                        ("statusCallback", ctx.status_url),
                        ("statusCallbackEvent", "join leave"),
                        ("statusCallbackMethod", "POST"),
                    ],
                    Some(ctx.conference),
                );
                put(&mut w, Event::End(BytesEnd::new("Dial")));
            }
        }
    }
    put(&mut w, Event::End(BytesEnd::new("Response")));
    finish(w)
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
    use serde_json::json;

    #[test]
    fn actions_render_as_twiml_with_the_dial_last() {
        let ctx = Context {
            conference: "conf-1",
            after_url: "https://c/after?a=1&b=2",
            status_url: "https://c/status",
            beep_url: "https://c/beep.wav",
            label: "cc-1",
        };
        let doc = response(
            &[
                json!({"type": "talk", "option": {"text": "Hi <you> & me", "gender": "male", "language": "en-GB"}}),
                json!({"type": "beep", "option": {}}),
                json!({"type": "sleep", "option": {"duration": 1500}}),
                json!({"type": "conference_join", "option": {"conference_id": "conf-1"}}),
            ],
            &ctx,
        );
        assert_eq!(
            doc,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response>\
             <Say voice=\"Polly.Brian\" language=\"en-GB\">Hi &lt;you&gt; &amp; me</Say>\
             <Play>https://c/beep.wav</Play><Pause length=\"2\"/>\
             <Dial action=\"https://c/after?a=1&amp;b=2\" method=\"POST\" timeLimit=\"86400\"><Conference beep=\"false\" \
             participantLabel=\"cc-1\" statusCallback=\"https://c/status\" \
             statusCallbackEvent=\"join leave\" statusCallbackMethod=\"POST\">conf-1</Conference>\
             </Dial></Response>"
        );
        assert!(hangup().ends_with("<Response><Hangup/></Response>"));
    }
}
