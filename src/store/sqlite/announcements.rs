//! Announcements (§15), in SQLite.

use super::rows::*;
use super::SqliteTx;
use crate::store::tx::AnnouncementStore;

impl AnnouncementStore for SqliteTx<'_> {
    fn insert_announcement(
        &self,
        id: Uuid,
        customer: CustomerId,
        conference: ConferenceId,
        actions: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO announcements (id, customer_id, conference_id, actions, tm_create) \
                 VALUES (?, ?, ?, ?, ?)",
            )?
            .execute(params![
                id.to_string(),
                customer.to_string(),
                conference.to_string(),
                actions,
                now
            ])?;
        Ok(())
    }

    fn announcement(
        &self,
        id: Uuid,
        customer: CustomerId,
        conference: ConferenceId,
    ) -> Result<Option<String>, StoreError> {
        self.optional_row(
            "SELECT actions FROM announcements WHERE id = ? AND customer_id = ? \
             AND conference_id = ?",
            params![id.to_string(), customer.to_string(), conference.to_string()],
            |row| row.get(0),
        )
    }
}
