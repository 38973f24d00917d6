//! The writer thread (group commit, savepoint per job, the WAL bound) and the checkpoint thread.

use super::reserve::{Reserve, Shortage};
use super::{Completion, SqliteTx, WriteJob, WriteSignals};
use crate::store::health::{LogGate, WriteHealth};
use crate::store::ObserveSince as _;
use crate::store::{StoreError, WriterStats, DISK_FULL, IO_ERROR};
use crossbeam_channel::Receiver;
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Most jobs the writer folds into one transaction.
const MAX_BATCH: usize = 512;

/// A failing store logs once per this interval, with a count of what it held back.
const FAULT_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Runs `f` in a savepoint of the batch transaction: if it fails, only its own changes go.
pub(super) fn run_in_savepoint<T, E, F>(
    conn: &Connection,
    signals: &WriteSignals,
    secrets: &crate::secrets::Secrets,
    f: F,
) -> Result<T, E>
where
    E: From<StoreError>,
    F: FnOnce(&dyn crate::store::Tx) -> Result<T, E>,
{
    // Cached statements: a savepoint per job is on the hot path of every write.
    let run = |sql: &str| {
        conn.prepare_cached(sql)
            .and_then(|mut s| s.execute([]))
            .map(|_| ())
    };
    run("SAVEPOINT job").map_err(|e| E::from(StoreError::from(e)))?;
    let result = f(&SqliteTx::writer(conn, signals).sealing(secrets));
    if conn.is_autocommit() {
        // SQLite rolled the whole transaction back itself (it does so on some disk-full and
        // I/O errors); there is no savepoint left to end and the batch is lost.
        return result;
    }
    let end = match &result {
        Ok(_) => run("RELEASE job"),
        Err(_) => run("ROLLBACK TO job").and_then(|_| run("RELEASE job")),
    };
    match end {
        Ok(()) => result,
        Err(e) => Err(E::from(StoreError::from(e))),
    }
}

/// Keeps the WAL file under its bound. Routine checkpoints are PASSIVE and can be starved by
/// a steady stream of commits and reads, so the writer itself — the only one who commits —
/// runs a TRUNCATE checkpoint between batches whenever the file has outgrown the bound: no
/// commit can slip in while it runs, readers are short, and `journal_size_limit` gives the
/// space back.
pub(super) struct WalBound {
    wal: PathBuf,
    /// The WAL is truncated once it is larger than this.
    threshold: u64,
    /// After a checkpoint that a reader held up, the next waits until this time.
    not_before: Instant,
    /// Set while the checkpoint thread runs its routine PASSIVE checkpoint. SQLite runs one
    /// checkpoint at a time, so a TRUNCATE begun then would only wait and fail; the writer
    /// tries again after its next batch instead.
    routine: Arc<AtomicBool>,
}

/// What an attempt to truncate the WAL came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Truncation {
    /// The WAL is empty now.
    Done,
    /// Nothing to do (the WAL is within its bound, or a retry is not due yet).
    NotNeeded,
    /// A reader held the checkpoint up, or it failed; `disk_full` when for lack of space.
    Failed { disk_full: bool },
}

impl WalBound {
    /// The bound is an eighth of `limit` and, with a disk reserve, at most half the reserve:
    /// a checkpoint never needs to grow the database by more than the WAL holds, so after a
    /// disk-full failure the space the reserve gives back is always enough to truncate it.
    pub(super) fn new(db: &Path, limit: u64, reserve: u64, routine: Arc<AtomicBool>) -> WalBound {
        let threshold = match reserve {
            0 => limit / 8,
            r => (limit / 8).min(r / 2),
        };
        WalBound {
            wal: wal_path(db),
            threshold,
            not_before: Instant::now(),
            routine,
        }
    }

    /// Checks the WAL's size after every batch (a stat costs a microsecond, a commit an fsync)
    /// and truncates it when it is over the bound — an eighth of `--wal-limit-mb` (or half the
    /// disk reserve, if smaller), so the file stays well under the limit while a checkpoint is
    /// pending. Each truncation holds
    /// the writer while it copies the WAL back: at half the limit (32 MiB) that stall was the
    /// spread load's p99 (70 ms); at an eighth it is 44 ms (BENCHMARKS.md). `force` (after a
    /// failed batch) truncates whatever the WAL holds, to give its space back.
    fn keep(&mut self, conn: &Connection, force: bool, gate: &LogGate) -> Truncation {
        if Instant::now() < self.not_before || (!force && self.routine.load(Ordering::Acquire)) {
            return Truncation::NotNeeded;
        }
        let size = wal_bytes_at(&self.wal);
        if size == 0 || (!force && size <= self.threshold) {
            return Truncation::NotNeeded;
        }
        self.truncate(conn, gate)
    }

