//! Calls' paused action lists (§13), in PostgreSQL.

use super::rows::*;
use super::PgTx;
use crate::store::tx::PauseStore;

impl PauseStore for PgTx<'_> {
    fn pause(&self, call: ConferencecallId) -> Result<Option<StoredPause>, StoreError> {
        self.optional_row(
            &format!("SELECT {PAUSE_COLUMNS} FROM call_pauses WHERE conferencecall_id = $1"),
            &[&call.to_string()],
            pause_from_row,
        )
    }

    fn put_pause(&self, p: &StoredPause) -> Result<(), StoreError> {
        self.execute(
            &format!(
                "INSERT INTO call_pauses ({PAUSE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (conferencecall_id) DO UPDATE SET seq = EXCLUDED.seq, \
                 active = EXCLUDED.active, list = EXCLUDED.list, program = EXCLUDED.program, \
                 state = EXCLUDED.state, tm_update = EXCLUDED.tm_update"
            ),
            &[
                &p.conferencecall_id.to_string(),
                &p.seq,
                &i64::from(p.active),
                &p.list,
                &p.program,
                &p.state,
                &p.tm_update,
            ],
        )?;
        Ok(())
    }
}
