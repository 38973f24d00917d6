//! Wall-clock time as confab stores and prints it: microseconds since the Unix epoch, UTC.

use chrono::{DateTime, Utc};
use std::sync::atomic::{AtomicI64, Ordering};

/// The JSON API prints an unset timestamp as this sentinel (seed format).
pub const NOT_SET: &str = "9999-01-01 00:00:00.000000";

/// A timestamp as the JSON API prints it, for the OpenAPI document: UTC with microseconds,
/// `9999-01-01 00:00:00.000000` when not set.
#[derive(utoipa::ToSchema)]
#[schema(
    value_type = String,
    example = "2022-02-03 06:08:56.672025",
    pattern = r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}$"
)]
pub struct ApiTime(pub String);

/// Microseconds since the Unix epoch, UTC. Stored as an INTEGER in SQLite so ordering and
/// arithmetic are exact and cheap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn micros(self) -> i64 {
        self.0
    }

    pub fn plus_seconds(self, seconds: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(seconds.saturating_mul(1_000_000)))
    }

    /// `YYYY-MM-DD HH:MM:SS.ffffff`, the format of the JSON API.
    pub fn to_api(self) -> String {
        use chrono::{Datelike, Timelike};
        match DateTime::<Utc>::from_timestamp_micros(self.0) {
            // Written out by hand: this runs for every timestamp of every answer, and chrono's
            // format strings are parsed on each call.
            Some(t) => format!(
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:06}",
                t.year(),
                t.month(),
                t.day(),
                t.hour(),
                t.minute(),
                t.second(),
                t.timestamp_subsec_micros()
            ),
            None => NOT_SET.to_string(),
        }
    }

    /// `YYYY-MM-DD HH:MM:SS`, the format of the XML API.
    pub fn to_seconds_format(self) -> String {
        match DateTime::<Utc>::from_timestamp_micros(self.0) {
            Some(t) => t.format("%Y-%m-%d %H:%M:%S").to_string(),
            None => String::new(),
        }
    }

    pub fn unix_seconds(self) -> i64 {
        self.0.div_euclid(1_000_000)
    }
}

/// Prints an optional timestamp the way the JSON API does: the sentinel when unset.
pub fn api_or_not_set(t: Option<Timestamp>) -> String {
    t.map(Timestamp::to_api)
        .unwrap_or_else(|| NOT_SET.to_string())
}

/// The source of "now". Production uses the system clock; tests can substitute a clock they move.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

/// The system clock, made strictly increasing so two changes never share a `tm_update` and
/// ordering by time is the same as ordering by commit.
#[derive(Debug, Default)]
pub struct SystemClock {
    last: AtomicI64,
}

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let wall = Utc::now().timestamp_micros();
        let mut prev = self.last.load(Ordering::Relaxed);
        loop {
            let next = if wall > prev { wall } else { prev + 1 };
            match self
                .last
                .compare_exchange_weak(prev, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return Timestamp(next),
                Err(actual) => prev = actual,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_the_seed() {
        // 2022-02-03 06:08:56.672025 UTC
        let t = Timestamp(1_643_868_536_672_025);
        assert_eq!(t.to_api(), "2022-02-03 06:08:56.672025");
        assert_eq!(t.to_seconds_format(), "2022-02-03 06:08:56");
        assert_eq!(api_or_not_set(None), NOT_SET);
    }

    #[test]
    fn system_clock_is_strictly_increasing() {
        let c = SystemClock::default();
        let mut prev = c.now();
        for _ in 0..10_000 {
            let n = c.now();
            assert!(n > prev);
            prev = n;
        }
    }
}
