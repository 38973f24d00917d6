//! The conference over its life, with a real local HTTP server playing the telephony platform:
//! termination and kicks, kick grace, timeouts, connect rooms, recordings, command retries and
//! restarts. Deadlines are reached by moving confab's clock, not by sleeping.

use crate::support::{signed, Arrival, Receiver, Reply, TestServer, PLATFORM_SECRET};
use confab::Config;
use serde_json::{json, Value};
use std::time::Duration;

/// Signed events, commands to `platform`, and the given kick grace.
fn with_platform(platform: &Receiver, kick_grace: u64) -> impl FnOnce(&mut Config) {
    let url = platform.uri();
    move |c| {
        signed(c);
        c.platform_url = Some(url);
        c.kick_grace = kick_grace;
    }
}

async fn join(s: &TestServer, conf: &str, call: &str) {
    let data = json!({"call_id": call, "conference_id": conf});
    let joining = s
        .event(&format!("{call}-joining"), "call_joining", data.clone())
        .await;
    assert_eq!(joining.status, 200);
    let joined = s
        .event(&format!("{call}-joined"), "call_joined", data)
        .await;
    assert_eq!(joined.status, 200);
}

async fn leave(s: &TestServer, conf: &str, call: &str) -> u16 {
    let data = json!({"call_id": call, "conference_id": conf});
    s.event(&format!("{call}-left"), "call_left", data)
        .await
        .status
}

/// The commands among `arrivals`, each checked: signed with the platform secret, and its
/// `webhook-id` is the command id.
fn commands_in(arrivals: &[Arrival]) -> Vec<Value> {
    arrivals
        .iter()
        .map(|r| {
            assert_eq!(r.path(), "/commands");
            assert!(
                r.signed_by(PLATFORM_SECRET),
                "command signed with the platform secret"
            );
            let v = r.json();
            assert_eq!(
                v["id"].as_str(),
                Some(r.webhook_id().as_str()),
                "webhook-id is the command id"
            );
            v
        })
        .collect()
}

fn commands(p: &Receiver) -> Vec<Value> {
    commands_in(&p.arrivals())
}

/// Waits until the platform has been sent a `call_kick` for `call`.
async fn wait_for_kick(p: &Receiver, call: &str) {
    p.wait_for(Duration::from_secs(5), &format!("{call} kicked"), |all| {
        commands_in(all)
            .iter()
            .any(|c| c["type"] == "call_kick" && c["data"]["call_id"] == call)
            .then_some(())
    })
    .await;
}

