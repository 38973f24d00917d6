//! Reading request input: bodies with a size limit, JSON with field-naming errors, path ids,
//! page tokens and the shared query parameters.

use super::error::ApiError;
use crate::domain::query::Cursor;
use actix_web::{web, HttpRequest};
use base64::Engine as _;
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use serde::Deserialize as _;
use uuid::Uuid;

/// Largest request body accepted (§6.1).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// How long a client may take to send its body.
pub const BODY_DEADLINE: std::time::Duration = std::time::Duration::from_secs(15);
/// Largest and default page (§6.1).
pub const MAX_PAGE_SIZE: usize = 100;
/// Deepest nesting of arrays and objects accepted in a JSON body (128 is allowed).
pub const MAX_JSON_DEPTH: usize = 128;

/// Counts `bytes` of body against the authenticated customer's byte rate
/// (`--body-rate-limit-mb`); requests without a customer (platform events, the admin API) are
/// not counted here.
fn charge_body(req: &HttpRequest, bytes: usize) -> Result<(), ApiError> {
    let tenant = actix_web::HttpMessage::extensions(req)
        .get::<super::auth::Tenant>()
        .copied();
    let Some(super::auth::Tenant(customer)) = tenant else {
        return Ok(());
    };
    let Some(state) = req.app_data::<web::Data<super::AppState>>() else {
        return Ok(());
    };
    state
        .body_limit
        .take(customer, bytes as f64, std::time::Instant::now())
        .map_err(|wait| {
            state.engine.metrics().rate_limited.inc();
            let mut e = ApiError::rate_limited(wait);
            e.message = format!(
                "request bodies past this customer's byte rate; {}",
                e.message
            );
            e
        })
}

/// Reads the whole body, refusing with 413 as soon as it passes the limit, and with 429 when
/// the customer has sent more body bytes than its rate allows (before reading, when the
/// length is announced).
pub async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
) -> Result<web::Bytes, ApiError> {
    let announced = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if let Some(len) = announced {
        if len > MAX_BODY_BYTES {
            return Err(ApiError::too_large(MAX_BODY_BYTES));
        }
        charge_body(req, len)?;
    }
    let read = async {
        let mut body = web::BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk =
                chunk.map_err(|e| ApiError::invalid_json(format!("cannot read the body: {e}")))?;
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(ApiError::too_large(MAX_BODY_BYTES));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    };
    // A client trickling its body must not hold a connection and a buffer forever.
    match tokio::time::timeout(BODY_DEADLINE, read).await {
        Ok(Ok(body)) if announced.is_none() => {
            charge_body(req, body.len())?;
            Ok(body)
        }
        Ok(result) => result,
        Err(_) => Err(ApiError::new(
            actix_web::http::StatusCode::REQUEST_TIMEOUT,
            "REQUEST_TIMEOUT",
            format!(
                "the body did not arrive within {} s",
                BODY_DEADLINE.as_secs()
            ),
        )),
    }
}

/// How deeply arrays and objects nest in `body`, strings skipped. Malformed text is measured
/// the same way up to where the parser would stop, so the parser never nests deeper.
fn json_depth(body: &[u8]) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for &b in body {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// Parses one JSON value into `T`; a wrong type names the field (`timeout: invalid type:
/// ...`). Only whitespace may follow the value. Nesting is checked here, so that exactly
/// `MAX_JSON_DEPTH` levels pass (serde_json's own limit stops one level short).
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    check_no_byte_order_mark(body)?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::invalid_json("the body must be a JSON object"));
    }
    if json_depth(body) > MAX_JSON_DEPTH {
        return Err(ApiError::invalid_json(format!(
            "malformed JSON body: nests deeper than {MAX_JSON_DEPTH} levels"
        )));
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    de.disable_recursion_limit();
    let value = deserialize(&mut de)?;
    de.end().map_err(|e| {
        ApiError::invalid_json(format!(
            "malformed JSON body: only whitespace may follow the JSON value ({e})"
        ))
    })?;
    Ok(value)
}