    /// Truncates the WAL now if it holds anything, whatever its size and however recently a
    /// checkpoint failed.
    fn truncate_if_any(&mut self, conn: &Connection, gate: &LogGate) -> Truncation {
        if wal_bytes_at(&self.wal) == 0 {
            return Truncation::Done;
        }
        self.truncate(conn, gate)
    }

    /// Runs a TRUNCATE checkpoint now.
    fn truncate(&mut self, conn: &Connection, gate: &LogGate) -> Truncation {
        // The checkpoint waits for readers still on older snapshots; they finish within a
        // millisecond or so, so it retries every 100 µs instead of SQLite's default busy
        // handler, whose sleeps (1, 2, 5, 10 … ms) would hold every writer up far longer.
        let _ = conn.busy_handler(Some(retry_soon));
        // The first column says whether readers kept the checkpoint from finishing; SQLite
        // reports that as a row, not as an error.
        let checkpointed = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
            r.get::<_, i64>(0)
        });
        let _ = conn.busy_timeout(Duration::from_secs(5));
        let error = match checkpointed {
            Ok(0) => return Truncation::Done,
            Ok(_) => {
                // Routine under heavy reads, and retried: not worth a warning.
                tracing::debug!("store: a reader held the WAL checkpoint up; will retry");
                self.not_before = Instant::now() + HELD_UP_RETRY;
                return Truncation::Failed { disk_full: false };
            }
            Err(e) => reason_of(e),
        };
        let disk_full = error == DISK_FULL;
        if !disk_full {
            // A reader held on: try again a little later, not after every batch. (For lack of
            // space the writer gives the reserve back and retries at once.)
            self.not_before = Instant::now() + HELD_UP_RETRY;
        }
        if let Some(held) = gate.open() {
            let wal_bytes = wal_bytes_at(&self.wal);
            tracing::warn!(error = %error, wal_bytes, held_back = held, "store: WAL checkpoint failed; will retry");
        }
        Truncation::Failed { disk_full }
    }
}

/// How often the writer looks at the disk again while writes are refused for lack of space.
const SETTLE_EVERY: Duration = Duration::from_millis(100);

/// Room on the disk: the reserve, and whether writes are refused while it is given back.
///
/// The cycle: a commit or checkpoint fails for lack of space → the reserve is given back →
/// the TRUNCATE checkpoint has room to grow the database (the WAL never holds more than half
/// the reserve) → the WAL is empty, so the space it held is free → the reserve is made again
/// once the disk has room for it and as much again → writes resume. Until then writes answer
/// "disk full" and reads go on. Whatever fills the disk next, the reserve is there to give.
pub(super) struct Room {
    reserve: Reserve,
    /// True while the reserve is given back: writes are refused until it is made again.
    short: bool,
    /// Whether the WAL must be truncated before the reserve is made: after a disk-full
    /// failure (the WAL holds the space), or when the disk had no room for the reserve. Not
    /// at start on a disk with room: a start-up checkpoint can be held up by readers (or, in
    /// the tests' two writers on one file, by the other writer) and must not keep writes out.
    truncate_first: bool,
    last_try: Instant,
    gate: LogGate,
}

impl Room {
    /// A reserve given back at open (the disk was nearly full) leaves the store short: the
    /// writer makes it again before its first batch. A reserve kept at open, or none at all
    /// (the CLI, beside a live server), lets writes through at once.
    pub(super) fn new(reserve: Reserve) -> Room {
        Room {
            short: !reserve.is_held(),
            truncate_first: false,
            reserve,
            last_try: Instant::now(),
            gate: LogGate::new(FAULT_LOG_INTERVAL),
        }
    }

    /// Whether a batch failed for lack of space: SQLite said so, or (growing the -shm file
    /// fails as an I/O error) the filesystem has less room left than the reserve.
    fn disk_full(&self, reason: &str) -> bool {
        reason == DISK_FULL || (reason == IO_ERROR && self.reserve.is_low())
    }

    /// Gives the reserve back and refuses writes until `settle` has truncated the WAL and
    /// made the reserve again.
    fn give_back(&mut self, conn: &Connection, wal: &mut WalBound, health: &WriteHealth) {
        if self.reserve.size() == 0 {
            // No reserve (`--disk-reserve-mb 0`): writes go on, each failure followed by a
            // checkpoint that may or may not find room.
            return;
        }
        let freed = self.reserve.release();
        self.short = true;
        self.truncate_first = true;
        if let Some(held) = self.gate.open() {
            tracing::warn!(
                reserve_bytes = self.reserve.size(),
                freed,
                held_back = held,
                "store: the disk is full; the reserve is given back to truncate the WAL, and writes answer 503 until it can be made again"
            );
        }
        self.settle(conn, wal, health, true);
    }

