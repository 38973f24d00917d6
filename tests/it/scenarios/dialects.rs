//! Scenario steps of the platform dialects: a `twiml` step posts a form as Twilio does
//! (signed by twilio-python), a `jambonz` step posts JSON as jambonz does (signed as its
//! feature server signs), `expect.twiml` compares a TwiML answer's shape, and a
//! `platform_api` step checks the REST calls the peer received as the platform's API.

use super::Run;
use crate::support::dialects::{jambonz_sign, twilio_signature, twiml_shape};
use serde_json::{json, Map, Value};

/// The Twilio auth token and jambonz webhook secret a scenario's customers are given in their
/// `PUT /v1.0/customer` (steps may name others with `auth_token` / `webhook_secret`).
pub const SCENARIO_TWILIO_TOKEN: &str = "scenario-twilio-auth-token";
pub const SCENARIO_JAMBONZ_SECRET: &str = "scenario-jambonz-webhook-secret";

impl Run {
    /// The dialect route `/v1.0/{dialect}/{customer}/conferences/{conference}/{leaf}` of a step,
    /// or its `url` when it names the whole URL (one confab handed the platform, such as an
    /// `AnnounceUrl` a `platform_api` step saved).
    fn dialect_url(&self, dialect: &str, step: &Value) -> Result<String, String> {
        if let Some(url) = step.get("url").and_then(Value::as_str) {
            return Ok(url.to_string());
        }
        let who = step["as"].as_str().ok_or("the step needs \"as\"")?;
        let customer = self
            .vars
            .get(&format!("{who}.id"))
            .ok_or(format!("unknown customer {who:?}"))?;
        let conference = step["conference"]
            .as_str()
            .ok_or("the step needs \"conference\"")?;
        let leaf = step["leaf"].as_str().ok_or("the step needs \"leaf\"")?;
        Ok(self.server.url(&format!(
            "/v1.0/{dialect}/{customer}/conferences/{conference}/{leaf}"
        )))
    }

    /// `{"twiml": {"as", "conference", "leaf", "params": {...}, "auth_token"?}}`.
    pub(super) async fn send_twiml(&self, step: &Value) -> Result<(u16, String), String> {
        let url = self.dialect_url("twiml", step)?;
        let params: Vec<(String, String)> = step["params"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
            .collect();
        let pairs: Vec<(&str, &str)> = params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let token = step["auth_token"].as_str().unwrap_or(SCENARIO_TWILIO_TOKEN);
        let signature = twilio_signature(token, &url, &pairs).await;
        let res = self
            .server
            .client
            .post(url)
            .header("X-Twilio-Signature", signature)
            .form(&pairs)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = res.status().as_u16();
        Ok((status, res.text().await.map_err(|e| e.to_string())?))
    }

    /// `{"jambonz": {"as", "conference", "leaf", "body": {...}, "webhook_secret"?}}`.
    pub(super) async fn send_jambonz(&self, step: &Value) -> Result<(u16, String), String> {
        let url = self.dialect_url("jambonz", step)?;
        let body = step["body"].to_string();
        let secret = step["webhook_secret"]
            .as_str()
            .unwrap_or(SCENARIO_JAMBONZ_SECRET);
        let t = crate::support::signature::unix_now();
        let res = self
            .server
            .client
            .post(url)
            .header("content-type", "application/json")
            .header(
                "Jambonz-Signature",
                format!("t={t},v1={}", jambonz_sign(secret, t, &body)),
            )
            .body(body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = res.status().as_u16();
        Ok((status, res.text().await.map_err(|e| e.to_string())?))
    }

    /// `expect.twiml`: the answer's TwiML shape, line for line (see `twiml_shape`).
    pub(super) fn check_twiml(&self, step: &Map<String, Value>, text: &str) -> Result<(), String> {
        let Some(want) = step.get("expect").and_then(|e| e.get("twiml")) else {
            return Ok(());
        };
        // Ids compare as `<uuid>` on both sides: confab makes some (the participant label).
        let want: Vec<String> = super::substitute(want, &self.vars)
            .as_array()
            .ok_or("expect.twiml must be a list of lines")?
            .iter()
            .map(|l| uuids_as_placeholders(l.as_str().unwrap_or_default()))
            .collect();
        let want = json!(want);
        let got = json!(twiml_shape(text)
            .iter()
            .map(|line| uuids_as_placeholders(line))
            .collect::<Vec<_>>());
        if got == want {
            Ok(())
        } else {
            Err(format!("twiml: expected {want:#}, got {got:#}"))
        }
    }

    /// The REST calls the peer received under `prefix` (a platform's `api_url`), in order:
    /// `{"method", "path", "authorization", "body"}` with the body as JSON when it is JSON, as
    /// an object of its fields when it is a form (Twilio's), else as text.
    pub(super) fn platform_calls(&self, prefix: &str) -> Value {
        self.peer
            .arrivals()
            .iter()
            .filter(|a| a.path().starts_with(prefix))
            .map(|a| {
                let form = a
                    .header("content-type")
                    .starts_with("application/x-www-form-urlencoded");
                let body = match a.json() {
                    Value::Null if form => Value::Object(
                        url::form_urlencoded::parse(a.text().as_bytes())
                            .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
                            .collect(),
                    ),
                    Value::Null => Value::String(a.text()),
                    json => json,
                };
                json!({"method": a.method(), "path": a.path(),
                    "authorization": a.header("authorization"), "body": body})
            })
            .collect()
    }
}

/// A line with every UUID written `<uuid>`, so expectations can leave out ids confab makes
/// (a `participantLabel`).
fn uuids_as_placeholders(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while !rest.is_empty() {
        let candidate = rest
            .get(..36)
            .filter(|c| uuid::Uuid::try_parse(c).is_ok() && c.contains('-'));
        match candidate {
            Some(_) => {
                out.push_str("<uuid>");
                rest = &rest[36..];
            }
            None => {
                let mut chars = rest.chars();
                if let Some(c) = chars.next() {
                    out.push(c);
                }
                rest = chars.as_str();
            }
        }
    }
    out
}
