//! The SQLite store: one writer thread that group-commits, a pool of reader threads, and the
//! only SQL in the program (in `db`).

mod db;

pub use db::{CallFilter, ConferenceFilter, Cursor, Db, Page, StoredMessage, WriteSignals};

use crossbeam_channel::{Receiver, Sender};
use rusqlite::Connection;
use rusqlite_migration::{Migrations, M};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::oneshot;

/// Most jobs the writer folds into one transaction.
const MAX_BATCH: usize = 512;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("migration: {0}")]
    Migration(#[from] rusqlite_migration::Error),
    #[error("stored data is not valid: {0}")]
    Corrupt(String),
    #[error("the store has shut down")]
    Closed,
    #[error("commit failed: {0}")]
    Commit(String),
}

/// A write job: runs inside the batch transaction (or, given `None`, learns that the batch could
/// not start and does nothing) and returns how to report its outcome once the batch has (or has
/// not) committed.
type WriteJob = Box<dyn FnOnce(Option<&Connection>) -> Completion + Send>;
type Completion = Box<dyn FnOnce(Result<(), String>) + Send>;
type ReadJob = Box<dyn FnOnce(&Connection) + Send>;

/// Handle to the store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    /// Dropped with the last handle, which ends the checkpoint thread.
    _checkpoint: Arc<Sender<()>>,
    writer: Sender<WriteJob>,
    signals: Arc<WriteSignals>,
    readers: Sender<ReadJob>,
    path: PathBuf,
}

fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(include_str!("migrations/0001_initial.sql")),
        M::up(include_str!("migrations/0002_outbox_and_deadlines.sql")),
        M::up(include_str!("migrations/0003_webhook_secret_rotation.sql")),
        M::up(include_str!("migrations/0004_xml_status.sql")),
        M::up(include_str!("migrations/0005_platform_events_rowid.sql")),
        M::up(include_str!("migrations/0006_metrics_and_retention.sql")),
    ])
}

fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path)?;
    // WAL lets readers run beside the writer; synchronous=FULL makes every acknowledged commit
    // survive power loss as well as a crash; the busy timeout covers the CLI writing while the
    // server runs.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

impl Store {
    /// Opens (creating if needed) and migrates the database, then starts the writer and
    /// `readers` reader threads.
    pub fn open(path: &Path, readers: usize) -> Result<Store, StoreError> {
        let mut conn = open_connection(path)?;
        migrations().to_latest(&mut conn)?;
        // Checkpoints move WAL pages into the database file; done by the writer after a commit
        // they would stall every request in that batch, so a thread of their own does them.
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        let checkpoint_conn = open_connection(path)?;
        let (checkpoint_stop, checkpoint_rx) = crossbeam_channel::bounded::<()>(0);
        std::thread::Builder::new()
            .name("store-checkpoint".into())
            .spawn(move || checkpoint_loop(checkpoint_conn, checkpoint_rx))
            .map_err(|e| StoreError::Corrupt(format!("cannot start checkpoint thread: {e}")))?;

        let (writer, write_rx) = crossbeam_channel::unbounded::<WriteJob>();
        std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || writer_loop(conn, write_rx))
            .map_err(|e| StoreError::Corrupt(format!("cannot start writer thread: {e}")))?;

