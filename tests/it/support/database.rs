//! The database a test's confab runs on: a temporary SQLite file, or — with
//! `CONFAB_TEST_BACKEND=postgres` — a fresh PostgreSQL database of its own on the local server
//! (`CONFAB_TEST_PG`, default `postgres://postgres@127.0.0.1:5432`), dropped when the test ends.

use confab::store::Database;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The PostgreSQL server the tests create their databases on.
fn pg_base() -> String {
    std::env::var("CONFAB_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// Whether this run of the suite is on PostgreSQL.
pub fn on_postgres() -> bool {
    std::env::var("CONFAB_TEST_BACKEND").is_ok_and(|b| b == "postgres")
}

/// A test's database; cheap to clone, dropped (PostgreSQL) with the last clone.
#[derive(Clone)]
pub struct TestDb(Arc<Inner>);

enum Inner {
    Sqlite(PathBuf),
    Postgres { name: String, url: String },
}

impl TestDb {
    /// A database for a server whose files live in `dir`.
    pub async fn new(dir: &Path) -> TestDb {
        if on_postgres() {
            TestDb::postgres().await
        } else {
            TestDb(Arc::new(Inner::Sqlite(dir.join("confab.db"))))
        }
    }

    /// A fresh PostgreSQL database, whatever backend this run is on (multi-node tests).
    pub async fn postgres() -> TestDb {
        let name = format!("confab_it_{}", uuid::Uuid::new_v4().simple());
        let admin = connect(&format!("{}/test", pg_base())).await;
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap_or_else(|e| panic!("cannot create the test database on {}: {e}", pg_base()));
        let url = format!("{}/{name}", pg_base());
        TestDb(Arc::new(Inner::Postgres { name, url }))
    }

    /// The `--db` value of a server on this database.
    pub fn database(&self) -> Database {
        match &*self.0 {
            Inner::Sqlite(p) => Database::Sqlite(p.clone()),
            Inner::Postgres { url, .. } => Database::Postgres(url.clone()),
        }
    }

    /// The `--db` argument of a `confab` process on this database.
    pub fn arg(&self) -> String {
        match &*self.0 {
            Inner::Sqlite(p) => p.display().to_string(),
            Inner::Postgres { url, .. } => url.clone(),
        }
    }

    /// The PostgreSQL server's address (from `CONFAB_TEST_PG`), for a test that puts a proxy
    /// in front of it.
    pub fn server_address(&self) -> std::net::SocketAddr {
        let url = url::Url::parse(&pg_base()).expect("CONFAB_TEST_PG is a URL");
        let host = url.host_str().unwrap_or("127.0.0.1");
        let port = url.port().unwrap_or(5432);
        std::net::ToSocketAddrs::to_socket_addrs(&(host, port))
            .ok()
            .and_then(|mut a| a.next())
            .unwrap_or_else(|| panic!("CONFAB_TEST_PG's host {host} does not resolve"))
    }

    /// The URL of this database reached through `addr` instead of the server itself.
    pub fn url_through(&self, addr: std::net::SocketAddr) -> String {
        let Inner::Postgres { url, .. } = &*self.0 else {
            panic!("url_through is for PostgreSQL databases");
        };
        let mut url = url::Url::parse(url).expect("the database URL parses");
        url.set_host(Some(&addr.ip().to_string())).expect("a host");
        url.set_port(Some(addr.port())).expect("a port");
        url.to_string()
    }

    /// The SQLite file, for the tests that are about SQLite itself.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match &*self.0 {
            Inner::Sqlite(p) => Some(p),
            Inner::Postgres { .. } => None,
        }
    }

    /// Runs a statement (written to work on both backends) outside confab, as an operator or
    /// a test that must set up what no API can (old timestamps) would; returns rows changed.
    pub async fn execute(&self, sql: &str) -> u64 {
        match &*self.0 {
            Inner::Sqlite(p) => {
                let conn = rusqlite::Connection::open(p).expect("open the SQLite file");
                conn.execute(sql, []).expect("statement") as u64
            }
            Inner::Postgres { url, .. } => connect(url)
                .await
                .execute(sql, &[])
                .await
                .expect("statement"),
        }
    }

    /// The single integer a query answers.
    pub async fn query_i64(&self, sql: &str) -> i64 {
        match &*self.0 {
            Inner::Sqlite(p) => {
                let conn = rusqlite::Connection::open(p).expect("open the SQLite file");
                conn.query_row(sql, [], |r| r.get(0)).expect("query")
            }
            Inner::Postgres { url, .. } => {
                let row = connect(url).await.query_one(sql, &[]).await.expect("query");
                // PostgreSQL types its integers by size; SQLite's are all 64-bit.
                row.try_get::<_, i64>(0)
                    .or_else(|_| row.try_get::<_, i32>(0).map(i64::from))
                    .expect("an integer")
            }
        }
    }

    /// The text columns of every row a query answers, each row's columns joined by a space
    /// (for a test that reads what the database holds, as an operator with SQL would).
    pub async fn query_texts(&self, sql: &str) -> Vec<String> {
        match &*self.0 {
            Inner::Sqlite(p) => {
                let conn = rusqlite::Connection::open(p).expect("open the SQLite file");
                let mut stmt = conn.prepare(sql).expect("query");
                let n = stmt.column_count();
                let rows = stmt
                    .query_map([], |r| {
                        (0..n)
                            .map(|i| r.get::<_, Option<String>>(i).map(|v| v.unwrap_or_default()))
                            .collect::<Result<Vec<_>, _>>()
                    })
                    .expect("query")
                    .collect::<Result<Vec<_>, _>>()
                    .expect("rows");
                rows.into_iter().map(|r| r.join(" ")).collect()
            }
            Inner::Postgres { url, .. } => {
                let rows = connect(url).await.query(sql, &[]).await.expect("query");
                rows.iter()
                    .map(|r| {
                        (0..r.len())
                            .map(|i| r.get::<_, Option<String>>(i).unwrap_or_default())
                            .collect::<Vec<_>>()
                            .join(" ")
                    })
                    .collect()
            }
        }
    }
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL is not reachable at {url}: {e}"));
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

impl Drop for Inner {
    fn drop(&mut self) {
        let Inner::Postgres { name, .. } = self else {
            return;
        };
        // Drop runs inside the test's runtime, where the blocking client cannot: a thread of
        // its own drops the database (and any connection a server left behind).
        let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
        let url = format!("{}/test", pg_base());
        let _ = std::thread::spawn(move || {
            if let Ok(mut c) = postgres::Client::connect(&url, postgres::NoTls) {
                let _ = c.batch_execute(&sql);
            }
        })
        .join();
    }
}
