//! Platform dialects: which protocol drives a call (confab's own, TwiML or jambonz), and the
//! connections a customer stores so confab can check those platforms' signatures and call
//! their REST APIs.

use super::names::names;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

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

/// Twilio's REST base; SignalWire and others are set per customer.
pub const TWILIO_API_URL: &str = "https://api.twilio.com";
/// The header Twilio signs its webhooks in; SignalWire uses `X-SignalWire-Signature`.
pub const TWILIO_SIGNATURE_HEADER: &str = "X-Twilio-Signature";

/// A customer's Twilio (or compatible) account.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct TwilioConnection {
    pub account_sid: String,
    /// Authenticates REST calls (Basic, with the account sid).
    pub auth_token: String,
    pub api_url: String,
    pub signature_header: String,
    /// Signs webhooks when it is not the auth token (SignalWire's signing key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_key: Option<String>,
}

impl TwilioConnection {
    /// The key webhooks are signed with.
    pub fn webhook_key(&self) -> &str {
        self.signing_key.as_deref().unwrap_or(&self.auth_token)
    }
}

/// A customer's jambonz account.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct JambonzConnection {
    pub account_sid: String,
    pub api_key: String,
    pub webhook_secret: String,
    pub api_url: String,
    /// The speech vendor `say` names. `default` (the application's own) takes no voice, since
    /// voice names are the vendor's; `aws` takes the Polly voice of the gender and language.
    #[serde(default = "default_vendor")]
    pub tts_vendor: String,
}

fn default_vendor() -> String {
    "default".into()
}

// Secrets never reach a log through `Debug`.
impl std::fmt::Debug for TwilioConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwilioConnection")
            .field("account_sid", &self.account_sid)
            .field("api_url", &self.api_url)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for JambonzConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JambonzConnection")
            .field("account_sid", &self.account_sid)
            .field("api_url", &self.api_url)
            .finish_non_exhaustive()
    }
}

/// The platform connections of one customer, stored as one JSON document.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Connections {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub twilio: Option<TwilioConnection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jambonz: Option<JambonzConnection>,
}

/// Sets or changes a Twilio (or SignalWire, Telnyx TeXML) connection; absent fields keep
/// their stored value. `auth_token` is required again when `api_url` or `account_sid` changes.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct TwilioConnectionChange {
    #[schema(
        min_length = 1,
        max_length = 512,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    account_sid: Option<String>,
    #[schema(
        min_length = 1,
        max_length = 512,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    auth_token: Option<String>,
    /// The REST API's base, https (http only with `--webhook-allow-private`), without
    /// `/2010-04-01`.
    #[schema(format = "uri", max_length = 512, default = "https://api.twilio.com")]
    api_url: Option<String>,
    /// The header the platform signs requests in.
    #[schema(pattern = "^[A-Za-z0-9-]{1,64}$", default = "X-Twilio-Signature")]
    signature_header: Option<String>,
    /// SignalWire signs with its signing key instead of the auth token.
    #[schema(
        min_length = 1,
        max_length = 512,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    signing_key: Option<String>,
}

/// Sets or changes a jambonz connection; every field is required the first time, absent
/// fields keep their stored value. `api_key` is required again when `api_url` or
/// `account_sid` changes.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct JambonzConnectionChange {
    #[schema(
        min_length = 1,
        max_length = 512,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    account_sid: Option<String>,
    #[schema(
        min_length = 1,
        max_length = 512,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    api_key: Option<String>,
    #[schema(
        min_length = 1,
        max_length = 512,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$"
    )]
    webhook_secret: Option<String>,
    /// The API's base, https (http only with `--webhook-allow-private`), without `/v1`.
    #[schema(format = "uri", max_length = 512)]
    api_url: Option<String>,
    /// `aws` picks a Polly voice by gender and language; `default` leaves the voice to the
    /// jambonz application.
    #[schema(
        min_length = 1,
        max_length = 512,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$",
        default = "default"
    )]
    tts_vendor: Option<String>,
}

