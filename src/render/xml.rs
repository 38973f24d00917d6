//! XML documents with quick-xml: the platform answer as XML (§5), the XML API's `conf` documents and error documents (§6.2).

use crate::actions::Emitted;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::Writer;
use serde_json::Value;

/// Drops characters XML 1.0 cannot carry at all (most C0 controls, U+FFFE, U+FFFF), so any
/// text, including variables a platform passed in, still renders as a well-formed document.
pub fn xml_safe(s: &str) -> String {
    s.chars()
        .filter(|&c| {
            matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{FFFE}' && c != '\u{FFFF}')
        })
        .collect()
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => xml_safe(s),
        Value::Null => String::new(),
        Value::Array(items) => items.iter().map(scalar_text).collect::<Vec<_>>().join(" "),
        other => other.to_string(),
    }
}

/// Writes an event; writing into a `Vec` cannot fail, so errors are impossible here.
fn put(w: &mut Writer<Vec<u8>>, e: Event<'_>) {
    let _ = w.write_event(e);
}

/// The platform answer as XML: root `<response>` carrying the conferencecall's id and status as
/// attributes, one child element per action named by its type, options as attributes, and a
/// `talk`'s text as element text. Arrays (a `play`'s `stream_urls`) are space-separated.
pub fn platform_answer(answer: &super::EventAnswer) -> String {
    // Only the id and status of the resource are needed here.
    let parse = |raw: &Option<Box<serde_json::value::RawValue>>| {
        raw.as_ref()
            .and_then(|r| serde_json::from_str::<Value>(r.get()).ok())
            .unwrap_or(Value::Null)
    };
    let (call, rec) = (parse(&answer.conferencecall), parse(&answer.recording));
    let mut w = Writer::new(Vec::new());
    put(
        &mut w,
        Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)),
    );
    let mut root = BytesStart::new("response");
    let (call_id, call_status) = (scalar_text(&call["id"]), scalar_text(&call["status"]));
    if call.is_object() {
        root.push_attribute(("conferencecall_id", call_id.as_str()));
        root.push_attribute(("status", call_status.as_str()));
    }
    let (rec_id, rec_status) = (scalar_text(&rec["id"]), scalar_text(&rec["status"]));
    if rec.is_object() {
        root.push_attribute(("recording_id", rec_id.as_str()));
        root.push_attribute(("status", rec_status.as_str()));
    }
    put(&mut w, Event::Start(root));
    for action in answer.actions.iter().flatten() {
        action_element(&mut w, action);
    }
    put(&mut w, Event::End(BytesEnd::new("response")));
    String::from_utf8_lossy(&w.into_inner()).into_owned()
}

/// One action of the XML answer: named by its type, its options as attributes in the order
/// of its JSON form (text safe for XML, numbers in decimal, a `play`'s URLs space-separated),
/// and a `talk`'s text as the element's text.
fn action_element(w: &mut Writer<Vec<u8>>, action: &Emitted) {
    let (attrs, text): (Vec<(&str, String)>, Option<&str>) = match action {
        Emitted::Talk {
            text,
            gender,
            language,
            digits_handle,
        } => {
            let mut attrs = vec![
                ("gender", gender.as_str().to_string()),
                ("language", xml_safe(language)),
            ];
            if !digits_handle.is_empty() {
                attrs.push(("digits_handle", xml_safe(digits_handle)));
            }
            (attrs, Some(text))
        }
        Emitted::Play { stream_urls } => {
            let urls: Vec<String> = stream_urls.iter().map(|u| xml_safe(u)).collect();
            (vec![("stream_urls", urls.join(" "))], None)
        }
        Emitted::Beep {} => (Vec::new(), None),
        Emitted::Sleep { duration_ms } => (vec![("duration", duration_ms.to_string())], None),
        Emitted::Hangup { reason } => (vec![("reason", xml_safe(reason))], None),
        Emitted::DigitsReceive {
            duration_ms,
            key,
            length,
        } => (
            vec![
                ("duration", duration_ms.to_string()),
                ("key", xml_safe(key)),
                ("length", length.to_string()),
            ],
            None,
        ),
        Emitted::ConferenceJoin { conference_id, .. } => {
            let mut attrs = vec![("conference_id", xml_safe(conference_id))];
            if let Some(o) = action.join_options() {
                attrs.push(("role", o.role.as_str().to_string()));
                attrs.push(("muted", o.muted.to_string()));
                attrs.push(("start_on_enter", o.start_on_enter.to_string()));
                attrs.push(("end_on_exit", o.end_on_exit.to_string()));
                attrs.push(("wait_music_url", xml_safe(&o.wait_music_url)));
            }
            (attrs, None)
        }
    };
    let name = action.type_name();
    let mut el = BytesStart::new(name);
    for (k, v) in &attrs {
        el.push_attribute((*k, v.as_str()));
    }
    match text {
        Some(t) => {
            put(w, Event::Start(el));
            put(w, Event::Text(BytesText::new(&xml_safe(t))));
            put(w, Event::End(BytesEnd::new(name)));
        }
        None => put(w, Event::Empty(el)),
    }
}