async fn new_conference(s: &TestServer, key: &str, body: Value) -> String {
    let conf = s.create_conference(key, body).await;
    conf["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn terminate_with_zero_one_and_three_calls() {
    let p = Receiver::start().await;
    let s = TestServer::start_with(with_platform(&p, 30)).await;
    let a = s.create_customer("a").await;
    for n in [0usize, 1, 3] {
        let cid = new_conference(&s, &a.key, json!({"name": format!("n{n}")})).await;
        for i in 0..n {
            join(&s, &cid, &format!("n{n}-c{i}")).await;
        }
        let path = format!("/v1.0/conferences/{cid}");
        let (st, del) = s.call("DELETE", &path, Some(&a.key), None).await;
        assert_eq!(st, 200);
        if n == 0 {
            assert_eq!(del["status"], "terminated");
            continue;
        }
        assert_eq!(del["status"], "terminating");
        assert_eq!(
            del["conferencecall_ids"],
            json!([]),
            "kicked calls are leaving, no longer joined"
        );
        let kicks = p
            .wait_for(Duration::from_secs(5), "kicks delivered", |all| {
                let k: Vec<Value> = commands_in(all)
                    .into_iter()
                    .filter(|c| {
                        c["type"] == "call_kick" && c["data"]["conference_id"] == cid.as_str()
                    })
                    .collect();
                (k.len() == n).then_some(k)
            })
            .await;
        let mut kicked: Vec<String> = kicks
            .iter()
            .map(|k| k["data"]["call_id"].as_str().unwrap().to_string())
            .collect();
        kicked.sort();
        assert_eq!(
            kicked,
            (0..n).map(|i| format!("n{n}-c{i}")).collect::<Vec<_>>()
        );
        let late = format!("late-{n}");
        let refused = s
            .event(
                &late,
                "call_joining",
                json!({"call_id": late, "conference_id": cid}),
            )
            .await;
        assert_eq!(
            (refused.status, refused.reason()),
            (409, Some("CONFERENCE_CLOSED"))
        );
        for i in 0..n {
            assert_eq!(leave(&s, &cid, &format!("n{n}-c{i}")).await, 200);
            let expect = if i + 1 == n {
                "terminated"
            } else {
                "terminating"
            };
            assert_eq!(s.conference(&a.key, &cid).await["status"], expect);
        }
    }
}

#[tokio::test]
async fn kicked_calls_not_reported_left_are_marked_left_after_the_grace() {
    let p = Receiver::start().await;
    let s = TestServer::start_with(with_platform(&p, 1)).await;
    let a = s.create_customer("a").await;
    let cid = new_conference(&s, &a.key, json!({})).await;
    join(&s, &cid, "silent").await;
    let path = format!("/v1.0/conferences/{cid}");
    let (_, del) = s.call("DELETE", &path, Some(&a.key), None).await;
    assert_eq!(del["status"], "terminating");
    // The grace (1 s) passes on confab's clock.
    s.advance(Duration::from_secs(1));
    s.wait_for_status(&a.key, &cid, "terminated").await;
    let (_, calls) = s
        .call(
            "GET",
            &format!("/v1.0/conferencecalls?conference_id={cid}"),
            Some(&a.key),
            None,
        )
        .await;
    assert_eq!(calls["result"][0]["status"], "leaved");
    // The platform's late call_left is stale and harmless.
    let late = s
        .event(
            "late-left",
            "call_left",
            json!({"call_id": "silent", "conference_id": cid}),
        )
        .await;
    assert_eq!(
        (late.status, late.json["actions"].clone()),
        (200, json!([]))
    );
}

#[tokio::test]
async fn kicking_one_call() {
    let p = Receiver::start().await;
    let s = TestServer::start_with(with_platform(&p, 30)).await;
    let a = s.create_customer("a").await;
    let b = s.create_customer("b").await;
    let cid = new_conference(&s, &a.key, json!({})).await;
    join(&s, &cid, "k1").await;
    join(&s, &cid, "k2").await;
    let (_, list) = s
        .call(
            "GET",
            &format!("/v1.0/conferencecalls?conference_id={cid}&status=joined"),
            Some(&a.key),
            None,
        )
        .await;
    let victim = list["result"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["reference_id"] == "k1")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/v1.0/conferencecalls/{victim}");
    let (st, _) = s.call("DELETE", &path, Some(&b.key), None).await;
    assert_eq!(st, 404, "another customer's call");
    let (st, c) = s.call("DELETE", &path, Some(&a.key), None).await;
    assert_eq!((st, c["status"].as_str()), (200, Some("leaving")));
    let (st, again) = s.call("DELETE", &path, Some(&a.key), None).await;
    assert_eq!(st, 200);
    assert_eq!(again, c, "already leaving: unchanged");
    p.wait_for(Duration::from_secs(5), "one kick", |all| {
        let k = commands_in(all);
        (k.len() == 1 && k[0]["type"] == "call_kick" && k[0]["data"]["call_id"] == "k1")
            .then_some(())
    })
    .await;
    let conf = s.conference(&a.key, &cid).await;
    assert_eq!(conf["status"], "progressing");
    assert_eq!(conf["conferencecall_ids"].as_array().unwrap().len(), 1);
    leave(&s, &cid, "k1").await;
    let (_, c) = s.call("GET", &path, Some(&a.key), None).await;
    assert_eq!(c["status"], "leaved");
    let (st, again) = s.call("DELETE", &path, Some(&a.key), None).await;
    assert_eq!((st, again["status"].as_str()), (200, Some("leaved")));
    s.drain_outbox().await;
    assert_eq!(commands(&p).len(), 1, "no second kick");
}

#[tokio::test]
async fn timeout_terminates_and_put_moves_it() {
    let p = Receiver::start().await;
    let s = TestServer::start_with(with_platform(&p, 30)).await;
    let a = s.create_customer("a").await;
    let id1 = new_conference(&s, &a.key, json!({"timeout": 1})).await;
    let id2 = new_conference(&s, &a.key, json!({"timeout": 1})).await;
    let id3 = new_conference(&s, &a.key, json!({"timeout": 1})).await;
    join(&s, &id3, "t3").await;
    // c2: the timeout is cleared; c3 with a call: terminating, kick sent.
    let (st, u) = s
        .call(
            "PUT",
            &format!("/v1.0/conferences/{id2}"),
            Some(&a.key),
            Some(json!({"timeout": 0})),
        )
        .await;
    assert_eq!((st, u["timeout"].as_i64()), (200, Some(0)));
    s.advance(Duration::from_secs(1));
    let c1 = s.wait_for_status(&a.key, &id1, "terminated").await;
    assert_eq!(
        c1["tm_delete"], "9999-01-01 00:00:00.000000",
        "a timeout terminates but does not delete"
    );
    s.wait_for_status(&a.key, &id3, "terminating").await;
    wait_for_kick(&p, "t3").await;
    assert_eq!(s.conference(&a.key, &id2).await["status"], "progressing");
    a_put_moves_the_deadline(&s, &a.key).await;
}

/// A PUT moves the deadline: it counts from the update that set it.
async fn a_put_moves_the_deadline(s: &TestServer, key: &str) {
    let id4 = new_conference(s, key, json!({"timeout": 1})).await;
    let path = format!("/v1.0/conferences/{id4}");
    let (st, _) = s
        .call("PUT", &path, Some(key), Some(json!({"timeout": 30})))
        .await;
    assert_eq!(st, 200);
    // A witness whose 1 s timeout comes due just after c4's old one: once it has fired, the
    // scheduler has passed the time c4's old deadline was due.
    let witness = new_conference(s, key, json!({"timeout": 1})).await;
    s.advance(Duration::from_millis(1600));
    s.wait_for_status(key, &witness, "terminated").await;
    assert_eq!(
        s.conference(key, &id4).await["status"],
        "progressing",
        "the old 1 s deadline was replaced"
    );
    s.advance(Duration::from_secs(30));
    s.wait_for_status(key, &id4, "terminated").await;
}

#[tokio::test]
async fn connect_room_closes_when_one_of_two_leaves() {
    let p = Receiver::start().await;
    let s = TestServer::start_with(with_platform(&p, 30)).await;
    let a = s.create_customer("a").await;
    let cid = new_conference(&s, &a.key, json!({"type": "connect"})).await;
    join(&s, &cid, "alice").await;
    join(&s, &cid, "bob").await;
    let carol = s
        .event(
            "carol",
            "call_joining",
            json!({"call_id": "carol", "conference_id": cid}),
        )
        .await;
    assert_eq!(
        (carol.status, carol.reason()),
        (409, Some("CONFERENCE_FULL"))
    );
    leave(&s, &cid, "alice").await;
    assert_eq!(s.conference(&a.key, &cid).await["status"], "terminating");
    wait_for_kick(&p, "bob").await;
    leave(&s, &cid, "bob").await;
    assert_eq!(s.conference(&a.key, &cid).await["status"], "terminated");
}

#[tokio::test]
async fn recordings_follow_their_rules() {
    let p = Receiver::start().await;
    let s = TestServer::start_with(with_platform(&p, 30)).await;
    let a = s.create_customer("a").await;
    let cid = new_conference(&s, &a.key, json!({})).await;
    let rec = Recording::new(&s, &a.key, &cid);
    rec.refusals_before_it_starts().await;
    let rid = rec.start_one().await;
    rec.stop_and_finish(&rid).await;
    let c = s.conference(&a.key, &cid).await;
    assert_eq!(
        (c["recording_id"].as_str(), c["recording_ids"].clone()),
        (Some("00000000-0000-0000-0000-000000000000"), json!([rid]))
    );
    let (_, list) = s
        .call(
            "GET",
            &format!("/v1.0/recordings?conference_id={cid}"),
            Some(&a.key),
            None,
        )
        .await;
    assert_eq!(list["result"][0]["id"], rid.as_str());
    let cmds = p
        .wait_for(Duration::from_secs(5), "recording commands", |all| {
            let cmds = commands_in(all);
            let types: Vec<&str> = cmds.iter().filter_map(|c| c["type"].as_str()).collect();
            (types == ["recording_start", "recording_stop"]).then_some(cmds)
        })
        .await;
    assert_eq!(
        cmds[0]["data"],
        json!({"recording_id": rid, "conference_id": cid, "format": "mp3", "duration": 600})
    );
    s.call(
        "DELETE",
        &format!("/v1.0/conferences/{cid}"),
        Some(&a.key),
        None,
    )
    .await;
    let (st, e) = rec.start(None).await;
    assert_eq!(
        (st, e["error"]["reason"].as_str()),
        (409, Some("STATE_INVALID")),
        "not on a terminated conference"
    );
}

/// The recording routes of one conference.
struct Recording<'a> {
    s: &'a TestServer,
    key: &'a str,
    cid: String,
    start_path: String,
    stop_path: String,
}

