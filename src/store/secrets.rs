//! Secrets at the store boundary: the secret columns, sealed on write and opened on read.
//!
//! Also the start-up census (every value's key is held) and the rotation (`Store::rotate_secrets`).
//!
//! Three columns of `customers` hold secrets: `webhook_secret`, `webhook_secret_previous`
//! and `connections`. The connections document is sealed whole: only each platform knows
//! which of its settings are secret, and the store keeps the document as the platforms wrote
//! it. Each value is bound to its customer id and column (`Binding`), so a value copied to
//! another customer or column does not open.

use super::{Store, StoreError, Tx};
use crate::domain::customer::Customer;
use crate::secrets::{Binding, SecretError, Secrets};
use std::collections::BTreeMap;
use std::time::Duration;

/// A column of `customers` that holds a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretField {
    WebhookSecret,
    WebhookSecretPrevious,
    Connections,
}

impl SecretField {
    /// In the order `StoredSecrets::values` holds them.
    pub const ALL: [SecretField; 3] = [
        SecretField::WebhookSecret,
        SecretField::WebhookSecretPrevious,
        SecretField::Connections,
    ];

    /// The column's name (also the associated data's field).
    pub fn column(self) -> &'static str {
        match self {
            SecretField::WebhookSecret => "webhook_secret",
            SecretField::WebhookSecretPrevious => "webhook_secret_previous",
            SecretField::Connections => "connections",
        }
    }
}

impl std::fmt::Display for SecretField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.column())
    }
}

/// One customer's secret columns as stored (sealed or in clear), in `SecretField::ALL` order.
pub struct StoredSecrets {
    pub customer: String,
    pub values: [String; 3],
}

fn binding(customer: &str, field: SecretField) -> Binding<'_> {
    Binding {
        table: "customers",
        row: customer,
        field: field.column(),
    }
}

fn fault(customer: &str, field: SecretField, error: SecretError) -> StoreError {
    StoreError::Secret {
        customer: customer.to_string(),
        field: field.column(),
        error,
    }
}

/// A stored secret opened for its customer and column.
pub(super) fn open(
    secrets: &Secrets,
    customer: &str,
    field: SecretField,
    stored: &str,
) -> Result<String, StoreError> {
    secrets
        .open(stored, binding(customer, field))
        .map_err(|e| fault(customer, field, e))
}

/// A customer's secret columns as they are to be stored, in `SecretField::ALL` order.
pub(super) fn sealed_columns(secrets: &Secrets, c: &Customer) -> Result<[String; 3], StoreError> {
    let id = c.id.to_string();
    let previous = c
        .previous_secret
        .as_ref()
        .map(|(s, _)| s.as_str())
        .unwrap_or("");
    let plain = [
        c.webhook_secret.as_str(),
        previous,
        &c.connections.to_stored(),
    ]
    .map(str::to_string);
    let mut out: [String; 3] = Default::default();
    for (i, field) in SecretField::ALL.into_iter().enumerate() {
        out[i] = secrets
            .seal(&plain[i], binding(&id, field))
            .map_err(|e| fault(&id, field, e))?;
    }
    Ok(out)
}

/// How many stored secrets each key protects, how many are in clear, and which cannot be
/// opened: what start-up checks and what `confab secrets rotate` reports.
#[derive(Debug, Default, Clone)]
pub struct Census {
    /// Values sealed under each key the key file holds (opened to check them).
    pub by_key: BTreeMap<String, u64>,
    /// Values sealed under keys the key file does not hold.
    pub missing: BTreeMap<String, u64>,
    /// Values stored in clear.
    pub clear: u64,
    /// Values that do not open with their key: altered, or copied from another customer or
    /// column. (customer id, column, why)
    pub unreadable: Vec<(String, SecretField, SecretError)>,
    /// How many of `unreadable` each key id names: a key that opens none of its values is
    /// not the key they were sealed with.
    pub failed_by_key: BTreeMap<String, u64>,
}

/// Rows a census or a rotation reads per transaction.
const BATCH: usize = 500;

