//! The action language's shape for the OpenAPI document: one option type per action type,
//! and `Action`, a `oneOf` of them discriminated by `type`.
//!
//! The parser (`parse.rs`) reads actions from JSON values so that every problem names its
//! list, index and field; these types describe exactly what it accepts, and a unit test below
//! holds the two together (each documented example parses, each required field is required).

use std::borrow::Cow;
use utoipa::openapi::schema::{Discriminator, ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
enum TalkGender {
    Male,
    Female,
    Neutral,
}

/// `talk`: say `text` (with `${var}` substituted).
#[derive(ToSchema)]
#[allow(dead_code)]
struct TalkOption {
    #[schema(max_length = 5000)]
    text: String,
    #[schema(inline, default = "female")]
    gender: Option<TalkGender>,
    #[schema(pattern = "^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$", default = "en-US")]
    language: Option<String>,
    #[schema(pattern = "^(|next)$")]
    digits_handle: Option<String>,
}

/// `play`: play 1 to 10 URLs in order.
#[derive(ToSchema)]
#[allow(dead_code)]
struct PlayOption {
    #[schema(min_items = 1, max_items = 10, value_type = Vec<String>, pattern = r"^https?://[^/\s\u0085][^\s\u0085]*$")]
    stream_urls: Vec<String>,
}

/// `sleep`: wait, in milliseconds.
#[derive(ToSchema)]
#[allow(dead_code)]
struct SleepOption {
    #[schema(minimum = 1, maximum = 600000)]
    duration: i64,
}

/// `digits_receive`: collect the caller's digits; the run pauses until they are reported
/// (`call_digits_received`) and continues with `call.digits` set.
#[derive(ToSchema)]
#[allow(dead_code)]
struct DigitsReceiveOption {
    /// How long the platform waits for input, in milliseconds.
    #[schema(minimum = 1, maximum = 60000, default = 5000)]
    duration: Option<i64>,
    /// Keys that end the input early (a set; a repeated key is the same key).
    #[schema(pattern = r"^[0-9*#]{0,12}$", default = "")]
    key: Option<String>,
    /// How many digits to collect.
    #[schema(minimum = 1, maximum = 64, default = 1)]
    length: Option<i64>,
}

/// `role_set`: the role the call joins with (§14): a `moderator` starts the room (and, with
/// `end_on_moderator_exit`, ends it when the last one leaves); a `listener` joins muted.
#[derive(ToSchema)]
#[allow(dead_code)]
struct RoleSetOption {
    #[schema(inline)]
    role: crate::domain::room::Role,
}

/// `hangup`: end the call.
#[derive(ToSchema)]
#[allow(dead_code)]
struct HangupOption {
    reason: Option<String>,
}

/// `variable_set`: set `key` to `value` (substituted).
#[derive(ToSchema)]
#[allow(dead_code)]
struct VariableSetOption {
    #[schema(min_length = 1)]
    key: String,
    value: Option<String>,
}

/// `goto`: jump to `target_id` (an action of the same list) `loop_count` times.
#[derive(ToSchema)]
#[allow(dead_code)]
struct GotoOption {
    #[schema(format = Uuid)]
    target_id: String,
    #[schema(minimum = 0, maximum = 100, default = 0)]
    loop_count: Option<i64>,
}

/// `branch`: jump by the variable's value; every target names an action of the same list.
#[derive(ToSchema)]
#[allow(dead_code)]
struct BranchOption {
    /// The variable compared; without it, the caller's digits (`call.digits`).
    variable: Option<String>,
    #[schema(value_type = Option<std::collections::BTreeMap<String, uuid::Uuid>>)]
    target_ids: Option<()>,
    #[schema(format = Uuid)]
    default_target_id: Option<String>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
enum Condition {
    #[schema(rename = "==")]
    Eq,
    #[schema(rename = "!=")]
    Ne,
    #[schema(rename = ">")]
    Gt,
    #[schema(rename = ">=")]
    Ge,
    #[schema(rename = "<")]
    Lt,
    #[schema(rename = "<=")]
    Le,
}

#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
enum ConditionValueType {
    String,
    Number,
    Length,
}

/// `condition_variable`: continue when the comparison holds, else jump to
/// `false_target_id`. `value_number` is required when `value_type` is `number`, and
/// `value_length` when it is `length`.
#[derive(ToSchema)]
#[allow(dead_code)]
struct ConditionVariableOption {
    #[schema(inline, default = "==")]
    condition: Option<Condition>,
    variable: String,
    #[schema(inline, default = "string")]
    value_type: Option<ConditionValueType>,
    value_string: Option<String>,
    value_number: Option<f64>,
    /// Must not be negative when `value_type` is `length`. With another value type it is
    /// not compared, and earlier builds stored any integer here, so any integer is taken.
    value_length: Option<i64>,
    #[schema(format = Uuid)]
    false_target_id: Option<String>,
}

#[derive(ToSchema)]
#[schema(rename_all = "UPPERCASE")]
#[allow(dead_code)]
enum WebhookMethod {
    Post,
    Get,
    Put,
    Delete,
}

/// `webhook_send`: call `uri`; `sync` waits up to 3 s for the answer, otherwise the durable
/// outbox delivers it.
#[derive(ToSchema)]
#[allow(dead_code)]
struct WebhookSendOption {
    #[schema(pattern = r"^https?://[^/\s\u0085][^\s\u0085]*$")]
    uri: String,
    #[schema(inline, default = "POST")]
    method: Option<WebhookMethod>,
    #[schema(default = "application/json")]
    data_type: Option<String>,
    /// A string (substituted) or a JSON object or array.
    #[schema(value_type = Option<Value>)]
    data: Option<()>,
    sync: Option<bool>,
}

/// `recording_start`: as `POST /conferences/{id}/recording_start`.
#[derive(ToSchema)]
#[allow(dead_code)]
struct RecordingStartOption {
    #[schema(value_type = Option<crate::actions::RecordingFormat>, default = "wav")]
    format: Option<String>,
    #[schema(minimum = 0, maximum = 86400)]
    duration: Option<i64>,
}

/// `flow`: inline the named flow of the flows directory (`GET /v1.0/flows`).
#[derive(ToSchema)]
#[allow(dead_code)]
struct FlowOption {
    #[schema(min_length = 1)]
    name: String,
}

/// Action types whose option is ignored (`beep`, `recording_stop`, `stop`).
#[derive(ToSchema)]
#[allow(dead_code)]
struct NoOption {}

/// Every action type with its component name and the schema of its option.
fn variants() -> Vec<(&'static str, &'static str, RefOr<Schema>, bool)> {
    vec![
        ("talk", "TalkAction", TalkOption::schema(), true),
        ("play", "PlayAction", PlayOption::schema(), true),
        ("beep", "BeepAction", NoOption::schema(), false),
        ("sleep", "SleepAction", SleepOption::schema(), true),
        ("hangup", "HangupAction", HangupOption::schema(), false),
        ("role_set", "RoleSetAction", RoleSetOption::schema(), true),
        (
            "digits_receive",
            "DigitsReceiveAction",
            DigitsReceiveOption::schema(),
            false,
        ),
        (
            "variable_set",
            "VariableSetAction",
            VariableSetOption::schema(),
            true,
        ),
        ("goto", "GotoAction", GotoOption::schema(), true),
        ("branch", "BranchAction", BranchOption::schema(), false),
        (
            "condition_variable",
            "ConditionVariableAction",
            ConditionVariableOption::schema(),
            true,
        ),
        (
            "webhook_send",
            "WebhookSendAction",
            WebhookSendOption::schema(),
            true,
        ),
        (
            "recording_start",
            "RecordingStartAction",
            RecordingStartOption::schema(),
            false,
        ),
        (
            "recording_stop",
            "RecordingStopAction",
            NoOption::schema(),
            false,
        ),
        ("stop", "StopAction", NoOption::schema(), false),
        ("flow", "FlowAction", FlowOption::schema(), true),
    ]
}

/// The strings `uuid::Uuid::parse_str` reads, which is what the parser takes for an action's
/// `id` and `next_id`: hyphenated (the usual form), 32 hex digits, braced, or a `urn:uuid:`.
/// Said as a pattern because tools do not all check `format: uuid`: an empty string is not a
/// UUID (SPEC §4: a missing id is the nil UUID, `""` is refused), and the document says so.
pub(crate) const UUID_PATTERN: &str = concat!(
    r"^([0-9A-Fa-f]{32}|[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}",
    r"|\{[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\}",
    r"|[Uu][Rr][Nn]:[Uu][Uu][Ii][Dd]:[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})$"
);

/// One action of a `pre_actions`/`post_actions` list (§4). Non-nil ids must be unique in the
/// list and every `next_id` and jump target must name an action of the same list (after
/// `flow` inclusion); a list breaking that is refused with 400 `INVALID_ACTION`.
pub struct Action;

fn variant(type_name: &str, option: RefOr<Schema>, option_required: bool) -> Schema {
    let id = || {
        ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
                Type::String,
                Type::Null,
            ]))
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::Uuid,
            )))
            .pattern(Some(UUID_PATTERN))
            .description(Some(
                "A UUID; the nil UUID, null or absent = none (an empty string is not a UUID)",
            ))
    };
    let mut object = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property("id", id())
        .property("next_id", id())
        .property(
            "type",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some([type_name])),
        )
        .required("type")
        .property(
            "option",
            if option_required {
                option
            } else {
                // Absent and `null` both mean "no options" for these types.
                Schema::OneOf(
                    OneOfBuilder::new()
                        .item(option)
                        .item(ObjectBuilder::new().schema_type(Type::Null))
                        .build(),
                )
                .into()
            },
        );
    if option_required {
        object = object.required("option");
    }
    Schema::Object(object.build())
}

