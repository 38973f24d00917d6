//! The XML conference API through the real server: every route, the status model driven by
//! real platform events, the idle and empty rules, onStatus to a real receiver.

use crate::support::{allow_private, field, poll_until, signed, Receiver, TestServer};
use confab::Config;
use serde_json::{json, Value};
use std::time::Duration;

/// Signed events, onStatus to loopback receivers, and the given idle timeout.
fn with_idle(idle: u64) -> impl FnOnce(&mut Config) {
    move |c| {
        signed(c);
        allow_private(c);
        c.idle_timeout = idle;
    }
}

async fn xml(s: &TestServer, method: &str, path: &str, key: &str, body: &str) -> (u16, String) {
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

/// A platform event that must be accepted.
async fn event(s: &TestServer, id: &str, kind: &str, data: Value) {
    assert_eq!(s.event(id, kind, data).await.status, 200);
}

/// The XML API of one account as one customer: `{base}` is `/v1/account/{sid}/conf`.
struct Account<'a> {
    s: &'a TestServer,
    key: &'a str,
    base: String,
}

impl<'a> Account<'a> {
    fn new(s: &'a TestServer, key: &'a str, account_sid: &str) -> Account<'a> {
        let base = format!("/v1/account/{account_sid}/conf");
        Account { s, key, base }
    }

    async fn get(&self, rest: &str) -> (u16, String) {
        xml(self.s, "GET", &format!("{}{rest}", self.base), self.key, "").await
    }

    async fn post(&self, rest: &str, body: &str) -> (u16, String) {
        xml(
            self.s,
            "POST",
            &format!("{}{rest}", self.base),
            self.key,
            body,
        )
        .await
    }

    /// The conference's `<status>` now.
    async fn status(&self, sid: &str) -> String {
        let (_, d) = self.get(&format!("/{sid}")).await;
        field(&d, "status").unwrap()
    }
}

/// The JSON API's view of a conference.
async fn json_view(s: &TestServer, key: &str, id: &str) -> (u16, Value) {
    let path = format!("/v1.0/conferences/{id}");
    s.call("GET", &path, Some(key), None).await
}

#[tokio::test]
async fn every_route_with_escaping_and_errors() {
    let s = TestServer::start_with(with_idle(600)).await;
    let a = s.create_customer("a").await;
    let b = s.create_customer("b").await;
    let acct = a.id.replace('-', "");
    let account = Account::new(&s, &a.key, &acct);
    let sid = create_and_read(&account, &a.id).await;
    let hyphenated = uuid::Uuid::parse_str(&sid).unwrap().to_string();

    // Participants.
    event(
        &s,
        "p1",
        "call_joining",
        json!({"call_id": "call-1", "conference_id": hyphenated}),
    )
    .await;
    let (st, parts) = account.get(&format!("/{sid}/part")).await;
    assert_eq!(st, 200);
    assert_eq!(
        (
            field(&parts, "callSid").unwrap(),
            field(&parts, "status").unwrap()
        ),
        ("call-1".into(), "joining".into())
    );
    let (st, e) = account
        .post(&format!("/{sid}/part/nobody/dispose"), "")
        .await;
    assert_eq!((st, field(&e, "code").unwrap()), (404, "030200".into()));
    let (st, p) = account
        .post(&format!("/{sid}/part/call-1/dispose"), "")
        .await;
    assert_eq!((st, field(&p, "status").unwrap()), (200, "leaving".into()));

    errors(&account, &sid, &b).await;

    // Dispose, then again.
    let (st, d) = account.post(&format!("/{sid}/dispose"), "").await;
    assert_eq!(
        (st, field(&d, "status").unwrap()),
        (200, "completed".into())
    );
    let (st, e) = account.post(&format!("/{sid}/dispose"), "").await;
    assert_eq!((st, field(&e, "code").unwrap()), (404, "030100".into()));
    let (_, j) = json_view(&s, &a.key, &hyphenated).await;
    assert_ne!(j["tm_delete"], "9999-01-01 00:00:00.000000");
}

