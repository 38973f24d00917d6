//! The XML API's documents (§6.2) as the OpenAPI document describes them: element names and
//! order as `render::xml` writes them and `xml_api::parse_create` reads them. A test renders a
//! real conference and checks its elements against these.

use utoipa::ToSchema;

/// A new conference: any root element; these children are read, others ignored. An empty
/// body means none.
#[derive(ToSchema)]
#[schema(as = XmlNewConference, xml(name = "conf"))]
#[allow(dead_code)]
pub struct NewConf {
    /// The customer's application id, kept and shown as given.
    #[schema(rename = "appSid", max_length = 128)]
    app_sid: Option<String>,
    /// Kept and shown as given.
    #[schema(rename = "userData", max_length = 128)]
    user_data: Option<String>,
    /// An http(s) URL that gets `<event><conf>…</conf></event>` on every status change.
    #[schema(rename = "onStatus", pattern = "^https?://")]
    on_status: Option<String>,
}

/// The status of a conference made here: `initiated` (nobody has joined or is joining),
/// `ringing` (a call is joining), `running` (a call has joined), `completed`.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum XmlStatus {
    Initiated,
    Ringing,
    Running,
    Completed,
}

/// A conference: `sid` and `accountSid` are ids as 32 lowercase hex digits; times are
/// `YYYY-MM-DD HH:MM:SS`, empty when unset.
#[derive(ToSchema)]
#[schema(as = XmlConf, xml(name = "conf"))]
#[allow(dead_code)]
pub struct Conf {
    #[schema(pattern = "^[0-9a-f]{32}$")]
    sid: String,
    #[schema(rename = "accountSid", pattern = "^[0-9a-f]{32}$")]
    account_sid: String,
    #[schema(rename = "appSid")]
    app_sid: String,
    #[schema(inline)]
    status: XmlStatus,
    #[schema(
        rename = "beginTime",
        pattern = "^(|\\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2}:\\d{2})$"
    )]
    begin_time: String,
    #[schema(
        rename = "endTime",
        pattern = "^(|\\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2}:\\d{2})$"
    )]
    end_time: String,
    #[schema(rename = "userData")]
    user_data: String,
    #[schema(rename = "onStatus")]
    on_status: String,
}

/// `<response><conf>…</conf></response>`.
#[derive(ToSchema)]
#[schema(as = XmlConfResponse, xml(name = "response"))]
#[allow(dead_code)]
pub struct ConfResponse {
    conf: Conf,
}

/// A participant: `sid` is its conferencecall id, `callSid` the platform's call id.
#[derive(ToSchema)]
#[schema(as = XmlPart, xml(name = "part"))]
#[allow(dead_code)]
pub struct Part {
    #[schema(pattern = "^[0-9a-f]{32}$")]
    sid: String,
    #[schema(rename = "confSid", pattern = "^[0-9a-f]{32}$")]
    conf_sid: String,
    #[schema(rename = "callSid")]
    call_sid: String,
    #[schema(value_type = crate::domain::conference::CallStatus)]
    status: String,
    #[schema(rename = "createTime")]
    create_time: String,
    /// `true` while muted (§15).
    muted: bool,
    /// `true` while on hold (§15).
    hold: bool,
}

/// `<response><parts><part>…</part>…</parts><nextPageToken/>?</response>`: oldest first; a
/// `nextPageToken` when the list goes on (`?pageToken=` continues).
#[derive(ToSchema)]
#[schema(as = XmlPartsResponse, xml(name = "response"))]
#[allow(dead_code)]
pub struct PartsResponse {
    #[schema(xml(wrapped(name = "parts"), name = "part"))]
    parts: Vec<Part>,
    #[schema(rename = "nextPageToken")]
    next_page_token: Option<String>,
}

/// `<response><part>…</part></response>`.
#[derive(ToSchema)]
#[schema(as = XmlPartResponse, xml(name = "response"))]
#[allow(dead_code)]
pub struct PartResponse {
    part: Part,
}

/// What went wrong: `000001` bad parameter, `000002` no valid key, `000003` the state does
/// not allow it, `000405` method, `000503` cannot write now, `030100` no such conference,
/// `030200` no such participant.
#[derive(ToSchema)]
#[schema(as = XmlErrorDetail, xml(name = "error"))]
#[allow(dead_code)]
pub struct ErrorDetail {
    #[schema(pattern = "^[0-9]{6}$")]
    code: String,
    msg: String,
}

/// `<response><error><code/><msg/></error></response>`.
#[derive(ToSchema)]
#[schema(as = XmlErrorResponse, xml(name = "response"))]
#[allow(dead_code)]
pub struct ErrorResponse {
    error: ErrorDetail,
}
