//! Requests to the platforms' REST APIs (Twilio, jambonz) as outbox messages: kicks and
//! recordings for calls that arrived by a dialect. The credentials are not stored with the
//! message; `send` adds them from the customer's connection at each attempt, so a changed
//! token takes effect for messages already waiting.

use super::message::{pending, Target};
use crate::actions::HttpMethod;
use crate::domain::conference::Conferencecall;
use crate::domain::dialect::{JambonzConnection, TwilioConnection};
use crate::domain::timestamp::Timestamp;
use crate::domain::{ConferenceId, CustomerId, RecordingId};
use crate::store::{MessageKind, StoredMessage};
use serde_json::json;
use uuid::Uuid;

/// The dialect-side URLs a platform calls back, built on `--public-url`.
pub struct Callbacks<'a> {
    pub public_url: &'a str,
    pub customer: CustomerId,
    pub conference: ConferenceId,
}

impl Callbacks<'_> {
    /// `{public}/v1.0/{dialect}/{customer}/conferences/{conference}/{leaf}`.
    pub fn url(&self, dialect: &str, leaf: &str) -> String {
        format!(
            "{}/v1.0/{dialect}/{}/conferences/{}/{leaf}",
            self.public_url.trim_end_matches('/'),
            self.customer,
            self.conference
        )
    }
}

/// When the first attempt is due, and the time the message is written.
pub type Due = (i64, Timestamp);

fn form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

fn twilio_base(t: &TwilioConnection) -> String {
    format!(
        "{}/2010-04-01/Accounts/{}",
        t.api_url.trim_end_matches('/'),
        path_part(&t.account_sid)
    )
}

