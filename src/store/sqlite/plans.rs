//! The query plans of the event path and of the lists: every statement an event or an API
//! write runs is a seek, never a scan of a conference's calls or recordings (whose history
//! grows without end), and every list page, whatever its filters, seeks an index in its
//! keyset order (from a cursor too) rather than walking or sorting a customer's history.

use super::rows::*;
use super::{migrations, WriteSignals};
use crate::domain::conference::{ConferenceStatus, ConferenceType};
use crate::store::prelude::*;
use rusqlite::Connection;
use std::cell::RefCell;
use std::collections::BTreeSet;

thread_local! {
    /// The statements run on this thread while tracing, with their parameters filled in.
    static RAN: RefCell<BTreeSet<String>> = const { RefCell::new(BTreeSet::new()) };
}

fn record(sql: &str) {
    RAN.with(|r| r.borrow_mut().insert(sql.to_string()));
}

fn call(conf: &Conference, reference: &str, status: CallStatus, at: i64) -> Conferencecall {
    Conferencecall::new(
        conf,
        ConferencecallId::new(),
        reference.into(),
        status,
        Default::default(),
        Timestamp(at),
    )
}

/// A conference with a history: calls that have left and ended recordings.
fn seeded(conn: &Connection) -> Conference {
    let customer = CustomerId::new().to_string();
    let conference = ConferenceId::new().to_string();
    conn.execute_batch(&format!(
        "INSERT INTO customers (id, name, webhook_secret, tm_create, tm_update) \
         VALUES ('{customer}', 'c', 's', 0, 0);
         INSERT INTO conferences (id, customer_id, type, status, name, detail, data, timeout, \
         pre_actions, post_actions, tm_create, tm_update) VALUES ('{conference}', '{customer}', \
         'conference', 'progressing', 'n', 'd', '{{}}', 0, '[]', '[]', 0, 0);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000)
         INSERT INTO conferencecalls (id, customer_id, conference_id, reference_id, status, \
         join_seq, tm_create, tm_update) SELECT printf('00000000-0000-4000-8000-%012d', i), '{customer}', '{conference}', \
         'old-call-' || i, 'leaved', i, i, i FROM n;
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200)
         INSERT INTO recordings (id, customer_id, conference_id, status, format, duration, \
         tm_start, tm_create) SELECT printf('00000000-0000-4000-9000-%012d', i), '{customer}', '{conference}', 'ended', 'wav', \
         0, i, i FROM n;
         ANALYZE;"
    ))
    .expect("seeded");
    let tx = super::SqliteTx::reader(conn);
    tx.conference(
        None,
        ConferenceId(Uuid::parse_str(&conference).expect("uuid")),
    )
    .expect("read")
    .expect("there")
}

/// Runs what a call's joining, joining, leaving and a recording do to the store.
fn event_path(tx: &dyn Tx, conf: &Conference) -> Result<(), StoreError> {
    tx.claim_event("ev-1")?;
    tx.lock_conference(conf.id)?;
    let conf = tx.conference(None, conf.id)?.ok_or(StoreError::Closed)?;
    tx.active_call("call-1")?;
    tx.call_counts(conf.id)?;
    let mut c = call(&conf, "call-1", CallStatus::Joining, 5000);
    tx.insert_call(&c)?;
    tx.latest_call_in("call-1", conf.id)?;
    c.status = CallStatus::Joined;
    tx.set_call_status(&c)?;
    tx.update_conference(&conf)?;
    tx.call(None, c.id)?;
    tx.calls_in(conf.id)?;
    tx.participants_page(conf.id, None, 100, 1 << 20, &|_| 1)?;
    tx.view(conf.clone())?;
    tx.active_recording(conf.id)?;
    let kick = crate::domain::deadline::DeadlineKind::KickGrace;
    tx.set_deadline(kick, &c.id.to_string(), Timestamp(9))?;
    tx.take_deadline(kick, &c.id.to_string(), 9)?;
    tx.record_event_answer("ev-1", "call_joining", 200, "{}", Timestamp(1))?;
    tx.event_answer("ev-1")?;
    Ok(())
}

