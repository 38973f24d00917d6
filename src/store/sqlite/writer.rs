//! The writer thread (group commit, savepoint per job, the WAL bound) and the checkpoint thread.

use super::{Completion, SqliteTx, WriteJob, WriteSignals};
use crate::store::health::{LogGate, WriteHealth};
use crate::store::ObserveSince as _;
use crate::store::{StoreError, WriterStats};
use crossbeam_channel::Receiver;
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Most jobs the writer folds into one transaction.
const MAX_BATCH: usize = 512;

/// A failing store logs once per this interval, with a count of what it held back.
const FAULT_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Runs `f` in a savepoint of the batch transaction: if it fails, only its own changes go.
pub(super) fn run_in_savepoint<T, E, F>(
    conn: &Connection,
    signals: &WriteSignals,
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
    let result = f(&SqliteTx::writer(conn, signals));
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
    limit: u64,
    last_check: Instant,
    /// After a checkpoint that a reader held up, the next waits until this time.
    not_before: Instant,
}

impl WalBound {
    pub(super) fn new(db: &Path, limit: u64) -> WalBound {
        WalBound {
            wal: wal_path(db),
            limit,
            last_check: Instant::now(),
            not_before: Instant::now(),
        }
    }

    /// Checks the WAL's size at most every 50 ms and truncates it when it is over an eighth of
    /// the bound, so the file stays well under the bound while a checkpoint is pending. Each
    /// truncation holds the writer while it copies the WAL back: at half the bound (32 MiB) that
    /// stall was the spread load's p99 (70 ms); at an eighth it is 44 ms (BENCHMARKS.md).
    fn keep(&mut self, conn: &Connection, force: bool, gate: &LogGate) {
        let now = Instant::now();
        if now < self.not_before
            || (!force && now.duration_since(self.last_check) < Duration::from_millis(50))
        {
            return;
        }
        self.last_check = Instant::now();
        let size = std::fs::metadata(&self.wal).map(|m| m.len()).unwrap_or(0);
        if size == 0 || (!force && size <= self.limit / 8) {
            return;
        }
        // The checkpoint waits for readers still on older snapshots; they finish within a
        // millisecond or so, so it retries every 100 µs instead of SQLite's default busy
        // handler, whose sleeps (1, 2, 5, 10 … ms) would hold every writer up far longer.
        let _ = conn.busy_handler(Some(retry_soon));
        let checkpointed = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        let _ = conn.busy_timeout(Duration::from_secs(5));
        if let Err(e) = checkpointed {
            // A reader held on: try again in a second, not after every batch.
            self.not_before = Instant::now() + Duration::from_secs(1);
            if let Some(held) = gate.open() {
                tracing::warn!(error = %e, wal_bytes = size, held_back = held, "store: WAL checkpoint failed; will retry");
            }
        }
    }
}

/// A busy handler that retries every 100 µs for up to about 50 ms: long enough for the reads
/// in flight to finish, short enough that a long read (a backup, the CLI) cannot stall writes.
fn retry_soon(attempt: i32) -> bool {
    std::thread::sleep(Duration::from_micros(100));
    attempt < 500
}

fn wal_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

/// The WAL file's size in bytes (0 when there is none).
pub(super) fn wal_bytes(db: &Path) -> u64 {
    std::fs::metadata(wal_path(db))
        .map(|m| m.len())
        .unwrap_or(0)
}

/// Checkpoints the WAL every 200 ms without blocking the writer or readers (PASSIVE), until
/// the store is dropped.
pub(super) fn checkpoint_loop(conn: Connection, stop: Receiver<()>) {
    let gate = LogGate::new(FAULT_LOG_INTERVAL);
    loop {
        match stop.recv_timeout(Duration::from_millis(200)) {
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
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
pub(super) fn writer_loop(
    conn: Connection,
    jobs: Receiver<WriteJob>,
    (health, stats): (&WriteHealth, &WriterStats),
    mut wal: WalBound,
) {
    let gate = LogGate::new(FAULT_LOG_INTERVAL);
    let mut batch: Vec<WriteJob> = Vec::with_capacity(MAX_BATCH);
    let mut completions: Vec<Completion> = Vec::with_capacity(MAX_BATCH);
    while let Ok(first) = jobs.recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let size = batch.len();
        let outcome = run_batch(&conn, &mut batch, &mut completions, stats);
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
        // After a failure the WAL may hold space the disk needs: try to give it back.
        wal.keep(&conn, outcome.is_err(), &gate);
    }
}

/// Runs one batch: `Ok(changed anything)` once committed, or why it could not be.
fn run_batch(
    conn: &Connection,
    batch: &mut Vec<WriteJob>,
    completions: &mut Vec<Completion>,
    stats: &WriterStats,
) -> Result<bool, String> {
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
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
        Ok(()) => Ok(changed),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(reason_of(e))
        }
    }
}

/// Why a transaction could not begin or commit, in words for the 503 answer and the log.
fn reason_of(e: rusqlite::Error) -> String {
    match StoreError::from(e) {
        StoreError::Unavailable(reason) => reason,
        other => other.to_string(),
    }
}
