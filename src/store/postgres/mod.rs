//! The PostgreSQL backend: several confab nodes on one database. Reader and writer threads
//! each own a connection; a writer applies the writes waiting for it in one transaction, each
//! in a savepoint, taking the locks of what it changes in one order (`batch`).

mod announcements;
mod batch;
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
mod platform_calls;
mod recordings;
mod rows;
mod schema;
mod secrets;
mod usage;

use super::health::WriteHealth;
use super::tx::Tx;
use super::{StoreError, StoreFault, StoreOptions};
use crate::secrets::Secrets;
use connection::{Conn, Link, Statements};
use crossbeam_channel::Sender;
use postgres::types::ToSql;
use postgres::Row;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
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

/// A write sent ahead whose answer is awaited later (`PgTx::send`).
type Sent<'c> = Pin<Box<dyn Future<Output = Result<u64, postgres::Error>> + 'c>>;

/// A parameter a write sent ahead owns, since the write outlives the call that sent it.
pub(crate) type Owned = Box<dyn ToSql + Sync>;

/// The owned parameters of a write sent ahead (`PgTx::send`).
macro_rules! owned {
    ($($p:expr),* $(,)?) => { vec![$(Box::new($p) as $crate::store::postgres::Owned),*] };
}
pub(crate) use owned;

/// One transaction seen through confab's queries.
pub struct PgTx<'c> {
    conn: &'c Conn,
    statements: &'c RefCell<Statements>,
    /// Set on writer transactions; `None` on readers.
    signals: Option<&'c WriteSignals>,
    /// Seals and opens the customers' secret columns.
    secrets: &'c Secrets,
    /// Whether locks are waited for or only tried (a later job of a batch).
    mode: batch::LockMode,
    /// Set when a lock was not granted to a job that only tries: it is rolled back and run
    /// again in the next batch.
    busy: &'c Cell<bool>,
    /// Where a job of a batch adds its usage counters, written once at the end of the batch.
    usage: Option<&'c RefCell<batch::UsageDeltas>>,
    /// A conference lock asked for and not yet taken: taken with the conference's row if that
    /// is what is read next (one round trip), else before whatever statement comes first.
    pending_conference: RefCell<Option<String>>,
    /// Rows this job read or wrote under its conference locks (writers only).
    known: RefCell<crate::store::known::Known>,
    /// Writes sent ahead, their answers not read yet: the statements after them travel in the
    /// same round trip, and `settle` reads the answers.
    sent: RefCell<Vec<Sent<'c>>>,
}

impl<'c> PgTx<'c> {
    /// Prepares `sql` once per connection and keeps the statement.
    fn statement(&self, sql: &str) -> Result<postgres::Statement, StoreError> {
        if let Some(s) = self.statements.borrow().get(sql) {
            return Ok(s.clone());
        }
        let stmt = self.conn.block_on(self.conn.client.prepare(sql))?;
        self.statements
            .borrow_mut()
            .insert(sql.to_string(), stmt.clone());
        Ok(stmt)
    }