/// A platform id as one path segment: ids are plain, but nothing from a webhook may add a
/// segment or a query to the URL confab calls with the customer's credentials.
fn path_part(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

fn api_message(
    event_type: &str,
    call: &Conferencecall,
    target: Target<'_>,
    body: String,
    due: Due,
) -> StoredMessage {
    pending(
        MessageKind::PlatformApi,
        format!("api_{}", Uuid::now_v7().simple()),
        Some(call.customer_id),
        call.conference_id,
        event_type,
        target,
        body,
        due,
    )
}

/// Kicks a Twilio call: removes the participant from its conference (the call then leaves the
/// `<Dial>` and Twilio fetches `…/after`), or, before Twilio has said which conference it is
/// in (it is still hearing the `pre_actions`), redirects the call to `…/after` directly.
pub fn twilio_kick(
    t: &TwilioConnection,
    call: &Conferencecall,
    callbacks: &Callbacks<'_>,
    due: Due,
) -> StoredMessage {
    let base = twilio_base(t);
    if !call.platform_conference.is_empty() {
        let url = format!(
            "{base}/Conferences/{}/Participants/{}.json",
            path_part(&call.platform_conference),
            path_part(&call.reference_id)
        );
        let target = Target {
            url: &url,
            method: HttpMethod::Delete,
            content_type: "application/x-www-form-urlencoded",
        };
        return api_message("twilio.call_kick", call, target, String::new(), due);
    }
    let url = format!("{base}/Calls/{}.json", path_part(&call.reference_id));
    let after = callbacks.url("twiml", "after");
    let body = form(&[("Url", &after), ("Method", "POST")]);
    let target = Target {
        url: &url,
        method: HttpMethod::Post,
        content_type: "application/x-www-form-urlencoded",
    };
    api_message("twilio.call_kick", call, target, body, due)
}

/// Starts recording one Twilio call (what it hears and says: the conference's mix), with a
/// status callback to `…/recording?recording_id=…` that ends confab's recording.
pub fn twilio_recording_start(
    t: &TwilioConnection,
    call: &Conferencecall,
    recording: RecordingId,
    callbacks: &Callbacks<'_>,
    due: Due,
) -> StoredMessage {
    let url = format!(
        "{}/Calls/{}/Recordings.json",
        twilio_base(t),
        path_part(&call.reference_id)
    );
    let callback = format!(
        "{}?recording_id={recording}",
        callbacks.url("twiml", "recording")
    );
    let body = form(&[
        ("RecordingStatusCallback", &callback),
        (
            "RecordingStatusCallbackEvent",
            "in-progress completed absent",
        ),
        ("RecordingStatusCallbackMethod", "POST"),
    ]);
    let target = Target {
        url: &url,
        method: HttpMethod::Post,
        content_type: "application/x-www-form-urlencoded",
    };
    api_message("twilio.recording_start", call, target, body, due)
}

/// Stops the recording running on a Twilio call (`Twilio.CURRENT`: the call's current one).
pub fn twilio_recording_stop(
    t: &TwilioConnection,
    call: &Conferencecall,
    due: Due,
) -> StoredMessage {
    let url = format!(
        "{}/Calls/{}/Recordings/Twilio.CURRENT.json",
        twilio_base(t),
        path_part(&call.reference_id)
    );
    let target = Target {
        url: &url,
        method: HttpMethod::Post,
        content_type: "application/x-www-form-urlencoded",
    };
    let body = form(&[("Status", "stopped")]);
    api_message("twilio.recording_stop", call, target, body, due)
}

/// Kicks a jambonz call through live call control: redirects it to `…/after`, which ends its
/// `conference` verb and plays the `post_actions`.
pub fn jambonz_kick(
    j: &JambonzConnection,
    call: &Conferencecall,
    callbacks: &Callbacks<'_>,
    due: Due,
) -> StoredMessage {
    let url = format!(
        "{}/v1/Accounts/{}/Calls/{}",
        j.api_url.trim_end_matches('/'),
        path_part(&j.account_sid),
        path_part(&call.reference_id)
    );
    let body = json!({"call_hook": {"url": callbacks.url("jambonz", "after"), "method": "POST"}})
        .to_string();
    let target = Target {
        url: &url,
        method: HttpMethod::Put,
        content_type: "application/json",
    };
    api_message("jambonz.call_kick", call, target, body, due)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::dialect::Dialect;

    fn call(platform_conference: &str) -> Conferencecall {
        Conferencecall {
            id: Default::default(),
            customer_id: CustomerId::new(),
            conference_id: ConferenceId::new(),
            reference_id: "CA1/../x?y".into(),
            status: crate::domain::conference::CallStatus::Joined,
            tm_create: Timestamp(0),
            tm_update: Timestamp(0),
            tm_delete: None,
            dialect: Dialect::Twilio,
            platform_conference: platform_conference.into(),
        }
    }

    #[test]
    fn twilio_kick_removes_the_participant_or_redirects_the_call() {
        let t = TwilioConnection {
            account_sid: "AC1".into(),
            auth_token: "t".into(),
            api_url: "https://api.twilio.com/".into(),
            signature_header: "X-Twilio-Signature".into(),
            signing_key: None,
        };
        let c = call("CF9");
        let cb = Callbacks {
            public_url: "https://confab.example",
            customer: c.customer_id,
            conference: c.conference_id,
        };
        let m = twilio_kick(&t, &c, &cb, (0, Timestamp(0)));
        assert_eq!(m.method, "DELETE");
        assert_eq!(
            m.url,
            "https://api.twilio.com/2010-04-01/Accounts/AC1/Conferences/CF9/Participants/CA1%2F..%2Fx%3Fy.json"
        );
        let m = twilio_kick(&t, &call(""), &cb, (0, Timestamp(0)));
        assert_eq!(m.method, "POST");
        assert!(m.url.ends_with("/Calls/CA1%2F..%2Fx%3Fy.json"));
        assert!(m
            .body
            .starts_with("Url=https%3A%2F%2Fconfab.example%2Fv1.0%2Ftwiml%2F"));
        assert!(m.body.ends_with("%2Fafter&Method=POST"));
    }
}
