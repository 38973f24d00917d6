//! A confab driven by a platform dialect: the server, a customer whose Twilio or jambonz
//! connection points at a fake platform API (a real local HTTP server), the customer's
//! webhook receiver, one conference, and a poster that signs requests as the platform does
//! (Twilio's with twilio-python's own `RequestValidator`).

use super::{allow_private, tools, Customer, Receiver, Reply, TestServer};
use confab::Config;
use quick_xml::events::Event;
use serde_json::{json, Value};

pub const TWILIO_TOKEN: &str = "12345678901234567890123456789012";
pub const TWILIO_ACCOUNT: &str = "AC0123456789abcdef0123456789abcdef";
pub const JAMBONZ_SECRET: &str = "wh_secret_0123456789abcdef";
pub const JAMBONZ_ACCOUNT: &str = "9351f46a-678c-43f5-b8a6-d4eb58d131af";
pub const JAMBONZ_KEY: &str = "0f7b2e1c-api-key-for-tests-0123456789";

/// One customer's conference driven by a dialect.
pub struct Dialect {
    pub server: TestServer,
    pub customer: Customer,
    /// The fake platform REST API (Twilio's or jambonz's); answers 204 unless told otherwise.
    pub api: Receiver,
    /// The customer's webhook receiver.
    pub hooks: Receiver,
    pub conf: String,
    /// `twiml` or `jambonz`.
    kind: &'static str,
}

impl Dialect {
    /// A server (with `configure` applied after the test defaults) and a customer with a
    /// Twilio connection, and the seed's conference.
    pub async fn twilio(configure: impl FnOnce(&mut Config)) -> Dialect {
        let connection = |api: &Receiver| {
            json!({"twilio": {"account_sid": TWILIO_ACCOUNT, "auth_token": TWILIO_TOKEN,
                "api_url": api.uri()}})
        };
        Dialect::start("twiml", connection, configure).await
    }

    pub async fn jambonz(configure: impl FnOnce(&mut Config)) -> Dialect {
        let connection = |api: &Receiver| {
            json!({"jambonz": {"account_sid": JAMBONZ_ACCOUNT, "api_key": JAMBONZ_KEY,
                "webhook_secret": JAMBONZ_SECRET, "api_url": api.url("/api")}})
        };
        Dialect::start("jambonz", connection, configure).await
    }

