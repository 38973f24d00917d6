//! The XML conference API (§6.2) under `/v1/account/{account_sid}/conf`: XML in, XML out,
//! errors as `<response><error><code/><msg/></error></response>`.

use super::auth::authenticate;
use super::error::ApiError;
use super::input::{decode_page_token, encode_page_token, read_body};
use super::AppState;
use crate::domain::conference::XmlAttributes;
use crate::domain::{ConferenceId, CustomerId};
use crate::render::xml::{document, part_node, ConfDoc, Node};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use quick_xml::events::Event;
use uuid::Uuid;

/// An error of the XML API, rendered as its error document.
#[derive(Debug)]
pub struct XmlError {
    status: StatusCode,
    code: &'static str,
    msg: String,
    /// Seconds to send as `Retry-After` (503 while the store cannot write).
    retry_after: Option<u64>,
}

impl std::fmt::Display for XmlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.code, self.msg)
    }
}

/// Bad parameter (§6.2).
pub const CODE_BAD_PARAMETER: &str = "000001";
/// Missing or wrong API key.
pub const CODE_UNAUTHENTICATED: &str = "000002";
/// The request conflicts with the conference's state.
pub const CODE_STATE: &str = "000003";
/// confab cannot take writes right now (disk full); retry later.
pub const CODE_UNAVAILABLE: &str = "000503";
/// A method the route does not take.
pub const CODE_METHOD_NOT_ALLOWED: &str = "000405";
/// Anything unexpected on confab's side.
pub const CODE_INTERNAL: &str = "000500";
/// The conference does not exist (§6.2).
pub const CODE_NO_CONFERENCE: &str = "030100";
/// The participant does not exist in that conference.
pub const CODE_NO_PARTICIPANT: &str = "030200";

impl XmlError {
    fn bad(msg: impl Into<String>) -> XmlError {
        XmlError {
            status: StatusCode::BAD_REQUEST,
            code: CODE_BAD_PARAMETER,
            msg: msg.into(),
            retry_after: None,
        }
    }

    fn no_conference() -> XmlError {
        XmlError {
            status: StatusCode::NOT_FOUND,
            code: CODE_NO_CONFERENCE,
            msg: "conference does not exist".into(),
            retry_after: None,
        }
    }
}

impl From<ApiError> for XmlError {
    fn from(e: ApiError) -> Self {
        let code = match (e.status.as_u16(), e.reason) {
            (400 | 413, _) => CODE_BAD_PARAMETER,
            (401, _) => CODE_UNAUTHENTICATED,
            (404, "CONFERENCECALL_NOT_FOUND") => CODE_NO_PARTICIPANT,
            (404, _) => CODE_NO_CONFERENCE,
            (409, _) => CODE_STATE,
            (503, _) => CODE_UNAVAILABLE,
            _ => CODE_INTERNAL,
        };
        XmlError {
            status: e.status,
            code,
            msg: e.message,
            retry_after: e.retry_after,
        }
    }
}

impl From<crate::engine::EngineError> for XmlError {
    fn from(e: crate::engine::EngineError) -> Self {
        ApiError::from(e).into()
    }
}

impl ResponseError for XmlError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let doc = document(&Node::Element(
            "response",
            vec![Node::Element(
                "error",
                vec![
                    Node::Text("code", self.code.into()),
                    Node::Text("msg", self.msg.clone()),
                ],
            )],
        ));
        let mut res = xml_response(self.status, doc);
        if let Some(seconds) = self.retry_after {
            if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&seconds.to_string()) {
                res.headers_mut()
                    .insert(actix_web::http::header::RETRY_AFTER, v);
            }
        }
        res
    }
}

/// The `<response><conf>…</conf></response>` answer.
fn conf_answer(
    conf: &crate::domain::conference::Conference,
    status: crate::domain::conference::XmlStatus,
) -> HttpResponse {
    xml_response(
        StatusCode::OK,
        ConfDoc {
            conference: conf,
            status,
        }
        .response(),
    )
}

/// Authenticates, checks the account and parses the conference sid of a path.
async fn conference_path(
    req: &HttpRequest,
    path: (String, String),
) -> Result<(CustomerId, ConferenceId), XmlError> {
    let (account_sid, sid) = path;
    let customer = account(req, &account_sid).await?;
    let id = parse_sid(&sid)
        .map(ConferenceId)
        .ok_or_else(XmlError::no_conference)?;
    Ok((customer, id))
}