    /// A transaction (or one write's savepoint of a batch) over `conn`, waiting for its
    /// locks; a batch sets `mode` and `usage` for the writes after its first.
    fn new(
        conn: &'c Conn,
        statements: &'c RefCell<Statements>,
        signals: Option<&'c WriteSignals>,
        secrets: &'c Secrets,
        busy: &'c Cell<bool>,
    ) -> PgTx<'c> {
        PgTx {
            conn,
            statements,
            signals,
            secrets,
            mode: batch::LockMode::Wait,
            busy,
            usage: None,
            pending_conference: RefCell::new(None),
            known: RefCell::default(),
            sent: RefCell::default(),
        }
    }

    /// Takes the conference lock asked for and not yet taken, if any: every statement runs
    /// after the locks asked for before it.
    fn take_pending(&self) -> Result<(), StoreError> {
        let pending = self.pending_conference.borrow_mut().take();
        match pending {
            Some(id) => {
                self.lock(LockSpace::Conference, &id)?;
                self.known.borrow_mut().locked(&id);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Whether this transaction waits for its locks (or only tries them): the last argument
    /// of the `confab_*` lock-and-read functions.
    fn waits(&self) -> bool {
        self.mode == batch::LockMode::Wait
    }

    fn query(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, StoreError> {
        self.take_pending()?;
        let stmt = self.statement(sql)?;
        let rows = self.conn.block_on(self.conn.client.query(&stmt, params));
        self.granted(rows)
    }

    /// A statement's outcome, its error said by `refused` (or by a write sent ahead that failed
    /// before it).
    fn granted<T>(&self, outcome: Result<T, postgres::Error>) -> Result<T, StoreError> {
        outcome.map_err(|e| {
            // After a write sent ahead failed, every statement fails with "transaction
            // aborted": the write's own error is the one that says why.
            match self.settle() {
                Err(sent) => sent,
                Ok(()) => self.refused(e),
            }
        })
    }

    /// A statement's error; a lock not granted in time to a job that only tries marks the job
    /// to be run again.
    fn refused(&self, e: postgres::Error) -> StoreError {
        let timed_out = e.code() == Some(&postgres::error::SqlState::LOCK_NOT_AVAILABLE);
        if timed_out && self.mode == batch::LockMode::Try {
            self.busy.set(true);
        }
        StoreError::from(e)
    }

    /// Sends a write whose answer nobody reads now: it travels with the next statement, and
    /// its answer is read by `settle` (at the latest when the job ends, before its savepoint
    /// is kept). Statements run in the order they were sent.
    fn send(&self, sql: &str, params: Vec<Owned>) -> Result<(), StoreError> {
        self.take_pending()?;
        let stmt = self.statement(sql)?;
        let client = &self.conn.client;
        let mut write: Sent<'c> = Box::pin(async move {
            client
                .execute_raw(&stmt, params.iter().map(|p| &**p as &(dyn ToSql + Sync)))
                .await
        });
        // One poll puts the request in the connection's queue; the next `block_on` sends it.
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match write.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(done) => done.map(|_| ()).map_err(|e| self.refused(e)),
            std::task::Poll::Pending => {
                self.sent.borrow_mut().push(write);
                Ok(())
            }
        }
    }

    /// Reads the answers of the writes sent ahead: the first error, if one failed.
    fn settle(&self) -> Result<(), StoreError> {
        let sent = std::mem::take(&mut *self.sent.borrow_mut());
        if sent.is_empty() {
            return Ok(());
        }
        let first = self.conn.block_on(async {
            let mut first = None;
            for write in sent {
                if let Err(e) = write.await {
                    first.get_or_insert(e);
                }
            }
            first
        });
        match first {
            Some(e) => Err(self.refused(e)),
            None => Ok(()),
        }
    }

    fn query_opt(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, StoreError> {
        self.take_pending()?;
        let stmt = self.statement(sql)?;
        let row = self
            .conn
            .block_on(self.conn.client.query_opt(&stmt, params));
        self.granted(row)
    }

    fn query_one(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Row, StoreError> {
        self.take_pending()?;
        let stmt = self.statement(sql)?;
        let row = self
            .conn
            .block_on(self.conn.client.query_one(&stmt, params));
        self.granted(row)
    }

    fn execute(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, StoreError> {
        self.take_pending()?;
        let stmt = self.statement(sql)?;
        let n = self.conn.block_on(self.conn.client.execute(&stmt, params));
        self.granted(n)
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
    /// none: their snapshot is all they need. A later job of a batch only tries it (see
    /// `batch`): if another transaction holds it, the job is rolled back and run again.
    fn lock(&self, space: LockSpace, key: &str) -> Result<(), StoreError> {
        if self.signals.is_none() {
            return Ok(());
        }
        // `confab_lock` (migration 0010) raises lock_not_available when only trying, which
        // `refused` turns into a carried write.
        self.query_one(
            "SELECT confab_lock($1, $2, $3)::text",
            &[&(space as i32), &key, &self.waits()],
        )?;
        Ok(())
    }

    fn batch(&self, sql: &str) -> Result<(), StoreError> {
        self.take_pending()?;
        self.settle()?;
        Ok(self.conn.batch_execute(sql)?)
    }
}

impl Tx for PgTx<'_> {
    fn begin_step(&self) -> Result<(), StoreError> {
        self.batch("SAVEPOINT step")
    }

    /// A step's writes sent ahead are answered first: if one failed, the step is undone as if
    /// it had failed itself, and that error is returned.
    fn end_step(&self, keep: bool) -> Result<(), StoreError> {
        self.take_pending()?;
        let settled = self.settle();
        if keep && settled.is_ok() {
            return Ok(self.conn.batch_execute("RELEASE SAVEPOINT step")?);
        }
        self.known.borrow_mut().forget();
        self.conn
            .batch_execute("ROLLBACK TO SAVEPOINT step; RELEASE SAVEPOINT step")?;
        if keep {
            settled
        } else {
            Ok(())
        }
    }
}

type Job = Box<dyn FnOnce(&mut Link) + Send>;

/// Handle to the store; cheap to clone.
#[derive(Clone)]
pub struct PgStore {
    readers: Sender<Job>,
    writers: Sender<Box<dyn batch::BatchJob>>,
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
                let conn = link.client()?;
                schema::migrate(conn)?;
                if let Some(prefix) = own_leases {
                    conn.block_on(conn.client.execute(
                        "UPDATE outbox SET lease_owner = NULL, lease_until = 0 \
                         WHERE left(lease_owner, length($1)) = $1",
                        &[&prefix],
                    ))?;
                }
                if let Some(secrets) = check {
                    read_only(&mut link, &secrets, |tx| {
                        crate::store::secrets::check_at_open(tx, &secrets)
                    })?;
                }
                Ok(())
            })
            .map_err(|e| StoreError::Corrupt(format!("cannot start a thread: {e}")))?
            .join()
            .map_err(|_| StoreError::Corrupt("the store's start-up thread failed".into()))??;
        let (readers, read_rx) = crossbeam_channel::unbounded::<Job>();
        let (writers, write_rx) = crossbeam_channel::unbounded::<Box<dyn batch::BatchJob>>();
        let store = PgStore {
            readers,
            writers,
            signals: Arc::new(WriteSignals::default()),
            health: Arc::new(WriteHealth::default()),
            stats: Arc::default(),
            secrets: options.secrets,
        };
        for i in 0..options.readers.max(1) {
            let mut link = Link::new(url)?;
            let rx = read_rx.clone();
            spawn(format!("store-pg-reader-{i}"), move || {
                while let Ok(job) = rx.recv() {
                    job(&mut link);
                }
            })?;
        }
        for i in 0..options.pg_writers.max(1) {
            let link = Link::new(url)?;
            let rx = write_rx.clone();
            let writer = batch::Writer {
                signals: store.signals.clone(),
                health: store.health.clone(),
                stats: store.stats.clone(),
                secrets: store.secrets.clone(),
            };
            spawn(format!("store-pg-writer-{i}"), move || {
                batch::writer_loop(link, rx, writer)
            })?;
        }
        Ok(store)
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
            let _ = tx.send(read_only(link, &secrets, f));
        });
        self.readers.send(job).map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Runs `f` in a savepoint of a batch transaction (group commit, see `batch`) and answers
    /// once the batch has committed. If `f` fails, none of its changes remain. `f` may run more
    /// than once: a run that found a lock held is rolled back and run again in a later batch.
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: StoreFault + Send + 'static,
        F: FnMut(&dyn Tx) -> Result<T, E> + Send + 'static,
    {
        let (reply, answered) = oneshot::channel();
        let job: Box<dyn batch::BatchJob> = Box::new(batch::Pending {
            f,
            result: None,
            reply,
        });
        self.writers
            .send(job)
            .map_err(|_| E::from(StoreError::Closed))?;
        answered.await.map_err(|_| E::from(StoreError::Closed))?
    }
}

/// Starts a named store thread.
fn spawn(name: String, body: impl FnOnce() + Send + 'static) -> Result<(), StoreError> {
    std::thread::Builder::new()
        .name(name)
        .spawn(body)
        .map(|_| ())
        .map_err(|e| StoreError::Corrupt(format!("cannot start a thread: {e}")))
}

/// Runs `f` in a read-only transaction on `link`, on one snapshot (writes go through the
/// writer threads' batches).
fn read_only<T, E, F>(link: &mut Link, secrets: &Secrets, f: F) -> Result<T, E>
where
    E: From<StoreError>,
    F: FnOnce(&dyn Tx) -> Result<T, E>,
{
    let (conn, statements) = link.begin_read().map_err(E::from)?;
    let busy = Cell::new(false);
    let tx = PgTx::new(conn, statements, None, secrets, &busy);
    let result = f(&tx);
    drop(tx);
    let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
    let ended = conn.batch_execute(end);
    match ended {
        Ok(()) => result,
        // A failed commit loses the transaction; a failed rollback only means the connection
        // broke, which rolled it back anyway.
        Err(e) if result.is_ok() => Err(E::from(StoreError::from(e))),
        Err(_) => result,
    }
}
