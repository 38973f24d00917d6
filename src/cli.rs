//! The `confab` command line: `serve`, `customer create`, `backup`, `secrets rotate`,
//! `flows check|render|simulate`.

use crate::actions::flows::FlowSet;
use crate::app::App;
use crate::config::Config;
use crate::domain::timestamp::SystemClock;
use crate::engine::{Engine, EngineSettings};
use crate::secrets::Secrets;
use crate::store::{Database, Store, StoreOptions};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Parser)]
#[command(name = "confab", version, about = "Conference call-flow engine")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP service.
    Serve(Box<Config>),
    /// Manage customers.
    Customer {
        #[command(subcommand)]
        command: CustomerCommand,
    },
    /// Copy a SQLite database to a file while the service runs (SQLite's online backup); a
    /// PostgreSQL database is backed up with pg_dump.
    Backup {
        /// SQLite database file to copy.
        #[arg(
            long,
            env = "CONFAB_DB",
            default_value = "confab.db",
            hide_env_values = true
        )]
        db: Database,
        /// Where to write the copy (must not exist).
        #[arg(long)]
        to: PathBuf,
    },
    /// Secrets at rest: re-encrypt stored secrets under the newest key.
    Secrets {
        #[command(subcommand)]
        command: SecretsCommand,
    },
    /// Check and try out flow files.
    Flows {
        #[command(subcommand)]
        command: FlowsCommand,
    },
}

#[derive(Subcommand)]
enum FlowsCommand {
    /// Validate every flow file; prints file:line:col: message per problem.
    Check {
        /// Flows directory.
        #[arg(default_value = "flows", env = "CONFAB_FLOWS_DIR")]
        dir: PathBuf,
    },
    /// Print what a platform would receive for a flow.
    Render {
        /// Flow name.
        name: String,
        /// A variable, as key=value (repeatable), e.g. --var conference.data.pin=4711.
        #[arg(long = "var", value_name = "KEY=VALUE")]
        vars: Vec<String>,
        /// The caller's digits for the next pause (`digits_receive`), in order (repeatable).
        #[arg(long = "input", value_name = "DIGITS")]
        inputs: Vec<String>,
        /// Flows directory.
        #[arg(long, default_value = "flows", env = "CONFAB_FLOWS_DIR")]
        dir: PathBuf,
    },
    /// Run a flow as a real join or leave would, and print the actions with a trace of every
    /// step (the same as `POST /v1.0/simulations` with `flow`).
    Simulate {
        /// Flow name.
        name: String,
        /// `join` (ends with conference_join unless the flow hangs up) or `leave`.
        #[arg(long, default_value = "join")]
        event: String,
        /// A variable, as key=value (repeatable), e.g. --var call.from=+15550100.
        #[arg(long = "var", value_name = "KEY=VALUE")]
        vars: Vec<String>,
        /// The caller's digits for the next pause (`digits_receive`), in order (repeatable);
        /// `--input ""` is no input before the timeout.
        #[arg(long = "input", value_name = "DIGITS")]
        inputs: Vec<String>,
        /// Flows directory.
        #[arg(long, default_value = "flows", env = "CONFAB_FLOWS_DIR")]
        dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum SecretsCommand {
    /// Re-encrypt every stored secret (and seal those still in clear) under the newest key of
    /// the key file, in committed batches, while the service runs; then print how many values
    /// each key still protects. Run it again after an interruption.
    Rotate {
        /// The database: a SQLite file or a `postgres://` URL, as for `serve`.
        #[arg(
            long,
            env = "CONFAB_DB",
            default_value = "confab.db",
            hide_env_values = true
        )]
        db: Database,
        /// The key file, as for `serve` (its last line is the newest key).
        #[arg(long, env = "CONFAB_SECRETS_KEY_FILE")]
        secrets_key_file: PathBuf,
        /// Customers per transaction.
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=10000))]
        batch: u64,
    },
}

#[derive(Subcommand)]
enum CustomerCommand {
    /// Create a customer and print it, with its API key, as one JSON object.
    Create {
        /// The database: a SQLite file or a `postgres://` URL, as for `serve`.
        #[arg(
            long,
            env = "CONFAB_DB",
            default_value = "confab.db",
            hide_env_values = true
        )]
        db: Database,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "")]
        webhook_uri: String,
        /// The key file the service runs with, so the new customer's secrets are stored
        /// encrypted.
        #[arg(long, env = "CONFAB_SECRETS_KEY_FILE")]
        secrets_key_file: Option<PathBuf>,
    },
}

