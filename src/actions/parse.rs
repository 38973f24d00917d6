//! Parsing an action list from JSON: one small function per action type, each naming the
//! field it rejects.

use super::model::{
    Action, ActionKind, ActionList, Comparison, ConditionValue, Gender, HttpMethod,
    RecordingFormat, MAX_RECORDING_SECONDS,
};
use super::{ActionError, MAX_ACTIONS};
use serde_json::{Map, Value};
use uuid::Uuid;

const MAX_TALK_TEXT: usize = 5000;

/// Parses a JSON action list named `list` (`pre_actions`, `post_actions`, or a flow's name).
/// Checks everything a single action can get wrong; [`compile`] checks the list as a whole.
pub fn parse_list(list: &str, value: &Value) -> Result<ActionList, ActionError> {
    let items = value.as_array().ok_or_else(|| ActionError {
        list: list.to_string(),
        index: 0,
        field: String::new(),
        message: "must be an array of actions".into(),
    })?;
    if items.len() > MAX_ACTIONS {
        return Err(ActionError {
            list: list.to_string(),
            index: MAX_ACTIONS,
            field: String::new(),
            message: format!(
                "at most {MAX_ACTIONS} actions are allowed, got {}",
                items.len()
            ),
        });
    }
    let mut out = ActionList::default();
    for (index, item) in items.iter().enumerate() {
        let fail = |field: &str, message: String| ActionError {
            list: list.to_string(),
            index,
            field: field.to_string(),
            message,
        };
        let (action, json) = parse_action(item).map_err(|(f, m)| fail(&f, m))?;
        out.actions.push(action);
        out.json.push(json);
    }
    Ok(out)
}

type FieldError = (String, String);

fn parse_action(item: &Value) -> Result<(Action, Value), FieldError> {
    let obj = item
        .as_object()
        .ok_or_else(|| (String::new(), "must be an object".to_string()))?;
    let id = uuid_field(obj, "id")?;
    let next_id = uuid_field(obj, "next_id")?;
    let type_name = match obj.get("type") {
        Some(Value::String(s)) => s.as_str(),
        Some(_) => return Err(("type".into(), "must be a string".into())),
        None => return Err(("type".into(), "is required".into())),
    };
    let empty = Map::new();
    let option = match obj.get("option") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(o)) => o,
        Some(_) => return Err(("option".into(), "must be an object".into())),
    };
    let o = Options(option);
    let kind = parse_kind(type_name, &o)?;
    let mut json = Map::new();
    json.insert("id".into(), Value::String(id.to_string()));
    json.insert("next_id".into(), Value::String(next_id.to_string()));
    json.insert("type".into(), Value::String(type_name.to_string()));
    if let Some(opt) = obj.get("option") {
        if !opt.is_null() {
            json.insert("option".into(), opt.clone());
        }
    }
    Ok((Action { id, next_id, kind }, Value::Object(json)))
}

/// The typed action for a type name and its options.
fn parse_kind(type_name: &str, o: &Options) -> Result<ActionKind, FieldError> {
    match type_name {
        "talk" => talk(o),
        "play" => play(o),
        "beep" => Ok(ActionKind::Beep),
        "sleep" => sleep(o),
        "hangup" => hangup(o),
        "digits_receive" => digits_receive(o),
        "role_set" => role_set(o),
        "variable_set" => variable_set(o),
        "goto" => goto(o),
        "branch" => branch(o),
        "condition_variable" => condition_variable(o),
        "webhook_send" => webhook_send(o),
        "recording_start" => recording_start(o),
        "recording_stop" => Ok(ActionKind::RecordingStop),
        "stop" => Ok(ActionKind::Stop),
        "flow" => flow_include(o),
        other => Err(("type".into(), format!("unknown action type {other:?}"))),
    }
}