/// A `oneOf` of component schemas discriminated by their `type` property: (type value,
/// component name) pairs.
pub fn tagged_union<S: AsRef<str>>(variants: Vec<(&str, S)>) -> RefOr<Schema> {
    let mut one_of = OneOfBuilder::new();
    let mut discriminator = Discriminator::new("type");
    for (type_name, component) in variants {
        let reference = format!("#/components/schemas/{}", component.as_ref());
        one_of = one_of.item(Ref::new(reference.clone()));
        discriminator
            .mapping
            .insert(type_name.to_string(), reference);
    }
    Schema::OneOf(one_of.discriminator(Some(discriminator)).build()).into()
}

impl PartialSchema for Action {
    fn schema() -> RefOr<Schema> {
        tagged_union(
            variants()
                .into_iter()
                .map(|(type_name, component, _, _)| (type_name, component))
                .collect(),
        )
    }
}

/// The media actions (`talk`, `play`, `beep`, `sleep`): what may be said or played to a live
/// call or room (§15). They run in the order written.
pub struct MediaAction;

/// The action types a media list takes.
pub const MEDIA_TYPES: [&str; 4] = ["talk", "play", "beep", "sleep"];

impl PartialSchema for MediaAction {
    fn schema() -> RefOr<Schema> {
        tagged_union(
            variants()
                .into_iter()
                .filter(|(type_name, ..)| MEDIA_TYPES.contains(type_name))
                .map(|(type_name, component, _, _)| (type_name, component))
                .collect(),
        )
    }
}

