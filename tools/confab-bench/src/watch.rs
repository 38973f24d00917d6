//! What a scenario samples on the side: the server's WAL file every 100 ms, and the server's
//! own timings from /metrics before and after a load.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A thread that samples the size of `<db>-wal` every 100 ms and keeps the largest. (The
/// server's peak memory needs no sampling: the kernel keeps it, VmHWM.) The writer checks the
/// WAL against its bound every 50 ms and truncates it past half the bound, so a finer sample
/// would add little; a much coarser one could miss a peak.
pub struct Watch {
    max_wal: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watch {
    pub fn start(db: &Path) -> Watch {
        let max_wal = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let wal = wal_path(db);
        let (m, s) = (max_wal.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let bytes = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
                m.fetch_max(bytes, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        Watch {
            max_wal,
            stop,
            thread: Some(thread),
        }
    }

    /// The largest WAL size, in MiB, sampled since the last call (or the start); the next call
    /// starts from zero.
    pub fn take_wal_mb(&self) -> f64 {
        self.max_wal.swap(0, Ordering::Relaxed) as f64 / (1024.0 * 1024.0)
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn wal_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}

/// Sums and counts of the server's own histograms, read from /metrics: the time events spent
/// inside their write transaction and the writer's commits. Their differences over a load say
/// whether the server's cost per event moved, apart from HTTP and the generator.
#[derive(Default, Clone, Copy, Debug)]
pub struct ServerTimes {
    apply_seconds: f64,
    applied: f64,
    commit_seconds: f64,
    commits: f64,
    batched_jobs: f64,
    carried: f64,
}

impl ServerTimes {
    pub async fn read(base: &str) -> ServerTimes {
        let text = match reqwest::get(format!("{base}/metrics")).await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        // The apply histogram has one series per event type; their sums add up.
        let total = |name: &str| -> f64 {
            text.lines()
                .filter_map(|l| l.strip_prefix(name))
                .filter(|rest| rest.starts_with([' ', '{']))
                .filter_map(|rest| rest.rsplit(' ').next()?.parse::<f64>().ok())
                .sum()
        };
        ServerTimes {
            apply_seconds: total("confab_platform_event_apply_seconds_sum"),
            applied: total("confab_platform_event_apply_seconds_count"),
            commit_seconds: total("confab_store_commit_seconds_sum"),
            commits: total("confab_store_commit_seconds_count"),
            batched_jobs: total("confab_store_batch_size_sum"),
            carried: total("confab_store_writes_carried_total"),
        }
    }

    /// What the server did between `self` and `later`.
    pub fn until(&self, later: &ServerTimes) -> ServerDelta {
        ServerDelta(ServerTimes {
            apply_seconds: later.apply_seconds - self.apply_seconds,
            applied: later.applied - self.applied,
            commit_seconds: later.commit_seconds - self.commit_seconds,
            commits: later.commits - self.commits,
            batched_jobs: later.batched_jobs - self.batched_jobs,
            carried: later.carried - self.carried,
        })
    }
}

/// The server's histogram sums and counts over one load; loads add up.
#[derive(Default, Clone, Copy, Debug)]
pub struct ServerDelta(ServerTimes);

impl ServerDelta {
    /// Mean time an event spent in its rules inside the write transaction, in µs.
    pub fn apply_us(&self) -> f64 {
        per(1e6 * self.0.apply_seconds, self.0.applied)
    }

    /// Mean time of a commit, in µs.
    pub fn commit_us(&self) -> f64 {
        per(1e6 * self.0.commit_seconds, self.0.commits)
    }

    /// Mean write jobs per commit (events and any other writes batched with them).
    pub fn batch(&self) -> f64 {
        per(self.0.batched_jobs, self.0.commits)
    }

    /// Writes carried to a later batch (PostgreSQL: a lock they needed was held), per write
    /// committed.
    pub fn carried(&self) -> f64 {
        per(self.0.carried, self.0.batched_jobs)
    }
}

impl std::ops::Add for ServerDelta {
    type Output = ServerDelta;

    fn add(self, o: ServerDelta) -> ServerDelta {
        let (a, b) = (self.0, o.0);
        ServerDelta(ServerTimes {
            apply_seconds: a.apply_seconds + b.apply_seconds,
            applied: a.applied + b.applied,
            commit_seconds: a.commit_seconds + b.commit_seconds,
            commits: a.commits + b.commits,
            batched_jobs: a.batched_jobs + b.batched_jobs,
            carried: a.carried + b.carried,
        })
    }
}

fn per(total: f64, n: f64) -> f64 {
    if n > 0.0 {
        total / n
    } else {
        0.0
    }
}
