//! The outbox in PostgreSQL: messages to deliver, leased by one node's lane at a time.

use super::rows::*;
use super::{PgTx, WriteSignals};
use crate::store::tx::OutboxStore;

impl OutboxStore for PgTx<'_> {
    fn retarget_notifications(
        &self,
        customer: CustomerId,
        target: Option<(&str, &str)>,
        now: i64,
    ) -> Result<usize, StoreError> {
        let types = notification_types_sql();
        let customer = customer.to_string();
        let changed = match target {
            Some((url, method)) => self.execute(
                &format!(
                    "UPDATE outbox SET url = $1, method = $2 WHERE kind = 'webhook' \
                     AND status IN ('pending', 'failed') AND customer_id = $3 \
                     AND event_type IN ({types}) AND (url <> $1 OR method <> $2)"
                ),
                &[&url, &method, &customer],
            )?,
            None => self.execute(
                &format!(
                    "UPDATE outbox SET status = 'failed', last_error = $1, tm_update = $2 \
                     WHERE kind = 'webhook' AND status = 'pending' AND customer_id = $3 \
                     AND event_type IN ({types})"
                ),
                &[&WEBHOOK_REMOVED, &now, &customer],
            )?,
        };
        Ok(usize::try_from(changed).unwrap_or(usize::MAX))
    }

    fn enqueue(&self, m: &StoredMessage) -> Result<(), StoreError> {
        if let Some(s) = self.signals {
            WriteSignals::raise(&s.outbox);
        }
        self.send(
            "INSERT INTO outbox (id, kind, customer_id, ordering_key, event_type, url, method, \
             content_type, body, status, attempts, next_attempt_at, last_error, tm_create, \
             tm_update) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', 0, $10, '', \
             $11, $12)",
            super::owned![
                m.id.clone(),
                m.kind.as_str().to_string(),
                m.customer_id.map(|c| c.to_string()),
                m.ordering_key.clone(),
                m.event_type.clone(),
                m.url.clone(),
                m.method.clone(),
                m.content_type.clone(),
                m.body.clone(),
                m.next_attempt_at,
                m.tm_create,
                m.tm_update,
            ],
        )
    }

    /// Claims the first pending message of up to `limit` ordering keys whose first message is
    /// due and not leased. Another node may claim the same rows at the same moment: the lease
    /// is taken by an UPDATE that checks again that it is free, so of two claimants one gets
    /// each message and the other leaves it.
    fn claim_due_messages(
        &self,
        owner: &str,
        now: i64,
        lease_until: i64,
        limit: usize,
        busy: &[CustomerId],
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let busy: Vec<String> = busy.iter().map(|c| c.to_string()).collect();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self.query(
            &format!(
                "SELECT {MESSAGE_COLUMNS} FROM outbox o WHERE o.status = 'pending' \
                 AND o.next_attempt_at <= $1 AND o.lease_until <= $1 \
                 AND o.seq = (SELECT MIN(p.seq) FROM outbox p \
                     WHERE p.ordering_key = o.ordering_key AND p.status = 'pending') \
                 AND (o.customer_id IS NULL OR NOT (o.customer_id = ANY($2))) \
                 ORDER BY o.next_attempt_at, o.seq LIMIT $3"
            ),
            &[&now, &busy, &limit],
        )?;
        let found = rows
            .iter()
            .map(|r| message_from_row(r))
            .collect::<Result<Vec<_>, _>>()?;
        let leased = self.lease(owner, now, lease_until, &found)?;
        Ok(found
            .into_iter()
            .filter(|m| leased.contains(&m.seq))
            .collect())
    }

    /// Claims the next messages of one key in line, oldest first, while each is due and not
    /// leased to another owner; the run stops at the first message another node took.
    fn claim_run(
        &self,
        owner: &str,
        key: &str,
        now: i64,
        lease_until: i64,
        limit: usize,
    ) -> Result<Vec<StoredMessage>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self.query(
            &format!(
                "SELECT {MESSAGE_COLUMNS}, lease_owner, lease_until FROM outbox \
                 WHERE ordering_key = $1 AND status = 'pending' ORDER BY seq LIMIT $2"
            ),
            &[&key, &limit],
        )?;
        let mut run = Vec::new();
        for row in &rows {
            let m = message_from_row(row)?;
            let holder: Option<String> = row.try_get(17)?;
            let held_until: i64 = row.try_get(18)?;
            let leased_elsewhere = held_until > now && holder.as_deref() != Some(owner);
            if m.next_attempt_at > now || leased_elsewhere {
                break;
            }
            run.push(m);
        }
        let leased = self.lease(owner, now, lease_until, &run)?;
        let taken = run.iter().take_while(|m| leased.contains(&m.seq)).count();
        if taken < run.len() {
            // Another owner took a message of the run meanwhile: the ones after it stay
            // behind it, so give them back.
            let rest: Vec<i64> = run[taken..].iter().map(|m| m.seq).collect();
            self.release_leases(owner, &rest)?;
            run.truncate(taken);
        }
        Ok(run)
    }

    fn release_leases(&self, owner: &str, seqs: &[i64]) -> Result<(), StoreError> {
        self.execute(
            "UPDATE outbox SET lease_owner = NULL, lease_until = 0 \
             WHERE seq = ANY($1) AND lease_owner = $2",
            &[&seqs, &owner],
        )?;
        Ok(())
    }

    fn next_message_due(&self) -> Result<Option<i64>, StoreError> {
        Ok(self
            .query_one(
                "SELECT MIN(next_attempt_at) FROM outbox WHERE status = 'pending'",
                &[],
            )?
            .try_get(0)?)
    }

    fn record_attempt(&self, m: &StoredMessage) -> Result<(), StoreError> {
        self.execute(
            "UPDATE outbox SET status = $1, attempts = $2, next_attempt_at = $3, \
             last_status = $4, last_error = $5, tm_update = $6, lease_owner = NULL, \
             lease_until = 0 WHERE seq = $7",
            &[
                &m.status.as_str(),
                &m.attempts,
                &m.next_attempt_at,
                &m.last_status,
                &m.last_error,
                &m.tm_update,
                &m.seq,
            ],
        )?;
        Ok(())
    }

    fn message(&self, id: &str) -> Result<Option<StoredMessage>, StoreError> {
        self.optional_row(
            &format!("SELECT {MESSAGE_COLUMNS} FROM outbox WHERE id = $1"),
            &[&id],
            message_from_row,
        )
    }
}

impl PgTx<'_> {
    /// Leases those of `messages` that are still pending and free (or already `owner`'s) to
    /// `owner`; returns the seqs it leased. The check runs on the row's newest version, after
    /// any other claimant's transaction has ended.
    fn lease(
        &self,
        owner: &str,
        now: i64,
        until: i64,
        messages: &[StoredMessage],
    ) -> Result<Vec<i64>, StoreError> {
        if messages.is_empty() {
            return Ok(Vec::new());
        }
        let seqs: Vec<i64> = messages.iter().map(|m| m.seq).collect();
        self.query(
            "UPDATE outbox SET lease_owner = $1, lease_until = $2 WHERE seq = ANY($3) \
             AND status = 'pending' AND (lease_until <= $4 OR lease_owner = $1) RETURNING seq",
            &[&owner, &until, &seqs, &now],
        )?
        .iter()
        .map(|row| Ok(row.try_get(0)?))
        .collect()
    }
}
