//! The jambonz dialect end to end: a jambonz call joins through `…/call`, the conference
//! verb's status events arrive at `…/status`, a kick redirects the call through the fake
//! live call control API, `…/after` plays the `post_actions`, and a `gather`'s digits come
//! back to `…/gather` (§13). Every answer is checked with `@jambonz/verb-specifications`
//! (what jambonz's feature server runs) and `@jambonz/schema`; the test payloads are checked
//! with `@jambonz/schema` too.

use crate::support::dialects::{
    jambonz_sign, jambonz_valid, Dialect, JAMBONZ_ACCOUNT, JAMBONZ_KEY,
};
use crate::support::tools;
use serde_json::{json, Value};
use std::time::Duration;

const CALL: &str = "5f1c2e5b-8a2d-4a39-9f5e-1c2d3e4f5a6b";

/// The call webhook jambonz sends for a new call (the fields of `session-new`).
fn call_body() -> Value {
    json!({
        "call_sid": CALL,
        "direction": "inbound",
        "from": "+15550001",
        "to": "+15559999",
        "call_id": "sip-call-id-1",
        "sip_status": 100,
        "call_status": "trying",
        "caller_name": "Alice",
        "account_sid": JAMBONZ_ACCOUNT,
        "application_sid": "0dddaabf-0a30-43e3-84e8-426873b1a78b",
        "originating_sip_ip": "10.0.0.1",
        "local_sip_address": "10.0.0.2:5060",
        "trace_id": "0",
    })
}

fn status_body(event: &str, conf: &str) -> Value {
    let mut b = call_body();
    b["call_status"] = json!("in-progress");
    b["sip_status"] = json!(200);
    b["event"] = json!(event);
    b["conference_sid"] = json!(format!("conf:{JAMBONZ_ACCOUNT}:{conf}"));
    b["friendly_name"] = json!(conf);
    b["members"] = json!(1);
    b["time"] = json!("2026-11-23T10:00:00.000Z");
    b["duration"] = json!(0);
    b
}

async fn valid_payload(kind: &'static str, body: &Value) {
    let b = body.clone();
    let checked = tokio::task::spawn_blocking(move || tools::jambonz_payload(kind, &b))
        .await
        .expect("schema tool");
    assert_eq!(checked, Ok(()), "{kind} payload: {body}");
}

async fn valid_verbs(verbs: &Value) {
    assert_eq!(jambonz_valid(verbs).await, Ok(()), "{verbs}");
    let v = verbs.clone();
    let schema = tokio::task::spawn_blocking(move || tools::jambonz_schema_validate(&v))
        .await
        .expect("schema tool");
    assert_eq!(schema, Ok(()), "{verbs}");
}