/// Runs every list with every filter it takes, from the start and from a cursor.
fn lists(tx: &dyn Tx, conf: &Conference) -> Result<(), StoreError> {
    let customer = conf.customer_id;
    let cursor = Some(Cursor {
        tm_create: 100,
        id: Uuid::nil(),
    });
    let statuses = [None, Some(ConferenceStatus::Terminated)];
    let kinds = [None, Some(ConferenceType::Connect)];
    for at in [None, cursor] {
        for (status, kind, include_deleted) in conference_filters(&statuses, &kinds) {
            let f = ConferenceFilter {
                status,
                kind,
                include_deleted,
            };
            tx.list_conferences(customer, &f, at, 10, 1 << 20)?;
        }
        for conference_id in [None, Some(conf.id)] {
            for status in [None, Some(CallStatus::Joined)] {
                let f = CallFilter {
                    conference_id,
                    status,
                };
                tx.list_calls(customer, &f, at, 10, 1 << 20)?;
            }
            tx.list_recordings(customer, conference_id, at, 10, 1 << 20)?;
        }
        tx.participants_page(conf.id, at, 10, 1 << 20, &|_| 1)?;
    }
    let key = conf.id.to_string();
    for before in [None, Some(100)] {
        for conference in [None, Some(key.as_str())] {
            for status in [None, Some(crate::store::DeliveryStatus::Failed)] {
                let f = crate::store::DeliveryFilter { status, conference };
                tx.delivery_page(customer, f, before, 10, 1 << 20, &|_| 1)?;
            }
        }
    }
    Ok(())
}

/// Every combination of a conference list's filters.
fn conference_filters(
    statuses: &[Option<ConferenceStatus>],
    kinds: &[Option<ConferenceType>],
) -> Vec<(Option<ConferenceStatus>, Option<ConferenceType>, bool)> {
    let mut all = Vec::new();
    for s in statuses {
        for k in kinds {
            for d in [false, true] {
                all.push((*s, *k, d));
            }
        }
    }
    all
}

/// Plan lines that walk a table or sort rows in a temporary tree.
fn scans(conn: &Connection, sql: &str) -> Vec<String> {
    let Ok(mut stmt) = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")) else {
        return Vec::new();
    };
    let details: Vec<String> = stmt
        .query_map([], |r| r.get::<_, String>(3))
        .map(|rows| rows.filter_map(Result::ok).collect())
        .unwrap_or_default();
    details
        .into_iter()
        .filter(|d| {
            (d.starts_with("SCAN ") && !d.contains("CONSTANT ROW")) || d.contains("TEMP B-TREE")
        })
        .collect()
}

/// The statements `run` makes on a seeded database, traced, and the plans of those that scan.
fn traced_scans(
    run: impl Fn(&dyn Tx, &Conference) -> Result<(), StoreError>,
) -> (BTreeSet<String>, Vec<String>) {
    RAN.with(|r| r.borrow_mut().clear());
    let mut conn = Connection::open_in_memory().expect("memory db");
    migrations().to_latest(&mut conn).expect("migrated");
    let conf = seeded(&conn);
    conn.trace(Some(record));
    let signals = WriteSignals::default();
    conn.execute_batch("BEGIN").expect("begin");
    run(&super::SqliteTx::writer(&conn, &signals), &conf).expect("statements ran");
    conn.execute_batch("COMMIT").expect("commit");
    conn.trace(None);
    let ran = RAN.with(|r| r.borrow().clone());
    let bad: Vec<String> = ran
        .iter()
        .filter_map(|sql| {
            let s = scans(&conn, sql);
            (!s.is_empty()).then(|| format!("{sql}\n    -> {s:?}"))
        })
        .collect();
    (ran, bad)
}

#[test]
fn no_event_path_statement_scans_a_conference_history() {
    let (ran, bad) = traced_scans(event_path);
    assert!(ran.len() > 15, "the trace saw the statements: {ran:?}");
    assert!(bad.is_empty(), "statements that scan:\n{}", bad.join("\n"));
}

#[test]
fn no_list_page_scans_or_sorts_a_customer_history() {
    let (ran, bad) = traced_scans(lists);
    assert!(ran.len() > 30, "the trace saw the statements: {ran:?}");
    assert!(bad.is_empty(), "statements that scan:\n{}", bad.join("\n"));
}
