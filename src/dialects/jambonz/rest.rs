//! Requests to jambonz's live call control API (kicks, mute, hold), their `Authorization`, and which failures say the call is gone.

use super::connection::JambonzConnection;
use super::SEGMENT;
use crate::actions::HttpMethod;
use crate::dialects::outbound::{api_request, path_part, under};
use crate::dialects::{Callbacks, Outbound};
use crate::domain::conference::Conferencecall;
use crate::store::StoredMessage;
use serde_json::json;

/// Kicks a call through live call control: redirects it to `…/after`, which ends its
/// `conference` verb and plays the `post_actions`.
pub fn kick(j: &JambonzConnection, call: &Conferencecall, public_url: &str) -> Outbound {
    let url = format!(
        "{}/v1/Accounts/{}/Calls/{}",
        j.api_url.trim_end_matches('/'),
        path_part(&j.account_sid),
        path_part(&call.reference_id)
    );
    let after = Callbacks {
        public_url,
        customer: call.customer_id,
        conference: call.conference_id,
    }
    .url(SEGMENT, "after");
    let body = json!({"call_hook": {"url": after, "method": "POST"}}).to_string();
    api_request(
        "jambonz.call_kick".into(),
        url,
        HttpMethod::Put,
        "application/json",
        body,
    )
}

/// Cancels a dialled call that rings: live call control's `call_status` `no-answer` ends a
/// ringing call (`completed` is for an answered one, which is kicked as a member instead).
pub fn cancel_dial(j: &JambonzConnection, sid: &str) -> Outbound {
    let url = format!(
        "{}/v1/Accounts/{}/Calls/{}",
        j.api_url.trim_end_matches('/'),
        path_part(&j.account_sid),
        path_part(sid)
    );
    api_request(
        "jambonz.call_dial_cancel".into(),
        url,
        HttpMethod::Put,
        "application/json",
        json!({"call_status": "no-answer"}).to_string(),
    )
}

/// Dials out (§15) with REST create-call: `call_hook` is confab's `…/call?conferencecall={id}`,
/// so the answered callee runs the `pre_actions` like any arriving call, and
/// `call_status_hook` (`…/status?conferencecall={id}`) reports the call ringing (`trying`,
/// `ringing`, `early-media`, with its `call_sid`, so a kick can cancel it) and a call that
/// ended unanswered (`call_status` `no-answer`, `busy`, `failed`). `to` is a `phone` target for an E.164
/// number, a `sip` target for a `sip:` URI.
pub fn dial(
    j: &JambonzConnection,
    call: &Conferencecall,
    (destination, from, timeout): (&str, &str, i64),
    public_url: &str,
) -> Outbound {
    let cb = Callbacks {
        public_url,
        customer: call.customer_id,
        conference: call.conference_id,
    };
    let hook = format!("{}?conferencecall={}", cb.url(SEGMENT, "call"), call.id);
    let status = format!("{}?conferencecall={}", cb.url(SEGMENT, "status"), call.id);
    let to = if destination.starts_with("sip:") {
        json!({"type": "sip", "sipUri": destination})
    } else {
        json!({"type": "phone", "number": destination})
    };
    let body = json!({
        "call_hook": {"url": hook, "method": "POST"},
        "call_status_hook": {"url": status, "method": "POST"},
        "from": from,
        "to": to,
        "timeout": timeout,
    });
    let url = format!(
        "{}/v1/Accounts/{}/Calls",
        j.api_url.trim_end_matches('/'),
        path_part(&j.account_sid)
    );
    api_request(
        "jambonz.call_dial".into(),
        url,
        HttpMethod::Post,
        "application/json",
        body.to_string(),
    )
}

/// A live call control request (`PUT …/Calls/{call}`) with `body`.
fn update(
    j: &JambonzConnection,
    call: &Conferencecall,
    kind: &str,
    body: serde_json::Value,
) -> Outbound {
    let url = format!(
        "{}/v1/Accounts/{}/Calls/{}",
        j.api_url.trim_end_matches('/'),
        path_part(&j.account_sid),
        path_part(&call.reference_id)
    );
    api_request(
        format!("jambonz.{kind}"),
        url,
        HttpMethod::Put,
        "application/json",
        body.to_string(),
    )
}

/// Mutes or unmutes one conference member: `conferenceParticipantAction` `mute`/`unmute`
/// (jambonz's `conf_mute_status` is not this: it mutes every non-moderator of the room).
pub fn mute(j: &JambonzConnection, call: &Conferencecall, muted: bool) -> Outbound {
    let (kind, action) = if muted {
        ("call_mute", "mute")
    } else {
        ("call_unmute", "unmute")
    };
    let body = json!({"conferenceParticipantAction": {"action": action}});
    update(j, call, kind, body)
}

