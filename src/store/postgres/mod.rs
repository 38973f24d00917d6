//! The PostgreSQL backend: several confab nodes on one database. Reader and writer threads
//! each own a connection; every write job is its own transaction, which takes the locks of
//! what it changes (the conference first) so nodes agree on one order.

mod announcements;
mod calls;
mod conferences;
mod connection;
mod customers;
mod deadlines;
mod events;
mod housekeeping;
mod outbox;
mod pages;
mod pauses;
mod recordings;
mod rows;
mod schema;
mod secrets;
mod usage;

use super::health::WriteHealth;
use super::tx::Tx;
use super::{StoreError, StoreFault, StoreOptions};
use crate::secrets::Secrets;
use crate::store::ObserveSince as _;
use connection::{Link, Statements};
use crossbeam_channel::Sender;
use postgres::types::ToSql;
use postgres::{Client, Row};
use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::oneshot;

pub use connection::{classify, describe};

/// Namespaces of the transaction-level advisory locks (the first key of
/// `pg_advisory_xact_lock(int, int)`), so a conference and a platform event id never share one.
#[derive(Debug, Clone, Copy)]
#[repr(i32)]
enum LockSpace {
    /// A platform event id: two nodes given the same id apply it once.
    Event = 1,
    /// A conference: admission, join order, counts and termination are decided by one writer.
    Conference = 2,
    /// A platform call id: a call joins at most one conference at a time.
    Call = 3,
    /// A customer's dial-outs: its cap on calls being dialled holds across conferences and
    /// nodes. Taken last, after the conference's, and only by a dial.
    Dials = 4,
}

/// What the writes of a transaction did that background tasks must hear about.
#[derive(Debug, Default)]
pub struct WriteSignals {
    pub outbox: AtomicBool,
    pub deadlines: AtomicBool,
}

impl WriteSignals {
    fn raise(flag: &AtomicBool) {
        flag.store(true, Ordering::Release);
    }

    fn take(&self) -> (bool, bool) {
        (
            self.outbox.swap(false, Ordering::AcqRel),
            self.deadlines.swap(false, Ordering::AcqRel),
        )
    }
}

/// One transaction seen through confab's queries.
pub struct PgTx<'c> {
    client: RefCell<&'c mut Client>,
    statements: &'c RefCell<Statements>,
    /// Set on writer transactions; `None` on readers.
    signals: Option<&'c WriteSignals>,
    /// Seals and opens the customers' secret columns.
    secrets: &'c Secrets,
}