        let (reader_tx, reader_rx) = crossbeam_channel::unbounded::<ReadJob>();
        for i in 0..readers.max(1) {
            let conn = open_connection(path)?;
            let rx = reader_rx.clone();
            std::thread::Builder::new()
                .name(format!("store-reader-{i}"))
                .spawn(move || {
                    while let Ok(job) = rx.recv() {
                        job(&conn);
                    }
                })
                .map_err(|e| StoreError::Corrupt(format!("cannot start reader thread: {e}")))?;
        }
        Ok(Store {
            _checkpoint: Arc::new(checkpoint_stop),
            writer,
            signals: Arc::new(WriteSignals::default()),
            readers: reader_tx,
            path: path.to_path_buf(),
        })
    }

    /// What committed writes did since the last call: (queued a message, set a deadline).
    pub fn take_signals(&self) -> (bool, bool) {
        self.signals.take()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on a reader connection, off the async executor.
    pub async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Db) -> Result<T, StoreError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: ReadJob = Box::new(move |conn| {
            let _ = tx.send(f(&Db::reader(conn)));
        });
        self.readers.send(job).map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Runs `f` inside the writer's current batch transaction and answers once that batch has
    /// committed. If `f` fails, its changes are rolled back (a savepoint) and the rest of the
    /// batch is unaffected.
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&Db) -> Result<T, E> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<Result<T, E>>();
        let signals = self.signals.clone();
        let job: WriteJob = Box::new(move |conn| {
            let outcome = match conn {
                Some(conn) => run_in_savepoint(conn, &signals, f),
                None => Err(E::from(StoreError::Commit(
                    "no transaction could be started".into(),
                ))),
            };
            Box::new(move |committed: Result<(), String>| {
                let answer = match (outcome, committed) {
                    (Ok(v), Ok(())) => Ok(v),
                    (Ok(_), Err(e)) => Err(E::from(StoreError::Commit(e))),
                    (Err(e), _) => Err(e),
                };
                let _ = tx.send(answer);
            })
        });
        self.writer
            .send(job)
            .map_err(|_| E::from(StoreError::Closed))?;
        rx.await.map_err(|_| E::from(StoreError::Closed))?
    }
}

fn run_in_savepoint<T, E, F>(conn: &Connection, signals: &WriteSignals, f: F) -> Result<T, E>
where
    E: From<StoreError>,
    F: FnOnce(&Db) -> Result<T, E>,
{
    // Cached statements: a savepoint per job is on the hot path of every write.
    let run = |sql: &str| {
        conn.prepare_cached(sql)
            .and_then(|mut s| s.execute([]))
            .map(|_| ())
    };
    run("SAVEPOINT job").map_err(|e| E::from(StoreError::from(e)))?;
    let result = f(&Db::writer(conn, signals));
    let end = match &result {
        Ok(_) => run("RELEASE job"),
        Err(_) => run("ROLLBACK TO job").and_then(|_| run("RELEASE job")),
    };
    match end {
        Ok(()) => result,
        Err(e) => Err(E::from(StoreError::from(e))),
    }
}

/// Copies a live database to `to` with SQLite's online backup: pages are copied in steps while
/// the service keeps reading and writing, and the copy is a consistent snapshot.
pub fn backup(db: &Path, to: &Path) -> Result<(), StoreError> {
    if !db.exists() {
        return Err(StoreError::Corrupt(format!(
            "{} does not exist",
            db.display()
        )));
    }
    let src = open_connection(db)?;
    let mut dst = Connection::open(to)?;
    let b = rusqlite::backup::Backup::new(&src, &mut dst)?;
    b.run_to_completion(256, std::time::Duration::from_millis(5), None)?;
    Ok(())
}

/// Checkpoints the WAL every 200 ms without blocking the writer or readers (PASSIVE), until
/// the store is dropped.
fn checkpoint_loop(conn: Connection, stop: Receiver<()>) {
    loop {
        match stop.recv_timeout(std::time::Duration::from_millis(200)) {
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    tracing::warn!(error = %e, "store: checkpoint failed; will retry");
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
fn writer_loop(conn: Connection, jobs: Receiver<WriteJob>) {
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
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            let msg = e.to_string();
            tracing::error!(error = %msg, "store: cannot begin a write transaction");
            // Running the jobs outside a transaction would commit them piecemeal, so each is
            // told the batch failed without running.
            for job in batch.drain(..) {
                let complete = job(None);
                complete(Err(msg.clone()));
            }
            continue;
        }
        for job in batch.drain(..) {
            completions.push(job(Some(&conn)));
        }
        let committed = conn.execute_batch("COMMIT").map_err(|e| {
            tracing::error!(error = %e, "store: commit failed");
            let _ = conn.execute_batch("ROLLBACK");
            e.to_string()
        });
        for complete in completions.drain(..) {
            complete(committed.clone());
        }
    }
}