#[tokio::test]
async fn a_jambonz_call_joins_is_kicked_and_hears_the_post_actions() {
    let d = Dialect::jambonz(|_| {}).await;
    valid_payload("session-new", &call_body()).await;
    let (status, verbs) = d.jambonz_post("call", &call_body()).await;
    assert_eq!(status, 200, "{verbs}");
    valid_verbs(&verbs).await;
    assert_eq!(
        verbs,
        json!([
            {"verb": "say", "text": "Hello. Welcome to the test conference.",
             "synthesizer": {"vendor": "default", "language": "en-US"}},
            {"verb": "conference", "name": d.conf, "beep": false, "startConferenceOnEnter": true,
             "statusHook": d.server.url(&d.path("status")), "statusEvents": ["join", "leave"],
             "actionHook": d.server.url(&d.path("after")),
             "endConferenceOnExit": false, "joinMuted": false}
        ])
    );
    let join = status_body("join", &d.conf);
    valid_payload("conference-status", &join).await;
    for _ in 0..2 {
        let (status, _) = d.jambonz_post("status", &join).await;
        assert_eq!(status, 200);
    }
    let conf = d.server.conference(&d.customer.key, &d.conf).await;
    let cc = conf["conferencecall_ids"][0]
        .as_str()
        .expect("joined")
        .to_string();

    // A kick redirects the call to …/after through live call control.
    let (status, _) = d
        .api("DELETE", &format!("/v1.0/conferencecalls/{cc}"), None)
        .await;
    assert_eq!(status, 200);
    let got = d
        .api
        .wait_for_total(1, Duration::from_secs(5))
        .await
        .remove(0);
    assert_eq!(got.method(), "PUT");
    assert_eq!(
        got.path(),
        format!("/api/v1/Accounts/{JAMBONZ_ACCOUNT}/Calls/{CALL}")
    );
    assert_eq!(got.header("authorization"), format!("Bearer {JAMBONZ_KEY}"));
    assert_eq!(
        got.json(),
        json!({"call_hook": {"url": d.server.url(&d.path("after")), "method": "POST"}})
    );

    // jambonz fetches the redirect: the post_actions.
    let (status, verbs) = d.jambonz_post("after", &call_body()).await;
    assert_eq!(status, 200);
    valid_verbs(&verbs).await;
    assert_eq!(
        verbs,
        json!([{"verb": "say", "text": "The conference has closed. Thank you. Good bye.",
            "synthesizer": {"vendor": "default", "language": "en-US"}}])
    );
    let (status, _) = d
        .jambonz_post("status", &status_body("leave", &d.conf))
        .await;
    assert_eq!(status, 200);
    let (_, call) = d
        .api("GET", &format!("/v1.0/conferencecalls/{cc}"), None)
        .await;
    assert_eq!(call["status"], "leaved");
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

#[tokio::test]
async fn every_action_renders_as_a_verb_jambonz_accepts() {
    let d = Dialect::jambonz(|_| {}).await;
    // With the AWS speech vendor, gender and language pick a Polly voice.
    let (status, _) = d
        .api(
            "PUT",
            "/v1.0/customer",
            Some(json!({"jambonz": {"tts_vendor": "aws"}})),
        )
        .await;
    assert_eq!(status, 200);
    let actions = json!([
        {"type": "talk", "option": {"text": "Hallo ${call.from}", "gender": "male", "language": "de-DE"}},
        {"type": "talk", "option": {"text": "?", "gender": "neutral", "language": "xx-XX"}},
        {"type": "play", "option": {"stream_urls": ["https://example.com/a.mp3", "https://example.com/b.wav"]}},
        {"type": "beep"},
        {"type": "sleep", "option": {"duration": 1500}},
    ]);
    let (status, _) = d
        .api(
            "PUT",
            &format!("/v1.0/conferences/{}", d.conf),
            Some(json!({"pre_actions": actions, "post_actions": [{"type": "hangup"}]})),
        )
        .await;
    assert_eq!(status, 200);
    let (_, verbs) = d.jambonz_post("call", &call_body()).await;
    valid_verbs(&verbs).await;
    let names: Vec<&str> = verbs
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["verb"].as_str())
        .collect();
    assert_eq!(
        names,
        ["say", "say", "play", "play", "play", "pause", "conference"]
    );
    assert_eq!(verbs[0]["text"], "Hallo +15550001");
    assert_eq!(
        verbs[0]["synthesizer"],
        json!({"vendor": "aws", "language": "de-DE", "voice": "Hans"})
    );
    assert_eq!(
        verbs[1]["synthesizer"],
        json!({"vendor": "aws", "language": "xx-XX"})
    );
    assert_eq!(verbs[4]["url"], d.server.url("/v1.0/sounds/beep.wav"));
    assert_eq!(verbs[5]["length"], 2);
    let beep = d
        .server
        .client
        .get(d.server.url("/v1.0/sounds/beep.wav"))
        .send()
        .await
        .expect("beep");
    assert_eq!(beep.headers()["content-type"], "audio/wav");
    let (_, after) = d.jambonz_post("after", &call_body()).await;
    valid_verbs(&after).await;
    assert_eq!(after, json!([{"verb": "hangup"}]));
}