fn xml_response(status: StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("application/xml; charset=utf-8")
        .body(body)
}

/// Accepts an id as 32 hex digits or hyphenated.
fn parse_sid(raw: &str) -> Option<Uuid> {
    if raw.len() == 32 || raw.len() == 36 {
        Uuid::parse_str(raw).ok()
    } else {
        None
    }
}

/// Authenticates and checks that `account_sid` is the caller's own customer id.
async fn account(req: &HttpRequest, account_sid: &str) -> Result<CustomerId, XmlError> {
    let tenant = authenticate(req).await?;
    match parse_sid(account_sid).map(CustomerId) {
        Some(id) if id == tenant.0 => Ok(id),
        _ => Err(XmlError {
            status: StatusCode::NOT_FOUND,
            code: CODE_NO_CONFERENCE,
            msg: "account does not exist".into(),
            retry_after: None,
        }),
    }
}

/// The most attributes one element may carry. The create body reads none, so this only bounds
/// what a client can make the parser check; real documents carry a handful.
const MAX_ATTRIBUTES: usize = 64;

/// Refuses an element whose attributes are malformed, repeated (`<conf a="1" a="2">`) or too
/// many. quick-xml only checks attributes when they are read, and its own repeat check compares
/// each attribute with every one before it, which a body of 100,000 attributes turns into
/// seconds of work; a set of the names seen keeps the check linear, and the cap keeps it small.
fn check_attributes(e: &quick_xml::events::BytesStart<'_>) -> Result<(), XmlError> {
    let mut seen = std::collections::HashSet::new();
    for attr in e.attributes().with_checks(false) {
        let attr = attr.map_err(|err| XmlError::bad(format!("malformed XML: {err}")))?;
        if seen.len() >= MAX_ATTRIBUTES {
            return Err(XmlError::bad(format!(
                "malformed XML: an element carries more than {MAX_ATTRIBUTES} attributes"
            )));
        }
        if !seen.insert(attr.key.as_ref().to_vec()) {
            return Err(XmlError::bad(format!(
                "malformed XML: attribute `{}` is repeated",
                String::from_utf8_lossy(attr.key.as_ref())
            )));
        }
    }
    Ok(())
}

/// Refuses a body that is not UTF-8 text: a byte order mark of UTF-16 or UTF-32, or an XML
/// declaration that names another encoding (the bytes would be read as something they are
/// not). A UTF-8 byte order mark is allowed, as XML allows it.
fn check_encoding(body: &[u8]) -> Result<(), XmlError> {
    let utf16_or_32 = [&[0xFF, 0xFE][..], &[0xFE, 0xFF], &[0, 0, 0xFE, 0xFF]];
    if utf16_or_32.iter().any(|bom| body.starts_with(bom)) {
        return Err(XmlError::bad(
            "malformed XML: the body must be UTF-8; it starts with a UTF-16 or UTF-32 byte order mark",
        ));
    }
    std::str::from_utf8(body)
        .map_err(|e| XmlError::bad(format!("malformed XML: the body is not UTF-8 ({e})")))?;
    Ok(())
}

/// Refuses an XML declaration whose `encoding` is not UTF-8 (or its subset US-ASCII).
fn check_declaration(decl: &quick_xml::events::BytesDecl<'_>) -> Result<(), XmlError> {
    let Some(encoding) = decl.encoding() else {
        return Ok(());
    };
    let encoding = encoding.map_err(|e| XmlError::bad(format!("malformed XML: {e}")))?;
    let name = String::from_utf8_lossy(&encoding);
    if name.eq_ignore_ascii_case("utf-8") || name.eq_ignore_ascii_case("us-ascii") {
        return Ok(());
    }
    Err(XmlError::bad(format!(
        "malformed XML: the declaration says encoding=\"{name}\" but the body must be UTF-8"
    )))
}

