//! The SQLite backend: one writer thread that group-commits, a pool of reader threads, and
//! every SQL statement of the embedded store, split by table.

mod announcements;
mod calls;
mod conferences;
mod customers;
mod deadlines;
mod events;
mod housekeeping;
mod outbox;
mod pages;
mod pauses;
#[cfg(test)]
mod plans;
mod platform_calls;
mod recordings;
mod reserve;
mod rows;
mod secrets;
mod usage;
mod writer;

use super::health::WriteHealth;
use super::tx::Tx;
use super::{StoreError, StoreFault, StoreOptions};
use crate::secrets::Secrets;
use crossbeam_channel::Sender;
use rusqlite::Connection;
use rusqlite_migration::{Migrations, M};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::oneshot;

/// A connection seen through confab's queries. Reader and writer threads hand one to the
/// closure they run.
pub struct SqliteTx<'c> {
    conn: &'c Connection,
    /// Set when this write queued a message or set a deadline; `None` on readers.
    signals: Option<&'c WriteSignals>,
    /// Seals and opens the customers' secret columns.
    secrets: &'c Secrets,
    /// Rows this write job read or wrote (writers only; the one writer's rows are its own).
    known: std::cell::RefCell<crate::store::known::Known>,
}

/// The keys of a connection opened without any (tests of the queries themselves).
static NO_SECRETS: Secrets = Secrets::none();

/// What the writes of a batch did that background tasks must hear about once it commits.
#[derive(Debug, Default)]
pub struct WriteSignals {
    pub outbox: AtomicBool,
    pub deadlines: AtomicBool,
}

impl WriteSignals {
    fn raise(flag: &AtomicBool) {
        flag.store(true, Ordering::Release);
    }

    /// Takes (and clears) the flags: (outbox, deadlines).
    pub fn take(&self) -> (bool, bool) {
        (
            self.outbox.swap(false, Ordering::AcqRel),
            self.deadlines.swap(false, Ordering::AcqRel),
        )
    }
}

impl<'c> SqliteTx<'c> {
    /// Runs a query expected to return at most one row and maps it.
    fn optional_row<T, P: rusqlite::Params>(
        &self,
        sql: &str,
        params: P,
        map: fn(&dyn crate::store::columns::Columns) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let mut rows = stmt.query(params)?;
        match rows.next()? {
            Some(row) => Ok(Some(map(row)?)),
            None => Ok(None),
        }
    }

    pub(super) fn reader(conn: &'c Connection) -> Self {
        SqliteTx {
            conn,
            signals: None,
            secrets: &NO_SECRETS,
            known: Default::default(),
        }
    }

    pub(super) fn writer(conn: &'c Connection, signals: &'c WriteSignals) -> Self {
        SqliteTx {
            conn,
            signals: Some(signals),
            secrets: &NO_SECRETS,
            known: std::cell::RefCell::new(crate::store::known::Known::sole_writer()),
        }
    }

    /// The same connection sealing and opening secrets with `secrets`.
    pub(super) fn sealing(self, secrets: &'c Secrets) -> Self {
        SqliteTx { secrets, ..self }
    }
}

impl Tx for SqliteTx<'_> {
    fn begin_step(&self) -> Result<(), StoreError> {
        self.run_cached("SAVEPOINT step")
    }

    fn end_step(&self, keep: bool) -> Result<(), StoreError> {
        if keep {
            self.run_cached("RELEASE step")
        } else {
            self.known.borrow_mut().forget();
            self.run_cached("ROLLBACK TO step")?;
            self.run_cached("RELEASE step")
        }
    }
}

impl SqliteTx<'_> {
    fn run_cached(&self, sql: &str) -> Result<(), StoreError> {
        self.conn.prepare_cached(sql)?.execute([])?;
        Ok(())
    }
}

/// Handle to the store; cheap to clone.
#[derive(Clone)]
pub struct SqliteStore {
    /// Dropped with the last handle, which ends the checkpoint thread.
    _checkpoint: Arc<Sender<()>>,
    writer: Sender<WriteJob>,
    signals: Arc<WriteSignals>,
    health: Arc<WriteHealth>,
    stats: Arc<crate::store::WriterStats>,
    readers: Sender<ReadJob>,
    path: PathBuf,
    wal_limit_bytes: u64,
    /// Cheap to clone: the keys are shared.
    secrets: Secrets,
}

fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(include_str!("migrations/0001_initial.sql")),
        M::up(include_str!("migrations/0002_outbox_and_deadlines.sql")),
        M::up(include_str!("migrations/0003_webhook_secret_rotation.sql")),
        M::up(include_str!("migrations/0004_xml_status.sql")),
        M::up(include_str!("migrations/0005_platform_events_rowid.sql")),
        M::up(include_str!("migrations/0006_metrics_and_retention.sql")),
        M::up(include_str!("migrations/0007_store_probe.sql")),
        M::up(include_str!("migrations/0008_outbox_leases.sql")),
        M::up(include_str!(
            "migrations/0009_counts_and_active_indexes.sql"
        )),
        M::up(include_str!("migrations/0010_platform_dialects.sql")),
        M::up(include_str!("migrations/0011_list_indexes.sql")),
        M::up(include_str!("migrations/0012_call_pauses.sql")),
        M::up(include_str!("migrations/0013_room_rules_and_roles.sql")),
        M::up(include_str!("migrations/0014_hold_and_announcements.sql")),
        M::up(include_str!("migrations/0015_dial_out.sql")),
        M::up(include_str!("migrations/0016_usage.sql")),
        M::up(include_str!(
            "migrations/0017_platform_calls_and_retention.sql"
        )),
    ])
}

/// Gives back every outbox lease: at start, those are the previous life's.
const RESET_LEASES: &str =
    "UPDATE outbox SET lease_owner = NULL, lease_until = 0 WHERE lease_until > 0";

/// The writer connection's page cache, in KiB.
const WRITER_CACHE_KIB: i64 = 32 * 1024;

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

fn start_thread(name: String, f: impl FnOnce() + Send + 'static) -> Result<(), StoreError> {
    std::thread::Builder::new()
        .name(name.clone())
        .spawn(f)
        .map(|_| ())
        .map_err(|e| StoreError::Corrupt(format!("cannot start thread {name}: {e}")))
}

impl SqliteStore {
    /// Opens (creating if needed) and migrates the database, then starts the writer and
    /// the reader threads.
    pub fn open_with(path: &Path, options: StoreOptions) -> Result<SqliteStore, StoreError> {
        // Giving back the reserve a previous life made lets SQLite open its -wal and -shm
        // files on a full disk; the writer makes the reserve again (`writer::Room`).
        let reserve = reserve::Reserve::open(path, options.disk_reserve_bytes);
        let mut conn = open_connection(path)?;
        migrations().to_latest(&mut conn)?;
        if options.check_secrets {
            let tx = SqliteTx::reader(&conn).sealing(&options.secrets);
            crate::store::secrets::check_at_open(&tx, &options.secrets)?;
        }
        let secrets = options.secrets.clone();
        // The writer touches every hot index on each event: a page cache that holds them
        // (SQLite's default is 2 MB) saves a pread per miss inside the write transaction.
        // Readers keep the default-sized cache of their own; memory stays bounded.
        conn.pragma_update(None, "cache_size", -WRITER_CACHE_KIB)?;
        // A SQLite database is served by one node: whatever leases the server finds at start
        // were held by its previous life, which ended (perhaps by a crash) with them in
        // flight. Giving them back resumes those deliveries at once instead of after the
        // lease. (The CLI opens the same file beside a live server and must not.)
        // On a full disk that write cannot be made now: the writer makes it at the head of the
        // first batch that commits, before any lease of this life is taken.
        let mut chores = writer::StartChores::default();
        if options.reset_leases {
            match conn.execute(RESET_LEASES, []).map_err(StoreError::from) {
                Ok(_) => {}
                Err(StoreError::Unavailable(reason)) => {
                    tracing::warn!(%reason, "store: cannot give back the previous life's leases now; the first write that commits will");
                    chores.reset_leases = true;
                }
                Err(e) => return Err(e),
            }
        }
        // Checkpoints move WAL pages into the database file; done by the writer after every
        // commit they would stall each batch, so a thread of their own does the routine ones
        // and the writer steps in only when the WAL outgrows its bound (`writer`).
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        conn.pragma_update(None, "journal_size_limit", options.wal_limit_bytes as i64)?;
        let checkpoint_conn = open_connection(path)?;
        let (checkpoint_stop, checkpoint_rx) = crossbeam_channel::bounded::<()>(0);
        let routine = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let routine_running = routine.clone();
        start_thread("store-checkpoint".into(), move || {
            writer::checkpoint_loop(checkpoint_conn, checkpoint_rx, routine_running)
        })?;

        let health = Arc::new(WriteHealth::default());
        let (writer, write_rx) = crossbeam_channel::unbounded::<WriteJob>();
        let wal = writer::WalBound::new(path, options.wal_limit_bytes, reserve.size(), routine);
        let room = writer::Room::new(reserve);
        let writer_health = health.clone();
        let stats = Arc::new(crate::store::WriterStats::default());
        let writer_stats = stats.clone();
        start_thread("store-writer".into(), move || {
            let shared = (&*writer_health, &*writer_stats);
            writer::writer_loop(conn, write_rx, shared, (wal, room), chores)
        })?;

        let (reader_tx, reader_rx) = crossbeam_channel::unbounded::<ReadJob>();
        for i in 0..options.readers.max(1) {
            let conn = open_connection(path)?;
            let rx = reader_rx.clone();
            start_thread(format!("store-reader-{i}"), move || {
                while let Ok(job) = rx.recv() {
                    job(&conn);
                }
            })?;
        }
        Ok(SqliteStore {
            _checkpoint: Arc::new(checkpoint_stop),
            writer,
            signals: Arc::new(WriteSignals::default()),
            health,
            stats,
            readers: reader_tx,
            path: path.to_path_buf(),
            wal_limit_bytes: options.wal_limit_bytes,
            secrets,
        })
    }

