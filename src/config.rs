//! Settings of `confab serve`: every one a flag and a `CONFAB_*` environment variable.

use crate::store::Database;
use clap::Args;
use std::path::PathBuf;

// No `Debug`: it holds the admin token and the platform secret, which no output may show.
#[derive(Clone, Args)]
pub struct Config {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "CONFAB_BIND", default_value = "127.0.0.1:8080")]
    pub bind: String,
    /// The database: a SQLite file (created and migrated on start), or a `postgres://` URL
    /// that several confab nodes share (migrated on start).
    #[arg(
        long,
        env = "CONFAB_DB",
        default_value = "confab.db",
        hide_env_values = true
    )]
    pub db: Database,
    /// Directory of flow files (*.json).
    #[arg(long, env = "CONFAB_FLOWS_DIR", default_value = "flows")]
    pub flows_dir: PathBuf,
    /// Token for the admin routes (POST /v1.0/customers); unset = admin routes answer 404.
    #[arg(long, env = "CONFAB_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Base URL of the telephony platform; commands are POSTed to {platform-url}/commands.
    #[arg(long, env = "CONFAB_PLATFORM_URL")]
    pub platform_url: Option<String>,
    /// Standard Webhooks secret (whsec_...) shared with the platform; unset = unsigned events
    /// are accepted.
    #[arg(long, env = "CONFAB_PLATFORM_SECRET", hide_env_values = true)]
    pub platform_secret: Option<String>,
    /// Seconds an XML-API conference may stay without participants after creation.
    #[arg(long, env = "CONFAB_IDLE_TIMEOUT", default_value_t = 600)]
    pub idle_timeout: u64,
    /// Seconds a kicked call has to be reported as left before confab marks it left itself.
    #[arg(long, env = "CONFAB_KICK_GRACE", default_value_t = 30)]
    pub kick_grace: u64,
    /// Calls one customer may have being dialled out (`dialing`) at once, across all its
    /// conferences; a dial past it is refused with 429 `DIAL_LIMIT`.
    #[arg(long, env = "CONFAB_DIAL_LIMIT", default_value_t = 20)]
    pub dial_limit: u64,
    /// Delays in seconds between customer webhook attempts.
    #[arg(
        long,
        env = "CONFAB_WEBHOOK_RETRY_SCHEDULE",
        default_value = "0,5,300,1800,7200,18000,36000,36000"
    )]
    pub webhook_retry_schedule: String,
    /// Delays in seconds between platform command attempts; the last repeats for up to 1 h.
    #[arg(
        long,
        env = "CONFAB_COMMAND_RETRY_SCHEDULE",
        default_value = "0,1,2,5,10,30,60"
    )]
    pub command_retry_schedule: String,
    /// Allow webhooks to private, loopback and link-local addresses.
    #[arg(long, env = "CONFAB_WEBHOOK_ALLOW_PRIVATE", default_value_t = false)]
    pub webhook_allow_private: bool,
    /// HTTP worker threads (default: one per core).
    #[arg(long, env = "CONFAB_WORKERS")]
    pub workers: Option<usize>,
    /// Requests per second each customer may make (bursts of twice that); 0 = no limit.
    #[arg(long, env = "CONFAB_RATE_LIMIT", default_value_t = 1000)]
    pub rate_limit: u32,
    /// MiB of request bodies per second each customer may send (bursts of twice that); 0 = no
    /// limit. Bodies cost the time to receive and parse them; without this a customer within
    /// its request rate could send a gigabyte a second of megabyte bodies and take the CPU
    /// from everyone else. A body past it is refused with 429 before it is read.
    #[arg(long, env = "CONFAB_BODY_RATE_LIMIT_MB", default_value_t = 16.0, value_parser = parse_mib_rate)]
    pub body_rate_limit_mb: f64,
    /// Failed authentications per second one client address may make before it gets 429.
    #[arg(long, env = "CONFAB_AUTH_FAILURE_LIMIT", default_value_t = 20)]
    pub auth_failure_limit: u32,
    /// SQLite reader threads (default: one per core, at least 2). More threads than cores only
    /// add context switches; reads are short.
    #[arg(long, env = "CONFAB_READERS", default_value_t = default_readers())]
    pub readers: usize,
    /// Bound of the SQLite WAL file in MiB: past an eighth of it the writer checkpoints and
    /// truncates the WAL between batches, so sustained load cannot grow it without end.
    #[arg(long, env = "CONFAB_WAL_LIMIT_MB", default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=65536))]
    pub wal_limit_mb: u64,
    /// SQLite only: MiB kept in reserve beside the database (`<db>-reserve`), at most a
    /// sixteenth of its filesystem. On a full disk the writer gives it back so the checkpoint
    /// that truncates the WAL has room, and makes it again before writes resume. 0 = none.
    #[arg(long, env = "CONFAB_DISK_RESERVE_MB", default_value_t = 64, value_parser = clap::value_parser!(u64).range(0..=65536))]
    pub disk_reserve_mb: u64,
    /// Largest list page in bytes of item JSON: a page stops before the item that would pass
    /// it (it always holds one), so one answer cannot take hundreds of megabytes.
    #[arg(long, env = "CONFAB_PAGE_BYTES", default_value_t = DEFAULT_PAGE_BYTES)]
    pub page_bytes: usize,
    /// Seconds a list answer may take to reach its client. A client that has not read the
    /// whole page by then has its connection closed, so the page's room in the shared list
    /// budget comes back: a client that asks for large pages and never reads them cannot hold
    /// it. 60 s lets a 4 MiB page through a link of about 600 kbit/s.
    #[arg(long, env = "CONFAB_SEND_TIMEOUT", default_value_t = DEFAULT_SEND_TIMEOUT, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub send_timeout: u64,
    /// PostgreSQL only: writer threads, each with a connection that applies the writes waiting
    /// for it in one transaction (group commit). Across all nodes, about the database server's
    /// cores: more writers mostly wait on each other's locks.
    #[arg(long, env = "CONFAB_PG_WRITERS", default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub pg_writers: u16,
    /// Seconds an outbox delivery is leased to the node that claimed it. A node that dies
    /// mid-delivery leaves its messages to the others after this long. An attempt is cut off
    /// well inside the lease (a lane stops starting attempts when 2/5 of it is left), so a
    /// short lease also shortens the longest attempt below the 10 s webhook timeout.
    #[arg(long, env = "CONFAB_OUTBOX_LEASE", default_value_t = 30, value_parser = clap::value_parser!(u64).range(3..=3600))]
    pub outbox_lease: u64,
    /// A name for this node that stays the same across its restarts (its host name, say),
    /// unique among the nodes sharing a PostgreSQL database. With it, a restarted node gives
    /// back at once the outbox leases its previous life held instead of waiting for them to
    /// expire. Unset: a random name each start (safe; a crashed node's deliveries wait for
    /// the lease). Never give two live nodes the same name.
    #[arg(long, env = "CONFAB_NODE_NAME", value_parser = parse_node_name)]
    pub node_name: Option<String>,
    /// The base URL platforms reach this confab at (e.g. https://confab.example.com), as the
    /// platforms were given it: some platforms sign the URL they called, and behind a proxy
    /// confab cannot rebuild that URL from the request. Callback URLs in the dialects'
    /// answers and REST calls are built on it. Unset: http:// and the bound address.
    #[arg(long, env = "CONFAB_PUBLIC_URL", value_parser = parse_public_url)]
    pub public_url: Option<String>,
    /// Sound a `beep` action plays on the platform dialects (their platforms have no beep
    /// verb). Unset: the beep confab serves itself at {public-url}/v1.0/sounds/beep.wav.
    #[arg(long, env = "CONFAB_BEEP_URL", value_parser = parse_public_url)]
    pub beep_url: Option<String>,
    /// A file of lines KEY_ID:BASE64 (32-byte keys, the last line the newest): customers'
    /// secrets (webhook secrets, platform credentials) are stored encrypted under the newest
    /// key. Unset: they are stored in clear (a warning says so). See docs/operations.md.
    #[arg(long, env = "CONFAB_SECRETS_KEY_FILE")]
    pub secrets_key_file: Option<PathBuf>,
}

