//! Conferences and their derived views, in PostgreSQL.

use super::rows::*;
use super::{LockSpace, PgTx};
use crate::store::tx::ConferenceStore;

impl ConferenceStore for PgTx<'_> {
    /// An advisory lock rather than a row lock: it also serializes the creation of a
    /// conference that has no row yet, and it is held until the transaction ends.
    ///
    /// The lock is taken with the conference's row when that is read next, as it nearly always
    /// is (one round trip instead of two), else before the next statement.
    fn lock_conference(&self, id: ConferenceId) -> Result<(), StoreError> {
        if self.signals.is_none() {
            return Ok(());
        }
        self.take_pending()?;
        *self.pending_conference.borrow_mut() = Some(id.to_string());
        Ok(())
    }

    fn insert_conference(&self, c: &Conference) -> Result<(), StoreError> {
        self.execute(
            &format!(
                "INSERT INTO conferences ({CONFERENCE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, \
                 $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, \
                 $23, $24, $25)"
            ),
            &[
                &c.id.to_string(),
                &c.customer_id.to_string(),
                &c.kind.as_str(),
                &c.status.as_str(),
                &c.name,
                &c.detail,
                &c.data.text(),
                &c.timeout,
                &c.pre_actions.text(),
                &c.post_actions.text(),
                &c.origin.as_str(),
                &c.xml.app_sid,
                &c.xml.user_data,
                &c.xml.on_status,
                &c.tm_create.micros(),
                &c.tm_update.micros(),
                &c.tm_delete.map(Timestamp::micros),
                &c.tm_begin.map(Timestamp::micros),
                &c.tm_end.map(Timestamp::micros),
                &c.xml.reported_status,
                &c.room.max_participants,
                &i64::from(c.room.locked),
                &i64::from(c.room.wait_for_moderator),
                &i64::from(c.room.end_on_moderator_exit),
                &c.room.wait_music_url,
            ],
        )?;
        Ok(())
    }

    fn update_conference(&self, c: &Conference) -> Result<(), StoreError> {
        self.execute(
            "UPDATE conferences SET status = $1, name = $2, detail = $3, data = $4, \
             timeout = $5, pre_actions = $6, post_actions = $7, app_sid = $8, user_data = $9, \
             on_status = $10, tm_update = $11, tm_delete = $12, tm_begin = $13, tm_end = $14, \
             xml_status = $15, max_participants = $17, locked = $18, wait_for_moderator = $19, \
             end_on_moderator_exit = $20, wait_music_url = $21 WHERE id = $16",
            &[
                &c.status.as_str(),
                &c.name,
                &c.detail,
                &c.data.text(),
                &c.timeout,
                &c.pre_actions.text(),
                &c.post_actions.text(),
                &c.xml.app_sid,
                &c.xml.user_data,
                &c.xml.on_status,
                &c.tm_update.micros(),
                &c.tm_delete.map(Timestamp::micros),
                &c.tm_begin.map(Timestamp::micros),
                &c.tm_end.map(Timestamp::micros),
                &c.xml.reported_status,
                &c.id.to_string(),
                &c.room.max_participants,
                &i64::from(c.room.locked),
                &i64::from(c.room.wait_for_moderator),
                &i64::from(c.room.end_on_moderator_exit),
                &c.room.wait_music_url,
            ],
        )?;
        Ok(())
    }

    fn conference(
        &self,
        customer: Option<CustomerId>,
        id: ConferenceId,
    ) -> Result<Option<Conference>, StoreError> {
        let id_text = id.to_string();
        let locking = self.pending_conference.borrow().as_deref() == Some(id_text.as_str());
        if locking {
            self.pending_conference.borrow_mut().take();
            let waits = self.waits();
            // The counts come along, read under the lock, for the rules that ask next.
            let read = self.optional_row(
                &format!(
                    "SELECT {CONFERENCE_COLUMNS}, calls_active, calls_joined \
                     FROM confab_locked_conference($4, $1, $3) \
                     WHERE ($2::text IS NULL OR customer_id = $2)"
                ),
                &[
                    &id_text,
                    &customer.map(|c| c.to_string()),
                    &waits,
                    &(LockSpace::Conference as i32),
                ],
                |row| {
                    let counts = (row.get::<i64>(25)?, row.get::<i64>(26)?);
                    Ok((conference_from_row(row)?, counts))
                },
            )?;
            let mut known = self.known.borrow_mut();
            known.locked(&id_text);
            return Ok(read.map(|(conference, counts)| {
                known.set_counts(&id_text, counts);
                conference
            }));
        }
        self.optional_row(
            &format!(
                "SELECT {CONFERENCE_COLUMNS} FROM conferences WHERE id = $1 \
                 AND ($2::text IS NULL OR customer_id = $2)"
            ),
            &[&id.to_string(), &customer.map(|c| c.to_string())],
            conference_from_row,
        )
    }

    fn view(&self, conference: Conference) -> Result<ConferenceView, StoreError> {
        let id = conference.id.to_string();
        let conferencecall_ids = self
            .query(
                "SELECT id FROM conferencecalls WHERE conference_id = $1 AND status = 'joined' \
                 ORDER BY join_seq",
                &[&id],
            )?
            .iter()
            .map(|row| uuid_col(row, 0))
            .collect::<Result<Vec<ConferencecallId>, _>>()?;
        let mut recording_ids = Vec::new();
        let mut recording_id = None;
        for row in self.query(
            "SELECT id, status FROM recordings WHERE conference_id = $1 ORDER BY tm_create, id",
            &[&id],
        )? {
            let rid = uuid_col(&row, 0)?;
            let status: String = row.try_get(1)?;
            if status == RecordingStatus::Recording.as_str() {
                recording_id = Some(rid);
            }
            recording_ids.push(rid);
        }
        Ok(ConferenceView {
            conference,
            conferencecall_ids,
            recording_id,
            recording_ids,
        })
    }
}
