//! Customers as the engine serves them: creation, API keys, and the short-lived cache the
//! rules read customers through.

use super::{check_text, invalid, notifications, Engine, EngineError, MAX_NAME_CHARS};
use super::{CUSTOMER_CACHE_TTL, KEY_CACHE_LIMIT};
use crate::domain::customer::{self, Customer};
use crate::domain::CustomerId;
use std::sync::Arc;
use uuid::Uuid;

impl Engine {
    /// Creates a customer and its first API key; the key is returned once and stored hashed.
    pub async fn create_customer(
        &self,
        name: &str,
        webhook_uri: &str,
    ) -> Result<(Customer, String), EngineError> {
        // Limits apply to the name as sent; it is stored trimmed.
        check_text("name", name, MAX_NAME_CHARS)?;
        let name = name.trim();
        if name.is_empty() {
            return Err(invalid("name", "must not be empty or blank"));
        }
        notifications::check_webhook_uri(webhook_uri)?;
        let now = self.clock.now();
        let c = Customer {
            id: CustomerId(Uuid::new_v4()),
            name: name.to_string(),
            webhook_uri: webhook_uri.to_string(),
            webhook_method: crate::domain::notification::WebhookMethod::Post,
            webhook_secret: customer::new_webhook_secret(),
            webhook_events: Vec::new(),
            previous_secret: None,
            connections: Default::default(),
            tm_create: now,
            tm_update: now,
        };
        let key = customer::new_api_key();
        let hash = customer::hash_api_key(&key);
        let stored = c.clone();
        self.store
            .write(move |db| db.insert_customer(&stored, &hash))
            .await?;
        Ok((c, key))
    }

    /// The customer of an API key already seen, from memory only (no store lookup).
    pub fn authenticate_known(&self, api_key: &str) -> Option<CustomerId> {
        let hash = customer::hash_api_key(api_key);
        self.keys.read().ok()?.get(&hash).copied()
    }

    /// The customer an API key belongs to, if any.
    pub async fn authenticate(&self, api_key: &str) -> Result<Option<CustomerId>, EngineError> {
        let hash = customer::hash_api_key(api_key);
        if let Ok(keys) = self.keys.read() {
            if let Some(id) = keys.get(&hash) {
                return Ok(Some(*id));
            }
        }
        let found = self
            .store
            .read(move |db| db.customer_id_by_key(&hash))
            .await?;
        if let (Some(id), Ok(mut keys)) = (found, self.keys.write()) {
            if keys.len() >= KEY_CACHE_LIMIT {
                keys.clear();
            }
            keys.insert(hash, id);
        }
        Ok(found)
    }

    pub async fn customer(&self, id: CustomerId) -> Result<Option<Customer>, EngineError> {
        Ok(self.store.read(move |db| db.customer(id)).await?)
    }

    /// A customer read through the writer's cache; call only inside a write.
    pub(crate) fn cached_customer(
        &self,
        db: &dyn crate::store::Tx,
        id: CustomerId,
    ) -> Result<Option<Arc<Customer>>, EngineError> {
        if let Ok(cache) = self.customers.read() {
            // A change made through another node (or the CLI) is seen once the entry is a
            // second old: settings reach every node within a second.
            if let Some((read_at, c)) = cache.get(&id) {
                if read_at.elapsed() < CUSTOMER_CACHE_TTL {
                    return Ok(Some(c.clone()));
                }
            }
        }
        let Some(c) = db.customer(id)? else {
            return Ok(None);
        };
        let c = Arc::new(c);
        if let Ok(mut cache) = self.customers.write() {
            if cache.len() >= KEY_CACHE_LIMIT {
                cache.clear();
            }
            cache.insert(id, (std::time::Instant::now(), c.clone()));
        }
        Ok(Some(c))
    }

    /// Forgets a cached customer after a change to it.
    pub(crate) fn evict_customer(&self, id: CustomerId) {
        if let Ok(mut cache) = self.customers.write() {
            cache.remove(&id);
        }
    }
}
