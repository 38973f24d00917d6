//! `GET /openapi.json`: the JSON API's OpenAPI document, derived by utoipa from the handlers'
//! `#[utoipa::path]` attributes and the types that parse requests and render answers, plus
//! what every route shares (its error answers, authentication, links between operations).

use super::error::ErrorBody;
use actix_web::HttpResponse;
use std::sync::OnceLock;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{Content, OpenApi as Document, Ref, Response, ResponseBuilder};
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "confab API",
        description = "The JSON API (`/v1.0`: conferences, their calls and recordings, customer settings, simulations, and the platform event endpoint; every error answer is the `ErrorResponse` envelope) and the XML API (`/v1/account/{account_sid}/conf`, tag `xml`: XML in and out, errors as `XmlErrorResponse`). A method a route does not take answers 405 with `Allow`. The platform dialects' webhooks speak the platforms' own formats and are described in the README."
    ),
    paths(
        super::platform::receive,
        super::conferences::list,
        super::conferences::create,
        super::conferences::get,
        super::conferences::update,
        super::conferences::delete,
        super::conferences::recording_start,
        super::conferences::recording_stop,
        super::conferences::list_calls,
        super::conferences::get_call,
        super::conferences::kick_call,
        super::call_control::mute,
        super::call_control::unmute,
        super::call_control::hold,
        super::call_control::unhold,
        super::call_control::say_to_call,
        super::call_control::say_to_conference,
        super::call_control::dial,
        super::usage::summary,
        super::usage::usage,
        super::conferences::list_recordings,
        super::conferences::get_recording,
        super::flows::list,
        super::simulations::simulate,
        super::customers::get_self,
        super::customers::update_self,
        super::customers::rotate_secret,
        super::customers::list_deliveries,
        super::customers::retry_delivery,
        super::customers::create,
        super::xml_api::create,
        super::xml_api::get,
        super::xml_api::dispose,
        super::xml_api::parts,
        super::xml_api::dispose_part,
    ),
    components(schemas(ErrorBody, super::xml_schema::ErrorResponse)),
    modifiers(&Shared),
    security(("bearer" = []), ("token" = [])),
)]
struct ApiDoc;

/// What every operation shares, added to the derived document.
struct Shared;

impl utoipa::Modify for Shared {
    fn modify(&self, doc: &mut Document) {
        security_schemes(doc);
        for (path, item) in doc.paths.paths.iter_mut() {
            for (method, op) in operations(item) {
                error_answers(path, method, op);
            }
        }
        links(doc);
        optional_xml_body(doc);
    }
}

/// The XML API's create takes an empty body as "no parameters".
fn optional_xml_body(doc: &mut Document) {
    let create = doc
        .paths
        .paths
        .get_mut("/v1/account/{account_sid}/conf")
        .and_then(|i| i.post.as_mut())
        .and_then(|op| op.request_body.as_mut());
    if let Some(utoipa::openapi::RefOr::T(body)) = create {
        body.required = Some(utoipa::openapi::Required::False);
    }
}

fn security_schemes(doc: &mut Document) {
    let components = doc.components.get_or_insert_with(Default::default);
    let header = |name: &str, description: &str| {
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
            name,
            description,
        )))
    };
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
    );
    components.add_security_scheme(
        "token",
        SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::with_description(
            "token",
            "The API key as a query parameter, where a header cannot be set",
        ))),
    );
    components.add_security_scheme(
        "platformSignature",
        header(
            "webhook-signature",
            "Standard Webhooks: `v1,` + base64(HMAC-SHA256(key, `{webhook-id}.{webhook-timestamp}.{body}`)), key = base64-decode of the platform secret after `whsec_`",
        ),
    );
    components.add_security_scheme(
        "platformSignatureId",
        header("webhook-id", "The message id the signature covers"),
    );
    components.add_security_scheme(
        "platformSignatureTimestamp",
        header(
            "webhook-timestamp",
            "Unix seconds; more than 5 minutes off is refused",
        ),
    );
}

