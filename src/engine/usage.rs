//! Usage reports and conference summaries (§16), read from the counters the rules keep: per
//! customer and day, and on each conference's row.

use super::{Engine, EngineError, Refusal};
use crate::domain::usage::{ConferenceSummary, Day, UsagePeriod, UsageRange};
use crate::domain::{ConferenceId, CustomerId};

impl Engine {
    /// Today in UTC, by the engine's clock: where a usage report ends unless told.
    pub fn today(&self) -> Day {
        Day::of(self.now())
    }

    /// A customer's usage over a range, one row per period, zeros included. It reads the
    /// customer's day counters only, so its cost does not grow with the number of calls.
    pub async fn usage(
        &self,
        customer: CustomerId,
        range: UsageRange,
    ) -> Result<Vec<UsagePeriod>, EngineError> {
        let days = self
            .store
            .read(move |db| db.usage_days(customer, range.from, range.to))
            .await?;
        Ok(range.periods(&days))
    }

    /// A customer's conference's summary: its span, and the calls and recordings it had. It
    /// reads the conference's row only, however many calls it had.
    pub async fn conference_summary(
        &self,
        customer: CustomerId,
        id: ConferenceId,
    ) -> Result<ConferenceSummary, EngineError> {
        let now = self.now();
        let found = self
            .store
            .read(move |db| {
                let Some(conf) = db.conference(Some(customer), id)? else {
                    return Ok(None);
                };
                let totals = db.conference_totals(id)?;
                Ok(Some(ConferenceSummary::build(
                    id,
                    (conf.tm_begin, conf.tm_end),
                    totals,
                    now,
                )))
            })
            .await?;
        found.ok_or(EngineError::Refused(Refusal::ConferenceNotFound))
    }
}