#[tokio::test]
async fn signatures_and_refusals() {
    let d = Dialect::jambonz(|_| {}).await;
    let raw = call_body().to_string();
    let now = crate::support::signature::unix_now();
    let good = format!(
        "t={now},v1={}",
        jambonz_sign(crate::support::dialects::JAMBONZ_SECRET, now, &raw)
    );
    let stale_t = now - 301;
    let stale = format!(
        "t={stale_t},v1={}",
        jambonz_sign(crate::support::dialects::JAMBONZ_SECRET, stale_t, &raw)
    );
    let wrong = format!("t={now},v1={}", jambonz_sign("another secret", now, &raw));
    for (header, want) in [
        (None, 403),
        (Some(wrong.as_str()), 403),
        (Some(stale.as_str()), 403),
    ] {
        let (status, body) = d.jambonz_post_signed("call", &raw, header).await;
        assert_eq!(status, want, "{header:?}: {body}");
    }
    // The body is signed byte for byte: the same JSON with other spacing does not verify.
    let spaced = serde_json::to_string_pretty(&call_body()).unwrap_or_default();
    let (status, _) = d.jambonz_post_signed("call", &spaced, Some(&good)).await;
    assert_eq!(status, 403);
    let (status, _) = d.jambonz_post_signed("call", &raw, Some(&good)).await;
    assert_eq!(status, 200);
    // A closed conference: hang up, no conference verb.
    d.api("DELETE", &format!("/v1.0/conferences/{}", d.conf), None)
        .await;
    let mut second = call_body();
    second["call_sid"] = json!("another-call");
    let (status, verbs) = d.jambonz_post("call", &second).await;
    assert_eq!((status, verbs), (200, json!([{"verb": "hangup"}])));
    let (status, err) = d.jambonz_post("call", &json!({"from": "+1"})).await;
    assert_eq!(status, 400);
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("call_sid"),
        "{err}"
    );
}

#[tokio::test]
async fn a_caller_hanging_up_before_the_conference_leaves_by_the_call_status_hook() {
    let d = Dialect::jambonz(|_| {}).await;
    d.jambonz_post("call", &call_body()).await;
    let mut update = call_body();
    update["call_status"] = json!("in-progress");
    let (code, _) = d.jambonz_post("status", &update).await;
    assert_eq!(code, 200);
    let (_, calls) = d.api("GET", "/v1.0/conferencecalls", None).await;
    assert_eq!(calls["result"][0]["status"], "joining");
    update["call_status"] = json!("completed");
    valid_payload("call-status", &update).await;
    let (code, _) = d.jambonz_post("status", &update).await;
    assert_eq!(code, 200);
    let (_, calls) = d.api("GET", "/v1.0/conferencecalls", None).await;
    assert_eq!(calls["result"][0]["status"], "leaved");
}

#[tokio::test]
async fn a_recording_no_platform_runs_ends_when_stopped() {
    let d = Dialect::jambonz(|_| {}).await;
    d.jambonz_post("call", &call_body()).await;
    d.jambonz_post("status", &status_body("join", &d.conf))
        .await;
    let path = |op: &str| format!("/v1.0/conferences/{}/{op}", d.conf);
    let (status, conf) = d
        .api("POST", &path("recording_start"), Some(json!({})))
        .await;
    assert_eq!(status, 200, "{conf}");
    let rec = conf["recording_id"]
        .as_str()
        .expect("recording")
        .to_string();
    let (status, _) = d
        .api("POST", &path("recording_stop"), Some(json!({})))
        .await;
    assert_eq!(status, 200);
    // jambonz cannot record a conference: nothing will report it finished, so it ends now.
    let (_, r) = d.api("GET", &format!("/v1.0/recordings/{rec}"), None).await;
    assert_eq!(r["status"], "ended");
    assert_eq!(d.api.arrivals().len(), 0, "nothing was sent to jambonz");
}

/// What jambonz posts to a `gather`'s actionHook: the call's fields, why the gather ended and,
/// when the caller entered some, the digits.
fn gather_body(digits: Option<&str>) -> Value {
    let mut b = call_body();
    b["call_status"] = json!("in-progress");
    b["sip_status"] = json!(200);
    match digits {
        Some(d) => {
            b["reason"] = json!("dtmfDetected");
            b["digits"] = json!(d);
        }
        None => b["reason"] = json!("timeout"),
    }
    b
}

