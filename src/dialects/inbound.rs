//! What a platform's request to confab is read into: the raw request, the hooks it may call, the platform-neutral reading, and the helpers the platforms' readers share.

use crate::actions::interpreter::Variables;
use crate::domain::RecordingId;

/// One of a platform's webhooks, by what the platform calls it for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    /// A call arrives and wants to join: the answer is the `pre_actions` and the join.
    Call,
    /// The conference's participant events (join, leave), or a call's status.
    Status,
    /// The call has left the conference: the answer is the `post_actions`.
    After,
    /// A recording's status.
    Recording,
    /// The caller's digits for a paused list (§13): the answer continues the list.
    Gather,
    /// The platform fetches what to say to a call or room (§15): the answer is it.
    Announce,
    /// A caller waits for a moderator (§14): the answer is what it hears meanwhile.
    Wait,
}

impl Hook {
    /// Whether the platform plays the answer (a call's actions), rather than only taking it
    /// as an acknowledgement.
    pub fn plays_answer(self) -> bool {
        matches!(
            self,
            Hook::Call | Hook::After | Hook::Gather | Hook::Wait | Hook::Announce
        )
    }
}

/// Where a platform's webhooks are: `/v1.0/{segment}/{customer}/conferences/{conference}/{leaf}`.
#[derive(Debug, Clone, Copy)]
pub struct Webhooks {
    pub segment: &'static str,
    /// Each hook by the leaf of its URL.
    pub hooks: &'static [(&'static str, Hook)],
}

/// A request as it reached confab, before anything is believed of it.
pub struct Inbound<'a> {
    /// The URL the platform called, as it knows it: `--public-url` and the path and query.
    pub url: &'a str,
    /// A header's value by its name (any case); `None` when absent or not text.
    pub header: &'a dyn Fn(&str) -> Option<&'a str>,
    pub body: &'a [u8],
    /// Now, in unix seconds, for signatures that carry a time.
    pub now: i64,
}

/// The keys a request may be signed with: the customer's connections (the dialects'
/// webhooks), or the platform secret (native events).
pub struct Keys<'a> {
    pub connections: &'a crate::domain::dialect::Connections,
    /// The platform secret's key bytes; `None` accepts unsigned native events.
    pub platform_key: Option<&'a [u8]>,
}

/// Why a request was not believed: for the log, never for the caller (who could otherwise
/// probe which customers have which connections).
#[derive(Debug, Clone, PartialEq)]
pub struct Refused(pub String);

/// What a verified request says about a call, in no platform's words.
#[derive(Debug, Clone, PartialEq)]
pub enum Reading {
    /// A call wants to join the conference the URL names.
    Joining {
        call_id: String,
        from: String,
        to: String,
        /// The platform's fields as `platform.<name>` variables.
        variables: Variables,
    },
    /// The call is in the platform's conference (its id there, kept for kicks). `sequence`
    /// is the platform's number of the report, when it numbers its conference's events.
    Joined {
        call_id: String,
        platform_conference: String,
        sequence: Option<i64>,
    },
    /// The call has left the conference; `sequence` as for `Joined` (a report numbered before
    /// the join of the call's current membership is about an earlier one).
    Left {
        call_id: String,
        reason: String,
        sequence: Option<i64>,
    },
    /// A call the platform placed rings (a dial-out's status callback names which dial);
    /// `call_id` is the platform's id of it.
    Ringing { call_id: String },
    /// The caller entered `digits` (empty: nothing before the timeout) for the call's pause
    /// numbered `pause` (from the callback URL confab gave, so a retry names the same pause).
    Digits {
        call_id: String,
        digits: String,
        pause: u32,
    },
    /// A recording has ended on the platform; `outcome` is the platform's word for how (it
    /// tells two reports of one recording apart).
    RecordingFinished {
        recording_id: RecordingId,
        outcome: String,
        media_url: String,
        duration_ms: Option<i64>,
    },
    /// The platform reports a call muted or unmuted, held or resumed; `sequence` is the
    /// platform's number of the report (a retry repeats it, a later report is higher).
    Updated {
        call_id: String,
        muted: Option<bool>,
        hold: Option<bool>,
        sequence: i64,
    },
    /// The platform fetches the announcement `id` names.
    Announce { id: uuid::Uuid },
    /// A caller waits for the room to start, or is on hold: the answer is the music the
    /// hook's URL names (a hold's), else the room's wait music.
    Wait { music: Option<String> },
    /// Nothing confab acts on (another conference event, a recording still running).
    Ignored,
}

/// A request that does not read.
#[derive(Debug, Clone, PartialEq)]
pub enum BadInput {
    /// The body is not what the platform sends (malformed JSON).
    Malformed(String),
    /// A field is missing, too long or of the wrong form.
    Field { field: String, message: String },
}

impl BadInput {
    pub fn field(field: &str, message: impl Into<String>) -> BadInput {
        BadInput::Field {
            field: field.to_string(),
            message: message.into(),
        }
    }
}

