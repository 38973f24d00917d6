//! What confab knows of a call on its platform beyond its row (§15), in SQLite.

use super::rows::*;
use super::SqliteTx;
use crate::store::tx::PlatformCallStore;

impl PlatformCallStore for SqliteTx<'_> {
    fn dial_call_id(&self, call: ConferencecallId) -> Result<Option<String>, StoreError> {
        let found: Option<String> = self.optional_row(
            "SELECT dial_call_id FROM platform_calls WHERE conferencecall_id = ?",
            params![call.to_string()],
            |row| row.get(0),
        )?;
        Ok(found.filter(|id| !id.is_empty()))
    }

    fn set_dial_call_id(
        &self,
        call: ConferencecallId,
        platform_id: &str,
        now: i64,
    ) -> Result<(), StoreError> {
        self.put_platform_call(call, "dial_call_id", &platform_id, now)
    }

    fn set_join_sequence(
        &self,
        call: ConferencecallId,
        sequence: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        self.put_platform_call(call, "join_sequence", &sequence, now)
    }

    fn join_sequence(&self, call: ConferencecallId) -> Result<Option<i64>, StoreError> {
        let found: Option<i64> = self.optional_row(
            "SELECT join_sequence FROM platform_calls WHERE conferencecall_id = ?",
            params![call.to_string()],
            |row| row.get(0),
        )?;
        Ok(found.filter(|n| *n >= 0))
    }

    fn advance_update_sequence(
        &self,
        call: ConferencecallId,
        sequence: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        let changed = self
            .conn
            .prepare_cached(
                "INSERT INTO platform_calls (conferencecall_id, update_sequence, tm_update) \
                 VALUES (?, ?, ?) ON CONFLICT (conferencecall_id) DO UPDATE SET \
                 update_sequence = excluded.update_sequence, tm_update = excluded.tm_update \
                 WHERE platform_calls.update_sequence < excluded.update_sequence",
            )?
            .execute(params![call.to_string(), sequence, now])?;
        Ok(changed == 1)
    }
}

impl SqliteTx<'_> {
    /// Sets one column of the call's row, making the row if it has none.
    fn put_platform_call(
        &self,
        call: ConferencecallId,
        column: &'static str,
        value: &dyn rusqlite::ToSql,
        now: i64,
    ) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(&format!(
                "INSERT INTO platform_calls (conferencecall_id, {column}, tm_update) \
                 VALUES (?, ?, ?) ON CONFLICT (conferencecall_id) DO UPDATE SET \
                 {column} = excluded.{column}, tm_update = excluded.tm_update"
            ))?
            .execute(params![call.to_string(), value, now])?;
        Ok(())
    }
}
