//! Runs every data file in `tests/scenarios/`: each a sequence of API calls and platform events
//! with the expected answers, against a fresh real server. See tests/scenarios/README.md.

mod dialects;

use crate::support::{
    allow_private, signed, Receiver, Signing, TestServer, XmlDoc, ADMIN_TOKEN, PLATFORM_SECRET,
};
use confab::Config;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

struct Run {
    server: TestServer,
    vars: HashMap<String, String>,
    keys: HashMap<String, String>,
    secrets: HashMap<String, String>,
    /// Plays the telephony platform (`/commands`) and every customer's webhook receiver
    /// (`/hooks/{customer}`).
    peer: Receiver,
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
    fn received(&self, path: &str, secret: &str, expected: &Value) -> Result<(), String> {
        let expected = expected
            .as_array()
            .ok_or("the expectation must be a list")?;
        let got: Vec<Value> = self
            .peer
            .at(path)
            .iter()
            .map(|r| {
                if r.signed_by(secret) {
                    r.json()
                } else {
                    json!({"unsigned": r.json()})
                }
            })
            .collect();
        matches(
            &Value::Array(expected.clone()),
            Some(&Value::Array(got)),
            path,
        )
    }

    /// XML status posts (onStatus): the <status> of each, in order, each signed by one of
    /// the scenario's customers.
    fn xml_posts(&self, path: &str, expected: &Value) -> Result<(), String> {
        let got: Vec<String> = self
            .peer
            .at(path)
            .iter()
            .map(|r| {
                let signed = self.secrets.values().any(|s| r.signed_by(s));
                let status = XmlDoc::parse(&r.text())
                    .ok()
                    .and_then(|d| d.text("status").map(str::to_string))
                    .unwrap_or_default();
                if signed {
                    status
                } else {
                    format!("unsigned {status}")
                }
            })
            .collect();
        matches(expected, Some(&json!(got)), path)
    }

    /// A step that checks what the peer received; `None` when the step is not one.
    fn peer_step(&self, step: &Map<String, Value>) -> Option<Result<(), String>> {
        let expected = || substitute(step.get("expect").unwrap_or(&Value::Null), &self.vars);
        if let Some(who) = step.get("webhooks").and_then(Value::as_str) {
            return Some(match self.secrets.get(who) {
                Some(secret) => self.received(&format!("/hooks/{who}"), secret, &expected()),
                None => Err(format!("unknown customer {who:?}")),
            });
        }
        if let Some(path) = step.get("xml_posts").and_then(Value::as_str) {
            return Some(self.xml_posts(path, &expected()));
        }
        let commands = substitute(step.get("commands")?, &self.vars);
        Some(self.received("/commands", PLATFORM_SECRET, &commands))
    }

    async fn step(&mut self, step: &Map<String, Value>) -> Result<(), String> {
        if let Some(outcome) = self.peer_step(step) {
            return outcome;
        }
        // The platform API's calls so far; `save` takes values from them (`0.body.AnnounceUrl`).
        if let Some(prefix) = step.get("platform_api").and_then(Value::as_str) {
            let expected = substitute(step.get("expect").unwrap_or(&Value::Null), &self.vars);
            let got = self.platform_calls(prefix);
            matches(&expected, Some(&got), prefix)?;
            return self.save(step, &got);
        }
        let (status, text) = if let Some(r) = step.get("request") {
            self.send_request(&substitute(r, &self.vars)).await?
        } else if let Some(e) = step.get("event") {
            self.send_event(step, &substitute(e, &self.vars)).await?
        } else if let Some(t) = step.get("twiml") {
            self.send_twiml(&substitute(t, &self.vars)).await?
        } else if let Some(j) = step.get("jambonz") {
            self.send_jambonz(&substitute(j, &self.vars)).await?
        } else {
            return Err("a step needs \"request\", \"event\", \"twiml\" or \"jambonz\"".into());
        };
        self.check_answer(step, status, &text)?;
        self.check_twiml(step, &text)
    }