/// Platform fields as variables `platform.<name>`, so flows can use whatever the platform
/// sends without confab naming its fields. Very long names or values are left out, and so are
/// those holding NUL (stored text cannot): a field confab does not read does not refuse the
/// call.
pub fn platform_variables<'a>(fields: impl IntoIterator<Item = (&'a str, String)>) -> Variables {
    fields
        .into_iter()
        .filter(|(name, text)| name.len() <= 64 && text.len() <= 1024)
        .filter(|(name, text)| !name.contains('\0') && !text.contains('\0'))
        .map(|(name, text)| (format!("platform.{name}"), text))
        .collect()
}

/// A JSON field as a variable's text: strings, numbers and booleans; nothing else.
pub fn scalar(value: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(_) | Value::Bool(_) => Some(value.to_string()),
        _ => None,
    }
}

/// Whether a call status (the platforms share these words) says the call is over.
pub fn ended(status: Option<&str>) -> bool {
    matches!(
        status,
        Some("completed" | "busy" | "failed" | "no-answer" | "canceled")
    )
}

/// Whether a call status (the platforms' words) says a call confab placed has not been
/// answered yet and is on its way or ringing.
pub fn ringing(status: Option<&str>) -> bool {
    matches!(
        status,
        Some("queued" | "initiated" | "ringing" | "trying" | "early-media")
    )
}

/// A platform's sequence number of a report: a whole number, at most 18 digits.
pub fn sequence(value: Option<&str>, field: &str) -> Result<i64, BadInput> {
    let text = required(value, field)?;
    match text.parse::<i64>() {
        Ok(n) if n >= 0 && text.len() <= 18 => Ok(n),
        _ => Err(BadInput::field(field, "must be a whole number")),
    }
}

/// Longest digit string confab takes from a platform (a `digits_receive` collects at most 64).
pub const MAX_DIGITS: usize = 128;

/// Whether `text` is keypad input: DTMF keys only (`0-9`, `*`, `#`, `A-D`), at most
/// `MAX_DIGITS`.
pub fn is_digits(text: &str) -> bool {
    text.len() <= MAX_DIGITS
        && text
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D' | 'a'..='d'))
}

/// The caller's digits a platform reported in `field`; absent is none entered.
pub fn digits(value: Option<&str>, field: &str) -> Result<String, BadInput> {
    let text = value.unwrap_or("");
    if is_digits(text) {
        Ok(text.to_string())
    } else {
        Err(BadInput::field(
            field,
            format!("must be keypad digits (0-9, *, #, A-D), at most {MAX_DIGITS}"),
        ))
    }
}

/// The pause a gather callback is for: the `pause` query parameter of the URL confab built.
pub fn pause_number(url: &str) -> Result<u32, BadInput> {
    url::Url::parse(url)
        .ok()
        .and_then(|u| {
            u.query_pairs()
                .find(|(k, _)| k == "pause")
                .and_then(|(_, n)| n.parse::<u32>().ok())
        })
        .filter(|n| *n > 0)
        .ok_or_else(|| BadInput::field("pause", "must be the pause number confab's URL carries"))
}

/// Why a field holding NUL is refused: PostgreSQL cannot store it, and both backends answer
/// alike. Every reader of client text says it in these words.
pub const NO_NUL: &str = "must not contain NUL characters";

/// An optional platform field (a caller's number), at most 256 characters as in the native
/// protocol; absent is empty.
pub fn bounded(value: Option<&str>, field: &str) -> Result<String, BadInput> {
    match value {
        Some(v) if v.len() > 256 => Err(BadInput::field(field, "must be at most 256 characters")),
        Some(v) if v.contains('\0') => Err(BadInput::field(field, NO_NUL)),
        v => Ok(v.unwrap_or("").to_string()),
    }
}

/// A required platform field, present and bounded; its error names it.
pub fn required(value: Option<&str>, field: &str) -> Result<String, BadInput> {
    match value {
        Some(v) if v.contains('\0') => Err(BadInput::field(field, NO_NUL)),
        Some(v) if !v.is_empty() && v.len() <= 256 => Ok(v.to_string()),
        Some(v) if !v.is_empty() => Err(BadInput::field(field, "must be at most 256 characters")),
        _ => Err(BadInput::field(field, "is required")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_bounded_and_named() {
        assert_eq!(required(Some("c1"), "CallSid"), Ok("c1".into()));
        assert_eq!(
            required(None, "CallSid"),
            Err(BadInput::field("CallSid", "is required"))
        );
        let long = "x".repeat(257);
        assert!(bounded(Some(&long), "From").is_err());
        assert_eq!(bounded(None, "From"), Ok(String::new()));
        assert!(
            bounded(Some("+1\0"), "From").is_err() && required(Some("c\0"), "CallSid").is_err()
        );
        assert!(ended(Some("no-answer")) && !ended(Some("in-progress")) && !ended(None));
        let vars = platform_variables([
            ("A", "1".to_string()),
            ("B", "x".repeat(2000)),
            ("C", "a\0b".to_string()),
        ]);
        assert_eq!(vars.len(), 1);
        assert_eq!(vars.get("platform.A").map(String::as_str), Some("1"));
    }
}