/// JSON exchanged between systems is UTF-8 without a byte order mark (RFC 8259 §8.1). A body
/// that starts with one is refused with a message that says so, rather than the puzzling
/// "must be a JSON object" or "expected value" a parser would give for the invisible bytes.
fn check_no_byte_order_mark(body: &[u8]) -> Result<(), ApiError> {
    let which = if body.starts_with(&[0xEF, 0xBB, 0xBF]) {
        "a UTF-8 byte order mark (EF BB BF); send the JSON without it"
    } else if body.starts_with(&[0xFF, 0xFE]) || body.starts_with(&[0xFE, 0xFF]) {
        "a UTF-16 byte order mark; send the JSON as UTF-8 without one"
    } else {
        return Ok(());
    };
    Err(ApiError::invalid_json(format!(
        "malformed JSON body: the body starts with {which}"
    )))
}

fn deserialize<'de, T: serde::Deserialize<'de>>(
    de: &mut serde_json::Deserializer<serde_json::de::SliceRead<'de>>,
) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let malformed = matches!(
            inner.classify(),
            serde_json::error::Category::Syntax
                | serde_json::error::Category::Eof
                | serde_json::error::Category::Io
        );
        if malformed || path.is_empty() || path == "." || path == "?" {
            ApiError::invalid_json(format!("malformed JSON body: {inner}"))
        } else {
            ApiError::invalid_json(format!("{path}: {inner}"))
        }
    })
}

/// Reads an already parsed JSON value into `T`; a wrong type names the field under `prefix`
/// (`data.call_id: invalid type: ...`).
pub fn parse_value<T: DeserializeOwned>(
    prefix: &str,
    value: serde_json::Value,
) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path.is_empty() || path == "." || path == "?" {
            ApiError::invalid_json(format!("{prefix}: {inner}"))
        } else {
            ApiError::invalid_json(format!("{prefix}.{path}: {inner}"))
        }
    })
}

/// An optional integer field that also takes an integral number written with a fraction
/// (`333.0`): JSON Schema counts it as an integer, and so do JavaScript clients.
pub fn integral<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    use serde::de::Error;
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    if let Some(i) = n.as_i64() {
        return Ok(Some(i));
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 9.0e18 => Ok(Some(f as i64)),
        _ => Err(D::Error::custom(format!(
            "invalid value: {n}, expected an integer"
        ))),
    }
}

/// Flow variables from a JSON object: strings as they are, numbers and booleans as their text;
/// anything else, or text holding NUL, is refused naming `{prefix}.{name}`.
pub fn variables(
    prefix: &str,
    object: serde_json::Map<String, serde_json::Value>,
) -> Result<crate::actions::interpreter::Variables, ApiError> {
    use serde_json::Value;
    let mut vars = crate::actions::interpreter::Variables::new();
    for (name, value) in object {
        let text = match value {
            Value::String(s) => s,
            Value::Number(_) | Value::Bool(_) => value.to_string(),
            _ => {
                return Err(ApiError::invalid_argument(
                    &format!("{prefix}.{name}"),
                    "must be a string, number or boolean",
                ))
            }
        };
        // Variables reach stored text (a webhook body, an answer), which cannot hold NUL.
        if text.contains('\0') || name.contains('\0') {
            return Err(ApiError::invalid_argument(
                &format!("{prefix}.{}", name.replace('\0', "\\0")),
                crate::dialects::inbound::NO_NUL,
            ));
        }
        vars.insert(name, text);
    }
    Ok(vars)
}

/// Reads a body that must be a JSON object into `T`.
pub async fn json_body<T: DeserializeOwned>(
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<T, ApiError> {
    let body = read_body(req, payload).await?;
    parse_object(&body)
}

/// Reads a body that may be empty or `null` (the defaults, `T::default()`), else a JSON
/// object, into `T`.
pub async fn optional_json_body<T: DeserializeOwned + Default>(
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<T, ApiError> {
    let body = read_body(req, payload).await?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    match std::str::from_utf8(&body).map(str::trim) {
        Ok("null") => Ok(T::default()),
        _ => parse_object(&body),
    }
}

/// Parses a JSON object into `T`. serde would also fill a struct from an array of its fields
/// in order (`[null, 5]`); a body is an object or it is refused.
pub fn parse_object<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    check_no_byte_order_mark(body)?;
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|b| *b != b'{') {
        return Err(ApiError::invalid_json("the body must be a JSON object"));
    }
    parse_json(body)
}

