//! The action model of §4 — typed actions parsed and validated at the boundary, compiled
//! (flows inlined, ids resolved) into a program, and run by a pure interpreter — plus the
//! flows directory the `flow` action draws on.

mod compile;
pub mod emitted;
pub mod flows;
pub mod interpreter;
mod model;
mod parse;
pub mod schema;
pub mod simulation;

pub use compile::{compile, FlowLookup, NoFlows, Program, Step};
pub use emitted::Emitted;
pub use model::{
    Action, ActionKind, ActionList, Comparison, ConditionValue, Gender, HttpMethod,
    RecordingFormat, MAX_RECORDING_SECONDS,
};
pub use parse::{is_http_url, parse_list, DIGITS_VARIABLE, FINISH_KEYS, ROLE_VARIABLE};

/// Most actions one list may hold (§3.1).
pub const MAX_ACTIONS: usize = 100;
/// Deepest chain of `flow` inclusions (§4).
pub const MAX_FLOW_DEPTH: usize = 8;

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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use serde_json::Value;

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
