//! Group commit on PostgreSQL: a writer thread applies the jobs waiting for it in one
//! transaction, each in a savepoint of its own, and commits once.
//!
//! Deadlock freedom across nodes rests on one rule: a transaction waits for a lock only while
//! it holds no other job's changes. The first job that keeps its changes takes its locks as a
//! transaction of its own would (blocking, in the order the rules take them). Every later job
//! takes advisory locks with `pg_try_advisory_xact_lock` and waits for a row lock at most
//! [`LATER_LOCK_TIMEOUT`]; if either is not granted, the job is rolled back to its savepoint
//! (which releases what it took) and carried to the head of the next batch, where it runs
//! first. So no transaction ever waits while holding a lock another waits for, except in the
//! order a single job takes them, as before. The usage counters, the only rows every
//! conference of a customer shares, are added up over the batch and written last, in one
//! statement in key order, so two batches' counters cannot wait on each other in a cycle.

use super::connection::{Conn, Link};
use super::{PgTx, WriteSignals};
use crate::domain::usage::{Day, Usage};
use crate::secrets::Secrets;
use crate::store::health::WriteHealth;
use crate::store::{ObserveSince as _, StoreError, StoreFault, Tx, WriterStats};
use crossbeam_channel::Receiver;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;
use tokio::sync::oneshot;

/// Most jobs one transaction applies. Each kept job is a subtransaction; PostgreSQL keeps 64 of
/// them per backend in shared memory before every other session's snapshots get slower.
pub(super) const MAX_BATCH: usize = 48;

/// Sets how long a later job of a batch waits for a row lock before it is carried to the
/// next batch, and makes that job's savepoint, in one round trip. Row locks outside the
/// advisory ones are rare (two nodes' outbox claims, a customer changed twice at once) and
/// short.
const LATER_LOCK_TIMEOUT: &str = "SET LOCAL lock_timeout = '20ms'; SAVEPOINT job";

/// The session's own lock timeout, back for the usage counters' write at the end of a batch.
const SESSION_LOCK_TIMEOUT: &str = "SET LOCAL lock_timeout = '20s'";

/// How a job of a batch takes its locks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum LockMode {
    /// Waits for each lock: the writes of a batch until one has kept its changes.
    Wait,
    /// Takes a lock only if it is free now; otherwise the job is carried to the next batch.
    Try,
}

/// Usage counters added by a batch's jobs, by (customer, day, shard): the key order is the
/// order the rows are written in.
pub(super) type UsageDeltas = BTreeMap<(String, i32, i32), Usage>;

/// Adds `u` to the counters of one shard of a customer's day.
pub(super) fn add_delta(
    deltas: &mut UsageDeltas,
    customer: String,
    day: Day,
    shard: i32,
    u: &Usage,
) {
    deltas.entry((customer, day.0, shard)).or_default().add(u);
}

/// One write waiting for its batch: run (again, if it was carried), then answered once the
/// batch has committed or failed.
pub(super) trait BatchJob: Send {
    /// Runs the job in `tx`; whether it succeeded.
    fn run(&mut self, tx: &dyn Tx) -> bool;
    /// Forgets a run that was rolled back so the job can run again.
    fn forget(&mut self);
    /// A run that returned success but whose writes failed: `error` is its answer.
    fn fail(&mut self, error: StoreError);
    /// Answers the job with its result or, if the batch was lost, with why.
    fn answer(self: Box<Self>, lost: Option<&str>, health: &WriteHealth);
}

/// A write's closure, its result once it ran, and whom to tell.
pub(super) struct Pending<T, E, F> {
    pub(super) f: F,
    pub(super) result: Option<Result<T, E>>,
    pub(super) reply: oneshot::Sender<Result<T, E>>,
}