/// A Twilio connection as the API shows it; secrets masked to their last four characters.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct TwilioConnectionView {
    account_sid: String,
    auth_token: String,
    api_url: String,
    signature_header: String,
    signing_key: Option<String>,
}

/// A jambonz connection as the API shows it; secrets masked to their last four characters.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct JambonzConnectionView {
    account_sid: String,
    api_key: String,
    webhook_secret: String,
    api_url: String,
    tts_vendor: String,
}

/// A bad connection setting: the field (e.g. `twilio.api_url`) and what is wrong with it.
#[derive(Debug, Clone, PartialEq)]
pub struct SettingError {
    pub field: String,
    pub message: String,
}

/// A change to one connection as `PUT /v1.0/customer` carries it: absent fields keep their
/// value (so a client can send back what it read, with the secrets masked out, and keep
/// them), present ones replace it.
pub type Fields = serde_json::Map<String, Value>;

impl Connections {
    /// Reads the stored document; an empty column means no connections.
    pub fn from_stored(text: &str) -> Result<Connections, serde_json::Error> {
        if text.trim().is_empty() {
            return Ok(Connections::default());
        }
        serde_json::from_str(text)
    }

    pub fn to_stored(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
    }

    /// The connections as the API shows them: every secret masked to its last four characters.
    pub fn masked(&self) -> Value {
        json!({
            "twilio": self.twilio.as_ref().map(|t| json!({
                "account_sid": t.account_sid,
                "auth_token": mask(&t.auth_token),
                "api_url": t.api_url,
                "signature_header": t.signature_header,
                "signing_key": t.signing_key.as_deref().map(mask),
            })),
            "jambonz": self.jambonz.as_ref().map(|j| json!({
                "account_sid": j.account_sid,
                "api_key": mask(&j.api_key),
                "webhook_secret": mask(&j.webhook_secret),
                "api_url": j.api_url,
                "tts_vendor": j.tts_vendor,
            })),
        })
    }

    /// Applies `twilio` from a customer update: `None` removes the connection.
    pub fn set_twilio(&mut self, fields: Option<&Fields>) -> Result<(), SettingError> {
        let Some(fields) = fields else {
            self.twilio = None;
            return Ok(());
        };
        known_fields(
            "twilio",
            fields,
            &[
                "account_sid",
                "auth_token",
                "api_url",
                "signature_header",
                "signing_key",
            ],
        )?;
        let old = self.twilio.as_ref();
        let pick = |name: &str, old: Option<&String>, default: Option<&str>| {
            setting("twilio", name, fields, old.map(String::as_str).or(default))
        };
        let t = TwilioConnection {
            account_sid: pick("account_sid", old.map(|o| &o.account_sid), None)?,
            auth_token: pick("auth_token", old.map(|o| &o.auth_token), None)?,
            api_url: pick("api_url", old.map(|o| &o.api_url), Some(TWILIO_API_URL))?,
            signature_header: pick(
                "signature_header",
                old.map(|o| &o.signature_header),
                Some(TWILIO_SIGNATURE_HEADER),
            )?,
            signing_key: optional_setting(
                "twilio",
                "signing_key",
                fields,
                old.and_then(|o| o.signing_key.as_ref()),
            )?,
        };
        check_url("twilio.api_url", &t.api_url)?;
        if t.api_url.contains("/2010-04-01") {
            return Err(error(
                "twilio.api_url",
                "is the API's base (e.g. https://api.twilio.com), without /2010-04-01",
            ));
        }
        if let Some(o) = old {
            let moved = o.api_url != t.api_url || o.account_sid != t.account_sid;
            if moved && t.auth_token == o.auth_token {
                // The token goes wherever api_url points: moving it needs the token again, so
                // an API key alone cannot send the stored token to a server of its choosing.
                return Err(error(
                    "twilio.auth_token",
                    "is required again when api_url or account_sid changes",
                ));
            }
        }
        if !t
            .signature_header
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(error(
                "twilio.signature_header",
                "must be a header name (letters, digits and '-')",
            ));
        }
        self.twilio = Some(t);
        Ok(())
    }

    /// Applies `jambonz` from a customer update: `None` removes the connection.
    pub fn set_jambonz(&mut self, fields: Option<&Fields>) -> Result<(), SettingError> {
        let Some(fields) = fields else {
            self.jambonz = None;
            return Ok(());
        };
        known_fields(
            "jambonz",
            fields,
            &[
                "account_sid",
                "api_key",
                "webhook_secret",
                "api_url",
                "tts_vendor",
            ],
        )?;
        let old = self.jambonz.as_ref();
        let pick = |name: &str, old: Option<&String>, default: Option<&str>| {
            setting("jambonz", name, fields, old.map(String::as_str).or(default))
        };
        let j = JambonzConnection {
            account_sid: pick("account_sid", old.map(|o| &o.account_sid), None)?,
            api_key: pick("api_key", old.map(|o| &o.api_key), None)?,
            webhook_secret: pick("webhook_secret", old.map(|o| &o.webhook_secret), None)?,
            api_url: pick("api_url", old.map(|o| &o.api_url), None)?,
            tts_vendor: pick("tts_vendor", old.map(|o| &o.tts_vendor), Some("default"))?,
        };
        check_url("jambonz.api_url", &j.api_url)?;
        if j.api_url.trim_end_matches('/').ends_with("/v1") {
            return Err(error(
                "jambonz.api_url",
                "is the API's base (e.g. https://jambonz.example.com/api), without /v1",
            ));
        }
        if let Some(o) = old {
            let moved = o.api_url != j.api_url || o.account_sid != j.account_sid;
            if moved && j.api_key == o.api_key {
                return Err(error(
                    "jambonz.api_key",
                    "is required again when api_url or account_sid changes",
                ));
            }
        }
        self.jambonz = Some(j);
        Ok(())
    }
}

