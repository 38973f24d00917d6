//! Usage you can bill from (§16): what one call, conference or recording adds to a customer's
//! day, the periods a usage report is asked for, and a conference's summary.

use super::ids::ConferenceId;
use super::timestamp::Timestamp;
use chrono::{DateTime, Datelike, NaiveDate, Utc};

/// A usage report covers at most this many days, so one answer stays small.
pub const MAX_RANGE_DAYS: i64 = 366;

/// Shards each customer's day is kept in: concurrent leaves of one customer's conferences on
/// several nodes update different rows instead of queuing on one (a conference's own events
/// are already serialized by its lock, so it always uses the same shard).
pub const USAGE_SHARDS: u32 = 16;

/// Whole seconds from `from` to `to`, rounded down; 0 if `to` is earlier. Rounding each call
/// down (never the sum) keeps every total the exact sum of the figures it is made of.
pub fn seconds_between(from: Timestamp, to: Timestamp) -> i64 {
    to.micros().saturating_sub(from.micros()).max(0) / 1_000_000
}

/// A UTC day, as days since 1970-01-01: the key usage is counted under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(pub i32);

impl Day {
    /// The UTC day a timestamp falls on.
    pub fn of(t: Timestamp) -> Day {
        Day(t.micros().div_euclid(86_400_000_000) as i32)
    }

    fn date(self) -> NaiveDate {
        // Days since the epoch within ±366 days of a parsed date or of a timestamp always
        // convert; the epoch is the fallback for a value no stored day can have.
        DateTime::<Utc>::from_timestamp(i64::from(self.0) * 86_400, 0)
            .map(|t| t.date_naive())
            .unwrap_or_default()
    }

    fn from_date(d: NaiveDate) -> Day {
        Day((d - NaiveDate::default()).num_days() as i32)
    }

    /// `YYYY-MM-DD`.
    pub fn to_iso(self) -> String {
        self.date().format("%Y-%m-%d").to_string()
    }

    /// `YYYY-MM`, the month the day is in.
    pub fn month(self) -> String {
        self.date().format("%Y-%m").to_string()
    }

    fn first_of_month(self) -> Day {
        let d = self.date();
        Day::from_date(d.with_day(1).unwrap_or(d))
    }
}

/// Parses `YYYY-MM-DD` strictly (a real calendar date, four-digit year).
pub fn parse_day(s: &str) -> Option<Day> {
    if s.len() != 10 {
        return None;
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .map(Day::from_date)
}

/// What one or more events add to a customer's usage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// Conferences created.
    pub conferences: i64,
    /// Calls that left after having joined the room.
    pub calls: i64,
    pub participant_seconds: i64,
    pub recording_seconds: i64,
}

impl Usage {
    pub fn add(&mut self, other: &Usage) {
        self.conferences += other.conferences;
        self.calls += other.calls;
        self.participant_seconds += other.participant_seconds;
        self.recording_seconds += other.recording_seconds;
    }
}

impl Usage {
    /// What a call that stayed `seconds` in the room adds, on the day it left.
    pub fn of_call(seconds: i64) -> Usage {
        Usage {
            calls: 1,
            participant_seconds: seconds,
            ..Usage::default()
        }
    }
}

/// The row of a customer's day that a conference's usage goes to.
pub fn shard_of(conference: ConferenceId) -> i32 {
    let bytes = conference.0.as_bytes();
    // The last bytes of a v4 or v7 uuid are random, so conferences spread evenly.
    (u32::from(bytes[15]) % USAGE_SHARDS) as i32
}

/// How a usage report groups its days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    Day,
    Month,
}

/// A usage report's question: a customer's days `from..=to` (UTC), grouped by day or month.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageRange {
    pub from: Day,
    pub to: Day,
    pub granularity: Granularity,
}

/// Why a usage question is refused: the field and what it must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeError {
    pub field: &'static str,
    pub message: String,
}

