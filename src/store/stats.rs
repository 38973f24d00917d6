//! Histograms: what the store measures about its own writes (batch sizes, commit times), and
//! the type the service's other latency series use too.

use std::sync::atomic::{AtomicU64, Ordering};

/// Bucket bounds, in seconds, of latency histograms: 100 µs to 10 s.
pub const SECONDS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Bucket bounds of the writer's batch sizes (jobs per commit).
pub const BATCH: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

/// A Prometheus histogram kept in atomics: observing is a few relaxed adds, no lock.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    /// Per bucket (not cumulative); the last one is `+Inf`.
    counts: Vec<AtomicU64>,
    /// Sum of observations in millionths (seconds → µs, sizes ×10⁶).
    sum_millionths: AtomicU64,
}

/// A histogram read at one moment, cumulative as Prometheus exposes it.
#[derive(Debug, Clone, Default)]
pub struct HistogramSnapshot {
    /// (upper bound, observations ≤ it); the last bound is `f64::INFINITY`.
    pub buckets: Vec<(f64, u64)>,
    pub sum: f64,
    pub count: u64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_millionths: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, value: f64) {
        let i = self
            .bounds
            .iter()
            .position(|b| value <= *b)
            .unwrap_or(self.bounds.len());
        if let Some(c) = self.counts.get(i) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        let millionths = (value.max(0.0) * 1e6) as u64;
        self.sum_millionths.fetch_add(millionths, Ordering::Relaxed);
    }

    pub fn observe_since(&self, start: std::time::Instant) {
        self.observe(start.elapsed().as_secs_f64());
    }

    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut total = 0;
        let mut buckets = Vec::with_capacity(self.counts.len());
        for (i, c) in self.counts.iter().enumerate() {
            total += c.load(Ordering::Relaxed);
            let bound = self.bounds.get(i).copied().unwrap_or(f64::INFINITY);
            buckets.push((bound, total));
        }
        HistogramSnapshot {
            buckets,
            sum: self.sum_millionths.load(Ordering::Relaxed) as f64 / 1e6,
            count: total,
        }
    }
}

/// What the store's writer measures: jobs per committed batch (always 1 on PostgreSQL, where
/// each write is its own transaction) and how long each commit took.
#[derive(Debug)]
pub struct WriterStats {
    pub batch_size: Histogram,
    pub commit_seconds: Histogram,
}

impl Default for WriterStats {
    fn default() -> Self {
        WriterStats {
            batch_size: Histogram::new(BATCH),
            commit_seconds: Histogram::new(SECONDS),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative_with_an_infinite_last() {
        let h = Histogram::new(&[1.0, 2.0]);
        for v in [0.5, 1.0, 1.5, 3.0] {
            h.observe(v);
        }
        let s = h.snapshot();
        assert_eq!(s.buckets, vec![(1.0, 2), (2.0, 3), (f64::INFINITY, 4)]);
        assert_eq!(s.count, 4);
        assert!((s.sum - 6.0).abs() < 1e-9);
    }
}