impl Census {
    fn count(&mut self, secrets: &Secrets, customer: &str, field: SecretField, stored: &str) {
        if stored.is_empty() {
            return;
        }
        let Some(id) = crate::secrets::key_id_of(stored) else {
            self.clear += 1;
            return;
        };
        match secrets.open(stored, binding(customer, field)) {
            Ok(_) => {
                let id = id.unwrap_or("?").to_string();
                *self.by_key.entry(id).or_default() += 1;
            }
            Err(SecretError::MissingKey { key_id } | SecretError::NoKeyFile { key_id }) => {
                *self.missing.entry(key_id).or_default() += 1;
            }
            Err(e) => {
                if let Ok(id) = id {
                    *self.failed_by_key.entry(id.to_string()).or_default() += 1;
                }
                self.unreadable.push((customer.to_string(), field, e));
            }
        }
    }

    /// Counts every stored secret, reading `BATCH` customers at a time in `tx`.
    pub(super) fn take(tx: &dyn Tx, secrets: &Secrets) -> Result<Census, StoreError> {
        let mut census = Census::default();
        let mut after = String::new();
        loop {
            let rows = tx.stored_secrets(&after, BATCH)?;
            for row in &rows {
                for (field, stored) in SecretField::ALL.into_iter().zip(&row.values) {
                    census.count(secrets, &row.customer, field, stored);
                }
            }
            match rows.last() {
                Some(last) if rows.len() == BATCH => after = last.customer.clone(),
                _ => return Ok(census),
            }
        }
    }

    /// Checks what start-up needs: every sealed value's key is held. Logs (without values)
    /// what it found otherwise: values in clear, values that do not open.
    pub(super) fn check_at_start(&self, secrets: &Secrets) -> Result<(), StoreError> {
        if !self.missing.is_empty() {
            // Every missing key at once, so one restart with the lines put back suffices.
            let keys: Vec<String> = self
                .missing
                .iter()
                .map(|(key_id, count)| format!("{count} under key {key_id:?}"))
                .collect();
            let how = if secrets.is_enabled() {
                "which the secrets key file does not hold; put those keys' lines back in the key file"
            } else {
                "but no --secrets-key-file is set; start with the key file that holds them"
            };
            return Err(StoreError::SecretKeys(format!(
                "stored secrets are sealed ({}), {how} (see docs/operations.md, 'Secrets at rest')",
                keys.join(", ")
            )));
        }
        // One value that does not open was altered or moved; a key that opens none of its
        // values is the wrong key (a key file whose line was regenerated, say): confab would
        // fail every customer's requests, so it does not start.
        for (key_id, failed) in &self.failed_by_key {
            if self.by_key.get(key_id).copied().unwrap_or(0) == 0 {
                return Err(StoreError::SecretKeys(format!(
                    "none of the {failed} stored secret(s) sealed under key {key_id:?} decrypt \
                     with the key file's {key_id:?}: it is not the key they were sealed with; \
                     start with the key file that holds it (see docs/operations.md, 'Secrets at rest')"
                )));
            }
        }
        for (customer, field, error) in &self.unreadable {
            tracing::error!(%customer, %field, %error, "secrets: a stored secret cannot be used; requests that need it fail until the customer sets it again");
        }
        if !secrets.is_enabled() {
            tracing::warn!(
                in_clear = self.clear,
                "no --secrets-key-file: customers' secrets (webhook secrets, platform credentials) are stored unencrypted"
            );
        } else if self.clear > 0 {
            tracing::warn!(
                in_clear = self.clear,
                "secrets: some stored secrets are still in clear (written before the key file was set); run `confab secrets rotate` to seal them"
            );
        }
        Ok(())
    }
}

/// What one rotation did, and the census after it.
#[derive(Debug, Default, Clone)]
pub struct Rotation {
    /// Values sealed again under the newest key (from clear or an older key).
    pub resealed: u64,
    /// Values changed by a concurrent write between read and reseal: left to that write,
    /// which sealed them itself, and looked at again by the next pass.
    pub changed_meanwhile: u64,
    pub census: Census,
}

/// Passes over all customers a rotation makes at most while concurrent writes keep changing
/// the values it would reseal.
const MAX_PASSES: usize = 5;

