//! Recordings of conferences, in PostgreSQL.

use super::rows::*;
use super::PgTx;
use crate::store::tx::RecordingStore;

impl RecordingStore for PgTx<'_> {
    fn recording(
        &self,
        customer: Option<CustomerId>,
        id: RecordingId,
    ) -> Result<Option<Recording>, StoreError> {
        self.optional_row(
            &format!(
                "SELECT {RECORDING_COLUMNS} FROM recordings WHERE id = $1 \
                 AND ($2::text IS NULL OR customer_id = $2)"
            ),
            &[&id.to_string(), &customer.map(|c| c.to_string())],
            recording_from_row,
        )
    }

    fn insert_recording(&self, r: &Recording) -> Result<(), StoreError> {
        self.execute(
            &format!(
                "INSERT INTO recordings ({RECORDING_COLUMNS}) VALUES \
                 ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
            ),
            &[
                &r.id.to_string(),
                &r.customer_id.to_string(),
                &r.conference_id.to_string(),
                &r.status.as_str(),
                &r.format.as_str(),
                &r.duration,
                &r.media_url,
                &r.tm_start.micros(),
                &r.tm_end.map(Timestamp::micros),
                &r.tm_create.micros(),
                &r.platform_call,
            ],
        )?;
        Ok(())
    }

    fn update_recording(&self, r: &Recording) -> Result<(), StoreError> {
        self.execute(
            "UPDATE recordings SET status = $1, media_url = $2, tm_end = $3, platform_call = $4 \
             WHERE id = $5",
            &[
                &r.status.as_str(),
                &r.media_url,
                &r.tm_end.map(Timestamp::micros),
                &r.platform_call,
                &r.id.to_string(),
            ],
        )?;
        Ok(())
    }

    fn active_recording(
        &self,
        conference_id: ConferenceId,
    ) -> Result<Option<Recording>, StoreError> {
        self.optional_row(
            &format!(
                "SELECT {RECORDING_COLUMNS} FROM recordings WHERE conference_id = $1 \
                 AND status = 'recording' ORDER BY tm_create DESC LIMIT 1"
            ),
            &[&conference_id.to_string()],
            recording_from_row,
        )
    }
}
