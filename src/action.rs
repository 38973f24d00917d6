//! The action model of §4: typed actions parsed and validated at the boundary, and their
//! compilation (flow inclusion, id resolution) into a program the interpreter runs.

use serde_json::{Map, Value};
use std::collections::HashMap;
use uuid::Uuid;

/// Most actions one list may hold (§3.1).
pub const MAX_ACTIONS: usize = 100;
/// Deepest chain of `flow` inclusions (§4).
pub const MAX_FLOW_DEPTH: usize = 8;
const MAX_TALK_TEXT: usize = 5000;

/// A problem with one action, located by list, index and field so the author can fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{list}[{index}]{}: {message}", field_suffix(.field))]
pub struct ActionError {
    pub list: String,
    pub index: usize,
    pub field: String,
    pub message: String,
}

fn field_suffix(field: &str) -> String {
    if field.is_empty() {
        String::new()
    } else {
        format!(".{field}")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gender {
    Male,
    Female,
    Neutral,
}

impl Gender {
    pub fn as_str(self) -> &'static str {
        match self {
            Gender::Male => "male",
            Gender::Female => "female",
            Gender::Neutral => "neutral",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl Comparison {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "==" => Comparison::Eq,
            "!=" => Comparison::Ne,
            ">" => Comparison::Gt,
            ">=" => Comparison::Ge,
            "<" => Comparison::Lt,
            "<=" => Comparison::Le,
            _ => return None,
        })
    }

    pub fn holds<T: PartialOrd>(self, left: &T, right: &T) -> bool {
        match self {
            Comparison::Eq => left == right,
            Comparison::Ne => left != right,
            Comparison::Gt => left > right,
            Comparison::Ge => left >= right,
            Comparison::Lt => left < right,
            Comparison::Le => left <= right,
        }
    }
}

/// What `condition_variable` compares the variable with.
#[derive(Debug, Clone, PartialEq)]
pub enum ConditionValue {
    String(String),
    Number(f64),
    Length(i64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpMethod {
    Post,
    Get,
    Put,
    Delete,
}

impl HttpMethod {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "POST" => HttpMethod::Post,
            "GET" => HttpMethod::Get,
            "PUT" => HttpMethod::Put,
            "DELETE" => HttpMethod::Delete,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Post => "POST",
            HttpMethod::Get => "GET",
            HttpMethod::Put => "PUT",
            HttpMethod::Delete => "DELETE",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordingFormat {
    Wav,
    Mp3,
}

impl RecordingFormat {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "wav" => Some(RecordingFormat::Wav),
            "mp3" => Some(RecordingFormat::Mp3),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RecordingFormat::Wav => "wav",
            RecordingFormat::Mp3 => "mp3",
        }
    }
}

/// Longest recording the API accepts, in seconds (§6.1).
pub const MAX_RECORDING_SECONDS: i64 = 86_400;

/// One action type with its typed options.
#[derive(Debug, Clone, PartialEq)]
pub enum ActionKind {
    Talk {
        text: String,
        gender: Gender,
        language: String,
        digits_handle: String,
    },
    Play {
        stream_urls: Vec<String>,
    },
    Beep,
    Sleep {
        duration_ms: u32,
    },
    Hangup {
        reason: String,
    },
    VariableSet {
        key: String,
        value: String,
    },
    Goto {
        target_id: Uuid,
        loop_count: u32,
    },
    Branch {
        variable: String,
        target_ids: Vec<(String, Uuid)>,
        default_target_id: Uuid,
    },
    ConditionVariable {
        condition: Comparison,
        variable: String,
        value: ConditionValue,
        false_target_id: Uuid,
    },
    WebhookSend {
        uri: String,
        method: HttpMethod,
        data_type: String,
        /// A string, or a JSON object/array whose string values get variables substituted.
        data: Value,
        sync: bool,
    },
    RecordingStart {
        format: RecordingFormat,
        duration: i64,
    },
    RecordingStop,
    Stop,
    Flow {
        name: String,
    },
    /// Never parsed from input: compilation inserts it after an included flow whose `flow`
    /// action has a `next_id`, so execution continues where the author pointed.
    Jump {
        target_id: Uuid,
    },
}

impl ActionKind {
    pub fn type_name(&self) -> &'static str {
        match self {
            ActionKind::Talk { .. } => "talk",
            ActionKind::Play { .. } => "play",
            ActionKind::Beep => "beep",
            ActionKind::Sleep { .. } => "sleep",
            ActionKind::Hangup { .. } => "hangup",
            ActionKind::VariableSet { .. } => "variable_set",
            ActionKind::Goto { .. } => "goto",
            ActionKind::Branch { .. } => "branch",
            ActionKind::ConditionVariable { .. } => "condition_variable",
            ActionKind::WebhookSend { .. } => "webhook_send",
            ActionKind::RecordingStart { .. } => "recording_start",
            ActionKind::RecordingStop => "recording_stop",
            ActionKind::Stop => "stop",
            ActionKind::Flow { .. } => "flow",
            ActionKind::Jump { .. } => "jump",
        }
    }

    /// The ids this action may transfer control to, with the option field naming each.
    fn targets(&self) -> Vec<(String, Uuid)> {
        match self {
            ActionKind::Goto { target_id, .. } => vec![("option.target_id".into(), *target_id)],
            ActionKind::Branch {
                target_ids,
                default_target_id,
                ..
            } => {
                let mut t: Vec<(String, Uuid)> = target_ids
                    .iter()
                    .map(|(k, id)| (format!("option.target_ids.{k}"), *id))
                    .collect();
                t.push(("option.default_target_id".into(), *default_target_id));
                t
            }
            ActionKind::ConditionVariable {
                false_target_id, ..
            } => vec![("option.false_target_id".into(), *false_target_id)],
            ActionKind::Jump { target_id } => vec![("next_id".into(), *target_id)],
            _ => Vec::new(),
        }
    }
}

/// One parsed action.
#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    pub id: Uuid,
    pub next_id: Uuid,
    pub kind: ActionKind,
}

