//! The TwiML dialect end to end: a Twilio call joins through `…/voice`, its participant
//! events arrive at `…/status`, a kick reaches the fake Twilio API, `…/after` plays the
//! `post_actions`, and a `<Gather>`'s digits come back to `…/gather` (§13); signatures are
//! made by twilio-python, answers compared with what twilio-python's `VoiceResponse` builds
//! for the same verbs, and the REST requests confab makes (kicks, §15's mute, hold and
//! announcements) with what twilio-python's REST client sends for the same call.

use crate::support::dialects::{
    twilio_rest, twilio_signature, twilio_twiml, twiml_shape, Dialect, TwilioRequest,
    TWILIO_ACCOUNT, TWILIO_TOKEN,
};
use serde_json::json;
use std::time::Duration;

const CALL: &str = "CA00000000000000000000000000000001";
const CONFERENCE_SID: &str = "CF00000000000000000000000000000009";

fn voice_params() -> Vec<(&'static str, &'static str)> {
    vec![
        ("AccountSid", TWILIO_ACCOUNT),
        ("CallSid", CALL),
        ("From", "+15550001"),
        ("To", "+15559999"),
        ("CallStatus", "ringing"),
        ("Direction", "inbound"),
        // Twilio adds parameters over time; none may be left out of the signature.
        ("SomeNewParameter", "x y&z"),
    ]
}

fn participant(event: &'static str, seq: &'static str) -> Vec<(&'static str, &'static str)> {
    vec![
        ("AccountSid", TWILIO_ACCOUNT),
        ("ConferenceSid", CONFERENCE_SID),
        ("FriendlyName", "ignored"),
        ("StatusCallbackEvent", event),
        ("CallSid", CALL),
        ("SequenceNumber", seq),
        ("Timestamp", "Mon, 23 Nov 2026 10:00:00 +0000"),
    ]
}

#[tokio::test]
async fn a_twilio_call_joins_is_kicked_and_hears_the_post_actions() {
    let d = Dialect::twilio(|_| {}).await;
    let (status, twiml) = d.twilio_post("voice", &voice_params()).await;
    assert_eq!(status, 200, "{twiml}");
    let (_, calls) = d.api("GET", "/v1.0/conferencecalls", None).await;
    let cc = calls["result"][0]["id"].as_str().expect("call").to_string();
    assert_eq!(calls["result"][0]["reference_id"], CALL);
    assert_eq!(calls["result"][0]["status"], "joining");
    let expected = twilio_twiml(json!([
        {"verb": "say", "text": "Hello. Welcome to the test conference.",
         "voice": "Polly.Joanna", "language": "en-US"},
        {"verb": "dial", "action": d.server.url(&d.path("after")), "method": "POST", "time_limit": 86400,
         "conference": {"name": d.conf, "beep": "false", "participant_label": cc,
            "status_callback": d.server.url(&d.path("status")),
            "status_callback_event": "join leave mute hold", "status_callback_method": "POST",
            "start_conference_on_enter": true, "end_conference_on_exit": false, "muted": false}}
    ]))
    .await;
    assert_eq!(twiml_shape(&twiml), twiml_shape(&expected));

    // participant-join: joined, twice (a retried callback) changes nothing.
    for _ in 0..2 {
        let (status, _) = d
            .twilio_post("status", &participant("participant-join", "1"))
            .await;
        assert_eq!(status, 200);
    }
    let conf = d.server.conference(&d.customer.key, &d.conf).await;
    assert_eq!(conf["conferencecall_ids"], json!([cc]));

    // A kick removes the participant through Twilio's REST API, with Basic auth.
    let (status, kicked) = d
        .api("DELETE", &format!("/v1.0/conferencecalls/{cc}"), None)
        .await;
    assert_eq!((status, kicked["status"].as_str()), (200, Some("leaving")));
    let got = d
        .api
        .wait_for_total(1, Duration::from_secs(5))
        .await
        .remove(0);
    assert_eq!(got.method(), "DELETE");
    assert_eq!(
        got.path(),
        format!("/2010-04-01/Accounts/{TWILIO_ACCOUNT}/Conferences/{CONFERENCE_SID}/Participants/{CALL}.json")
    );
    let basic = base64_encode(&format!("{TWILIO_ACCOUNT}:{TWILIO_TOKEN}"));
    assert_eq!(got.header("authorization"), format!("Basic {basic}"));

    // Twilio then requests the Dial action: the post_actions, no Dial.
    let after = [
        ("AccountSid", TWILIO_ACCOUNT),
        ("CallSid", CALL),
        ("DialCallStatus", "completed"),
    ];
    let (status, twiml) = d.twilio_post("after", &after).await;
    assert_eq!(status, 200);
    let expected = twilio_twiml(json!([{"verb": "say",
        "text": "The conference has closed. Thank you. Good bye.",
        "voice": "Polly.Joanna", "language": "en-US"}]))
    .await;
    assert_eq!(twiml_shape(&twiml), twiml_shape(&expected));
    // The leave event that follows is the same call_left: answered, nothing runs again.
    let (status, _) = d
        .twilio_post("status", &participant("participant-leave", "2"))
        .await;
    assert_eq!(status, 200);
    let (_, call) = d
        .api("GET", &format!("/v1.0/conferencecalls/{cc}"), None)
        .await;
    assert_eq!(call["status"], "leaved");

    // The customer hears of it exactly as with the native protocol.
    let types = d.webhook_types(5).await;
    assert_eq!(
        types,
        [
            "conference_created",
            "conferencecall_joining",
            "conferencecall_joined",
            "conferencecall_leaving",
            "conferencecall_leaved"
        ]
    );
}

