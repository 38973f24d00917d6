//! Documents confab renders for the outside world beyond the JSON of its resources: the typed
//! answer to a platform event (JSON and XML), the XML API's documents and `onStatus` events,
//! and the same answer in the platform dialects (TwiML, jambonz verbs).

pub mod answer;
pub mod jambonz;
pub mod twiml;
pub mod voices;
pub mod xml;

#[cfg(test)]
mod replays;

pub use answer::EventAnswer;

/// Whole seconds of a `sleep`, rounded up so a short sleep is not dropped: both dialects pause
/// in whole seconds.
pub(crate) fn whole_seconds(duration_ms: u32) -> u64 {
    u64::from(duration_ms).div_ceil(1000).max(1)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_sleep_pauses_whole_seconds_rounded_up() {
        assert_eq!(super::whole_seconds(1001), 2);
        assert_eq!(super::whole_seconds(1), 1);
        assert_eq!(super::whole_seconds(600_000), 600);
    }
}
