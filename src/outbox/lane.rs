//! A lane: delivers one ordering key's due messages one after another, as fast as the
//! receiver answers, and records their outcomes in batches.
//!
//! Order holds because a lane sends a message only after the one before it has been answered,
//! and only one lane per key runs. A storm is impossible by construction: a message whose
//! outcome is not yet recorded stays held by its lane — never sent again — until the store
//! takes the record, however long that takes.

use super::dispatcher::Dispatcher;
use super::send::{self, RunContext};
use super::Attempt;
use crate::domain::timestamp::Timestamp;
use crate::store::StoredMessage;
use crate::store::{DeliveryStatus, DeliveryTx, MessageKind, StoreError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Messages of one key read at once.
const RUN: usize = 256;
/// Outcomes are recorded at least this often while a run goes on, so the delivery log lags
/// little behind even when the receiver is slow.
const RECORD_EVERY: Duration = Duration::from_millis(50);
/// Longest pause between tries to record outcomes while the store cannot write. Short, and
/// shorter than the dispatcher's own backoff (10 s): once the store recovers, a held outcome
/// is recorded before anyone could claim its message again after a long outage's expired
/// lease.
const MAX_RECORD_BACKOFF: Duration = Duration::from_secs(1);
/// How long a claim holds a message for its owner (`DeliverySettings::lease`, 30 s by
/// default). A lane stops a run before an attempt could outlast it; an owner that dies simply
/// lets it expire, and another takes the message over.
pub(super) fn lease_micros(d: &Dispatcher) -> i64 {
    d.settings.lease.as_micros() as i64
}

/// The time an attempt may take (its timeout) plus room to record it: 2/5 of the lease
/// (12 s of the default 30).
fn lease_margin_micros(d: &Dispatcher) -> i64 {
    lease_micros(d) * 2 / 5
}

/// Time left on the lease for recording an attempt's outcome once it ends: 1/15 of the lease
/// (2 s of the default 30).
fn record_room_micros(d: &Dispatcher) -> i64 {
    lease_micros(d) / 15
}

/// Delivers `first` (already leased to `owner`) and then the key's next due messages until
/// none is due, one is to be retried later, another owner holds the next, or the store
/// cannot be read.
pub(super) async fn run(
    d: &Arc<Dispatcher>,
    owner: &Arc<str>,
    first: StoredMessage,
    lease_until: i64,
) {
    let key: Arc<str> = Arc::from(first.ordering_key.as_str());
    let mut batch = vec![first];
    let mut lease_until = lease_until;
    loop {
        let (wait, outcomes) = deliver_run(d, owner, batch, lease_until).await;
        // The last outcomes of a run and the claim of the next run are one write, so the key
        // is never free between two runs for another owner to take over.
        let claim = !wait && !d.is_stopping();
        let now = d.clock.now().micros();
        lease_until = now + lease_micros(d);
        let next = finish(
            d,
            owner,
            &key,
            outcomes,
            claim.then_some((now, lease_until)),
        )
        .await;
        if next.is_empty() {
            return;
        }
        batch = next;
    }
}

/// Records `outcomes` and, with `claim`, leases the key's next run in the same write; returns
/// that run. While the store cannot write it keeps trying (see `write_held`): the lane keeps
/// its key and sends nothing.
async fn finish(
    d: &Arc<Dispatcher>,
    owner: &Arc<str>,
    key: &Arc<str>,
    outcomes: Vec<StoredMessage>,
    claim: Option<(i64, i64)>,
) -> Vec<StoredMessage> {
    let Some((now, lease_until)) = claim else {
        record(d.clone(), outcomes).await;
        return Vec::new();
    };
    let outcomes = Arc::new(outcomes);
    let (o, k) = (owner.clone(), key.clone());
    let next = write_held(d, outcomes.len(), move |tx| {
        for m in outcomes.iter() {
            tx.record_attempt(m)?;
        }
        tx.claim_run(&o, &k, now, lease_until, RUN)
    })
    .await;
    next.unwrap_or_default()
}

/// Sends a run in order. Outcomes are recorded as it goes, overlapping with sending (one record
/// write in flight at a time), so a commit's latency does not pause the lane; the last ones
/// are handed back unrecorded with whether the key must wait (a message is to be retried
/// later, or shutdown). Messages not attempted are released.
async fn deliver_run(
    d: &Arc<Dispatcher>,
    owner: &Arc<str>,
    run: Vec<StoredMessage>,
    lease_until: i64,
) -> (bool, Vec<StoredMessage>) {
    let mut ctx = RunContext::default();
    let mut unrecorded: Vec<StoredMessage> = Vec::new();
    let mut recording: Option<tokio::task::JoinHandle<()>> = None;
    let mut since_record = Instant::now();
    let mut wait = false;
    let mut run = run.into_iter();
    for mut m in run.by_ref() {
        // An attempt must end well inside the lease, or another owner could take the message
        // while it is still in flight here.
        let lease_left = lease_until - d.clock.now().micros();
        if d.is_stopping() || lease_left < lease_margin_micros(d) {
            let seqs = vec![m.seq];
            release(d, owner, seqs).await;
            wait = d.is_stopping();
            break;
        }
        // However slow a DNS lookup or a receiver, the attempt ends while the lease holds.
        let budget = Duration::from_micros((lease_left - record_room_micros(d)).max(0) as u64);
        let attempt = attempt_within(d, &mut ctx, &m, budget).await;
        wait = apply(d, &mut m, attempt, Timestamp(d.clock.now().micros()));
        unrecorded.push(m);
        if wait {
            break;
        }
        if since_record.elapsed() >= RECORD_EVERY {
            // The previous record must be durable before the next starts: if the store
            // fails, the lane stops sending here until it takes the records.
            if let Some(previous) = recording.take() {
                let _ = previous.await;
            }
            let batch = std::mem::take(&mut unrecorded);
            recording = Some(tokio::spawn(record(d.clone(), batch)));
            since_record = Instant::now();
        }
    }
    let rest: Vec<i64> = run.map(|m| m.seq).collect();
    if !rest.is_empty() {
        release(d, owner, rest).await;
    }
    if let Some(previous) = recording.take() {
        let _ = previous.await;
    }
    (wait, unrecorded)
}

/// Attempts `m`, giving up after `budget`, and tells the dispatcher what the attempt says
/// about the receiver: whether its owner may draw lanes from the shared pool depends on it.
async fn attempt_within(
    d: &Dispatcher,
    ctx: &mut RunContext,
    m: &StoredMessage,
    budget: Duration,
) -> Attempt {
    let sent = send::attempt(&d.client, &d.store, d.clock.as_ref(), &d.settings, ctx, m);
    let sent = tokio::time::timeout(budget, sent)
        .await
        .unwrap_or_else(|_| send::Sent {
            attempt: Attempt::Retry {
                status: None,
                error: "timed out".to_string(),
                retry_after: None,
            },
            // Only a full attempt's time says the receiver is slow; a shorter budget (little
            // of the lease left) says nothing about it.
            failing: (budget >= crate::outbox::ATTEMPT_TIMEOUT).then_some(true),
        });
    // Each message's own customer: a key's messages may mix the platform's commands and its
    // customer's notifications, and each tells about its own receiver.
    d.note_attempt(m.customer_id, sent.failing);
    sent.attempt
}

/// Gives back leases on messages this lane claimed but will not attempt now; if that fails
/// the leases simply expire.
async fn release(d: &Dispatcher, owner: &Arc<str>, seqs: Vec<i64>) {
    let o = owner.clone();
    let released = d.store.write(move |tx| tx.release_leases(&o, &seqs)).await;
    if let Err(e) = released {
        if let Some(held) = d.store_gate.open() {
            tracing::warn!(error = %e, held_back = held, "outbox: cannot release leases; they will expire");
        }
    }
}

/// Applies an attempt's outcome to the message; true when it stays pending for a later try.
fn apply(d: &Dispatcher, m: &mut StoredMessage, attempt: Attempt, now: Timestamp) -> bool {
    m.attempts += 1;
    m.tm_update = now.micros();
    let policy = if matches!(m.kind, MessageKind::Command | MessageKind::PlatformApi) {
        &d.settings.command_policy
    } else {
        &d.settings.webhook_policy
    };
    let outcome = match &attempt {
        Attempt::Delivered(_) => "delivered",
        Attempt::Retry { .. } => "retry",
        Attempt::Failed { .. } => "failed",
    };
    d.metrics.delivery(m.kind.as_str(), outcome);
    let mut later = false;
    match attempt {
        Attempt::Delivered(status) => {
            m.status = DeliveryStatus::Delivered;
            m.last_status = Some(status.into());
            m.last_error = String::new();
        }
        Attempt::Failed { status, error } => {
            m.status = DeliveryStatus::Failed;
            m.last_status = status.map(Into::into);
            m.last_error = error;
        }
        Attempt::Retry {
            status,
            error,
            retry_after,
        } => {
            m.last_status = status.map(Into::into);
            match policy.next_attempt(m.attempts as usize, m.tm_create, now.micros(), retry_after) {
                Some(at) => {
                    m.next_attempt_at = at;
                    m.last_error = error;
                    later = true;
                }
                None => {
                    m.status = DeliveryStatus::Failed;
                    m.last_error = format!("{error}; retries exhausted");
                }
            }
        }
    }
    tracing::debug!(id = %m.id, kind = %m.kind, status = %m.status, attempts = m.attempts, error = %m.last_error, "outbox attempt");
    later
}

/// Records the outcomes in one write (see `write_held`).
async fn record(d: Arc<Dispatcher>, outcomes: Vec<StoredMessage>) {
    if outcomes.is_empty() {
        return;
    }
    let outcomes = Arc::new(outcomes);
    let n = outcomes.len();
    write_held(&d, n, move |tx| {
        for m in outcomes.iter() {
            tx.record_attempt(m)?;
        }
        Ok(())
    })
    .await;
}

/// Runs a write that records delivery outcomes until it commits. While the store cannot
/// write it keeps trying with a growing pause (logging once per interval) and does not
/// return, so the lane keeps its key and nothing is sent again before its record is durable.
/// Only a store that has shut down (at the process's shutdown) ends it early: the leases are
/// given back at the next start and the messages are sent again then.
async fn write_held<T, F>(d: &Dispatcher, messages: usize, f: F) -> Option<T>
where
    T: Send + 'static,
    F: Fn(&dyn DeliveryTx) -> Result<T, StoreError> + Clone + Send + 'static,
{
    let mut backoff = Duration::from_millis(250);
    let mut held = Holding(d, false);
    loop {
        match d.store.write(f.clone()).await {
            Ok(v) => return Some(v),
            Err(StoreError::Closed) if d.is_stopping() => return None,
            Err(e) => {
                held.start();
                if let Some(held) = d.store_gate.open() {
                    tracing::error!(error = %e, messages, held_back = held, "outbox: cannot record delivery outcomes; holding them, nothing is sent again until they are recorded");
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_RECORD_BACKOFF);
            }
        }
    }
}

/// Marks the dispatcher as having a lane that holds unrecorded outcomes, for as long as it
/// lives (see `Dispatcher::holding`).
struct Holding<'d>(&'d Dispatcher, bool);

impl Holding<'_> {
    fn start(&mut self) {
        if !self.1 {
            self.0
                .holding
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.1 = true;
        }
    }
}

impl Drop for Holding<'_> {
    fn drop(&mut self) {
        if self.1 {
            self.0
                .holding
                .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
}
