//! Calls' paused action lists (§13), in SQLite.

use super::rows::*;
use super::SqliteTx;
use crate::store::tx::PauseStore;

impl PauseStore for SqliteTx<'_> {
    fn pause(&self, call: ConferencecallId) -> Result<Option<StoredPause>, StoreError> {
        self.optional_row(
            &format!("SELECT {PAUSE_COLUMNS} FROM call_pauses WHERE conferencecall_id = ?"),
            [call.to_string()],
            pause_from_row,
        )
    }

    fn put_pause(&self, p: &StoredPause) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(&format!(
                "INSERT OR REPLACE INTO call_pauses ({PAUSE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
            ))?
            .execute(params![
                p.conferencecall_id.to_string(),
                p.seq,
                i64::from(p.active),
                p.list,
                p.program,
                p.state,
                p.tm_update,
            ])?;
        Ok(())
    }
}
