//! The store: the interface the rules need (`tx`), the records it hands back, and the
//! backends that implement it (`sqlite`, `postgres`). The only SQL of the program lives below
//! here.

mod columns;
mod health;
mod known;
mod location;
mod pages;
mod postgres;
mod records;
mod retention;
mod roles;
mod secrets;
mod sqlite;
mod stats;
mod tx;

pub use location::Database;
pub use stats::{histogram, Histogram, ObserveSince, WriterStats, SECONDS as LATENCY_BUCKETS};

pub use health::{LogGate, WriteHealth, WriteState};
pub use records::{
    CallFilter, ConferenceFilter, CountMove, Cursor, DeliveryStatus, EventClaim, Gauges,
    MessageKind, Page, StoreGauges, StoredMessage, StoredPause,
};
pub use retention::PRUNE_BATCH;
pub use roles::{DeadlineView, OutboxView};
pub use secrets::{Census, Rotation, SecretField, StoredSecrets};
pub use tx::{
    CallStore, ConferenceStore, CustomerReads, CustomerStore, DeadlineStore, DeliveryFilter,
    DeliveryTx, EventStore, HousekeepingStore, ListStore, OutboxStore, RecordingStore, SecretStore,
    Tx,
};

/// Everything a caller of `Store::read`/`Store::write` needs to call the store's operations on
/// a `&dyn Tx`.
pub mod prelude {
    pub use super::tx::{
        CallStore, ConferenceStore, CustomerReads, CustomerStore, DeadlineStore, DeliveryTx,
        EventStore, HousekeepingStore, ListStore, OutboxStore, RecordingStore, Tx,
    };
}

use crate::secrets::Secrets;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("sqlite: {0}")]
    Sqlite(rusqlite::Error),
    #[error("postgres: {}", postgres::describe(.0))]
    Postgres(::postgres::Error),
    #[error("migration: {0}")]
    Migration(#[from] rusqlite_migration::Error),
    #[error("stored data is not valid: {0}")]
    Corrupt(String),
    #[error("the store has shut down")]
    Closed,
    #[error("{0}")]
    Unsupported(String),
    /// The database cannot take writes right now (disk full, an I/O error, ...): a state of
    /// the machine, not of the request, so callers answer 503 and may try again.
    #[error("the store cannot write right now: {0}")]
    Unavailable(String),
    /// A value holds a character the database cannot store (PostgreSQL refuses NUL in text):
    /// a fault of the request, answered 400. Inputs are checked for it where they are read,
    /// naming their field; this is the net under any that is not.
    #[error("a text value holds a character the database cannot store: {0}")]
    Unstorable(String),
    /// A stored secret cannot be opened (its key is missing, or it was altered or copied from
    /// another customer or column). Names where it is stored, never its value.
    #[error("the stored {field} of customer {customer} cannot be used: {error}")]
    Secret {
        customer: String,
        field: &'static str,
        error: crate::secrets::SecretError,
    },
    /// Stored secrets cannot be opened with the keys this confab was given (a key is missing,
    /// or is not the one they were sealed with): it does not start.
    #[error("{0}")]
    SecretKeys(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match fault_reason(&e) {
            Some(reason) => StoreError::Unavailable(reason.to_string()),
            None => StoreError::Sqlite(e),
        }
    }
}

impl From<::postgres::Error> for StoreError {
    fn from(e: ::postgres::Error) -> Self {
        postgres::classify(e)
    }
}

/// The reason SQLite's "disk full" is reported with (the writer's reserve cycle keys on it).
pub(crate) const DISK_FULL: &str = "disk full";
/// The reason of an I/O failure, which a full disk also gives when the -shm file cannot grow.
pub(crate) const IO_ERROR: &str = "I/O error";

/// The errors that say the storage, not the statement, is at fault.
fn fault_reason(e: &rusqlite::Error) -> Option<&'static str> {
    use rusqlite::ErrorCode;
    match e.sqlite_error_code()? {
        ErrorCode::DiskFull => Some(DISK_FULL),
        ErrorCode::SystemIoFailure => Some(IO_ERROR),
        ErrorCode::ReadOnly => Some("the database is read-only"),
        ErrorCode::CannotOpen => Some("the database cannot be opened"),
        ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => Some("the database is busy"),
        ErrorCode::OutOfMemory => Some("out of memory"),
        _ => None,
    }
}

/// Errors that may carry a store fault, so the writer can tell why a job failed.
pub trait StoreFault: From<StoreError> {
    /// The reason the storage failed, if that is what this error is.
    fn store_fault(&self) -> Option<&str>;
}

impl StoreFault for StoreError {
    fn store_fault(&self) -> Option<&str> {
        match self {
            StoreError::Unavailable(reason) => Some(reason),
            _ => None,
        }
    }
}

