//! Usage per customer and day, and what a conference's summary reads (§16), in PostgreSQL.

use super::rows::*;
use super::PgTx;
use crate::domain::usage::{ConferenceTotals, Day, Usage};
use crate::store::tx::UsageStore;

impl UsageStore for PgTx<'_> {
    /// Added up over the write's batch and written once, last, in key order (see `batch`):
    /// one statement, so two nodes adding to the same row never lose an update.
    fn add_usage(
        &self,
        customer: CustomerId,
        conference: ConferenceId,
        day: Day,
        shard: i32,
        u: &Usage,
    ) -> Result<(), StoreError> {
        // Every write runs in a batch; only reads have no counters to add to.
        let deltas = self
            .usage
            .ok_or_else(|| StoreError::Unsupported("usage is counted by writes only".into()))?;
        super::batch::add_delta(
            &mut deltas.borrow_mut(),
            customer.to_string(),
            day,
            shard,
            u,
        );
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