fn operations(
    item: &mut utoipa::openapi::PathItem,
) -> impl Iterator<Item = (&'static str, &mut Operation)> {
    [
        ("get", item.get.as_mut()),
        ("put", item.put.as_mut()),
        ("post", item.post.as_mut()),
        ("delete", item.delete.as_mut()),
    ]
    .into_iter()
    .filter_map(|(m, op)| op.map(|op| (m, op)))
}

/// An error answer: the JSON envelope, or the XML API's error document.
fn error(description: &str, xml: bool) -> Response {
    let (content_type, schema) = if xml {
        ("application/xml", "XmlErrorResponse")
    } else {
        ("application/json", "ErrorResponse")
    };
    ResponseBuilder::new()
        .description(description)
        .content(
            content_type,
            Content::new(Some(Ref::from_schema_name(schema))),
        )
        .build()
}

/// The error answers an operation can give, each in the envelope, added where they apply so
/// that a generated client knows every status it may see.
fn error_answers(path: &str, method: &str, op: &mut Operation) {
    let xml = path.starts_with("/v1/account/");
    let mut add = |status: &str, description: &str| {
        op.responses
            .responses
            .entry(status.to_string())
            .or_insert_with(|| error(description, xml).into());
    };
    if xml {
        add("400", "`000001`: a bad parameter or malformed XML");
        add("401", "`000002`: no valid key");
        add(
            "404",
            "`030100`: no such conference (or another account's, or disposed); `030200`: no such participant",
        );
        if method == "post" {
            add("413", "`000001`: the body is over 1 MiB");
        }
        add("429", "too many requests; wait `Retry-After` seconds");
        add(
            "503",
            "`000503`: confab cannot write now; retry after `Retry-After` seconds",
        );
        return;
    }
    if path == "/v1.0/customer" && method == "put" {
        add(
            "400",
            "`INVALID_JSON_BODY` (malformed JSON or a field of the wrong type, named) or `INVALID_ARGUMENT` naming the field, for rules beyond the schema: a connection's first setting needs its secrets (each connection's schema says which fields it requires); when `api_url` or `account_sid` changes, the connection's secret must be sent again, as a value other than the stored one (the stored secret never follows a moved `api_url`); `api_url` must be an https URL (http only on a server started with `--webhook-allow-private`) of the API's base, as its schema describes it; a connection takes only its documented fields; `name` must not be blank",
        );
    }
    add(
        "400",
        "`INVALID_ID` (a path id that is not a UUID), `INVALID_JSON_BODY` (malformed JSON or a field of the wrong type, named), `INVALID_ARGUMENT` (a value out of range, named), `INVALID_ACTION` (an action list breaking a rule the schema cannot say: `next_id` and jump targets must name an action of the same list, ids must be unique, `flow` must name a loaded flow)",
    );
    add(
        "401",
        if path.ends_with("/platform/events") {
            "`AUTHENTICATION_REQUIRED`: the signature is missing, wrong or too old"
        } else {
            "`AUTHENTICATION_REQUIRED`: no valid key"
        },
    );
    if path.contains('{')
        || path.ends_with("/platform/events")
        || path.ends_with("/customers")
        || path.ends_with("/simulations")
    {
        add(
            "404",
            "Not found, or another customer's (`CONFERENCE_NOT_FOUND`, `CONFERENCECALL_NOT_FOUND`, `RECORDING_NOT_FOUND`, `DELIVERY_NOT_FOUND`; `NOT_FOUND` for the admin route without an admin token)",
        );
    }
    if method == "post" || method == "put" {
        add("413", "`PAYLOAD_TOO_LARGE`: the body is over 1 MiB");
    }
    add(
        "429",
        "`RATE_LIMITED`: too many requests; wait `Retry-After` seconds",
    );
    add(
        "503",
        "`STORE_UNAVAILABLE`: the store cannot write now (e.g. disk full); retry after `Retry-After` seconds",
    );
}

