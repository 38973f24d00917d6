//! Customers: the tenants, their API keys (hashed) and webhook settings, in PostgreSQL.

use super::rows::*;
use super::PgTx;
use crate::store::secrets::sealed_columns;
use crate::store::tx::{CustomerReads, CustomerStore};

impl CustomerStore for PgTx<'_> {
    fn insert_customer(&self, c: &Customer, key_hash: &[u8; 32]) -> Result<(), StoreError> {
        let [secret, _, connections] = sealed_columns(self.secrets, c)?;
        let events = serde_json::to_string(&c.webhook_events).unwrap_or_else(|_| "[]".into());
        self.execute(
            "INSERT INTO customers (id, name, webhook_uri, webhook_method, webhook_secret, \
             webhook_events, tm_create, tm_update, connections) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                &c.id.to_string(),
                &c.name,
                &c.webhook_uri,
                &c.webhook_method.as_str(),
                &secret,
                &events,
                &c.tm_create.micros(),
                &c.tm_update.micros(),
                &connections,
            ],
        )?;
        self.execute(
            "INSERT INTO api_keys (key_hash, customer_id, tm_create) VALUES ($1, $2, $3)",
            &[&&key_hash[..], &c.id.to_string(), &c.tm_create.micros()],
        )?;
        Ok(())
    }

    /// Writes every mutable column of a customer.
    fn update_customer(&self, c: &Customer) -> Result<(), StoreError> {
        let until = c.previous_secret.as_ref().map(|(_, t)| t.micros());
        let [secret, previous, connections] = sealed_columns(self.secrets, c)?;
        let events = serde_json::to_string(&c.webhook_events).unwrap_or_else(|_| "[]".into());
        self.execute(
            "UPDATE customers SET name = $1, webhook_uri = $2, webhook_method = $3, \
             webhook_secret = $4, webhook_events = $5, webhook_secret_previous = $6, \
             webhook_secret_previous_until = $7, tm_update = $8, connections = $9 \
             WHERE id = $10",
            &[
                &c.name,
                &c.webhook_uri,
                &c.webhook_method.as_str(),
                &secret,
                &events,
                &previous,
                &until,
                &c.tm_update.micros(),
                &connections,
                &c.id.to_string(),
            ],
        )?;
        Ok(())
    }

    fn customer_id_by_key(&self, key_hash: &[u8; 32]) -> Result<Option<CustomerId>, StoreError> {
        self.optional_row(
            "SELECT customer_id FROM api_keys WHERE key_hash = $1",
            &[&&key_hash[..]],
            |row| uuid_col(row, 0),
        )
    }
}

impl CustomerReads for PgTx<'_> {
    fn customer(&self, id: CustomerId) -> Result<Option<Customer>, StoreError> {
        self.query_opt(
            &format!("SELECT {CUSTOMER_COLUMNS} FROM customers WHERE id = $1"),
            &[&id.to_string()],
        )?
        .map(|row| customer_from_row(&row, self.secrets))
        .transpose()
    }

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
