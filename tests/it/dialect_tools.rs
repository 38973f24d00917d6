//! The platform libraries the dialect tests check confab against (support::tools) install and
//! answer as the platforms do: twilio-python reproduces Twilio's own published test vectors,
//! builds TwiML, and jambonz's validators accept and refuse what the feature server would.

use crate::support::tools::{
    jambonz_payload, jambonz_schema_validate, jambonz_validate, twilio_tool,
};
use serde_json::json;

// twilio-python's tests/unit/test_request_validator.py (twilio/twilio-python): its vectors.
const TOKEN: &str = "12345";
const URI: &str = "https://mycompany.com/myapp.php?foo=1&bar=2";
const BODY: &str = r#"{"property": "value", "boolean": true}"#;
const BODY_HASH: &str = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";

fn form() -> serde_json::Value {
    json!({
        "CallSid": "CA1234567890ABCDE",
        "Digits": "1234",
        "From": "+14158675309",
        "To": "+18005551212",
        "Caller": "+14158675309",
    })
}

#[test]
fn twilio_python_signs_twilios_own_vectors() {
    let signed =
        twilio_tool(json!({"cmd": "sign", "auth_token": TOKEN, "url": URI, "params": form()}));
    assert_eq!(signed["signature"], "RSOYDt4T1cUTdK1PDd93/VVr8B8=");

    // Repeated fields: names sorted, each name's values sorted and deduplicated.
    let params = json!({"Sid": "CA123", "SidAccount": "AC123", "Digits": ["5678", "1234", "1234"]});
    let signed =
        twilio_tool(json!({"cmd": "sign", "auth_token": TOKEN, "url": URI, "params": params}));
    assert_eq!(signed["signature"], "IK+Dwps556ElfBT0I3Rgjkr1wJU=");

    // Validation accepts the URL signed with or without the scheme's default port.
    let validate = |url: &str, sig: &str| {
        twilio_tool(json!({"cmd": "validate", "auth_token": TOKEN, "url": url, "params": form(), "signature": sig}))["valid"]
            .clone()
    };
    assert_eq!(validate(URI, "RSOYDt4T1cUTdK1PDd93/VVr8B8="), true);
    assert_eq!(validate(URI, "kvajT1Ptam85bY51eRf/AJRuM3w="), true); // signed with :443
    let http = URI.replace("https", "http");
    assert_eq!(validate(&http, "0ZXoZLH/DfblKGATFgpif+LLRf4="), true); // signed with :80
    assert_eq!(validate(URI, "RSOYDt4T1cUTdK1PDd93/VVr8B8X"), false);

    // JSON bodies: the URL carries bodySHA256, the signature covers the URL alone.
    let hash = twilio_tool(json!({"cmd": "hash", "body": BODY}));
    assert_eq!(hash["hash"], BODY_HASH);
    let url = format!("{URI}&bodySHA256={BODY_HASH}");
    let ok = twilio_tool(
        json!({"cmd": "validate", "auth_token": TOKEN, "url": url, "body": BODY,
        "signature": "a9nBmqA0ju/hNViExpshrM61xv4="}),
    );
    assert_eq!(ok["valid"], true);
}

#[test]
fn twilio_python_builds_twiml() {
    let verbs = json!([
        {"verb": "say", "text": "Hi", "voice": "Polly.Joanna", "language": "en-US"},
        {"verb": "play", "url": "https://x/a.wav"},
        {"verb": "pause", "length": 2},
        {"verb": "hangup"},
        {"verb": "dial", "action": "https://h/after", "conference": {
            "name": "room 1", "statusCallback": "https://h/status",
            "statusCallbackEvent": "join leave", "participantLabel": "p1"}},
    ]);
    let out = twilio_tool(json!({"cmd": "twiml", "verbs": verbs}));
    // twilio-python sorts attributes and writes `<X />`: compare parsed XML in real tests.
    assert_eq!(
        out["twiml"],
        concat!(
            r#"<?xml version="1.0" encoding="UTF-8"?><Response>"#,
            r#"<Say language="en-US" voice="Polly.Joanna">Hi</Say>"#,
            r#"<Play>https://x/a.wav</Play><Pause length="2" /><Hangup />"#,
            r#"<Dial action="https://h/after"><Conference participantLabel="p1" "#,
            r#"statusCallback="https://h/status" statusCallbackEvent="join leave">room 1</Conference>"#,
            r#"</Dial></Response>"#
        )
    );
}

#[tokio::test]
async fn jambonz_validators_accept_and_refuse_as_the_feature_server_does() {
    // From async code, through spawn_blocking (the first call may install for minutes).
    let checked = tokio::task::spawn_blocking(|| {
        (
            jambonz_validate(&json!([{"verb": "say", "text": "hi"}])),
            jambonz_validate(&json!([{"verb": "nosuchverb"}])),
        )
    })
    .await
    .unwrap_or_else(|e| panic!("validator thread: {e}"));
    assert_eq!(checked.0, Ok(()));
    let refused = checked.1.expect_err("an unknown verb is refused");
    assert!(
        refused.contains("invalid instruction: nosuchverb"),
        "{refused}"
    );

    // What confab's jambonz dialect answers (SPEC §11) passes both validators.
    let answer = json!([
        {"verb": "say", "text": "Welcome.",
         "synthesizer": {"vendor": "google", "language": "en-US", "voice": "en-US-Wavenet-C"}},
        {"verb": "play", "url": "https://x/a.wav"},
        {"verb": "pause", "length": 2},
        {"verb": "conference", "name": "c1", "statusHook": "https://h/status",
         "statusEvents": ["join", "leave"], "actionHook": "https://h/after"},
        {"verb": "hangup"},
    ]);
    assert_eq!(jambonz_validate(&answer), Ok(()));
    assert_eq!(jambonz_schema_validate(&answer), Ok(()));
    let wrong_type = jambonz_validate(&json!([{"verb": "pause", "length": "2"}]));
    assert!(wrong_type.is_err(), "pause length must be a number");
    let no_vendor = json!([{"verb": "say", "text": "x", "synthesizer": {"voice": "v"}}]);
    assert!(
        jambonz_validate(&no_vendor).is_err(),
        "synthesizer needs a vendor"
    );

    // A conference statusHook body as jambonz-feature-server lib/tasks/conference.js sends it.
    let status = json!({"event": "join", "conference_sid": "conf:acct:c1", "friendly_name": "c1",
        "members": 2, "duration": 1.5, "time": "2024-01-01T00:00:00.000Z",
        "call_sid": "d1f0", "direction": "inbound", "call_status": "in-progress"});
    assert_eq!(jambonz_payload("conference-status", &status), Ok(()));
    let bad = json!({"event": "joined", "call_sid": "d1f0"});
    assert!(jambonz_payload("conference-status", &bad).is_err());
}