fn talk(o: &Options) -> Result<ActionKind, FieldError> {
    let text = o.req_str("text")?;
    if text.chars().count() > MAX_TALK_TEXT {
        return Err(o.err(
            "text",
            format!("must be at most {MAX_TALK_TEXT} characters"),
        ));
    }
    let gender = match o.opt_str("gender")?.unwrap_or("female") {
        "male" => Gender::Male,
        "female" => Gender::Female,
        "neutral" => Gender::Neutral,
        _ => return Err(o.err("gender", "must be one of male, female, neutral".into())),
    };
    let language = o.opt_str("language")?.unwrap_or("en-US");
    if !is_language_tag(language) {
        return Err(o.err(
            "language",
            "must be a BCP-47 language tag such as en-US".into(),
        ));
    }
    let digits_handle = o.opt_str("digits_handle")?.unwrap_or("");
    if !matches!(digits_handle, "" | "next") {
        return Err(o.err("digits_handle", "must be \"\" or \"next\"".into()));
    }
    Ok(ActionKind::Talk {
        text: text.to_string(),
        gender,
        language: language.to_string(),
        digits_handle: digits_handle.to_string(),
    })
}

fn play(o: &Options) -> Result<ActionKind, FieldError> {
    let urls = match o.0.get("stream_urls") {
        Some(Value::Array(a)) => a,
        Some(_) => return Err(o.err("stream_urls", "must be an array of URLs".into())),
        None => return Err(o.err("stream_urls", "is required".into())),
    };
    if urls.is_empty() || urls.len() > 10 {
        return Err(o.err("stream_urls", "must hold 1 to 10 URLs".into()));
    }
    let mut stream_urls = Vec::with_capacity(urls.len());
    for (i, u) in urls.iter().enumerate() {
        match u.as_str() {
            Some(s) if is_http_url(s) => stream_urls.push(s.to_string()),
            _ => {
                return Err(o.err(
                    &format!("stream_urls[{i}]"),
                    "must be an http(s) URL".into(),
                ))
            }
        }
    }
    Ok(ActionKind::Play { stream_urls })
}

fn sleep(o: &Options) -> Result<ActionKind, FieldError> {
    let d = o.req_int("duration")?;
    if !(1..=600_000).contains(&d) {
        return Err(o.err(
            "duration",
            "must be between 1 and 600000 milliseconds".into(),
        ));
    }
    Ok(ActionKind::Sleep {
        duration_ms: d as u32,
    })
}

fn hangup(o: &Options) -> Result<ActionKind, FieldError> {
    Ok(ActionKind::Hangup {
        reason: o.opt_str("reason")?.unwrap_or("").to_string(),
    })
}

/// Keys that may end a caller's input early (§13).
pub const FINISH_KEYS: &str = "0123456789*#";

/// The variable a resume sets to the caller's digits, and a `branch` without `variable` reads.
pub const DIGITS_VARIABLE: &str = "call.digits";

fn digits_receive(o: &Options) -> Result<ActionKind, FieldError> {
    let duration = o.opt_int("duration")?.unwrap_or(5000);
    if !(1..=60_000).contains(&duration) {
        return Err(o.err(
            "duration",
            "must be between 1 and 60000 milliseconds".into(),
        ));
    }
    let key = o.opt_str("key")?.unwrap_or("");
    if key.chars().count() > 12 {
        return Err(o.err("key", "must be at most 12 keys".into()));
    }
    if let Some(bad) = key.chars().find(|c| !FINISH_KEYS.contains(*c)) {
        return Err(o.err(
            "key",
            format!("may hold only the keys 0-9, * and # (found {bad:?})"),
        ));
    }
    let length = o.opt_int("length")?.unwrap_or(1);
    if !(1..=64).contains(&length) {
        return Err(o.err("length", "must be between 1 and 64".into()));
    }
    Ok(ActionKind::DigitsReceive {
        duration_ms: duration as u32,
        key: key.to_string(),
        length: length as u32,
    })
}

/// The variable `role_set` sets: the role the call joins with, read when its `pre_actions` end
/// in a join (§14). Confab sets it to `participant` before a join's run; a platform's
/// variables cannot set it.
pub const ROLE_VARIABLE: &str = "conferencecall.role";

fn role_set(o: &Options) -> Result<ActionKind, FieldError> {
    let name = o.req_str("role")?;
    let role = crate::domain::room::Role::parse(name).ok_or_else(|| {
        o.err(
            "role",
            "must be one of participant, moderator, listener".into(),
        )
    })?;
    Ok(ActionKind::RoleSet { role })
}