/// A document of simple elements: `<root><name>text</name>...</root>`, nesting one level per
/// `Node::Element`.
pub enum Node<'a> {
    Text(&'a str, String),
    Element(&'a str, Vec<Node<'a>>),
}

fn write_node(w: &mut Writer<Vec<u8>>, node: &Node<'_>) {
    match node {
        Node::Text(name, text) => {
            if text.is_empty() {
                put(w, Event::Empty(BytesStart::new(*name)));
            } else {
                put(w, Event::Start(BytesStart::new(*name)));
                put(w, Event::Text(BytesText::new(&xml_safe(text))));
                put(w, Event::End(BytesEnd::new(*name)));
            }
        }
        Node::Element(name, children) => {
            put(w, Event::Start(BytesStart::new(*name)));
            for c in children {
                write_node(w, c);
            }
            put(w, Event::End(BytesEnd::new(*name)));
        }
    }
}

/// Renders a document with an XML declaration.
pub fn document(root: &Node<'_>) -> String {
    let mut w = Writer::new(Vec::new());
    put(
        &mut w,
        Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)),
    );
    write_node(&mut w, root);
    String::from_utf8_lossy(&w.into_inner()).into_owned()
}

/// Length of `s` as escaped XML text, at least (what `xml_safe` drops is counted too).
fn xml_text_len(s: &str) -> usize {
    s.chars()
        .map(|c| match c {
            '<' | '>' => 4,
            '&' => 5,
            '\'' | '"' => 6,
            c => c.len_utf8(),
        })
        .sum()
}

/// Upper bound of a `<part>` element besides its `callSid` text; checked by a test below.
const PART_XML_FIXED: usize = 240;

/// A participant as the XML API shows it (§6.2): `<part><sid/><confSid/><callSid/><status/>
/// <createTime/></part>`.
pub fn part_node(c: &crate::domain::conference::Conferencecall) -> Node<'static> {
    Node::Element(
        "part",
        vec![
            Node::Text("sid", hex_id(c.id)),
            Node::Text("confSid", hex_id(c.conference_id)),
            Node::Text("callSid", c.reference_id.clone()),
            Node::Text("status", c.status.as_str().to_string()),
            Node::Text("createTime", c.tm_create.to_seconds_format()),
            // §15: whether the participant is muted or on hold, after the fields the XML
            // API's clients already read.
            Node::Text("muted", c.muted.to_string()),
            Node::Text("hold", c.hold.to_string()),
        ],
    )
}

/// At least the length of `part_node(c)` rendered, without rendering it.
pub fn part_len(c: &crate::domain::conference::Conferencecall) -> usize {
    PART_XML_FIXED + xml_text_len(&c.reference_id)
}

/// A conference as the XML API shows it (§6.2), with its derived status.
pub struct ConfDoc<'a> {
    pub conference: &'a crate::domain::conference::Conference,
    pub status: crate::domain::conference::XmlStatus,
}

/// `sid` and `accountSid` are ids as 32 lowercase hex digits.
pub fn hex_id(id: impl Into<uuid::Uuid>) -> String {
    let id: uuid::Uuid = id.into();
    id.simple().to_string()
}

