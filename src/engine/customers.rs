//! Customers as the engine serves them: creation, API keys, a customer's own settings (its
//! webhook, its platform connections) and its webhook secret's rotation.

use super::conferences::check_text;
use super::customer_cache::CACHE_LIMIT;
use super::{invalid, Engine, EngineError, Refusal};
use crate::dialects::settings::{self, SettingError};
use crate::domain::conference::MAX_NAME_CHARS;
use crate::domain::customer::{self, Customer, ROTATION_GRACE_SECONDS};
use crate::domain::notification::{NotificationType, WebhookMethod};
use crate::domain::CustomerId;
use std::sync::Arc;
use uuid::Uuid;

/// Changes a customer makes to itself; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct CustomerPatch {
    pub name: Option<String>,
    pub webhook_uri: Option<String>,
    pub webhook_method: Option<String>,
    pub webhook_events: Option<Vec<String>>,
    /// Platform connections by name: `None` removes one, `Some(fields)` sets or changes it;
    /// connections not named are left as they are.
    pub connections: settings::Changes,
}

/// A `webhook_events` filter as the customer sent it, by name; the first unknown name is
/// refused with the list of known ones.
fn notification_types(names: &[String]) -> Result<Vec<NotificationType>, EngineError> {
    names
        .iter()
        .map(|name| {
            NotificationType::parse(name).ok_or_else(|| {
                let known: Vec<_> = NotificationType::ALL.iter().map(|t| t.as_str()).collect();
                invalid(
                    "webhook_events",
                    format!("unknown event type {name:?}; known: {}", known.join(", ")),
                )
            })
        })
        .collect()
}

fn check_webhook_uri(uri: &str) -> Result<(), EngineError> {
    if uri.is_empty() {
        return Ok(());
    }
    match reqwest::Url::parse(uri) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => Ok(()),
        _ => Err(invalid("webhook_uri", "must be an http(s) URL or empty")),
    }
}

impl Engine {
    /// Creates a customer and its first API key; the key is returned once and stored hashed.
    pub async fn create_customer(
        &self,
        name: &str,
        webhook_uri: &str,
    ) -> Result<(Customer, String), EngineError> {
        // Limits apply to the name as sent; it is stored trimmed.
        check_text("name", name, MAX_NAME_CHARS)?;
        let name = name.trim().to_string();
        if name.is_empty() {
            return Err(invalid("name", "must not be empty or blank"));
        }
        check_webhook_uri(webhook_uri)?;
        let webhook_uri = webhook_uri.to_string();
        let key = customer::new_api_key();
        let hash = customer::hash_api_key(&key);
        let c = self
            .transact(move |rules| {
                let now = rules.now();
                let c = Customer {
                    id: CustomerId(Uuid::new_v4()),
                    name: name.clone(),
                    webhook_uri: webhook_uri.clone(),
                    webhook_method: WebhookMethod::Post,
                    webhook_secret: customer::new_webhook_secret(),
                    webhook_events: Vec::new(),
                    previous_secret: None,
                    connections: Default::default(),
                    tm_create: now,
                    tm_update: now,
                };
                rules.db().insert_customer(&c, &hash)?;
                Ok(c)
            })
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
            if keys.len() >= CACHE_LIMIT {
                keys.clear();
            }
            keys.insert(hash, id);
        }
        Ok(found)
    }

    pub async fn customer(&self, id: CustomerId) -> Result<Option<Customer>, EngineError> {
        Ok(self.store.read(move |db| db.customer(id)).await?)
    }

    /// A customer for a platform's webhook: from the customer cache while its read is fresh
    /// (a second), so its secrets are not decrypted again for every event.
    pub async fn customer_for_event(
        &self,
        id: CustomerId,
    ) -> Result<Option<Arc<Customer>>, EngineError> {
        let cache = &self.shared.customers;
        if let Some(c) = cache.fresh(id) {
            return Ok(Some(c));
        }
        let before = cache.evictions();
        let found = self.store.read(move |db| db.customer(id)).await?;
        Ok(found.map(|c| {
            let c = Arc::new(c);
            cache.offer(id, c.clone(), before);
            c
        }))
    }

    pub async fn update_customer(
        &self,
        id: CustomerId,
        patch: CustomerPatch,
    ) -> Result<Customer, EngineError> {
        if let Some(n) = &patch.name {
            if n.trim().is_empty() {
                return Err(invalid("name", "must not be empty"));
            }
            check_text("name", n, MAX_NAME_CHARS)?;
        }
        if let Some(u) = &patch.webhook_uri {
            check_webhook_uri(u)?;
        }
        let method = match &patch.webhook_method {
            Some(m) => Some(
                WebhookMethod::parse(m)
                    .ok_or_else(|| invalid("webhook_method", "must be POST or PUT"))?,
            ),
            None => None,
        };
        let events = match &patch.webhook_events {
            Some(names) => Some(notification_types(names)?),
            None => None,
        };
        let allow_private = self.settings().allow_private_targets;
        self.transact(move |rules| {
            let db = rules.db();
            let mut c = db
                .customer(id)?
                .ok_or(Refusal::StateInvalid("customer not found".into()))?;
            let before = (c.webhook_uri.clone(), c.webhook_method);
            if let Some(n) = &patch.name {
                c.name = n.trim().to_string();
            }
            if let Some(u) = &patch.webhook_uri {
                c.webhook_uri = u.clone();
            }
            if let Some(m) = method {
                c.webhook_method = m;
            }
            if let Some(e) = &events {
                c.webhook_events = e.clone();
            }
            // Credentials travel to a connection's api_url: in the clear only where private
            // targets are allowed (a test or a lab), never to a public address.
            settings::apply(&mut c.connections, &patch.connections, allow_private)
                .map_err(|e: SettingError| invalid(&e.field, e.message))?;
            c.tm_update = rules.now();
            db.update_customer(&c)?;
            if (&c.webhook_uri, c.webhook_method) != (&before.0, before.1) {
                // Notifications still to send (or to send again) go where the customer says
                // now: one fixing a broken URL should not wait out the retry schedule.
                let target = (!c.webhook_uri.is_empty())
                    .then(|| (c.webhook_uri.as_str(), c.webhook_method.as_str()));
                db.retarget_notifications(c.id, target, c.tm_update.micros())?;
            }
            rules.forget_customer(c.id);
            Ok(c)
        })
        .await
    }

    /// Replaces the webhook secret; the old one keeps signing beside it for 24 h.
    pub async fn rotate_webhook_secret(&self, id: CustomerId) -> Result<Customer, EngineError> {
        self.transact(move |rules| {
            let db = rules.db();
            let mut c = db
                .customer(id)?
                .ok_or(Refusal::StateInvalid("customer not found".into()))?;
            let old = std::mem::replace(&mut c.webhook_secret, customer::new_webhook_secret());
            let now = rules.now();
            c.previous_secret = Some((old, now.plus_seconds(ROTATION_GRACE_SECONDS)));
            c.tm_update = now;
            db.update_customer(&c)?;
            rules.forget_customer(c.id);
            Ok(c)
        })
        .await
    }
}
