//! Conferences and their derived views, in SQLite.

use super::rows::*;
use super::SqliteTx;
use crate::store::tx::ConferenceStore;
use crate::store::*;

impl ConferenceStore for SqliteTx<'_> {
    /// SQLite lets one writer in at a time (`BEGIN IMMEDIATE`), so every write already holds
    /// every conference.
    fn lock_conference(&self, _id: ConferenceId) -> Result<(), StoreError> {
        Ok(())
    }

    fn insert_conference(&self, c: &Conference) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(&format!(
                "INSERT INTO conferences ({CONFERENCE_COLUMNS}) VALUES \
                 (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ))?
            .execute(params![
                c.id.to_string(),
                c.customer_id.to_string(),
                c.kind.as_str(),
                c.status.as_str(),
                c.name,
                c.detail,
                c.data.text(),
                c.timeout,
                c.pre_actions.text(),
                c.post_actions.text(),
                c.origin.as_str(),
                c.xml.app_sid,
                c.xml.user_data,
                c.xml.on_status,
                c.tm_create.micros(),
                c.tm_update.micros(),
                c.tm_delete.map(Timestamp::micros),
                c.tm_begin.map(Timestamp::micros),
                c.tm_end.map(Timestamp::micros),
                c.xml.reported_status,
                c.room.max_participants,
                i64::from(c.room.locked),
                i64::from(c.room.wait_for_moderator),
                i64::from(c.room.end_on_moderator_exit),
                c.room.wait_music_url,
            ])?;
        Ok(())
    }

    /// Writes every mutable column of a conference.
    fn update_conference(&self, c: &Conference) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "UPDATE conferences SET status = ?, name = ?, detail = ?, data = ?, timeout = ?, \
                 pre_actions = ?, post_actions = ?, app_sid = ?, user_data = ?, on_status = ?, \
                 tm_update = ?, tm_delete = ?, tm_begin = ?, tm_end = ?, xml_status = ?, \
                 max_participants = ?, locked = ?, wait_for_moderator = ?, \
                 end_on_moderator_exit = ?, wait_music_url = ? WHERE id = ?",
            )?
            .execute(params![
                c.status.as_str(),
                c.name,
                c.detail,
                c.data.text(),
                c.timeout,
                c.pre_actions.text(),
                c.post_actions.text(),
                c.xml.app_sid,
                c.xml.user_data,
                c.xml.on_status,
                c.tm_update.micros(),
                c.tm_delete.map(Timestamp::micros),
                c.tm_begin.map(Timestamp::micros),
                c.tm_end.map(Timestamp::micros),
                c.xml.reported_status,
                c.room.max_participants,
                i64::from(c.room.locked),
                i64::from(c.room.wait_for_moderator),
                i64::from(c.room.end_on_moderator_exit),
                c.room.wait_music_url,
                c.id.to_string(),
            ])?;
        Ok(())
    }

    /// A conference by id, optionally only if it belongs to `customer`.
    fn conference(
        &self,
        customer: Option<CustomerId>,
        id: ConferenceId,
    ) -> Result<Option<Conference>, StoreError> {
        self.optional_row(
            &format!(
                "SELECT {CONFERENCE_COLUMNS} FROM conferences WHERE id = ?1 \
             AND (?2 IS NULL OR customer_id = ?2)"
            ),
            params![id.to_string(), customer.map(|c| c.to_string())],
            conference_from_row,
        )
    }

    /// Adds the lists derived from calls and recordings.
    fn view(&self, conference: Conference) -> Result<ConferenceView, StoreError> {
        let id = conference.id.to_string();
        let mut stmt = self.conn.prepare_cached(
            "SELECT id FROM conferencecalls WHERE conference_id = ? AND status = 'joined' \
             ORDER BY join_seq",
        )?;
        let conferencecall_ids = stmt
            .query_map([&id], |r| r.get::<_, String>(0))?
            .map(|r| {
                let s = r?;
                Uuid::parse_str(&s)
                    .map(ConferencecallId)
                    .map_err(|_| corrupt("uuid", &s))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, status FROM recordings WHERE conference_id = ? ORDER BY tm_create, id",
        )?;
        let mut recording_ids = Vec::new();
        let mut recording_id = None;
        let mut rows = stmt.query([&id])?;
        while let Some(row) = rows.next()? {
            let rid = uuid_col(row, 0)?;
            let status: String = row.get(1)?;
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
