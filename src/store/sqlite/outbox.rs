//! The outbox: messages to deliver, written with the change they report, in SQLite.

use super::rows::*;
use super::{SqliteTx, WriteSignals};
use crate::store::tx::OutboxStore;
use crate::store::*;

impl OutboxStore for SqliteTx<'_> {
    fn enqueue(&self, m: &StoredMessage) -> Result<(), StoreError> {
        if let Some(s) = self.signals {
            WriteSignals::raise(&s.outbox);
        }
        self.conn
            .prepare_cached(
                "INSERT INTO outbox (id, kind, customer_id, ordering_key, event_type, url, method, \
                 content_type, body, status, attempts, next_attempt_at, last_error, tm_create, \
                 tm_update) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', 0, ?, '', ?, ?)",
            )?
            .execute(params![
                m.id,
                m.kind,
                m.customer_id.map(|c| c.to_string()),
                m.ordering_key,
                m.event_type,
                m.url,
                m.method,
                m.content_type,
                m.body,
                m.next_attempt_at,
                m.tm_create,
                m.tm_update,
            ])?;
        Ok(())
    }

    /// Pending messages due by `now` that are first in line for their ordering key.
    /// Keys of `skip` (being delivered now) and messages of `busy` customers (at their
    /// concurrency cap) are left out, so they cannot crowd everyone else out of the page.
    fn due_messages(
        &self,
        now: i64,
        limit: usize,
        skip: &[String],
        busy: &[Uuid],
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let mut sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM outbox o WHERE o.status = 'pending' \
             AND o.next_attempt_at <= ? AND o.seq = (SELECT MIN(p.seq) FROM outbox p \
             WHERE p.ordering_key = o.ordering_key AND p.status = 'pending')"
        );
        let mut args = vec![SqlValue::Integer(now)];
        if !skip.is_empty() {
            sql.push_str(&format!(
                " AND o.ordering_key NOT IN ({})",
                vec!["?"; skip.len()].join(",")
            ));
            args.extend(skip.iter().map(|k| SqlValue::Text(k.clone())));
        }
        if !busy.is_empty() {
            sql.push_str(&format!(
                " AND (o.customer_id IS NULL OR o.customer_id NOT IN ({}))",
                vec!["?"; busy.len()].join(",")
            ));
            args.extend(busy.iter().map(|c| SqlValue::Text(c.to_string())));
        }
        sql.push_str(" ORDER BY o.next_attempt_at, o.seq LIMIT ?");
        args.push(SqlValue::Integer(limit as i64));
        let mut stmt = self.conn.prepare(&sql)?;
        let mut rows = stmt.query(params_from_iter(args))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(message_from_row(row)?);
        }
        Ok(out)
    }

    /// The next messages of one ordering key in line, oldest first, as long as each is due by
    /// `now` (a message waiting for its retry holds back the ones after it).
    fn next_run(
        &self,
        key: &str,
        now: i64,
        limit: usize,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM outbox WHERE ordering_key = ? AND status = 'pending' \
             ORDER BY seq LIMIT ?"
        ))?;
        let mut rows = stmt.query(params![key, limit as i64])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let m = message_from_row(row)?;
            if m.next_attempt_at > now {
                break;
            }
            out.push(m);
        }
        Ok(out)
    }

    /// When the next pending message is due, if any is pending.
    fn next_message_due(&self) -> Result<Option<i64>, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT MIN(next_attempt_at) FROM outbox WHERE status = 'pending'")?
            .query_row([], |r| r.get(0))?)
    }

    /// Records the outcome of a delivery attempt.
    fn record_attempt(&self, m: &StoredMessage) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "UPDATE outbox SET status = ?, attempts = ?, next_attempt_at = ?, last_status = ?, \
                 last_error = ?, tm_update = ? WHERE seq = ?",
            )?
            .execute(params![
                m.status,
                m.attempts,
                m.next_attempt_at,
                m.last_status,
                m.last_error,
                m.tm_update,
                m.seq,
            ])?;
        Ok(())
    }

    fn message(&self, id: &str) -> Result<Option<StoredMessage>, StoreError> {
        self.optional_row(
            &format!("SELECT {MESSAGE_COLUMNS} FROM outbox WHERE id = ?"),
            [id],
            message_from_row,
        )
    }
}