/// Longest accepted setting: account ids, tokens and URLs are far shorter.
const MAX_SETTING_CHARS: usize = 512;

fn error(field: &str, message: impl Into<String>) -> SettingError {
    SettingError {
        field: field.to_string(),
        message: message.into(),
    }
}

/// Refuses fields a connection does not have, so a typo is not silently dropped.
fn known_fields(connection: &str, fields: &Fields, known: &[&str]) -> Result<(), SettingError> {
    match fields.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(error(
            &format!("{connection}.{k}"),
            format!(
                "is not a field of {connection}; known: {}",
                known.join(", ")
            ),
        )),
        None => Ok(()),
    }
}

/// One string setting: the new value if given (non-empty, printable, bounded), else the old
/// one or the default, else an error saying it is required. A secret sent back as the API
/// showed it (masked) keeps the stored one.
fn setting(
    connection: &str,
    name: &str,
    fields: &Fields,
    fallback: Option<&str>,
) -> Result<String, SettingError> {
    let field = format!("{connection}.{name}");
    match fields.get(name) {
        None | Some(Value::Null) => fallback
            .map(str::to_string)
            .ok_or_else(|| error(&field, "is required")),
        Some(Value::String(s)) if s.starts_with("****") => match fallback {
            Some(old) if mask(old) == *s => Ok(old.to_string()),
            _ => Err(error(
                &field,
                "is the masked value the API shows; send the secret itself, or leave it out to keep the stored one",
            )),
        },
        Some(Value::String(s)) => {
            let s = s.trim();
            if s.is_empty() {
                Err(error(&field, "must not be empty"))
            } else if s.chars().count() > MAX_SETTING_CHARS {
                Err(error(
                    &field,
                    format!("must be at most {MAX_SETTING_CHARS} characters"),
                ))
            } else if s.chars().any(char::is_control) {
                Err(error(&field, "must not contain control characters"))
            } else {
                Ok(s.to_string())
            }
        }
        Some(_) => Err(error(&field, "must be a string")),
    }
}

