//! One thread's connection to PostgreSQL: made when first needed, made again after the database
//! went away, and the statements prepared on it.

use crate::store::StoreError;
use postgres::{Client, NoTls};
use std::collections::HashMap;
use std::str::FromStr;
use std::time::{Duration, Instant};

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

pub(super) struct Link {
    config: postgres::Config,
    client: Option<Client>,
    pub(super) statements: std::cell::RefCell<Statements>,
    failed_at: Option<Instant>,
}

impl Link {
    pub(super) fn new(url: &str) -> Result<Link, StoreError> {
        let mut config = postgres::Config::from_str(url)
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
    pub(super) fn client(&mut self) -> Result<&mut Client, StoreError> {
        if self.client.as_ref().is_some_and(Client::is_closed) {
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

    fn connect(&self) -> Result<Client, StoreError> {
        let mut client = self.config.connect(NoTls).map_err(|e| {
            tracing::debug!(error = %e, "store: cannot connect to PostgreSQL");
            StoreError::Unavailable(format!("cannot connect to the database: {}", reason(&e)))
        })?;
        client.batch_execute(SESSION_SETTINGS)?;
        Ok(client)
    }

    /// Begins a transaction and hands back its connection. A connection that broke while
    /// idle (the database restarted, a proxy dropped it) is only found out here, before
    /// anything ran, so it is made again once and the transaction begun on the new one.
    pub(super) fn begin(
        &mut self,
        read_only: bool,
    ) -> Result<(&mut Client, &std::cell::RefCell<Statements>), StoreError> {
        // One snapshot for every statement of a read (a list and the views of its items).
        let sql = if read_only {
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
        } else {
            "BEGIN"
        };
        self.begin_with(sql)
    }

    /// Begins a transaction with `sql` (`BEGIN` and whatever must follow it at once, in the
    /// same round trip), as `begin` does.
    pub(super) fn begin_with(
        &mut self,
        sql: &str,
    ) -> Result<(&mut Client, &std::cell::RefCell<Statements>), StoreError> {
        let fresh = self.client.as_ref().is_none_or(Client::is_closed);
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
        match client.as_mut() {
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