pub fn main() -> ExitCode {
    pin_mmap_threshold();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("confab: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
        Command::Serve(config) => runtime.block_on(serve(*config)),
        Command::Customer {
            command:
                CustomerCommand::Create {
                    db,
                    name,
                    webhook_uri,
                    secrets_key_file,
                },
        } => runtime.block_on(create_customer(db, name, webhook_uri, secrets_key_file)),
        Command::Secrets {
            command:
                SecretsCommand::Rotate {
                    db,
                    secrets_key_file,
                    batch,
                },
        } => runtime.block_on(secrets_rotate(db, &secrets_key_file, batch)),
        Command::Backup { db, to } => backup(&db, &to),
        Command::Flows {
            command: FlowsCommand::Check { dir },
        } => flows_check(&dir),
        Command::Flows {
            command:
                FlowsCommand::Render {
                    name,
                    vars,
                    inputs,
                    dir,
                },
        } => flows_render(&dir, &name, &vars, &inputs, None),
        Command::Flows {
            command:
                FlowsCommand::Simulate {
                    name,
                    event,
                    vars,
                    inputs,
                    dir,
                },
        } => match crate::actions::simulation::CallEvent::parse(&event) {
            Some(e) => flows_render(&dir, &name, &vars, &inputs, Some(e)),
            None => {
                eprintln!("confab: --event must be join or leave, not {event:?}");
                ExitCode::FAILURE
            }
        },
    }
}