/// An http(s) URL, kept without a trailing slash so paths can be appended.
fn parse_public_url(raw: &str) -> Result<String, String> {
    match url::Url::parse(raw) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {
            Ok(raw.trim_end_matches('/').to_string())
        }
        _ => Err("expected an http(s) URL".into()),
    }
}

/// A rate in MiB per second: a finite number from 0 to 65536.
fn parse_mib_rate(raw: &str) -> Result<f64, String> {
    match raw.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && (0.0..=65536.0).contains(&v) => Ok(v),
        _ => Err("expected MiB per second, a number from 0 to 65536".into()),
    }
}

/// A node name: 1 to 64 letters, digits, `-`, `_`, `.` or `:`.
fn parse_node_name(raw: &str) -> Result<String, String> {
    let ok = !raw.is_empty()
        && raw.len() <= 64
        && raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c));
    if ok {
        Ok(raw.to_string())
    } else {
        Err("expected 1 to 64 letters, digits, '-', '_', '.' or ':'".into())
    }
}

/// The default seconds a list answer may take to reach its client (`--send-timeout`).
pub const DEFAULT_SEND_TIMEOUT: u64 = 60;

/// The default byte budget of a list page: 4 MiB of item JSON, a few of the largest
/// conferences (about 1 MB each) or the full 100 of ordinary ones.
pub const DEFAULT_PAGE_BYTES: usize = 4 * 1024 * 1024;

impl Config {
    /// The defaults of `confab serve`, for tests and embedding.
    pub fn with_db(db: impl Into<Database>) -> Config {
        Config {
            bind: "127.0.0.1:0".into(),
            db: db.into(),
            flows_dir: PathBuf::from("flows"),
            admin_token: None,
            platform_url: None,
            platform_secret: None,
            idle_timeout: 600,
            kick_grace: 30,
            dial_limit: 20,
            webhook_retry_schedule: "0,5,300,1800,7200,18000,36000,36000".into(),
            command_retry_schedule: "0,1,2,5,10,30,60".into(),
            webhook_allow_private: false,
            workers: None,
            rate_limit: 1000,
            auth_failure_limit: 20,
            body_rate_limit_mb: 16.0,
            readers: default_readers(),
            wal_limit_mb: 64,
            disk_reserve_mb: 64,
            page_bytes: DEFAULT_PAGE_BYTES,
            send_timeout: DEFAULT_SEND_TIMEOUT,
            pg_writers: 2,
            outbox_lease: 30,
            node_name: None,
            public_url: None,
            beep_url: None,
            secrets_key_file: None,
        }
    }
}

fn default_readers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .max(2)
}

/// Parses a comma-separated list of seconds, naming the setting when it is wrong.
pub fn parse_schedule(setting: &str, raw: &str) -> Result<Vec<u64>, String> {
    let delays: Result<Vec<u64>, _> = raw.split(',').map(|s| s.trim().parse::<u64>()).collect();
    match delays {
        Ok(d) if !d.is_empty() => Ok(d),
        _ => Err(format!(
            "--{setting}: expected comma-separated seconds, got {raw:?}"
        )),
    }
}