    async fn start(
        kind: &'static str,
        connection: impl Fn(&Receiver) -> Value,
        configure: impl FnOnce(&mut Config),
    ) -> Dialect {
        let api = Receiver::answering(Reply::status(204)).await;
        let hooks = Receiver::answering(Reply::status(204)).await;
        let server = TestServer::start_with(|c| {
            allow_private(c);
            configure(c);
        })
        .await;
        let customer = server
            .create_customer_with(kind, &hooks.url("/hooks"))
            .await;
        let (status, body) = server
            .call(
                "PUT",
                "/v1.0/customer",
                Some(&customer.key),
                Some(connection(&api)),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let conf = server
            .create_conference(&customer.key, super::seed_conference_body())
            .await["id"]
            .as_str()
            .expect("conference id")
            .to_string();
        Dialect {
            server,
            customer,
            api,
            hooks,
            conf,
            kind,
        }
    }

    /// A JSON API request as this customer: status and body.
    pub async fn api(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.server
            .call(method, path, Some(&self.customer.key), body)
            .await
    }

    /// The types of the customer's first `n` webhooks, once they have arrived.
    pub async fn webhook_types(&self, n: usize) -> Vec<String> {
        let hooks = self
            .hooks
            .wait_for_total(n, std::time::Duration::from_secs(5))
            .await;
        hooks
            .iter()
            .map(|h| h.json()["type"].as_str().unwrap_or("").to_string())
            .collect()
    }

    /// The path of one of the conference's dialect routes.
    pub fn path(&self, leaf: &str) -> String {
        format!(
            "/v1.0/{}/{}/conferences/{}/{leaf}",
            self.kind, self.customer.id, self.conf
        )
    }

    /// Posts a Twilio form to `leaf`, signed by twilio-python for the URL `signed_url` (the
    /// URL Twilio was given; by default the one requested).
    pub async fn twilio_post(&self, leaf: &str, params: &[(&str, &str)]) -> (u16, String) {
        let url = self.server.url(&self.path(leaf));
        let signature = twilio_signature(TWILIO_TOKEN, &url, params).await;
        self.twilio_post_signed(leaf, params, Some(&signature))
            .await
    }

    /// Posts a Twilio form with the given signature header (none when `None`).
    pub async fn twilio_post_signed(
        &self,
        leaf: &str,
        params: &[(&str, &str)],
        signature: Option<&str>,
    ) -> (u16, String) {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        let mut req = self
            .server
            .client
            .post(self.server.url(&self.path(leaf)))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some(s) = signature {
            req = req.header("X-Twilio-Signature", s);
        }
        let res = req.send().await.expect("twiml request");
        let status = res.status().as_u16();
        let content_type = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let text = res.text().await.expect("twiml answer");
        if status == 200 {
            assert!(content_type.starts_with("text/xml"), "{content_type}");
        }
        (status, text)
    }

    /// Posts a jambonz JSON body to `leaf`, signed as jambonz signs its webhooks.
    pub async fn jambonz_post(&self, leaf: &str, body: &Value) -> (u16, Value) {
        let raw = body.to_string();
        let t = super::signature::unix_now();
        let header = format!("t={t},v1={}", jambonz_sign(JAMBONZ_SECRET, t, &raw));
        self.jambonz_post_signed(leaf, &raw, Some(&header)).await
    }

    pub async fn jambonz_post_signed(
        &self,
        leaf: &str,
        raw: &str,
        header: Option<&str>,
    ) -> (u16, Value) {
        let mut req = self
            .server
            .client
            .post(self.server.url(&self.path(leaf)))
            .header("content-type", "application/json")
            .body(raw.to_string());
        if let Some(h) = header {
            req = req.header("Jambonz-Signature", h);
        }
        let res = req.send().await.expect("jambonz request");
        let status = res.status().as_u16();
        if status == 200 {
            let ct = res
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            assert_eq!(ct, "application/json", "jambonz reads only JSON answers");
        }
        let text = res.text().await.expect("jambonz answer");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
}

/// twilio-python's `RequestValidator.compute_signature` for a request (run in its venv).
pub async fn twilio_signature(token: &str, url: &str, params: &[(&str, &str)]) -> String {
    let params: serde_json::Map<String, Value> = params
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    let args = json!({"cmd": "sign", "auth_token": token, "url": url, "params": params});
    let out = tokio::task::spawn_blocking(move || tools::twilio_tool(args))
        .await
        .expect("twilio tool");
    out["signature"]
        .as_str()
        .expect("twilio tool signature")
        .to_string()
}

/// The TwiML twilio-python's `VoiceResponse` builds from `verbs` (see twilio_tool.py).
pub async fn twilio_twiml(verbs: Value) -> String {
    let out = tokio::task::spawn_blocking(move || {
        tools::twilio_tool(json!({"cmd": "twiml", "verbs": verbs}))
    })
    .await
    .expect("twilio tool");
    out["twiml"].as_str().expect("twiml").to_string()
}

/// One REST request to Twilio, as the tests compare them: method, path (`/2010-04-01/…`),
/// form fields sorted by name (Twilio reads them by name), and `Authorization`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwilioRequest {
    pub method: String,
    pub path: String,
    pub form: Vec<(String, String)>,
    pub authorization: String,
}

impl TwilioRequest {
    /// What the fake Twilio API received (it is the connection's `api_url`, so paths are
    /// Twilio's own).
    pub fn received(arrival: &super::Arrival) -> TwilioRequest {
        let mut form: Vec<(String, String)> =
            url::form_urlencoded::parse(arrival.text().as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
        form.sort();
        TwilioRequest {
            method: arrival.method().to_string(),
            path: arrival.path().to_string(),
            form,
            authorization: arrival.header("authorization"),
        }
    }
}

/// The request twilio-python's REST client makes for `client.<name>(sid)….<action>(**args)`
/// (`resource` is `[[name, sid], …]`) with the tests' account, recorded by a fake HTTP client
/// in twilio_tool.py instead of sent: what Twilio's own library says a call of its API is.
pub async fn twilio_rest(resource: Value, action: &str, args: Value) -> TwilioRequest {
    let req = json!({"cmd": "rest", "account_sid": TWILIO_ACCOUNT, "auth_token": TWILIO_TOKEN,
        "resource": resource, "action": action, "args": args});
    let out = tokio::task::spawn_blocking(move || tools::twilio_tool(req))
        .await
        .expect("twilio tool");
    let text = |v: &Value| v.as_str().expect("twilio tool string").to_string();
    let url = text(&out["url"]);
    let mut form: Vec<(String, String)> = out["form"]
        .as_array()
        .expect("twilio tool form")
        .iter()
        .map(|pair| (text(&pair[0]), text(&pair[1])))
        .collect();
    form.sort();
    let auth = format!("{}:{}", text(&out["auth"][0]), text(&out["auth"][1]));
    use base64::Engine as _;
    TwilioRequest {
        method: text(&out["method"]),
        path: url
            .strip_prefix("https://api.twilio.com")
            .expect("twilio-python's API host")
            .to_string(),
        form,
        authorization: format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(auth)
        ),
    }
}

/// Validates verbs with `@jambonz/verb-specifications`, as jambonz's feature server does.
pub async fn jambonz_valid(verbs: &Value) -> Result<(), String> {
    let verbs = verbs.clone();
    tokio::task::spawn_blocking(move || tools::jambonz_validate(&verbs))
        .await
        .expect("jambonz tool")
}

/// jambonz's webhook signature (hex HMAC-SHA256 of "<t>.<body>"), written here from the
/// jambonz sources so the tests do not use confab's own implementation.
pub fn jambonz_sign(secret: &str, t: i64, body: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("hmac key");
    mac.update(format!("{t}.{body}").as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A TwiML document as comparable lines: each element with its attributes sorted and its
/// text, in document order, indented by depth. Attribute order and the XML declaration,
/// which no TwiML reader cares about, do not count.
pub fn twiml_shape(doc: &str) -> Vec<String> {
    let mut reader = quick_xml::Reader::from_str(doc);
    let mut out = Vec::new();
    let mut depth = 0usize;
    let attrs = |e: &quick_xml::events::BytesStart| {
        let mut a: Vec<String> = e
            .attributes()
            .map(|a| {
                let a = a.expect("attribute");
                format!(
                    "{}={}",
                    String::from_utf8_lossy(a.key.as_ref()),
                    a.unescape_value().expect("value")
                )
            })
            .collect();
        a.sort();
        a.join(" ")
    };
    loop {
        match reader.read_event().expect("well-formed TwiML") {
            Event::Start(e) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                out.push(format!("{}{name} [{}]", "  ".repeat(depth), attrs(&e)));
                depth += 1;
            }
            Event::Empty(e) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                out.push(format!("{}{name} [{}]", "  ".repeat(depth), attrs(&e)));
            }
            Event::Text(t) => {
                let text = t.unescape().expect("text");
                if !text.trim().is_empty() {
                    out.push(format!("{}\"{}\"", "  ".repeat(depth), text));
                }
            }
            Event::End(_) => depth -= 1,
            Event::Eof => break,
            _ => {}
        }
    }
    out
}
