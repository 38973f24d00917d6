//! Customers' secret columns as stored, for the census and the rotation, in SQLite.

use super::rows::*;
use super::SqliteTx;
use crate::store::secrets::{SecretField, StoredSecrets};
use crate::store::tx::SecretStore;

impl SecretStore for SqliteTx<'_> {
    fn stored_secrets(&self, after: &str, limit: usize) -> Result<Vec<StoredSecrets>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {SECRET_COLUMNS} FROM customers WHERE id > ?1 ORDER BY id LIMIT ?2"
        ))?;
        let mut rows = stmt.query(params![after, limit as i64])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(stored_secrets_from_row(row)?);
        }
        Ok(out)
    }

    fn replace_stored_secret(
        &self,
        customer: &str,
        field: SecretField,
        old: &str,
        new: &str,
    ) -> Result<bool, StoreError> {
        // The column name comes from `SecretField`, never from input.
        let column = field.column();
        let changed = self
            .conn
            .prepare_cached(&format!(
                "UPDATE customers SET {column} = ?1 WHERE id = ?2 AND {column} = ?3"
            ))?
            .execute(params![new, customer, old])?;
        Ok(changed == 1)
    }
}
