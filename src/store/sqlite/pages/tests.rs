//! Bounded pages on SQLite: with the scan bound made small, paging through every filter
//! combination of every list returns each matching item exactly once, in order, through
//! pages that may be short or empty but carry a token while rows remain.

use super::super::rows::*;
use super::super::{migrations, SqliteTx};
use crate::domain::conference::{ConferenceStatus, ConferenceType};
use crate::store::pages::{BOUND, SCAN_BOUND};
use crate::store::tx::{DeliveryFilter, ListStore};
use rusqlite::Connection;

const N: i64 = 60;

fn uuid(prefix: &str, i: i64) -> String {
    format!("00000000-0000-4000-{prefix}-{i:012}")
}

/// One customer's history: `N` conferences of every status, type and deletion, a call and a
/// recording in each, and a notification about each, some created in the same microsecond.
fn seeded() -> (Connection, CustomerId) {
    let mut conn = Connection::open_in_memory().expect("memory db");
    migrations().to_latest(&mut conn).expect("migrated");
    let customer = CustomerId::new();
    conn.execute(
        "INSERT INTO customers (id, name, webhook_secret, tm_create, tm_update) \
         VALUES (?, 'c', 's', 0, 0)",
        [customer.to_string()],
    )
    .expect("customer");
    let statuses = ["starting", "progressing", "terminating", "terminated"];
    for i in 0..N {
        let (conf, at) = (uuid("8000", i), i / 3);
        let (status, kind) = (
            statuses[(i % 7 % 4) as usize],
            ["conference", "connect"][(i % 5 / 4) as usize],
        );
        let deleted = (i % 3 == 0).then_some(at);
        conn.execute(
            "INSERT INTO conferences (id, customer_id, type, status, name, detail, data, timeout, \
             pre_actions, post_actions, tm_create, tm_update, tm_delete) \
             VALUES (?1, ?2, ?3, ?4, 'n', 'd', '{}', 0, '[]', '[]', ?5, ?5, ?6)",
            params![conf, customer.to_string(), kind, status, at, deleted],
        )
        .expect("conference");
        let call_status = ["joining", "joined", "leaved"][(i % 11 % 3) as usize];
        conn.execute(
            "INSERT INTO conferencecalls (id, customer_id, conference_id, reference_id, status, \
             tm_create, tm_update) VALUES (?1, ?2, ?3, ?1, ?4, ?5, ?5)",
            params![
                uuid("9000", i),
                customer.to_string(),
                uuid("8000", i % 4),
                call_status,
                at
            ],
        )
        .expect("call");
        conn.execute(
            "INSERT INTO recordings (id, customer_id, conference_id, status, format, duration, \
             tm_start, tm_create) VALUES (?1, ?2, ?3, 'ended', 'wav', 0, ?4, ?4)",
            params![
                uuid("a000", i),
                customer.to_string(),
                uuid("8000", i % 4),
                at
            ],
        )
        .expect("recording");
        let outcome = ["pending", "delivered", "failed"][(i % 13 % 3) as usize];
        conn.execute(
            "INSERT INTO outbox (id, kind, customer_id, ordering_key, event_type, url, body, \
             status, next_attempt_at, tm_create, tm_update) \
             VALUES (?1, 'webhook', ?2, ?3, 'conference_updated', 'http://x', '{}', ?4, 0, ?5, ?5)",
            params![
                format!("m{i}"),
                customer.to_string(),
                uuid("8000", i % 4),
                outcome,
                at
            ],
        )
        .expect("notification");
    }
    (conn, customer)
}

/// Pages through a list to its end with `page` (which answers a page's items and its token);
/// returns every item seen, in order, and the number of pages.
fn walk_all<I, C: Copy>(mut page: impl FnMut(Option<C>) -> (Vec<I>, Option<C>)) -> (Vec<I>, usize) {
    let (mut seen, mut cursor, mut pages) = (Vec::new(), None, 0);
    loop {
        let (keys, next) = page(cursor);
        pages += 1;
        assert!(pages < 500, "the pages end");
        seen.extend(keys);
        match next {
            Some(n) => cursor = Some(n),
            None => return (seen, pages),
        }
    }
}

/// Runs `f` with this thread's scan bound set to `bound`.
fn bounded<T>(bound: usize, f: impl FnOnce() -> T) -> T {
    BOUND.with(|b| b.set(bound));
    let out = f();
    BOUND.with(|b| b.set(SCAN_BOUND));
    out
}

/// The keys `(tm_create, id)` of `table`'s rows passing `condition`, newest first.
fn expected(conn: &Connection, table: &str, condition: &str) -> Vec<(i64, String)> {
    let sql = format!(
        "SELECT tm_create, id FROM {table} WHERE {condition} ORDER BY tm_create DESC, id DESC"
    );
    let mut stmt = conn.prepare(&sql).expect("prepare");
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)));
    rows.expect("query").map(|r| r.expect("row")).collect()
}