    /// What committed writes did since the last call: (queued a message, set a deadline).
    pub fn take_signals(&self) -> (bool, bool) {
        self.signals.take()
    }

    /// Whether writes are succeeding, as the writer last saw them.
    pub fn write_health(&self) -> &WriteHealth {
        &self.health
    }

    pub fn writer_stats(&self) -> &crate::store::WriterStats {
        &self.stats
    }

    /// The WAL file's size now, and its bound.
    pub fn wal_size(&self) -> (u64, u64) {
        (writer::wal_bytes(&self.path), self.wal_limit_bytes)
    }

    /// Runs `f` on a reader connection, off the async executor.
    pub async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Tx) -> Result<T, StoreError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let secrets = self.secrets.clone();
        let job: ReadJob = Box::new(move |conn| {
            let _ = tx.send(f(&SqliteTx::reader(conn).sealing(&secrets)));
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
        E: StoreFault + Send + 'static,
        F: FnOnce(&dyn Tx) -> Result<T, E> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<Result<T, E>>();
        let signals = self.signals.clone();
        let secrets = self.secrets.clone();
        let job: WriteJob = Box::new(move |conn| {
            let (outcome, fault) = match conn {
                Some(conn) => {
                    let outcome = writer::run_in_savepoint(conn, &signals, &secrets, f);
                    let fault = match &outcome {
                        Err(e) => e.store_fault().map(str::to_string),
                        Ok(_) => None,
                    };
                    (outcome, fault)
                }
                None => (Err(E::from(StoreError::Closed)), None),
            };
            let complete: Completion = Box::new(move |committed: Result<(), String>| {
                let answer = match (outcome, committed) {
                    (Ok(v), Ok(())) => Ok(v),
                    (_, Err(reason)) => Err(E::from(StoreError::Unavailable(reason))),
                    (Err(e), Ok(())) => Err(e),
                };
                let _ = tx.send(answer);
            });
            (complete, fault)
        });
        self.writer
            .send(job)
            .map_err(|_| E::from(StoreError::Closed))?;
        rx.await.map_err(|_| E::from(StoreError::Closed))?
    }
}

/// A write job: runs inside the batch transaction (or, given `None`, learns that the batch could
/// not start and does nothing) and returns how to report its outcome once the batch has (or has
/// not) committed, and the store fault that made it fail, if one did.
type WriteJob = Box<dyn FnOnce(Option<&Connection>) -> (Completion, Option<String>) + Send>;
type Completion = Box<dyn FnOnce(Result<(), String>) + Send>;
type ReadJob = Box<dyn FnOnce(&Connection) + Send>;

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
