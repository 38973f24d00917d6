//! A conference's history written straight into a stopped server's SQLite file, and the check
//! of a scenario's final state read straight from that file.

use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;
use std::time::Duration;

/// Adds `calls` conferencecalls that joined and left to conference `conf` in the SQLite file
/// `db` (no server running on it), in one recursive-CTE INSERT. The rows are what the server
/// itself leaves behind: status `leaved`, a join position each (after the conference's
/// last), UUIDv7 ids, the conference's customer. Left calls are not active, so of the
/// conference's counters only `join_seq_last` moves.
pub fn seed_left_calls(db: &Path, conf: &str, calls: usize) -> Result<(), String> {
    let conn = Connection::open(db).map_err(|e| e.to_string())?;
    // A million rows through the WAL would be written twice and leave a WAL far past the
    // server's bound for its start-up; a rollback journal writes them once. synchronous=OFF:
    // a seed interrupted by a crash is simply run again.
    conn.execute_batch(
        "PRAGMA journal_mode=DELETE; PRAGMA synchronous=OFF; PRAGMA cache_size=-262144;",
    )
    .map_err(|e| format!("pragmas: {e}"))?;
    let (customer, created): (String, i64) = conn
        .query_row(
            "SELECT customer_id, tm_create FROM conferences WHERE id = ?",
            [conf],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(|e| format!("conference {conf}: {e}"))?;
    let tx = conn.unchecked_transaction().map_err(|e| e.to_string())?;
    // Call i was created i µs after the conference, its id a UUIDv7 of that millisecond with
    // i as its random part, so ids are unique and ordered like the server's.
    tx.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1), \
         c(i, t, ms, seq) AS (SELECT i, ?2 + i, (?2 + i) / 1000, \
            (SELECT join_seq_last FROM conferences WHERE id = ?3) + i FROM n) \
         INSERT INTO conferencecalls (id, customer_id, conference_id, reference_id, status, \
            join_seq, tm_create, tm_update, tm_delete) \
         SELECT printf('%08x-%04x-7000-8000-%012x', ms >> 16, ms & 65535, i), ?4, ?3, \
            'hist-' || i, 'leaved', seq, t, t + 1, NULL FROM c",
        params![calls as i64, created, conf, customer],
    )
    .map_err(|e| format!("seed insert: {e}"))?;
    tx.execute(
        "UPDATE conferences SET join_seq_last = join_seq_last + ?1 WHERE id = ?2",
        params![calls as i64, conf],
    )
    .map_err(|e| format!("seed counters: {e}"))?;
    tx.commit().map_err(|e| format!("seed commit: {e}"))?;
    conn.query_row("PRAGMA journal_mode=WAL", [], |_| Ok(()))
        .map_err(|e| format!("back to WAL: {e}"))
}

/// A long backlog of history past its retention, written straight into a stopped server's
/// SQLite file: `rows` answered platform events and half as many delivered notifications,
/// all 40 days old (past the idempotency window and the delivery log's month), as a node that
/// was down for weeks, or the first start of a version that prunes more, finds them.
pub fn seed_old_history(db: &Path, rows: usize) -> Result<(), String> {
    let conn = Connection::open(db).map_err(|e| e.to_string())?;
    conn.execute_batch(
        "PRAGMA journal_mode=DELETE; PRAGMA synchronous=OFF; PRAGMA cache_size=-262144;",
    )
    .map_err(|e| format!("pragmas: {e}"))?;
    let old = chrono::Utc::now().timestamp_micros() - 40 * 24 * 3600 * 1_000_000;
    let tx = conn.unchecked_transaction().map_err(|e| e.to_string())?;
    tx.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1) \
         INSERT INTO platform_events (id, type, status, body, tm_create) \
         SELECT 'old-' || i, 'call_joined', 200, \
            '{\"conferencecall\":{\"id\":\"' || i || '\",\"status\":\"joined\"}}', ?2 + i FROM n",
        params![rows as i64, old],
    )
    .map_err(|e| format!("seed events: {e}"))?;
    tx.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1) \
         INSERT INTO outbox (id, kind, customer_id, ordering_key, event_type, url, body, \
            status, attempts, next_attempt_at, last_status, tm_create, tm_update) \
         SELECT 'msg-old-' || i, 'webhook', 'c', 'k' || (i % 1000), 'conferencecall_joined', \
            'https://hooks.example/x', '{\"type\":\"conferencecall_joined\",\"data\":{}}', \
            'delivered', 1, ?2 + i, 200, ?2 + i, ?2 + i FROM n",
        params![(rows / 2) as i64, old],
    )
    .map_err(|e| format!("seed messages: {e}"))?;
    tx.commit().map_err(|e| format!("seed commit: {e}"))?;
    conn.query_row("PRAGMA journal_mode=WAL", [], |_| Ok(()))
        .map_err(|e| format!("back to WAL: {e}"))
}