/// Reads the create body: any root element; `appSid`, `userData` and `onStatus` children are
/// taken, everything else is ignored. An empty body means no parameters.
pub fn parse_create(body: &[u8]) -> Result<XmlAttributes, XmlError> {
    let mut attrs = XmlAttributes::default();
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(attrs);
    }
    check_encoding(body)?;
    let mut reader = quick_xml::Reader::from_reader(body);
    let mut depth = 0usize;
    let mut roots = 0usize;
    let mut field: Option<String> = None;
    let mut text = String::new();
    let malformed = |e: &dyn std::fmt::Display| XmlError::bad(format!("malformed XML: {e}"));
    let mut buf = Vec::new();
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| malformed(&e))?;
        if let Event::Decl(d) = &event {
            check_declaration(d)?;
        }
        if let Event::Start(e) | Event::Empty(e) = &event {
            check_attributes(e)?;
            if depth == 0 {
                roots += 1;
                if roots > 1 {
                    return Err(XmlError::bad("malformed XML: more than one root element"));
                }
            }
        }
        match event {
            Event::Start(e) => {
                depth += 1;
                if depth == 2 {
                    let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                    field = Some(name);
                    text.clear();
                }
            }
            Event::Text(t) if depth == 2 => {
                text.push_str(&t.unescape().map_err(|e| malformed(&e))?);
            }
            Event::Text(t) if depth == 0 => {
                let s = t.unescape().map_err(|e| malformed(&e))?;
                if !s.trim().is_empty() {
                    return Err(XmlError::bad(
                        "malformed XML: text outside the root element",
                    ));
                }
            }
            Event::CData(c) if depth == 2 => {
                text.push_str(
                    &String::from_utf8(c.into_inner().into_owned()).map_err(|e| malformed(&e))?,
                );
            }
            Event::End(_) => {
                if depth == 2 {
                    let value = text.trim().to_string();
                    match field.take().as_deref() {
                        Some("appSid") => attrs.app_sid = value,
                        Some("userData") => attrs.user_data = value,
                        Some("onStatus") => attrs.on_status = value,
                        _ => {}
                    }
                }
                depth = depth.saturating_sub(1);
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if depth != 0 || roots == 0 {
        return Err(XmlError::bad("malformed XML: no complete root element"));
    }
    Ok(attrs)
}

#[utoipa::path(post, path = "/v1/account/{account_sid}/conf", operation_id = "xml_create_conference", tag = "xml",
    params(("account_sid" = String, Path, pattern = "^([0-9a-fA-F]{32}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$", description = "Your customer id, with or without hyphens")),
    request_body(content = crate::http::xml_schema::NewConf, content_type = "application/xml", description = "Optional; an empty body makes a conference with no parameters"),
    responses((status = 200, description = "The conference, `initiated`", body = crate::http::xml_schema::ConfResponse, content_type = "application/xml")))]
pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, XmlError> {
    let customer = account(&req, &path).await?;
    let body = read_body(&req, payload).await?;
    // Parsing a megabyte is milliseconds, but it is CPU work a client chooses: it runs on the
    // blocking pool, not on the workers that answer every other customer's requests.
    let attrs = web::block(move || parse_create(&body))
        .await
        .map_err(|e| XmlError::from(ApiError::internal(&e)))??;
    let (conf, status) = state.engine.create_xml_conference(customer, attrs).await?;
    Ok(conf_answer(&conf, status))
}

#[utoipa::path(get, path = "/v1/account/{account_sid}/conf/{sid}", operation_id = "xml_get_conference", tag = "xml",
    params(("account_sid" = String, Path, pattern = "^([0-9a-fA-F]{32}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$", description = "Your customer id, with or without hyphens"), ("sid" = String, Path, pattern = "^([0-9a-fA-F]{32}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$", description = "The conference id, 32 hex digits (hyphens allowed)")),
    responses((status = 200, description = "The conference", body = crate::http::xml_schema::ConfResponse, content_type = "application/xml")))]
pub async fn get(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, XmlError> {
    let (customer, id) = conference_path(&req, path.into_inner()).await?;
    let (conf, status) = state.engine.xml_conference(customer, id).await?;
    Ok(conf_answer(&conf, status))
}

#[utoipa::path(post, path = "/v1/account/{account_sid}/conf/{sid}/dispose", operation_id = "xml_dispose_conference", tag = "xml",
    params(("account_sid" = String, Path, pattern = "^([0-9a-fA-F]{32}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$", description = "Your customer id, with or without hyphens"), ("sid" = String, Path, pattern = "^([0-9a-fA-F]{32}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$", description = "The conference id, 32 hex digits (hyphens allowed)")),
    responses((status = 200, description = "The conference, `completed`; a second dispose answers 404", body = crate::http::xml_schema::ConfResponse, content_type = "application/xml")))]