#[test]
fn every_conference_filter_pages_through_each_match_once_in_order() {
    let (conn, customer) = seeded();
    let tx = SqliteTx::reader(&conn);
    let statuses = [
        None,
        Some(ConferenceStatus::Starting),
        Some(ConferenceStatus::Terminated),
    ];
    let kinds = [
        None,
        Some(ConferenceType::Connect),
        Some(ConferenceType::Conference),
    ];
    let mut empty_pages = 0;
    for status in statuses {
        for kind in kinds {
            for include_deleted in [false, true] {
                let filter = ConferenceFilter {
                    status,
                    kind,
                    include_deleted,
                };
                let mut condition = format!("customer_id = '{customer}'");
                if let Some(s) = status {
                    condition.push_str(&format!(" AND status = '{}'", s.as_str()));
                }
                if let Some(k) = kind {
                    condition.push_str(&format!(" AND type = '{}'", k.as_str()));
                }
                if !include_deleted {
                    condition.push_str(" AND tm_delete IS NULL");
                }
                let (seen, _) = bounded(4, || {
                    walk_all(|cursor| {
                        let p = tx
                            .list_conferences(customer, &filter, cursor, 2, 1 << 20)
                            .expect("page");
                        empty_pages += usize::from(p.items.is_empty() && p.next.is_some());
                        let keys = p.items.iter().map(|v| {
                            (v.conference.tm_create.micros(), v.conference.id.to_string())
                        });
                        (keys.collect::<Vec<_>>(), p.next)
                    })
                });
                assert_eq!(
                    seen,
                    expected(&conn, "conferences", &condition),
                    "{filter:?}"
                );
            }
        }
    }
    assert!(
        empty_pages > 0,
        "some bounded pages found nothing and still carried a token"
    );
}

#[test]
fn calls_recordings_and_deliveries_page_through_each_match_once_in_order() {
    let (conn, customer) = seeded();
    let tx = SqliteTx::reader(&conn);
    let conference = ConferenceId(Uuid::parse_str(&uuid("8000", 1)).expect("uuid"));
    for conference_id in [None, Some(conference)] {
        for status in [None, Some(CallStatus::Joined), Some(CallStatus::Leaved)] {
            let filter = CallFilter {
                conference_id,
                status,
            };
            let mut condition = format!("customer_id = '{customer}'");
            if let Some(c) = conference_id {
                condition.push_str(&format!(" AND conference_id = '{c}'"));
            }
            if let Some(s) = status {
                condition.push_str(&format!(" AND status = '{}'", s.as_str()));
            }
            let (seen, _) = bounded(3, || {
                walk_all(|cursor| {
                    let p = tx
                        .list_calls(customer, &filter, cursor, 2, 1 << 20)
                        .expect("page");
                    let keys = p
                        .items
                        .iter()
                        .map(|c| (c.tm_create.micros(), c.id.to_string()));
                    (keys.collect::<Vec<_>>(), p.next)
                })
            });
            assert_eq!(
                seen,
                expected(&conn, "conferencecalls", &condition),
                "{filter:?}"
            );
        }
        let condition = match conference_id {
            Some(c) => format!("customer_id = '{customer}' AND conference_id = '{c}'"),
            None => format!("customer_id = '{customer}'"),
        };
        let (seen, _) = bounded(3, || {
            walk_all(|cursor| {
                let p = tx
                    .list_recordings(customer, conference_id, cursor, 2, 1 << 20)
                    .expect("page");
                let keys = p
                    .items
                    .iter()
                    .map(|r| (r.tm_create.micros(), r.id.to_string()));
                (keys.collect::<Vec<_>>(), p.next)
            })
        });
        assert_eq!(seen, expected(&conn, "recordings", &condition));
    }
    let key = uuid("8000", 2);
    for conference in [None, Some(key.as_str())] {
        for status in [
            None,
            Some(DeliveryStatus::Failed),
            Some(DeliveryStatus::Pending),
        ] {
            let filter = DeliveryFilter { status, conference };
            let (seen, _) = bounded(3, || {
                walk_all(|before| {
                    let (items, next) = tx
                        .delivery_page(customer, filter, before, 2, 1 << 20, &|_| 1)
                        .expect("page");
                    (items.iter().map(|m| m.seq).collect(), next)
                })
            });
            let mut want = Vec::new();
            let mut stmt = conn
                .prepare("SELECT seq, status, ordering_key FROM outbox ORDER BY seq DESC")
                .expect("prepare");
            let mut rows = stmt.query([]).expect("query");
            while let Some(r) = rows.next().expect("row") {
                let (seq, s, k): (i64, String, String) = (
                    r.get(0).expect("seq"),
                    r.get(1).expect("status"),
                    r.get(2).expect("key"),
                );
                if status.is_none_or(|w| w.as_str() == s) && conference.is_none_or(|c| c == k) {
                    want.push(seq);
                }
            }
            assert_eq!(seen, want, "{filter:?}");
        }
    }
}

#[test]
fn a_cursor_at_the_oldest_end_seeks_there() {
    let (conn, customer) = seeded();
    let tx = SqliteTx::reader(&conn);
    let filter = ConferenceFilter {
        include_deleted: true,
        ..Default::default()
    };
    let cursor = Cursor {
        tm_create: 1,
        id: Uuid::parse_str(&uuid("8000", 3)).expect("uuid"),
    };
    let page = bounded(2, || {
        tx.list_conferences(customer, &filter, Some(cursor), 100, 1 << 20)
    })
    .expect("page");
    let ids: Vec<String> = page
        .items
        .iter()
        .map(|v| v.conference.id.to_string())
        .collect();
    assert_eq!(
        ids,
        [uuid("8000", 2), uuid("8000", 1)],
        "the bound of 2 ends the page"
    );
    assert!(page.next.is_some(), "rows may remain past the bound");
    let rest = tx
        .list_conferences(customer, &filter, page.next, 100, 1 << 20)
        .expect("page");
    let ids: Vec<String> = rest
        .items
        .iter()
        .map(|v| v.conference.id.to_string())
        .collect();
    assert_eq!((ids, rest.next), (vec![uuid("8000", 0)], None));
}
