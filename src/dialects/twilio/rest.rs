//! Requests to Twilio's REST API (kicks, call recordings), their `Authorization`, and which failures say the call is gone.

use super::connection::TwilioConnection;
use super::SEGMENT;
use crate::actions::HttpMethod;
use crate::dialects::outbound::{api_request, form, path_part, under};
use crate::dialects::{Callbacks, Outbound};
use crate::domain::conference::Conferencecall;
use crate::domain::RecordingId;
use crate::store::StoredMessage;
use base64::Engine as _;

const FORM: &str = "application/x-www-form-urlencoded";

fn base(t: &TwilioConnection) -> String {
    format!(
        "{}/2010-04-01/Accounts/{}",
        t.api_url.trim_end_matches('/'),
        path_part(&t.account_sid)
    )
}

fn callbacks<'a>(call: &Conferencecall, public_url: &'a str) -> Callbacks<'a> {
    Callbacks {
        public_url,
        customer: call.customer_id,
        conference: call.conference_id,
    }
}

/// Kicks a call: removes the participant from its conference (the call then leaves the
/// `<Dial>` and Twilio fetches `…/after`), or, before Twilio has said which conference it is
/// in (it is still hearing the `pre_actions`), redirects the call to `…/after` directly.
pub fn kick(t: &TwilioConnection, call: &Conferencecall, public_url: &str) -> Outbound {
    let base = base(t);
    let event_type = "twilio.call_kick".to_string();
    if !call.platform_conference.is_empty() {
        let url = format!(
            "{base}/Conferences/{}/Participants/{}.json",
            path_part(&call.platform_conference),
            path_part(&call.reference_id)
        );
        return api_request(event_type, url, HttpMethod::Delete, FORM, String::new());
    }
    let url = format!("{base}/Calls/{}.json", path_part(&call.reference_id));
    let after = callbacks(call, public_url).url(SEGMENT, "after");
    let body = form(&[("Url", &after), ("Method", "POST")]);
    api_request(event_type, url, HttpMethod::Post, FORM, body)
}

/// Dials out (§15) with Calls create, not Participants create: a participant created into
/// Twilio's conference joins it directly and never runs confab's `pre_actions`, where a call
/// created with `Url` = confab's `…/voice?conferencecall={id}` is answered like any arriving
/// call (prompts, roles, the join). `StatusCallback` (`…/status?conferencecall={id}`) is
/// asked for on `initiated` and `ringing`, which give confab the call's `CallSid` while it
/// rings (so a kick can cancel it), and on `completed`, which carries `CallStatus`
/// `no-answer`, `busy`, `failed` or `canceled` for a call that never answered and ends the
/// dial. Each event is its own `StatusCallbackEvent` parameter, as Twilio's libraries send a
/// list.
pub fn dial(
    t: &TwilioConnection,
    call: &Conferencecall,
    (destination, from, timeout): (&str, &str, i64),
    public_url: &str,
) -> Outbound {
    let cb = callbacks(call, public_url);
    let voice = format!("{}?conferencecall={}", cb.url(SEGMENT, "voice"), call.id);
    let status = format!("{}?conferencecall={}", cb.url(SEGMENT, "status"), call.id);
    let timeout = timeout.to_string();
    let body = form(&[
        ("To", destination),
        ("From", from),
        ("Url", &voice),
        ("Method", "POST"),
        ("StatusCallback", &status),
        ("StatusCallbackMethod", "POST"),
        ("StatusCallbackEvent", "initiated"),
        ("StatusCallbackEvent", "ringing"),
        ("StatusCallbackEvent", "completed"),
        ("Timeout", &timeout),
        // Twilio says who answered (`AnsweredBy`) on the voice URL: a machine or a fax is
        // not let into the conference (see `inbound::read`).
        ("MachineDetection", "Enable"),
    ]);
    let url = format!("{}/Calls.json", base(t));
    api_request("twilio.call_dial".into(), url, HttpMethod::Post, FORM, body)
}

/// Cancels a dialled call that rings (Call update, `Status=canceled`, which ends a queued or
/// ringing call and leaves an answered one alone: an answered callee is kicked as a member).
pub fn cancel_dial(t: &TwilioConnection, sid: &str) -> Outbound {
    let url = format!("{}/Calls/{}.json", base(t), path_part(sid));
    let body = form(&[("Status", "canceled")]);
    api_request(
        "twilio.call_dial_cancel".into(),
        url,
        HttpMethod::Post,
        FORM,
        body,
    )
}

/// Starts recording one call (what it hears and says: the conference's mix), with a status
/// callback to `…/recording?recording_id=…` that ends confab's recording.
pub fn recording_start(
    t: &TwilioConnection,
    call: &Conferencecall,
    recording: RecordingId,
    public_url: &str,
) -> Outbound {
    let url = format!(
        "{}/Calls/{}/Recordings.json",
        base(t),
        path_part(&call.reference_id)
    );
    let callback = format!(
        "{}?recording_id={recording}",
        callbacks(call, public_url).url(SEGMENT, "recording")
    );
    let body = form(&[
        ("RecordingStatusCallback", &callback),
        (
            "RecordingStatusCallbackEvent",
            "in-progress completed absent",
        ),
        ("RecordingStatusCallbackMethod", "POST"),
    ]);
    api_request(
        "twilio.recording_start".into(),
        url,
        HttpMethod::Post,
        FORM,
        body,
    )
}

