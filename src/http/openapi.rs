//! `GET /openapi.json`: the JSON API described from the operation table below. A test checks
//! the table against the routes the server actually registers, both ways.

use actix_web::HttpResponse;
use serde_json::{json, Map, Value};

enum Auth {
    Customer,
    Admin,
    Platform,
}

struct Op {
    method: &'static str,
    path: &'static str,
    summary: &'static str,
    auth: Auth,
    query: &'static [(&'static str, &'static str)],
    request: Option<&'static str>,
    response: Response,
}

enum Response {
    One(&'static str),
    Page(&'static str),
    Other(&'static str),
}

const OPS: &[Op] = &[
    Op {
        method: "post",
        path: "/platform/events",
        summary: "A telephony platform reports a call event; the answer says what the call must do",
        auth: Auth::Platform,
        query: &[],
        request: Some("PlatformEvent"),
        response: Response::One("EventAnswer"),
    },
    Op {
        method: "get",
        path: "/conferences",
        summary: "List conferences, newest first",
        auth: Auth::Customer,
        query: &[
            ("page_size", PAGE_SIZE_DOC),
            ("page_token", "opaque"),
            ("status", "starting|progressing|terminating|terminated"),
            ("type", "conference|connect"),
            ("deleted", "true to include deleted conferences"),
        ],
        request: None,
        response: Response::Page("Conference"),
    },
    Op {
        method: "post",
        path: "/conferences",
        summary: "Create a conference",
        auth: Auth::Customer,
        query: &[],
        request: Some("ConferenceInput"),
        response: Response::One("Conference"),
    },
    Op {
        method: "get",
        path: "/conferences/{id}",
        summary: "Get a conference",
        auth: Auth::Customer,
        query: &[],
        request: None,
        response: Response::One("Conference"),
    },
    Op {
        method: "put",
        path: "/conferences/{id}",
        summary: "Change a conference; absent fields stay as they are",
        auth: Auth::Customer,
        query: &[],
        request: Some("ConferenceInput"),
        response: Response::One("Conference"),
    },
    Op {
        method: "delete",
        path: "/conferences/{id}",
        summary: "Delete (soft) and terminate a conference",
        auth: Auth::Customer,
        query: &[],
        request: None,
        response: Response::One("Conference"),
    },
    Op {
        method: "post",
        path: "/conferences/{id}/recording_start",
        summary: "Start recording a conference",
        auth: Auth::Customer,
        query: &[],
        request: Some("RecordingInput"),
        response: Response::One("Conference"),
    },
    Op {
        method: "post",
        path: "/conferences/{id}/recording_stop",
        summary: "Stop the active recording",
        auth: Auth::Customer,
        query: &[],
        request: None,
        response: Response::One("Conference"),
    },
    Op {
        method: "get",
        path: "/conferencecalls",
        summary: "List conferencecalls, newest first",
        auth: Auth::Customer,
        query: &[
            ("page_size", PAGE_SIZE_DOC),
            ("page_token", "opaque"),
            ("conference_id", "only this conference's calls"),
            ("status", "joining|joined|leaving|leaved"),
        ],
        request: None,
        response: Response::Page("Conferencecall"),
    },
    Op {
        method: "get",
        path: "/conferencecalls/{id}",
        summary: "Get a conferencecall",
        auth: Auth::Customer,
        query: &[],
        request: None,
        response: Response::One("Conferencecall"),
    },
    Op {
        method: "delete",
        path: "/conferencecalls/{id}",
        summary: "Kick a call out of its conference",
        auth: Auth::Customer,
        query: &[],
        request: None,
        response: Response::One("Conferencecall"),
    },
    Op {
        method: "get",
        path: "/recordings",
        summary: "List recordings, newest first",
        auth: Auth::Customer,
        query: &[
            ("page_size", PAGE_SIZE_DOC),
            ("page_token", "opaque"),
            ("conference_id", "only this conference's recordings"),
        ],
        request: None,
        response: Response::Page("Recording"),
    },
    Op {
        method: "get",
        path: "/recordings/{id}",
        summary: "Get a recording",
        auth: Auth::Customer,
        query: &[],
        request: None,
        response: Response::One("Recording"),
    },
    Op {
        method: "get",
        path: "/flows",
        summary: "The flows loaded from the flows directory",
        auth: Auth::Customer,
        query: &[],
        request: None,
        response: Response::Other("FlowList"),
    },
    Op {
        method: "get",
        path: "/customer",
        summary: "The calling customer",
        auth: Auth::Customer,
        query: &[],
        request: None,
        response: Response::One("Customer"),
    },
    Op {
        method: "put",
        path: "/customer",
        summary: "Change the calling customer's name and webhook settings",
        auth: Auth::Customer,
        query: &[],
        request: Some("CustomerInput"),
        response: Response::One("Customer"),
    },
    Op {
        method: "post",
        path: "/customer/webhook_secret",
        summary: "Rotate the webhook secret (the old one keeps signing for 24 h)",
        auth: Auth::Customer,
        query: &[],
        request: None,
        response: Response::One("Customer"),
    },
    Op {
        method: "get",
        path: "/webhook_deliveries",
        summary: "The notification delivery log, newest first",
        auth: Auth::Customer,
        query: &[
            ("status", "pending|delivered|failed"),
            ("page_size", PAGE_SIZE_DOC),
            ("page_token", "opaque"),
        ],
        request: None,
        response: Response::Page("Delivery"),
    },
    Op {
        method: "post",
        path: "/webhook_deliveries/{id}/retry",
        summary: "Send a failed notification again",
        auth: Auth::Customer,
        query: &[],
        request: None,
        response: Response::One("Delivery"),
    },
    Op {
        method: "post",
        path: "/customers",
        summary: "Create a customer (admin token)",
        auth: Auth::Admin,
        query: &[],
        request: Some("NewCustomer"),
        response: Response::One("CustomerWithKey"),
    },
];

/// The (method, path) pairs the document describes, for the drift check.
pub fn described_routes() -> Vec<(String, String)> {
    OPS.iter()
        .map(|o| (o.method.to_string(), o.path.to_string()))
        .collect()
}

fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

/// Pages end at `page_size` items or before the byte budget, whichever comes first.
const PAGE_SIZE_DOC: &str = "1..=100, default 100; a page also ends before its items pass \
     the byte budget (--page-bytes, 4 MiB by default), holding at least one";

fn operation(op: &Op) -> Value {
    let mut params: Vec<Value> = Vec::new();
    for seg in op.path.split('/') {
        if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            params.push(json!({"name": name, "in": "path", "required": true, "schema": {"type": "string", "format": if op.path.starts_with("/webhook_deliveries") { "msg_ id" } else { "uuid" }}}));
        }
    }
    for (name, desc) in op.query {
        params.push(json!({"name": name, "in": "query", "required": false, "description": desc, "schema": {"type": "string"}}));
    }
    let ok = match op.response {
        Response::One(s) | Response::Other(s) => reference(s),
        Response::Page(s) => {
            json!({"type": "object", "properties": {"result": {"type": "array", "items": reference(s)}, "next_page_token": {"type": "string", "description": "\"\" on the last page; a page cut by the byte budget has fewer items and a token"}}})
        }
    };
    let mut o = json!({
        "summary": op.summary,
        "parameters": params,
        "responses": {
            "200": {"description": "OK", "content": {"application/json": {"schema": ok}}},
            "default": {"description": "An error", "content": {"application/json": {"schema": reference("Error")}}}
        },
        "security": match op.auth {
            Auth::Customer => json!([{"bearer": []}, {"token": []}]),
            Auth::Admin => json!([{"bearer": []}]),
            Auth::Platform => json!([{"platformSignature": []}]),
        },
    });
    if let Some(req) = op.request {
        o["requestBody"] =
            json!({"required": true, "content": {"application/json": {"schema": reference(req)}}});
    }
    o
}

fn schemas() -> Value {
    let ts = json!({"type": "string", "example": "2022-02-03 06:08:56.672025", "description": "UTC, microseconds; 9999-01-01 00:00:00.000000 = not set"});
    let id = json!({"type": "string", "format": "uuid"});
    let action = json!({"type": "object", "required": ["type"], "properties": {
        "id": id, "next_id": id,
        "type": {"type": "string", "enum": ["talk", "play", "beep", "sleep", "hangup", "variable_set", "goto", "branch", "condition_variable", "webhook_send", "recording_start", "recording_stop", "stop", "flow"]},
        "option": {"type": "object", "description": "Options of the type; see flows/README.md"}}});
    json!({
        "Action": action,
        "Conference": {"type": "object", "properties": {
            "id": id, "customer_id": id, "type": {"type": "string", "enum": ["conference", "connect"]},
            "status": {"type": "string", "enum": ["starting", "progressing", "terminating", "terminated"]},
            "name": {"type": "string"}, "detail": {"type": "string"}, "data": {"type": "object"},
            "timeout": {"type": "integer", "minimum": 0, "maximum": 604800},
            "pre_actions": {"type": "array", "items": reference("Action")},
            "post_actions": {"type": "array", "items": reference("Action")},
            "conferencecall_ids": {"type": "array", "items": id},
            "recording_id": id, "recording_ids": {"type": "array", "items": id},
            "tm_create": ts, "tm_update": ts, "tm_delete": ts}},
        "ConferenceInput": {"type": "object", "properties": {
            "type": {"type": "string", "enum": ["conference", "connect"], "description": "create only"},
            "name": {"type": "string", "maxLength": 255}, "detail": {"type": "string", "maxLength": 4096},
            "data": {"type": "object", "description": "at most 64 KiB serialized"},
            "timeout": {"type": "integer", "minimum": 0, "maximum": 604800},
            "pre_actions": {"type": "array", "maxItems": 100, "items": reference("Action")},
            "post_actions": {"type": "array", "maxItems": 100, "items": reference("Action")}}},
        "Conferencecall": {"type": "object", "properties": {
            "id": id, "customer_id": id, "conference_id": id, "reference_type": {"type": "string", "enum": ["call"]},
            "reference_id": {"type": "string"}, "status": {"type": "string", "enum": ["joining", "joined", "leaving", "leaved"]},
            "tm_create": ts, "tm_update": ts, "tm_delete": ts}},
        "Recording": {"type": "object", "properties": {
            "id": id, "customer_id": id, "reference_type": {"type": "string", "enum": ["conference"]}, "reference_id": id,
            "status": {"type": "string", "enum": ["recording", "stopping", "ended"]}, "format": {"type": "string", "enum": ["wav", "mp3"]},
            "duration": {"type": "integer"}, "media_url": {"type": "string"}, "tm_start": ts, "tm_end": ts, "tm_create": ts}},
        "RecordingInput": {"type": "object", "properties": {"format": {"type": "string", "enum": ["wav", "mp3"]}, "duration": {"type": "integer", "minimum": 0, "maximum": 86400}}},
        "Customer": {"type": "object", "properties": {
            "id": id, "name": {"type": "string"}, "webhook_uri": {"type": "string"}, "webhook_method": {"type": "string", "enum": ["POST", "PUT"]},
            "webhook_secret": {"type": "string"}, "webhook_events": {"type": "array", "items": {"type": "string"}},
            "twilio": {"nullable": true, "allOf": [reference("TwilioConnection")], "description": "auth_token masked to its last 4 characters"},
            "jambonz": {"nullable": true, "allOf": [reference("JambonzConnection")], "description": "api_key and webhook_secret masked to their last 4 characters"},
            "tm_create": ts, "tm_update": ts}},
        "TwilioConnection": {"type": "object", "description": "A Twilio (or SignalWire, Telnyx TeXML) account; absent fields keep their stored value",
            "properties": {"account_sid": {"type": "string", "minLength": 1, "maxLength": 512}, "auth_token": {"type": "string", "minLength": 1, "maxLength": 512},
            "api_url": {"type": "string", "format": "uri", "default": "https://api.twilio.com"},
            "signature_header": {"type": "string", "default": "X-Twilio-Signature", "pattern": "^[A-Za-z0-9-]+$"}}},
        "JambonzConnection": {"type": "object", "description": "A jambonz account; every field is required the first time, absent fields keep their stored value",
            "properties": {"account_sid": {"type": "string", "minLength": 1, "maxLength": 512}, "api_key": {"type": "string", "minLength": 1, "maxLength": 512},
            "webhook_secret": {"type": "string", "minLength": 1, "maxLength": 512}, "api_url": {"type": "string", "format": "uri"}}},
        "CustomerWithKey": {"allOf": [reference("Customer"), {"type": "object", "properties": {"api_key": {"type": "string", "description": "shown once"}}}]},
        "CustomerInput": {"type": "object", "properties": {"name": {"type": "string"}, "webhook_uri": {"type": "string"}, "webhook_method": {"type": "string", "enum": ["POST", "PUT"]}, "webhook_events": {"type": "array", "items": {"type": "string"}},
            "twilio": {"nullable": true, "allOf": [reference("TwilioConnection")], "description": "null removes the connection"},
            "jambonz": {"nullable": true, "allOf": [reference("JambonzConnection")], "description": "null removes the connection"}}},
        "NewCustomer": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}, "webhook_uri": {"type": "string"}}},
        "PlatformEvent": {"type": "object", "required": ["id", "type", "data"], "properties": {
            "id": {"type": "string", "minLength": 1, "maxLength": 128, "description": "idempotency key"},
            "type": {"type": "string", "enum": ["call_joining", "call_joined", "call_left", "recording_finished"]},
            "data": {"type": "object"}}},
        "EventAnswer": {"type": "object", "properties": {"conferencecall": reference("Conferencecall"), "recording": reference("Recording"), "actions": {"type": "array", "items": {"type": "object"}}}},
        "Delivery": {"type": "object", "properties": {
            "id": {"type": "string"}, "event_type": {"type": "string"}, "status": {"type": "string", "enum": ["pending", "delivered", "failed"]},
            "url": {"type": "string"}, "method": {"type": "string"}, "attempts": {"type": "integer"}, "last_status": {"type": "integer", "nullable": true},
            "last_error": {"type": "string"}, "next_attempt_at": ts, "payload": {"type": "object"}, "tm_create": ts, "tm_update": ts}},
        "FlowList": {"type": "object", "properties": {"result": {"type": "array", "items": {"type": "object", "properties": {"name": {"type": "string"}, "description": {"type": "string"}, "actions": {"type": "array", "items": reference("Action")}}}}}},
        "Error": {"type": "object", "properties": {"error": {"type": "object", "properties": {
            "status": {"type": "integer"}, "reason": {"type": "string"}, "message": {"type": "string"}, "request_id": {"type": "string"}}}}}
    })
}

/// The whole document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for op in OPS {
        let entry = paths
            .entry(format!("/v1.0{}", op.path))
            .or_insert_with(|| Value::Object(Map::new()));
        entry[op.method] = operation(op);
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "confab JSON API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Conferences, their calls and recordings, customer settings and the platform event endpoint. Errors are {\"error\":{\"status\",\"reason\",\"message\",\"request_id\"}}."
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "API key (admin token for POST /v1.0/customers)"},
                "token": {"type": "apiKey", "in": "query", "name": "token"},
                "platformSignature": {"type": "apiKey", "in": "header", "name": "webhook-signature", "description": "Standard Webhooks signature with the platform secret (with webhook-id and webhook-timestamp)"}
            },
            "schemas": schemas()
        }
    })
}

pub async fn serve() -> HttpResponse {
    HttpResponse::Ok().json(document())
}
