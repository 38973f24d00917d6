//! Announcements (§15), in PostgreSQL.

use super::rows::*;
use super::PgTx;
use crate::store::tx::AnnouncementStore;
use uuid::Uuid;

impl AnnouncementStore for PgTx<'_> {
    fn insert_announcement(
        &self,
        id: Uuid,
        customer: CustomerId,
        conference: ConferenceId,
        actions: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO announcements (id, customer_id, conference_id, actions, tm_create) \
             VALUES ($1, $2, $3, $4, $5)",
            &[
                &id.to_string(),
                &customer.to_string(),
                &conference.to_string(),
                &actions,
                &now,
            ],
        )?;
        Ok(())
    }

    fn announcement(
        &self,
        id: Uuid,
        customer: CustomerId,
        conference: ConferenceId,
    ) -> Result<Option<String>, StoreError> {
        self.optional_row(
            "SELECT actions FROM announcements WHERE id = $1 AND customer_id = $2 \
             AND conference_id = $3",
            &[
                &id.to_string(),
                &customer.to_string(),
                &conference.to_string(),
            ],
            |row| row.get(0),
        )
    }
}
