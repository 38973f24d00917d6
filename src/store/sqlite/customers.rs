//! Customers: the tenants, their API keys (hashed) and webhook settings, in SQLite.

use super::rows::*;
use super::SqliteTx;
use crate::store::secrets::sealed_columns;
use crate::store::tx::{CustomerReads, CustomerStore};
use crate::store::*;

impl CustomerStore for SqliteTx<'_> {
    fn insert_customer(&self, c: &Customer, key_hash: &[u8; 32]) -> Result<(), StoreError> {
        let [secret, _, connections] = sealed_columns(self.secrets, c)?;
        self.conn
            .prepare_cached(
                "INSERT INTO customers (id, name, webhook_uri, webhook_method, webhook_secret, \
                 webhook_events, tm_create, tm_update, connections) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )?
            .execute(params![
                c.id.to_string(),
                c.name,
                c.webhook_uri,
                c.webhook_method.as_str(),
                secret,
                serde_json::to_string(&c.webhook_events).unwrap_or_else(|_| "[]".into()),
                c.tm_create.micros(),
                c.tm_update.micros(),
                connections,
            ])?;
        self.conn
            .prepare_cached(
                "INSERT INTO api_keys (key_hash, customer_id, tm_create) VALUES (?, ?, ?)",
            )?
            .execute(params![
                &key_hash[..],
                c.id.to_string(),
                c.tm_create.micros()
            ])?;
        Ok(())
    }

    /// Writes every mutable column of a customer.
    fn update_customer(&self, c: &Customer) -> Result<(), StoreError> {
        let until = c.previous_secret.as_ref().map(|(_, t)| t.micros());
        let [secret, previous, connections] = sealed_columns(self.secrets, c)?;
        self.conn
            .prepare_cached(
                "UPDATE customers SET name = ?, webhook_uri = ?, webhook_method = ?, \
                 webhook_secret = ?, webhook_events = ?, webhook_secret_previous = ?, \
                 webhook_secret_previous_until = ?, tm_update = ?, connections = ? WHERE id = ?",
            )?
            .execute(params![
                c.name,
                c.webhook_uri,
                c.webhook_method.as_str(),
                secret,
                serde_json::to_string(&c.webhook_events).unwrap_or_else(|_| "[]".into()),
                previous,
                until,
                c.tm_update.micros(),
                connections,
                c.id.to_string(),
            ])?;
        Ok(())
    }

    fn customer_id_by_key(&self, key_hash: &[u8; 32]) -> Result<Option<CustomerId>, StoreError> {
        let id: Option<String> = self
            .conn
            .prepare_cached("SELECT customer_id FROM api_keys WHERE key_hash = ?")?
            .query_row([&key_hash[..]], |r| r.get(0))
            .optional()?;
        id.map(|s| {
            Uuid::parse_str(&s)
                .map(CustomerId)
                .map_err(|_| corrupt("uuid", &s))
        })
        .transpose()
    }
}

impl CustomerReads for SqliteTx<'_> {
    fn customer(&self, id: CustomerId) -> Result<Option<Customer>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {CUSTOMER_COLUMNS} FROM customers WHERE id = ?"
        ))?;
        let mut rows = stmt.query([id.to_string()])?;
        match rows.next()? {
            Some(row) => Ok(Some(customer_from_row(row, self.secrets)?)),
            None => Ok(None),
        }
    }

    /// The secrets a notification must be signed with now: the current one, and the previous
    /// one while its rotation grace period lasts.
    fn signing_secrets(
        &self,
        customer: CustomerId,
        now: Timestamp,
    ) -> Result<Vec<String>, StoreError> {
        Ok(self
            .customer(customer)?
            .map(|c| c.signing_secrets(now))
            .unwrap_or_default())
    }
}