/// Creates a conference with escaped text and reads it back every way; returns its sid.
async fn create_and_read(account: &Account<'_>, customer_id: &str) -> String {
    let (s, key) = (account.s, account.key);
    let user_data = "a < b & \"c\" 会议数据";
    let escaped = user_data
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('"', "&quot;");
    let body = format!("<createConf><appSid>app-1</appSid><userData>{escaped}</userData><ignored><x/></ignored></createConf>");
    let (st, doc) = account.post("", &body).await;
    assert_eq!(st, 200, "{doc}");
    let sid = field(&doc, "sid").unwrap();
    assert_eq!(sid.len(), 32);
    assert_eq!(
        field(&doc, "accountSid").unwrap(),
        customer_id.replace('-', "")
    );
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
    let (st, got) = account.get(&format!("/{sid}")).await;
    assert_eq!((st, got.clone()), (200, doc.clone()));
    let by_uuid = Account::new(s, key, customer_id);
    let (st, got2) = by_uuid.get(&format!("/{hyphenated}")).await;
    assert_eq!((st, got2), (200, got));
    // Visible in the JSON API, and a JSON conference is readable here.
    let (st, j) = json_view(s, key, &hyphenated).await;
    assert_eq!((st, j["status"].as_str()), (200, Some("progressing")));
    let (_, jc) = s
        .call(
            "POST",
            "/v1.0/conferences",
            Some(key),
            Some(json!({"name": "json"})),
        )
        .await;
    let (st, d) = account
        .get(&format!("/{}", jc["id"].as_str().unwrap()))
        .await;
    assert_eq!(
        (st, field(&d, "status").unwrap()),
        (200, "initiated".to_string())
    );
    sid
}

/// Bad bodies, unknown sids, other customers and bad keys get the XML error envelope.
async fn errors(account: &Account<'_>, sid: &str, b: &crate::support::Customer) {
    for (body, what) in [
        ("<conf><userData>x</conf>", "mismatched"),
        ("<<<", "garbage"),
        (
            &*format!("<c><userData>{}</userData></c>", "x".repeat(129)),
            "long userData",
        ),
        ("<c><onStatus>ftp://x</onStatus></c>", "bad onStatus"),
    ] {
        let (st, e) = account.post("", body).await;
        assert_eq!(
            (st, field(&e, "code").unwrap()),
            (400, "000001".into()),
            "{what}: {e}"
        );
        assert!(!field(&e, "msg").unwrap().is_empty());
    }
    let (st, e) = account.get(&format!("/{}", "0".repeat(32))).await;
    assert_eq!((st, field(&e, "code").unwrap()), (404, "030100".into()));
    let (st, e) = account.get("/not-a-sid").await;
    assert_eq!((st, field(&e, "code").unwrap()), (404, "030100".into()));
    let as_b = Account {
        key: &b.key,
        base: account.base.clone(),
        ..*account
    };
    let (st, _) = as_b.get(&format!("/{sid}")).await;
    assert_eq!(st, 404, "another customer's key on this account");
    let b_account = Account::new(account.s, &b.key, &b.id.replace('-', ""));
    let (st, e) = b_account.get(&format!("/{sid}")).await;
    assert_eq!(
        (st, field(&e, "code").unwrap()),
        (404, "030100".into()),
        "another account's conference"
    );
    let wrong_key = Account {
        key: "cfk_wrong",
        base: account.base.clone(),
        ..*account
    };
    let (st, e) = wrong_key.get(&format!("/{sid}")).await;
    assert_eq!((st, field(&e, "code").unwrap()), (401, "000002".into()));
}

