//! Counters for `/metrics` (Prometheus text format). Counters live in memory and count since
//! start; gauges (outbox depth, active conferences and calls) are read from the store at scrape.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::store::{Histogram, HistogramSnapshot, LATENCY_BUCKETS as SECONDS};

/// Every counter confab keeps.
#[derive(Default)]
pub struct Metrics {
    /// (method, route pattern, status) → requests.
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    /// (event type, outcome) → platform events.
    events: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    /// (kind, outcome) → delivery attempts.
    deliveries: Mutex<BTreeMap<(String, &'static str), u64>>,
    /// Requests refused by the rate limits.
    pub rate_limited: AtomicU64,
    /// Route pattern → time from the request's arrival to its answer.
    request_seconds: Mutex<BTreeMap<String, Arc<Histogram>>>,
    /// Platform event type → time its rules took inside the write transaction.
    apply_seconds: Mutex<BTreeMap<&'static str, Arc<Histogram>>>,
}

/// The histogram of `key`, made on first use.
fn histogram<K: Ord + Clone>(
    map: &Mutex<BTreeMap<K, Arc<Histogram>>>,
    key: &K,
) -> Option<Arc<Histogram>> {
    let mut m = map.lock().ok()?;
    Some(
        m.entry(key.clone())
            .or_insert_with(|| Arc::new(Histogram::new(SECONDS)))
            .clone(),
    )
}

/// Writes one histogram series (`name{labels,le=…}` buckets, `_sum`, `_count`).
fn write_histogram(out: &mut String, name: &str, labels: &str, h: &HistogramSnapshot) {
    let sep = if labels.is_empty() { "" } else { "," };
    // A histogram never observed still has its `+Inf` bucket.
    let empty = [(f64::INFINITY, 0)];
    let buckets = if h.buckets.is_empty() {
        &empty[..]
    } else {
        &h.buckets[..]
    };
    for (bound, n) in buckets {
        let le = if bound.is_infinite() {
            "+Inf".to_string()
        } else {
            bound.to_string()
        };
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{le}\"}} {n}");
    }
    let braces = if labels.is_empty() {
        String::new()
    } else {
        format!("{{{labels}}}")
    };
    let _ = writeln!(out, "{name}_sum{braces} {}", h.sum);
    let _ = writeln!(out, "{name}_count{braces} {}", h.count);
}

fn bump<K: Ord>(map: &Mutex<BTreeMap<K, u64>>, key: K) {
    if let Ok(mut m) = map.lock() {
        *m.entry(key).or_insert(0) += 1;
    }
}

pub use crate::store::{Gauges, StoreGauges};

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    pub fn request(&self, method: &str, route: &str, status: u16) {
        bump(
            &self.requests,
            (method.to_string(), route.to_string(), status),
        );
    }

    /// How long a request took, by route pattern.
    pub fn request_time(&self, route: &str, start: std::time::Instant) {
        if let Some(h) = histogram(&self.request_seconds, &route.to_string()) {
            h.observe_since(start);
        }
    }

    /// How long an event's rules took inside its write transaction.
    pub fn apply_time(&self, event_type: &'static str, start: std::time::Instant) {
        if let Some(h) = histogram(&self.apply_seconds, &event_type) {
            h.observe_since(start);
        }
    }

    /// `outcome`: `applied`, `replayed` or `refused`.
    pub fn event(&self, event_type: &'static str, outcome: &'static str) {
        bump(&self.events, (event_type, outcome));
    }

    /// `outcome`: `delivered`, `retry` or `failed`.
    pub fn delivery(&self, kind: &str, outcome: &'static str) {
        bump(&self.deliveries, (kind.to_string(), outcome));
    }

    /// The Prometheus text exposition of every series.
    pub fn render(&self, g: &Gauges) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# HELP confab_http_requests_total HTTP requests answered, by method, route and status.");
        let _ = writeln!(out, "# TYPE confab_http_requests_total counter");
        if let Ok(m) = self.requests.lock() {
            for ((method, route, status), n) in m.iter() {
                let _ = writeln!(out, "confab_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{status}\"}} {n}", escape(method), escape(route));
            }
        }
        let _ = writeln!(out, "# HELP confab_platform_events_total Platform events, by type and outcome (applied, replayed, refused).");
        let _ = writeln!(out, "# TYPE confab_platform_events_total counter");
        if let Ok(m) = self.events.lock() {
            for ((t, o), n) in m.iter() {
                let _ = writeln!(
                    out,
                    "confab_platform_events_total{{type=\"{t}\",outcome=\"{o}\"}} {n}"
                );
            }
        }
        let _ = writeln!(out, "# HELP confab_deliveries_total Outbox delivery attempts, by kind (command, webhook) and outcome (delivered, retry, failed).");
        let _ = writeln!(out, "# TYPE confab_deliveries_total counter");
        if let Ok(m) = self.deliveries.lock() {
            for ((k, o), n) in m.iter() {
                let _ = writeln!(
                    out,
                    "confab_deliveries_total{{kind=\"{}\",outcome=\"{o}\"}} {n}",
                    escape(k)
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP confab_rate_limited_total Requests refused with 429 by the rate limits."
        );
        let _ = writeln!(out, "# TYPE confab_rate_limited_total counter");
        let _ = writeln!(
            out,
            "confab_rate_limited_total {}",
            self.rate_limited.load(Ordering::Relaxed)
        );
        self.render_latencies(&mut out);
        render_gauges(&mut out, g);
        out
    }

    fn render_latencies(&self, out: &mut String) {
        let _ = writeln!(out, "# HELP confab_http_request_duration_seconds Time from a request's arrival to its answer, by route.");
        let _ = writeln!(out, "# TYPE confab_http_request_duration_seconds histogram");
        if let Ok(m) = self.request_seconds.lock() {
            for (route, h) in m.iter() {
                let labels = format!("route=\"{}\"", escape(route));
                write_histogram(
                    out,
                    "confab_http_request_duration_seconds",
                    &labels,
                    &h.snapshot(),
                );
            }
        }
        let _ = writeln!(out, "# HELP confab_platform_event_apply_seconds Time a platform event's rules took inside its write transaction, by type.");
        let _ = writeln!(out, "# TYPE confab_platform_event_apply_seconds histogram");
        if let Ok(m) = self.apply_seconds.lock() {
            for (t, h) in m.iter() {
                write_histogram(
                    out,
                    "confab_platform_event_apply_seconds",
                    &format!("type=\"{t}\""),
                    &h.snapshot(),
                );
            }
        }
    }
}