fn variable_set(o: &Options) -> Result<ActionKind, FieldError> {
    let key = o.req_str("key")?;
    if key.is_empty() {
        return Err(o.err("key", "must not be empty".into()));
    }
    Ok(ActionKind::VariableSet {
        key: key.to_string(),
        value: o.opt_str("value")?.unwrap_or("").to_string(),
    })
}

fn goto(o: &Options) -> Result<ActionKind, FieldError> {
    let target_id = o.req_uuid("target_id")?;
    let loop_count = o.opt_int("loop_count")?.unwrap_or(0);
    if !(0..=100).contains(&loop_count) {
        return Err(o.err("loop_count", "must be between 0 and 100".into()));
    }
    Ok(ActionKind::Goto {
        target_id,
        loop_count: loop_count as u32,
    })
}

fn branch(o: &Options) -> Result<ActionKind, FieldError> {
    // Without `variable`, a branch reads the caller's digits (§13).
    let variable = match o.opt_str("variable")? {
        Some(v) => v.to_string(),
        None => DIGITS_VARIABLE.to_string(),
    };
    let mut target_ids = Vec::new();
    match o.0.get("target_ids") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (k, v) in m {
                let id = v
                    .as_str()
                    .and_then(|s| Uuid::parse_str(s).ok())
                    .ok_or_else(|| o.err(&format!("target_ids.{k}"), "must be a UUID".into()))?;
                target_ids.push((k.clone(), id));
            }
        }
        Some(_) => {
            return Err(o.err(
                "target_ids",
                "must be an object of value to action id".into(),
            ))
        }
    }
    let default_target_id = o.opt_uuid("default_target_id")?.unwrap_or(Uuid::nil());
    Ok(ActionKind::Branch {
        variable,
        target_ids,
        default_target_id,
    })
}

fn condition_variable(o: &Options) -> Result<ActionKind, FieldError> {
    let condition = Comparison::parse(o.opt_str("condition")?.unwrap_or("=="))
        .ok_or_else(|| o.err("condition", "must be one of == != > >= < <=".into()))?;
    let variable = o.req_str("variable")?.to_string();
    // Every comparison value present must have its type, also those the value type does not
    // use: a list is stored as written, so a wrong one would be served back.
    o.opt_str("value_string")?;
    o.opt_int("value_length")?;
    if o.0.get("value_number").is_some_and(|v| !v.is_null()) {
        o.req_number("value_number")?;
    }
    let value = match o.opt_str("value_type")?.unwrap_or("string") {
        "string" => ConditionValue::String(o.opt_str("value_string")?.unwrap_or("").to_string()),
        "number" => ConditionValue::Number(o.req_number("value_number")?),
        "length" => {
            let l = o.req_int("value_length")?;
            if l < 0 {
                return Err(o.err("value_length", "must not be negative".into()));
            }
            ConditionValue::Length(l)
        }
        _ => return Err(o.err("value_type", "must be one of string, number, length".into())),
    };
    Ok(ActionKind::ConditionVariable {
        condition,
        variable,
        value,
        false_target_id: o.opt_uuid("false_target_id")?.unwrap_or(Uuid::nil()),
    })
}

fn webhook_send(o: &Options) -> Result<ActionKind, FieldError> {
    let uri = o.req_str("uri")?;
    if !is_http_url(uri) {
        return Err(o.err("uri", "must be an http(s) URL".into()));
    }
    let method = HttpMethod::parse(o.opt_str("method")?.unwrap_or("POST"))
        .ok_or_else(|| o.err("method", "must be one of POST, GET, PUT, DELETE".into()))?;
    let data_type = o
        .opt_str("data_type")?
        .unwrap_or("application/json")
        .to_string();
    let data = match o.0.get("data") {
        None | Some(Value::Null) => Value::String(String::new()),
        Some(v @ (Value::String(_) | Value::Object(_) | Value::Array(_))) => v.clone(),
        Some(_) => return Err(o.err("data", "must be a string or a JSON object".into())),
    };
    Ok(ActionKind::WebhookSend {
        uri: uri.to_string(),
        method,
        data_type,
        data,
        sync: o.opt_bool("sync")?.unwrap_or(false),
    })
}

