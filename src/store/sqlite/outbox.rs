//! The outbox: messages to deliver, written with the change they report, in SQLite.

use super::rows::*;
use super::{SqliteTx, WriteSignals};
use crate::store::tx::OutboxStore;
use crate::store::*;

impl OutboxStore for SqliteTx<'_> {
    fn retarget_notifications(
        &self,
        customer: CustomerId,
        target: Option<(&str, &str)>,
        now: i64,
    ) -> Result<usize, StoreError> {
        let types = notification_types_sql();
        let customer = customer.to_string();
        Ok(match target {
            Some((url, method)) => self
                .conn
                .prepare_cached(&format!(
                    "UPDATE outbox SET url = ?1, method = ?2 WHERE kind = 'webhook' \
                     AND status IN ('pending', 'failed') AND customer_id = ?3 \
                     AND event_type IN ({types}) AND (url <> ?1 OR method <> ?2)"
                ))?
                .execute(params![url, method, customer])?,
            None => self
                .conn
                .prepare_cached(&format!(
                    "UPDATE outbox SET status = 'failed', last_error = ?1, tm_update = ?2 \
                     WHERE kind = 'webhook' AND status = 'pending' AND customer_id = ?3 \
                     AND event_type IN ({types})"
                ))?
                .execute(params![WEBHOOK_REMOVED, now, customer])?,
        })
    }

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
                m.kind.as_str(),
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

    /// Claims the first pending message of up to `limit` ordering keys whose first message is
    /// due and not leased to anyone (or its lease expired): each is leased to `owner` until
    /// `lease_until`. Messages of `busy` customers (at this node's concurrency cap) are left
    /// out, so they cannot crowd everyone else out of the round.
    fn claim_due_messages(
        &self,
        owner: &str,
        now: i64,
        lease_until: i64,
        limit: usize,
        busy: &[CustomerId],
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let mut sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM outbox o WHERE o.status = 'pending' \
             AND o.next_attempt_at <= ? AND o.lease_until <= ? AND o.seq = (SELECT MIN(p.seq) \
             FROM outbox p WHERE p.ordering_key = o.ordering_key AND p.status = 'pending')"
        );
        let mut args = vec![SqlValue::Integer(now), SqlValue::Integer(now)];
        if !busy.is_empty() {
            sql.push_str(&format!(
                " AND (o.customer_id IS NULL OR o.customer_id NOT IN ({}))",
                vec!["?"; busy.len()].join(",")
            ));
            args.extend(busy.iter().map(|c| SqlValue::Text(c.to_string())));
        }
        sql.push_str(" ORDER BY o.next_attempt_at, o.seq LIMIT ?");
        args.push(SqlValue::Integer(limit as i64));
        let mut out = Vec::new();
        {
            let mut stmt = self.conn.prepare(&sql)?;
            let mut rows = stmt.query(params_from_iter(args))?;
            while let Some(row) = rows.next()? {
                out.push(message_from_row(row)?);
            }
        }
        self.lease(owner, lease_until, &out)?;
        Ok(out)
    }

    /// Claims the next messages of one ordering key in line, oldest first, as long as each is
    /// due by `now` and not leased to another owner (a message waiting for its retry, or
    /// another lane's, holds back the ones after it).
    fn claim_run(
        &self,
        owner: &str,
        key: &str,
        now: i64,
        lease_until: i64,
        limit: usize,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let mut out = Vec::new();
        {
            let mut stmt = self.conn.prepare_cached(&format!(
                "SELECT {MESSAGE_COLUMNS}, lease_owner, lease_until FROM outbox \
                 WHERE ordering_key = ? AND status = 'pending' ORDER BY seq LIMIT ?"
            ))?;
            let mut rows = stmt.query(params![key, limit as i64])?;
            while let Some(row) = rows.next()? {
                let m = message_from_row(row)?;
                let holder: Option<String> = row.get(17)?;
                let held_until: i64 = row.get(18)?;
                let leased_elsewhere = held_until > now && holder.as_deref() != Some(owner);
                if m.next_attempt_at > now || leased_elsewhere {
                    break;
                }
                out.push(m);
            }
        }
        self.lease(owner, lease_until, &out)?;
        Ok(out)
    }

    /// Gives back leases on messages `owner` claimed but did not attempt.
    fn release_leases(&self, owner: &str, seqs: &[i64]) -> Result<(), StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "UPDATE outbox SET lease_owner = NULL, lease_until = 0 \
             WHERE seq = ? AND lease_owner = ?",
        )?;
        for seq in seqs {
            stmt.execute(params![seq, owner])?;
        }
        Ok(())
    }

    /// When the next pending message is due, if any is pending.
    fn next_message_due(&self) -> Result<Option<i64>, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT MIN(next_attempt_at) FROM outbox WHERE status = 'pending'")?
            .query_row([], |r| r.get(0))?)
    }

    /// Records the outcome of a delivery attempt and releases its lease.
    fn record_attempt(&self, m: &StoredMessage) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "UPDATE outbox SET status = ?, attempts = ?, next_attempt_at = ?, last_status = ?, \
                 last_error = ?, tm_update = ?, lease_owner = NULL, lease_until = 0 WHERE seq = ?",
            )?
            .execute(params![
                m.status.as_str(),
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

impl SqliteTx<'_> {
    fn lease(&self, owner: &str, until: i64, messages: &[StoredMessage]) -> Result<(), StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("UPDATE outbox SET lease_owner = ?, lease_until = ? WHERE seq = ?")?;
        for m in messages {
            stmt.execute(params![owner, until, m.seq])?;
        }
        Ok(())
    }
}
