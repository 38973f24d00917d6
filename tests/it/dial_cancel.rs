//! A dial-out kicked while it rings is cancelled on its platform (SPEC §15): the phone stops
//! ringing instead of being answered into a room that no longer wants it. Native platforms
//! are told at once (they know the dial by its conferencecall); Twilio and jambonz once their
//! status callback has said which call rings, whichever of the kick and that report comes
//! first. The requests are held to twilio-python's own and to jambonz's documented ones.

use crate::support::dialects::{twilio_rest, Dialect, TwilioRequest, JAMBONZ_ACCOUNT};
use crate::support::{signed, Receiver, TestServer};
use serde_json::{json, Value};
use std::time::Duration;

const QUIET: Duration = Duration::from_millis(400);

fn callee(n: u32, dialect: &str) -> Value {
    json!({"destination": format!("+1202555{n:04}"), "from": "+12025550100",
        "timeout": 20, "dialect": dialect})
}

/// Dials through `d`'s platform: the dialled conferencecall's id.
async fn dial(d: &Dialect, n: u32, dialect: &str) -> String {
    let path = format!("/v1.0/conferences/{}/conferencecalls", d.conf);
    let (status, call) = d.api("POST", &path, Some(callee(n, dialect))).await;
    assert_eq!(
        (status, call["status"].as_str()),
        (200, Some("dialing")),
        "{call}"
    );
    call["id"].as_str().unwrap_or_default().to_string()
}

async fn kick(d: &Dialect, id: &str) {
    let (status, call) = d
        .api("DELETE", &format!("/v1.0/conferencecalls/{id}"), None)
        .await;
    assert_eq!(
        (status, call["status"].as_str()),
        (200, Some("leaving")),
        "{call}"
    );
}

async fn call(d: &Dialect, id: &str) -> Value {
    d.api("GET", &format!("/v1.0/conferencecalls/{id}"), None)
        .await
        .1
}

/// Twilio's call status callback for dial `id`: `CallStatus` of the call `sid`.
async fn twilio_status(d: &Dialect, id: &str, sid: &str, status: &str) {
    let params = [
        ("AccountSid", crate::support::dialects::TWILIO_ACCOUNT),
        ("CallSid", sid),
        ("CallStatus", status),
        ("Direction", "outbound-api"),
        ("CallbackSource", "call-progress-events"),
        ("SequenceNumber", "0"),
    ];
    let (code, twiml) = d
        .twilio_post(&format!("status?conferencecall={id}"), &params)
        .await;
    assert_eq!(code, 200, "{status}: {twiml}");
}

/// The `n`th request (1-based) the fake Twilio API received.
async fn twilio_request(d: &Dialect, n: usize) -> TwilioRequest {
    let all = d.api.wait_for_total(n, Duration::from_secs(5)).await;
    TwilioRequest::received(&all[n - 1])
}