fn recording_start(o: &Options) -> Result<ActionKind, FieldError> {
    let format = RecordingFormat::parse(o.opt_str("format")?.unwrap_or("wav"))
        .ok_or_else(|| o.err("format", "must be wav or mp3".into()))?;
    let duration = o.opt_int("duration")?.unwrap_or(0);
    if !(0..=MAX_RECORDING_SECONDS).contains(&duration) {
        return Err(o.err(
            "duration",
            format!("must be between 0 and {MAX_RECORDING_SECONDS} seconds"),
        ));
    }
    Ok(ActionKind::RecordingStart { format, duration })
}

fn flow_include(o: &Options) -> Result<ActionKind, FieldError> {
    let name = o.req_str("name")?;
    if name.is_empty() {
        return Err(o.err("name", "must not be empty".into()));
    }
    Ok(ActionKind::Flow {
        name: name.to_string(),
    })
}

fn uuid_field(obj: &Map<String, Value>, name: &str) -> Result<Uuid, FieldError> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(Uuid::nil()),
        Some(Value::String(s)) => {
            Uuid::parse_str(s).map_err(|_| (name.to_string(), "must be a UUID".to_string()))
        }
        Some(_) => Err((name.to_string(), "must be a UUID string".to_string())),
    }
}

struct Options<'a>(&'a Map<String, Value>);

impl<'a> Options<'a> {
    fn err(&self, field: &str, message: String) -> FieldError {
        (format!("option.{field}"), message)
    }

    fn opt_str(&self, name: &str) -> Result<Option<&'a str>, FieldError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(self.err(name, "must be a string".into())),
        }
    }

    fn req_str(&self, name: &str) -> Result<&'a str, FieldError> {
        self.opt_str(name)?
            .ok_or_else(|| self.err(name, "is required".into()))
    }

    fn opt_int(&self, name: &str) -> Result<Option<i64>, FieldError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            // An integral number written with a fraction (`5.0`) is an integer in JSON Schema.
            Some(Value::Number(n)) => n
                .as_i64()
                .or_else(|| {
                    n.as_f64()
                        .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e18)
                        .map(|f| f as i64)
                })
                .map(Some)
                .ok_or_else(|| self.err(name, "must be an integer".into())),
            Some(_) => Err(self.err(name, "must be an integer".into())),
        }
    }

    fn req_int(&self, name: &str) -> Result<i64, FieldError> {
        self.opt_int(name)?
            .ok_or_else(|| self.err(name, "is required".into()))
    }

    fn req_number(&self, name: &str) -> Result<f64, FieldError> {
        match self.0.get(name) {
            Some(Value::Number(n)) => n
                .as_f64()
                .ok_or_else(|| self.err(name, "must be a number".into())),
            None | Some(Value::Null) => Err(self.err(name, "is required".into())),
            Some(_) => Err(self.err(name, "must be a number".into())),
        }
    }

    fn opt_bool(&self, name: &str) -> Result<Option<bool>, FieldError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(self.err(name, "must be a boolean".into())),
        }
    }

    fn opt_uuid(&self, name: &str) -> Result<Option<Uuid>, FieldError> {
        match self.opt_str(name)? {
            None => Ok(None),
            Some(s) => Uuid::parse_str(s)
                .map(Some)
                .map_err(|_| self.err(name, "must be a UUID".into())),
        }
    }

    fn req_uuid(&self, name: &str) -> Result<Uuid, FieldError> {
        self.opt_uuid(name)?
            .ok_or_else(|| self.err(name, "is required".into()))
    }
}

/// Whether `s` is an absolute http(s) URL with a host and no whitespace.
pub fn is_http_url(s: &str) -> bool {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"));
    // Whitespace as the document's pattern says it (`\s` and NEL): Unicode's white space and
    // the byte order mark, so what the pattern admits the parser takes (found by schemathesis).
    let space = |c: char| c.is_whitespace() || c == '\u{feff}';
    matches!(rest, Some(r) if !r.is_empty() && !r.starts_with('/') && !r.chars().any(space))
}

/// A loose BCP-47 check: alphanumeric subtags of 1 to 8 characters joined by hyphens, the first
/// one alphabetic. Enough to reject typos like `en_US` or `english please`.
fn is_language_tag(s: &str) -> bool {
    let mut parts = s.split('-');
    let first_ok = matches!(parts.next(), Some(p) if (2..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphabetic()));
    first_ok
        && parts.all(|p| (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()))
}
