//! Usage per customer and day, and what a conference's summary reads (§16), in PostgreSQL.

use super::rows::*;
use super::PgTx;
use crate::domain::usage::{ConferenceTotals, Day, Usage};
use crate::store::tx::UsageStore;

impl UsageStore for PgTx<'_> {
    /// One statement, so two nodes adding to the same row never lose an update: the second
    /// waits for the first's row lock and adds to what it wrote.
    fn add_usage(
        &self,
        customer: CustomerId,
        conference: ConferenceId,
        day: Day,
        shard: i32,
        u: &Usage,
    ) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO usage_days (customer_id, day, shard, conferences, calls, \
             participant_seconds, recording_seconds) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (customer_id, day, shard) DO UPDATE SET \
             conferences = usage_days.conferences + $4, calls = usage_days.calls + $5, \
             participant_seconds = usage_days.participant_seconds + $6, \
             recording_seconds = usage_days.recording_seconds + $7",
            &[
                &customer.to_string(),
                &day.0,
                &shard,
                &u.conferences,
                &u.calls,
                &u.participant_seconds,
                &u.recording_seconds,
            ],
        )?;
        // A call's seconds reach the conference's total in the update that moves its counts
        // as it leaves (`set_call_status`); a recording's here.
        if u.recording_seconds != 0 {
            self.execute(
                "UPDATE conferences SET recording_seconds = recording_seconds + $1 WHERE id = $2",
                &[&u.recording_seconds, &conference.to_string()],
            )?;
        }
        Ok(())
    }

    fn usage_days(
        &self,
        customer: CustomerId,
        from: Day,
        to: Day,
    ) -> Result<Vec<(Day, Usage)>, StoreError> {
        self.query(
            "SELECT day, SUM(conferences)::BIGINT, SUM(calls)::BIGINT, \
             SUM(participant_seconds)::BIGINT, SUM(recording_seconds)::BIGINT FROM usage_days \
             WHERE customer_id = $1 AND day BETWEEN $2 AND $3 GROUP BY day ORDER BY day",
            &[&customer.to_string(), &from.0, &to.0],
        )?
        .iter()
        .map(|row| {
            Ok((
                Day(row.try_get(0)?),
                Usage {
                    conferences: row.try_get(1)?,
                    calls: row.try_get(2)?,
                    participant_seconds: row.try_get(3)?,
                    recording_seconds: row.try_get(4)?,
                },
            ))
        })
        .collect()
    }

    fn conference_totals(&self, conference: ConferenceId) -> Result<ConferenceTotals, StoreError> {
        Ok(self
            .optional_row(
                "SELECT participant_seconds, recording_seconds, max_concurrent, join_seq_last \
                 FROM conferences WHERE id = $1",
                &[&conference.to_string()],
                |row| {
                    Ok(ConferenceTotals {
                        participant_seconds: row.get(0)?,
                        recording_seconds: row.get(1)?,
                        max_concurrent: row.get(2)?,
                        unique_calls: row.get(3)?,
                    })
                },
            )?
            .unwrap_or_default())
    }
}
