//! The one way tests post a platform event: to an in-process `TestServer` or to a spawned
//! `confab serve`, signed (or deliberately not) and answered with everything a test checks.

use super::signature::{self, PLATFORM_SECRET, WRONG_SECRET};
use serde_json::{json, Value};
use std::future::{Future, IntoFuture};
use std::pin::Pin;

/// How a posted event is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signing {
    /// Signed now with the platform secret.
    Valid,
    /// No `webhook-*` headers at all.
    None,
    /// Signed now, but by a key confab does not know.
    Wrong,
    /// Signed with the platform secret ten minutes ago (outside the 5-minute tolerance).
    Stale,
}

impl Signing {
    /// The names scenario files use: `valid`, `none`, `wrong`, `stale`.
    pub fn parse(name: &str) -> Option<Signing> {
        match name {
            "valid" => Some(Signing::Valid),
            "none" => Some(Signing::None),
            "wrong" => Some(Signing::Wrong),
            "stale" => Some(Signing::Stale),
            _ => None,
        }
    }
}

/// A platform event about to be posted; `.await` it (or `send()`) for the answer.
pub struct EventPost {
    client: reqwest::Client,
    url: String,
    id: String,
    body: Vec<u8>,
    signing: Signing,
    headers: Vec<(String, String)>,
}

/// What confab answered: status, headers, the raw body (replays are compared byte for byte)
/// and the body parsed as JSON (`Null` when it is not JSON).
#[derive(Debug)]
pub struct EventAnswer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub bytes: Vec<u8>,
    pub json: Value,
}

impl EventAnswer {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }

    /// The `error.reason` of a refusal.
    pub fn reason(&self) -> Option<&str> {
        self.json["error"]["reason"].as_str()
    }
}

impl EventPost {
    /// An event envelope posted as is to `{base}/v1.0/platform/events`. The signature uses
    /// the envelope's `id`, or `event` when it has no string id (malformed-event tests).
    pub fn new(client: &reqwest::Client, base: &str, envelope: &Value) -> EventPost {
        EventPost {
            client: client.clone(),
            url: format!("{base}/v1.0/platform/events"),
            id: envelope["id"].as_str().unwrap_or("event").to_string(),
            body: envelope.to_string().into_bytes(),
            signing: Signing::Valid,
            headers: Vec::new(),
        }
    }

    /// `{"id", "type", "data"}`: the envelope the platform sends.
    pub fn envelope(id: &str, kind: &str, data: Value) -> Value {
        json!({"id": id, "type": kind, "data": data})
    }

    pub fn signing(mut self, signing: Signing) -> EventPost {
        self.signing = signing;
        self
    }

    /// Signs with `webhook-id: id` instead of the envelope's id (one a header cannot carry).
    pub fn signed_as(mut self, id: &str) -> EventPost {
        self.id = id.to_string();
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> EventPost {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Asks for the XML answer.
    pub fn accept_xml(self) -> EventPost {
        self.header("accept", "application/xml")
    }

    /// Posts the event. Owns everything it needs, so it can be spawned (in-flight requests).
    pub async fn send(self) -> EventAnswer {
        let mut req = self
            .client
            .post(&self.url)
            .header("content-type", "application/json");
        for (name, value) in &self.headers {
            req = req.header(name.as_str(), value.as_str());
        }
        let now = signature::unix_now();
        let signed = match self.signing {
            Signing::None => None,
            Signing::Valid => Some((PLATFORM_SECRET, now)),
            Signing::Wrong => Some((WRONG_SECRET, now)),
            Signing::Stale => Some((PLATFORM_SECRET, now - 600)),
        };
        if let Some((secret, ts)) = signed {
            req = req
                .header("webhook-id", &self.id)
                .header("webhook-timestamp", ts.to_string())
                .header(
                    "webhook-signature",
                    signature::sign(secret, &self.id, ts, &self.body),
                );
        }
        let res = req.body(self.body).send().await.expect("event request");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let bytes = res.bytes().await.expect("event answer").to_vec();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        EventAnswer {
            status,
            headers,
            bytes,
            json,
        }
    }
}

impl IntoFuture for EventPost {
    type Output = EventAnswer;
    type IntoFuture = Pin<Box<dyn Future<Output = EventAnswer> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.send())
    }
}