/// Holds or resumes a conference member (`conf_hold_status`); on hold it hears what confab's
/// `…/wait?music=` hook answers (`music_url` looped), named by `wait_hook` (jambonz's
/// feature server reads that name here, not the conference verb's `waitHook`). Without music
/// it hears nothing.
pub fn hold(
    j: &JambonzConnection,
    call: &Conferencecall,
    hold: bool,
    music_url: &str,
    public_url: &str,
) -> Outbound {
    if !hold {
        return update(
            j,
            call,
            "call_unhold",
            json!({"conf_hold_status": "unhold"}),
        );
    }
    let mut body = json!({"conf_hold_status": "hold"});
    if !music_url.is_empty() {
        let music: String = url::form_urlencoded::byte_serialize(music_url.as_bytes()).collect();
        let wait = Callbacks {
            public_url,
            customer: call.customer_id,
            conference: call.conference_id,
        }
        .url(SEGMENT, "wait");
        body["wait_hook"] = json!(format!("{wait}?music={music}"));
    }
    update(j, call, "call_hold", body)
}

/// The API key as a Bearer token, only to the API the connection names now.
pub fn authorization(j: &JambonzConnection, message: &StoredMessage) -> Result<String, String> {
    under(&message.url, &j.api_url)?;
    Ok(format!("Bearer {}", j.api_key))
}

/// jambonz answers a finished call with a bare 404 (its `api_url` is checked to be the API's
/// base when it is set, so a 404 is not a wrong URL).
pub fn gone(status: u16) -> bool {
    status == 404
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialects::outbound::test_call;
    use crate::domain::dialect::Dialect;

    #[test]
    fn a_kick_redirects_the_call_to_after_and_a_404_means_gone() {
        let j = JambonzConnection {
            account_sid: "acct".into(),
            api_key: "k".into(),
            webhook_secret: "s".into(),
            api_url: "https://j.example/api/".into(),
            tts_vendor: "default".into(),
        };
        let call = test_call(Dialect::Jambonz, "");
        let m = kick(&j, &call, "https://confab.example");
        assert_eq!(m.method, HttpMethod::Put);
        assert_eq!(
            m.url,
            "https://j.example/api/v1/Accounts/acct/Calls/CA1%2F..%2Fx%3Fy"
        );
        let after = format!(
            "https://confab.example/v1.0/jambonz/{}/conferences/{}/after",
            call.customer_id, call.conference_id
        );
        assert_eq!(
            m.body,
            json!({"call_hook": {"url": after, "method": "POST"}}).to_string()
        );
        assert!(gone(404) && !gone(410));
    }

    /// What jambonz-api-server's `validateUpdateCall` and the feature server's
    /// `Conference.doConferenceMute` / `doConferenceHold` read.
    #[test]
    fn mute_is_the_members_own_and_hold_names_its_music_by_wait_hook() {
        let j = JambonzConnection {
            account_sid: "acct".into(),
            api_key: "k".into(),
            webhook_secret: "s".into(),
            api_url: "https://j.example/api".into(),
            tts_vendor: "default".into(),
        };
        let call = test_call(Dialect::Jambonz, "");
        let body = |m: Outbound| serde_json::from_str::<serde_json::Value>(&m.body).ok();
        let m = mute(&j, &call, true);
        assert_eq!(
            (m.method, m.event_type.as_str()),
            (HttpMethod::Put, "jambonz.call_mute")
        );
        assert_eq!(
            body(m),
            Some(json!({"conferenceParticipantAction": {"action": "mute"}}))
        );
        assert_eq!(
            body(mute(&j, &call, false)),
            Some(json!({"conferenceParticipantAction": {"action": "unmute"}}))
        );
        let wait = format!(
            "https://confab.example/v1.0/jambonz/{}/conferences/{}/wait?music=https%3A%2F%2Fm%2Fa.mp3%3Fx%3D1",
            call.customer_id, call.conference_id
        );
        let held = hold(
            &j,
            &call,
            true,
            "https://m/a.mp3?x=1",
            "https://confab.example",
        );
        assert_eq!(
            body(held),
            Some(json!({"conf_hold_status": "hold", "wait_hook": wait}))
        );
        let silent = hold(&j, &call, true, "", "https://confab.example");
        assert_eq!(body(silent), Some(json!({"conf_hold_status": "hold"})));
        let resumed = hold(
            &j,
            &call,
            false,
            "https://m/a.mp3",
            "https://confab.example",
        );
        assert_eq!(body(resumed), Some(json!({"conf_hold_status": "unhold"})));
    }
}