fn base64_encode(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[tokio::test]
async fn signatures_are_checked_against_the_public_url() {
    let d = Dialect::twilio(|c| c.public_url = Some("https://confab.example.com".into())).await;
    let params = voice_params();
    // Signed for the URL Twilio was given (the public one), sent to the local address.
    let public = format!("https://confab.example.com{}", d.path("voice"));
    let good = twilio_signature(TWILIO_TOKEN, &public, &params).await;
    let local = twilio_signature(TWILIO_TOKEN, &d.server.url(&d.path("voice")), &params).await;
    let other_token = twilio_signature("another-token", &public, &params).await;
    for (signature, want) in [
        (None, 403),
        (Some(local.as_str()), 403),
        (Some(other_token.as_str()), 403),
        (Some(good.as_str()), 200),
    ] {
        let (status, body) = d.twilio_post_signed("voice", &params, signature).await;
        assert_eq!(status, want, "{signature:?}: {body}");
    }
    // The callbacks in the answer are built on the public URL too.
    let (_, twiml) = d.twilio_post_signed("voice", &params, Some(&good)).await;
    assert!(
        twiml.contains(&format!(
            "action=\"{}\"",
            public.replace("/voice", "/after")
        )),
        "{twiml}"
    );
    // A tampered parameter breaks the signature.
    let mut tampered = params.clone();
    tampered[2] = ("From", "+15550002");
    let (status, _) = d.twilio_post_signed("voice", &tampered, Some(&good)).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn a_refused_call_hangs_up_and_never_dials() {
    let d = Dialect::twilio(|_| {}).await;
    let (status, _) = d
        .api("DELETE", &format!("/v1.0/conferences/{}", d.conf), None)
        .await;
    assert_eq!(status, 200);
    let (status, twiml) = d.twilio_post("voice", &voice_params()).await;
    assert_eq!(status, 200);
    let expected = twilio_twiml(json!([{"verb": "hangup"}])).await;
    assert_eq!(twiml_shape(&twiml), twiml_shape(&expected));
    // Another customer's conference is not reachable through this customer's URL.
    let other = d.server.create_customer("other").await;
    let theirs = d
        .server
        .create_conference(&other.key, crate::support::seed_conference_body())
        .await;
    let path = d
        .path("voice")
        .replace(&d.conf, theirs["id"].as_str().unwrap_or(""));
    let url = d.server.url(&path);
    let params = [("CallSid", "CA2")];
    let sig = twilio_signature(TWILIO_TOKEN, &url, &params).await;
    let res = d
        .server
        .client
        .post(url)
        .header("X-Twilio-Signature", sig)
        .form(&params)
        .send()
        .await
        .expect("request");
    assert_eq!(res.status().as_u16(), 200);
    let text = res.text().await.unwrap_or_default();
    assert!(
        text.contains("<Hangup/>") && !text.contains("<Dial"),
        "{text}"
    );
    let (_, theirs) = d
        .server
        .call("GET", "/v1.0/conferencecalls", Some(&other.key), None)
        .await;
    assert_eq!(theirs["result"], json!([]));
}

#[tokio::test]
async fn recordings_run_on_a_joined_call_and_end_by_the_status_callback() {
    let d = Dialect::twilio(|_| {}).await;
    d.twilio_post("voice", &voice_params()).await;
    d.twilio_post("status", &participant("participant-join", "1"))
        .await;
    let (status, conf) = d
        .api(
            "POST",
            &format!("/v1.0/conferences/{}/recording_start", d.conf),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 200, "{conf}");
    let rec = conf["recording_id"]
        .as_str()
        .expect("recording")
        .to_string();
    let start = d
        .api
        .wait_for_total(1, Duration::from_secs(5))
        .await
        .remove(0);
    assert_eq!(
        start.path(),
        format!("/2010-04-01/Accounts/{TWILIO_ACCOUNT}/Calls/{CALL}/Recordings.json")
    );
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&start.request.body)
        .into_owned()
        .collect();
    let callback = format!("{}?recording_id={rec}", d.server.url(&d.path("recording")));
    assert!(
        form.contains(&("RecordingStatusCallback".into(), callback)),
        "{form:?}"
    );
    d.api(
        "POST",
        &format!("/v1.0/conferences/{}/recording_stop", d.conf),
        Some(json!({})),
    )
    .await;
    let stop = d
        .api
        .wait_for_total(2, Duration::from_secs(5))
        .await
        .remove(1);
    assert_eq!(
        stop.path(),
        format!(
            "/2010-04-01/Accounts/{TWILIO_ACCOUNT}/Calls/{CALL}/Recordings/Twilio.CURRENT.json"
        )
    );
    assert_eq!(stop.text(), "Status=stopped");
    let done = [
        ("AccountSid", TWILIO_ACCOUNT),
        ("CallSid", CALL),
        ("RecordingSid", "RE1"),
        ("RecordingStatus", "completed"),
        (
            "RecordingUrl",
            "https://api.twilio.com/2010-04-01/Accounts/AC/Recordings/RE1",
        ),
        ("RecordingDuration", "7"),
    ];
    let (status, _) = d
        .twilio_post(&format!("recording?recording_id={rec}"), &done)
        .await;
    assert_eq!(status, 200);
    let (_, r) = d.api("GET", &format!("/v1.0/recordings/{rec}"), None).await;
    assert_eq!(r["status"], "ended");
    assert_eq!(
        r["media_url"],
        "https://api.twilio.com/2010-04-01/Accounts/AC/Recordings/RE1"
    );
}

/// Without `--platform-url` nothing records whole conferences: a recording started in an
/// empty room waits for the first Twilio call to join and runs on it, and one stopped before
/// any call joined ends at once instead of staying `stopping`.
#[tokio::test]
async fn a_recording_started_in_an_empty_room_runs_on_the_first_twilio_call_to_join() {
    let d = Dialect::twilio(|_| {}).await;
    let control = |leaf: &str| format!("/v1.0/conferences/{}/{leaf}", d.conf);
    let (status, conf) = d
        .api("POST", &control("recording_start"), Some(json!({})))
        .await;
    assert_eq!(status, 200, "{conf}");
    let rec = conf["recording_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    d.twilio_post("voice", &voice_params()).await;
    d.twilio_post("status", &participant("participant-join", "1"))
        .await;
    let start = d.api.wait_for_total(1, Duration::from_secs(5)).await;
    assert_eq!(
        start[0].path(),
        format!("/2010-04-01/Accounts/{TWILIO_ACCOUNT}/Calls/{CALL}/Recordings.json")
    );
    d.api("POST", &control("recording_stop"), Some(json!({})))
        .await;
    let stop = d.api.wait_for_total(2, Duration::from_secs(5)).await;
    assert!(stop[1].path().ends_with("/Recordings/Twilio.CURRENT.json"));
    let (_, r) = d.api("GET", &format!("/v1.0/recordings/{rec}"), None).await;
    assert_eq!(r["status"], "stopping", "until Twilio reports it");

    // Another room: started and stopped before anyone joined, it ends at once.
    let (_, other) = d.api("POST", "/v1.0/conferences", Some(json!({}))).await;
    let other = other["id"].as_str().unwrap_or_default().to_string();
    let (_, started) = d
        .api(
            "POST",
            &format!("/v1.0/conferences/{other}/recording_start"),
            Some(json!({})),
        )
        .await;
    let rec = started["recording_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let (status, _) = d
        .api(
            "POST",
            &format!("/v1.0/conferences/{other}/recording_stop"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 200);
    let (_, r) = d.api("GET", &format!("/v1.0/recordings/{rec}"), None).await;
    assert_eq!(r["status"], "ended", "{r}");
    d.api
        .assert_stays_at(2, Duration::from_millis(300), "nothing to tell Twilio")
        .await;
}

#[tokio::test]
async fn the_connection_is_stored_with_its_secret_masked() {
    let d = Dialect::twilio(|_| {}).await;
    let (_, me) = d.api("GET", "/v1.0/customer", None).await;
    assert_eq!(me["twilio"]["account_sid"], TWILIO_ACCOUNT);
    assert_eq!(me["twilio"]["auth_token"], "****9012");
    assert_eq!(me["twilio"]["signature_header"], "X-Twilio-Signature");
    assert_eq!(me["jambonz"], json!(null));
    assert!(!me.to_string().contains(TWILIO_TOKEN));
    // Sending back what was read keeps the secret; a bad field is named.
    let (status, _) = d
        .api(
            "PUT",
            "/v1.0/customer",
            Some(json!({"twilio": {"account_sid": TWILIO_ACCOUNT, "auth_token": null}})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = d.twilio_post("voice", &voice_params()).await;
    assert_eq!(status, 200, "the stored token still signs");
    let (status, err) = d
        .api(
            "PUT",
            "/v1.0/customer",
            Some(json!({"twilio": {"api_url": "not a url"}})),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("twilio.api_url"),
        "{err}"
    );
    // Removing the connection closes the door.
    d.api("PUT", "/v1.0/customer", Some(json!({"twilio": null})))
        .await;
    let (status, _) = d.twilio_post("voice", &voice_params()).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn a_caller_hanging_up_before_the_conference_leaves_by_the_call_status_callback() {
    let d = Dialect::twilio(|_| {}).await;
    d.twilio_post("voice", &voice_params()).await;
    let status = |s: &'static str| {
        vec![
            ("AccountSid", TWILIO_ACCOUNT),
            ("CallSid", CALL),
            ("CallStatus", s),
        ]
    };
    // An update of a call still up changes nothing.
    let (code, _) = d.twilio_post("status", &status("in-progress")).await;
    assert_eq!(code, 200);
    let (_, calls) = d.api("GET", "/v1.0/conferencecalls", None).await;
    assert_eq!(calls["result"][0]["status"], "joining");
    let (code, _) = d.twilio_post("status", &status("completed")).await;
    assert_eq!(code, 200);
    let (_, calls) = d.api("GET", "/v1.0/conferencecalls", None).await;
    assert_eq!(calls["result"][0]["status"], "leaved");
    // The Dial action that may still come is the same call_left, answered again.
    let (code, twiml) = d.twilio_post("after", &status("completed")).await;
    assert_eq!(code, 200);
    assert!(twiml.contains("Good bye"), "{twiml}");
}

#[tokio::test]
async fn a_call_that_comes_back_is_a_new_membership_and_a_joining_call_is_redirected() {
    let d = Dialect::twilio(|_| {}).await;
    d.twilio_post("voice", &voice_params()).await;
    // Kicked while still hearing the pre_actions: Twilio has not said which conference it is
    // in, so the call is redirected to …/after.
    let (_, calls) = d.api("GET", "/v1.0/conferencecalls", None).await;
    let first = calls["result"][0]["id"].as_str().expect("call").to_string();
    d.api("DELETE", &format!("/v1.0/conferencecalls/{first}"), None)
        .await;
    let got = d
        .api
        .wait_for_total(1, Duration::from_secs(5))
        .await
        .remove(0);
    assert_eq!(
        (got.method(), got.path()),
        (
            "POST",
            format!("/2010-04-01/Accounts/{TWILIO_ACCOUNT}/Calls/{CALL}.json").as_str()
        )
    );
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&got.request.body)
        .into_owned()
        .collect();
    assert!(
        form.contains(&("Url".into(), d.server.url(&d.path("after")))),
        "{form:?}"
    );
    let after = [("AccountSid", TWILIO_ACCOUNT), ("CallSid", CALL)];
    let (status, _) = d.twilio_post("after", &after).await;
    assert_eq!(status, 200);
    // The same call is sent to the conference again: a new membership, not a replay.
    let (status, twiml) = d.twilio_post("voice", &voice_params()).await;
    assert_eq!(status, 200);
    assert!(twiml.contains("<Dial"), "{twiml}");
    d.twilio_post("status", &participant("participant-join", "3"))
        .await;
    let (_, calls) = d
        .api(
            "GET",
            &format!("/v1.0/conferencecalls?conference_id={}", d.conf),
            None,
        )
        .await;
    let statuses: Vec<&str> = calls["result"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["status"].as_str())
        .collect();
    assert_eq!(statuses, ["joined", "leaved"], "newest first");
    let conf = d.server.conference(&d.customer.key, &d.conf).await;
    assert_eq!(conf["conferencecall_ids"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn another_customers_requests_cannot_touch_this_customers_calls() {
    let d = Dialect::twilio(|_| {}).await;
    d.twilio_post("voice", &voice_params()).await;
    d.twilio_post("status", &participant("participant-join", "1"))
        .await;
    // A second customer with its own Twilio token signs requests naming this conference.
    let other = d.server.create_customer("mallory").await;
    d.server
        .call("PUT", "/v1.0/customer", Some(&other.key),
            Some(json!({"twilio": {"account_sid": "ACm", "auth_token": "mallory-token-0000", "api_url": d.api.uri()}})))
        .await;
    let url = d.server.url(&format!(
        "/v1.0/twiml/{}/conferences/{}/after",
        other.id, d.conf
    ));
    let params = [("CallSid", CALL)];
    let sig = twilio_signature("mallory-token-0000", &url, &params).await;
    let res = d
        .server
        .client
        .post(url)
        .header("X-Twilio-Signature", sig)
        .form(&params)
        .send()
        .await
        .expect("post");
    assert_eq!(res.status().as_u16(), 200);
    assert!(res.text().await.unwrap_or_default().contains("<Hangup/>"));
    // The real leave still applies and plays the post_actions.
    let (status, twiml) = d.twilio_post("after", &[("CallSid", CALL)]).await;
    assert_eq!(status, 200);
    assert!(twiml.contains("Good bye"), "{twiml}");
}

/// The PIN room (the shipped `pin` flow) on Twilio: the caller hears the prompt and a
/// `<Gather>` that posts to `…/gather?pause=N`; a wrong PIN asks again under the next pause,
/// the right one dials into the conference, a retried callback replays its answer, and a
/// callback for a pause the call is not waiting at hangs up.
#[tokio::test]
async fn a_pin_room_asks_through_gather_and_lets_the_right_pin_in() {
    let d = Dialect::twilio(|_| {}).await;
    let (status, body) = d
        .api(
            "PUT",
            &format!("/v1.0/conferences/{}", d.conf),
            Some(json!({"data": {"pin": "4711"},
                "pre_actions": [{"type": "flow", "option": {"name": "pin"}}]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let prompt = json!({"verb": "say", "text": "Please enter the conference PIN, then press pound.",
        "voice": "Polly.Joanna", "language": "en-US"});
    let gather = |pause: u32| {
        json!({"verb": "gather", "input": "dtmf", "num_digits": 8, "finish_on_key": "#",
            "timeout": 10, "action": d.server.url(&d.path(&format!("gather?pause={pause}"))),
            "method": "POST", "action_on_empty_result": true})
    };

    let (status, twiml) = d.twilio_post("voice", &voice_params()).await;
    assert_eq!(status, 200, "{twiml}");
    let expected = twilio_twiml(json!([prompt, gather(1)])).await;
    assert_eq!(twiml_shape(&twiml), twiml_shape(&expected));
    let (_, calls) = d.api("GET", "/v1.0/conferencecalls", None).await;
    let cc = calls["result"][0]["id"].as_str().expect("call").to_string();
    assert_eq!(calls["result"][0]["status"], "joining");

    // What Twilio posts to the Gather action: the call's parameters, `Digits` and the key
    // that ended the input (every one of them signed).
    let entered = |digits: &'static str| {
        vec![
            ("AccountSid", TWILIO_ACCOUNT),
            ("CallSid", CALL),
            ("From", "+15550001"),
            ("To", "+15559999"),
            ("CallStatus", "in-progress"),
            ("Direction", "inbound"),
            ("Digits", digits),
            ("FinishedOnKey", "#"),
        ]
    };
    let (status, first) = d.twilio_post("gather?pause=1", &entered("1234")).await;
    assert_eq!(status, 200, "{first}");
    let wrong = json!({"verb": "say", "text": "That PIN is not correct.",
        "voice": "Polly.Joanna", "language": "en-US"});
    let expected = twilio_twiml(json!([wrong, prompt, gather(2)])).await;
    assert_eq!(twiml_shape(&first), twiml_shape(&expected));

    let (status, twiml) = d.twilio_post("gather?pause=2", &entered("4711")).await;
    assert_eq!(status, 200, "{twiml}");
    let expected = twilio_twiml(json!([
        {"verb": "say", "text": "Thank you. You are joining the conference.",
         "voice": "Polly.Joanna", "language": "en-US"},
        {"verb": "dial", "action": d.server.url(&d.path("after")), "method": "POST", "time_limit": 86400,
         "conference": {"name": d.conf, "beep": "false", "participant_label": cc,
            "status_callback": d.server.url(&d.path("status")),
            "status_callback_event": "join leave mute hold", "status_callback_method": "POST",
            "start_conference_on_enter": true, "end_conference_on_exit": false, "muted": false}}
    ]))
    .await;
    assert_eq!(twiml_shape(&twiml), twiml_shape(&expected));

    // Twilio retrying the first callback gets the first answer, byte for byte.
    let (status, again) = d.twilio_post("gather?pause=1", &entered("1234")).await;
    assert_eq!((status, again.as_str()), (200, first.as_str()));
    // A pause the call is not waiting at: nothing continues; the caller is hung up, not let in.
    let (status, stale) = d.twilio_post("gather?pause=3", &entered("4711")).await;
    assert_eq!(status, 200);
    let hangup = twilio_twiml(json!([{"verb": "hangup"}])).await;
    assert_eq!(twiml_shape(&stale), twiml_shape(&hangup));

    d.twilio_post("status", &participant("participant-join", "1"))
        .await;
    let (_, call) = d
        .api("GET", &format!("/v1.0/conferencecalls/{cc}"), None)
        .await;
    assert_eq!(call["status"], "joined");
}

/// A gather callback is believed only when signed, and read strictly: keypad digits only,
/// and the pause number confab put in the URL.
#[tokio::test]
async fn a_gather_callback_is_signed_and_names_its_pause() {
    let d = Dialect::twilio(|_| {}).await;
    d.api(
        "PUT",
        &format!("/v1.0/conferences/{}", d.conf),
        Some(json!({"data": {"pin": "4711"},
            "pre_actions": [{"type": "flow", "option": {"name": "pin"}}]})),
    )
    .await;
    d.twilio_post("voice", &voice_params()).await;
    let params = [("CallSid", CALL), ("Digits", "4711")];
    let url = d.server.url(&d.path("gather?pause=1"));
    let other_url = d.server.url(&d.path("gather?pause=2"));
    let other_token = twilio_signature("another-token", &url, &params).await;
    // Signed for another pause's URL: the pause is covered by the signature.
    let other_pause = twilio_signature(TWILIO_TOKEN, &other_url, &params).await;
    for signature in [None, Some(other_token.as_str()), Some(other_pause.as_str())] {
        let (status, body) = d
            .twilio_post_signed("gather?pause=1", &params, signature)
            .await;
        assert_eq!(status, 403, "{signature:?}: {body}");
    }
    let refused = |body: &str, field: &str| {
        let err: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
        assert_eq!(err["error"]["reason"], "INVALID_ARGUMENT", "{body}");
        let message = err["error"]["message"].as_str().unwrap_or_default();
        assert!(message.starts_with(&format!("{field}:")), "{body}");
    };
    let (status, body) = d
        .twilio_post("gather?pause=1", &[("CallSid", CALL), ("Digits", "12x")])
        .await;
    assert_eq!(status, 400);
    refused(&body, "Digits");
    for leaf in [
        "gather",
        "gather?pause=",
        "gather?pause=0",
        "gather?pause=one",
        "gather?pause=-1",
        "gather?pause=4294967296",
        "gather?other=1",
    ] {
        let (status, body) = d.twilio_post(leaf, &params).await;
        assert_eq!(status, 400, "{leaf}: {body}");
        refused(&body, "pause");
    }
    // None of that moved the call: the right PIN for pause 1 still lets it in.
    let (status, twiml) = d.twilio_post("gather?pause=1", &params).await;
    assert_eq!(status, 200);
    assert!(twiml.contains("<Dial"), "{twiml}");
}

/// `digits_receive` without a key: `finishOnKey=""` (Twilio would otherwise end the input on
/// `#`), as twilio-python writes it; a timeout posts no `Digits`, which resumes with none.
#[tokio::test]
async fn a_gather_without_a_key_turns_off_twilios_default_and_a_timeout_enters_nothing() {
    let d = Dialect::twilio(|_| {}).await;
    let actions = json!([
        {"type": "digits_receive", "option": {"length": 4, "duration": 2500}},
        {"type": "talk", "option": {"text": "You entered [${call.digits}]."}}
    ]);
    let (status, body) = d
        .api(
            "PUT",
            &format!("/v1.0/conferences/{}", d.conf),
            Some(json!({"pre_actions": actions})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, twiml) = d.twilio_post("voice", &voice_params()).await;
    assert_eq!(status, 200, "{twiml}");
    let expected = twilio_twiml(json!([
        {"verb": "gather", "input": "dtmf", "num_digits": 4, "finish_on_key": "", "timeout": 3,
         "action": d.server.url(&d.path("gather?pause=1")), "method": "POST",
         "action_on_empty_result": true}
    ]))
    .await;
    assert!(expected.contains("finishOnKey=\"\""), "{expected}");
    assert_eq!(twiml_shape(&twiml), twiml_shape(&expected));
    let (status, twiml) = d
        .twilio_post(
            "gather?pause=1",
            &[("AccountSid", TWILIO_ACCOUNT), ("CallSid", CALL)],
        )
        .await;
    assert_eq!(status, 200, "{twiml}");
    assert!(twiml.contains(">You entered [].</Say><Dial"), "{twiml}");
}

/// `post_actions` may ask too: the leave's answer ends with a `<Gather>`, whichever of the
/// leave status event and the Dial action reports the leave first (the other replays the same
/// answer), and the gather callback continues the list after the call has left.
#[tokio::test]
async fn post_actions_ask_after_the_conference_whichever_leave_report_comes_first() {
    let d = Dialect::twilio(|_| {}).await;
    let post = json!([
        {"type": "talk", "option": {"text": "Press one to five to rate the call."}},
        {"type": "digits_receive", "option": {"length": 1, "duration": 5000}},
        {"type": "talk", "option": {"text": "You gave ${call.digits}. Good bye."}},
        {"type": "hangup"}
    ]);
    let (status, body) = d
        .api(
            "PUT",
            &format!("/v1.0/conferences/{}", d.conf),
            Some(json!({"post_actions": post})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    d.twilio_post("voice", &voice_params()).await;
    d.twilio_post("status", &participant("participant-join", "1"))
        .await;
    // The leave status event first: acknowledged, the post_actions wait for digits.
    let (status, ack) = d
        .twilio_post("status", &participant("participant-leave", "2"))
        .await;
    assert_eq!(status, 200);
    assert!(!ack.contains("<Gather"), "{ack}");
    let after = [
        ("AccountSid", TWILIO_ACCOUNT),
        ("CallSid", CALL),
        ("DialCallStatus", "completed"),
    ];
    let (status, twiml) = d.twilio_post("after", &after).await;
    assert_eq!(status, 200, "{twiml}");
    let expected = twilio_twiml(json!([
        {"verb": "say", "text": "Press one to five to rate the call.",
         "voice": "Polly.Joanna", "language": "en-US"},
        {"verb": "gather", "input": "dtmf", "num_digits": 1, "finish_on_key": "", "timeout": 5,
         "action": d.server.url(&d.path("gather?pause=1")), "method": "POST",
         "action_on_empty_result": true}
    ]))
    .await;
    assert_eq!(twiml_shape(&twiml), twiml_shape(&expected));
    let (status, twiml) = d
        .twilio_post("gather?pause=1", &[("CallSid", CALL), ("Digits", "5")])
        .await;
    assert_eq!(status, 200, "{twiml}");
    let expected = twilio_twiml(json!([
        {"verb": "say", "text": "You gave 5. Good bye.", "voice": "Polly.Joanna", "language": "en-US"},
        {"verb": "hangup"}
    ]))
    .await;
    assert_eq!(twiml_shape(&twiml), twiml_shape(&expected));
    let (_, calls) = d.api("GET", "/v1.0/conferencecalls", None).await;
    assert_eq!(calls["result"][0]["status"], "leaved");
}

/// A call leaves and comes back to the same conference (customer TwiML redirecting it to
/// `…/voice`). Twilio's report of its first leave, numbered before its second join, arrives
/// late: it must not end the second membership, and the second's own leave still applies.
#[tokio::test]
async fn a_late_leave_of_an_earlier_membership_does_not_end_the_current_one() {
    let d = Dialect::twilio(|_| {}).await;
    d.twilio_post("voice", &voice_params()).await;
    d.twilio_post("status", &participant("participant-join", "2"))
        .await;
    let after = [
        ("AccountSid", TWILIO_ACCOUNT),
        ("CallSid", CALL),
        ("DialCallStatus", "completed"),
    ];
    let (status, _) = d.twilio_post("after", &after).await;
    assert_eq!(status, 200);
    // Back in (Twilio's participant-leave numbered 3 is still on its way).
    d.twilio_post("voice", &voice_params()).await;
    d.twilio_post("status", &participant("participant-join", "4"))
        .await;
    let current = || async {
        let (_, calls) = d.api("GET", "/v1.0/conferencecalls", None).await;
        calls["result"][0]["status"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    assert_eq!(current().await, "joined");
    report_to_status(&d, "participant-leave", "3").await;
    assert_eq!(
        current().await,
        "joined",
        "the late leave was the first membership's"
    );
    report_to_status(&d, "participant-leave", "5").await;
    assert_eq!(current().await, "leaved", "its own leave applies");
    let (_, calls) = d.api("GET", "/v1.0/conferencecalls", None).await;
    assert_eq!(calls["result"].as_array().map(Vec::len), Some(2));
}

const MUSIC: &str = "https://music.example/hold.mp3";
const MODERATOR_ID: &str = "7a0e0000-0000-4000-8000-000000000001";
const LISTENER_ID: &str = "7a0e0000-0000-4000-8000-000000000002";
const JOIN_ID: &str = "7a0e0000-0000-4000-8000-000000000003";

/// A room where only a moderator starts the conference and its leaving ends it for the others;
/// the caller's number (`platform.From`) picks the role.
fn moderated_room(from_var: &str, moderator: &str, listener: &str) -> serde_json::Value {
    json!({
        "wait_for_moderator": true, "end_on_moderator_exit": true, "wait_music_url": MUSIC,
        "pre_actions": [
            {"type": "branch", "option": {"variable": from_var,
                "target_ids": {moderator: MODERATOR_ID, listener: LISTENER_ID},
                "default_target_id": JOIN_ID}},
            {"id": MODERATOR_ID, "type": "role_set", "option": {"role": "moderator"}, "next_id": JOIN_ID},
            {"id": LISTENER_ID, "type": "role_set", "option": {"role": "listener"}, "next_id": JOIN_ID},
            {"id": JOIN_ID, "type": "talk", "option": {"text": "You join as ${conferencecall.role}."}}
        ]
    })
}

/// Twilio's voice webhook for call `sid` from `from`.
fn call_from(sid: &'static str, from: &'static str) -> Vec<(&'static str, &'static str)> {
    vec![
        ("AccountSid", TWILIO_ACCOUNT),
        ("CallSid", sid),
        ("From", from),
        ("To", "+15559999"),
        ("CallStatus", "ringing"),
        ("Direction", "inbound"),
    ]
}

fn participant_of(
    sid: &'static str,
    event: &'static str,
    seq: &'static str,
) -> Vec<(&'static str, &'static str)> {
    let mut p = participant(event, seq);
    p[4] = ("CallSid", sid);
    p
}

/// The conferencecall id of the platform call `reference`.
async fn call_id_of(d: &Dialect, reference: &str) -> String {
    let (_, calls) = d
        .api(
            "GET",
            &format!("/v1.0/conferencecalls?conference_id={}", d.conf),
            None,
        )
        .await;
    calls["result"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["reference_id"] == reference)
        .and_then(|c| c["id"].as_str())
        .unwrap_or_else(|| panic!("no call {reference}: {calls}"))
        .to_string()
}

/// Room rules on Twilio (§14): the role a flow picks from the caller's number decides the
/// `<Conference>`'s startConferenceOnEnter, endConferenceOnExit, muted and waitUrl (the room's
/// music, fetched with GET; `""` is silence for a caller who waits in a room without music), each
/// document equal to what twilio-python's `VoiceResponse().dial().conference()` builds. When
/// the last joined moderator leaves, every other joined participant is removed through
/// Twilio's REST API exactly once; a call still joining is not.
#[tokio::test]
async fn a_moderated_room_joins_each_role_as_twilio_builds_it_and_the_moderator_leaving_removes_the_others(
) {
    let d = Dialect::twilio(|_| {}).await;
    let (status, body) = d
        .api(
            "PUT",
            &format!("/v1.0/conferences/{}", d.conf),
            Some(moderated_room("platform.From", "+15550001", "+15550003")),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    const MOD: &str = "CA00000000000000000000000000000011";
    const PART: &str = "CA00000000000000000000000000000012";
    const LISTEN: &str = "CA00000000000000000000000000000013";
    const LATE: &str = "CA00000000000000000000000000000014";
    let expected = |label: String, role: &str, start: bool, end: bool, muted: bool, music: &str| {
        let mut conference = json!({"name": d.conf, "beep": "false", "participant_label": label,
            "status_callback": d.server.url(&d.path("status")),
            "status_callback_event": "join leave mute hold", "status_callback_method": "POST",
            "start_conference_on_enter": start, "end_conference_on_exit": end, "muted": muted,
            "wait_url": music});
        if !music.is_empty() {
            conference["wait_method"] = json!("GET");
        }
        json!([
            {"verb": "say", "text": format!("You join as {role}."),
             "voice": "Polly.Joanna", "language": "en-US"},
            {"verb": "dial", "action": d.server.url(&d.path("after")), "method": "POST",
             "time_limit": 86400, "conference": conference}
        ])
    };
    let roles = [
        (MOD, "+15550001", "moderator", true, true, false),
        (PART, "+15550002", "participant", false, false, false),
        (LISTEN, "+15550003", "listener", false, false, true),
    ];
    for (sid, from, role, start, end, muted) in roles {
        let (status, twiml) = d.twilio_post("voice", &call_from(sid, from)).await;
        assert_eq!(status, 200, "{twiml}");
        let cc = call_id_of(&d, sid).await;
        let want = twilio_twiml(expected(cc, role, start, end, muted, MUSIC)).await;
        assert_eq!(twiml_shape(&twiml), twiml_shape(&want), "{role}");
        assert!(
            twiml.contains(&format!("waitMethod=\"GET\" waitUrl=\"{MUSIC}\"")),
            "{twiml}"
        );
    }
    let (_, calls) = d.api("GET", "/v1.0/conferencecalls", None).await;
    let roles: Vec<(&str, &str, bool)> = calls["result"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| {
            Some((
                c["reference_id"].as_str()?,
                c["role"].as_str()?,
                c["muted"].as_bool()?,
            ))
        })
        .collect();
    assert_eq!(
        roles,
        [
            (LISTEN, "listener", true),
            (PART, "participant", false),
            (MOD, "moderator", false)
        ]
    );

    // Without music, a caller who waits hears silence (`waitUrl=""`), not Twilio's hold music.
    d.api(
        "PUT",
        &format!("/v1.0/conferences/{}", d.conf),
        Some(json!({"wait_music_url": ""})),
    )
    .await;
    let (_, twiml) = d.twilio_post("voice", &call_from(LATE, "+15550004")).await;
    let cc = call_id_of(&d, LATE).await;
    let want = twilio_twiml(expected(cc, "participant", false, false, false, "")).await;
    assert!(want.contains("waitUrl=\"\""), "{want}");
    assert_eq!(twiml_shape(&twiml), twiml_shape(&want));

    // The three join; the fourth is still on its way in (joining).
    for (sid, seq) in [(MOD, "1"), (PART, "2"), (LISTEN, "3")] {
        let (status, _) = d
            .twilio_post("status", &participant_of(sid, "participant-join", seq))
            .await;
        assert_eq!(status, 200);
    }
    d.server.drain_outbox().await;
    assert_eq!(
        d.api.arrivals().len(),
        0,
        "nothing is kicked while a moderator is in"
    );

    // The moderator leaves: the participant and the listener are removed, once each.
    let (status, _) = d
        .twilio_post("status", &participant_of(MOD, "participant-leave", "4"))
        .await;
    assert_eq!(status, 200);
    let removal = |sid: &str| {
        format!(
            "/2010-04-01/Accounts/{TWILIO_ACCOUNT}/Conferences/{CONFERENCE_SID}/Participants/{sid}.json"
        )
    };
    let kicked = |arrivals: Vec<crate::support::Arrival>| {
        let mut k: Vec<(String, String)> = arrivals
            .iter()
            .map(|a| (a.method().to_string(), a.path().to_string()))
            .collect();
        k.sort();
        k
    };
    let mut want = vec![
        ("DELETE".to_string(), removal(PART)),
        ("DELETE".to_string(), removal(LISTEN)),
    ];
    want.sort();
    let got = d.api.wait_for_total(2, Duration::from_secs(5)).await;
    assert_eq!(kicked(got), want);
    // Twilio retrying the leave, then the moderator's Dial action: the same leave, no new kick.
    d.twilio_post("status", &participant_of(MOD, "participant-leave", "4"))
        .await;
    let (status, twiml) = d.twilio_post("after", &call_from(MOD, "+15550001")).await;
    assert_eq!(status, 200);
    assert!(twiml.contains("Good bye"), "{twiml}");
    // The removed calls reach their Dial action and leave; that kicks nobody either.
    for (sid, seq) in [(PART, "5"), (LISTEN, "6")] {
        let (status, twiml) = d.twilio_post("after", &call_from(sid, "+1")).await;
        assert_eq!(status, 200);
        assert!(twiml.contains("Good bye"), "{twiml}");
        d.twilio_post("status", &participant_of(sid, "participant-leave", seq))
            .await;
    }
    d.server.drain_outbox().await;
    assert_eq!(kicked(d.api.arrivals()), want, "each kicked exactly once");
    let (_, late) = d
        .api(
            "GET",
            &format!("/v1.0/conferencecalls/{}", call_id_of(&d, LATE).await),
            None,
        )
        .await;
    assert_eq!(
        late["status"], "joining",
        "a call on its way in is not kicked"
    );
    let conf = d.server.conference(&d.customer.key, &d.conf).await;
    assert_eq!(conf["status"], "progressing", "the room stays open");
}

/// A full room (`max_participants`, counting calls still joining) and a locked one refuse a
/// Twilio caller with `<Hangup/>`, never a `<Dial>`; the call already in stays.
#[tokio::test]
async fn a_full_or_locked_room_hangs_up_on_twilio() {
    let d = Dialect::twilio(|_| {}).await;
    let hangup = twilio_twiml(json!([{"verb": "hangup"}])).await;
    d.api(
        "PUT",
        &format!("/v1.0/conferences/{}", d.conf),
        Some(json!({"max_participants": 1})),
    )
    .await;
    let (status, first) = d.twilio_post("voice", &call_from("CA1", "+15550001")).await;
    assert_eq!(status, 200);
    assert!(first.contains("<Dial"), "{first}");
    // The first call has not joined yet: it counts all the same.
    let (status, full) = d.twilio_post("voice", &call_from("CA2", "+15550002")).await;
    assert_eq!(status, 200);
    assert_eq!(twiml_shape(&full), twiml_shape(&hangup));
    d.twilio_post("status", &participant_of("CA1", "participant-join", "1"))
        .await;

    d.api(
        "PUT",
        &format!("/v1.0/conferences/{}", d.conf),
        Some(json!({"max_participants": 0, "locked": true})),
    )
    .await;
    let (status, locked) = d.twilio_post("voice", &call_from("CA3", "+15550003")).await;
    assert_eq!(status, 200);
    assert_eq!(twiml_shape(&locked), twiml_shape(&hangup));
    let (_, calls) = d.api("GET", "/v1.0/conferencecalls", None).await;
    let refs: Vec<(&str, &str)> = calls["result"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| Some((c["reference_id"].as_str()?, c["status"].as_str()?)))
        .collect();
    assert_eq!(
        refs,
        [("CA1", "joined")],
        "refused calls are not stored; CA1 stays"
    );
}

/// The `n`th request (from 1) the fake Twilio API received, as compared.
async fn nth_request(d: &Dialect, n: usize) -> TwilioRequest {
    let got = d.api.wait_for_total(n, Duration::from_secs(5)).await;
    TwilioRequest::received(&got[n - 1])
}

/// A form field of a received request.
fn field(r: &TwilioRequest, name: &str) -> String {
    r.form
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("no {name} in {r:?}"))
}

/// Acting on a live Twilio call (§15): mute, hold (with music, and Twilio's own) and their
/// undoing are Participant updates, and a say to the call or to the room is a Participant or
/// Conference update whose `AnnounceUrl` is confab's; each request is exactly the one
/// twilio-python's `client.conferences(…).participants(…).update(…)` (or
/// `client.conferences(…).update(…)`) sends, with the account's Basic auth. Asking for the
/// state the call has sends nothing. Twilio fetches the announcement signed and gets the media
/// as TwiML (what `VoiceResponse` builds); unsigned, or signed for another URL, it is refused.
#[tokio::test]
async fn a_joined_twilio_call_is_muted_held_and_told_things_as_twilio_python_asks() {
    const MUSIC: &str = "https://music.example/hold.mp3?a=1&b=2";
    let d = Dialect::twilio(|_| {}).await;
    d.twilio_post("voice", &voice_params()).await;
    d.twilio_post("status", &participant("participant-join", "1"))
        .await;
    let cc = call_id_of(&d, CALL).await;
    let control = |leaf: &str| format!("/v1.0/conferencecalls/{cc}/{leaf}");
    let member = || json!([["conferences", CONFERENCE_SID], ["participants", CALL]]);
    let quiet = Duration::from_millis(400);

    // (method, route, body, what the call then is, what twilio-python sends for it)
    let steps = [
        (
            "POST",
            "mute",
            None,
            ("muted", true),
            json!({"muted": true}),
        ),
        (
            "DELETE",
            "mute",
            None,
            ("muted", false),
            json!({"muted": false}),
        ),
        (
            "POST",
            "hold",
            Some(json!({"music_url": MUSIC})),
            ("hold", true),
            json!({"hold": true, "hold_url": MUSIC, "hold_method": "GET"}),
        ),
        (
            "DELETE",
            "hold",
            None,
            ("hold", false),
            json!({"hold": false}),
        ),
        // Without music, Twilio plays its own.
        ("POST", "hold", None, ("hold", true), json!({"hold": true})),
        (
            "DELETE",
            "hold",
            None,
            ("hold", false),
            json!({"hold": false}),
        ),
    ];
    let mut sent = steps.len();
    for (n, (method, leaf, body, (state, value), args)) in steps.into_iter().enumerate() {
        let (status, call) = d.api(method, &control(leaf), body.clone()).await;
        assert_eq!(
            (status, &call[state]),
            (200, &json!(value)),
            "{method} {leaf}: {call}"
        );
        let want = twilio_rest(member(), "update", args).await;
        assert_eq!(nth_request(&d, n + 1).await, want, "{method} {leaf}");
        // The same again: the state it has, nothing sent.
        let (status, again) = d.api(method, &control(leaf), body).await;
        assert_eq!((status, &again[state]), (200, &json!(value)));
        d.api
            .assert_stays_at(
                n + 1,
                quiet,
                "asking for the state the call has sends nothing",
            )
            .await;
    }

    // Said to this call only: a Participant update pointing at confab's …/announce.
    let said = json!({"actions": [
        {"type": "talk", "option": {"text": "You are next.", "gender": "male", "language": "en-US"}},
        {"type": "play", "option": {"stream_urls": ["https://media.example/chime.wav"]}},
        {"type": "sleep", "option": {"duration": 1500}}]});
    let (status, call) = d.api("POST", &control("actions"), Some(said)).await;
    assert_eq!((status, call["id"].as_str()), (200, Some(cc.as_str())));
    sent += 1;
    let got = nth_request(&d, sent).await;
    let announce = field(&got, "AnnounceUrl");
    let leaf = announce
        .strip_prefix(&d.server.url(&d.path("")))
        .unwrap_or_else(|| panic!("confab's own URL: {announce}"))
        .to_string();
    assert!(leaf.starts_with("announce?id="), "{leaf}");
    let want = twilio_rest(
        member(),
        "update",
        json!({"announce_url": announce, "announce_method": "POST"}),
    )
    .await;
    assert_eq!(got, want);

    // Twilio fetches it, signed: the media as TwiML, to this call.
    let fetch = [
        ("AccountSid", TWILIO_ACCOUNT),
        ("ConferenceSid", CONFERENCE_SID),
        ("CallSid", CALL),
    ];
    let (status, twiml) = d.twilio_post(&leaf, &fetch).await;
    assert_eq!(status, 200, "{twiml}");
    let expected = twilio_twiml(json!([
        {"verb": "say", "text": "You are next.", "voice": "Polly.Matthew", "language": "en-US"},
        {"verb": "play", "url": "https://media.example/chime.wav"},
        {"verb": "pause", "length": 2}
    ]))
    .await;
    assert_eq!(twiml_shape(&twiml), twiml_shape(&expected));
    // Unsigned, or signed for another announcement's URL: refused.
    let (status, _) = d.twilio_post_signed(&leaf, &fetch, None).await;
    assert_eq!(status, 403);
    let other = d
        .server
        .url(&d.path(&format!("announce?id={}", uuid::Uuid::new_v4())));
    let wrong = twilio_signature(TWILIO_TOKEN, &other, &fetch).await;
    let (status, _) = d.twilio_post_signed(&leaf, &fetch, Some(&wrong)).await;
    assert_eq!(status, 403);
    // An id confab never gave out (or another conference's) says nothing.
    let (status, nothing) = d
        .twilio_post(&format!("announce?id={}", uuid::Uuid::new_v4()), &fetch)
        .await;
    assert_eq!(status, 200);
    assert_eq!(twiml_shape(&nothing), ["Response []"]);

    // Said to the whole room: one Conference update.
    let room = json!({"actions": [{"type": "talk", "option": {"text": "Five minutes left.",
        "gender": "female", "language": "en-US"}}, {"type": "beep"}]});
    let (status, conf) = d
        .api(
            "POST",
            &format!("/v1.0/conferences/{}/actions", d.conf),
            Some(room),
        )
        .await;
    assert_eq!((status, conf["id"].as_str()), (200, Some(d.conf.as_str())));
    sent += 1;
    let got = nth_request(&d, sent).await;
    let announce = field(&got, "AnnounceUrl");
    let want = twilio_rest(
        json!([["conferences", CONFERENCE_SID]]),
        "update",
        json!({"announce_url": announce, "announce_method": "POST"}),
    )
    .await;
    assert_eq!(got, want);
    let leaf = announce
        .strip_prefix(&d.server.url(&d.path("")))
        .expect("confab's own URL")
        .to_string();
    let (status, twiml) = d.twilio_post(&leaf, &fetch[..2]).await;
    assert_eq!(status, 200);
    let expected = twilio_twiml(json!([
        {"verb": "say", "text": "Five minutes left.", "voice": "Polly.Joanna", "language": "en-US"},
        {"verb": "play", "url": d.server.url("/v1.0/sounds/beep.wav")}
    ]))
    .await;
    assert_eq!(twiml_shape(&twiml), twiml_shape(&expected));
    d.api
        .assert_stays_at(sent, quiet, "one request per say")
        .await;
}

/// Twilio reports mutes and holds as they happen (`statusCallbackEvent` `mute hold`), those
/// confab asked for too: the call's state follows and the customer hears
/// `conferencecall_updated`, and nothing goes back to Twilio. A retried report (the same
/// `SequenceNumber`) is the same event and changes nothing; Twilio's report of confab's own
/// request finds the state already there. A call that leaves is neither muted nor held.
#[tokio::test]
async fn twilio_reports_mutes_and_holds_and_the_call_follows_without_asking_back() {
    let (d, cc) = joined_call().await;
    let state = || call_state(&d, &cc);
    let report = |event, seq| report_to_status(&d, event, seq);
    let joined = |muted, hold| ("joined".to_string(), Some(muted), Some(hold));

    report("participant-mute", "2").await;
    assert_eq!(state().await, joined(true, false));
    report("participant-hold", "3").await;
    assert_eq!(state().await, joined(true, true));
    report("participant-unmute", "4").await;
    assert_eq!(state().await, joined(false, true));
    // Twilio retries the first report: the same event, nothing changes.
    report("participant-mute", "2").await;
    assert_eq!(state().await, joined(false, true));

    // confab's own requests, then Twilio's reports of them: already so.
    d.api("DELETE", &format!("/v1.0/conferencecalls/{cc}/hold"), None)
        .await;
    d.api("POST", &format!("/v1.0/conferencecalls/{cc}/mute"), None)
        .await;
    d.api.wait_for_total(2, Duration::from_secs(5)).await;
    report("participant-unhold", "5").await;
    report("participant-mute", "6").await;
    assert_eq!(state().await, joined(true, false));

    // Held again, it leaves: neither muted nor held any more.
    report("participant-hold", "7").await;
    assert_eq!(state().await, joined(true, true));
    report("participant-leave", "8").await;
    assert_eq!(
        state().await,
        ("leaved".to_string(), Some(false), Some(false))
    );
    // A report after the leave changes nothing; a request is refused.
    report("participant-unmute", "9").await;
    let (status, err) = d
        .api("POST", &format!("/v1.0/conferencecalls/{cc}/mute"), None)
        .await;
    assert_eq!(
        (status, err["error"]["reason"].as_str()),
        (409, Some("STATE_INVALID")),
        "{err}"
    );
    d.api
        .assert_stays_at(
            2,
            Duration::from_millis(400),
            "reports send nothing back: only confab's own two requests",
        )
        .await;

    // One conferencecall_updated per change: three reported, two asked, one reported.
    let types = d.webhook_types(10).await;
    assert_eq!(
        types,
        [
            "conference_created",
            "conferencecall_joining",
            "conferencecall_joined",
            "conferencecall_updated",
            "conferencecall_updated",
            "conferencecall_updated",
            "conferencecall_updated",
            "conferencecall_updated",
            "conferencecall_updated",
            "conferencecall_leaved",
        ]
    );
    let hooks = d.hooks.arrivals();
    let updates: Vec<(bool, bool)> = hooks
        .iter()
        .map(|h| h.json())
        .filter(|h| h["type"] == "conferencecall_updated")
        .map(|h| {
            (
                h["data"]["muted"].as_bool().unwrap_or_default(),
                h["data"]["hold"].as_bool().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        updates,
        [
            (true, false),
            (true, true),
            (false, true),
            (false, false),
            (true, false),
            (true, true)
        ]
    );
}

/// Twilio's reports are separate requests, each retried on its own, so a later one can arrive
/// first: the call ends as the newest report (the highest `SequenceNumber`) says, and a stale
/// one changes nothing and tells the customer nothing.
#[tokio::test]
async fn reports_arriving_out_of_order_leave_the_call_as_the_newest_says() {
    let (d, cc) = joined_call().await;
    let state = || call_state(&d, &cc);
    let report = |event, seq| report_to_status(&d, event, seq);
    let joined = |muted, hold| ("joined".to_string(), Some(muted), Some(hold));

    // Muted at 2 and unmuted at 3; the unmute arrives first.
    report("participant-unmute", "3").await;
    report("participant-mute", "2").await;
    assert_eq!(
        state().await,
        joined(false, false),
        "the mute at 2 is stale"
    );
    // Held at 4, resumed at 6, held again at 5 (late): the resume stands.
    report("participant-hold", "4").await;
    assert_eq!(state().await, joined(false, true));
    report("participant-unhold", "6").await;
    report("participant-hold", "5").await;
    assert_eq!(
        state().await,
        joined(false, false),
        "the hold at 5 is stale"
    );
    // Numbers keep rising: a newer report applies.
    report("participant-mute", "10").await;
    assert_eq!(state().await, joined(true, false));
    // A sequence number that is not one is refused, naming the field.
    let bad = participant("participant-unmute", "eleven");
    let (status, body) = d.twilio_post("status", &bad).await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("SequenceNumber"), "{body}");

    let types = d.webhook_types(6).await;
    assert_eq!(
        types[3..],
        [
            "conferencecall_updated",
            "conferencecall_updated",
            "conferencecall_updated"
        ],
        "one update each for the hold at 4, the resume at 6 and the mute at 10"
    );
    d.hooks
        .assert_stays_at(6, Duration::from_millis(400), "stale reports tell nothing")
        .await;
}

/// A Twilio call that has joined the conference (`participant-join` numbered 1), and its
/// conferencecall id.
async fn joined_call() -> (Dialect, String) {
    let d = Dialect::twilio(|_| {}).await;
    d.twilio_post("voice", &voice_params()).await;
    d.twilio_post("status", &participant("participant-join", "1"))
        .await;
    let cc = call_id_of(&d, CALL).await;
    (d, cc)
}

/// A call's status, `muted` and `hold`.
async fn call_state(d: &Dialect, cc: &str) -> (String, Option<bool>, Option<bool>) {
    let (_, call) = d
        .api("GET", &format!("/v1.0/conferencecalls/{cc}"), None)
        .await;
    (
        call["status"].as_str().unwrap_or("").to_string(),
        call["muted"].as_bool(),
        call["hold"].as_bool(),
    )
}

/// Twilio's conference status callback `event` numbered `seq`, acknowledged with `<Response/>`.
async fn report_to_status(d: &Dialect, event: &'static str, seq: &'static str) {
    let (status, twiml) = d.twilio_post("status", &participant(event, seq)).await;
    assert_eq!(status, 200, "{event} {seq}: {twiml}");
    assert_eq!(twiml_shape(&twiml), ["Response []"]);
}
