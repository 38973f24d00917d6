//! Usage per customer and day, and what a conference's summary reads (§16), in SQLite.

use super::rows::*;
use super::SqliteTx;
use crate::domain::usage::{ConferenceTotals, Day, Usage};
use crate::store::tx::UsageStore;

impl UsageStore for SqliteTx<'_> {
    fn add_usage(
        &self,
        customer: CustomerId,
        conference: ConferenceId,
        day: Day,
        shard: i32,
        u: &Usage,
    ) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO usage_days (customer_id, day, shard, conferences, calls, \
                 participant_seconds, recording_seconds) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
                 ON CONFLICT (customer_id, day, shard) DO UPDATE SET \
                 conferences = conferences + ?4, calls = calls + ?5, \
                 participant_seconds = participant_seconds + ?6, \
                 recording_seconds = recording_seconds + ?7",
            )?
            .execute(params![
                customer.to_string(),
                day.0,
                shard,
                u.conferences,
                u.calls,
                u.participant_seconds,
                u.recording_seconds
            ])?;
        // A call's seconds reach the conference's total in the update that moves its counts
        // as it leaves (`set_call_status`); a recording's here.
        if u.recording_seconds != 0 {
            self.conn
                .prepare_cached(
                    "UPDATE conferences SET recording_seconds = recording_seconds + ?1 \
                     WHERE id = ?2",
                )?
                .execute(params![u.recording_seconds, conference.to_string()])?;
        }
        Ok(())
    }

    fn usage_days(
        &self,
        customer: CustomerId,
        from: Day,
        to: Day,
    ) -> Result<Vec<(Day, Usage)>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT day, SUM(conferences), SUM(calls), SUM(participant_seconds), \
             SUM(recording_seconds) FROM usage_days \
             WHERE customer_id = ? AND day BETWEEN ? AND ? GROUP BY day ORDER BY day",
        )?;
        let mut rows = stmt.query(params![customer.to_string(), from.0, to.0])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push((
                Day(row.get(0)?),
                Usage {
                    conferences: row.get(1)?,
                    calls: row.get(2)?,
                    participant_seconds: row.get(3)?,
                    recording_seconds: row.get(4)?,
                },
            ));
        }
        Ok(out)
    }

    fn conference_totals(&self, conference: ConferenceId) -> Result<ConferenceTotals, StoreError> {
        Ok(self
            .optional_row(
                "SELECT participant_seconds, recording_seconds, max_concurrent, join_seq_last \
                 FROM conferences WHERE id = ?",
                [conference.to_string()],
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