/// A setting that may be unset: `null` clears it, absent keeps the old value.
fn optional_setting(
    connection: &str,
    name: &str,
    fields: &Fields,
    old: Option<&String>,
) -> Result<Option<String>, SettingError> {
    match fields.get(name) {
        None => Ok(old.cloned()),
        Some(Value::Null) => Ok(None),
        Some(_) => setting(connection, name, fields, old.map(String::as_str)).map(Some),
    }
}

fn check_url(field: &str, url: &str) -> Result<(), SettingError> {
    match url::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => Ok(()),
        _ => Err(error(field, "must be an http(s) URL")),
    }
}

/// A secret as the API shows it: its last four characters, the rest starred; short secrets
/// are starred whole.
pub fn mask(secret: &str) -> String {
    let n = secret.chars().count();
    if n < 12 {
        return "****".into();
    }
    let tail: String = secret.chars().skip(n - 4).collect();
    format!("****{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(v: Value) -> Fields {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn twilio_defaults_keep_secrets_and_name_bad_fields() {
        let mut c = Connections::default();
        let first = fields(json!({"account_sid": "AC1", "auth_token": "0123456789abcdef"}));
        c.set_twilio(Some(&first)).unwrap();
        let t = c.twilio.clone().unwrap();
        assert_eq!(t.api_url, TWILIO_API_URL);
        assert_eq!(t.signature_header, TWILIO_SIGNATURE_HEADER);
        // Sending back what was read (the token masked) keeps the token.
        let again = fields(json!({"signature_header": "X-SignalWire-Signature",
            "auth_token": "****cdef", "signing_key": "PSKsigningkey12345"}));
        c.set_twilio(Some(&again)).unwrap();
        assert_eq!(c.twilio.as_ref().unwrap().auth_token, "0123456789abcdef");
        assert_eq!(
            c.twilio.as_ref().unwrap().webhook_key(),
            "PSKsigningkey12345"
        );
        assert_eq!(c.masked()["twilio"]["auth_token"], "****cdef");
        assert_eq!(c.masked()["twilio"]["signing_key"], "****2345");
        let wrong_mask = fields(json!({"auth_token": "****abcd"}));
        assert_eq!(
            c.set_twilio(Some(&wrong_mask)).unwrap_err().field,
            "twilio.auth_token"
        );
        // Moving the API elsewhere needs the token again.
        let moved = fields(json!({"api_url": "https://evil.example"}));
        assert_eq!(
            c.set_twilio(Some(&moved)).unwrap_err().field,
            "twilio.auth_token"
        );
        let moved = fields(
            json!({"api_url": "https://x.signalwire.com/api/laml", "auth_token": "new-token-123456"}),
        );
        c.set_twilio(Some(&moved)).unwrap();
        assert!(
            format!("{:?}", c.twilio).find("new-token").is_none(),
            "Debug hides secrets"
        );
        let bad = fields(json!({"api_url": "ftp://x"}));
        assert_eq!(
            c.set_twilio(Some(&bad)).unwrap_err().field,
            "twilio.api_url"
        );
        let typo = fields(json!({"auth_tokn": "x"}));
        assert_eq!(
            c.set_twilio(Some(&typo)).unwrap_err().field,
            "twilio.auth_tokn"
        );
        c.set_twilio(None).unwrap();
        assert!(c.twilio.is_none());
    }

    #[test]
    fn jambonz_needs_every_field_the_first_time() {
        let mut c = Connections::default();
        let partial = fields(json!({"account_sid": "a", "api_key": "k"}));
        assert_eq!(
            c.set_jambonz(Some(&partial)).unwrap_err().field,
            "jambonz.webhook_secret"
        );
        let full = fields(
            json!({"account_sid": "a", "api_key": "k", "webhook_secret": "s",
            "api_url": "https://jambonz.example/api"}),
        );
        c.set_jambonz(Some(&full)).unwrap();
        let stored = c.to_stored();
        assert_eq!(Connections::from_stored(&stored).unwrap(), c);
        assert_eq!(
            Connections::from_stored("").unwrap(),
            Connections::default()
        );
    }
}
