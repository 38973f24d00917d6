//! The XML conference API through the real server: every route, the status model driven by
//! real platform events, the idle and empty rules, onStatus to a real receiver.

mod common;

use common::{eventually, signature_valid, Server, PLATFORM_SECRET};
use serde_json::{json, Value};
use std::time::Duration;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn server(idle: u64) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let mut c = common::test_config(&dir);
    c.platform_secret = Some(PLATFORM_SECRET.into());
    c.webhook_allow_private = true;
    c.idle_timeout = idle;
    Server::start_with(dir, c).await
}

async fn xml(s: &Server, method: &str, path: &str, key: &str, body: &str) -> (u16, String) {
    let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let res = s
        .client
        .request(m, s.url(path))
        .bearer_auth(key)
        .header("content-type", "application/xml")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let st = res.status().as_u16();
    let ct = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let text = res.text().await.unwrap();
    assert!(ct.starts_with("application/xml"), "{ct}: {text}");
    (st, text)
}

/// The text of the first element named `name` (unescaped), parsed with a real XML parser.
fn field(doc: &str, name: &str) -> Option<String> {
    let mut reader = quick_xml::Reader::from_str(doc);
    let mut inside = false;
    let mut out = String::new();
    loop {
        match reader.read_event().expect("well-formed XML") {
            quick_xml::events::Event::Start(e) if e.name().as_ref() == name.as_bytes() => {
                inside = true
            }
            quick_xml::events::Event::Empty(e) if e.name().as_ref() == name.as_bytes() => {
                return Some(String::new())
            }
            quick_xml::events::Event::Text(t) if inside => out.push_str(&t.unescape().unwrap()),
            quick_xml::events::Event::End(e) if inside && e.name().as_ref() == name.as_bytes() => {
                return Some(out)
            }
            quick_xml::events::Event::Eof => return None,
            _ => {}
        }
    }
}

/// A platform event that must be accepted.
async fn event(s: &Server, id: &str, kind: &str, data: Value) {
    assert_eq!(s.event(id, kind, data).await.0, 200);
}

