//! TwiML webhooks read: the signature over the called URL and every form parameter, and what `…/voice`, `…/status`, `…/after`, `…/recording` and `…/gather` say about a call.

use super::connection::TwilioConnection;
use super::signature;
use crate::dialects::inbound::{
    bounded, digits, ended, pause_number, platform_variables, required, ringing, sequence,
};
use crate::dialects::settings::Connection as _;
use crate::dialects::{BadInput, Hook, Inbound, Reading, Refused};
use crate::domain::dialect::Connections;
use crate::domain::RecordingId;
use uuid::Uuid;

/// The form's parameters, in order, repeats kept (the signature covers each).
fn params(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn get<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Checks the connection's signature header (`X-Twilio-Signature` unless set otherwise) over
/// the public URL and every parameter (none is left out: Twilio adds new ones).
pub fn verify(request: &Inbound<'_>, connections: &Connections) -> Result<(), Refused> {
    let refused = |why: &str| Err(Refused(why.to_string()));
    let Some(twilio) = TwilioConnection::of(connections) else {
        return refused("the customer has no twilio connection");
    };
    let Some(signed) = (request.header)(twilio.signature_header.as_str()) else {
        return refused("no twilio signature header");
    };
    let params = params(request.body);
    if signature::valid(twilio.webhook_key(), request.url, &params, signed) {
        Ok(())
    } else {
        refused("twilio signature does not verify")
    }
}

/// What a verified request says.
pub fn read(hook: Hook, request: &Inbound<'_>) -> Result<Reading, BadInput> {
    let params = params(request.body);
    let p = |name: &str| get(&params, name);
    match hook {
        // The call joins; every parameter is offered to the flow as `platform.<name>`.
        Hook::Call => {
            // A dial-out answered by a machine or a fax (Twilio's answering machine detection,
            // which confab asks for when it dials): the call leaves instead of joining, with
            // who answered as the reason, and hears nothing (an empty answer hangs up).
            if let Some(machine) =
                p("AnsweredBy").filter(|a| a.starts_with("machine") || *a == "fax")
            {
                return Ok(Reading::Left {
                    call_id: required(p("CallSid"), "CallSid")?,
                    reason: bounded(Some(machine), "AnsweredBy")?,
                    sequence: None,
                });
            }
            let variables = platform_variables(params.iter().map(|(k, v)| (k.as_str(), v.clone())));
            let (from, to) = (bounded(p("From"), "From")?, bounded(p("To"), "To")?);
            Ok(Reading::Joining {
                call_id: required(p("CallSid"), "CallSid")?,
                from,
                to,
                variables,
            })
        }
        Hook::Status => status(&p),
        // The `<Dial action>`: the call has left the conference (kicked, the conference
        // ended, or the caller hung up).
        Hook::After => left(&p, None),
        Hook::Recording => recording(request.url, &p),
        // `<Gather action>`: what the caller entered (`Digits`, absent when nothing was).
        Hook::Gather => Ok(Reading::Digits {
            call_id: required(p("CallSid"), "CallSid")?,
            digits: digits(p("Digits"), "Digits")?,
            pause: pause_number(request.url)?,
        }),
        // Twilio fetches the wait music from `waitUrl` itself; confab gives it no such hook.
        Hook::Wait => Ok(Reading::Ignored),
        // `AnnounceUrl`: `…/announce?id=` names what to say.
        Hook::Announce => Ok(Reading::Announce {
            id: url::Url::parse(request.url)
                .ok()
                .and_then(|u| {
                    u.query_pairs()
                        .find(|(k, _)| k == "id")
                        .and_then(|(_, v)| Uuid::parse_str(&v).ok())
                })
                .ok_or_else(|| BadInput::field("id", "must be a UUID"))?,
        }),
    }
}

/// `participant-join` is the call joined (its `ConferenceSid` is kept for kicks),
/// `participant-leave` the call left; other conference events are ignored.
fn status<'a>(p: &impl Fn(&str) -> Option<&'a str>) -> Result<Reading, BadInput> {
    match p("StatusCallbackEvent").unwrap_or("") {
        "participant-join" => {
            let platform_conference = required(p("ConferenceSid"), "ConferenceSid")?;
            Ok(Reading::Joined {
                call_id: required(p("CallSid"), "CallSid")?,
                platform_conference,
                sequence: optional_sequence(p("SequenceNumber"))?,
            })
        }
        // Numbered: a leave numbered before the join of the call's current membership is a
        // late report of an earlier one.
        "participant-leave" => left(p, optional_sequence(p("SequenceNumber"))?),
        // Mute and hold, reported as they happen (also those confab asked for): the state
        // follows; Twilio numbers its conference events, so a retry is the same event and a
        // report that arrives after a later one is not applied.
        event @ ("participant-mute" | "participant-unmute" | "participant-hold"
        | "participant-unhold") => {
            let on = !event.contains("-un");
            let muting = event.ends_with("mute");
            Ok(Reading::Updated {
                call_id: required(p("CallSid"), "CallSid")?,
                muted: muting.then_some(on),
                hold: (!muting).then_some(on),
                sequence: sequence(p("SequenceNumber"), "SequenceNumber")?,
            })
        }
        // A call status callback (the number's "call status changes" URL pointed here): a
        // call that ended before it reached the conference (the caller hung up during the
        // `pre_actions`) leaves; for a call that did, it is the same leave again.
        "" if ended(p("CallStatus")) => left(p, None),
        // A dial-out's `initiated` and `ringing` callbacks: its `CallSid` while it rings.
        "" if ringing(p("CallStatus")) => Ok(Reading::Ringing {
            call_id: required(p("CallSid"), "CallSid")?,
        }),
        other => {
            tracing::debug!(event = other, "twiml status event ignored");
            Ok(Reading::Ignored)
        }
    }
}