/// Stops the recording running on a call (`Twilio.CURRENT`: the call's current one).
pub fn recording_stop(t: &TwilioConnection, call: &Conferencecall) -> Outbound {
    let url = format!(
        "{}/Calls/{}/Recordings/Twilio.CURRENT.json",
        base(t),
        path_part(&call.reference_id)
    );
    let body = form(&[("Status", "stopped")]);
    api_request(
        "twilio.recording_stop".into(),
        url,
        HttpMethod::Post,
        FORM,
        body,
    )
}

/// A participant's own resource in its conference.
fn participant(t: &TwilioConnection, call: &Conferencecall) -> String {
    format!(
        "{}/Conferences/{}/Participants/{}.json",
        base(t),
        path_part(&call.platform_conference),
        path_part(&call.reference_id)
    )
}

/// Mutes or unmutes a participant (Participant update, `Muted`).
pub fn mute(t: &TwilioConnection, call: &Conferencecall, muted: bool) -> Outbound {
    let body = form(&[("Muted", if muted { "true" } else { "false" })]);
    let kind = if muted { "mute" } else { "unmute" };
    api_request(
        format!("twilio.call_{kind}"),
        participant(t, call),
        HttpMethod::Post,
        FORM,
        body,
    )
}

/// Holds a participant with `music_url` (Twilio's own hold music when empty), or resumes it
/// (Participant update, `Hold` and `HoldUrl`).
pub fn hold(t: &TwilioConnection, call: &Conferencecall, hold: bool, music_url: &str) -> Outbound {
    let mut pairs = vec![("Hold", if hold { "true" } else { "false" })];
    if hold && !music_url.is_empty() {
        pairs.push(("HoldUrl", music_url));
        pairs.push(("HoldMethod", "GET"));
    }
    let kind = if hold { "hold" } else { "unhold" };
    api_request(
        format!("twilio.call_{kind}"),
        participant(t, call),
        HttpMethod::Post,
        FORM,
        form(&pairs),
    )
}

/// The URL Twilio fetches an announcement's TwiML from: confab's `…/announce` with the
/// announcement's id, nothing else (the actions stay in confab; the request is signed).
pub fn announce_url(call: &Conferencecall, public_url: &str, announcement: uuid::Uuid) -> String {
    format!(
        "{}?id={announcement}",
        callbacks(call, public_url).url(SEGMENT, "announce")
    )
}

/// Says something to one participant (Participant update, `AnnounceUrl`).
pub fn announce_to_call(t: &TwilioConnection, call: &Conferencecall, url: &str) -> Outbound {
    let body = form(&[("AnnounceUrl", url), ("AnnounceMethod", "POST")]);
    api_request(
        "twilio.call_play".into(),
        participant(t, call),
        HttpMethod::Post,
        FORM,
        body,
    )
}

/// Says something to the whole conference (Conference update, `AnnounceUrl`).
pub fn announce_to_room(t: &TwilioConnection, call: &Conferencecall, url: &str) -> Outbound {
    let target = format!(
        "{}/Conferences/{}.json",
        base(t),
        path_part(&call.platform_conference)
    );
    let body = form(&[("AnnounceUrl", url), ("AnnounceMethod", "POST")]);
    api_request(
        "twilio.conference_play".into(),
        target,
        HttpMethod::Post,
        FORM,
        body,
    )
}

/// Basic with the account and auth token, only to the API the connection names now.
pub fn authorization(t: &TwilioConnection, message: &StoredMessage) -> Result<String, String> {
    under(&message.url, &t.api_url)?;
    let pair = format!("{}:{}", t.account_sid, t.auth_token);
    Ok(format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    ))
}

/// A 404 with Twilio's error code 20404 says the call (or its recording) is gone; a wrong
/// account or URL is a 404 too, without it, and fails.
pub fn gone(status: u16, answer: &[u8]) -> bool {
    // Only a 404's body is read: every answer of the platform's API comes through here.
    status == 404
        && serde_json::from_slice::<serde_json::Value>(answer)
            .is_ok_and(|body| body["code"].as_i64() == Some(20404))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialects::outbound::test_call;
    use crate::domain::dialect::Dialect;

    fn connection() -> TwilioConnection {
        TwilioConnection {
            account_sid: "AC1".into(),
            auth_token: "t".into(),
            api_url: "https://api.twilio.com/".into(),
            signature_header: "X-Twilio-Signature".into(),
            signing_key: None,
        }
    }

    #[test]
    fn twilio_kick_removes_the_participant_or_redirects_the_call() {
        let t = connection();
        let m = kick(
            &t,
            &test_call(Dialect::Twilio, "CF9"),
            "https://confab.example",
        );
        assert_eq!(m.method, HttpMethod::Delete);
        assert_eq!(
            m.url,
            "https://api.twilio.com/2010-04-01/Accounts/AC1/Conferences/CF9/Participants/CA1%2F..%2Fx%3Fy.json"
        );
        let m = kick(
            &t,
            &test_call(Dialect::Twilio, ""),
            "https://confab.example",
        );
        assert_eq!(m.method, HttpMethod::Post);
        assert!(m.url.ends_with("/Calls/CA1%2F..%2Fx%3Fy.json"));
        assert!(m
            .body
            .starts_with("Url=https%3A%2F%2Fconfab.example%2Fv1.0%2Ftwiml%2F"));
        assert!(m.body.ends_with("%2Fafter&Method=POST"));
    }

    #[test]
    fn only_twilios_not_found_code_means_the_call_is_gone() {
        assert!(gone(404, br#"{"code": 20404, "message": "not found"}"#));
        assert!(!gone(404, br#"{"code": 20003}"#), "a wrong account fails");
        assert!(!gone(404, b"<html>404</html>"));
        assert!(!gone(500, br#"{"code": 20404}"#));
    }
}