pub async fn dispose(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, XmlError> {
    let (customer, id) = conference_path(&req, path.into_inner()).await?;
    let (conf, status) = state.engine.dispose_conference(customer, id).await?;
    Ok(conf_answer(&conf, status))
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PartsQuery {
    /// `nextPageToken` of the document before.
    #[serde(rename = "pageToken")]
    #[param(value_type = Option<String>, pattern = "^(|[0-9]{1,18}_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$")]
    page_token: Option<String>,
}

/// The participants, oldest first. When they pass the page byte budget the document ends with
/// `<nextPageToken>`, which `?pageToken=` continues from; otherwise it has none.
#[utoipa::path(get, path = "/v1/account/{account_sid}/conf/{sid}/part", operation_id = "xml_list_participants", tag = "xml",
    params(("account_sid" = String, Path, pattern = "^([0-9a-fA-F]{32}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$", description = "Your customer id, with or without hyphens"), ("sid" = String, Path, pattern = "^([0-9a-fA-F]{32}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$", description = "The conference id, 32 hex digits (hyphens allowed)"), PartsQuery),
    responses((status = 200, description = "The participants, oldest first", body = crate::http::xml_schema::PartsResponse, content_type = "application/xml")))]
pub async fn parts(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, XmlError> {
    let (customer, id) = conference_path(&req, path.into_inner()).await?;
    // Read here rather than by the extractor, whose errors are the JSON API's envelope.
    let q = web::Query::<PartsQuery>::from_query(req.query_string())
        .map_err(|e| XmlError::bad(format!("query: {e}")))?;
    let cursor = decode_page_token(q.page_token.as_deref())
        .map_err(|_| XmlError::bad("pageToken is not a token this API issued"))?;
    let (page, lease) = state.engine.participants(customer, id, cursor).await?;
    let mut children = vec![Node::Element(
        "parts",
        page.items.iter().map(part_node).collect(),
    )];
    if page.next.is_some() {
        children.push(Node::Text("nextPageToken", encode_page_token(page.next)));
    }
    let doc = document(&Node::Element("response", children));
    Ok(HttpResponse::Ok()
        .content_type("application/xml; charset=utf-8")
        .body(super::conferences::SlicedBody::new(&req, doc.into(), lease)))
}

#[utoipa::path(post, path = "/v1/account/{account_sid}/conf/{sid}/part/{call_sid}/dispose", operation_id = "xml_dispose_participant", tag = "xml",
    params(("account_sid" = String, Path, pattern = "^([0-9a-fA-F]{32}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$", description = "Your customer id, with or without hyphens"), ("sid" = String, Path, pattern = "^([0-9a-fA-F]{32}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$", description = "The conference id, 32 hex digits (hyphens allowed)"), ("call_sid" = String, Path, min_length = 1, max_length = 256, description = "The platform's call id")),
    responses((status = 200, description = "The participant, `leaving` (the platform is told to kick it)", body = crate::http::xml_schema::PartResponse, content_type = "application/xml")))]