/// How the store is opened.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Reader threads.
    pub readers: usize,
    /// The WAL file is checkpointed and truncated whenever it grows past this many bytes.
    pub wal_limit_bytes: u64,
    /// Give back the outbox leases found at open: set by the server at start (its previous
    /// life ended with them), never by the CLI, which may run beside a live server.
    pub reset_leases: bool,
    /// SQLite only: bytes of the disk reserve beside the database (`--disk-reserve-mb`);
    /// 0 = none (the CLI, which runs beside a live server, leaves the server's alone).
    pub disk_reserve_bytes: u64,
    /// PostgreSQL only: writer threads, each with a connection that applies the writes
    /// waiting for it in one transaction (group commit, `postgres::batch`).
    pub pg_writers: usize,
    /// PostgreSQL only: this node's stable name (`--node-name`); with `reset_leases`, the
    /// leases its previous life held are given back at open.
    pub node_name: Option<String>,
    /// The keys stored secrets are sealed with (`--secrets-key-file`); none = in clear.
    pub secrets: Secrets,
    /// Check at open that every stored secret's key is held (the server; not the CLI, which
    /// may run to repair exactly that).
    pub check_secrets: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            readers: 2,
            wal_limit_bytes: 64 * 1024 * 1024,
            reset_leases: false,
            disk_reserve_bytes: 0,
            pg_writers: 2,
            node_name: None,
            secrets: Secrets::none(),
            check_secrets: false,
        }
    }
}

/// Handle to the store; cheap to clone. Which backend it has is its own business: the engine
/// sees transactions only as `&dyn Tx`.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
    /// The keys the backend seals with too; the census and the rotation use them.
    secrets: Secrets,
}

#[derive(Clone)]
enum Backend {
    Sqlite(sqlite::SqliteStore),
    Postgres(postgres::PgStore),
}

impl Store {
    /// Opens (creating if needed) and migrates a SQLite database with `readers` reader threads.
    pub fn open(path: &Path, readers: usize) -> Result<Store, StoreError> {
        Store::connect(
            &Database::Sqlite(path.to_path_buf()),
            StoreOptions {
                readers,
                ..StoreOptions::default()
            },
        )
    }

    /// Opens either backend and applies its migrations.
    pub fn connect(db: &Database, options: StoreOptions) -> Result<Store, StoreError> {
        let secrets = options.secrets.clone();
        let backend = match db {
            Database::Sqlite(path) => {
                Backend::Sqlite(sqlite::SqliteStore::open_with(path, options)?)
            }
            Database::Postgres(url) => Backend::Postgres(postgres::PgStore::open(url, options)?),
        };
        Ok(Store { backend, secrets })
    }

    /// Whether several nodes may share this store (PostgreSQL): then another node's writes
    /// are not signalled here and background tasks must look for them.
    pub fn is_shared(&self) -> bool {
        matches!(self.backend, Backend::Postgres(_))
    }

    /// What committed writes did since the last call: (queued a message, set a deadline).
    pub fn take_signals(&self) -> (bool, bool) {
        match &self.backend {
            Backend::Sqlite(s) => s.take_signals(),
            Backend::Postgres(p) => p.take_signals(),
        }
    }

    /// Whether writes are succeeding, as this node last saw them.
    pub fn write_health(&self) -> &WriteHealth {
        match &self.backend {
            Backend::Sqlite(s) => s.write_health(),
            Backend::Postgres(p) => p.write_health(),
        }
    }

    /// What the writer measured: batch sizes and commit times.
    pub fn writer_stats(&self) -> &WriterStats {
        match &self.backend {
            Backend::Sqlite(s) => s.writer_stats(),
            Backend::Postgres(p) => p.writer_stats(),
        }
    }

    /// The SQLite WAL file's size now, and its bound (zeros on PostgreSQL, whose WAL is the
    /// database server's business).
    pub fn wal_size(&self) -> (u64, u64) {
        match &self.backend {
            Backend::Sqlite(s) => s.wal_size(),
            Backend::Postgres(_) => (0, 0),
        }
    }

    /// Runs `f` in a read transaction, off the async executor.
    pub async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Tx) -> Result<T, StoreError> + Send + 'static,
    {
        match &self.backend {
            Backend::Sqlite(s) => s.read(f).await,
            Backend::Postgres(p) => p.read(f).await,
        }
    }

    /// Runs `f` in a write transaction and answers once it has committed. If `f` fails, none
    /// of its changes remain.
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: StoreFault + Send + 'static,
        F: FnMut(&dyn Tx) -> Result<T, E> + Send + 'static,
    {
        match &self.backend {
            Backend::Sqlite(s) => s.write(f).await,
            Backend::Postgres(p) => p.write(f).await,
        }
    }

    /// A small write that proves the store can write again (`/healthz` uses it while writes
    /// are failing, so recovery is seen even when no client is writing).
    pub async fn probe_write(&self, now: i64) -> Result<(), StoreError> {
        self.write(move |tx| tx.probe(now)).await
    }
}

/// Runs `f` so that if it fails, none of its changes remain while the rest of the
/// transaction goes on (a nested savepoint).
pub fn atomically<T, E: From<StoreError>>(
    tx: &dyn Tx,
    f: impl FnOnce(&dyn Tx) -> Result<T, E>,
) -> Result<T, E> {
    tx.begin_step().map_err(E::from)?;
    let result = f(tx);
    tx.end_step(result.is_ok()).map_err(E::from)?;
    result
}

/// Copies a live SQLite database to `to` while the service keeps reading and writing; the
/// copy is a consistent snapshot. A PostgreSQL database is backed up with its own tools.
pub fn backup(db: &Database, to: &Path) -> Result<(), StoreError> {
    match db {
        Database::Sqlite(path) => sqlite::backup(path, to),
        Database::Postgres(_) => Err(StoreError::Unsupported(
            "confab backup copies SQLite files; back a PostgreSQL database up with pg_dump \
             (or the server's continuous archiving), see docs/operations.md"
                .into(),
        )),
    }
}
