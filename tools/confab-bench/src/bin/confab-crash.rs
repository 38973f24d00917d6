//! confab-crash: drives call events through confab while killing it with SIGKILL at random
//! moments and restarting it on the same database, then checks that every acknowledged event,
//! deadline and outbox message survived.

use clap::Parser;
use confab_bench::crash::{crash_test, CrashArgs};

#[derive(Parser)]
#[command(
    about = "Crash test: SIGKILL confab under load, then check nothing acknowledged was lost"
)]
struct Args {
    /// SIGKILLs to survive.
    #[arg(long, default_value_t = 8)]
    kills: usize,
    /// Conferences, each with a 2 s timeout.
    #[arg(long, default_value_t = 150)]
    conferences: usize,
    /// Calls per conference, each driven through joining, joined and left.
    #[arg(long, default_value_t = 60)]
    calls: usize,
    /// Concurrent connections (at most 32 are used).
    #[arg(long, default_value_t = 32)]
    connections: usize,
}

#[tokio::main]
async fn main() {
    let a = Args::parse();
    let ok = crash_test(&CrashArgs {
        conferences: a.conferences,
        calls: a.calls,
        connections: a.connections,
        crash_kills: a.kills,
    })
    .await;
    std::process::exit(if ok { 0 } else { 1 });
}