impl ConfDoc<'_> {
    /// The `<conf>` element: sid, accountSid, appSid, status, beginTime, endTime, userData,
    /// onStatus.
    pub fn node(&self) -> Node<'static> {
        let c = self.conference;
        let time = |t: Option<crate::domain::timestamp::Timestamp>| {
            t.map(|t| t.to_seconds_format()).unwrap_or_default()
        };
        Node::Element(
            "conf",
            vec![
                Node::Text("sid", hex_id(c.id)),
                Node::Text("accountSid", hex_id(c.customer_id)),
                Node::Text("appSid", c.xml.app_sid.clone()),
                Node::Text("status", self.status.as_str().to_string()),
                Node::Text("beginTime", time(c.tm_begin)),
                Node::Text("endTime", time(c.tm_end)),
                Node::Text("userData", c.xml.user_data.clone()),
                Node::Text("onStatus", c.xml.on_status.clone()),
            ],
        )
    }

    /// `<response><conf>…</conf></response>`, the answer of the XML API's routes.
    pub fn response(&self) -> String {
        document(&Node::Element("response", vec![self.node()]))
    }

    /// `<event><conf>…</conf></event>`, the body POSTed to `onStatus`.
    pub fn event(&self) -> String {
        document(&Node::Element("event", vec![self.node()]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The XML form of an answer given as JSON, as the engine would have stored it.
    fn answer_xml(v: &Value) -> String {
        let answer = crate::render::EventAnswer::from_json(&v.to_string()).unwrap();
        platform_answer(&answer)
    }
    use serde_json::json;

    #[test]
    fn escapes_text_and_attributes() {
        let xml = answer_xml(&json!({
            "conferencecall": {"id": "c1", "status": "joining"},
            "actions": [
                {"type": "talk", "option": {"text": "a < b & \"c\" 你好", "gender": "female", "language": "zh-CN"}},
                {"type": "play", "option": {"stream_urls": ["https://x/a.wav?x=1&y=2", "https://x/b.wav"]}},
                {"type": "conference_join", "option": {"conference_id": "k"}}
            ]
        }));
        assert!(
            xml.contains("a &lt; b &amp; &quot;c&quot; 你好")
                || xml.contains("a &lt; b &amp; \"c\" 你好"),
            "{xml}"
        );
        assert!(xml.contains("x=1&amp;y=2"), "{xml}");
        let mut reader = quick_xml::Reader::from_str(&xml);
        let mut names = Vec::new();
        loop {
            match reader.read_event().unwrap() {
                Event::Start(e) | Event::Empty(e) => {
                    names.push(String::from_utf8(e.name().as_ref().to_vec()).unwrap())
                }
                Event::Eof => break,
                _ => {}
            }
        }
        assert_eq!(names, ["response", "talk", "play", "conference_join"]);
        let xml = answer_xml(&json!({"actions": [{"type": "talk",
            "option": {"text": "bell\u{7} ok", "gender": "female", "language": "en-US"}}]}));
        assert!(xml.contains(">bell ok<"), "{xml}");
    }

    #[test]
    fn every_emitted_action_renders_as_an_element_of_its_json_form() {
        use crate::actions::Gender;
        let answer = crate::render::EventAnswer::call(
            &json!({"id": "c1", "status": "joining"}),
            Some(vec![
                Emitted::Talk {
                    text: "Hi & <bye>\u{1}".into(),
                    gender: Gender::Neutral,
                    language: "en-US".into(),
                    digits_handle: "next".into(),
                },
                Emitted::Play {
                    stream_urls: vec!["https://x/a.wav?a=1&b=2".into(), "https://x/b.wav".into()],
                },
                Emitted::Beep {},
                Emitted::Sleep { duration_ms: 1500 },
                Emitted::Hangup {
                    reason: "\"done\"".into(),
                },
                Emitted::ConferenceJoin {
                    conference_id: "k".into(),
                    role: None,
                    muted: None,
                    start_on_enter: None,
                    end_on_exit: None,
                    wait_music_url: None,
                },
            ]),
        );
        assert_eq!(
            platform_answer(&answer),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
             <response conferencecall_id=\"c1\" status=\"joining\">\
             <talk gender=\"neutral\" language=\"en-US\" digits_handle=\"next\">Hi &amp; &lt;bye&gt;</talk>\
             <play stream_urls=\"https://x/a.wav?a=1&amp;b=2 https://x/b.wav\"/>\
             <beep/><sleep duration=\"1500\"/><hangup reason=\"&quot;done&quot;\"/>\
             <conference_join conference_id=\"k\"/></response>"
        );
    }

    #[test]
    fn part_len_bounds_the_rendered_part() {
        use crate::domain::conference::{CallStatus, Conferencecall};
        use crate::domain::timestamp::Timestamp;
        for call_sid in ["", "c1", "a<b>&'\"c\" \u{1} 你好"] {
            let c = Conferencecall {
                id: crate::domain::ConferencecallId::new(),
                customer_id: crate::domain::CustomerId::new(),
                conference_id: crate::domain::ConferenceId::new(),
                reference_id: call_sid.into(),
                status: CallStatus::Joining,
                tm_create: Timestamp(1_700_000_000_000_000),
                tm_update: Timestamp(0),
                tm_delete: None,
                dialect: Default::default(),
                platform_conference: String::new(),
                role: Default::default(),
                muted: false,
                hold: false,
                tm_joined: None,
                tm_left: None,
                leave_reason: String::new(),
                from: String::new(),
                to: String::new(),
            };
            let empty = document(&Node::Element("parts", vec![])).len();
            let actual = document(&Node::Element("parts", vec![part_node(&c)])).len() - empty;
            let estimate = part_len(&c);
            assert!(
                estimate >= actual && estimate - actual <= 64,
                "{estimate} {actual}"
            );
        }
    }
}
