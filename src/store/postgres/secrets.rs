//! Customers' secret columns as stored, for the census and the rotation, in PostgreSQL.

use super::rows::*;
use super::PgTx;
use crate::store::secrets::{SecretField, StoredSecrets};
use crate::store::tx::SecretStore;

impl SecretStore for PgTx<'_> {
    fn stored_secrets(&self, after: &str, limit: usize) -> Result<Vec<StoredSecrets>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.query(
            &format!("SELECT {SECRET_COLUMNS} FROM customers WHERE id > $1 ORDER BY id LIMIT $2"),
            &[&after, &limit],
        )?
        .iter()
        .map(|row| stored_secrets_from_row(row))
        .collect()
    }

    fn replace_stored_secret(
        &self,
        customer: &str,
        field: SecretField,
        old: &str,
        new: &str,
    ) -> Result<bool, StoreError> {
        // The column name comes from `SecretField`, never from input. A concurrent writer's
        // row lock makes this wait for its commit; the condition is then checked against the
        // committed value, so a value that writer changed is left to it.
        let column = field.column();
        let changed = self.execute(
            &format!("UPDATE customers SET {column} = $1 WHERE id = $2 AND {column} = $3"),
            &[&new, &customer, &old],
        )?;
        Ok(changed == 1)
    }
}
