//! The typed actions of §4 and the option values they carry.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// A `talk`'s voice gender; its serde form is the lowercase name an answer carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
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
    pub(super) fn parse(s: &str) -> Option<Self> {
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

// The request method of a webhook and the format of a recording are values of the domain
// (stored with messages and recordings); the action model uses them as they are.
pub use crate::domain::conference::RecordingFormat;
pub use crate::domain::notification::HttpMethod;

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
    /// Set the role the call joins with (§14).
    RoleSet {
        role: crate::domain::room::Role,
    },
    /// Ask the caller for digits and pause the run until they arrive (§13).
    DigitsReceive {
        duration_ms: u32,
        key: String,
        length: u32,
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
            ActionKind::DigitsReceive { .. } => "digits_receive",
            ActionKind::RoleSet { .. } => "role_set",
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
    pub(super) fn targets(&self) -> Vec<(String, Uuid)> {
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
