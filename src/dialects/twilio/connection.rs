//! A customer's Twilio (or SignalWire, Telnyx TeXML) account: its settings, their checks, and how the API shows them.

use crate::dialects::settings::{
    check_url, error, known_fields, mask, optional_setting, secret_follows, setting, Connection,
    Fields, SettingError,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The connection's name: its field in `PUT /v1.0/customer` and its key in the stored document.
pub const NAME: &str = "twilio";
/// Twilio's REST base; SignalWire and others are set per customer.
pub const API_URL: &str = "https://api.twilio.com";
/// The header Twilio signs its webhooks in; SignalWire uses `X-SignalWire-Signature`.
pub const SIGNATURE_HEADER: &str = "X-Twilio-Signature";

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

impl Connection for TwilioConnection {
    const NAME: &'static str = NAME;
    const DESCRIBED: (&'static str, &'static str) = (
        "Sets or changes the Twilio connection; `null` removes it.",
        "The Twilio connection, secrets masked; `null` when none.",
    );
    type Change = TwilioConnectionChange;
    type View = TwilioConnectionView;

    fn change(old: Option<&Self>, fields: &Fields) -> Result<Self, SettingError> {
        change(old, fields)
    }

    fn masked(&self) -> Value {
        masked(self)
    }

    fn api_url(&self) -> &str {
        &self.api_url
    }
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

/// Sets or changes a Twilio (or SignalWire, Telnyx TeXML) connection; `account_sid` and
/// `auth_token` are required the first time, absent fields keep their stored value.
/// `auth_token` is required again when `api_url` or `account_sid` changes.
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

/// The connection as the API shows it: every secret masked to its last four characters.
pub fn masked(t: &TwilioConnection) -> Value {
    json!({
        "account_sid": t.account_sid,
        "auth_token": mask(&t.auth_token),
        "api_url": t.api_url,
        "signature_header": t.signature_header,
        "signing_key": t.signing_key.as_deref().map(mask),
    })
}

/// Applies a change to the stored connection (`None`: the first setting).
pub fn change(
    old: Option<&TwilioConnection>,
    fields: &Fields,
) -> Result<TwilioConnection, SettingError> {
    known_fields(
        NAME,
        fields,
        &[
            "account_sid",
            "auth_token",
            "api_url",
            "signature_header",
            "signing_key",
        ],
    )?;
    let pick = |name: &str, old: Option<&String>, default: Option<&str>| {
        setting(NAME, name, fields, old.map(String::as_str).or(default))
    };
    let t = TwilioConnection {
        account_sid: pick("account_sid", old.map(|o| &o.account_sid), None)?,
        auth_token: pick("auth_token", old.map(|o| &o.auth_token), None)?,
        api_url: pick("api_url", old.map(|o| &o.api_url), Some(API_URL))?,
        signature_header: pick(
            "signature_header",
            old.map(|o| &o.signature_header),
            Some(SIGNATURE_HEADER),
        )?,
        signing_key: optional_setting(
            NAME,
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
        secret_follows("twilio.auth_token", moved, t.auth_token == o.auth_token)?;
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
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialects::settings::{apply, masked as shown};
    use crate::domain::dialect::Connections;

    fn fields(v: Value) -> Fields {
        v.as_object().cloned().unwrap_or_default()
    }

    fn set(c: &mut Connections, v: Option<Value>) -> Result<(), SettingError> {
        apply(c, &vec![(NAME.to_string(), v.map(fields))], true)
    }

    fn shown_twilio(c: &Connections) -> Value {
        shown(c)
            .0
            .into_iter()
            .find(|(n, _)| *n == NAME)
            .map(|(_, v)| v)
            .unwrap_or_default()
    }

    #[test]
    fn twilio_defaults_keep_secrets_and_name_bad_fields() {
        let mut c = Connections::default();
        let first = json!({"account_sid": "AC1", "auth_token": "0123456789abcdef"});
        set(&mut c, Some(first)).unwrap();
        let t = TwilioConnection::of(&c).unwrap();
        assert_eq!(t.api_url, API_URL);
        assert_eq!(t.signature_header, SIGNATURE_HEADER);
        // Sending back what was read (the token masked) keeps the token.
        let again = json!({"signature_header": "X-SignalWire-Signature",
            "auth_token": "****cdef", "signing_key": "PSKsigningkey12345"});
        set(&mut c, Some(again)).unwrap();
        let t = TwilioConnection::of(&c).unwrap();
        assert_eq!(t.auth_token, "0123456789abcdef");
        assert_eq!(t.webhook_key(), "PSKsigningkey12345");
        assert_eq!(shown_twilio(&c)["auth_token"], "****cdef");
        assert_eq!(shown_twilio(&c)["signing_key"], "****2345");
        let wrong_mask = json!({"auth_token": "****abcd"});
        assert_eq!(
            set(&mut c, Some(wrong_mask)).unwrap_err().field,
            "twilio.auth_token"
        );
        // Moving the API elsewhere needs the token again.
        let moved = json!({"api_url": "https://evil.example"});
        assert_eq!(
            set(&mut c, Some(moved)).unwrap_err().field,
            "twilio.auth_token"
        );
        let moved = json!({"api_url": "https://x.signalwire.com/api/laml", "auth_token": "new-token-123456"});
        set(&mut c, Some(moved)).unwrap();
        assert!(
            format!("{:?}", TwilioConnection::of(&c))
                .find("new-token")
                .is_none(),
            "Debug hides secrets"
        );
        let bad = json!({"api_url": "ftp://x"});
        assert_eq!(set(&mut c, Some(bad)).unwrap_err().field, "twilio.api_url");
        let typo = json!({"auth_tokn": "x"});
        assert_eq!(
            set(&mut c, Some(typo)).unwrap_err().field,
            "twilio.auth_tokn"
        );
        set(&mut c, None).unwrap();
        assert!(TwilioConnection::of(&c).is_none());
        assert_eq!(shown_twilio(&c), Value::Null);
    }

    #[test]
    fn an_http_api_needs_private_targets_allowed() {
        let mut c = Connections::default();
        let change = vec![(
            NAME.to_string(),
            Some(fields(json!({"account_sid": "AC1", "auth_token": "t",
                "api_url": "http://127.0.0.1:9"}))),
        )];
        assert_eq!(
            apply(&mut c, &change, false).unwrap_err().field,
            "twilio.api_url"
        );
        apply(&mut c, &change, true).unwrap();
    }
}