pub fn path_id<T: From<Uuid>>(raw: &str) -> Result<T, ApiError> {
    // Only the hyphenated form is an id in the JSON API; other spellings are refused rather
    // than silently accepted.
    if raw.len() != 36 {
        return Err(ApiError::invalid_id(raw));
    }
    Uuid::parse_str(raw)
        .map(T::from)
        .map_err(|_| ApiError::invalid_id(raw))
}

/// A query parameter that must be a UUID when present.
pub fn optional_uuid<T: From<Uuid>>(field: &str, raw: Option<&str>) -> Result<Option<T>, ApiError> {
    match raw {
        None => Ok(None),
        Some(s) => Uuid::parse_str(s)
            .map(|u| Some(T::from(u)))
            .map_err(|_| ApiError::invalid_argument(field, "must be a UUID")),
    }
}

pub fn page_size(raw: Option<&str>) -> Result<usize, ApiError> {
    match raw {
        None => Ok(MAX_PAGE_SIZE),
        Some(s) => match s.parse::<usize>() {
            Ok(n) if (1..=MAX_PAGE_SIZE).contains(&n) => Ok(n),
            _ => Err(ApiError::invalid_argument(
                "page_size",
                format!("must be an integer from 1 to {MAX_PAGE_SIZE}"),
            )),
        },
    }
}

/// A page token of the lists: `""` (no more pages), or the position after the last item,
/// `{tm_create in µs}_{id}`. Any token of this form is a valid position, so a client (or a
/// contract tester) never holds a token the server refuses; the document's pattern says so.
pub fn encode_page_token(c: Option<Cursor>) -> String {
    match c {
        None => String::new(),
        Some(c) => format!("{}_{}", c.tm_create, c.id),
    }
}

pub fn decode_page_token(raw: Option<&str>) -> Result<Option<Cursor>, ApiError> {
    let raw = match raw {
        None | Some("") => return Ok(None),
        Some(r) => r,
    };
    let bad = || ApiError::invalid_argument("page_token", "is not a token this API issued");
    let (tm, id) = match raw.split_once('_') {
        Some(parts) => parts,
        None => return decode_legacy_page_token(raw).map(Some).ok_or_else(bad),
    };
    let tm_create = tm
        .parse::<i64>()
        .ok()
        .filter(|n| *n >= 0 && tm.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(bad)?;
    let id = Uuid::parse_str(id)
        .ok()
        .filter(|_| id.len() == 36)
        .ok_or_else(bad)?;
    Ok(Some(Cursor { tm_create, id }))
}

/// Tokens issued before version 0.2 (base64 of `{tm}:{id}`), so a client paging through a
/// list while the server is upgraded does not fail.
fn decode_legacy_page_token(raw: &str) -> Option<Cursor> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(raw)
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (tm, id) = text.split_once(':')?;
    Some(Cursor {
        tm_create: tm.parse().ok()?,
        id: Uuid::parse_str(id).ok()?,
    })
}