#[tokio::test]
async fn twilio_cancels_a_ringing_dial_whether_the_kick_or_the_ringing_comes_first() {
    let d = Dialect::twilio(|_| {}).await;
    let first = dial(&d, 1, "twilio").await;
    // Calls create as twilio-python makes it, asking for the call's progress events.
    let voice = d
        .server
        .url(&d.path(&format!("voice?conferencecall={first}")));
    let status = d
        .server
        .url(&d.path(&format!("status?conferencecall={first}")));
    let want = twilio_rest(
        json!([["calls", null]]),
        "create",
        json!({"to": "+12025550001", "from_": "+12025550100", "url": voice, "method": "POST",
            "status_callback": status, "status_callback_method": "POST",
            "status_callback_event": ["initiated", "ringing", "completed"],
            "timeout": 20, "machine_detection": "Enable"}),
    )
    .await;
    assert_eq!(twilio_request(&d, 1).await, want);

    // The ringing is reported, then the dial is kicked: cancelled at once.
    twilio_status(&d, &first, "CA-ring-1", "initiated").await;
    twilio_status(&d, &first, "CA-ring-1", "ringing").await;
    kick(&d, &first).await;
    let cancel = |sid: &str| {
        twilio_rest(
            json!([["calls", sid]]),
            "update",
            json!({"status": "canceled"}),
        )
    };
    assert_eq!(twilio_request(&d, 2).await, cancel("CA-ring-1").await);
    // Twilio then reports the call canceled: the dial has ended.
    twilio_status(&d, &first, "CA-ring-1", "canceled").await;
    let ended = call(&d, &first).await;
    assert_eq!(
        (ended["status"].as_str(), ended["leave_reason"].as_str()),
        (Some("leaved"), Some("canceled")),
        "{ended}"
    );

    // Kicked before Twilio said which call rings: nothing can be cancelled yet, and the
    // first report of it cancels it; the next report is the same event and sends nothing.
    let second = dial(&d, 2, "twilio").await;
    d.api.wait_for_total(3, Duration::from_secs(5)).await;
    kick(&d, &second).await;
    d.api
        .assert_stays_at(3, QUIET, "no call id to cancel yet")
        .await;
    twilio_status(&d, &second, "CA-ring-2", "initiated").await;
    assert_eq!(twilio_request(&d, 4).await, cancel("CA-ring-2").await);
    twilio_status(&d, &second, "CA-ring-2", "ringing").await;
    d.api.assert_stays_at(4, QUIET, "cancelled once").await;

    // A dial that rings and is answered is no longer cancelled by a late report: the
    // answered callee is a member, kicked as one.
    let third = dial(&d, 3, "twilio").await;
    d.api.wait_for_total(5, Duration::from_secs(5)).await;
    twilio_status(&d, &third, "CA-ring-3", "ringing").await;
    let answer = [
        ("AccountSid", crate::support::dialects::TWILIO_ACCOUNT),
        ("CallSid", "CA-ring-3"),
        ("From", "+12025550100"),
        ("To", "+12025550003"),
        ("CallStatus", "in-progress"),
        ("Direction", "outbound-api"),
    ];
    let (code, _) = d
        .twilio_post(&format!("voice?conferencecall={third}"), &answer)
        .await;
    assert_eq!(code, 200);
    twilio_status(&d, &third, "CA-ring-3", "ringing").await;
    assert_eq!(call(&d, &third).await["status"], "joining");
    d.api
        .assert_stays_at(5, QUIET, "an answered dial is not cancelled")
        .await;
}

#[tokio::test]
async fn jambonz_cancels_the_ringing_dials_of_a_terminated_conference() {
    let d = Dialect::jambonz(|_| {}).await;
    let ringing = dial(&d, 1, "jambonz").await;
    let unreported = dial(&d, 2, "jambonz").await;
    d.api.wait_for_total(2, Duration::from_secs(5)).await;
    let report = |id: String, sid: &'static str, status: &'static str| {
        let d = &d;
        async move {
            let body = json!({"call_sid": sid, "call_status": status, "direction": "outbound",
                "account_sid": JAMBONZ_ACCOUNT, "sip_status": 180});
            let (code, answer) = d
                .jambonz_post(&format!("status?conferencecall={id}"), &body)
                .await;
            assert_eq!(code, 200, "{answer}");
        }
    };
    report(ringing.clone(), "js-ring-1", "trying").await;
    report(ringing.clone(), "js-ring-1", "ringing").await;

    // The conference ends while both ring: the one jambonz named is cancelled at once.
    let (status, conf) = d
        .api("DELETE", &format!("/v1.0/conferences/{}", d.conf), None)
        .await;
    assert_eq!(
        (status, conf["status"].as_str()),
        (200, Some("terminating"))
    );
    let requests = d.api.wait_for_total(3, Duration::from_secs(5)).await;
    let cancel = |sid: &str| {
        json!({"method": "PUT", "path": format!("/api/v1/Accounts/{JAMBONZ_ACCOUNT}/Calls/{sid}"),
            "body": {"call_status": "no-answer"}})
    };
    let seen = |n: usize| {
        json!({"method": requests[n].method(), "path": requests[n].path(),
            "body": requests[n].json()})
    };
    assert_eq!(seen(2), cancel("js-ring-1"));
    assert!(requests[2].header("authorization").starts_with("Bearer "));
    d.api.assert_stays_at(3, QUIET, "one cancel").await;
    // The other one is cancelled when jambonz reports it.
    report(unreported.clone(), "js-ring-2", "ringing").await;
    let requests = d.api.wait_for_total(4, Duration::from_secs(5)).await;
    let last = json!({"method": requests[3].method(), "path": requests[3].path(),
        "body": requests[3].json()});
    assert_eq!(last, cancel("js-ring-2"));

    // jambonz reports both ended unanswered: the conference, empty, is terminated.
    report(ringing.clone(), "js-ring-1", "no-answer").await;
    report(unreported.clone(), "js-ring-2", "no-answer").await;
    for id in [&ringing, &unreported] {
        assert_eq!(call(&d, id).await["status"], "leaved");
    }
    let (_, conf) = d
        .api("GET", &format!("/v1.0/conferences/{}", d.conf), None)
        .await;
    assert_eq!(conf["status"], "terminated");
}