impl UsageRange {
    /// Checks a report's parameters. Without `to`, the report ends `today`; without `from`,
    /// it starts on the first day of `to`'s month.
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        granularity: Option<&str>,
        today: Day,
    ) -> Result<UsageRange, RangeError> {
        let date = |field: &'static str, raw: Option<&str>| match raw {
            None => Ok(None),
            Some(s) => parse_day(s).map(Some).ok_or_else(|| RangeError {
                field,
                message: "must be a date, YYYY-MM-DD".into(),
            }),
        };
        let granularity = match granularity {
            None | Some("day") => Granularity::Day,
            Some("month") => Granularity::Month,
            Some(_) => {
                return Err(RangeError {
                    field: "granularity",
                    message: "must be day or month".into(),
                })
            }
        };
        let to = date("to", to)?.unwrap_or(today);
        let from = date("from", from)?.unwrap_or_else(|| to.first_of_month());
        if from > to {
            return Err(RangeError {
                field: "from",
                message: "must not be after to".into(),
            });
        }
        if i64::from(to.0) - i64::from(from.0) + 1 > MAX_RANGE_DAYS {
            return Err(RangeError {
                field: "to",
                message: format!("must be at most {MAX_RANGE_DAYS} days after from, counting both"),
            });
        }
        Ok(UsageRange {
            from,
            to,
            granularity,
        })
    }

    /// The report's rows: every period of the range, in order, those without usage as zeros,
    /// from the days that have usage. A month at either end of the range counts only its
    /// days inside the range.
    pub fn periods(&self, days: &[(Day, Usage)]) -> Vec<UsagePeriod> {
        let mut out: Vec<UsagePeriod> = Vec::new();
        let mut used = days.iter().peekable();
        for d in self.from.0..=self.to.0 {
            let day = Day(d);
            let period = match self.granularity {
                Granularity::Day => day.to_iso(),
                Granularity::Month => day.month(),
            };
            if out.last().map(|p| &p.period) != Some(&period) {
                out.push(UsagePeriod {
                    period,
                    usage: Usage::default(),
                });
            }
            while let Some((_, u)) = used.next_if(|(at, _)| *at <= day) {
                if let Some(last) = out.last_mut() {
                    last.usage.add(u);
                }
            }
        }
        out
    }
}

/// One row of a usage report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsagePeriod {
    /// `YYYY-MM-DD` or `YYYY-MM`.
    pub period: String,
    pub usage: Usage,
}

/// One conference's shape (§16): its span and the totals its row keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConferenceSummary {
    pub conference_id: ConferenceId,
    pub tm_start: Option<Timestamp>,
    pub tm_end: Option<Timestamp>,
    /// From `tm_start` to `tm_end`, or to now while it runs; 0 before it started.
    pub duration_seconds: i64,
    /// The calls that left: the sum of their `tm_left − tm_joined` in whole seconds.
    pub participant_seconds: i64,
    /// The most calls joined at once.
    pub max_concurrent: i64,
    /// Calls that joined the room (each conferencecall once).
    pub unique_calls: i64,
    /// Ended recordings: the sum of their `tm_end − tm_start` in whole seconds.
    pub recording_seconds: i64,
}

/// What a conference's row keeps for its summary, added to as calls join and leave and
/// recordings end.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConferenceTotals {
    pub participant_seconds: i64,
    pub recording_seconds: i64,
    pub max_concurrent: i64,
    pub unique_calls: i64,
}