async fn serve(config: Config) -> ExitCode {
    // Opening and migrating the database and reading the flows block; keep them off the
    // async executor like every other store access.
    let app = match tokio::task::spawn_blocking(move || App::build(config)).await {
        Ok(Ok(a)) => a,
        Ok(Err(e)) => {
            eprintln!("confab: {e}");
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("confab: start-up failed: {e}");
            return ExitCode::FAILURE;
        }
    };
    match app.local_addr() {
        Ok(addr) => tracing::info!(%addr, "confab listening"),
        Err(e) => tracing::warn!(error = %e, "cannot read the bound address"),
    }
    match app.run(shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("confab: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Keeps glibc serving every allocation of 128 KiB or more (list pages, large conferences)
/// with its own mapping, returned to the system when freed. By default glibc raises that
/// threshold to the size of each such block freed, after which megabyte pages come from the
/// per-thread heaps and stay resident after use: measured, 20 concurrent readers of the
/// largest pages left 56-67 MiB resident afterwards instead of 40 (the idle size) and peaked
/// 15-20 MiB higher.
fn pin_mmap_threshold() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; it is called before any other thread
    // of this program exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {},
                    _ = term.recv() => {},
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn create_customer(
    db: Database,
    name: String,
    webhook_uri: String,
    key_file: Option<PathBuf>,
) -> ExitCode {
    let secrets = match key_file.as_deref().map(Secrets::from_file).transpose() {
        Ok(s) => s.unwrap_or_default(),
        Err(e) => {
            eprintln!("confab: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Checked as the server checks at start: a database whose secrets are sealed under a
    // key this command was not given refuses it, rather than taking a new customer's secret
    // in clear.
    let options = StoreOptions {
        readers: 1,
        pg_writers: 1,
        secrets,
        check_secrets: true,
        ..StoreOptions::default()
    };
    let store = match Store::connect(&db, options) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("confab: {db}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let engine = Engine::new(
        store,
        Arc::new(SystemClock::default()),
        FlowSet::default(),
        EngineSettings::default(),
    );
    match engine.create_customer(&name, &webhook_uri).await {
        Ok((customer, key)) => {
            match serde_json::to_string(&crate::dialects::settings::shown(&customer, Some(&key))) {
                Ok(s) => {
                    println!("{s}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("confab: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Err(e) => {
            eprintln!("confab: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `confab secrets rotate`: reseals in committed batches beside the running service, then
/// prints how many values each key protects (never a value or a key).
async fn secrets_rotate(db: Database, key_file: &std::path::Path, batch: u64) -> ExitCode {
    let secrets = match Secrets::from_file(key_file) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("confab: {e}");
            return ExitCode::FAILURE;
        }
    };
    let keys = secrets.key_ids();
    let newest = secrets.newest_key_id().unwrap_or_default();
    let options = StoreOptions {
        readers: 1,
        pg_writers: 1,
        secrets,
        ..StoreOptions::default()
    };
    let store = match Store::connect(&db, options) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("confab: {db}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let batch = usize::try_from(batch).unwrap_or(100);
    let rotation = match store.rotate_secrets(batch, |_| {}).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!(
                "confab: secrets rotate stopped (what was committed stays; run it again): {e}"
            );
            return ExitCode::FAILURE;
        }
    };
    println!(
        "resealed {} value(s) under key {newest} ({} changed by the service meanwhile, which sealed them itself)",
        rotation.resealed, rotation.changed_meanwhile
    );
    let census = &rotation.census;
    for id in &keys {
        let count = census.by_key.get(id).copied().unwrap_or(0);
        // A value naming this key that does not open still needs the line: without it,
        // start-up refuses to run. Only a key nothing names may go.
        let failing = census.failed_by_key.get(id).copied().unwrap_or(0);
        let note = if *id == newest {
            "newest".to_string()
        } else if failing > 0 {
            format!(
                "{failing} value(s) naming it do not open: replace them (docs/operations.md) before removing its line"
            )
        } else if count == 0 {
            "protects nothing: its line may be removed from the key file".to_string()
        } else {
            "still in use: keep its line, run secrets rotate again".to_string()
        };
        println!("key {id}: {count} value(s) ({note})");
    }
    println!("in clear: {} value(s)", census.clear);
    let mut healthy = census.clear == 0;
    for (id, count) in &census.missing {
        println!(
            "key {id}: {count} value(s) (NOT in the key file: they cannot be read or resealed)"
        );
        healthy = false;
    }
    for (customer, field, error) in &census.unreadable {
        println!("unreadable: customer {customer} {field}: {error}");
        healthy = false;
    }
    if healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn backup(db: &Database, to: &std::path::Path) -> ExitCode {
    if to.exists() {
        eprintln!("confab: {} already exists; choose a new file", to.display());
        return ExitCode::FAILURE;
    }
    match crate::store::backup(db, to) {
        Ok(()) => {
            println!("backed up {db} to {}", to.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("confab: backup failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn flows_check(dir: &std::path::Path) -> ExitCode {
    match FlowSet::load_dir(dir) {
        Ok(set) => {
            for f in set.flows.values() {
                println!(
                    "ok {} ({} actions) {}",
                    f.name,
                    f.actions.len(),
                    f.file.display()
                );
            }
            ExitCode::SUCCESS
        }
        Err(problems) => {
            for p in problems {
                println!("{p}");
            }
            ExitCode::FAILURE
        }
    }
}

/// Runs a flow of `dir` with `vars` and prints what the platform would receive: `render`
/// prints `{"actions"}`; `simulate` (with its event) also the trace, effects and variables.
fn flows_render(
    dir: &std::path::Path,
    name: &str,
    vars: &[String],
    inputs: &[String],
    simulate: Option<crate::actions::simulation::CallEvent>,
) -> ExitCode {
    if let Some(bad) = inputs
        .iter()
        .find(|i| !crate::dialects::inbound::is_digits(i))
    {
        eprintln!("confab: --input {bad:?} is not keypad digits (0-9, *, #, A-D)");
        return ExitCode::FAILURE;
    }
    let set = match FlowSet::load_dir(dir) {
        Ok(s) => s,
        Err(problems) => {
            for p in problems {
                eprintln!("{p}");
            }
            return ExitCode::FAILURE;
        }
    };
    let Some(flow) = set.flows.get(name) else {
        eprintln!("confab: no flow named {name:?} in {}", dir.display());
        return ExitCode::FAILURE;
    };
    let mut variables = crate::actions::interpreter::Variables::new();
    for kv in vars {
        match kv.split_once('=') {
            Some((k, v)) => {
                variables.insert(k.to_string(), v.to_string());
            }
            None => {
                eprintln!("confab: --var {kv:?} is not KEY=VALUE");
                return ExitCode::FAILURE;
            }
        }
    }
    let program = match crate::actions::compile(name, &flow.actions, &set) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("confab: {e}");
            return ExitCode::FAILURE;
        }
    };
    let event = simulate.unwrap_or(crate::actions::simulation::CallEvent::Join);
    let out = crate::actions::simulation::simulate(
        &program,
        variables,
        event,
        "(simulated)",
        &crate::domain::room::RoomRules::default(),
        inputs,
    );
    if let Some(err) = &out.error {
        eprintln!("confab: {err}");
    }
    let printed = match simulate {
        None => {
            for effect in &out.effects {
                eprintln!("effect: {effect}");
            }
            serde_json::json!({"actions": out.actions})
        }
        Some(_) => serde_json::json!({
            "actions": out.actions,
            "trace": out.trace,
            "effects": out.effects,
            "variables": out.variables,
            "answers": out.answers,
            "waiting": out.waiting,
            "hangup": out.hangup,
            "error": out.error,
            "dialect": "native",
        }),
    };
    match serde_json::to_string_pretty(&printed) {
        Ok(s) => {
            println!("{s}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("confab: {e}");
            ExitCode::FAILURE
        }
    }
}