/// Old platform events still in the file (`seed_old_history`'s), read while the server runs.
pub fn old_events_left(db: &Path) -> Result<i64, String> {
    let conn = Connection::open(db).map_err(|e| e.to_string())?;
    conn.busy_timeout(Duration::from_secs(10))
        .map_err(|e| e.to_string())?;
    conn.query_row(
        "SELECT COUNT(*) FROM platform_events WHERE id LIKE 'old-%'",
        [],
        |r| r.get(0),
    )
    .map_err(|e| e.to_string())
}

/// Checks, straight from the SQLite file while the server runs, that each conference holds
/// exactly the expected number of calls, all left, none doubled, each joined once at its own
/// position, and that the counters on its row (migration 0009) agree: nothing active, nothing
/// joined, the last join position equal to the calls that joined. Returns the calls checked.
pub fn check_left_calls(db: &Path, expected: &[(String, usize)]) -> Result<usize, String> {
    let conn = Connection::open(db).map_err(|e| e.to_string())?;
    conn.busy_timeout(Duration::from_secs(10))
        .map_err(|e| e.to_string())?;
    let mut checked = 0;
    for (conf, calls) in expected {
        let row: Option<(i64, i64, i64, String)> = conn
            .query_row(
                "SELECT calls_active, calls_joined, join_seq_last, status FROM conferences \
                 WHERE id = ?",
                [conf],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()
            .map_err(|e| e.to_string())?;
        let Some((active, joined, seq_last, status)) = row else {
            return Err(format!("conference {conf} not stored"));
        };
        let [total, left, refs, seqs, max_seq] = call_aggregates(&conn, conf)?;
        let n = *calls as i64;
        let want = [n, n, n, n, n, 0, 0, n];
        let got = [total, left, refs, seqs, max_seq, active, joined, seq_last];
        if got != want || status != "progressing" {
            return Err(format!(
                "conference {conf} ({status}): calls {total}, left {left}, distinct platform calls \
                 {refs}, distinct join positions {seqs}, last position {max_seq}; on its row \
                 calls_active {active}, calls_joined {joined}, join_seq_last {seq_last}; \
                 expected {n} calls, all left, each joined once"
            ));
        }
        checked += *calls;
    }
    Ok(checked)
}

/// Calls, calls left, distinct platform calls, distinct join positions and the last join
/// position of one conference.
fn call_aggregates(conn: &Connection, conf: &str) -> Result<[i64; 5], String> {
    conn.query_row(
        "SELECT COUNT(*), COALESCE(SUM(status = 'leaved'), 0), COUNT(DISTINCT reference_id), \
         COUNT(DISTINCT join_seq), COALESCE(MAX(join_seq), 0) \
         FROM conferencecalls WHERE conference_id = ?",
        [conf],
        |r| Ok([r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?]),
    )
    .map_err(|e| format!("conference {conf}: {e}"))
}