impl ConferenceSummary {
    /// The summary of a conference that began at `tm_start` (its first join) and ended at
    /// `tm_end`, from the totals on its row, as of `now`.
    pub fn build(
        conference_id: ConferenceId,
        span: (Option<Timestamp>, Option<Timestamp>),
        totals: ConferenceTotals,
        now: Timestamp,
    ) -> ConferenceSummary {
        let (tm_start, tm_end) = span;
        ConferenceSummary {
            conference_id,
            tm_start,
            tm_end,
            duration_seconds: tm_start.map_or(0, |s| seconds_between(s, tm_end.unwrap_or(now))),
            participant_seconds: totals.participant_seconds,
            max_concurrent: totals.max_concurrent,
            unique_calls: totals.unique_calls,
            recording_seconds: totals.recording_seconds,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        let t = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").unwrap();
        Timestamp(t.and_utc().timestamp_micros())
    }

    #[test]
    fn days_and_months_are_utc() {
        let d = Day::of(at("2026-12-05 23:59:59.999999"));
        assert_eq!(d.to_iso(), "2026-12-05");
        assert_eq!(Day::of(at("2026-12-06 00:00:00")).to_iso(), "2026-12-06");
        assert_eq!(d.month(), "2026-12");
        assert_eq!(parse_day("2026-12-05"), Some(d));
        assert_eq!(Day::of(at("1969-12-31 23:00:00")).to_iso(), "1969-12-31");
    }

    #[test]
    fn parse_day_is_strict() {
        for bad in [
            "2026-02-30",
            "2026-13-01",
            "26-12-05",
            "2026-12-5",
            "yesterday",
            "",
            "2026-12-05T00",
        ] {
            assert_eq!(parse_day(bad), None, "{bad}");
        }
    }

    #[test]
    fn seconds_round_down_per_call() {
        assert_eq!(
            seconds_between(at("2026-01-01 00:00:00.9"), at("2026-01-01 00:00:02.899")),
            1
        );
        assert_eq!(
            seconds_between(at("2026-01-01 00:00:02"), at("2026-01-01 00:00:01")),
            0
        );
    }

    #[test]
    fn ranges_name_the_field_at_fault() {
        let today = parse_day("2026-12-05").unwrap();
        let err = |f, t, g| UsageRange::parse(f, t, g, today).unwrap_err().field;
        assert_eq!(err(Some("2026-13-01"), None, None), "from");
        assert_eq!(err(None, Some("x"), None), "to");
        assert_eq!(err(Some("2026-12-06"), Some("2026-12-05"), None), "from");
        assert_eq!(err(Some("2025-01-01"), Some("2026-01-02"), None), "to");
        assert_eq!(err(None, None, Some("week")), "granularity");
        let r = UsageRange::parse(Some("2025-01-01"), Some("2025-12-31"), None, today).unwrap();
        assert_eq!(r.to.0 - r.from.0 + 1, 365);
        let r = UsageRange::parse(None, None, None, today).unwrap();
        assert_eq!(
            (r.from.to_iso(), r.to.to_iso()),
            ("2026-12-01".into(), "2026-12-05".into())
        );
    }

    #[test]
    fn periods_are_dense_and_months_clip_to_the_range() {
        let today = parse_day("2026-12-05").unwrap();
        let u = |s| Usage {
            calls: 1,
            participant_seconds: s,
            ..Usage::default()
        };
        let days = vec![
            (parse_day("2026-11-30").unwrap(), u(10)),
            (parse_day("2026-12-02").unwrap(), u(5)),
            (parse_day("2026-12-02").unwrap(), u(7)),
        ];
        let r = UsageRange::parse(Some("2026-11-29"), Some("2026-12-03"), None, today).unwrap();
        let p = r.periods(&days);
        assert_eq!(p.len(), 5);
        assert_eq!(p[1].period, "2026-11-30");
        assert_eq!(p[1].usage.participant_seconds, 10);
        assert_eq!(p[3].usage.participant_seconds, 12);
        assert_eq!(p[3].usage.calls, 2);
        let r = UsageRange::parse(Some("2026-11-29"), Some("2026-12-03"), Some("month"), today)
            .unwrap();
        let p = r.periods(&days);
        assert_eq!(
            p.iter().map(|p| p.period.as_str()).collect::<Vec<_>>(),
            ["2026-11", "2026-12"]
        );
        assert_eq!(
            (
                p[0].usage.participant_seconds,
                p[1].usage.participant_seconds
            ),
            (10, 12)
        );
    }
}
