//! Platform dialects: everything confab knows of each platform it speaks with, one folder per platform.
//!
//! Layering: below the engine, beside `outbox` and `render`. Nothing here knows the engine,
//! HTTP (actix) or SQL.

pub mod jambonz;
pub mod twilio;
pub mod voices;

#[cfg(test)]
mod replays;

/// Whole seconds of a `sleep`, rounded up so a short sleep is not dropped: the platforms
/// pause in whole seconds.
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