/// Reseals one batch of customers after `after`: (rows read, last id, resealed, changed).
fn reseal_batch(
    tx: &dyn Tx,
    secrets: &Secrets,
    after: &str,
    limit: usize,
) -> Result<(usize, Option<String>, u64, u64), StoreError> {
    let rows = tx.stored_secrets(after, limit)?;
    let (mut resealed, mut changed) = (0, 0);
    for row in &rows {
        for (field, stored) in SecretField::ALL.into_iter().zip(&row.values) {
            if !secrets.needs_resealing(stored) {
                continue;
            }
            // A value that does not open is left as it is: the census reports it.
            let Ok(plain) = secrets.open(stored, binding(&row.customer, field)) else {
                continue;
            };
            let new = secrets
                .seal(&plain, binding(&row.customer, field))
                .map_err(|e| fault(&row.customer, field, e))?;
            // Only if it still holds what was read: a concurrent write wins, never the
            // rotation (it sealed its own value under the newest key it knows).
            if tx.replace_stored_secret(&row.customer, field, stored, &new)? {
                resealed += 1;
            } else {
                changed += 1;
            }
        }
    }
    let last = rows.last().map(|r| r.customer.clone());
    Ok((rows.len(), last, resealed, changed))
}

/// How long a rotation's batch keeps being retried while the database is busy (SQLite: the
/// service's writer holding the write lock batch after batch) before the rotation gives up.
const BUSY_PATIENCE: Duration = Duration::from_secs(120);

impl Store {
    /// One batch (`reseal_batch`) in a write of its own. A database that cannot
    /// take the write now (SQLite's lock is not fair: a busy service can keep it for longer
    /// than the busy timeout) is retried with a growing pause: the batch reads again from
    /// `after`, so a retry repeats nothing.
    async fn reseal_with_retries(
        &self,
        after: &str,
        limit: usize,
    ) -> Result<(usize, Option<String>, u64, u64), StoreError> {
        let started = std::time::Instant::now();
        let mut pause = Duration::from_millis(50);
        loop {
            let secrets = self.secrets.clone();
            let from = after.to_string();
            match self
                .write(move |tx| reseal_batch(tx, &secrets, &from, limit))
                .await
            {
                Err(StoreError::Unavailable(reason)) if started.elapsed() < BUSY_PATIENCE => {
                    tracing::info!(%reason, "secrets rotate: the database cannot take this batch now; retrying it");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(1));
                }
                other => return other,
            }
        }
    }

    /// The census of stored secrets under this store's keys.
    pub async fn secrets_census(&self) -> Result<Census, StoreError> {
        let secrets = self.secrets.clone();
        self.read(move |tx| Census::take(tx, &secrets)).await
    }

    /// Seals every stored secret that is in clear or under an older key again under the
    /// newest key, `batch` customers per committed transaction, while the service runs.
    /// Interrupted, it is simply run again: what was committed stays resealed. `progress` is
    /// told the running count of values resealed after each batch.
    pub async fn rotate_secrets(
        &self,
        batch: usize,
        progress: impl Fn(u64),
    ) -> Result<Rotation, StoreError> {
        if !self.secrets.is_enabled() {
            return Err(StoreError::Unsupported(
                "secrets rotate needs --secrets-key-file".into(),
            ));
        }
        let mut rotation = Rotation::default();
        for _ in 0..MAX_PASSES {
            let mut after = String::new();
            let mut changed = 0;
            loop {
                let limit = batch.max(1);
                let (rows, last, resealed, moved) = self.reseal_with_retries(&after, limit).await?;
                rotation.resealed += resealed;
                changed += moved;
                progress(rotation.resealed);
                match last {
                    Some(last) if rows == limit => after = last,
                    _ => break,
                }
            }
            rotation.changed_meanwhile += changed;
            if changed == 0 {
                break;
            }
        }
        rotation.census = self.secrets_census().await?;
        Ok(rotation)
    }
}

/// The start-up check (the server's store, `StoreOptions::check_secrets`): every stored
/// secret's key is held, else the store does not open.
pub(super) fn check_at_open(tx: &dyn Tx, secrets: &Secrets) -> Result<(), StoreError> {
    Census::take(tx, secrets)?.check_at_start(secrets)
}