    /// Sends `request` (method, path, as, headers, body or raw_body); returns status and text.
    async fn send_request(&self, request: &Value) -> Result<(u16, String), String> {
        let method = request["method"].as_str().unwrap_or("GET");
        let path = request["path"].as_str().ok_or("request.path is required")?;
        let mut req = self.server.client.request(
            reqwest::Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?,
            self.server.url(path),
        );
        if let Some(who) = request.get("as").and_then(Value::as_str) {
            let key = if who == "admin" {
                ADMIN_TOKEN.to_string()
            } else {
                self.keys
                    .get(who)
                    .cloned()
                    .ok_or(format!("unknown customer {who:?}"))?
            };
            req = req.bearer_auth(key);
        }
        for (k, v) in request
            .get("headers")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            req = req.header(k.as_str(), v.as_str().unwrap_or_default());
        }
        let body = match request.get("raw_body").and_then(Value::as_str) {
            Some(raw) => Some(raw.to_string()),
            None => request.get("body").map(Value::to_string),
        };
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b);
        }
        let res = req.send().await.map_err(|e| e.to_string())?;
        let status = res.status().as_u16();
        let text = res.text().await.map_err(|e| e.to_string())?;
        Ok((status, text))
    }

    /// Posts the step's platform event with its `signature` mode and `headers`.
    async fn send_event(
        &self,
        step: &Map<String, Value>,
        event: &Value,
    ) -> Result<(u16, String), String> {
        let mode = step
            .get("signature")
            .and_then(Value::as_str)
            .unwrap_or("valid");
        let signing = Signing::parse(mode).ok_or(format!("unknown signature {mode:?}"))?;
        let mut post = self.server.post_event(event).signing(signing);
        let headers = step.get("headers").map(|h| substitute(h, &self.vars));
        for (k, v) in headers.iter().filter_map(Value::as_object).flatten() {
            post = post.header(k, v.as_str().unwrap_or_default());
        }
        let answer = post.await;
        Ok((answer.status, answer.text()))
    }

    /// Saves the step's `save`: each name's dot path into `actual`.
    fn save(&mut self, step: &Map<String, Value>, actual: &Value) -> Result<(), String> {
        for (name, path) in step
            .get("save")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let p = path.as_str().unwrap_or_default();
            let v = lookup(actual, p).ok_or(format!("save {name}: no {p} in {actual}"))?;
            let s = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            self.vars.insert(name.clone(), s);
        }
        Ok(())
    }

    /// Checks `expect` (status, body, text, xml) and saves `save` and `save_xml`.
    fn check_answer(
        &mut self,
        step: &Map<String, Value>,
        status: u16,
        text: &str,
    ) -> Result<(), String> {
        let actual: Value = serde_json::from_str(text).unwrap_or(Value::String(text.into()));
        let expect = step
            .get("expect")
            .map(|e| substitute(e, &self.vars))
            .unwrap_or(Value::Null);
        // A malformed document has no elements: its expectations fail.
        let xml = (step.contains_key("save_xml") || expect.get("xml").is_some())
            .then(|| XmlDoc::parse(text).ok())
            .flatten();
        let xml_text = |el: &str| xml.as_ref().and_then(|d| d.text(el)).map(str::to_string);
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
        self.save(step, &actual)?;
        for (name, element) in step
            .get("save_xml")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let el = element.as_str().unwrap_or_default();
            let v = xml_text(el).ok_or(format!("save_xml {name}: no <{el}> in {text}"))?;
            self.vars.insert(name.clone(), v);
        }
        for (element, want) in expect
            .get("xml")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let got = xml_text(element);
            if got.as_deref() != want.as_str() {
                return Err(format!(
                    "<{element}>: expected {want}, got {got:?} in {text}"
                ));
            }
        }
        Ok(())
    }
}

