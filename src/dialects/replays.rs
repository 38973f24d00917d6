//! Replays across builds: stored answers of the previous format read back and render as before.

use crate::dialects::jambonz::verbs as jambonz;
use crate::dialects::twilio::twiml;
use crate::render::EventAnswer;

/// Answers as the previous build (untyped actions) stored them, one per shape it wrote: every
/// action type, `digits_handle`, escapes and control characters, non-ASCII text, voices with
/// and without a Polly table entry, sleeps around a second, an empty list, a call event without
/// actions and a recording's answer.
const STORED: &[&str] = &[
    r#"{"conferencecall":{"id":"6f1c0a52-8d3e-4d8e-9a51-0e0c6b7f1a11","customer_id":"5e2b9f7e-1c3a-4b8e-8f0e-2d4c6a8b0c12","conference_id":"2a9c4e6f-8b1d-4f3a-9c5e-7d1f3b5a7c13","reference_id":"c1","status":"joining","tm_create":"2026-12-05 16:00:00.000000","tm_update":"2026-12-05 16:00:00.000000","tm_delete":"9999-01-01 00:00:00.000000"},"actions":[{"type":"talk","option":{"text":"Hello <friends> & \"family\", 欢迎\n\u0007\\ /  ","gender":"female","language":"zh-CN"}},{"type":"talk","option":{"text":"","gender":"male","language":"en-GB","digits_handle":"next"}},{"type":"play","option":{"stream_urls":["https://x.example/a.wav?x=1&y=2","https://x.example/b.wav"]}},{"type":"beep","option":{}},{"type":"sleep","option":{"duration":600000}},{"type":"sleep","option":{"duration":1}},{"type":"sleep","option":{"duration":1000}},{"type":"sleep","option":{"duration":1001}},{"type":"conference_join","option":{"conference_id":"2a9c4e6f-8b1d-4f3a-9c5e-7d1f3b5a7c13"}}]}"#,
    r#"{"conferencecall":{"id":"c","status":"joining"},"actions":[{"type":"talk","option":{"text":"Welcome to ${conference.name}","gender":"female","language":"en-US"}},{"type":"talk","option":{"text":"hallo","gender":"neutral","language":"DE-de"}},{"type":"talk","option":{"text":"hi","gender":"male","language":"xx-XX"}},{"type":"talk","option":{"text":"hi","gender":"neutral","language":"xx-XX"}},{"type":"hangup","option":{"reason":""}}]}"#,
    r#"{"conferencecall":{"id":"c","status":"leaved"},"actions":[{"type":"talk","option":{"text":"bye","gender":"male","language":"ko-KR"}},{"type":"hangup","option":{"reason":"done <now> & \"later\""}}]}"#,
    r#"{"conferencecall":{"id":"c","status":"joining"},"actions":[{"type":"conference_join","option":{"conference_id":"(simulated)"}}]}"#,
    r#"{"conferencecall":{"id":"c","status":"leaved"},"actions":[]}"#,
    r#"{"conferencecall":{"id":"c","status":"joined"}}"#,
    r#"{"recording":{"id":"r","status":"finished"}}"#,
];

/// Every form a stored answer is served in: the native JSON and XML, TwiML, and jambonz verbs
/// with the application's own speech vendor and with AWS, one per line.
fn renderings(stored: &str) -> String {
    let Ok(answer) = EventAnswer::from_json(stored) else {
        return format!("does not read: {stored}");
    };
    let actions = answer.actions.as_deref().unwrap_or(&[]);
    let twiml = twiml::response(
        actions,
        &twiml::Context {
            conference: "2a9c4e6f-8b1d-4f3a-9c5e-7d1f3b5a7c13",
            after_url: "https://confab.example/v1.0/twiml/a/conferences/b/after?x=1&y=2",
            status_url: "https://confab.example/v1.0/twiml/a/conferences/b/status",
            gather_url: "https://confab.example/v1.0/twiml/a/conferences/b/gather?pause=1",
            beep_url: "https://confab.example/v1.0/sounds/beep.wav",
            label: "6f1c0a52-8d3e-4d8e-9a51-0e0c6b7f1a11",
        },
    );
    let jambonz = |tts_vendor: &str| {
        jambonz::verbs(
            actions,
            &jambonz::Context {
                conference: "2a9c4e6f-8b1d-4f3a-9c5e-7d1f3b5a7c13",
                after_url: "https://confab.example/v1.0/jambonz/a/conferences/b/after",
                status_url: "https://confab.example/v1.0/jambonz/a/conferences/b/status",
                gather_url: "https://confab.example/v1.0/jambonz/a/conferences/b/gather?pause=1",
                wait_url: "https://confab.example/v1.0/jambonz/a/conferences/b/wait",
                beep_url: "https://confab.example/v1.0/sounds/beep.wav",
                tts_vendor,
            },
        )
        .to_string()
    };
    [
        answer.to_json(),
        answer.to_xml(),
        twiml,
        jambonz("default"),
        jambonz("aws"),
    ]
    .join("\n")
}

/// What the previous build served for each of `STORED`, one block per answer: its JSON, XML,
/// TwiML and jambonz (default vendor, then AWS) forms, written by that build's renderers.
const GOLDEN: &str = include_str!("replays.golden");

#[test]
fn a_stored_answer_of_the_previous_build_reads_back_typed_and_writes_the_same_bytes() {
    for stored in STORED {
        let answer = EventAnswer::from_json(stored);
        assert!(answer.is_ok(), "{stored}: {answer:?}");
        let answer = answer.unwrap();
        assert_eq!(answer.to_json(), *stored);
        let untyped: serde_json::Value = serde_json::from_str(stored).unwrap();
        assert_eq!(
            answer.actions.iter().flatten().count(),
            untyped["actions"].as_array().map_or(0, Vec::len),
            "{stored}: every action reads as a typed one"
        );
    }
}

#[test]
fn a_stored_answer_renders_in_every_form_as_the_previous_build_rendered_it() {
    let golden: Vec<&str> = GOLDEN.trim_end().split("\n\n").collect();
    assert_eq!(golden.len(), STORED.len());
    for (stored, expected) in STORED.iter().zip(golden) {
        assert_eq!(renderings(stored), expected, "{stored}");
    }
}