    /// While writes are refused: truncates the WAL and, once it is empty and the reserve is
    /// made again, lets writes through. Tried at most every `SETTLE_EVERY` unless `now`.
    fn settle(&mut self, conn: &Connection, wal: &mut WalBound, health: &WriteHealth, now: bool) {
        if !self.short || (!now && self.last_try.elapsed() < SETTLE_EVERY) {
            return;
        }
        self.last_try = Instant::now();
        // The health is told once, as writes stop; it stays failing until a commit succeeds.
        if self.truncate_first && wal.truncate_if_any(conn, &self.gate) != Truncation::Done {
            if now {
                health.failed(DISK_FULL);
            }
            return;
        }
        match self.reserve.make() {
            Ok(()) => {
                self.short = false;
                self.truncate_first = false;
                tracing::info!(
                    reserve_bytes = self.reserve.size(),
                    "store: the disk reserve is made; writes go through"
                );
            }
            Err(Shortage::NoRoom { free }) => {
                // A WAL left by a crash may hold the room the reserve needs.
                self.truncate_first = true;
                if now {
                    health.failed(DISK_FULL);
                }
                if let Some(held) = self.gate.open() {
                    tracing::warn!(
                        free_bytes = free,
                        needed_bytes = 2 * self.reserve.size(),
                        held_back = held,
                        "store: the disk is full; writes answer 503 until it has room for the reserve and as much again"
                    );
                }
            }
            Err(Shortage::Failed(e)) => {
                // Refusing writes for good because the reserve cannot be made at all (a
                // read-only directory, say) would be worse than running without it.
                tracing::error!(error = %e, "store: the disk reserve cannot be made; running without one");
                self.reserve.disable();
                self.short = false;
            }
        }
    }
}

/// A busy handler that retries every 100 µs for up to about 50 ms: long enough for the reads
/// in flight to finish, short enough that a long read (a backup, the CLI) cannot stall writes.
fn retry_soon(attempt: i32) -> bool {
    std::thread::sleep(Duration::from_micros(100));
    attempt < 200
}

/// How long after a TRUNCATE checkpoint that readers held up the writer tries again. The WAL
/// grows by up to ~100 MB a second under a full write load on a fast disk, so a second's
/// pause let it pass its bound several times over; at this interval a failed attempt (at most
/// 20 ms of retries, `retry_soon`) costs the writer at most a tenth of its time.
const HELD_UP_RETRY: Duration = Duration::from_millis(200);

fn wal_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

/// The WAL file's size in bytes (0 when there is none).
pub(super) fn wal_bytes(db: &Path) -> u64 {
    wal_bytes_at(&wal_path(db))
}

fn wal_bytes_at(wal: &Path) -> u64 {
    std::fs::metadata(wal).map(|m| m.len()).unwrap_or(0)
}

/// Checkpoints the WAL every 200 ms without blocking the writer or readers (PASSIVE), until
/// the store is dropped.
pub(super) fn checkpoint_loop(conn: Connection, stop: Receiver<()>, routine: Arc<AtomicBool>) {
    let gate = LogGate::new(FAULT_LOG_INTERVAL);
    loop {
        match stop.recv_timeout(Duration::from_millis(200)) {
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                routine.store(true, Ordering::Release);
                let done = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                routine.store(false, Ordering::Release);
                if let Err(e) = done {
                    if let Some(held) = gate.open() {
                        tracing::warn!(error = %e, held_back = held, "store: checkpoint failed; will retry");
                    }
                }
            }
            _ => {
                // A last full checkpoint keeps the WAL short for the next start.
                let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
                return;
            }
        }
    }
}

/// Takes every job waiting (up to a batch), runs them all in one transaction, commits once and
/// only then answers each. Under load this turns thousands of small writes into a few fsyncs.
/// While the disk is full and its reserve is given back (`Room`), jobs are answered "disk
/// full" without running.
pub(super) fn writer_loop(
    conn: Connection,
    jobs: Receiver<WriteJob>,
    (health, stats): (&WriteHealth, &WriterStats),
    (mut wal, mut room): (WalBound, Room),
    mut chores: StartChores,
) {
    let gate = LogGate::new(FAULT_LOG_INTERVAL);
    let mut batch: Vec<WriteJob> = Vec::with_capacity(MAX_BATCH);
    let mut completions: Vec<Completion> = Vec::with_capacity(MAX_BATCH);
    // The reserve was given back at open (so SQLite had room to open); make it now, off the
    // async executor, before the first write runs.
    room.settle(&conn, &mut wal, health, true);
    loop {
        let first = match next_job(&jobs, room.short) {
            Next::Job(job) => Some(job),
            Next::Idle => None,
            Next::Closed => return,
        };
        room.settle(&conn, &mut wal, health, false);
        let Some(first) = first else { continue };
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let size = batch.len();
        let outcome = if room.short {
            refuse(&mut batch, &mut completions)
        } else {
            run_batch(&conn, &mut batch, &mut completions, stats, &mut chores)
        };
        if outcome.is_ok() {
            stats.batch_size.observe(size as f64);
        }
        match &outcome {
            Ok(true) => health.committed(),
            Ok(false) => {}
            Err(reason) => {
                health.failed(reason);
                if let Some(held) = gate.open() {
                    tracing::error!(reason = %reason, held_back = held, "store: a write batch failed; writes answer 503 until the store recovers");
                }
            }
        }
        for complete in completions.drain(..) {
            complete(outcome.clone().map(|_| ()));
        }
        if room.short {
            continue;
        }
        // After a failure the WAL may hold space the disk needs: try to give it back. When
        // the disk is full, the checkpoint may need room to grow the database first, which the
        // reserve gives.
        let full = matches!(&outcome, Err(reason) if room.disk_full(reason));
        let truncation = wal.keep(&conn, outcome.is_err(), &gate);
        if full || truncation == (Truncation::Failed { disk_full: true }) {
            room.give_back(&conn, &mut wal, health);
        }
    }
}

