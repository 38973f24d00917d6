//! Which protocol a call arrived by (`Dialect`, stored with the call) and the document of a customer's platform connections.
//!
//! What each platform's connection holds and how it is checked belongs to that platform
//! (`dialects::*`); the domain only keeps the document, one entry per platform.

use super::names::names;
use serde_json::{Map, Value};

/// The protocol a call arrived by; its kicks and recordings go back the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dialect {
    /// `/v1.0/platform/events` and `{platform-url}/commands` (§5, §7.1).
    #[default]
    Native,
    /// TwiML webhooks and Twilio's REST API (also SignalWire and other compatible platforms).
    Twilio,
    /// jambonz webhooks (JSON verbs) and its live call control API.
    Jambonz,
}

names!(Dialect {
    Native = "native",
    Twilio = "twilio",
    Jambonz = "jambonz",
});

/// The platform connections of one customer, stored as one JSON document: each platform's
/// settings under its name, as that platform wrote them. Kept as JSON here because only the
/// platform knows its settings' shape; it reads its own entry when it needs it.
#[derive(Clone, PartialEq, Default)]
pub struct Connections(Map<String, Value>);

impl Connections {
    /// Reads the stored document; an empty column means no connections.
    pub fn from_stored(text: &str) -> Result<Connections, serde_json::Error> {
        if text.trim().is_empty() {
            return Ok(Connections::default());
        }
        serde_json::from_str(text).map(Connections)
    }

    pub fn to_stored(&self) -> String {
        serde_json::to_string(&self.0).unwrap_or_else(|_| "{}".into())
    }

    /// One platform's settings, if the customer has connected it.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    /// Sets (`Some`) or removes (`None`) one platform's settings.
    pub fn set(&mut self, name: &str, settings: Option<Value>) {
        match settings {
            Some(v) => {
                self.0.insert(name.to_string(), v);
            }
            None => {
                self.0.shift_remove(name);
            }
        }
    }
}

// The settings hold secrets: `Debug` (and so every log line) shows only which platforms are
// connected.
impl std::fmt::Debug for Connections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_document_round_trips_and_debug_shows_no_settings() {
        let mut c = Connections::default();
        c.set("one", Some(json!({"secret": "s3cr3t-value"})));
        c.set("two", Some(json!({"k": 1})));
        let back = Connections::from_stored(&c.to_stored()).unwrap();
        assert_eq!(back, c);
        assert_eq!(back.get("one"), Some(&json!({"secret": "s3cr3t-value"})));
        assert!(!format!("{c:?}").contains("s3cr3t"), "{c:?}");
        c.set("one", None);
        assert!(c.get("one").is_none());
        assert_eq!(
            Connections::from_stored("").unwrap(),
            Connections::default()
        );
        assert!(Connections::from_stored("[1]").is_err());
    }
}
