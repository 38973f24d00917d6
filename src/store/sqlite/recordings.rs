//! Recordings of conferences, in SQLite.

use super::rows::*;
use super::SqliteTx;
use crate::store::tx::RecordingStore;
use crate::store::*;

impl RecordingStore for SqliteTx<'_> {
    fn recording(
        &self,
        customer: Option<CustomerId>,
        id: RecordingId,
    ) -> Result<Option<Recording>, StoreError> {
        self.optional_row(
            &format!(
                "SELECT {RECORDING_COLUMNS} FROM recordings WHERE id = ?1 \
             AND (?2 IS NULL OR customer_id = ?2)"
            ),
            params![id.to_string(), customer.map(|c| c.to_string())],
            recording_from_row,
        )
    }

    fn insert_recording(&self, r: &Recording) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(&format!(
                "INSERT INTO recordings ({RECORDING_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ))?
            .execute(params![
                r.id.to_string(),
                r.customer_id.to_string(),
                r.conference_id.to_string(),
                r.status.as_str(),
                r.format.as_str(),
                r.duration,
                r.media_url,
                r.tm_start.micros(),
                r.tm_end.map(Timestamp::micros),
                r.tm_create.micros(),
                r.platform_call,
            ])?;
        Ok(())
    }

    fn update_recording(&self, r: &Recording) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "UPDATE recordings SET status = ?, media_url = ?, tm_end = ?, platform_call = ? \
                 WHERE id = ?",
            )?
            .execute(params![
                r.status.as_str(),
                r.media_url,
                r.tm_end.map(Timestamp::micros),
                r.platform_call,
                r.id.to_string(),
            ])?;
        Ok(())
    }

    /// The conference's recording in progress, if any.
    fn active_recording(
        &self,
        conference_id: ConferenceId,
    ) -> Result<Option<Recording>, StoreError> {
        self.optional_row(
            &format!(
            "SELECT {RECORDING_COLUMNS} FROM recordings WHERE conference_id = ? AND status = 'recording' \
             ORDER BY tm_create DESC LIMIT 1"
        ),
            [conference_id.to_string()],
            recording_from_row,
        )
    }
}