#[tokio::test]
async fn status_progression_empty_rule_and_on_status_sequence() {
    let receiver = Receiver::start().await;
    let s = TestServer::start_with(with_idle(600)).await;
    let a = s.create_customer("a").await;
    let account = Account::new(&s, &a.key, &a.id);
    let body = format!("<r><onStatus>{}</onStatus></r>", receiver.url("/status"));
    let (_, doc) = account.post("", &body).await;
    let sid = field(&doc, "sid").unwrap();
    let cid = uuid::Uuid::parse_str(&sid).unwrap().to_string();
    let times = || async {
        let (_, d) = account.get(&format!("/{sid}")).await;
        (
            field(&d, "status").unwrap(),
            field(&d, "beginTime").unwrap(),
            field(&d, "endTime").unwrap(),
        )
    };
    let call = |id: &str| json!({"call_id": id, "conference_id": cid});
    assert_eq!(account.status(&sid).await, "initiated");
    event(&s, "e1", "call_joining", call("c1")).await;
    assert_eq!(account.status(&sid).await, "ringing");
    event(&s, "e2", "call_joined", call("c1")).await;
    let (st, begin, end) = times().await;
    assert_eq!(
        (st.as_str(), begin.len(), end.as_str()),
        ("running", 19, "")
    );
    event(&s, "e3", "call_joining", call("c2")).await;
    event(&s, "e4", "call_joined", call("c2")).await;
    event(&s, "e5", "call_left", call("c1")).await;
    assert_eq!(account.status(&sid).await, "running", "not empty yet");
    event(&s, "e6", "call_left", call("c2")).await;
    let (st, _, end) = times().await;
    assert_eq!(
        (st.as_str(), end.len()),
        ("completed", 19),
        "emptied after having participants"
    );
    let (_, j) = json_view(&s, &a.key, &cid).await;
    assert_eq!(j["status"], "terminated");
    assert_ne!(j["tm_delete"], "9999-01-01 00:00:00.000000", "and deleted");
    on_status_posts_each_change(&receiver, &a.secret, &sid).await;
}

/// One signed `<event><conf>` post per change, in order.
async fn on_status_posts_each_change(receiver: &Receiver, secret: &str, sid: &str) {
    let got = receiver.wait_for_total(3, Duration::from_secs(5)).await;
    receiver
        .assert_stays_at(3, Duration::from_millis(300), "one post per change")
        .await;
    let statuses: Vec<String> = got
        .iter()
        .map(|r| {
            let body = r.text();
            assert!(body.contains("<event><conf>"), "{body}");
            assert_eq!(r.header("content-type"), "application/xml");
            assert!(r.signed_by(secret));
            assert_eq!(field(&body, "sid").unwrap(), sid);
            field(&body, "status").unwrap()
        })
        .collect();
    assert_eq!(statuses, ["ringing", "running", "completed"]);
}

#[tokio::test]
async fn nobody_joining_within_the_idle_timeout_deletes_the_conference_even_across_a_restart() {
    let s = TestServer::start_with(with_idle(1)).await;
    let a = s.create_customer("a").await;
    let account = Account::new(&s, &a.key, &a.id);
    let (_, doc) = account.post("", "<conf/>").await;
    let sid = field(&doc, "sid").unwrap();
    let (_, kept) = account.post("", "<conf/>").await;
    let kept_sid = field(&kept, "sid").unwrap();
    let kept_id = uuid::Uuid::parse_str(&kept_sid).unwrap().to_string();
    event(
        &s,
        "k1",
        "call_joining",
        json!({"call_id": "k", "conference_id": kept_id}),
    )
    .await;
    event(
        &s,
        "k2",
        "call_joined",
        json!({"call_id": "k", "conference_id": kept_id}),
    )
    .await;
    // The idle timeout (1 s) passes on confab's clock.
    s.advance(Duration::from_secs(1));
    wait_completed(&account, &sid, "idle rule").await;
    assert_eq!(
        account.status(&kept_sid).await,
        "running",
        "a conference someone joined is kept"
    );

    // Durable: an idle deadline that passes while confab is stopped fires at the next start.
    let (_, doc) = account.post("", "<conf/>").await;
    let sid2 = field(&doc, "sid").unwrap();
    let stopped = s.stop().await;
    stopped.clock.advance(Duration::from_millis(1200));
    let s = stopped.start_with(|c| c.idle_timeout = 1).await;
    let account = Account::new(&s, &a.key, &a.id);
    wait_completed(&account, &sid2, "idle rule after restart").await;
}

/// Waits (polling: nothing announces a fired deadline) until a conference is `completed`.
async fn wait_completed(account: &Account<'_>, sid: &str, what: &str) {
    poll_until(Duration::from_secs(10), what, || async {
        (account.status(sid).await == "completed").then_some(())
    })
    .await;
}
