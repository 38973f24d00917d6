//! Requests to jambonz's live call control API (kicks), their `Authorization`, and which failures say the call is gone.

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

/// Mutes or unmutes a conference member (`conf_mute_status`).
pub fn mute(j: &JambonzConnection, call: &Conferencecall, muted: bool) -> Outbound {
    let (kind, status) = if muted {
        ("call_mute", "mute")
    } else {
        ("call_unmute", "unmute")
    };
    update(j, call, kind, json!({"conf_mute_status": status}))
}

/// Holds or resumes a conference member (`conf_hold_status`); on hold it hears what confab's
/// `…/wait?music=` hook answers (`music_url` looped, or nothing).
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
        body["waitHook"] = json!(format!("{wait}?music={music}"));
    }
    update(j, call, "call_hold", body)
}

/// Whispers verbs to one conference member (`whisper`): only that call hears them.
pub fn whisper(j: &JambonzConnection, call: &Conferencecall, verbs: serde_json::Value) -> Outbound {
    update(j, call, "call_play", json!({"whisper": verbs}))
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
}
