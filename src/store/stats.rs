//! What the store measures about its own writes (batch sizes, commit times), kept in
//! prometheus-client histograms that `/metrics` exposes as they are.

pub use prometheus_client::metrics::histogram::Histogram;

/// Bucket bounds, in seconds, of latency histograms: 100 µs to 10 s.
pub const SECONDS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Bucket bounds of the writer's batch sizes (jobs per commit).
pub const BATCH: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

/// A histogram with these bucket bounds (a `+Inf` bucket follows the last).
pub fn histogram(bounds: &[f64]) -> Histogram {
    Histogram::new(bounds.iter().copied())
}

/// Observing the time since an instant, in seconds.
pub trait ObserveSince {
    fn observe_since(&self, start: std::time::Instant);
}

impl ObserveSince for Histogram {
    fn observe_since(&self, start: std::time::Instant) {
        self.observe(start.elapsed().as_secs_f64());
    }
}

/// What the store's writers measure: jobs per committed batch, how long each commit took, and
/// (PostgreSQL) writes carried to a later batch because a lock they needed was held. Clones
/// share the counts.
#[derive(Debug, Clone)]
pub struct WriterStats {
    pub batch_size: Histogram,
    pub commit_seconds: Histogram,
    pub carried: prometheus_client::metrics::counter::Counter,
}

impl Default for WriterStats {
    fn default() -> Self {
        WriterStats {
            batch_size: histogram(BATCH),
            commit_seconds: histogram(SECONDS),
            carried: Default::default(),
        }
    }
}