impl<T, E, F> BatchJob for Pending<T, E, F>
where
    T: Send + 'static,
    E: StoreFault + Send + 'static,
    F: FnMut(&dyn Tx) -> Result<T, E> + Send + 'static,
{
    fn run(&mut self, tx: &dyn Tx) -> bool {
        let result = (self.f)(tx);
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn forget(&mut self) {
        self.result = None;
    }

    fn fail(&mut self, error: StoreError) {
        self.result = Some(Err(E::from(error)));
    }

    fn answer(self: Box<Self>, lost: Option<&str>, health: &WriteHealth) {
        let result = match (self.result, lost) {
            // A job that failed answers its own error: nothing of it remains either way.
            (Some(Err(e)), _) => Err(e),
            (Some(Ok(value)), None) => Ok(value),
            (_, Some(reason)) => Err(E::from(StoreError::Unavailable(reason.to_string()))),
            (None, None) => Err(E::from(StoreError::Unavailable(
                "the write was not applied".into(),
            ))),
        };
        if let Err(e) = &result {
            if let Some(reason) = e.store_fault() {
                health.failed(reason);
            }
        }
        let _ = self.reply.send(result);
    }
}

/// What the writer threads share.
pub(super) struct Writer {
    pub(super) signals: std::sync::Arc<WriteSignals>,
    pub(super) health: std::sync::Arc<WriteHealth>,
    pub(super) stats: std::sync::Arc<WriterStats>,
    pub(super) secrets: Secrets,
}

/// A writer thread: takes the jobs carried from its last batch, then every job waiting (up to
/// [`MAX_BATCH`]), and applies them in one transaction, until the store is dropped.
pub(super) fn writer_loop(mut link: Link, jobs: Receiver<Box<dyn BatchJob>>, writer: Writer) {
    let mut carried: VecDeque<Box<dyn BatchJob>> = VecDeque::new();
    loop {
        let mut batch: Vec<Box<dyn BatchJob>> = carried.drain(..).collect();
        if batch.is_empty() {
            match jobs.recv() {
                Ok(job) => batch.push(job),
                Err(_) => return,
            }
        }
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        carried = run_batch(&mut link, batch, &writer);
    }
}

/// A batch's progress: the jobs that ran, those carried to the next batch, and the counters
/// the kept jobs added.
#[derive(Default)]
struct Progress {
    ran: Vec<Box<dyn BatchJob>>,
    carried: VecDeque<Box<dyn BatchJob>>,
    usage: UsageDeltas,
    /// Whether a job kept its changes: from then on jobs only try their locks.
    holding: bool,
    /// Whether the later jobs' short lock timeout is set in this transaction.
    timeout_set: bool,
    /// Whether the savepoint `job` is there, unused (made with the BEGIN, or after a job was
    /// rolled back to it).
    savepoint_ready: bool,
    /// Why the batch cannot go on (a statement of its own failed): every job is lost.
    broken: Option<String>,
}

/// Runs one batch and answers its jobs; returns those to run first in the next batch.
fn run_batch(
    link: &mut Link,
    jobs: Vec<Box<dyn BatchJob>>,
    writer: &Writer,
) -> VecDeque<Box<dyn BatchJob>> {
    // The first job's savepoint is made with the BEGIN, in one round trip.
    let (client, statements) = match link.begin_with("BEGIN; SAVEPOINT job") {
        Ok(c) => c,
        Err(e) => {
            let reason = reason_of(&e);
            for job in jobs {
                job.answer(Some(&reason), &writer.health);
            }
            return VecDeque::new();
        }
    };
    let mut progress = Progress {
        savepoint_ready: true,
        ..Progress::default()
    };
    let size = jobs.len();
    let mut pending = jobs.into_iter();
    for job in pending.by_ref() {
        progress.apply(job, client, statements, writer);
        if progress.broken.is_some() {
            break;
        }
    }
    if progress.broken.is_none() && progress.holding && !progress.usage.is_empty() {
        let restore = if progress.timeout_set {
            client
                .batch_execute(SESSION_LOCK_TIMEOUT)
                .map_err(StoreError::from)
        } else {
            Ok(())
        };
        if let Err(e) = restore.and_then(|()| flush_usage(client, statements, &progress.usage)) {
            progress.broken = Some(reason_of(&e));
        }
    }
    let lost = progress.end(client, writer);
    if let Some(reason) = &lost {
        tracing::debug!(reason = %reason, jobs = size, "store: a write batch was lost");
    }
    for job in progress.ran {
        job.answer(lost.as_deref(), &writer.health);
    }
    // Jobs never run because the batch broke are answered too: their write did not happen.
    if let Some(reason) = &lost {
        for job in progress.carried.drain(..).chain(pending) {
            job.answer(Some(reason), &writer.health);
        }
    }
    progress.carried
}

impl Progress {
    /// Runs `job` in a savepoint of its own: kept, rolled back (its error is its answer), or
    /// rolled back and carried when a lock it only tried was held.
    fn apply(
        &mut self,
        mut job: Box<dyn BatchJob>,
        client: &Conn,
        statements: &RefCell<super::connection::Statements>,
        writer: &Writer,
    ) {
        if !self.savepoint_ready {
            // Once a job has kept its changes, later ones wait for a row lock only briefly.
            let sql = if self.holding && !self.timeout_set {
                self.timeout_set = true;
                LATER_LOCK_TIMEOUT
            } else {
                "SAVEPOINT job"
            };
            if let Err(e) = client.batch_execute(sql) {
                self.broken = Some(reason_of(&StoreError::from(e)));
                self.carried.push_front(job);
                return;
            }
        }
        let mode = if self.holding {
            LockMode::Try
        } else {
            LockMode::Wait
        };
        let busy = Cell::new(false);
        let usage = RefCell::new(UsageDeltas::new());
        let tx = PgTx {
            mode,
            usage: Some(&usage),
            ..PgTx::new(
                client,
                statements,
                Some(&writer.signals),
                &writer.secrets,
                &busy,
            )
        };
        let mut ok = job.run(&tx);
        // The writes it sent ahead are answered before its savepoint is kept.
        if let Err(e) = tx.settle() {
            if ok && !busy.get() {
                job.fail(e);
            }
            ok = false;
        }
        drop(tx);
        if ok && !busy.get() {
            for ((customer, day, shard), u) in usage.into_inner() {
                add_delta(&mut self.usage, customer, Day(day), shard, &u);
            }
            self.holding = true;
            self.ran.push(job);
            self.savepoint_ready = false;
            return;
        }
        if let Err(e) = client.batch_execute("ROLLBACK TO SAVEPOINT job") {
            self.broken = Some(reason_of(&StoreError::from(e)));
            self.ran.push(job);
            return;
        }
        self.savepoint_ready = true;
        if busy.get() {
            writer.stats.carried.inc();
            job.forget();
            self.carried.push_back(job);
        } else {
            self.ran.push(job);
        }
    }

    /// Commits what the jobs kept (or rolls back when nothing was kept or the batch broke);
    /// why the batch was lost, if it was.
    fn end(&mut self, client: &Conn, writer: &Writer) -> Option<String> {
        let commit = self.broken.is_none() && self.holding;
        let ending = Instant::now();
        let ended = client.batch_execute(if commit { "COMMIT" } else { "ROLLBACK" });
        if let (true, Ok(())) = (commit, &ended) {
            writer.stats.commit_seconds.observe_since(ending);
            writer.stats.batch_size.observe(self.ran.len() as f64);
            writer.health.committed();
        }
        match (self.broken.take(), ended) {
            (Some(reason), _) => Some(reason),
            (None, Err(e)) if commit => Some(reason_of(&StoreError::from(e))),
            // A failed rollback only means the connection broke, which rolled it back anyway.
            (None, _) => None,
        }
    }
}

/// Writes the batch's usage counters in one statement, rows in key order: two batches
/// adding to the same rows take their locks in the same order, so neither waits on the other
/// in a cycle.
fn flush_usage(
    client: &Conn,
    statements: &RefCell<super::connection::Statements>,
    usage: &UsageDeltas,
) -> Result<(), StoreError> {
    let n = usage.len();
    let (mut customers, mut days, mut shards) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut conferences, mut calls, mut participant, mut recording) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for ((customer, day, shard), u) in usage {
        customers.push(customer.as_str());
        days.push(*day);
        shards.push(*shard);
        conferences.push(u.conferences);
        calls.push(u.calls);
        participant.push(u.participant_seconds);
        recording.push(u.recording_seconds);
    }
    let (busy, secrets) = (Cell::new(false), Secrets::none());
    let tx = PgTx::new(client, statements, None, &secrets, &busy);
    tx.execute(
        "INSERT INTO usage_days (customer_id, day, shard, conferences, calls, \
         participant_seconds, recording_seconds) \
         SELECT * FROM unnest($1::text[], $2::int[], $3::int[], $4::bigint[], $5::bigint[], \
         $6::bigint[], $7::bigint[]) ORDER BY 1, 2, 3 \
         ON CONFLICT (customer_id, day, shard) DO UPDATE SET \
         conferences = usage_days.conferences + EXCLUDED.conferences, \
         calls = usage_days.calls + EXCLUDED.calls, \
         participant_seconds = usage_days.participant_seconds + EXCLUDED.participant_seconds, \
         recording_seconds = usage_days.recording_seconds + EXCLUDED.recording_seconds",
        &[
            &customers,
            &days,
            &shards,
            &conferences,
            &calls,
            &participant,
            &recording,
        ],
    )?;
    Ok(())
}

/// Why a batch could not go on, in words for the 503 answer and the log.
fn reason_of(e: &StoreError) -> String {
    match e {
        StoreError::Unavailable(reason) => reason.clone(),
        other => other.to_string(),
    }
}