impl ToSchema for MediaAction {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("MediaAction")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        <Action as ToSchema>::schemas(schemas);
    }
}

impl ToSchema for Action {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Action")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        // What the options refer to.
        <crate::actions::RecordingFormat as ToSchema>::schemas(schemas);
        schemas.push((
            <crate::actions::RecordingFormat as ToSchema>::name().into_owned(),
            <crate::actions::RecordingFormat as PartialSchema>::schema(),
        ));
        for (type_name, component, option, required) in variants() {
            schemas.push((
                component.to_string(),
                variant(type_name, option, required).into(),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Every documented action type is one the parser knows, and the parser refuses each
    /// type whose option the document marks required when the option is missing.
    #[test]
    fn the_documented_types_are_the_parsed_types() {
        for (type_name, _, _, option_required) in variants() {
            let bare = json!([{"type": type_name}]);
            let parsed = crate::actions::parse_list("pre_actions", &bare);
            assert_eq!(parsed.is_err(), option_required, "{type_name}: {parsed:?}");
        }
        let unknown = crate::actions::parse_list("pre_actions", &json!([{"type": "dance"}]));
        assert!(unknown.is_err());
    }

    /// The forms `UUID_PATTERN` documents are the ones the parser takes for an action's id,
    /// and an empty string is none of them (found by the contract test with other seeds).
    #[test]
    fn an_action_id_is_one_of_the_documented_uuid_forms() {
        let h = "67e55044-10b1-426f-9247-bb680e5fe0c8";
        for (id, ok) in [
            (h.to_string(), true),
            (h.replace('-', ""), true),
            (format!("{{{h}}}"), true),
            (format!("urn:uuid:{h}"), true),
            (String::new(), false),
            (format!("{{{h}"), false),
            (format!("{h} "), false),
        ] {
            let list = json!([{"id": id, "type": "beep"}]);
            let parsed = crate::actions::parse_list("pre_actions", &list);
            assert_eq!(parsed.is_ok(), ok, "{id:?}: {parsed:?}");
        }
    }

    /// Found by the contract test: an option the chosen value type does not use was stored
    /// with any type, and served back against the document.
    #[test]
    fn every_present_option_has_its_documented_type() {
        for option in [
            json!({"variable": "v", "value_number": {}}),
            json!({"variable": "v", "value_length": "x"}),
            json!({"variable": "v", "value_type": "number", "value_number": 1, "value_string": 5}),
        ] {
            let list = json!([{"type": "condition_variable", "option": option}]);
            assert!(
                crate::actions::parse_list("pre_actions", &list).is_err(),
                "{list}"
            );
        }
        let fine = json!([{"type": "condition_variable", "option": {"variable": "v", "value_number": null}}]);
        assert!(crate::actions::parse_list("pre_actions", &fine).is_ok());
    }
}