#[tokio::test]
async fn every_route_with_escaping_and_errors() {
    let s = server(600).await;
    let a = s.create_customer("a").await;
    let b = s.create_customer("b").await;
    let acct = a.id.replace('-', "");
    let base = format!("/v1/account/{acct}/conf");
    let user_data = "a < b & \"c\" 会议数据";
    let body = format!("<createConf><appSid>app-1</appSid><userData>{}</userData><ignored><x/></ignored></createConf>", user_data.replace('&', "&amp;").replace('<', "&lt;").replace('"', "&quot;"));
    let (st, doc) = xml(&s, "POST", &base, &a.key, &body).await;
    assert_eq!(st, 200, "{doc}");
    let sid = field(&doc, "sid").unwrap();
    assert_eq!(sid.len(), 32);
    assert_eq!(field(&doc, "accountSid").unwrap(), acct);
    assert_eq!(field(&doc, "appSid").unwrap(), "app-1");
    assert_eq!(field(&doc, "status").unwrap(), "initiated");
    assert_eq!(field(&doc, "userData").unwrap(), user_data);
    assert_eq!(
        (
            field(&doc, "beginTime").unwrap(),
            field(&doc, "endTime").unwrap(),
            field(&doc, "onStatus").unwrap()
        ),
        (String::new(), String::new(), String::new())
    );

    // The same document by hex or hyphenated sid, and with the hyphenated account sid.
    let hyphenated = uuid::Uuid::parse_str(&sid).unwrap().to_string();
    let (st, got) = xml(&s, "GET", &format!("{base}/{sid}"), &a.key, "").await;
    assert_eq!((st, got.clone()), (200, doc.clone()));
    let (st, got2) = xml(
        &s,
        "GET",
        &format!("/v1/account/{}/conf/{hyphenated}", a.id),
        &a.key,
        "",
    )
    .await;
    assert_eq!((st, got2), (200, got));
    // Visible in the JSON API, and a JSON conference is readable here.
    let (st, j) = s
        .call(
            "GET",
            &format!("/v1.0/conferences/{hyphenated}"),
            Some(&a.key),
            None,
        )
        .await;
    assert_eq!((st, j["status"].as_str()), (200, Some("progressing")));
    let (_, jc) = s
        .call(
            "POST",
            "/v1.0/conferences",
            Some(&a.key),
            Some(json!({"name": "json"})),
        )
        .await;
    let (st, d) = xml(
        &s,
        "GET",
        &format!("{base}/{}", jc["id"].as_str().unwrap()),
        &a.key,
        "",
    )
    .await;
    assert_eq!(
        (st, field(&d, "status").unwrap()),
        (200, "initiated".to_string())
    );

    // Participants.
    event(
        &s,
        "p1",
        "call_joining",
        json!({"call_id": "call-1", "conference_id": hyphenated}),
    )
    .await;
    let (st, parts) = xml(&s, "GET", &format!("{base}/{sid}/part"), &a.key, "").await;
    assert_eq!(st, 200);
    assert_eq!(
        (
            field(&parts, "callSid").unwrap(),
            field(&parts, "status").unwrap()
        ),
        ("call-1".into(), "joining".into())
    );
    let (st, e) = xml(
        &s,
        "POST",
        &format!("{base}/{sid}/part/nobody/dispose"),
        &a.key,
        "",
    )
    .await;
    assert_eq!((st, field(&e, "code").unwrap()), (404, "030200".into()));
    let (st, p) = xml(
        &s,
        "POST",
        &format!("{base}/{sid}/part/call-1/dispose"),
        &a.key,
        "",
    )
    .await;
    assert_eq!((st, field(&p, "status").unwrap()), (200, "leaving".into()));

    // Errors.
    for (body, what) in [
        ("<conf><userData>x</conf>", "mismatched"),
        ("<<<", "garbage"),
        (
            &*format!("<c><userData>{}</userData></c>", "x".repeat(129)),
            "long userData",
        ),
        ("<c><onStatus>ftp://x</onStatus></c>", "bad onStatus"),
    ] {
        let (st, e) = xml(&s, "POST", &base, &a.key, body).await;
        assert_eq!(
            (st, field(&e, "code").unwrap()),
            (400, "000001".into()),
            "{what}: {e}"
        );
        assert!(!field(&e, "msg").unwrap().is_empty());
    }
    let (st, e) = xml(&s, "GET", &format!("{base}/{}", "0".repeat(32)), &a.key, "").await;
    assert_eq!((st, field(&e, "code").unwrap()), (404, "030100".into()));
    let (st, e) = xml(&s, "GET", &format!("{base}/not-a-sid"), &a.key, "").await;
    assert_eq!((st, field(&e, "code").unwrap()), (404, "030100".into()));
    let (st, _) = xml(&s, "GET", &format!("{base}/{sid}"), &b.key, "").await;
    assert_eq!(st, 404, "another customer's key on this account");
    let other = format!("/v1/account/{}/conf/{sid}", b.id.replace('-', ""));
    let (st, e) = xml(&s, "GET", &other, &b.key, "").await;
    assert_eq!(
        (st, field(&e, "code").unwrap()),
        (404, "030100".into()),
        "another account's conference"
    );
    let (st, e) = xml(&s, "GET", &format!("{base}/{sid}"), "cfk_wrong", "").await;
    assert_eq!((st, field(&e, "code").unwrap()), (401, "000002".into()));

    // Dispose, then again.
    let (st, d) = xml(&s, "POST", &format!("{base}/{sid}/dispose"), &a.key, "").await;
    assert_eq!(
        (st, field(&d, "status").unwrap()),
        (200, "completed".into())
    );
    let (st, e) = xml(&s, "POST", &format!("{base}/{sid}/dispose"), &a.key, "").await;
    assert_eq!((st, field(&e, "code").unwrap()), (404, "030100".into()));
    let (_, j) = s
        .call(
            "GET",
            &format!("/v1.0/conferences/{hyphenated}"),
            Some(&a.key),
            None,
        )
        .await;
    assert_ne!(j["tm_delete"], "9999-01-01 00:00:00.000000");
}

