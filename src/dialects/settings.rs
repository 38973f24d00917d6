//! Customers' platform connections as the API changes and shows them: the checks every platform's settings share, and the changes applied through each platform.
//!
//! A connection is changed field by field (`PUT /v1.0/customer`): absent fields keep their
//! value, so a client can send back what it read, secrets masked, and keep them.

use crate::domain::customer::ConnectionsView;
use crate::domain::dialect::Connections;
use serde_json::Value;

/// A bad connection setting: the field (e.g. `{platform}.api_url`) and what is wrong with it.
#[derive(Debug, Clone, PartialEq)]
pub struct SettingError {
    pub field: String,
    pub message: String,
}

/// A change to one connection as `PUT /v1.0/customer` carries it: absent fields keep their
/// value, present ones replace it.
pub type Fields = serde_json::Map<String, Value>;

/// Changes to a customer's connections by connection name: `None` removes one, `Some` sets
/// or changes it.
pub type Changes = Vec<(String, Option<Fields>)>;

/// An account customers connect on a platform, as its folder types it: its name, how a change
/// applies to the stored one, how the API shows it, and the API its credentials go to.
pub trait Connection: serde::Serialize + serde::de::DeserializeOwned + 'static {
    /// Its field in `PUT /v1.0/customer` and its key in the stored document.
    const NAME: &'static str;
    /// The descriptions of the customer's field in a change and in a view (OpenAPI).
    const DESCRIBED: (&'static str, &'static str);
    /// The components a change is given in and the API shows it in.
    type Change: utoipa::ToSchema;
    type View: utoipa::ToSchema;

    /// Applies a change to the stored connection (`None`: the first setting).
    fn change(old: Option<&Self>, fields: &Fields) -> Result<Self, SettingError>;
    /// The connection as the API shows it, every secret masked.
    fn masked(&self) -> Value;
    /// The REST API its credentials are sent to.
    fn api_url(&self) -> &str;

    /// The customer's connection of this kind, if it has one.
    fn of(connections: &Connections) -> Option<Self> {
        connections
            .get(Self::NAME)
            .and_then(|s| stored(Self::NAME, s))
    }
}

/// A platform's connection as the registry sees it, whatever its type: each platform that
/// takes one hands out `&ConnectionOf::<ItsType>::KIND`, so the glue is written once.
pub trait ConnectionKind: Send + Sync {
    fn name(&self) -> &'static str;
    /// The stored document after a change, or the field that is wrong.
    fn change(&self, stored: Option<&Value>, fields: &Fields) -> Result<Value, SettingError>;
    fn mask(&self, stored: &Value) -> Value;
    fn api_url(&self, stored: &Value) -> Option<String>;
    fn doc(&self) -> ConnectionDoc;
}

/// The `ConnectionKind` of a `Connection` type.
pub struct ConnectionOf<C>(std::marker::PhantomData<fn() -> C>);

impl<C> ConnectionOf<C> {
    pub const KIND: ConnectionOf<C> = ConnectionOf(std::marker::PhantomData);
}

impl<C: Connection> ConnectionKind for ConnectionOf<C> {
    fn name(&self) -> &'static str {
        C::NAME
    }

    fn change(&self, stored: Option<&Value>, fields: &Fields) -> Result<Value, SettingError> {
        let old: Option<C> = stored.and_then(|s| self::stored(C::NAME, s));
        let new = C::change(old.as_ref(), fields)?;
        // A connection holds strings only; serializing it cannot fail.
        Ok(serde_json::to_value(new).unwrap_or(Value::Null))
    }

    fn mask(&self, stored: &Value) -> Value {
        self::stored::<C>(C::NAME, stored).map_or(Value::Null, |c| c.masked())
    }

    fn api_url(&self, stored: &Value) -> Option<String> {
        self::stored::<C>(C::NAME, stored).map(|c| c.api_url().to_string())
    }

    fn doc(&self) -> ConnectionDoc {
        ConnectionDoc::of::<C::Change, C::View>(C::DESCRIBED.0, C::DESCRIBED.1)
    }
}

/// Longest accepted setting: account ids, tokens and URLs are far shorter.
const MAX_SETTING_CHARS: usize = 512;

/// The platforms customers connect accounts of, in the registry's order.
fn connectable() -> impl Iterator<Item = (&'static str, &'static dyn ConnectionKind)> {
    super::all().filter_map(|p| p.connection().map(|kind| (kind.name(), kind)))
}

