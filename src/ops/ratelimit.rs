//! Per-key rate limits: a token bucket per customer (and per client address for failed
//! authentication), so one noisy or hostile client cannot take the service from the others.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most buckets kept; beyond it the oldest state is dropped (a reset bucket is a full one).
const MAX_BUCKETS: usize = 100_000;

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Token buckets keyed by `K`, refilled at `rate` per second up to `burst`.
pub struct Limiter<K> {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<K, Bucket>>,
}

impl<K: Hash + Eq> Limiter<K> {
    /// `rate` requests per second, bursts up to twice that. A rate of 0 turns the limit off.
    pub fn new(rate: u32) -> Limiter<K> {
        Limiter::per_second(f64::from(rate))
    }

    /// `rate` units (requests, bytes) per second, bursts up to twice that; 0 turns it off.
    pub fn per_second(rate: f64) -> Limiter<K> {
        Limiter {
            rate,
            burst: rate * 2.0,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Whether `key` has a token left, without taking it.
    pub fn peek(&self, key: K, now: Instant) -> Result<(), Duration> {
        if self.rate <= 0.0 {
            return Ok(());
        }
        let Ok(buckets) = self.buckets.lock() else {
            return Ok(());
        };
        match buckets.get(&key) {
            Some(b) => {
                let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
                let tokens = (b.tokens + elapsed * self.rate).min(self.burst);
                if tokens >= 1.0 {
                    Ok(())
                } else {
                    Err(Duration::from_secs_f64((1.0 - tokens) / self.rate))
                }
            }
            None => Ok(()),
        }
    }

    /// Takes one token for `key`; when none is left, how long until one is.
    pub fn check(&self, key: K, now: Instant) -> Result<(), Duration> {
        self.take(key, 1.0, now)
    }

    /// Takes `n` tokens for `key` (at most a burst's worth is ever asked for); when fewer are
    /// left, takes none and says how long until there are.
    pub fn take(&self, key: K, n: f64, now: Instant) -> Result<(), Duration> {
        if self.rate <= 0.0 {
            return Ok(());
        }
        let Ok(mut buckets) = self.buckets.lock() else {
            return Ok(());
        };
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(&key) {
            buckets.clear();
        }
        let b = buckets.entry(key).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * self.rate).min(self.burst);
        b.at = now;
        let n = n.min(self.burst);
        if b.tokens >= n {
            b.tokens -= n;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((n - b.tokens) / self.rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_then_refills() {
        let l = Limiter::new(10);
        let t = Instant::now();
        for _ in 0..20 {
            assert!(l.check("k", t).is_ok());
        }
        let wait = l.check("k", t).unwrap_err();
        assert!(wait <= Duration::from_millis(100));
        assert!(l.check("other", t).is_ok(), "keys are independent");
        assert!(l.check("k", t + Duration::from_millis(150)).is_ok());
        assert!(Limiter::<u8>::new(0).check(1, t).is_ok(), "0 = off");
    }

    #[test]
    fn takes_many_units_at_once_or_none() {
        let l = Limiter::per_second(1000.0);
        let t = Instant::now();
        assert!(l.take("k", 1500.0, t).is_ok());
        let wait = l.take("k", 1000.0, t).unwrap_err();
        assert_eq!(
            wait,
            Duration::from_millis(500),
            "500 left, 500 more take 0.5 s"
        );
        assert!(l.take("k", 500.0, t).is_ok(), "a refused take took nothing");
    }
}
