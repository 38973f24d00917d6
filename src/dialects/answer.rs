//! What a platform needs to write an answer in its words, and the answer as it goes back: a content type and a body.

use crate::domain::dialect::Connections;
use crate::domain::{ConferenceId, CustomerId};
use crate::render::EventAnswer;

/// An answer in a platform's words, to send with status 200.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub content_type: &'static str,
    pub body: String,
}

/// What an answer needs besides the answer itself.
pub struct AnswerContext<'a> {
    /// The customer and conference the webhook URL names: the platform's callbacks name them
    /// too, and the conference is the room's name on the platform.
    pub callbacks: Callbacks<'a>,
    /// The sound a `beep` plays (`--beep-url`, or confab's own).
    pub beep_url: &'a str,
    /// The conferencecall the answer is about (`label`), so the platform's participant names it.
    pub label: &'a str,
    /// The customer's connections: a platform may take settings of its answers from them.
    pub connections: &'a Connections,
}

/// The URLs a platform calls confab back at, built on `--public-url`.
#[derive(Debug, Clone, Copy)]
pub struct Callbacks<'a> {
    pub public_url: &'a str,
    pub customer: CustomerId,
    pub conference: ConferenceId,
}

impl Callbacks<'_> {
    /// `{public}/v1.0/{segment}/{customer}/conferences/{conference}/{leaf}`.
    pub fn url(&self, segment: &str, leaf: &str) -> String {
        format!(
            "{}/v1.0/{segment}/{}/conferences/{}/{leaf}",
            self.public_url.trim_end_matches('/'),
            self.customer,
            self.conference
        )
    }
}

impl Callbacks<'_> {
    /// The gather callback of an answer that pauses, naming its pause (so a platform's retry
    /// of one pause is never taken for the next); empty when the answer does not pause.
    pub fn gather_url(&self, segment: &str, answer: &EventAnswer) -> String {
        match answer.pause {
            Some(n) => format!("{}?pause={n}", self.url(segment, "gather")),
            None => String::new(),
        }
    }
}

/// The conferencecall id of an answer, for the platform's participant label; empty when the
/// answer names none.
pub fn label(answer: &EventAnswer) -> String {
    answer
        .conferencecall
        .as_ref()
        .and_then(|raw| serde_json::from_str::<serde_json::Value>(raw.get()).ok())
        .and_then(|v| v["id"].as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Whole seconds of a `sleep`, rounded up so a short sleep is not dropped: the platforms
/// pause in whole seconds.
pub(crate) fn whole_seconds(duration_ms: u32) -> u64 {
    u64::from(duration_ms).div_ceil(1000).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sleep_pauses_whole_seconds_rounded_up() {
        assert_eq!(whole_seconds(1001), 2);
        assert_eq!(whole_seconds(1), 1);
        assert_eq!(whole_seconds(600_000), 600);
    }

    #[test]
    fn the_label_is_the_answers_conferencecall() {
        let a = EventAnswer::call(&serde_json::json!({"id": "cc-1"}), None);
        assert_eq!(label(&a), "cc-1");
        assert_eq!(label(&EventAnswer::recording(&serde_json::json!({}))), "");
    }
}
