//! A customer's jambonz account: its settings, their checks, and how the API shows them.

use crate::dialects::settings::{
    check_url, error, known_fields, mask, secret_follows, setting, Connection, Fields, SettingError,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The connection's name: its field in `PUT /v1.0/customer` and its key in the stored document.
pub const NAME: &str = "jambonz";

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

impl Connection for JambonzConnection {
    const NAME: &'static str = NAME;
    const DESCRIBED: (&'static str, &'static str) = (
        "Sets or changes the jambonz connection; `null` removes it.",
        "The jambonz connection, secrets masked; `null` when none.",
    );
    type Change = JambonzConnectionChange;
    type View = JambonzConnectionView;

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
impl std::fmt::Debug for JambonzConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JambonzConnection")
            .field("account_sid", &self.account_sid)
            .field("api_url", &self.api_url)
            .finish_non_exhaustive()
    }
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

/// The connection as the API shows it: every secret masked to its last four characters.
pub fn masked(j: &JambonzConnection) -> Value {
    json!({
        "account_sid": j.account_sid,
        "api_key": mask(&j.api_key),
        "webhook_secret": mask(&j.webhook_secret),
        "api_url": j.api_url,
        "tts_vendor": j.tts_vendor,
    })
}

/// Applies a change to the stored connection (`None`: the first setting).
pub fn change(
    old: Option<&JambonzConnection>,
    fields: &Fields,
) -> Result<JambonzConnection, SettingError> {
    known_fields(
        NAME,
        fields,
        &[
            "account_sid",
            "api_key",
            "webhook_secret",
            "api_url",
            "tts_vendor",
        ],
    )?;
    let pick = |name: &str, old: Option<&String>, default: Option<&str>| {
        setting(NAME, name, fields, old.map(String::as_str).or(default))
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
        secret_follows("jambonz.api_key", moved, j.api_key == o.api_key)?;
    }
    Ok(j)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialects::settings::apply;
    use crate::domain::dialect::Connections;

    fn change_of(v: Value) -> crate::dialects::settings::Changes {
        vec![(NAME.to_string(), v.as_object().cloned())]
    }

    #[test]
    fn jambonz_needs_every_field_the_first_time() {
        let mut c = Connections::default();
        let partial = json!({"account_sid": "a", "api_key": "k"});
        assert_eq!(
            apply(&mut c, &change_of(partial), true).unwrap_err().field,
            "jambonz.webhook_secret"
        );
        let full = json!({"account_sid": "a", "api_key": "k", "webhook_secret": "s",
            "api_url": "https://jambonz.example/api"});
        apply(&mut c, &change_of(full), true).unwrap();
        let stored = c.to_stored();
        assert_eq!(Connections::from_stored(&stored).unwrap(), c);
        assert_eq!(JambonzConnection::of(&c).unwrap().tts_vendor, "default");
    }
}