impl PgTx<'_> {
    /// Prepares `sql` once per connection and keeps the statement.
    fn statement(&self, sql: &str) -> Result<postgres::Statement, StoreError> {
        if let Some(s) = self.statements.borrow().get(sql) {
            return Ok(s.clone());
        }
        let stmt = self.client.borrow_mut().prepare(sql)?;
        self.statements
            .borrow_mut()
            .insert(sql.to_string(), stmt.clone());
        Ok(stmt)
    }

    fn query(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, StoreError> {
        let stmt = self.statement(sql)?;
        Ok(self.client.borrow_mut().query(&stmt, params)?)
    }

    fn query_opt(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, StoreError> {
        let stmt = self.statement(sql)?;
        Ok(self.client.borrow_mut().query_opt(&stmt, params)?)
    }

    fn query_one(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Row, StoreError> {
        let stmt = self.statement(sql)?;
        Ok(self.client.borrow_mut().query_one(&stmt, params)?)
    }

    fn execute(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, StoreError> {
        let stmt = self.statement(sql)?;
        Ok(self.client.borrow_mut().execute(&stmt, params)?)
    }

    /// Runs a query expected to return at most one row and maps it.
    fn optional_row<T>(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
        map: fn(&dyn crate::store::columns::Columns) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        self.query_opt(sql, params)?
            .as_ref()
            .map(|row| map(row))
            .transpose()
    }

    /// Takes a transaction-level advisory lock, held until commit or rollback. Readers take
    /// none: their snapshot is all they need.
    fn lock(&self, space: LockSpace, key: &str) -> Result<(), StoreError> {
        if self.signals.is_none() {
            return Ok(());
        }
        self.query_one(
            "SELECT pg_advisory_xact_lock($1, hashtext($2))::text",
            &[&(space as i32), &key],
        )?;
        Ok(())
    }

    fn batch(&self, sql: &str) -> Result<(), StoreError> {
        Ok(self.client.borrow_mut().batch_execute(sql)?)
    }
}

impl Tx for PgTx<'_> {
    fn begin_step(&self) -> Result<(), StoreError> {
        self.batch("SAVEPOINT step")
    }

    fn end_step(&self, keep: bool) -> Result<(), StoreError> {
        if keep {
            self.batch("RELEASE SAVEPOINT step")
        } else {
            self.batch("ROLLBACK TO SAVEPOINT step; RELEASE SAVEPOINT step")
        }
    }
}

type Job = Box<dyn FnOnce(&mut Link) + Send>;

/// Handle to the store; cheap to clone.
#[derive(Clone)]
pub struct PgStore {
    readers: Sender<Job>,
    writers: Sender<Job>,
    signals: Arc<WriteSignals>,
    health: Arc<WriteHealth>,
    stats: Arc<crate::store::WriterStats>,
    /// Cheap to clone: the keys are shared.
    secrets: Secrets,
}

impl PgStore {
    /// Connects, applies the migrations this binary has (under an advisory lock, so nodes
    /// starting together take turns), then starts the reader and writer threads. The first
    /// connection is made on a thread of its own: the client blocks, and the caller may be on
    /// an async executor.
    pub fn open(url: &str, options: StoreOptions) -> Result<PgStore, StoreError> {
        let first = url.to_string();
        // Leases are shared by every node, so only those named as this node's (a stable
        // `--node-name`) are its previous life's to give back; without a name they expire.
        let own_leases = options
            .node_name
            .clone()
            .filter(|_| options.reset_leases)
            .map(|name| format!("{name}/"));
        let check = options.check_secrets.then(|| options.secrets.clone());
        std::thread::Builder::new()
            .name("store-open".into())
            .spawn(move || -> Result<(), StoreError> {
                let mut link = Link::new(&first)?;
                let client = link.client()?;
                schema::migrate(client)?;
                if let Some(prefix) = own_leases {
                    client.execute(
                        "UPDATE outbox SET lease_owner = NULL, lease_until = 0 \
                         WHERE left(lease_owner, length($1)) = $1",
                        &[&prefix],
                    )?;
                }
                if let Some(secrets) = check {
                    run(&mut link, None, &secrets, |tx| {
                        crate::store::secrets::check_at_open(tx, &secrets)
                    })?;
                }
                Ok(())
            })
            .map_err(|e| StoreError::Corrupt(format!("cannot start a thread: {e}")))?
            .join()
            .map_err(|_| StoreError::Corrupt("the store's start-up thread failed".into()))??;
        let (readers, read_rx) = crossbeam_channel::unbounded::<Job>();
        let (writers, write_rx) = crossbeam_channel::unbounded::<Job>();
        let threads = [
            ("store-pg-reader", options.readers.max(1), read_rx),
            ("store-pg-writer", options.pg_writers.max(1), write_rx),
        ];
        for (name, count, rx) in threads {
            for i in 0..count {
                let mut link = Link::new(url)?;
                let rx = rx.clone();
                std::thread::Builder::new()
                    .name(format!("{name}-{i}"))
                    .spawn(move || {
                        while let Ok(job) = rx.recv() {
                            job(&mut link);
                        }
                    })
                    .map_err(|e| StoreError::Corrupt(format!("cannot start a thread: {e}")))?;
            }
        }
        Ok(PgStore {
            readers,
            writers,
            signals: Arc::new(WriteSignals::default()),
            health: Arc::new(WriteHealth::default()),
            stats: Arc::default(),
            secrets: options.secrets,
        })
    }

    /// What committed writes did since the last call: (queued a message, set a deadline).
    pub fn take_signals(&self) -> (bool, bool) {
        self.signals.take()
    }

    pub fn write_health(&self) -> &WriteHealth {
        &self.health
    }

    pub fn writer_stats(&self) -> &crate::store::WriterStats {
        &self.stats
    }

    /// Runs `f` in a read-only transaction on one snapshot, off the async executor.
    pub async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Tx) -> Result<T, StoreError> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let secrets = self.secrets.clone();
        let job: Job = Box::new(move |link| {
            let _ = tx.send(run(link, None, &secrets, f));
        });
        self.readers.send(job).map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Runs `f` in a transaction of its own and answers once it has committed. If `f` fails,
    /// the transaction is rolled back and none of its changes remain.
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: StoreFault + Send + 'static,
        F: FnOnce(&dyn Tx) -> Result<T, E> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let signals = self.signals.clone();
        let health = self.health.clone();
        let stats = self.stats.clone();
        let secrets = self.secrets.clone();
        let job: Job = Box::new(move |link| {
            let outcome = run(link, Some((&signals, &stats)), &secrets, f);
            match &outcome {
                Ok(_) => health.committed(),
                Err(e) => {
                    if let Some(reason) = e.store_fault() {
                        health.failed(reason);
                    }
                }
            }
            let _ = tx.send(outcome);
        });
        self.writers
            .send(job)
            .map_err(|_| E::from(StoreError::Closed))?;
        rx.await.map_err(|_| E::from(StoreError::Closed))?
    }
}

/// Runs `f` in one transaction on `link`: committed if it succeeds, rolled back if not. A
/// writer's transaction (`writer` given) is timed and its signals raised.
fn run<T, E, F>(
    link: &mut Link,
    writer: Option<(&WriteSignals, &crate::store::WriterStats)>,
    secrets: &Secrets,
    f: F,
) -> Result<T, E>
where
    E: From<StoreError>,
    F: FnOnce(&dyn Tx) -> Result<T, E>,
{
    let (client, statements) = link.begin(writer.is_none()).map_err(E::from)?;
    let tx = PgTx {
        client: RefCell::new(client),
        statements,
        signals: writer.map(|w| w.0),
        secrets,
    };
    let result = f(&tx);
    let client = tx.client.into_inner();
    let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
    let ending = std::time::Instant::now();
    let ended = client.batch_execute(end);
    if let (Some((_, stats)), true, Ok(())) = (writer, result.is_ok(), &ended) {
        stats.commit_seconds.observe_since(ending);
        stats.batch_size.observe(1.0);
    }
    match ended {
        Ok(()) => result,
        // A failed commit loses the transaction; a failed rollback only means the connection
        // broke, which rolled it back anyway.
        Err(e) if result.is_ok() => Err(E::from(StoreError::from(e))),
        Err(_) => result,
    }
}
