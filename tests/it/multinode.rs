//! Several real `confab serve` processes on one PostgreSQL database, as a load balancer would
//! spread a platform's events over them: every rule holds across nodes, a SIGKILLed node loses
//! nothing acknowledged, and a database that goes away answers 503 until it is back. Each test
//! makes a PostgreSQL database of its own whatever backend the suite runs on, so they are
//! `#[ignore]`d (shown as ignored, with the reason, never as passed) and the PostgreSQL pass of
//! `.ci/run` runs them with `--include-ignored`; without a server they fail, never skip.

use crate::support::process::{self, Process};
use crate::support::proxy::Proxy;
use crate::support::{poll_until, Receiver, Reply, TestDb, TestServer, ADMIN_TOKEN};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// `n` nodes on one fresh database; a short outbox lease so a dead node's deliveries are taken
/// over within seconds.
pub(crate) struct Cluster {
    pub(crate) db: TestDb,
    nodes: Vec<Option<Process>>,
    client: reqwest::Client,
}

impl Cluster {
    pub(crate) async fn start(n: usize, extra: &[&str]) -> Cluster {
        let db = TestDb::postgres().await;
        let mut args = vec![
            "--admin-token",
            ADMIN_TOKEN,
            "--outbox-lease",
            "3",
            "--webhook-allow-private",
            "--webhook-retry-schedule",
            "0,1,1,1,1,1,1,1,1,1",
            "--rate-limit",
            "0",
        ];
        args.extend_from_slice(extra);
        let nodes = (0..n)
            .map(|_| Some(process::spawn(db.arg(), &args, "warn,confab::cli=info")))
            .collect();
        Cluster {
            db,
            nodes,
            client: reqwest::Client::new(),
        }
    }

    fn base(&self, i: usize) -> &str {
        &self.nodes[i].as_ref().expect("node is up").base
    }

    /// A live node other than the killed ones, for reads after a kill.
    fn live(&self) -> usize {
        self.nodes
            .iter()
            .position(Option::is_some)
            .expect("a live node")
    }

    fn kill(&mut self, i: usize) {
        if let Some(mut p) = self.nodes[i].take() {
            p.child.kill().expect("SIGKILL");
            let _ = p.child.wait();
        }
    }

    /// Creates a customer through node 0; returns its API key.
    pub(crate) async fn customer(&self, webhook_uri: &str) -> String {
        let (status, c) = self
            .call(
                0,
                "POST",
                "/v1.0/customers",
                Some(ADMIN_TOKEN),
                Some(json!({"name": "acme", "webhook_uri": webhook_uri})),
            )
            .await;
        assert_eq!(status, 200, "{c}");
        c["api_key"].as_str().expect("api_key").to_string()
    }

    pub(crate) async fn conference(&self, node: usize, key: &str, body: Value) -> String {
        let (status, c) = self
            .call(node, "POST", "/v1.0/conferences", Some(key), Some(body))
            .await;
        assert_eq!(status, 200, "{c}");
        c["id"].as_str().expect("id").to_string()
    }

    pub(crate) async fn call(
        &self,
        node: usize,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base(node)));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("request");
        let status = res.status().as_u16();
        let text = res.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Posts a platform event (unsigned: no platform secret is configured) to one node;
    /// returns the status and the raw answer.
    pub(crate) async fn event(
        &self,
        node: usize,
        id: &str,
        kind: &str,
        data: &Value,
    ) -> (u16, Vec<u8>) {
        let body = json!({"id": id, "type": kind, "data": data}).to_string();
        let res = self
            .client
            .post(format!("{}/v1.0/platform/events", self.base(node)))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("request");
        let status = res.status().as_u16();
        (status, res.bytes().await.expect("body").to_vec())
    }
}