/// The PIN room (the shipped `pin` flow) on jambonz: `say` and a `gather` whose actionHook is
/// `…/gather?pause=N`; a wrong PIN and a timeout each ask again under the next pause, the right
/// PIN joins the conference, a retried hook replays its answer, and a hook for a pause the
/// call is not waiting at hangs up. Every answer passes jambonz's validators, every body posted
/// here `@jambonz/schema`'s callback schemas.
#[tokio::test]
async fn a_pin_room_asks_through_gather_and_lets_the_right_pin_in() {
    let d = Dialect::jambonz(|_| {}).await;
    let (status, body) = d
        .api(
            "PUT",
            &format!("/v1.0/conferences/{}", d.conf),
            Some(json!({"data": {"pin": "4711"},
                "pre_actions": [{"type": "flow", "option": {"name": "pin"}}]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let say = |text: &str| {
        json!({"verb": "say", "text": text,
            "synthesizer": {"vendor": "default", "language": "en-US"}})
    };
    let prompt = say("Please enter the conference PIN, then press pound.");
    let wrong = say("That PIN is not correct.");
    let gather = |pause: u32| {
        json!({"verb": "gather", "input": ["digits"], "maxDigits": 8, "finishOnKey": "#",
            "timeout": 10, "actionHook": d.server.url(&d.path(&format!("gather?pause={pause}")))})
    };

    let (status, verbs) = d.jambonz_post("call", &call_body()).await;
    assert_eq!(status, 200, "{verbs}");
    valid_verbs(&verbs).await;
    assert_eq!(verbs, json!([prompt, gather(1)]));

    let wrong_pin = gather_body(Some("1234"));
    valid_payload("gather", &wrong_pin).await;
    let (status, first) = d.jambonz_post("gather?pause=1", &wrong_pin).await;
    assert_eq!(status, 200, "{first}");
    valid_verbs(&first).await;
    assert_eq!(first, json!([wrong, prompt, gather(2)]));

    // Nothing entered before the timeout: no `digits`, which is a wrong PIN too.
    let timed_out = gather_body(None);
    valid_payload("gather", &timed_out).await;
    let (status, verbs) = d.jambonz_post("gather?pause=2", &timed_out).await;
    assert_eq!(status, 200, "{verbs}");
    valid_verbs(&verbs).await;
    assert_eq!(verbs, json!([wrong, prompt, gather(3)]));

    let right_pin = gather_body(Some("4711"));
    let (status, verbs) = d.jambonz_post("gather?pause=3", &right_pin).await;
    assert_eq!(status, 200, "{verbs}");
    valid_verbs(&verbs).await;
    assert_eq!(
        verbs,
        json!([
            say("Thank you. You are joining the conference."),
            {"verb": "conference", "name": d.conf, "beep": false, "startConferenceOnEnter": true,
             "statusHook": d.server.url(&d.path("status")), "statusEvents": ["join", "leave"],
             "actionHook": d.server.url(&d.path("after")),
             "endConferenceOnExit": false, "joinMuted": false}
        ])
    );

    // jambonz retrying the first hook gets the first answer again, byte for byte.
    let raw = |v: &Value| v.to_string();
    let (status, again) = d.jambonz_post("gather?pause=1", &wrong_pin).await;
    assert_eq!((status, raw(&again)), (200, raw(&first)));
    // A pause the call is not waiting at: nothing continues; the caller is hung up, not let in.
    let (status, stale) = d.jambonz_post("gather?pause=4", &right_pin).await;
    assert_eq!((status, stale), (200, json!([{"verb": "hangup"}])));

    d.jambonz_post("status", &status_body("join", &d.conf))
        .await;
    let conf = d.server.conference(&d.customer.key, &d.conf).await;
    assert_eq!(conf["conferencecall_ids"].as_array().map(Vec::len), Some(1));
}

/// A gather hook is believed only when signed, and read strictly: keypad digits only, and the
/// pause number confab put in the actionHook.
#[tokio::test]
async fn a_gather_hook_is_signed_and_names_its_pause() {
    let d = Dialect::jambonz(|_| {}).await;
    d.api(
        "PUT",
        &format!("/v1.0/conferences/{}", d.conf),
        Some(json!({"data": {"pin": "4711"},
            "pre_actions": [{"type": "flow", "option": {"name": "pin"}}]})),
    )
    .await;
    d.jambonz_post("call", &call_body()).await;
    let raw = gather_body(Some("4711")).to_string();
    let now = crate::support::signature::unix_now();
    let wrong = format!("t={now},v1={}", jambonz_sign("another secret", now, &raw));
    for header in [None, Some(wrong.as_str())] {
        let (status, body) = d.jambonz_post_signed("gather?pause=1", &raw, header).await;
        assert_eq!(status, 403, "{header:?}: {body}");
    }
    let refused = |err: &Value, field: &str| {
        assert_eq!(err["error"]["reason"], "INVALID_ARGUMENT", "{err}");
        let message = err["error"]["message"].as_str().unwrap_or_default();
        assert!(message.starts_with(&format!("{field}:")), "{err}");
    };
    let (status, err) = d
        .jambonz_post("gather?pause=1", &gather_body(Some("12x")))
        .await;
    assert_eq!(status, 400);
    refused(&err, "digits");
    let mut no_call = gather_body(Some("4711"));
    if let Some(fields) = no_call.as_object_mut() {
        fields.remove("call_sid");
    }
    let (status, err) = d.jambonz_post("gather?pause=1", &no_call).await;
    assert_eq!(status, 400);
    refused(&err, "call_sid");
    for leaf in ["gather", "gather?pause=0", "gather?pause=x"] {
        let (status, err) = d.jambonz_post(leaf, &gather_body(Some("4711"))).await;
        assert_eq!(status, 400, "{leaf}: {err}");
        refused(&err, "pause");
    }
    let (status, verbs) = d
        .jambonz_post("gather?pause=1", &gather_body(Some("4711")))
        .await;
    assert_eq!(status, 200);
    assert_eq!(verbs[1]["verb"], "conference", "{verbs}");
}

const MUSIC: &str = "https://music.example/hold.mp3";

/// A room where only a moderator starts the conference and its leaving ends it for the others;
/// the caller's number (`platform.from`) picks the role.
fn moderated_room() -> Value {
    let (m, l, j) = (
        "7a0e0000-0000-4000-8000-000000000001",
        "7a0e0000-0000-4000-8000-000000000002",
        "7a0e0000-0000-4000-8000-000000000003",
    );
    json!({
        "wait_for_moderator": true, "end_on_moderator_exit": true, "wait_music_url": MUSIC,
        "pre_actions": [
            {"type": "branch", "option": {"variable": "platform.from",
                "target_ids": {"+15550001": m, "+15550003": l}, "default_target_id": j}},
            {"id": m, "type": "role_set", "option": {"role": "moderator"}, "next_id": j},
            {"id": l, "type": "role_set", "option": {"role": "listener"}, "next_id": j},
            {"id": j, "type": "talk", "option": {"text": "You join as ${conferencecall.role}."}}
        ]
    })
}

/// The call webhook for call `sid` from `from`.
fn call_from(sid: &str, from: &str) -> Value {
    let mut b = call_body();
    b["call_sid"] = json!(sid);
    b["from"] = json!(from);
    b
}

/// A conference status event of call `sid`.
fn status_of(sid: &str, event: &str, conf: &str) -> Value {
    let mut b = status_body(event, conf);
    b["call_sid"] = json!(sid);
    b
}

/// Room rules on jambonz (§14): the role a flow picks from the caller's number decides the
/// `conference` verb's startConferenceOnEnter, endConferenceOnExit and joinMuted, and a room
/// with music names confab's `…/wait` as its waitHook. Every answer passes
/// `@jambonz/verb-specifications` and `@jambonz/schema`. When the last joined moderator
/// leaves, every other joined call is redirected through live call control exactly once; a
/// call still joining is not.
#[tokio::test]
async fn a_moderated_room_joins_each_role_as_jambonz_accepts_and_the_moderator_leaving_redirects_the_others(
) {
    let d = Dialect::jambonz(|_| {}).await;
    let (status, body) = d
        .api(
            "PUT",
            &format!("/v1.0/conferences/{}", d.conf),
            Some(moderated_room()),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let conference = |start: bool, end: bool, muted: bool, wait: bool| {
        let mut v = json!({"verb": "conference", "name": d.conf, "beep": false,
            "startConferenceOnEnter": start, "endConferenceOnExit": end, "joinMuted": muted,
            "statusHook": d.server.url(&d.path("status")), "statusEvents": ["join", "leave"],
            "actionHook": d.server.url(&d.path("after"))});
        if wait {
            v["waitHook"] = json!(d.server.url(&d.path("wait")));
        }
        v
    };
    let say = |role: &str| {
        json!({"verb": "say", "text": format!("You join as {role}."),
            "synthesizer": {"vendor": "default", "language": "en-US"}})
    };
    let roles = [
        ("js-mod", "+15550001", "moderator", true, true, false),
        ("js-part", "+15550002", "participant", false, false, false),
        ("js-listen", "+15550003", "listener", false, false, true),
    ];
    for (sid, from, role, start, end, muted) in roles {
        let (status, verbs) = d.jambonz_post("call", &call_from(sid, from)).await;
        assert_eq!(status, 200, "{verbs}");
        valid_verbs(&verbs).await;
        assert_eq!(
            verbs,
            json!([say(role), conference(start, end, muted, true)])
        );
    }

    // Without music there is no waitHook: a caller who waits hears silence.
    d.api(
        "PUT",
        &format!("/v1.0/conferences/{}", d.conf),
        Some(json!({"wait_music_url": ""})),
    )
    .await;
    let (_, verbs) = d
        .jambonz_post("call", &call_from("js-late", "+15550004"))
        .await;
    valid_verbs(&verbs).await;
    assert_eq!(
        verbs,
        json!([say("participant"), conference(false, false, false, false)])
    );

    // The three join; the fourth is still on its way in (joining).
    for sid in ["js-mod", "js-part", "js-listen"] {
        let (status, _) = d
            .jambonz_post("status", &status_of(sid, "join", &d.conf))
            .await;
        assert_eq!(status, 200);
    }
    d.server.drain_outbox().await;
    assert_eq!(
        d.api.arrivals().len(),
        0,
        "nothing is kicked while a moderator is in"
    );

    // The moderator leaves: the participant and the listener are redirected, once each.
    let leave = status_of("js-mod", "leave", &d.conf);
    valid_payload("conference-status", &leave).await;
    let (status, _) = d.jambonz_post("status", &leave).await;
    assert_eq!(status, 200);
    let redirect = json!({"call_hook": {"url": d.server.url(&d.path("after")), "method": "POST"}});
    let redirected = |arrivals: Vec<crate::support::Arrival>| {
        let mut r: Vec<String> = arrivals
            .iter()
            .map(|a| {
                assert_eq!(a.method(), "PUT");
                assert_eq!(a.header("authorization"), format!("Bearer {JAMBONZ_KEY}"));
                assert_eq!(a.json(), redirect);
                a.path().to_string()
            })
            .collect();
        r.sort();
        r
    };
    let call_path = |sid: &str| format!("/api/v1/Accounts/{JAMBONZ_ACCOUNT}/Calls/{sid}");
    let want = vec![call_path("js-listen"), call_path("js-part")];
    let got = d.api.wait_for_total(2, Duration::from_secs(5)).await;
    assert_eq!(redirected(got), want);
    // jambonz retrying the leave, then the moderator's actionHook: the same leave, no new kick.
    d.jambonz_post("status", &leave).await;
    let (status, verbs) = d
        .jambonz_post("after", &call_from("js-mod", "+15550001"))
        .await;
    assert_eq!(status, 200);
    valid_verbs(&verbs).await;
    // The redirected calls fetch …/after and leave; that kicks nobody either.
    for sid in ["js-part", "js-listen"] {
        let (status, verbs) = d.jambonz_post("after", &call_from(sid, "+1")).await;
        assert_eq!(status, 200);
        valid_verbs(&verbs).await;
        d.jambonz_post("status", &status_of(sid, "leave", &d.conf))
            .await;
    }
    d.server.drain_outbox().await;
    assert_eq!(
        redirected(d.api.arrivals()),
        want,
        "each kicked exactly once"
    );
    let (_, calls) = d.api("GET", "/v1.0/conferencecalls", None).await;
    let late = calls["result"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["reference_id"] == "js-late")
        .map(|c| c["status"].clone());
    assert_eq!(
        late,
        Some(json!("joining")),
        "a call on its way in is not kicked"
    );
    let conf = d.server.conference(&d.customer.key, &d.conf).await;
    assert_eq!(conf["status"], "progressing", "the room stays open");
}

/// The conference verb's waitHook: signed like every jambonz webhook (bad or missing → 403),
/// answered with the room's music as a `play` looping `"forever"` (which jambonz's feature
/// server plays until the conference starts and kills it), or `[]` when the room has none.
#[tokio::test]
async fn the_wait_hook_is_signed_and_plays_the_rooms_music() {
    let d = Dialect::jambonz(|_| {}).await;
    d.api(
        "PUT",
        &format!("/v1.0/conferences/{}", d.conf),
        Some(moderated_room()),
    )
    .await;
    let (_, verbs) = d
        .jambonz_post("call", &call_from("js-w", "+15550002"))
        .await;
    assert_eq!(verbs[1]["waitHook"], json!(d.server.url(&d.path("wait"))));

    // What jambonz posts to a waitHook: the call's details.
    let mut waiting = call_from("js-w", "+15550002");
    waiting["call_status"] = json!("in-progress");
    waiting["sip_status"] = json!(200);
    valid_payload("conference-wait", &waiting).await;
    let raw = waiting.to_string();
    let now = crate::support::signature::unix_now();
    let wrong = format!("t={now},v1={}", jambonz_sign("another secret", now, &raw));
    for header in [None, Some(wrong.as_str())] {
        let (status, body) = d.jambonz_post_signed("wait", &raw, header).await;
        assert_eq!(status, 403, "{header:?}: {body}");
    }
    let (status, music) = d.jambonz_post("wait", &waiting).await;
    assert_eq!(status, 200);
    valid_verbs(&music).await;
    assert_eq!(
        music,
        json!([{"verb": "play", "url": MUSIC, "loop": "forever"}])
    );
    // The music as the room has it now.
    d.api(
        "PUT",
        &format!("/v1.0/conferences/{}", d.conf),
        Some(json!({"wait_music_url": ""})),
    )
    .await;
    let (status, silence) = d.jambonz_post("wait", &waiting).await;
    assert_eq!((status, silence.clone()), (200, json!([])));
    valid_verbs(&silence).await;
}

/// A full room (`max_participants`, counting calls still joining) and a locked one refuse a
/// jambonz caller with `hangup`, never a `conference`; the call already in stays.
#[tokio::test]
async fn a_full_or_locked_room_hangs_up_on_jambonz() {
    let d = Dialect::jambonz(|_| {}).await;
    let hangup = json!([{"verb": "hangup"}]);
    d.api(
        "PUT",
        &format!("/v1.0/conferences/{}", d.conf),
        Some(json!({"max_participants": 1})),
    )
    .await;
    let (_, first) = d
        .jambonz_post("call", &call_from("js-1", "+15550001"))
        .await;
    assert_eq!(first[1]["verb"], "conference", "{first}");
    // The first call has not joined yet: it counts all the same.
    let (status, full) = d
        .jambonz_post("call", &call_from("js-2", "+15550002"))
        .await;
    assert_eq!((status, full.clone()), (200, hangup.clone()));
    valid_verbs(&full).await;
    d.jambonz_post("status", &status_of("js-1", "join", &d.conf))
        .await;

    d.api(
        "PUT",
        &format!("/v1.0/conferences/{}", d.conf),
        Some(json!({"max_participants": 0, "locked": true})),
    )
    .await;
    let (status, locked) = d
        .jambonz_post("call", &call_from("js-3", "+15550003"))
        .await;
    assert_eq!((status, locked), (200, hangup));
    let (_, calls) = d.api("GET", "/v1.0/conferencecalls", None).await;
    let refs: Vec<(&str, &str)> = calls["result"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| Some((c["reference_id"].as_str()?, c["status"].as_str()?)))
        .collect();
    assert_eq!(
        refs,
        [("js-1", "joined")],
        "refused calls are not stored; js-1 stays"
    );
}

/// Acting on a live jambonz call (§15) through live call control (`PUT
/// …/v1/Accounts/{account}/Calls/{call}`, the API key as Bearer), in the fields
/// jambonz-api-server's `updateCall` accepts and its feature server's conference task reads:
/// mute is the member's own `conferenceParticipantAction` (`conf_mute_status` would mute every
/// non-moderator), hold is `conf_hold_status` with the music named by `wait_hook`, confab's
/// `…/wait?music=`, which jambonz then fetches and gets the music looping. Asking for the
/// state the call has sends nothing. jambonz can say nothing to a conference member (its
/// `whisper` plays only during a `dial`), so a say to the call or the room is answered and
/// sends nothing. A call that leaves is neither muted nor held.
#[tokio::test]
async fn a_joined_jambonz_call_is_muted_and_held_through_live_call_control() {
    const HOLD_MUSIC: &str = "https://music.example/hold.mp3?a=1&b=2";
    let d = Dialect::jambonz(|_| {}).await;
    d.jambonz_post("call", &call_body()).await;
    d.jambonz_post("status", &status_body("join", &d.conf))
        .await;
    let conf = d.server.conference(&d.customer.key, &d.conf).await;
    let cc = conf["conferencecall_ids"][0]
        .as_str()
        .expect("joined")
        .to_string();
    let control = |leaf: &str| format!("/v1.0/conferencecalls/{cc}/{leaf}");
    let quiet = Duration::from_millis(400);
    let wait = format!(
        "{}?music=https%3A%2F%2Fmusic.example%2Fhold.mp3%3Fa%3D1%26b%3D2",
        d.server.url(&d.path("wait"))
    );
    let steps = [
        (
            "POST",
            "mute",
            None,
            ("muted", true),
            json!({"conferenceParticipantAction": {"action": "mute"}}),
        ),
        (
            "DELETE",
            "mute",
            None,
            ("muted", false),
            json!({"conferenceParticipantAction": {"action": "unmute"}}),
        ),
        (
            "POST",
            "hold",
            Some(json!({"music_url": HOLD_MUSIC})),
            ("hold", true),
            json!({"conf_hold_status": "hold", "wait_hook": wait}),
        ),
        (
            "DELETE",
            "hold",
            None,
            ("hold", false),
            json!({"conf_hold_status": "unhold"}),
        ),
        // Without music the member hears nothing while held.
        (
            "POST",
            "hold",
            None,
            ("hold", true),
            json!({"conf_hold_status": "hold"}),
        ),
    ];
    let sent = steps.len();
    for (n, (method, leaf, body, (state, value), want)) in steps.into_iter().enumerate() {
        let (status, call) = d.api(method, &control(leaf), body.clone()).await;
        assert_eq!(
            (status, &call[state]),
            (200, &json!(value)),
            "{method} {leaf}: {call}"
        );
        let got = d.api.wait_for_total(n + 1, Duration::from_secs(5)).await;
        let got = &got[n];
        assert_eq!(
            (got.method(), got.path()),
            (
                "PUT",
                format!("/api/v1/Accounts/{JAMBONZ_ACCOUNT}/Calls/{CALL}").as_str()
            )
        );
        assert_eq!(got.header("authorization"), format!("Bearer {JAMBONZ_KEY}"));
        assert_eq!(got.header("content-type"), "application/json");
        assert_eq!(got.json(), want, "{method} {leaf}");
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

    // On hold with music, jambonz fetches the wait_hook (signed): the music, looping.
    valid_payload("conference-wait", &call_body()).await;
    let (status, verbs) = d
        .jambonz_post(
            "wait?music=https%3A%2F%2Fmusic.example%2Fhold.mp3%3Fa%3D1%26b%3D2",
            &call_body(),
        )
        .await;
    assert_eq!(status, 200);
    valid_verbs(&verbs).await;
    assert_eq!(
        verbs,
        json!([{"verb": "play", "url": HOLD_MUSIC, "loop": "forever"}])
    );

    // Said to the call: refused, saying why (jambonz plays nothing into a conference); said
    // to the room: answered (for the room's other calls), nothing sent to jambonz.
    let said = json!({"actions": [{"type": "talk", "option": {"text": "You are next."}}]});
    let (status, refused) = d.api("POST", &control("actions"), Some(said.clone())).await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["error"]["reason"], "STATE_INVALID");
    assert!(
        refused["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("jambonz call cannot be spoken to")),
        "{refused}"
    );
    let (status, _) = d
        .api(
            "POST",
            &format!("/v1.0/conferences/{}/actions", d.conf),
            Some(said),
        )
        .await;
    assert_eq!(status, 200);
    d.api
        .assert_stays_at(
            sent,
            quiet,
            "jambonz cannot say anything to a conference member",
        )
        .await;

    // It leaves, held: neither muted nor held any more.
    d.api("POST", &control("mute"), None).await;
    d.api.wait_for_total(sent + 1, Duration::from_secs(5)).await;
    d.jambonz_post("status", &status_body("leave", &d.conf))
        .await;
    let (_, call) = d
        .api("GET", &format!("/v1.0/conferencecalls/{cc}"), None)
        .await;
    assert_eq!(
        (&call["status"], &call["muted"], &call["hold"]),
        (&json!("leaved"), &json!(false), &json!(false))
    );
}
