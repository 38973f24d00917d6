//! Runs every data file in `tests/scenarios/`: each a sequence of API calls and platform events
//! with the expected answers, against a fresh real server. See tests/scenarios/README.md.

mod common;

use common::Server;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use wiremock::{Mock, MockServer, ResponseTemplate};

struct Run {
    server: Server,
    vars: HashMap<String, String>,
    keys: HashMap<String, String>,
    secrets: HashMap<String, String>,
    /// Plays the telephony platform (`/commands`) and every customer's webhook receiver
    /// (`/hooks/{customer}`).
    peer: MockServer,
}

/// Replaces `${name}` with saved variables everywhere in a JSON value.
fn substitute(v: &Value, vars: &HashMap<String, String>) -> Value {
    match v {
        Value::String(s) => Value::String(substitute_str(s, vars)),
        Value::Array(a) => Value::Array(a.iter().map(|x| substitute(x, vars)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| (substitute_str(k, vars), substitute(x, vars)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn substitute_str(s: &str, vars: &HashMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        match rest[start + 2..].find('}') {
            Some(end) => {
                let name = &rest[start + 2..start + 2 + end];
                // Names the scenario never saved are left as written: they are the flow's own
                // variables (`${call.from}`), substituted by confab, not by the runner.
                match vars.get(name) {
                    Some(v) => out.push_str(v),
                    None => out.push_str(&rest[start..start + 3 + end]),
                }
                rest = &rest[start + 3 + end..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// `expected` matches `actual` when every key of an expected object matches, arrays match
/// element by element with equal length, and scalars are equal. Strings `<any>`, `<uuid>`,
/// `<timestamp>`, `<absent>` are matchers.
fn matches(expected: &Value, actual: Option<&Value>, path: &str) -> Result<(), String> {
    if expected == "<absent>" {
        return match actual {
            None => Ok(()),
            Some(a) => Err(format!("{path}: expected no field, got {a}")),
        };
    }
    let Some(actual) = actual else {
        return Err(format!("{path}: missing, expected {expected}"));
    };
    match expected {
        Value::String(s) if s == "<any>" => Ok(()),
        Value::String(s) if s == "<uuid>" => match actual.as_str().map(uuid::Uuid::parse_str) {
            Some(Ok(_)) => Ok(()),
            _ => Err(format!("{path}: expected a UUID, got {actual}")),
        },
        Value::String(s) if s == "<timestamp>" => match actual.as_str() {
            Some(t) if t.len() == 26 && &t[10..11] == " " && &t[19..20] == "." => Ok(()),
            _ => Err(format!("{path}: expected a timestamp, got {actual}")),
        },
        Value::Object(eo) => {
            let ao = actual
                .as_object()
                .ok_or_else(|| format!("{path}: expected an object, got {actual}"))?;
            for (k, ev) in eo {
                matches(ev, ao.get(k), &format!("{path}.{k}"))?;
            }
            Ok(())
        }
        Value::Array(ea) => {
            let aa = actual
                .as_array()
                .ok_or_else(|| format!("{path}: expected an array, got {actual}"))?;
            if ea.len() != aa.len() {
                return Err(format!(
                    "{path}: expected {} items, got {}: {actual}",
                    ea.len(),
                    aa.len()
                ));
            }
            for (i, (e, a)) in ea.iter().zip(aa).enumerate() {
                matches(e, Some(a), &format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        Value::String(s) if s.starts_with("<contains:") && s.ends_with('>') => {
            let needle = &s[10..s.len() - 1];
            match actual.as_str() {
                Some(a) if a.contains(needle) => Ok(()),
                _ => Err(format!(
                    "{path}: expected text containing {needle:?}, got {actual}"
                )),
            }
        }
        _ if expected == actual => Ok(()),
        _ => Err(format!("{path}: expected {expected}, got {actual}")),
    }
}

/// Follows a dot path (`result.0.id`) into a value.
fn lookup<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .filter(|p| !p.is_empty())
        .try_fold(v, |cur, part| match cur {
            Value::Array(a) => part.parse::<usize>().ok().and_then(|i| a.get(i)),
            Value::Object(o) => o.get(part),
            _ => None,
        })
}

impl Run {
    /// Checks what the peer received at `path` so far: exactly `expected.len()` JSON bodies,
    /// each matching its expectation, in order. Signatures are verified on the way.
    async fn received(&self, path: &str, secret: &str, expected: &Value) -> Result<(), String> {
        let expected = expected
            .as_array()
            .ok_or("the expectation must be a list")?;
        let got: Vec<Value> = self
            .peer
            .received_requests()
            .await
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.url.path() == path)
            .map(|r| {
                let h = |n: &str| {
                    r.headers
                        .get(n)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string()
                };
                let signed = common::signature_valid(
                    secret,
                    &h("webhook-id"),
                    &h("webhook-timestamp"),
                    &r.body,
                    &h("webhook-signature"),
                );
                let body: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
                if signed {
                    body
                } else {
                    serde_json::json!({"unsigned": body})
                }
            })
            .collect();
        matches(
            &Value::Array(expected.clone()),
            Some(&Value::Array(got)),
            path,
        )
    }

    async fn step(&mut self, step: &Map<String, Value>) -> Result<(), String> {
        if let Some(who) = step.get("webhooks").and_then(Value::as_str) {
            let secret = self
                .secrets
                .get(who)
                .cloned()
                .ok_or(format!("unknown customer {who:?}"))?;
            let expected = substitute(step.get("expect").unwrap_or(&Value::Null), &self.vars);
            return self
                .received(&format!("/hooks/{who}"), &secret, &expected)
                .await;
        }
        if let Some(path) = step.get("xml_posts").and_then(Value::as_str) {
            // XML status posts (onStatus): the <status> of each, in order, each signed by one
            // of the scenario's customers.
            let got: Vec<String> = self
                .peer
                .received_requests()
                .await
                .unwrap_or_default()
                .into_iter()
                .filter(|r| r.url.path() == path)
                .map(|r| {
                    let h = |n: &str| {
                        r.headers
                            .get(n)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_string()
                    };
                    let signed = self.secrets.values().any(|s| {
                        common::signature_valid(
                            s,
                            &h("webhook-id"),
                            &h("webhook-timestamp"),
                            &r.body,
                            &h("webhook-signature"),
                        )
                    });
                    let status = xml_element(&String::from_utf8_lossy(&r.body), "status")
                        .unwrap_or_default();
                    if signed {
                        status
                    } else {
                        format!("unsigned {status}")
                    }
                })
                .collect();
            let expected = substitute(step.get("expect").unwrap_or(&Value::Null), &self.vars);
            return matches(&expected, Some(&serde_json::json!(got)), path);
        }
        if let Some(expected) = step.get("commands") {
            let expected = substitute(expected, &self.vars);
            return self
                .received("/commands", common::PLATFORM_SECRET, &expected)
                .await;
        }
        let request = if let Some(r) = step.get("request") {
            substitute(r, &self.vars)
        } else if let Some(e) = step.get("event") {
            let mut r =
                serde_json::json!({"method": "POST", "path": "/v1.0/platform/events", "body": e});
            if let Some(h) = step.get("headers") {
                r["headers"] = h.clone();
            }
            if let Some(s) = step.get("signature") {
                r["signature"] = s.clone();
            }
            substitute(&r, &self.vars)
        } else {
            return Err("a step needs \"request\" or \"event\"".into());
        };
        let method = request["method"].as_str().unwrap_or("GET");
        let path = request["path"].as_str().ok_or("request.path is required")?;
        let mut req = self.server.client.request(
            reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?,
            self.server.url(path),
        );
        if let Some(who) = request.get("as").and_then(Value::as_str) {
            let key = if who == "admin" {
                common::ADMIN_TOKEN.to_string()
            } else {
                self.keys
                    .get(who)
                    .cloned()
                    .ok_or(format!("unknown customer {who:?}"))?
            };
            req = req.bearer_auth(key);
        }
        if let Some(h) = request.get("headers").and_then(Value::as_object) {
            for (k, v) in h {
                req = req.header(k.as_str(), v.as_str().unwrap_or_default());
            }
        }
        let body: Option<Vec<u8>> =
            if let Some(raw) = request.get("raw_body").and_then(Value::as_str) {
                Some(raw.as_bytes().to_vec())
            } else {
                request.get("body").map(|b| b.to_string().into_bytes())
            };
        if let Some(b) = &body {
            if step.contains_key("event") {
                let id = request["body"]["id"]
                    .as_str()
                    .unwrap_or("event")
                    .to_string();
                let signature = request
                    .get("signature")
                    .and_then(Value::as_str)
                    .unwrap_or("valid");
                req = common::sign_event(req, &id, b, signature);
            }
            req = req
                .header("content-type", "application/json")
                .body(b.clone());
        }
        let res = req.send().await.map_err(|e| e.to_string())?;
        let status = res.status().as_u16();
        let text = res.text().await.map_err(|e| e.to_string())?;
        let actual: Value = serde_json::from_str(&text).unwrap_or(Value::String(text.clone()));
        let expect = step
            .get("expect")
            .map(|e| substitute(e, &self.vars))
            .unwrap_or(Value::Null);
        if let Some(st) = expect.get("status") {
            if st.as_u64() != Some(u64::from(status)) {
                return Err(format!("status: expected {st}, got {status}: {text}"));
            }
        }
        if let Some(b) = expect.get("body") {
            matches(b, Some(&actual), "body")?;
        }
        if let Some(t) = expect.get("text").and_then(Value::as_str) {
            if !text.contains(t) {
                return Err(format!("body does not contain {t:?}: {text}"));
            }
        }
        if let Some(save) = step.get("save").and_then(Value::as_object) {
            for (name, path) in save {
                let p = path.as_str().unwrap_or_default();
                let v = lookup(&actual, p).ok_or(format!("save {name}: no {p} in {actual}"))?;
                let s = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                self.vars.insert(name.clone(), s);
            }
        }
        if let Some(save) = step.get("save_xml").and_then(Value::as_object) {
            for (name, element) in save {
                let el = element.as_str().unwrap_or_default();
                let v = xml_element(&text, el)
                    .ok_or(format!("save_xml {name}: no <{el}> in {text}"))?;
                self.vars.insert(name.clone(), v);
            }
        }
        if let Some(fields) = expect.get("xml").and_then(Value::as_object) {
            for (element, want) in fields {
                let got = xml_element(&text, element);
                if got.as_deref() != want.as_str() {
                    return Err(format!(
                        "<{element}>: expected {want}, got {got:?} in {text}"
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The unescaped text of the first element named `name` in an XML document (a real parser,
/// so a malformed answer fails the scenario).
fn xml_element(doc: &str, name: &str) -> Option<String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(doc);
    let mut inside = false;
    let mut out = String::new();
    loop {
        match reader.read_event().ok()? {
            Event::Start(e) if e.name().as_ref() == name.as_bytes() => inside = true,
            Event::Empty(e) if e.name().as_ref() == name.as_bytes() => return Some(String::new()),
            Event::Text(t) if inside => out.push_str(&t.unescape().ok()?),
            Event::End(e) if inside && e.name().as_ref() == name.as_bytes() => return Some(out),
            Event::Eof => return None,
            _ => {}
        }
    }
}

async fn run_file(path: &Path) -> Result<usize, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let doc: Value = serde_json::from_str(&text).map_err(|e| format!("not valid JSON: {e}"))?;
    let peer = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(200))
        .mount(&peer)
        .await;
    let server = Server::start_scenario(doc.get("config"), &peer.uri()).await;
    let mut run = Run {
        server,
        vars: HashMap::from([("peer".to_string(), peer.uri())]),
        keys: HashMap::new(),
        secrets: HashMap::new(),
        peer,
    };
    for name in doc
        .get("customers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = name.as_str().ok_or("customers must be names")?;
        let hook = format!("{}/hooks/{name}", run.peer.uri());
        let c = run.server.create_customer_with(name, &hook).await;
        run.secrets.insert(
            name.to_string(),
            c.json["webhook_secret"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
        run.vars.insert(format!("{name}.id"), c.id.clone());
        run.vars.insert(format!("{name}.key"), c.key.clone());
        run.keys.insert(name.to_string(), c.key);
    }
    let outcome = run_steps(&mut run, &doc).await;
    // Stop this scenario's server before the next one starts: the mock servers' ports are
    // reused, and a late message must not reach the next scenario's receiver.
    run.server.stop().await;
    outcome
}

async fn run_steps(run: &mut Run, doc: &Value) -> Result<usize, String> {
    let steps = doc
        .get("steps")
        .and_then(Value::as_array)
        .ok_or("\"steps\" must be an array")?;
    for (i, step) in steps.iter().enumerate() {
        let step = step
            .as_object()
            .ok_or(format!("step {i} must be an object"))?;
        let label = step
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if let Some(ms) = step.get("sleep_ms").and_then(Value::as_u64) {
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
            continue;
        }
        let repeat = step.get("repeat").and_then(Value::as_u64).unwrap_or(1);
        let retry_for = std::time::Duration::from_millis(
            step.get("retry_for_ms")
                .and_then(Value::as_u64)
                .unwrap_or(0),
        );
        for r in 0..repeat {
            run.vars.insert("i".into(), r.to_string());
            let started = std::time::Instant::now();
            loop {
                match run.step(step).await {
                    Ok(()) => break,
                    Err(_) if started.elapsed() < retry_for => {
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await
                    }
                    Err(e) => return Err(format!("step {i} ({label}): {e}")),
                }
            }
        }
    }
    Ok(steps.len())
}

#[tokio::test]
async fn scenarios() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/scenarios exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let only = std::env::var("SCENARIO").ok();
    let mut failures = Vec::new();
    let mut ran = 0;
    for f in &files {
        let name = f
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        if only.as_ref().is_some_and(|o| !name.contains(o.as_str())) {
            continue;
        }
        match run_file(f).await {
            Ok(steps) => {
                ran += 1;
                println!("ok   {name} ({steps} steps)");
            }
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    assert!(
        failures.is_empty(),
        "failing scenarios:\n{}",
        failures.join("\n")
    );
    assert!(
        ran >= 10 || only.is_some(),
        "expected at least ten scenarios, ran {ran}"
    );
}

#[test]
fn matcher_rejects_what_it_should() {
    let v = serde_json::json!({"a": [1, 2], "b": "x"});
    assert!(matches(&serde_json::json!({"a": [1, 2]}), Some(&v), "").is_ok());
    assert!(matches(&serde_json::json!({"a": [1]}), Some(&v), "").is_err());
    assert!(matches(&serde_json::json!({"b": "y"}), Some(&v), "").is_err());
    assert!(matches(&serde_json::json!({"c": "<absent>"}), Some(&v), "").is_ok());
    assert!(matches(&serde_json::json!({"b": "<uuid>"}), Some(&v), "").is_err());
    assert!(matches(&serde_json::json!({"c": 1}), Some(&v), "").is_err());
}