pub async fn dispose_part(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, XmlError> {
    let (account_sid, sid, call_sid) = path.into_inner();
    let (customer, id) = conference_path(&req, (account_sid, sid)).await?;
    if call_sid.is_empty() || call_sid.len() > 256 {
        return Err(XmlError::bad("call_sid must be 1 to 256 characters"));
    }
    let call = state
        .engine
        .dispose_participant(customer, id, call_sid)
        .await?;
    let doc = document(&Node::Element("response", vec![part_node(&call)]));
    Ok(xml_response(StatusCode::OK, doc))
}

/// Any other method or path under the XML API.
/// A method the route does not take: 405 with `Allow` (RFC 9110) and the XML error document.
pub fn method_not_allowed(allow: &str) -> HttpResponse {
    let mut res = actix_web::ResponseError::error_response(&XmlError {
        status: StatusCode::METHOD_NOT_ALLOWED,
        code: CODE_METHOD_NOT_ALLOWED,
        msg: format!("this route takes {allow} only"),
        retry_after: None,
    });
    if let Ok(v) = actix_web::http::header::HeaderValue::from_str(allow) {
        res.headers_mut().insert(actix_web::http::header::ALLOW, v);
    }
    res
}

pub async fn not_found() -> Result<HttpResponse, XmlError> {
    Err(XmlError {
        status: StatusCode::NOT_FOUND,
        code: CODE_NO_CONFERENCE,
        msg: "no such resource".into(),
        retry_after: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_root_unknown_children_ignored_and_text_unescaped() {
        let a = parse_create(b"<conf><appSid>app1</appSid><userData>a &lt; b &amp; \xe4\xbd\xa0\xe5\xa5\xbd</userData><color>red</color><onStatus>https://x/cb</onStatus></conf>").unwrap();
        assert_eq!(
            (
                a.app_sid.as_str(),
                a.user_data.as_str(),
                a.on_status.as_str()
            ),
            ("app1", "a < b & 你好", "https://x/cb")
        );
        let a = parse_create(
            b"<?xml version=\"1.0\"?><anything><userData><![CDATA[<raw>]]></userData></anything>",
        )
        .unwrap();
        assert_eq!(a.user_data, "<raw>");
        assert!(parse_create(b"").is_ok());
        for bad in [
            &b"<conf><userData>x</conf>"[..],
            b"<conf>",
            b"not xml",
            b"<a/><b/>",
            b"<conf><userData>&bogus;</userData></conf>",
            b"<conf a=\"1\" a=\"2\"><userData>x</userData></conf>",
            b"<conf><userData lang=\"en\" lang=\"de\">x</userData></conf>",
            b"<conf><appSid x='1' x='1'/></conf>",
            b"<conf a=\"1\" b=\"2\" a=\"3\"/>",
        ] {
            assert!(
                parse_create(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn other_encodings_are_refused_and_utf8_is_named() {
        let utf16_decl =
            b"<?xml version=\"1.0\" encoding=\"UTF-16\"?><conf><userData>u</userData></conf>";
        let e = parse_create(utf16_decl).unwrap_err();
        assert!(e.msg.contains("encoding=\"UTF-16\""), "{}", e.msg);
        for ok in [
            &b"<?xml version=\"1.0\" encoding=\"utf-8\"?><conf/>"[..],
            b"<?xml version=\"1.0\" encoding=\"US-ASCII\"?><conf/>",
            b"\xEF\xBB\xBF<conf/>",
        ] {
            assert!(parse_create(ok).is_ok(), "{}", String::from_utf8_lossy(ok));
        }
        let e = parse_create(b"\xFF\xFE<\x00c\x00/\x00>\x00").unwrap_err();
        assert!(e.msg.contains("must be UTF-8"), "{}", e.msg);
        let e = parse_create(b"<conf><userData>\xFF</userData></conf>").unwrap_err();
        assert!(e.msg.contains("not UTF-8"), "{}", e.msg);
    }

    #[test]
    fn many_attributes_are_refused_after_the_cap_without_quadratic_work() {
        let attrs = |n: usize| {
            let list: Vec<String> = (0..n).map(|i| format!("a{i:x}=\"1\"")).collect();
            format!("<conf {}><appSid>x</appSid></conf>", list.join(" "))
        };
        assert!(parse_create(attrs(MAX_ATTRIBUTES).as_bytes()).is_ok());
        let e = parse_create(attrs(MAX_ATTRIBUTES + 1).as_bytes()).unwrap_err();
        assert!(e.msg.contains("more than 64 attributes"), "{}", e.msg);
        let e = parse_create(attrs(100_000).as_bytes()).unwrap_err();
        assert_eq!(e.code, CODE_BAD_PARAMETER);
        let ns: Vec<String> = (0..100_000)
            .map(|i| format!("xmlns:n{i}=\"u{i}\""))
            .collect();
        let body = format!("<conf {}/>", ns.join(" "));
        assert!(parse_create(body.as_bytes()).is_err());
    }

    #[test]
    fn duplicate_attributes_are_a_bad_parameter() {
        let ok = parse_create(b"<conf a=\"1\" b=\"2\"><userData x=\"1\">u</userData></conf>");
        assert_eq!(ok.unwrap().user_data, "u");
        let e = parse_create(b"<conf a=\"1\" a=\"2\"/>").unwrap_err();
        assert_eq!((e.status.as_u16(), e.code), (400, CODE_BAD_PARAMETER));
        assert!(e.msg.contains("malformed XML"), "{}", e.msg);
    }
}