#[tokio::test]
async fn status_progression_empty_rule_and_on_status_sequence() {
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&receiver)
        .await;
    let s = server(600).await;
    let a = s.create_customer("a").await;
    let base = format!("/v1/account/{}/conf", a.id);
    let (_, doc) = xml(
        &s,
        "POST",
        &base,
        &a.key,
        &format!("<r><onStatus>{}/status</onStatus></r>", receiver.uri()),
    )
    .await;
    let sid = field(&doc, "sid").unwrap();
    let cid = uuid::Uuid::parse_str(&sid).unwrap().to_string();
    let status = || async {
        let (_, d) = xml(&s, "GET", &format!("{base}/{sid}"), &a.key, "").await;
        (
            field(&d, "status").unwrap(),
            field(&d, "beginTime").unwrap(),
            field(&d, "endTime").unwrap(),
        )
    };
    assert_eq!(status().await.0, "initiated");
    event(
        &s,
        "e1",
        "call_joining",
        json!({"call_id": "c1", "conference_id": cid}),
    )
    .await;
    assert_eq!(status().await.0, "ringing");
    event(
        &s,
        "e2",
        "call_joined",
        json!({"call_id": "c1", "conference_id": cid}),
    )
    .await;
    let (st, begin, end) = status().await;
    assert_eq!(
        (st.as_str(), begin.len(), end.as_str()),
        ("running", 19, "")
    );
    event(
        &s,
        "e3",
        "call_joining",
        json!({"call_id": "c2", "conference_id": cid}),
    )
    .await;
    event(
        &s,
        "e4",
        "call_joined",
        json!({"call_id": "c2", "conference_id": cid}),
    )
    .await;
    event(
        &s,
        "e5",
        "call_left",
        json!({"call_id": "c1", "conference_id": cid}),
    )
    .await;
    assert_eq!(status().await.0, "running", "not empty yet");
    event(
        &s,
        "e6",
        "call_left",
        json!({"call_id": "c2", "conference_id": cid}),
    )
    .await;
    let (st, _, end) = status().await;
    assert_eq!(
        (st.as_str(), end.len()),
        ("completed", 19),
        "emptied after having participants"
    );
    let (_, j) = s
        .call(
            "GET",
            &format!("/v1.0/conferences/{cid}"),
            Some(&a.key),
            None,
        )
        .await;
    assert_eq!(j["status"], "terminated");
    assert_ne!(j["tm_delete"], "9999-01-01 00:00:00.000000", "and deleted");

    let got = eventually(Duration::from_secs(5), "three onStatus posts", || async {
        let r = receiver.received_requests().await.unwrap_or_default();
        (r.len() >= 3).then_some(r)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        receiver.received_requests().await.unwrap().len(),
        3,
        "one post per change"
    );
    let statuses: Vec<String> = got
        .iter()
        .map(|r| {
            let body = String::from_utf8(r.body.clone()).unwrap();
            assert!(body.contains("<event><conf>"), "{body}");
            let h = |n: &str| r.headers.get(n).unwrap().to_str().unwrap().to_string();
            assert_eq!(h("content-type"), "application/xml");
            assert!(signature_valid(
                a.json["webhook_secret"].as_str().unwrap(),
                &h("webhook-id"),
                &h("webhook-timestamp"),
                &r.body,
                &h("webhook-signature")
            ));
            assert_eq!(field(&body, "sid").unwrap(), sid);
            field(&body, "status").unwrap()
        })
        .collect();
    assert_eq!(statuses, ["ringing", "running", "completed"]);
}

#[tokio::test]
async fn nobody_joining_within_the_idle_timeout_deletes_the_conference_even_across_a_restart() {
    let s = server(1).await;
    let a = s.create_customer("a").await;
    let base = format!("/v1/account/{}/conf", a.id);
    let (_, doc) = xml(&s, "POST", &base, &a.key, "<conf/>").await;
    let sid = field(&doc, "sid").unwrap();
    let (_, kept) = xml(&s, "POST", &base, &a.key, "<conf/>").await;
    let kept_sid = field(&kept, "sid").unwrap();
    event(&s, "k1", "call_joining", json!({"call_id": "k", "conference_id": uuid::Uuid::parse_str(&kept_sid).unwrap().to_string()})).await;
    event(&s, "k2", "call_joined", json!({"call_id": "k", "conference_id": uuid::Uuid::parse_str(&kept_sid).unwrap().to_string()})).await;
    eventually(Duration::from_secs(5), "idle rule", || async {
        let (_, d) = xml(&s, "GET", &format!("{base}/{sid}"), &a.key, "").await;
        (field(&d, "status").unwrap() == "completed").then_some(())
    })
    .await;
    let (_, d) = xml(&s, "GET", &format!("{base}/{kept_sid}"), &a.key, "").await;
    assert_eq!(
        field(&d, "status").unwrap(),
        "running",
        "a conference someone joined is kept"
    );

    // Durable: an idle deadline that passes while confab is stopped fires at the next start.
    let (_, doc) = xml(&s, "POST", &base, &a.key, "<conf/>").await;
    let sid2 = field(&doc, "sid").unwrap();
    let dir = s.stop().await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let mut c = common::test_config(&dir);
    c.idle_timeout = 1;
    let s = Server::start_with(dir, c).await;
    eventually(
        Duration::from_secs(5),
        "idle rule after restart",
        || async {
            let (_, d) = xml(&s, "GET", &format!("{base}/{sid2}"), &a.key, "").await;
            (field(&d, "status").unwrap() == "completed").then_some(())
        },
    )
    .await;
}