/// Whether the client prefers one of `offered` (the other type an answer can take: CSV, XML)
/// to JSON, by RFC 9110 content negotiation: each type's best `Accept` range (the most
/// specifically named one) is weighed; a tie goes to the range named more specifically, then
/// to the one listed first, then to JSON. JSON's range is `application/json`, else
/// `application/*`, else `*/*`. So an offered type named alone, first, or beside `*/*` wins,
/// `text/csv;q=0.5, application/json` is JSON, `q=0` rules a type out, and no `Accept` is JSON.
pub fn prefers_over_json(req: &actix_web::HttpRequest, offered: &[&str]) -> bool {
    let Some(accept) = req
        .headers()
        .get(actix_web::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    // (weight, specificity, earlier): specificity 2 names the type, 1 its kind
    // (`application/*`), 0 anything; `earlier` is the range's position, negated.
    let none = (0.0_f32, -1_i8, i32::MIN);
    let (mut other, mut json) = (none, none);
    for (at, range) in accept.split(',').enumerate() {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default().to_ascii_lowercase();
        let q = parts
            .find_map(|p| {
                p.strip_prefix("q=")
                    .map(|q| q.parse::<f32>().unwrap_or(0.0))
            })
            .unwrap_or(1.0);
        let earlier = -i32::try_from(at).unwrap_or(i32::MAX);
        let take = |best: &mut (f32, i8, i32), specificity: i8| {
            if specificity > best.1 {
                *best = (q, specificity, earlier);
            }
        };
        match media.as_str() {
            m if offered.contains(&m) => take(&mut other, 2),
            "application/json" => take(&mut json, 2),
            "application/*" => take(&mut json, 1),
            "*/*" => take(&mut json, 0),
            _ => {}
        }
    }
    other.0 > 0.0 && other > json
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn nested(levels: usize) -> String {
        format!("{}{}", "[".repeat(levels), "]".repeat(levels))
    }

    #[test]
    fn accept_is_negotiated_by_weight_specificity_and_order() {
        let xml = &["application/xml", "text/xml"];
        let prefers = |accept: Option<&str>| {
            let mut req = actix_web::test::TestRequest::default();
            if let Some(a) = accept {
                req = req.insert_header(("accept", a));
            }
            prefers_over_json(&req.to_http_request(), xml)
        };
        for (accept, want) in [
            (None, false),
            (Some("application/xml"), true),
            (Some("text/xml; charset=utf-8"), true),
            (Some("application/xml, application/json"), true),
            (Some("application/json, application/xml"), false),
            (Some("application/xml;q=0.5, application/json"), false),
            (Some("application/xml, */*"), true),
            (Some("application/xml;q=0"), false),
            (Some("*/*"), false),
            (Some("application/*, text/xml;q=0.9"), false),
        ] {
            assert_eq!(prefers(accept), want, "{accept:?}");
        }
    }

    #[test]
    fn a_byte_order_mark_is_named() {
        let e = parse_object::<Value>(b"\xEF\xBB\xBF{\"name\":\"a\"}").unwrap_err();
        assert!(e.message.contains("UTF-8 byte order mark"), "{}", e.message);
        let e = parse_json::<Value>(b"\xFF\xFE{\x00}\x00").unwrap_err();
        assert!(
            e.message.contains("UTF-16 byte order mark"),
            "{}",
            e.message
        );
        assert!(parse_object::<Value>(b"{\"name\":\"\xEF\xBB\xBF\"}").is_ok());
    }

    #[test]
    fn one_value_then_only_whitespace() {
        assert!(parse_json::<Value>(b"{\"name\":\"a\"} \n\t ").is_ok());
        for bad in [
            &b"{\"name\":\"a\"}{\"name\":\"b\"} junk"[..],
            b"{\"name\":\"a\"} x",
            b"{} {}",
            b"[] ]",
        ] {
            let e = parse_json::<Value>(bad).unwrap_err();
            assert_eq!((e.status.as_u16(), e.reason), (400, "INVALID_JSON_BODY"));
        }
    }

    #[test]
    fn nesting_of_exactly_128_levels_is_accepted() {
        assert!(parse_json::<Value>(nested(MAX_JSON_DEPTH).as_bytes()).is_ok());
        let e = parse_json::<Value>(nested(MAX_JSON_DEPTH + 1).as_bytes()).unwrap_err();
        assert!(e.message.contains("deeper than 128"), "{}", e.message);
        // Brackets inside strings, escaped quotes included, are not nesting.
        let text = format!(r#"{{"a": "\"{}"}}"#, "[".repeat(500));
        assert_eq!(json_depth(text.as_bytes()), 1);
        assert!(parse_json::<Value>(text.as_bytes()).is_ok());
        let deep_object = format!("{}1{}", r#"{"a":"#.repeat(128), "}".repeat(128));
        assert!(parse_json::<Value>(deep_object.as_bytes()).is_ok());
    }
}
