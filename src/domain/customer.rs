//! Customers (tenants), their API keys and webhook settings.

use super::dialect::Connections;
use super::ids::CustomerId;
use super::notification::{NotificationType, WebhookMethod};
use crate::domain::timestamp::{ApiTime, Timestamp};
use base64::Engine as _;
use rand::RngCore;
use serde::ser::SerializeMap;
use serde::Serialize;
use sha2::{Digest, Sha256};

#[derive(Clone, PartialEq)]
pub struct Customer {
    pub id: CustomerId,
    pub name: String,
    pub webhook_uri: String,
    pub webhook_method: WebhookMethod,
    pub webhook_secret: String,
    pub webhook_events: Vec<NotificationType>,
    /// The secret replaced by the last rotation and until when it still signs.
    pub previous_secret: Option<(String, Timestamp)>,
    /// Its accounts on the platforms of the dialects (§11).
    pub connections: Connections,
    pub tm_create: Timestamp,
    pub tm_update: Timestamp,
}

// The webhook secrets never reach a log through `Debug` (the connections' own `Debug` shows
// only which platforms are connected).
impl std::fmt::Debug for Customer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Customer")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("webhook_uri", &self.webhook_uri)
            .field("webhook_method", &self.webhook_method)
            .field("webhook_secret", &"(redacted)")
            .field("webhook_events", &self.webhook_events)
            .field(
                "previous_secret_until",
                &self.previous_secret.as_ref().map(|(_, until)| until),
            )
            .field("connections", &self.connections)
            .field("tm_create", &self.tm_create)
            .field("tm_update", &self.tm_update)
            .finish()
    }
}

/// A customer's connections as the API shows them: by name, in the platforms' order, each
/// masked by its platform (`null` when none). Written as fields of the customer.
pub struct ConnectionsView(pub Vec<(&'static str, serde_json::Value)>);

impl Serialize for ConnectionsView {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (name, shown) in &self.0 {
            map.serialize_entry(name, shown)?;
        }
        map.end()
    }
}

/// How long a replaced webhook secret keeps signing beside the new one.
pub const ROTATION_GRACE_SECONDS: i64 = 24 * 3600;

/// The customer as its own API and the admin API show it.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Customer)]
pub struct CustomerJson<'a> {
    id: CustomerId,
    name: &'a str,
    /// The API key: only in the answer that created the customer, never again.
    #[serde(skip_serializing_if = "Option::is_none")]
    api_key: Option<&'a str>,
    /// Where notifications go; `""` = none.
    webhook_uri: &'a str,
    webhook_method: WebhookMethod,
    /// `whsec_` + base64: the Standard Webhooks signing secret.
    #[schema(pattern = "^whsec_")]
    webhook_secret: &'a str,
    /// The notification types wanted; empty = all.
    #[schema(value_type = Vec<NotificationType>)]
    webhook_events: &'a [NotificationType],
    /// Each platform's connection by its name, secrets masked; `null` when none. Documented
    /// by the platforms (`crate::dialects`), which also mask them.
    #[serde(flatten)]
    #[schema(ignore)]
    connections: ConnectionsView,
    #[schema(value_type = ApiTime)]
    tm_create: String,
    #[schema(value_type = ApiTime)]
    tm_update: String,
}

impl Customer {
    /// Secrets to sign with at `now`: the current one, and the previous one during the 24 h
    /// after a rotation, so receivers can switch secrets without missing a message.
    pub fn signing_secrets(&self, now: Timestamp) -> Vec<String> {
        let mut out = vec![self.webhook_secret.clone()];
        if let Some((previous, until)) = &self.previous_secret {
            if now < *until && !previous.is_empty() {
                out.push(previous.clone());
            }
        }
        out
    }

    /// Whether this customer wants notifications of type `t` at all.
    pub fn wants(&self, t: NotificationType) -> bool {
        !self.webhook_uri.is_empty()
            && (self.webhook_events.is_empty() || self.webhook_events.contains(&t))
    }

    /// The JSON shape; `api_key` is present only in the answer that created the key, and the
    /// connections as their platforms show them.
    pub fn json<'a>(
        &'a self,
        api_key: Option<&'a str>,
        connections: ConnectionsView,
    ) -> CustomerJson<'a> {
        CustomerJson {
            id: self.id,
            name: &self.name,
            api_key,
            webhook_uri: &self.webhook_uri,
            webhook_method: self.webhook_method,
            webhook_secret: &self.webhook_secret,
            webhook_events: &self.webhook_events,
            connections,
            tm_create: self.tm_create.to_api(),
            tm_update: self.tm_update.to_api(),
        }
    }
}

/// A new API key: `cfk_` and 32 random bytes, URL-safe base64. Shown once, stored hashed.
pub fn new_api_key() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!(
        "cfk_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// The stored form of an API key. Keys carry 256 random bits, so a plain SHA-256 is enough:
/// there is nothing to brute-force that a slow hash would protect.
pub fn hash_api_key(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// A new webhook signing secret: `whsec_` and base64 of 24 random bytes (§2).
pub fn new_webhook_secret() -> String {
    let mut bytes = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_secrets_have_their_documented_shape() {
        let k = new_api_key();
        assert!(k.starts_with("cfk_") && k.len() == 4 + 43);
        assert_ne!(k, new_api_key());
        let s = new_webhook_secret();
        let raw = base64::engine::general_purpose::STANDARD
            .decode(s.trim_start_matches("whsec_"))
            .unwrap();
        assert_eq!(raw.len(), 24);
        assert_eq!(hash_api_key("a"), hash_api_key("a"));
    }

    #[test]
    fn debug_shows_no_secret() {
        let mut connections = Connections::default();
        connections.set(
            "twilio",
            Some(serde_json::json!({"auth_token": "tok-s3cr3t"})),
        );
        let c = Customer {
            id: CustomerId(uuid::Uuid::nil()),
            name: "acme".into(),
            webhook_uri: String::new(),
            webhook_method: WebhookMethod::Post,
            webhook_secret: "whsec_current-s3cr3t".into(),
            webhook_events: Vec::new(),
            previous_secret: Some(("whsec_old-s3cr3t".into(), Timestamp(5))),
            connections,
            tm_create: Timestamp(1),
            tm_update: Timestamp(2),
        };
        let shown = format!("{c:?}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(
            shown.contains("acme") && shown.contains("twilio"),
            "{shown}"
        );
    }
}