/// The gauges read from the store at scrape time.
fn render_gauges(out: &mut String, g: &Gauges) {
    {
        let _ = writeln!(
            out,
            "# HELP confab_outbox_depth Messages waiting in the outbox, by kind."
        );
        let _ = writeln!(out, "# TYPE confab_outbox_depth gauge");
        for kind in ["command", "webhook"] {
            let n = g
                .outbox_pending
                .iter()
                .find(|(k, _)| k == kind)
                .map(|(_, n)| *n)
                .unwrap_or(0);
            let _ = writeln!(out, "confab_outbox_depth{{kind=\"{kind}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP confab_outbox_failed Messages that failed for good, by kind."
        );
        let _ = writeln!(out, "# TYPE confab_outbox_failed gauge");
        for kind in ["command", "webhook"] {
            let n = g
                .outbox_failed
                .iter()
                .find(|(k, _)| k == kind)
                .map(|(_, n)| *n)
                .unwrap_or(0);
            let _ = writeln!(out, "confab_outbox_failed{{kind=\"{kind}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP confab_active_conferences Conferences not yet terminated."
        );
        let _ = writeln!(out, "# TYPE confab_active_conferences gauge");
        let _ = writeln!(out, "confab_active_conferences {}", g.active_conferences);
        let _ = writeln!(
            out,
            "# HELP confab_active_calls Conferencecalls not yet left."
        );
        let _ = writeln!(out, "# TYPE confab_active_calls gauge");
        let _ = writeln!(out, "confab_active_calls {}", g.active_calls);
        let _ = writeln!(
            out,
            "# HELP confab_deadlines_pending Timers (timeouts, kick grace, idle) waiting to fire."
        );
        let _ = writeln!(out, "# TYPE confab_deadlines_pending gauge");
        let _ = writeln!(out, "confab_deadlines_pending {}", g.deadlines);
        render_store(out, &g.store);
    }
}

fn render_store(out: &mut String, s: &StoreGauges) {
    let series: [(&str, &str, &str, u64); 4] = [
        (
            "confab_store_wal_bytes",
            "gauge",
            "Size of the SQLite WAL file.",
            s.wal_bytes,
        ),
        (
            "confab_store_wal_limit_bytes",
            "gauge",
            "The WAL bound (--wal-limit-mb).",
            s.wal_limit_bytes,
        ),
        (
            "confab_store_write_failing",
            "gauge",
            "1 while the store cannot write (disk full, I/O error); writes answer 503.",
            u64::from(s.write_failing),
        ),
        (
            "confab_store_write_failures_total",
            "counter",
            "Write batches that could not be committed.",
            s.write_failures,
        ),
    ];
    for (name, kind, help, value) in series {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        let _ = writeln!(out, "{name} {value}");
    }
    let _ = writeln!(out, "# HELP confab_store_batch_size Write jobs per committed transaction (SQLite group-commits; PostgreSQL commits each alone).");
    let _ = writeln!(out, "# TYPE confab_store_batch_size histogram");
    write_histogram(out, "confab_store_batch_size", "", &s.batch_size);
    let _ = writeln!(
        out,
        "# HELP confab_store_commit_seconds Time each write transaction's commit took."
    );
    let _ = writeln!(out, "# TYPE confab_store_commit_seconds histogram");
    write_histogram(out, "confab_store_commit_seconds", "", &s.commit_seconds);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        m.request("GET", "/v1.0/conferences/{id}", 200);
        m.request("GET", "/v1.0/conferences/{id}", 200);
        m.event("call_joining", "applied");
        m.delivery("webhook", "failed");
        let text = m.render(&Gauges {
            outbox_pending: vec![("webhook".into(), 3)],
            active_calls: 2,
            ..Gauges::default()
        });
        assert!(text.contains("confab_http_requests_total{method=\"GET\",route=\"/v1.0/conferences/{id}\",status=\"200\"} 2"));
        assert!(text
            .contains("confab_platform_events_total{type=\"call_joining\",outcome=\"applied\"} 1"));
        assert!(text.contains("confab_deliveries_total{kind=\"webhook\",outcome=\"failed\"} 1"));
        assert!(text.contains("confab_outbox_depth{kind=\"webhook\"} 3"));
        assert!(text.contains("confab_outbox_depth{kind=\"command\"} 0"));
        assert!(text.contains("confab_active_calls 2"));
        m.request_time("/v1.0/conferences/{id}", std::time::Instant::now());
        let text = m.render(&Gauges::default());
        assert!(text.contains("confab_http_request_duration_seconds_bucket{route=\"/v1.0/conferences/{id}\",le=\"+Inf\"} 1"), "{text}");
        assert!(text.contains(
            "confab_http_request_duration_seconds_count{route=\"/v1.0/conferences/{id}\"} 1"
        ));
        assert!(text.contains("confab_store_batch_size_bucket{le=\"+Inf\"} 0"));
    }
}