#[tokio::test]
async fn a_native_dial_kicked_while_it_rings_is_cancelled_at_once() {
    let platform = Receiver::start().await;
    let url = platform.uri();
    let s = TestServer::start_with(move |c| {
        signed(c);
        c.platform_url = Some(url);
        c.kick_grace = 30;
    })
    .await;
    let a = s.create_customer("a").await;
    let conf = s.create_conference(&a.key, json!({})).await["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let path = format!("/v1.0/conferences/{conf}/conferencecalls");
    let (status, dialled) = s
        .call("POST", &path, Some(&a.key), Some(callee(1, "native")))
        .await;
    assert_eq!(status, 200, "{dialled}");
    let id = dialled["id"].as_str().unwrap_or_default().to_string();
    let (status, kicked) = s
        .call(
            "DELETE",
            &format!("/v1.0/conferencecalls/{id}"),
            Some(&a.key),
            None,
        )
        .await;
    assert_eq!((status, kicked["status"].as_str()), (200, Some("leaving")));
    let commands = platform.wait_for_total(2, Duration::from_secs(5)).await;
    let types: Vec<Value> = commands.iter().map(|c| c.json()["type"].clone()).collect();
    assert_eq!(types, [json!("call_dial"), json!("call_dial_cancel")]);
    assert_eq!(
        commands[1].json()["data"],
        json!({"conference_id": conf, "conferencecall_id": id})
    );
    // The platform reports the first dial ended: the call has left, with the platform's reason.
    let ended = s
        .event(
            "cancelled-1",
            "call_left",
            json!({"call_id": format!("dial:{id}"), "conference_id": conf,
                "conferencecall_id": id, "reason": "canceled"}),
        )
        .send()
        .await;
    assert_eq!(ended.status, 200, "{}", ended.text());
    let (_, left) = s
        .call(
            "GET",
            &format!("/v1.0/conferencecalls/{id}"),
            Some(&a.key),
            None,
        )
        .await;
    assert_eq!(
        (left["status"].as_str(), left["leave_reason"].as_str()),
        (Some("leaved"), Some("canceled"))
    );
    // Another dial kicked while it rings that the platform never reports ended: the kick
    // grace ends it, as cancelled.
    let (_, quiet) = s
        .call("POST", &path, Some(&a.key), Some(callee(2, "native")))
        .await;
    let quiet = quiet["id"].as_str().unwrap_or_default().to_string();
    let (status, _) = s
        .call(
            "DELETE",
            &format!("/v1.0/conferencecalls/{quiet}"),
            Some(&a.key),
            None,
        )
        .await;
    assert_eq!(status, 200);
    s.advance(Duration::from_secs(31));
    let ended = crate::support::poll_until(
        Duration::from_secs(10),
        "the kick grace ended it",
        || async {
            let (_, c) = s
                .call(
                    "GET",
                    &format!("/v1.0/conferencecalls/{quiet}"),
                    Some(&a.key),
                    None,
                )
                .await;
            (c["status"] == "leaved").then_some(c)
        },
    )
    .await;
    assert_eq!(ended["leave_reason"], "canceled");
}

#[tokio::test]
async fn a_dial_given_up_at_its_timeout_is_cancelled_if_twilio_then_says_it_rings() {
    let d = Dialect::twilio(|c| c.kick_grace = 1).await;
    let id = dial(&d, 1, "twilio").await;
    d.api.wait_for_total(1, Duration::from_secs(5)).await;
    // Nothing reported within the ring timeout (20 s) and the kick grace (1 s).
    d.server.advance(Duration::from_secs(22));
    crate::support::poll_until(Duration::from_secs(10), "the dial timed out", || async {
        (call(&d, &id).await["leave_reason"] == "timeout").then_some(())
    })
    .await;
    // Twilio's reports were late: it rings now, and is cancelled.
    twilio_status(&d, &id, "CA-late", "ringing").await;
    let want = twilio_rest(
        json!([["calls", "CA-late"]]),
        "update",
        json!({"status": "canceled"}),
    )
    .await;
    assert_eq!(twilio_request(&d, 2).await, want);
    // A dial the platform itself reported ended is not cancelled by a late ringing.
    let other = dial(&d, 2, "twilio").await;
    d.api.wait_for_total(3, Duration::from_secs(5)).await;
    twilio_status(&d, &other, "CA-busy", "busy").await;
    assert_eq!(call(&d, &other).await["leave_reason"], "busy");
    twilio_status(&d, &other, "CA-busy", "ringing").await;
    d.api
        .assert_stays_at(3, QUIET, "a dial that ended on its own is left alone")
        .await;
}