/// Links from a created conference to what can be done with it, so generated clients and
/// stateful contract testers can chain the calls (create → read → update → delete).
fn links(doc: &mut Document) {
    use utoipa::openapi::link::LinkBuilder;
    let Some(create) = doc
        .paths
        .paths
        .get_mut("/v1.0/conferences")
        .and_then(|i| i.post.as_mut())
    else {
        return;
    };
    let Some(utoipa::openapi::RefOr::T(ok)) = create.responses.responses.get_mut("200") else {
        return;
    };
    for (name, operation) in [
        ("GetConference", "get_conference"),
        ("UpdateConference", "update_conference"),
        ("DeleteConference", "delete_conference"),
        ("StartRecording", "start_recording"),
        ("StopRecording", "stop_recording"),
    ] {
        ok.links.insert(
            name.to_string(),
            LinkBuilder::new()
                .operation_id(operation)
                .parameter("id", "$response.body#/id")
                .build()
                .into(),
        );
    }
}

/// The whole document, built once.
pub fn document() -> &'static serde_json::Value {
    static DOC: OnceLock<serde_json::Value> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
        simulation_subjects(&mut doc);
        uuid_patterns(&mut doc);
        connections(&mut doc);
        conference_action_lists(&mut doc);
        doc
    })
}

/// What a simulation runs, as `simulations::parse` accepts it: exactly one of these holds
/// (`null` is the same as absent) — `conference_id` (with `actions`, a draft run with the
/// conference's variables), `flow`, or `actions`. utoipa's object schema has no `oneOf`
/// beside its properties, so it is added to the JSON, inside an `allOf`: client generators
/// read a `oneOf` at the top of an object as a union of models in place of its properties,
/// while validators apply it the same either way. `tests/it/simulations.rs` posts every
/// combination and holds the server to it.
fn simulation_subjects(doc: &mut serde_json::Value) {
    use serde_json::json;
    let Some(schema) = doc.pointer_mut("/components/schemas/NewSimulation") else {
        return;
    };
    schema["allOf"] = json!([{"oneOf": [
        {
            "title": "conference",
            "description": "The conference's list; with `actions`, that list as a draft of the conference's",
            "required": ["conference_id"],
            "properties": {"conference_id": {"type": "string"}, "flow": {"type": "null"}}
        },
        {
            "title": "flow",
            "description": "A flow of the flows directory",
            "required": ["flow"],
            "properties": {"flow": {"type": "string"}, "conference_id": {"type": "null"}, "actions": {"type": "null"}}
        },
        {
            "title": "actions",
            "description": "An action list given here",
            "required": ["actions"],
            "properties": {"actions": {"type": "array"}, "conference_id": {"type": "null"}, "flow": {"type": "null"}}
        }
    ]}]);
}

/// A conference's `pre_actions` and `post_actions` are lists of `Action`. The conference's
/// shape is the domain's, which does not know the action schema (that is the action
/// model's), so the document names it here.
fn conference_action_lists(doc: &mut serde_json::Value) {
    for list in ["pre_actions", "post_actions"] {
        let pointer = format!("/components/schemas/Conference/properties/{list}/items");
        match doc.pointer_mut(&pointer) {
            Some(items) => *items = serde_json::json!({"$ref": "#/components/schemas/Action"}),
            None => tracing::error!(
                pointer,
                "a conference's action list is missing from the document"
            ),
        }
    }
}

const UUID_FIELDS: [&str; 5] = [
    "/components/schemas/GotoAction/properties/option/properties/target_id",
    "/components/schemas/BranchAction/properties/option/oneOf/0/properties/default_target_id",
    "/components/schemas/BranchAction/properties/option/oneOf/0/properties/target_ids/additionalProperties",
    "/components/schemas/ConditionVariableAction/properties/option/properties/false_target_id",
    "/components/schemas/NewSimulation/properties/conference_id",
];