/// A scenario's `config` applied to the server, by setting name. Every scenario server plays
/// against the peer: signed events, commands to the peer, webhooks to its local address.
fn scenario_config(config: Option<Value>, peer: String) -> impl FnOnce(&mut Config) {
    move |c| {
        signed(c);
        allow_private(c);
        c.platform_url = Some(peer);
        for (k, v) in config.iter().filter_map(Value::as_object).flatten() {
            match (k.as_str(), v) {
                ("idle_timeout", Value::Number(n)) => c.idle_timeout = n.as_u64().unwrap_or(600),
                ("kick_grace", Value::Number(n)) => c.kick_grace = n.as_u64().unwrap_or(30),
                ("dial_limit", Value::Number(n)) => c.dial_limit = n.as_u64().unwrap_or(20),
                ("platform_secret", Value::Null) => c.platform_secret = None,
                (other, _) => panic!("scenario config {other:?} is not supported"),
            }
        }
    }
}

async fn run_file(path: &Path) -> Result<usize, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let doc: Value = serde_json::from_str(&text).map_err(|e| format!("not valid JSON: {e}"))?;
    let peer = Receiver::start().await;
    let configure = scenario_config(doc.get("config").cloned(), peer.uri());
    let server = TestServer::start_with(configure).await;
    let server_url = server.url("");
    let mut run = Run {
        server,
        vars: HashMap::from([
            ("peer".to_string(), peer.uri()),
            ("server".to_string(), server_url),
        ]),
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
        let c = run
            .server
            .create_customer_with(name, &run.peer.url(&format!("/hooks/{name}")))
            .await;
        run.secrets.insert(name.to_string(), c.secret);
        run.vars.insert(format!("{name}.id"), c.id.clone());
        run.vars.insert(format!("{name}.key"), c.key.clone());
        run.keys.insert(name.to_string(), c.key);
    }
    set_today(&mut run);
    let outcome = run_steps(&mut run, &doc).await;
    // Stop this scenario's server before the next one starts, so nothing it still sends
    // reaches the next scenario.
    run.server.stop().await;
    outcome
}

/// `${today}`: the UTC day on confab's clock, as the scenario has moved it.
fn set_today(run: &mut Run) {
    let today = chrono::DateTime::<chrono::Utc>::from_timestamp_micros(run.server.now_micros())
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_default();
    run.vars.insert("today".into(), today);
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
        let label = step.get("name").and_then(Value::as_str).unwrap_or("");
        if let Some(ms) = step.get("sleep_ms").and_then(Value::as_u64) {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            continue;
        }
        if let Some(seconds) = step.get("advance_s").and_then(Value::as_u64) {
            // What is due now is delivered first: a jump of the clock past a delivery's lease
            // while it is in flight would have it sent again (at least once, as designed),
            // which real time never does in a scenario's few milliseconds.
            run.server.drain_outbox().await;
            run.server.advance(Duration::from_secs(seconds));
            set_today(run);
            continue;
        }
        let repeat = step.get("repeat").and_then(Value::as_u64).unwrap_or(1);
        let retry_for = step
            .get("retry_for_ms")
            .and_then(Value::as_u64)
            .unwrap_or(0);
        for r in 0..repeat {
            run.vars.insert("i".into(), r.to_string());
            retry(run, step, Duration::from_millis(retry_for))
                .await
                .map_err(|e| format!("step {i} ({label}): {e}"))?;
        }
    }
    Ok(steps.len())
}

fn is_peer_step(step: &Map<String, Value>) -> bool {
    ["webhooks", "xml_posts", "commands", "platform_api"]
        .iter()
        .any(|k| step.contains_key(*k))
}

/// Runs a step until it passes or `retry_for` has passed. A step on what the peer received
/// is re-checked on each new arrival; any other step is a request to confab about state
/// nothing announces (a timeout, say), re-sent every 50 ms.
async fn retry(
    run: &mut Run,
    step: &Map<String, Value>,
    retry_for: Duration,
) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + retry_for;
    loop {
        let seen = run.peer.arrivals().len();
        match run.step(step).await {
            Ok(()) => return Ok(()),
            Err(e) if tokio::time::Instant::now() >= deadline => return Err(e),
            Err(_) if is_peer_step(step) => {
                run.peer.arrival_beyond(seen, deadline).await;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
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