/// 100 simultaneous joins of a `connect` room over 3 nodes admit exactly 2; the room's
/// `conferencecall_ids` follow the order the calls reached `joined`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL (CONFAB_TEST_PG): run with -- --include-ignored, as the PostgreSQL pass does"]
async fn three_nodes_admit_exactly_two_of_a_hundred_joins_and_keep_join_order() {
    let cluster = Cluster::start(3, &[]).await;
    let key = cluster.customer("").await;
    let conf = cluster
        .conference(0, &key, json!({"type": "connect"}))
        .await;
    let joins = (0..100).map(|i| {
        let (cluster, conf) = (&cluster, conf.clone());
        async move {
            let data = json!({"call_id": format!("call-{i}"), "conference_id": conf});
            let (status, _) = cluster
                .event(i % 3, &format!("join-{i}"), "call_joining", &data)
                .await;
            (i, status)
        }
    });
    let statuses = futures_util::future::join_all(joins).await;
    let admitted: Vec<usize> = statuses
        .iter()
        .filter(|s| s.1 == 200)
        .map(|s| s.0)
        .collect();
    let full = statuses.iter().filter(|s| s.1 == 409).count();
    assert_eq!((admitted.len(), full), (2, 98), "statuses: {statuses:?}");
    // The later-admitted call reaches `joined` first, through another node.
    for (node, i) in [(1, admitted[1]), (2, admitted[0])] {
        let data = json!({"call_id": format!("call-{i}"), "conference_id": conf});
        let (status, body) = cluster
            .event(node, &format!("joined-{i}"), "call_joined", &data)
            .await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    }
    let path = format!("/v1.0/conferencecalls?conference_id={conf}");
    let (_, calls) = cluster.call(0, "GET", &path, Some(&key), None).await;
    let id_of: HashMap<String, String> = calls["result"]
        .as_array()
        .expect("calls")
        .iter()
        .map(|c| {
            (
                c["reference_id"].as_str().unwrap_or("").to_string(),
                c["id"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let expected = vec![
        id_of[&format!("call-{}", admitted[1])].clone(),
        id_of[&format!("call-{}", admitted[0])].clone(),
    ];
    let (_, room) = cluster
        .call(
            2,
            "GET",
            &format!("/v1.0/conferences/{conf}"),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(
        room["conferencecall_ids"],
        json!(expected),
        "join order across nodes"
    );
}

/// An event id posted to two nodes at once is applied once; both answers and a replay on the
/// third node are byte for byte the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL (CONFAB_TEST_PG): run with -- --include-ignored, as the PostgreSQL pass does"]
async fn an_event_id_posted_to_two_nodes_at_once_is_applied_once() {
    let cluster = Cluster::start(3, &[]).await;
    let key = cluster.customer("").await;
    let conf = cluster.conference(0, &key, json!({})).await;
    for i in 0..20 {
        let id = format!("same-{i}");
        let data = json!({"call_id": format!("c{i}"), "conference_id": conf});
        let (a, b) = tokio::join!(
            cluster.event(0, &id, "call_joining", &data),
            cluster.event(1, &id, "call_joining", &data)
        );
        assert_eq!(a.0, 200, "{}", String::from_utf8_lossy(&a.1));
        assert_eq!(a, b, "both nodes answer {id} byte for byte the same");
        assert_eq!(
            cluster.event(2, &id, "call_joining", &data).await,
            a,
            "replay on a third node"
        );
    }
    let n = cluster
        .db
        .query_i64("SELECT COUNT(*) FROM conferencecalls")
        .await;
    assert_eq!(n, 20, "one conferencecall per event id");
}

/// One platform call joining two conferences at once through two nodes: one join wins, the
/// other is told the call is busy; the database never holds two memberships not left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL (CONFAB_TEST_PG): run with -- --include-ignored, as the PostgreSQL pass does"]
async fn a_call_joins_at_most_one_conference_across_nodes() {
    let cluster = Cluster::start(2, &[]).await;
    let key = cluster.customer("").await;
    let (x, y) = (
        cluster.conference(0, &key, json!({})).await,
        cluster.conference(1, &key, json!({})).await,
    );
    for i in 0..20 {
        let call = format!("call-{i}");
        let (xid, yid) = (format!("x-{i}"), format!("y-{i}"));
        let (xd, yd) = (
            json!({"call_id": call, "conference_id": x}),
            json!({"call_id": call, "conference_id": y}),
        );
        let (a, b) = tokio::join!(
            cluster.event(0, &xid, "call_joining", &xd),
            cluster.event(1, &yid, "call_joining", &yd)
        );
        let mut statuses = [a.0, b.0];
        statuses.sort();
        assert_eq!(
            statuses,
            [200, 409],
            "{} / {}",
            String::from_utf8_lossy(&a.1),
            String::from_utf8_lossy(&b.1)
        );
        let loser = if a.0 == 409 { &a.1 } else { &b.1 };
        assert!(String::from_utf8_lossy(loser).contains("CALL_BUSY"));
    }
    let active = cluster
        .db
        .query_i64("SELECT COUNT(*) FROM conferencecalls WHERE status <> 'leaved'")
        .await;
    assert_eq!(active, 20);
}

/// Events flow through three nodes while the one that created the conferences (and set their
/// timeouts) is SIGKILLed mid-delivery: nothing acknowledged is lost, the survivors deliver
/// what it had leased, in order per conference, and its deadlines fire exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL (CONFAB_TEST_PG): run with -- --include-ignored, as the PostgreSQL pass does"]
async fn a_killed_node_loses_nothing_and_its_deliveries_and_deadlines_are_taken_over() {
    // A slow receiver keeps deliveries in flight, so the kill lands in the middle of them.
    let hooks = Receiver::answering(Reply::status(200).delayed(Duration::from_millis(40))).await;
    let mut cluster = Cluster::start(3, &[]).await;
    let key = cluster.customer(&hooks.url("/hooks")).await;
    let mut conferences = Vec::new();
    for _ in 0..6 {
        conferences.push(cluster.conference(0, &key, json!({"timeout": 8})).await);
    }
    for round in 0..3 {
        calls_through(&cluster, round % 3, round, &conferences).await;
    }
    cluster.kill(0);
    for round in 3..8 {
        calls_through(&cluster, 1 + round % 2, round, &conferences).await;
    }
    // Every message written (by any node) is delivered, each arriving in order per conference.
    let total = || cluster.db.query_i64("SELECT COUNT(*) FROM outbox");
    poll_until(
        Duration::from_secs(30),
        "every notification delivered",
        || async {
            let delivered = cluster
                .db
                .query_i64("SELECT COUNT(*) FROM outbox WHERE status = 'delivered'")
                .await;
            (delivered == total().await).then_some(())
        },
    )
    .await;
    assert_every_message_arrived_in_order(&cluster.db, &hooks).await;
    // The timeouts node 0 set fire on the survivors, each once.
    for conf in &conferences {
        poll_until(Duration::from_secs(20), "the timeout fired", || async {
            let (_, c) = cluster
                .call(
                    cluster.live(),
                    "GET",
                    &format!("/v1.0/conferences/{conf}"),
                    Some(&key),
                    None,
                )
                .await;
            (c["status"] == "terminated").then_some(())
        })
        .await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let terminated: HashSet<String> = hooks
        .bodies("/hooks")
        .iter()
        .filter(|b| b["type"] == "conference_updated" && b["data"]["status"] == "terminated")
        .map(|b| b["data"]["id"].as_str().unwrap_or("").to_string())
        .collect();
    let per_webhook = hooks.count_by_webhook_id().len();
    assert_eq!(terminated.len(), conferences.len(), "each timeout reported");
    let fired = cluster.db.query_i64("SELECT COUNT(*) FROM outbox WHERE event_type = 'conference_updated' AND body LIKE '%\"terminated\"%'").await;
    assert_eq!(
        fired as usize,
        conferences.len(),
        "each timeout fired exactly once ({per_webhook} webhook ids)"
    );
}

/// One call through each conference (joining, joined, left), all posted to `node`.
async fn calls_through(cluster: &Cluster, node: usize, round: usize, conferences: &[String]) {
    for (c, conf) in conferences.iter().enumerate() {
        let call = format!("call-{round}-{c}");
        for kind in ["call_joining", "call_joined", "call_left"] {
            let data = json!({"call_id": call, "conference_id": conf});
            let (status, body) = cluster
                .event(node, &format!("{kind}-{call}"), kind, &data)
                .await;
            assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        }
    }
}

/// Each message of the outbox arrived at least once, and per conference the first arrivals
/// follow the order the messages were written in.
async fn assert_every_message_arrived_in_order(db: &TestDb, hooks: &Receiver) {
    let arrivals = hooks.at("/hooks");
    let mut first_seen: Vec<String> = Vec::new();
    let mut seen = HashSet::new();
    for a in &arrivals {
        if seen.insert(a.webhook_id()) {
            first_seen.push(a.webhook_id());
        }
    }
    let total = db.query_i64("SELECT COUNT(*) FROM outbox").await as usize;
    assert_eq!(seen.len(), total, "every message arrived at least once");
    // The order the database holds: (ordering key, seq) per message id.
    let (client, conn) = tokio_postgres::connect(&db.arg(), tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    let rows = client
        .query("SELECT id, ordering_key, seq FROM outbox", &[])
        .await
        .expect("outbox");
    let place: HashMap<String, (String, i64)> = rows
        .iter()
        .map(|r| {
            (
                r.get::<_, String>(0),
                (r.get::<_, String>(1), r.get::<_, i64>(2)),
            )
        })
        .collect();
    let mut last: HashMap<String, i64> = HashMap::new();
    for id in &first_seen {
        let (key, seq) = &place[id];
        let before = last.insert(key.clone(), *seq).unwrap_or(0);
        assert!(
            before < *seq,
            "message {id} of {key} arrived before an earlier one"
        );
    }
}

/// A node whose database goes away answers 503 STORE_UNAVAILABLE with Retry-After (and its
/// health says why), then recovers by itself once the database is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL (CONFAB_TEST_PG): run with -- --include-ignored, as the PostgreSQL pass does"]
async fn an_unreachable_database_answers_503_and_recovers_without_restart() {
    let db = TestDb::postgres().await;
    let proxy = Proxy::start(db.server_address()).await;
    let url = db.url_through(proxy.addr);
    let s = TestServer::start_with(|c| c.db = confab::store::Database::Postgres(url)).await;
    let alice = s.create_customer("alice").await;
    let body = json!({"name": "before"});
    assert_eq!(
        s.call("POST", "/v1.0/conferences", Some(&alice.key), Some(body))
            .await
            .0,
        200
    );

    proxy.cut();
    let res = s
        .client
        .post(s.url("/v1.0/conferences"))
        .bearer_auth(&alice.key)
        .json(&json!({"name": "during"}))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 503);
    assert!(res.headers().contains_key("retry-after"));
    let err: Value = res.json().await.expect("json");
    assert_eq!(err["error"]["reason"], "STORE_UNAVAILABLE", "{err}");
    let (health, _) = s.call("GET", "/healthz", None, None).await;
    assert_eq!(health, 503);

    proxy.restore().await;
    poll_until(Duration::from_secs(10), "writes succeed again", || async {
        let body = json!({"name": "after"});
        (s.call("POST", "/v1.0/conferences", Some(&alice.key), Some(body))
            .await
            .0
            == 200)
            .then_some(())
    })
    .await;
    poll_until(Duration::from_secs(15), "healthy again", || async {
        (s.call("GET", "/healthz", None, None).await.0 == 200).then_some(())
    })
    .await;
    let (_, list) = s
        .call("GET", "/v1.0/conferences", Some(&alice.key), None)
        .await;
    let names: Vec<&str> = list["result"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(
        names,
        ["after", "before"],
        "nothing half-written while it was away"
    );
}

/// A PIN room on three nodes (SPEC §13): a call pauses on one node and its digits resume it on
/// another; two different reports of one pause racing on two nodes resume it once (the other
/// is stale), and so does one report posted to two nodes at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL (CONFAB_TEST_PG): run with -- --include-ignored, as the PostgreSQL pass does"]
async fn a_paused_call_resumes_once_on_any_node() {
    let cluster = Cluster::start(3, &[]).await;
    let key = cluster.customer("").await;
    let body = json!({"data": {"pin": "4711"}, "pre_actions": [{"type": "flow", "option": {"name": "pin"}}]});
    let conf = cluster.conference(0, &key, body).await;
    let answer = |bytes: &[u8]| serde_json::from_slice::<Value>(bytes).expect("JSON answer");
    for i in 0..10 {
        let call = format!("pin-{i}");
        let data = |digits: &str, pause: u32| json!({"call_id": call, "conference_id": conf, "digits": digits, "pause": pause});
        let joining = json!({"call_id": call, "conference_id": conf});
        let (status, first) = cluster
            .event(i % 3, &format!("j-{i}"), "call_joining", &joining)
            .await;
        assert_eq!(status, 200);
        assert_eq!(answer(&first)["pause"], 1);
        // A wrong PIN on another node: the run continues there, paused again.
        let (_, second) = cluster
            .event(
                (i + 1) % 3,
                &format!("d1-{i}"),
                "call_digits_received",
                &data("0000", 1),
            )
            .await;
        assert_eq!(
            answer(&second)["pause"],
            2,
            "{}",
            String::from_utf8_lossy(&second)
        );
        // Two reports of pause 2 (different ids, different digits) race on two nodes.
        let (ida, idb, idc) = (format!("d2a-{i}"), format!("d2b-{i}"), format!("d3-{i}"));
        let (right, wrong, last) = (data("4711", 2), data("1111", 2), data("4711", 3));
        let (a, b) = tokio::join!(
            cluster.event(1, &ida, "call_digits_received", &right),
            cluster.event(2, &idb, "call_digits_received", &wrong),
        );
        let (a, b) = (answer(&a.1), answer(&b.1));
        let resumed = [&a, &b]
            .into_iter()
            .filter(|x| x.get("actions").is_some())
            .count();
        assert_eq!(resumed, 1, "exactly one resumes: {a} / {b}");
        // The same report posted to two nodes at once: one answer, byte for byte.
        let (x, y) = tokio::join!(
            cluster.event(0, &idc, "call_digits_received", &last),
            cluster.event(2, &idc, "call_digits_received", &last),
        );
        assert_eq!(x, y);
    }
    let active = cluster
        .db
        .query_i64("SELECT COUNT(*) FROM call_pauses WHERE active = 1")
        .await;
    // Whichever report won the race, the pause-3 report ends every run: the winner's right
    // PIN joined (pause 3 is then stale), or its wrong one paused at 3 and 4711 joined.
    assert_eq!(active, 0, "no call is left paused");
    let joining = cluster
        .db
        .query_i64("SELECT COUNT(*) FROM conferencecalls WHERE status = 'joining'")
        .await;
    assert_eq!(joining, 10, "every caller was let in once");
}

/// 100 simultaneous joins over 3 nodes into a `max_participants: 10` room admit exactly 10
/// (SPEC §14): joining calls count, and the limit is decided under the conference's lock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL (CONFAB_TEST_PG): run with -- --include-ignored, as the PostgreSQL pass does"]
async fn three_nodes_admit_exactly_max_participants_of_a_hundred_joins() {
    let cluster = Cluster::start(3, &[]).await;
    let key = cluster.customer("").await;
    let conf = cluster
        .conference(0, &key, json!({"max_participants": 10}))
        .await;
    let joins = (0..100).map(|i| {
        let (cluster, conf) = (&cluster, conf.clone());
        async move {
            let data = json!({"call_id": format!("call-{i}"), "conference_id": conf});
            let (status, body) = cluster
                .event(i % 3, &format!("join-{i}"), "call_joining", &data)
                .await;
            (status, body)
        }
    });
    let answers = futures_util::future::join_all(joins).await;
    let admitted = answers.iter().filter(|a| a.0 == 200).count();
    let full = answers
        .iter()
        .filter(|a| a.0 == 409 && String::from_utf8_lossy(&a.1).contains("CONFERENCE_FULL"))
        .count();
    assert_eq!((admitted, full), (10, 90));
    let rows = cluster
        .db
        .query_i64("SELECT COUNT(*) FROM conferencecalls")
        .await;
    assert_eq!(rows, 10, "only admitted calls are stored");
}

/// Two moderators of an `end_on_moderator_exit` room leave at once through two nodes: only the
/// last one's leave kicks the others, and each of them is kicked once (one `call_kick`
/// command each); the conference stays open (SPEC §14).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL (CONFAB_TEST_PG): run with -- --include-ignored, as the PostgreSQL pass does"]
async fn the_last_moderator_leaving_on_any_node_kicks_the_others_once() {
    let platform = Receiver::answering(Reply::status(200)).await;
    let cluster = Cluster::start(2, &["--platform-url", &platform.uri()]).await;
    let key = cluster.customer("").await;
    for round in 0..5 {
        let body = json!({"end_on_moderator_exit": true, "pre_actions": [
            {"type": "branch", "option": {"variable": "role", "target_ids": {"m": "6d0d0000-0000-4000-8000-000000000001"}, "default_target_id": "6d0d0000-0000-4000-8000-000000000002"}},
            {"id": "6d0d0000-0000-4000-8000-000000000001", "type": "role_set", "option": {"role": "moderator"}},
            {"id": "6d0d0000-0000-4000-8000-000000000002", "type": "stop"}]});
        let conf = cluster.conference(0, &key, body).await;
        let calls = [
            ("m1", "m"),
            ("m2", "m"),
            ("p1", "p"),
            ("p2", "p"),
            ("p3", "p"),
        ];
        for (call, role) in calls {
            let data = json!({"call_id": format!("{call}-{round}"), "conference_id": conf, "variables": {"role": role}});
            let (s, b) = cluster
                .event(0, &format!("j-{call}-{round}"), "call_joining", &data)
                .await;
            assert_eq!(s, 200, "{}", String::from_utf8_lossy(&b));
            let (s, _) = cluster
                .event(1, &format!("jd-{call}-{round}"), "call_joined", &data)
                .await;
            assert_eq!(s, 200);
        }
        let left =
            |call: &str| json!({"call_id": format!("{call}-{round}"), "conference_id": conf});
        let (l1, l2) = (left("m1"), left("m2"));
        let (id1, id2) = (format!("l-m1-{round}"), format!("l-m2-{round}"));
        let sql = format!(
            "SELECT COUNT(*) FROM outbox WHERE event_type = 'call_kick' AND body LIKE '%{conf}%'"
        );
        if round % 2 == 0 {
            let (a, b) = tokio::join!(
                cluster.event(0, &id1, "call_left", &l1),
                cluster.event(1, &id2, "call_left", &l2),
            );
            assert_eq!((a.0, b.0), (200, 200));
        } else {
            // One at a time: while a moderator is still in, nobody is kicked.
            assert_eq!(cluster.event(0, &id1, "call_left", &l1).await.0, 200);
            assert_eq!(
                cluster.db.query_i64(&sql).await,
                0,
                "a moderator is still in"
            );
            assert_eq!(cluster.event(1, &id2, "call_left", &l2).await.0, 200);
        }
        assert_eq!(
            cluster.db.query_i64(&sql).await,
            3,
            "each participant kicked once"
        );
        let leaving = format!(
            "SELECT COUNT(*) FROM conferencecalls WHERE conference_id = '{conf}' AND status = 'leaving'"
        );
        assert_eq!(cluster.db.query_i64(&leaving).await, 3);
        let (_, room) = cluster
            .call(
                1,
                "GET",
                &format!("/v1.0/conferences/{conf}"),
                Some(&key),
                None,
            )
            .await;
        assert_eq!(room["status"], "progressing", "the room stays open");
    }
}