enum Next {
    Job(WriteJob),
    /// Nothing came within a short wait (only while writes are refused, so the writer looks
    /// at the disk again).
    Idle,
    Closed,
}

/// The next job: waits for one, or — while the disk is full — for at most `SETTLE_EVERY`, so
/// the writer sees space return even when no client writes.
fn next_job(jobs: &Receiver<WriteJob>, short: bool) -> Next {
    if !short {
        return jobs.recv().map_or(Next::Closed, Next::Job);
    }
    match jobs.recv_timeout(SETTLE_EVERY) {
        Ok(job) => Next::Job(job),
        Err(crossbeam_channel::RecvTimeoutError::Timeout) => Next::Idle,
        Err(crossbeam_channel::RecvTimeoutError::Disconnected) => Next::Closed,
    }
}

/// Answers a batch "disk full" without running it: the reserve is given back and must be made
/// again before anything is written, or the next fill could leave no room to checkpoint.
fn refuse(batch: &mut Vec<WriteJob>, completions: &mut Vec<Completion>) -> Result<bool, String> {
    for job in batch.drain(..) {
        completions.push(job(None).0);
    }
    Err(DISK_FULL.to_string())
}

/// Start-up writes that could not be made because the disk was full: the writer makes them in
/// the first batch that commits, before that batch's own jobs.
#[derive(Debug, Default)]
pub(super) struct StartChores {
    /// Give back the outbox leases the previous life held (`super::RESET_LEASES`).
    pub(super) reset_leases: bool,
}

/// Runs one batch: `Ok(changed anything)` once committed, or why it could not be.
fn run_batch(
    conn: &Connection,
    batch: &mut Vec<WriteJob>,
    completions: &mut Vec<Completion>,
    stats: &WriterStats,
    chores: &mut StartChores,
) -> Result<bool, String> {
    if let Err(e) = begin(conn, chores) {
        let reason = reason_of(e);
        // Running the jobs outside a transaction would commit them piecemeal, so each is told
        // the batch failed without running.
        for job in batch.drain(..) {
            completions.push(job(None).0);
        }
        return Err(reason);
    }
    let changes_before = conn.total_changes();
    let mut lost: Option<String> = None;
    for job in batch.drain(..) {
        if lost.is_some() {
            completions.push(job(None).0);
            continue;
        }
        let (complete, fault) = job(Some(conn));
        completions.push(complete);
        if conn.is_autocommit() {
            // SQLite rolled the transaction back: every job so far lost its changes, and the
            // rest must not run outside a transaction.
            lost = Some(fault.unwrap_or_else(|| "the write transaction was rolled back".into()));
        }
    }
    if let Some(reason) = lost {
        return Err(reason);
    }
    let changed = conn.total_changes() != changes_before;
    let committing = Instant::now();
    let committed = conn.execute_batch("COMMIT");
    stats.commit_seconds.observe_since(committing);
    match committed {
        Ok(()) => {
            chores.reset_leases = false;
            Ok(changed)
        }
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(reason_of(e))
        }
    }
}

/// Begins the batch transaction, with the start-up writes still owed at its head.
fn begin(conn: &Connection, chores: &StartChores) -> Result<(), rusqlite::Error> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    if chores.reset_leases {
        if let Err(e) = conn.execute(super::RESET_LEASES, []) {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(e);
        }
    }
    Ok(())
}

/// Why a transaction could not begin or commit, in words for the 503 answer and the log.
fn reason_of(e: rusqlite::Error) -> String {
    match StoreError::from(e) {
        StoreError::Unavailable(reason) => reason,
        other => other.to_string(),
    }
}
