//! jambonz webhooks read: the signature over the body's raw bytes, and what `…/call`, `…/status`, `…/after` and `…/gather` say about a call.

use super::connection::JambonzConnection;
use super::signature;
use crate::dialects::inbound::{
    bounded, digits, ended, pause_number, platform_variables, required, ringing, scalar,
};
use crate::dialects::settings::Connection as _;
use crate::dialects::{BadInput, Hook, Inbound, Reading, Refused};
use crate::domain::dialect::Connections;
use serde_json::{Map, Value};

/// Checks `Jambonz-Signature` over the body's raw bytes with the customer's webhook secret
/// (300 s tolerance).
pub fn verify(request: &Inbound<'_>, connections: &Connections) -> Result<(), Refused> {
    let Some(jambonz) = JambonzConnection::of(connections) else {
        return Err(Refused("the customer has no jambonz connection".into()));
    };
    let Some(header) = (request.header)("jambonz-signature") else {
        return Err(Refused("no Jambonz-Signature header".into()));
    };
    signature::verify(&jambonz.webhook_secret, header, request.body, request.now)
        .map_err(|e| Refused(e.to_string()))
}

/// What a verified request says; its body must be a JSON object.
pub fn read(hook: Hook, request: &Inbound<'_>) -> Result<Reading, BadInput> {
    let body: Map<String, Value> = serde_json::from_slice(request.body)
        .map_err(|e| BadInput::Malformed(format!("malformed JSON body: {e}")))?;
    let get = |name: &str| body.get(name).and_then(Value::as_str);
    match hook {
        // The call joins; every scalar field is offered to the flow as `platform.<name>`.
        Hook::Call => {
            let variables = platform_variables(
                body.iter()
                    .filter_map(|(k, v)| scalar(v).map(|t| (k.as_str(), t))),
            );
            let (from, to) = (bounded(get("from"), "from")?, bounded(get("to"), "to")?);
            Ok(Reading::Joining {
                call_id: required(get("call_sid"), "call_sid")?,
                from,
                to,
                variables,
            })
        }
        // `join` is the call joined, `leave` the call left; other events (`start`, `end`)
        // are ignored.
        Hook::Status => match get("event").unwrap_or("") {
            "join" => Ok(Reading::Joined {
                call_id: required(get("call_sid"), "call_sid")?,
                platform_conference: bounded(get("conference_sid"), "conference_sid")?,
                sequence: None,
            }),
            "leave" => left(&get),
            // The application's call status webhook pointed here: a call that ended before
            // it reached the conference leaves; for one that did, it is the same leave again.
            "" if ended(get("call_status")) => left(&get),
            // A dial-out's call status hook while the call is placed: its `call_sid`.
            "" if ringing(get("call_status")) => Ok(Reading::Ringing {
                call_id: required(get("call_sid"), "call_sid")?,
            }),
            other => {
                tracing::debug!(event = other, "jambonz status event ignored");
                Ok(Reading::Ignored)
            }
        },
        // The conference verb's `actionHook` (or the redirect of a kick): the call has left.
        Hook::After => left(&get),
        // jambonz has no recording hook (it cannot record a conference through its API).
        Hook::Recording => Ok(Reading::Ignored),
        // `gather`'s `actionHook`: `digits` when the caller entered some; on a timeout jambonz
        // sends `reason: "timeout"` and no digits, which is none entered.
        Hook::Gather => Ok(Reading::Digits {
            call_id: required(get("call_sid"), "call_sid")?,
            digits: digits(get("digits"), "digits")?,
            pause: pause_number(request.url)?,
        }),
        // jambonz fetches nothing to say from confab (it cannot be told to say anything to a
        // conference member).
        Hook::Announce => Ok(Reading::Ignored),
        // A hold's `wait_hook` names its music (`?music=`); the room's `waitHook` does not.
        Hook::Wait => Ok(Reading::Wait {
            music: url::Url::parse(request.url).ok().and_then(|u| {
                u.query_pairs()
                    .find(|(k, _)| k == "music")
                    .map(|(_, v)| v.into_owned())
                    .filter(|m| crate::actions::is_http_url(m))
            }),
        }),
    }
}

/// The call's leave, shared by the leave event and `…/after`.
fn left<'a>(get: &impl Fn(&str) -> Option<&'a str>) -> Result<Reading, BadInput> {
    Ok(Reading::Left {
        call_id: required(get("call_sid"), "call_sid")?,
        // A call status webhook says how the call ended (a dial-out's `no-answer`, `busy`,
        // `failed`); the conference's leave event and `…/after` say nothing.
        reason: bounded(get("call_status"), "call_status")?,
        sequence: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_body(hook: Hook, body: &[u8]) -> Result<Reading, BadInput> {
        let request = Inbound {
            url: "https://c/x",
            header: &|_| None,
            body,
            now: 0,
        };
        read(hook, &request)
    }

    #[test]
    fn requests_read_into_what_they_say_of_the_call() {
        let joining = read_body(Hook::Call, br#"{"call_sid":"c1","from":"+1","n":5,"o":{}}"#);
        let Ok(Reading::Joining {
            call_id, variables, ..
        }) = joining
        else {
            panic!("{joining:?}");
        };
        assert_eq!(call_id, "c1");
        assert_eq!(variables.get("platform.n").map(String::as_str), Some("5"));
        assert!(!variables.contains_key("platform.o"));
        assert_eq!(
            read_body(Hook::Call, br#"{"from":"+1"}"#),
            Err(BadInput::field("call_sid", "is required"))
        );
        assert!(matches!(
            read_body(Hook::Call, b"[1"),
            Err(BadInput::Malformed(_))
        ));
        assert_eq!(
            read_body(Hook::Status, br#"{"event":"start"}"#),
            Ok(Reading::Ignored)
        );
        assert_eq!(
            read_body(
                Hook::Status,
                br#"{"call_sid":"c1","call_status":"completed"}"#
            ),
            Ok(Reading::Left {
                call_id: "c1".into(),
                reason: "completed".into(),
                sequence: None
            })
        );
    }
}
