//! One thread's connection to PostgreSQL: made when first needed, made again after the database
//! went away, and the statements prepared on it.

use crate::store::StoreError;
use std::collections::HashMap;
use std::str::FromStr;
use std::time::{Duration, Instant};
use tokio_postgres::{Client, NoTls};

/// Statements prepared on one connection, by their SQL.
pub(super) type Statements = HashMap<String, postgres::Statement>;

/// After a failed connection attempt, jobs fail at once for this long instead of each waiting
/// on a database that is not there.
const RECONNECT_PAUSE: Duration = Duration::from_millis(500);

/// How long a connection attempt may take before the job is answered 503.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Session settings every connection gets. A transaction left open by a hung node must not
/// hold its locks for ever; a write stuck behind a lock fails (and is answered 503) rather
/// than piling up.
const SESSION_SETTINGS: &str = "SET idle_in_transaction_session_timeout = '60s'; \
     SET lock_timeout = '20s'; SET application_name = 'confab'";

/// A connection driven by a runtime of the thread's own: every statement is sent and its answer
/// awaited with `block_on`, and writes whose answer can wait are sent ahead (`PgTx::send`), so
/// several statements share one round trip.
pub(super) struct Conn {
    runtime: tokio::runtime::Runtime,
    pub(super) client: Client,
}

impl Conn {
    pub(super) fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.runtime.block_on(f)
    }

    pub(super) fn batch_execute(&self, sql: &str) -> Result<(), postgres::Error> {
        self.block_on(self.client.batch_execute(sql))
    }

    fn is_closed(&self) -> bool {
        self.client.is_closed()
    }
}

pub(super) struct Link {
    config: tokio_postgres::Config,
    client: Option<Conn>,
    pub(super) statements: std::cell::RefCell<Statements>,
    failed_at: Option<Instant>,
}

impl Link {
    pub(super) fn new(url: &str) -> Result<Link, StoreError> {
        let mut config = tokio_postgres::Config::from_str(url)
            .map_err(|e| StoreError::Corrupt(format!("--db: not a valid PostgreSQL URL: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        config.keepalives(true);
        config.keepalives_idle(Duration::from_secs(30));
        Ok(Link {
            config,
            client: None,
            statements: Default::default(),
            failed_at: None,
        })
    }

    /// The connection, made (again) if there is none or the last one broke.
    pub(super) fn client(&mut self) -> Result<&mut Conn, StoreError> {
        if self.client.as_ref().is_some_and(Conn::is_closed) {
            self.client = None;
        }
        if self.client.is_none() {
            if let Some(at) = self.failed_at {
                if at.elapsed() < RECONNECT_PAUSE {
                    return Err(StoreError::Unavailable(
                        "the database is unreachable".into(),
                    ));
                }
            }
            match self.connect() {
                Ok(c) => {
                    self.failed_at = None;
                    self.statements.borrow_mut().clear();
                    self.client = Some(c);
                }
                Err(e) => {
                    self.failed_at = Some(Instant::now());
                    return Err(e);
                }
            }
        }
        self.client
            .as_mut()
            .ok_or_else(|| StoreError::Unavailable("the database is unreachable".into()))
    }

    fn connect(&self) -> Result<Conn, StoreError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| {
                StoreError::Unavailable(format!("cannot start the database client: {e}"))
            })?;
        let (client, connection) = runtime.block_on(self.config.connect(NoTls)).map_err(|e| {
            tracing::debug!(error = %e, "store: cannot connect to PostgreSQL");
            StoreError::Unavailable(format!("cannot connect to the database: {}", reason(&e)))
        })?;
        // The connection runs whenever the thread waits on a statement (`block_on`).
        runtime.spawn(async move {
            let _ = connection.await;
        });
        let conn = Conn { runtime, client };
        conn.batch_execute(SESSION_SETTINGS)?;
        Ok(conn)
    }

    /// Begins a read-only transaction on one snapshot, for every statement of a read (a list
    /// and the views of its items).
    pub(super) fn begin_read(
        &mut self,
    ) -> Result<(&Conn, &std::cell::RefCell<Statements>), StoreError> {
        self.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    }

    /// Begins a transaction with `sql` (`BEGIN` and whatever must follow it at once, in the
    /// same round trip) and hands back its connection. A connection that broke while idle
    /// (the database restarted, a proxy dropped it) is only found out here, before anything
    /// ran, so it is made again once and the transaction begun on the new one.
    pub(super) fn begin_with(
        &mut self,
        sql: &str,
    ) -> Result<(&Conn, &std::cell::RefCell<Statements>), StoreError> {
        let fresh = self.client.as_ref().is_none_or(Conn::is_closed);
        match self.client()?.batch_execute(sql) {
            Ok(()) => {}
            Err(e) if !fresh && e.as_db_error().is_none() => {
                self.client = None;
                self.client()?.batch_execute(sql)?;
            }
            Err(e) => return Err(e.into()),
        }
        let Link {
            client, statements, ..
        } = self;
        match client.as_ref() {
            Some(c) => Ok((c, statements)),
            None => Err(StoreError::Unavailable(
                "the database is unreachable".into(),
            )),
        }
    }
}

/// Classifies a client error: the faults of the database or the network become
/// `Unavailable` (503 with Retry-After), the rest stay errors of the statement.
pub fn classify(e: postgres::Error) -> StoreError {
    if let Some(db) = e.as_db_error() {
        // character_not_in_repertoire (NUL in text) and untranslatable_character.
        if matches!(db.code().code(), "22021" | "22P05") {
            return StoreError::Unstorable(db.message().to_string());
        }
    }
    match fault(&e) {
        Some(reason) => StoreError::Unavailable(reason),
        None => StoreError::Postgres(e),
    }
}

fn fault(e: &postgres::Error) -> Option<String> {
    let Some(db) = e.as_db_error() else {
        // No answer from the server at all: the connection broke or never was.
        return Some(format!("the database is unreachable: {}", reason(e)));
    };
    let code = db.code().code();
    let why = match code {
        "53100" => "the database's disk is full",
        "53200" => "the database is out of memory",
        "53300" => "the database has too many connections",
        "57P01" | "57P02" => "the database is shutting down",
        "57P03" => "the database is starting up",
        "25006" => "the database is read-only",
        "40001" | "40P01" => "a conflicting write; try again",
        "55P03" => "the database is busy (a lock was not granted in time)",
        "57014" => "the database cancelled the statement",
        c if c.starts_with("08") => "the connection to the database failed",
        c if c.starts_with("53") => "the database is out of resources",
        _ => return None,
    };
    Some(why.to_string())
}

/// A short reason without the client's nesting of sources.
fn reason(e: &postgres::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text = s.to_string();
        source = s.source();
    }
    text
}

/// An error in words for the log: the server's code and message, or the network's reason (the
/// client's own `Display` says only "db error").
pub fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} {}", db.code().code(), db.message()),
        None => reason(e),
    }
}