impl<'a> Recording<'a> {
    fn new(s: &'a TestServer, key: &'a str, cid: &str) -> Recording<'a> {
        Recording {
            s,
            key,
            cid: cid.to_string(),
            start_path: format!("/v1.0/conferences/{cid}/recording_start"),
            stop_path: format!("/v1.0/conferences/{cid}/recording_stop"),
        }
    }

    async fn start(&self, body: Option<Value>) -> (u16, Value) {
        self.s
            .call("POST", &self.start_path, Some(self.key), body)
            .await
    }

    async fn stop(&self) -> (u16, Value) {
        self.s
            .call("POST", &self.stop_path, Some(self.key), None)
            .await
    }

    async fn get(&self, rid: &str) -> Value {
        let path = format!("/v1.0/recordings/{rid}");
        self.s.call("GET", &path, Some(self.key), None).await.1
    }

    async fn refusals_before_it_starts(&self) {
        let (st, e) = self.stop().await;
        assert_eq!(
            (st, e["error"]["reason"].as_str()),
            (409, Some("STATE_INVALID"))
        );
        let (st, e) = self.start(Some(json!({"format": "ogg"}))).await;
        assert_eq!(
            (st, e["error"]["reason"].as_str()),
            (400, Some("INVALID_ARGUMENT"))
        );
        let (st, e) = self.start(Some(json!({"duration": 86401}))).await;
        assert_eq!(st, 400, "{e}");
    }

    /// Starts an mp3 recording of 600 s; one at a time. Returns its id.
    async fn start_one(&self) -> String {
        let (st, c) = self
            .start(Some(json!({"format": "mp3", "duration": 600})))
            .await;
        assert_eq!(st, 200, "{c}");
        let rid = c["recording_id"].as_str().unwrap().to_string();
        assert_ne!(rid, "00000000-0000-0000-0000-000000000000");
        assert_eq!(c["recording_ids"], json!([rid]));
        let (st, e) = self.start(None).await;
        assert_eq!(
            (st, e["error"]["reason"].as_str()),
            (409, Some("STATE_INVALID")),
            "one at a time"
        );
        let r = self.get(&rid).await;
        assert_eq!(
            (
                r["status"].as_str(),
                r["format"].as_str(),
                r["duration"].as_i64(),
                r["reference_id"].as_str()
            ),
            (
                Some("recording"),
                Some("mp3"),
                Some(600),
                Some(self.cid.as_str())
            )
        );
        rid
    }

    /// Stops it: the conference's recording_id is nil at once (VoIPBin), the recording shows
    /// `stopping` until the platform finishes it.
    async fn stop_and_finish(&self, rid: &str) {
        let (st, c) = self.stop().await;
        assert_eq!(st, 200);
        assert_eq!(
            (&c["recording_id"], &c["recording_ids"]),
            (
                &json!("00000000-0000-0000-0000-000000000000"),
                &json!([rid])
            ),
            "a stop clears recording_id at once and keeps the history"
        );
        assert_eq!(self.get(rid).await["status"], "stopping");
        let (st, _) = self.stop().await;
        assert_eq!(st, 409, "nothing left to stop");
        let data = json!({"recording_id": rid, "media_url": "https://media.example/r.mp3", "duration_ms": 1200});
        let finished = self.s.event("rf", "recording_finished", data).await;
        assert_eq!(
            (
                finished.status,
                finished.json["recording"]["status"].as_str()
            ),
            (200, Some("ended"))
        );
        let r = self.get(rid).await;
        assert_eq!(
            (r["status"].as_str(), r["media_url"].as_str()),
            (Some("ended"), Some("https://media.example/r.mp3"))
        );
        assert_ne!(r["tm_end"], "9999-01-01 00:00:00.000000");
    }
}

#[tokio::test]
async fn commands_are_retried_until_the_platform_accepts_them() {
    let p = Receiver::start().await;
    p.answer_first(2, Reply::status(500));
    let s = TestServer::start_with(with_platform(&p, 30)).await;
    let a = s.create_customer("a").await;
    let cid = new_conference(&s, &a.key, json!({})).await;
    join(&s, &cid, "r1").await;
    s.call(
        "DELETE",
        &format!("/v1.0/conferences/{cid}"),
        Some(&a.key),
        None,
    )
    .await;
    // Default schedule 0,1,2,...: attempts at 0 s, 1 s, 3 s — on the real clock, because the
    // schedule's spacing is what this test is about.
    let got = p.wait_for_total(3, Duration::from_secs(10)).await;
    let cmds = commands_in(&got);
    assert_eq!(cmds.len(), 3, "no attempt after the 2xx");
    assert!(
        cmds.iter().all(|c| c["id"] == cmds[0]["id"]),
        "same id on every retry"
    );
    p.assert_stays_at(3, Duration::from_millis(1500), "no attempt after the 2xx")
        .await;
    assert_eq!(commands(&p).len(), 3);
}
