//! Noisy neighbours (issue 30): customer B abuses confab within its own limits and customer A's
//! health checks, events, lists and notifications stay within twice their idle figures. One
//! file per shared resource a customer could otherwise hold: parsing time on the HTTP workers,
//! the list page budget, reader threads and delivery lanes.

mod lanes;
mod lists;
mod pages;
mod xml;

use std::future::Future;
use std::time::{Duration, Instant};

/// Latencies of `n` runs of `f` one after another, sorted.
pub async fn latencies<F, Fut>(n: usize, mut f: F) -> Vec<Duration>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        f().await;
        times.push(started.elapsed());
    }
    times.sort();
    times
}

/// The median of sorted latencies.
pub fn p50(sorted: &[Duration]) -> Duration {
    sorted[sorted.len() / 2]
}

/// Holds a loaded figure to twice its idle figure, with a floor below which the difference
/// is scheduling noise of a shared two-core machine rather than a neighbour's doing.
pub fn within_twice(what: &str, idle: Duration, loaded: Duration, floor: Duration) {
    if let Err(failure) = check_within_twice(what, idle, loaded, floor) {
        panic!("{failure}");
    }
}

/// `within_twice` as a result, for tests that measure more than once (`in_one_of`).
pub fn check_within_twice(
    what: &str,
    idle: Duration,
    loaded: Duration,
    floor: Duration,
) -> Result<(), String> {
    let bound = (idle * 2).max(floor);
    if loaded > bound {
        return Err(format!(
            "{what}: {loaded:?} under a noisy neighbour, idle {idle:?} (bound {bound:?})"
        ));
    }
    eprintln!("{what}: idle {idle:?}, with a noisy neighbour {loaded:?} (bound {bound:?})");
    Ok(())
}

/// Passes when one of `attempts` fresh measurements (idle, then loaded) holds, and fails with
/// every attempt's figures otherwise. The test binary runs two tests at a time on two cores,
/// so a burst of another test (a PostgreSQL multi-node run, a migration) can land in one
/// loaded window and not in its idle one. A neighbour that really stalls another customer does
/// so every time: its cost is systematic, and every attempt fails.
pub async fn in_one_of<F, Fut>(attempts: usize, mut attempt: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let mut failures = Vec::new();
    for n in 1..=attempts {
        match attempt().await {
            Ok(()) => return,
            Err(failure) => {
                eprintln!("attempt {n} of {attempts} failed: {failure}");
                failures.push(failure);
            }
        }
    }
    panic!("every attempt failed:\n{}", failures.join("\n"));
}