/// The names connections are set by (`PUT /v1.0/customer` takes each as a field).
pub fn names() -> impl Iterator<Item = &'static str> {
    connectable().map(|(name, _)| name)
}

/// Applies a customer's changes, in the registry's order so that errors come in a stable
/// order; then, unless private targets are allowed, holds every connection's API to https:
/// its credentials travel there.
pub fn apply(
    connections: &mut Connections,
    changes: &Changes,
    allow_private: bool,
) -> Result<(), SettingError> {
    for (name, kind) in connectable() {
        let Some((_, change)) = changes.iter().find(|(n, _)| n == name) else {
            continue;
        };
        let next = match change {
            Some(fields) => Some(kind.change(connections.get(name), fields)?),
            None => None,
        };
        connections.set(name, next);
    }
    if !allow_private {
        for (name, kind) in connectable() {
            let url = connections
                .get(name)
                .and_then(|stored| kind.api_url(stored));
            if url.is_some_and(|u| !u.starts_with("https://")) {
                return Err(error(&format!("{name}.api_url"), "must be an https URL"));
            }
        }
    }
    Ok(())
}

/// Every connection as the API shows it, by name in the registry's order: its secrets
/// masked, `null` when the customer has none.
pub fn masked(connections: &Connections) -> ConnectionsView {
    let shown = connectable()
        .map(|(name, kind)| {
            let shown = connections
                .get(name)
                .map_or(Value::Null, |stored| kind.mask(stored));
            (name, shown)
        })
        .collect();
    ConnectionsView(shown)
}

/// A customer as the API shows it: its connections masked by their platforms; `api_key` only
/// in the answer that created the key.
pub fn shown<'a>(
    customer: &'a crate::domain::customer::Customer,
    api_key: Option<&'a str>,
) -> crate::domain::customer::CustomerJson<'a> {
    customer.json(api_key, masked(&customer.connections))
}

/// How the OpenAPI document describes a connection.
pub struct ConnectionDoc {
    /// The component a change is given in (`PUT /v1.0/customer`), and the description of the
    /// customer's field there.
    pub change: (String, &'static str),
    /// The component the API shows it in (`GET /v1.0/customer`), and the description of the
    /// customer's field there.
    pub view: (String, &'static str),
    /// The components these name.
    pub schemas: Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::Schema>)>,
}

impl ConnectionDoc {
    /// The doc of a connection whose change and view are these two types.
    pub fn of<C: utoipa::ToSchema, V: utoipa::ToSchema>(
        change: &'static str,
        view: &'static str,
    ) -> ConnectionDoc {
        ConnectionDoc {
            change: (C::name().into_owned(), change),
            view: (V::name().into_owned(), view),
            schemas: vec![
                (C::name().into_owned(), C::schema()),
                (V::name().into_owned(), V::schema()),
            ],
        }
    }
}

/// Every connection's doc, by name in the registry's order.
pub fn documented() -> Vec<(&'static str, ConnectionDoc)> {
    connectable()
        .map(|(name, kind)| (name, kind.doc()))
        .collect()
}

pub(crate) fn error(field: &str, message: impl Into<String>) -> SettingError {
    SettingError {
        field: field.to_string(),
        message: message.into(),
    }
}

/// Refuses fields a connection does not have, so a typo is not silently dropped.
pub(crate) fn known_fields(
    connection: &str,
    fields: &Fields,
    known: &[&str],
) -> Result<(), SettingError> {
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
pub(crate) fn setting(
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
pub(crate) fn optional_setting(
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

pub(crate) fn check_url(field: &str, url: &str) -> Result<(), SettingError> {
    match url::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => Ok(()),
        _ => Err(error(field, "must be an http(s) URL")),
    }
}

/// The secret of a connection must be sent again when the API it goes to moves: an API key
/// alone must not be able to send the stored secret to a server of its choosing.
pub(crate) fn secret_follows(
    field: &str,
    moved: bool,
    secret_kept: bool,
) -> Result<(), SettingError> {
    if moved && secret_kept {
        return Err(error(
            field,
            "is required again when api_url or account_sid changes",
        ));
    }
    Ok(())
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

/// Reads a platform's stored settings into its type. A document that no longer reads (edited
/// by hand) counts as no connection, logged without its content, which holds secrets.
pub(crate) fn stored<T: serde::de::DeserializeOwned>(name: &str, stored: &Value) -> Option<T> {
    match T::deserialize(stored) {
        Ok(t) => Some(t),
        Err(_) => {
            tracing::warn!(
                connection = name,
                "a stored connection does not read; taken as none"
            );
            None
        }
    }
}