/// A validated action list: the typed actions plus the JSON the author wrote (with `id` and
/// `next_id` filled in), which is what the API stores and returns so it round-trips unchanged.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ActionList {
    pub actions: Vec<Action>,
    pub json: Vec<Value>,
}

impl ActionList {
    pub fn to_json(&self) -> Value {
        Value::Array(self.json.clone())
    }
}

/// Resolves `flow` names while compiling. The flow catalog implements it.
pub trait FlowLookup {
    fn flow_actions(&self, name: &str) -> Option<&[Action]>;
}

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
    let kind = match type_name {
        "talk" => {
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
            ActionKind::Talk {
                text: text.to_string(),
                gender,
                language: language.to_string(),
                digits_handle: digits_handle.to_string(),
            }
        }
        "play" => {
            let urls = match option.get("stream_urls") {
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
            ActionKind::Play { stream_urls }
        }
        "beep" => ActionKind::Beep,
        "sleep" => {
            let d = o.req_int("duration")?;
            if !(1..=600_000).contains(&d) {
                return Err(o.err(
                    "duration",
                    "must be between 1 and 600000 milliseconds".into(),
                ));
            }
            ActionKind::Sleep {
                duration_ms: d as u32,
            }
        }
        "hangup" => ActionKind::Hangup {
            reason: o.opt_str("reason")?.unwrap_or("").to_string(),
        },
        "variable_set" => {
            let key = o.req_str("key")?;
            if key.is_empty() {
                return Err(o.err("key", "must not be empty".into()));
            }
            ActionKind::VariableSet {
                key: key.to_string(),
                value: o.opt_str("value")?.unwrap_or("").to_string(),
            }
        }
        "goto" => {
            let target_id = o.req_uuid("target_id")?;
            let loop_count = o.opt_int("loop_count")?.unwrap_or(0);
            if !(0..=100).contains(&loop_count) {
                return Err(o.err("loop_count", "must be between 0 and 100".into()));
            }
            ActionKind::Goto {
                target_id,
                loop_count: loop_count as u32,
            }
        }
        "branch" => {
            let variable = o.req_str("variable")?.to_string();
            let mut target_ids = Vec::new();
            match option.get("target_ids") {
                None | Some(Value::Null) => {}
                Some(Value::Object(m)) => {
                    for (k, v) in m {
                        let id = v
                            .as_str()
                            .and_then(|s| Uuid::parse_str(s).ok())
                            .ok_or_else(|| {
                                o.err(&format!("target_ids.{k}"), "must be a UUID".into())
                            })?;
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
            ActionKind::Branch {
                variable,
                target_ids,
                default_target_id,
            }
        }
        "condition_variable" => {
            let condition = Comparison::parse(o.opt_str("condition")?.unwrap_or("=="))
                .ok_or_else(|| o.err("condition", "must be one of == != > >= < <=".into()))?;
            let variable = o.req_str("variable")?.to_string();
            let value = match o.opt_str("value_type")?.unwrap_or("string") {
                "string" => {
                    ConditionValue::String(o.opt_str("value_string")?.unwrap_or("").to_string())
                }
                "number" => ConditionValue::Number(o.req_number("value_number")?),
                "length" => {
                    let l = o.req_int("value_length")?;
                    if l < 0 {
                        return Err(o.err("value_length", "must not be negative".into()));
                    }
                    ConditionValue::Length(l)
                }
                _ => {
                    return Err(o.err("value_type", "must be one of string, number, length".into()))
                }
            };
            ActionKind::ConditionVariable {
                condition,
                variable,
                value,
                false_target_id: o.opt_uuid("false_target_id")?.unwrap_or(Uuid::nil()),
            }
        }
        "webhook_send" => {
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
            let data = match option.get("data") {
                None | Some(Value::Null) => Value::String(String::new()),
                Some(v @ (Value::String(_) | Value::Object(_) | Value::Array(_))) => v.clone(),
                Some(_) => return Err(o.err("data", "must be a string or a JSON object".into())),
            };
            ActionKind::WebhookSend {
                uri: uri.to_string(),
                method,
                data_type,
                data,
                sync: o.opt_bool("sync")?.unwrap_or(false),
            }
        }
        "recording_start" => {
            let format = RecordingFormat::parse(o.opt_str("format")?.unwrap_or("wav"))
                .ok_or_else(|| o.err("format", "must be wav or mp3".into()))?;
            let duration = o.opt_int("duration")?.unwrap_or(0);
            if !(0..=MAX_RECORDING_SECONDS).contains(&duration) {
                return Err(o.err(
                    "duration",
                    format!("must be between 0 and {MAX_RECORDING_SECONDS} seconds"),
                ));
            }
            ActionKind::RecordingStart { format, duration }
        }
        "recording_stop" => ActionKind::RecordingStop,
        "stop" => ActionKind::Stop,
        "flow" => {
            let name = o.req_str("name")?;
            if name.is_empty() {
                return Err(o.err("name", "must not be empty".into()));
            }
            ActionKind::Flow {
                name: name.to_string(),
            }
        }
        other => return Err(("type".into(), format!("unknown action type {other:?}"))),
    };
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
            Some(Value::Number(n)) => n
                .as_i64()
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

fn is_http_url(s: &str) -> bool {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"));
    matches!(rest, Some(r) if !r.is_empty() && !r.starts_with('/') && !r.chars().any(char::is_whitespace))
}

/// A loose BCP-47 check: alphanumeric subtags of 1 to 8 characters joined by hyphens, the first
/// one alphabetic. Enough to reject typos like `en_US` or `english please`.
fn is_language_tag(s: &str) -> bool {
    let mut parts = s.split('-');
    let first_ok = matches!(parts.next(), Some(p) if (2..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphabetic()));
    first_ok
        && parts.all(|p| (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// One executable step: an action plus where control goes when it completes normally.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub action: Action,
    /// Index of the next step; `steps.len()` means the end of the program.
    pub next: usize,
}

/// An action list with every `flow` inlined and every id resolved to a step index.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Program {
    pub steps: Vec<Step>,
    pub index: HashMap<Uuid, usize>,
}

impl Program {
    /// The step index an action id names (validated at compile time).
    pub fn resolve(&self, id: Uuid) -> Option<usize> {
        self.index.get(&id).copied()
    }
}

/// Inlines flows and checks the list as a whole: unique ids, and every `next_id` and target
/// naming an action of the same list. Errors name the outer list's index and field.
pub fn compile(
    list: &str,
    actions: &[Action],
    flows: &dyn FlowLookup,
) -> Result<Program, ActionError> {
    let mut flat: Vec<(usize, Action)> = Vec::new();
    // Ids that name the start of an included flow (the `flow` action's own id).
    let mut aliases: Vec<(Uuid, usize, usize)> = Vec::new();
    let mut stack = Vec::new();
    expand(
        list,
        actions,
        flows,
        None,
        &mut stack,
        &mut flat,
        &mut aliases,
    )?;

    let mut index = HashMap::new();
    for (pos, (origin, action)) in flat.iter().enumerate() {
        if !action.id.is_nil() && index.insert(action.id, pos).is_some() {
            return Err(ActionError {
                list: list.into(),
                index: *origin,
                field: "id".into(),
                message: format!("duplicate action id {}", action.id),
            });
        }
    }
    for (id, pos, origin) in &aliases {
        if index.insert(*id, *pos).is_some() {
            return Err(ActionError {
                list: list.into(),
                index: *origin,
                field: "id".into(),
                message: format!("duplicate action id {id}"),
            });
        }
    }

    let len = flat.len();
    let mut steps = Vec::with_capacity(len);
    for (pos, (origin, action)) in flat.into_iter().enumerate() {
        let mut checks = action.kind.targets();
        if !action.next_id.is_nil() {
            checks.push(("next_id".into(), action.next_id));
        }
        for (field, id) in checks {
            if !id.is_nil() && !index.contains_key(&id) {
                return Err(ActionError {
                    list: list.into(),
                    index: origin,
                    field,
                    message: format!("names no action of this list: {id}"),
                });
            }
        }
        let next = if action.next_id.is_nil() {
            pos + 1
        } else {
            index.get(&action.next_id).copied().unwrap_or(len)
        };
        steps.push(Step { action, next });
    }
    Ok(Program { steps, index })
}

fn expand(
    list: &str,
    actions: &[Action],
    flows: &dyn FlowLookup,
    outer_index: Option<usize>,
    stack: &mut Vec<String>,
    flat: &mut Vec<(usize, Action)>,
    aliases: &mut Vec<(Uuid, usize, usize)>,
) -> Result<(), ActionError> {
    for (i, action) in actions.iter().enumerate() {
        // Inside an included flow every problem is reported at the outer `flow` action.
        let origin = outer_index.unwrap_or(i);
        let ActionKind::Flow { name } = &action.kind else {
            flat.push((origin, action.clone()));
            continue;
        };
        let fail = |message: String| ActionError {
            list: list.into(),
            index: origin,
            field: "option.name".into(),
            message,
        };
        if stack.iter().any(|n| n == name) {
            return Err(fail(format!(
                "flow {name:?} includes itself: {} -> {name}",
                stack.join(" -> ")
            )));
        }
        if stack.len() >= MAX_FLOW_DEPTH {
            return Err(fail(format!("flows nest deeper than {MAX_FLOW_DEPTH}")));
        }
        let included = flows
            .flow_actions(name)
            .ok_or_else(|| fail(format!("unknown flow {name:?}")))?;
        if !action.id.is_nil() {
            aliases.push((action.id, flat.len(), origin));
        }
        stack.push(name.clone());
        expand(list, included, flows, Some(origin), stack, flat, aliases)?;
        stack.pop();
        if !action.next_id.is_nil() {
            flat.push((
                origin,
                Action {
                    id: Uuid::nil(),
                    next_id: Uuid::nil(),
                    kind: ActionKind::Jump {
                        target_id: action.next_id,
                    },
                },
            ));
        }
    }
    Ok(())
}

/// A lookup with no flows, for lists that may not include any.
pub struct NoFlows;

impl FlowLookup for NoFlows {
    fn flow_actions(&self, _name: &str) -> Option<&[Action]> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(v: Value) -> String {
        parse_list("pre_actions", &v)
            .and_then(|l| compile("pre_actions", &l.actions, &NoFlows).map(|_| ()))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn parses_the_seed_talk_action_and_keeps_its_json() {
        let v = json!([{"id": "00000000-0000-0000-0000-000000000000", "next_id": "00000000-0000-0000-0000-000000000000",
            "type": "talk", "option": {"text": "Hello.", "gender": "female", "language": "en-US"}}]);
        let l = parse_list("pre_actions", &v).unwrap();
        assert_eq!(l.to_json(), v);
        assert!(matches!(
            l.actions[0].kind,
            ActionKind::Talk {
                gender: Gender::Female,
                ..
            }
        ));
    }

    #[test]
    fn errors_name_list_index_and_field() {
        assert_eq!(
            err(json!([{"type": "beep"}, {"type": "talk"}])),
            "pre_actions[1].option.text: is required"
        );
        assert_eq!(
            err(json!([{"type": "dance"}])),
            "pre_actions[0].type: unknown action type \"dance\""
        );
        assert_eq!(
            err(json!([{"type": "sleep", "option": {"duration": 0}}])),
            "pre_actions[0].option.duration: must be between 1 and 600000 milliseconds"
        );
        assert_eq!(
            err(json!([{"type": "talk", "option": {"text": 5}}])),
            "pre_actions[0].option.text: must be a string"
        );
        let id = "11111111-1111-1111-1111-111111111111";
        assert!(
            err(json!([{"id": id, "type": "beep"}, {"id": id, "type": "beep"}]))
                .starts_with("pre_actions[1].id: duplicate")
        );
        assert!(err(json!([{"type": "goto", "option": {"target_id": id}}]))
            .starts_with("pre_actions[0].option.target_id: names no action"));
        assert!(err(json!([{"type": "beep", "next_id": id}]))
            .starts_with("pre_actions[0].next_id: names no action"));
        assert!(err(json!([{"type": "flow", "option": {"name": "nope"}}])).contains("unknown flow"));
    }
}