/// The fields the server reads with `Uuid::parse_str` say so as a pattern, as an action's
/// `id` does: tools do not all check `format: uuid`, and an empty string is refused. utoipa
/// takes a pattern only as a literal, so the one pattern is set here on each of them.
fn uuid_patterns(doc: &mut serde_json::Value) {
    for pointer in UUID_FIELDS {
        match doc.pointer_mut(pointer).and_then(|v| v.as_object_mut()) {
            Some(field) => {
                field.insert(
                    "pattern".into(),
                    crate::actions::schema::UUID_PATTERN.into(),
                );
            }
            None => tracing::error!(pointer, "a UUID field is missing from the document"),
        }
    }
}

/// The platforms' connections as fields of the customer (`Customer`, `CustomerChange`), after
/// `webhook_events` and required in `Customer`, with the schemas the platforms give them
/// (`crate::dialects::settings::documented`). The customer types take the connections as a
/// map, which utoipa cannot see into.
fn connections(doc: &mut serde_json::Value) {
    use serde_json::{json, Value};
    let documented = crate::dialects::settings::documented();
    for (schema, shown) in [("Customer", true), ("CustomerChange", false)] {
        let Some(object) = doc
            .pointer_mut(&format!("/components/schemas/{schema}"))
            .and_then(Value::as_object_mut)
        else {
            continue;
        };
        let fields: Vec<(String, Value)> = documented
            .iter()
            .map(|(connection, d)| {
                let (name, description) = if shown { &d.view } else { &d.change };
                let property = json!({"oneOf": [
                    {"$ref": format!("#/components/schemas/{name}"), "description": description},
                    {"type": "null"}
                ]});
                (connection.to_string(), property)
            })
            .collect();
        if let Some(Value::Object(properties)) = object.get_mut("properties") {
            let mut entries: Vec<(String, Value)> =
                std::mem::take(properties).into_iter().collect();
            let at = after_events(entries.iter().map(|(k, _)| k.as_str()));
            entries.splice(at..at, fields);
            properties.extend(entries);
        }
        if let (true, Some(Value::Array(required))) = (shown, object.get_mut("required")) {
            let at = after_events(required.iter().map(|n| n.as_str().unwrap_or("")));
            let names = documented.iter().map(|(c, _)| Value::String(c.to_string()));
            required.splice(at..at, names);
        }
    }
    if let Some(Value::Object(schemas)) = doc.pointer_mut("/components/schemas") {
        let given = documented.iter().flat_map(|(_, d)| d.schemas.iter());
        let mut all: Vec<(String, Value)> = std::mem::take(schemas).into_iter().collect();
        all.extend(
            given.map(|(name, s)| (name.clone(), serde_json::to_value(s).unwrap_or_default())),
        );
        // The components are listed by name, as utoipa lists them.
        all.sort_by(|a, b| a.0.cmp(&b.0));
        schemas.extend(all);
    }
}

/// Where fields go that follow `webhook_events` (the end, without it).
fn after_events<'a>(names: impl ExactSizeIterator<Item = &'a str>) -> usize {
    let len = names.len();
    names
        .enumerate()
        .find(|(_, n)| *n == "webhook_events")
        .map_or(len, |(i, _)| i + 1)
}

/// The (method, path) pairs the document describes, for the drift check.
pub fn described_routes() -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(paths) = document()["paths"].as_object() {
        for (path, ops) in paths {
            for method in ops.as_object().into_iter().flat_map(|o| o.keys()) {
                out.push((method.clone(), path.clone()));
            }
        }
    }
    out
}

pub async fn serve() -> HttpResponse {
    HttpResponse::Ok().json(document())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_read_as_a_uuid_carries_the_uuid_pattern() {
        let doc = document();
        for pointer in UUID_FIELDS {
            assert_eq!(
                doc.pointer(pointer).and_then(|f| f["pattern"].as_str()),
                Some(crate::actions::schema::UUID_PATTERN),
                "{pointer}"
            );
        }
    }
}