/// The call's leave, shared by the leave status event and `…/after` (whichever comes first
/// applies it; the other replays its answer).
/// `sequence` is the report's number (a conference event's), `None` for `…/after` and a call
/// status callback.
fn left<'a>(
    p: &impl Fn(&str) -> Option<&'a str>,
    sequence: Option<i64>,
) -> Result<Reading, BadInput> {
    Ok(Reading::Left {
        call_id: required(p("CallSid"), "CallSid")?,
        // `…/after` says how the `<Dial>` ended; a dial-out's status callback has only the
        // call's status (`no-answer`, `busy`, `failed`, …).
        reason: match p("DialCallStatus") {
            Some(status) => bounded(Some(status), "DialCallStatus")?,
            None => bounded(p("CallStatus"), "CallStatus")?,
        },
        sequence,
    })
}

/// A `SequenceNumber` when Twilio sent one (its conference events carry it).
fn optional_sequence(value: Option<&str>) -> Result<Option<i64>, BadInput> {
    value
        .map(|v| sequence(Some(v), "SequenceNumber"))
        .transpose()
}

/// `…/recording?recording_id=…`: `completed`, `absent` and `failed` end confab's recording
/// (with the platform's `RecordingUrl` as `media_url`); `in-progress` is acknowledged.
fn recording<'a>(url: &str, p: &impl Fn(&str) -> Option<&'a str>) -> Result<Reading, BadInput> {
    let recording_id = url::Url::parse(url)
        .ok()
        .and_then(|u| {
            u.query_pairs()
                .find(|(k, _)| k == "recording_id")
                .and_then(|(_, id)| Uuid::parse_str(&id).ok())
        })
        .ok_or_else(|| BadInput::field("recording_id", "must be a UUID"))?;
    let outcome = p("RecordingStatus").unwrap_or("");
    if !matches!(outcome, "completed" | "absent" | "failed") {
        return Ok(Reading::Ignored);
    }
    let duration_ms = p("RecordingDuration")
        .and_then(|d| d.parse::<i64>().ok())
        .map(|s| s.max(0).saturating_mul(1000));
    Ok(Reading::RecordingFinished {
        recording_id: RecordingId(recording_id),
        outcome: outcome.to_string(),
        media_url: bounded(p("RecordingUrl"), "RecordingUrl")?,
        duration_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inbound<'a>(url: &'a str, body: &'a [u8]) -> Inbound<'a> {
        Inbound {
            url,
            header: &|_| None,
            body,
            now: 0,
        }
    }

    #[test]
    fn requests_read_into_what_they_say_of_the_call() {
        let r = read(
            Hook::Call,
            &inbound("https://c/voice", b"CallSid=CA1&From=%2B1&To=%2B2"),
        );
        let Ok(Reading::Joining {
            call_id,
            from,
            variables,
            ..
        }) = r
        else {
            panic!("{r:?}");
        };
        assert_eq!((call_id.as_str(), from.as_str()), ("CA1", "+1"));
        assert_eq!(variables.get("platform.To").map(String::as_str), Some("+2"));
        let machine = b"CallSid=CA9&AnsweredBy=machine_start&From=%2B1";
        assert_eq!(
            read(
                Hook::Call,
                &inbound("https://c/voice?conferencecall=x", machine)
            ),
            Ok(Reading::Left {
                call_id: "CA9".into(),
                reason: "machine_start".into(),
                sequence: None
            }),
            "a machine that answers a dial-out leaves"
        );
        let human = b"CallSid=CA9&AnsweredBy=human";
        assert!(matches!(
            read(Hook::Call, &inbound("https://c/voice", human)),
            Ok(Reading::Joining { .. })
        ));
        let join = b"StatusCallbackEvent=participant-join&CallSid=CA1";
        assert_eq!(
            read(Hook::Status, &inbound("https://c/status", join)),
            Err(BadInput::field("ConferenceSid", "is required"))
        );
        let other = b"StatusCallbackEvent=conference-start";
        assert_eq!(
            read(Hook::Status, &inbound("https://c/status", other)),
            Ok(Reading::Ignored)
        );
        let left = read(
            Hook::After,
            &inbound("https://c/after", b"CallSid=CA1&DialCallStatus=completed"),
        );
        assert_eq!(
            left,
            Ok(Reading::Left {
                call_id: "CA1".into(),
                reason: "completed".into(),
                sequence: None
            })
        );
        assert_eq!(
            read(
                Hook::Recording,
                &inbound("https://c/recording", b"RecordingStatus=completed")
            ),
            Err(BadInput::field("recording_id", "must be a UUID"))
        );
        let id = Uuid::new_v4();
        let url = format!("https://c/recording?recording_id={id}");
        let done = b"RecordingStatus=completed&RecordingDuration=3&RecordingUrl=https%3A%2F%2Fm";
        assert_eq!(
            read(Hook::Recording, &inbound(&url, done)),
            Ok(Reading::RecordingFinished {
                recording_id: RecordingId(id),
                outcome: "completed".into(),
                media_url: "https://m".into(),
                duration_ms: Some(3000)
            })
        );
    }
}
