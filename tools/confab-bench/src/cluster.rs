//! The confab under test: one node on a temporary SQLite file, one to three nodes sharing a
//! fresh PostgreSQL database (dropped afterwards), or a running server the bench only targets.

use crate::support::*;
use std::process::Child;

/// Where the nodes keep their state.
#[derive(Clone, Debug)]
pub enum Backend {
    Sqlite,
    Postgres(PgServer),
}

impl Backend {
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres(_) => "PostgreSQL",
        }
    }
}

/// A PostgreSQL server the bench may create databases on.
#[derive(Clone, Debug)]
pub struct PgServer {
    /// The server's URL without a database, e.g. `postgres://postgres@127.0.0.1:5432`.
    pub base: String,
    /// An existing database to connect to for CREATE and DROP DATABASE.
    pub admin_db: String,
}

impl PgServer {
    /// Runs `sql` on the admin database. The blocking client starts a runtime of its own, which
    /// panics on a thread of the bench's async executor; a plain thread has none.
    fn admin(&self, sql: String) -> Result<(), String> {
        let url = format!("{}/{}", self.base, self.admin_db);
        std::thread::spawn(move || -> Result<(), String> {
            let mut c = postgres::Client::connect(&url, postgres::NoTls)
                .map_err(|e| format!("{url}: {e}"))?;
            c.batch_execute(&sql).map_err(|e| format!("{sql}: {e}"))
        })
        .join()
        .map_err(|_| "the PostgreSQL admin thread panicked".to_string())?
    }
}

/// A fresh database of the bench's own, dropped with this value, so runs never see each
/// other's rows and leave nothing behind.
pub struct PgDatabase {
    server: PgServer,
    name: String,
}

impl PgDatabase {
    pub fn create(server: &PgServer) -> Result<PgDatabase, String> {
        let name = format!("confab_bench_{}", uuid::Uuid::new_v4().simple());
        server.admin(format!("CREATE DATABASE {name}"))?;
        Ok(PgDatabase {
            server: server.clone(),
            name,
        })
    }

    /// The `--db` argument of a node on this database.
    pub fn url(&self) -> String {
        format!("{}/{}", self.server.base, self.name)
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        // FORCE: a killed node's backends may still be closing when the drop arrives.
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        if let Err(e) = self.server.admin(sql) {
            eprintln!("confab-bench: database {} not dropped: {e}", self.name);
        }
    }
}

/// The nodes under test and where they answer; killed, and their database removed, on drop.
pub struct Cluster {
    nodes: Vec<Child>,
    pub bases: Vec<String>,
    // Fields drop after `Drop::drop` has killed the nodes, so no node outlives its database.
    _dir: Option<TempDir>,
    _pg: Option<PgDatabase>,
}

impl Cluster {
    /// A running server this tool did not start and will not stop.
    pub fn target(base: &str) -> Cluster {
        Cluster {
            nodes: Vec::new(),
            bases: vec![base.trim_end_matches('/').to_string()],
            _dir: None,
            _pg: None,
        }
    }

    /// Starts `nodes` release confab processes on a new database of `backend`, one after the
    /// other (the first migrates the schema; the others find it done). Ends the run, after
    /// stopping what it started, when a node will not start.
    pub fn start(backend: &Backend, nodes: usize, extra: &[String]) -> Cluster {
        let mut cluster = Cluster {
            nodes: Vec::new(),
            bases: Vec::new(),
            _dir: None,
            _pg: None,
        };
        let db = match backend {
            Backend::Sqlite => {
                let dir = TempDir::new();
                let db = dir.path().join("bench.db").display().to_string();
                cluster._dir = Some(dir);
                db
            }
            Backend::Postgres(server) => {
                let pg = PgDatabase::create(server).or_die("cannot create the bench's database");
                let url = pg.url();
                cluster._pg = Some(pg);
                url
            }
        };
        for i in 0..nodes {
            match try_start_confab(db.as_ref(), extra) {
                Ok((child, base, took)) => {
                    let what = match i {
                        0 => "start-up, empty database".to_string(),
                        _ => format!("start-up of node {}, database in use", i + 1),
                    };
                    report(&what, took.as_secs_f64() * 1000.0, "ms");
                    cluster.nodes.push(child);
                    cluster.bases.push(base);
                }
                Err(e) => {
                    drop(cluster);
                    eprintln!("confab-bench: cannot start confab node {}: {e}", i + 1);
                    std::process::exit(2);
                }
            }
        }
        cluster
    }

    /// Node 1, where customers and conferences are created.
    pub fn first(&self) -> &str {
        self.bases.first().map_or("", String::as_str)
    }

    /// Node N, where the final state is read: with several nodes, not the one that created
    /// the conferences.
    pub fn last(&self) -> &str {
        self.bases.last().map_or("", String::as_str)
    }

    /// The process ids of the nodes this tool started (none for a target).
    pub fn pids(&self) -> Vec<u32> {
        self.nodes.iter().map(Child::id).collect()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for c in &mut self.nodes {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// CPU seconds used so far by every process named `postgres` on this machine (the server, its
/// background workers and the nodes' backends): the share of the two cores the database took.
/// Backends that exit between two readings are not counted; the nodes keep theirs open.
pub fn postgres_cpu_seconds() -> f64 {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    procs
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|pid| pid.bytes().all(|b| b.is_ascii_digit()))
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim_end() == "postgres")
        })
        .map(|pid| cpu_seconds(&pid))
        .sum()
}
