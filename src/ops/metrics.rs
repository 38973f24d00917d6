//! `/metrics`: the counters and histograms confab keeps in memory since start
//! (prometheus-client), and the gauges read from the store at each scrape, in the OpenMetrics
//! text format Prometheus scrapes.

use crate::store::{histogram, Histogram, ObserveSince, LATENCY_BUCKETS};
use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::registry::Registry;

pub use crate::store::{Gauges, StoreGauges};

/// Label names with their values, in the order they are written.
type Labels = Vec<(&'static str, String)>;
type Histograms = Family<Labels, Histogram, fn() -> Histogram>;

fn latency() -> Histogram {
    histogram(LATENCY_BUCKETS)
}

/// Every series confab keeps. Clones of a family share its counts, so the registry holds one
/// clone and the methods below count on the other.
pub struct Metrics {
    registry: Registry,
    requests: Family<Labels, Counter>,
    events: Family<Labels, Counter>,
    deliveries: Family<Labels, Counter>,
    /// Requests refused by the rate limits.
    pub rate_limited: Counter,
    request_seconds: Histograms,
    apply_seconds: Histograms,
    /// Seconds calls spent in rooms, counted as this node commits each call's leave.
    participant_seconds: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let m = Metrics {
            registry: Registry::default(),
            requests: Family::default(),
            events: Family::default(),
            deliveries: Family::default(),
            rate_limited: Counter::default(),
            request_seconds: Family::new_with_constructor(latency),
            apply_seconds: Family::new_with_constructor(latency),
            participant_seconds: Counter::default(),
        };
        let mut registry = Registry::default();
        registry.register(
            "confab_http_requests",
            "HTTP requests answered, by method, route and status",
            m.requests.clone(),
        );
        registry.register(
            "confab_platform_events",
            "Platform events, by type and outcome (applied, replayed, refused)",
            m.events.clone(),
        );
        registry.register(
            "confab_deliveries",
            "Outbox delivery attempts, by kind (command, webhook, platform_api) and outcome (delivered, retry, failed)",
            m.deliveries.clone(),
        );
        registry.register(
            "confab_rate_limited",
            "Requests refused with 429 by the rate limits",
            m.rate_limited.clone(),
        );
        registry.register(
            "confab_http_request_duration_seconds",
            "Time from a request's arrival to its answer, by route",
            m.request_seconds.clone(),
        );
        registry.register(
            "confab_platform_event_apply_seconds",
            "Time a platform event's rules took inside its write transaction, by type",
            m.apply_seconds.clone(),
        );
        // No customer label: the number of customers has no bound, and every label value is a
        // series Prometheus keeps. Per-customer usage is `GET /v1.0/usage`.
        registry.register(
            "confab_participant_seconds",
            "Seconds calls spent joined to a room, counted when each call leaves (as this node commits it; sum over nodes)",
            m.participant_seconds.clone(),
        );
        Metrics { registry, ..m }
    }
}

impl Metrics {
    pub fn request(&self, method: &str, route: &str, status: u16) {
        let labels = vec![
            ("method", method.to_string()),
            ("route", route.to_string()),
            ("status", status.to_string()),
        ];
        self.requests.get_or_create(&labels).inc();
    }

    /// How long a request took, by route pattern.
    pub fn request_time(&self, route: &str, start: std::time::Instant) {
        let labels = vec![("route", route.to_string())];
        self.request_seconds
            .get_or_create(&labels)
            .observe_since(start);
    }

    /// How long an event's rules took inside its write transaction.
    pub fn apply_time(&self, event_type: &'static str, start: std::time::Instant) {
        let labels = vec![("type", event_type.to_string())];
        self.apply_seconds
            .get_or_create(&labels)
            .observe_since(start);
    }

    /// `outcome`: `applied`, `replayed` or `refused`.
    pub fn event(&self, event_type: &'static str, outcome: &'static str) {
        let labels = vec![
            ("type", event_type.to_string()),
            ("outcome", outcome.into()),
        ];
        self.events.get_or_create(&labels).inc();
    }

    /// Participant seconds a committed transaction counted.
    pub fn participant_seconds(&self, seconds: i64) {
        if seconds > 0 {
            self.participant_seconds.inc_by(seconds as u64);
        }
    }

    /// `outcome`: `delivered`, `retry` or `failed`.
    pub fn delivery(&self, kind: &str, outcome: &'static str) {
        let labels = vec![("kind", kind.to_string()), ("outcome", outcome.into())];
        self.deliveries.get_or_create(&labels).inc();
    }

    /// The OpenMetrics text of every series, the store's gauges `g` included.
    pub fn render(&self, g: &Gauges) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode_registry(&mut out, &self.registry)
            .and_then(|()| encode_registry(&mut out, &scraped(g)))
            .and_then(|()| encode_eof(&mut out));
        out
    }
}

/// The values read from the store for one scrape.
fn scraped(g: &Gauges) -> Registry {
    let mut r = Registry::default();
    for (name, help, counts) in [
        (
            "confab_outbox_depth",
            "Messages waiting in the outbox, by kind",
            &g.outbox_pending,
        ),
        (
            "confab_outbox_failed",
            "Messages that failed for good, by kind",
            &g.outbox_failed,
        ),
    ] {
        let family = Family::<Labels, Gauge>::default();
        // Both kinds always appear, 0 when the store has none.
        for kind in ["command", "webhook"] {
            let _ = family.get_or_create(&vec![("kind", kind.to_string())]);
        }
        for (kind, n) in counts {
            family
                .get_or_create(&vec![("kind", kind.clone())])
                .set(gauge_value(*n));
        }
        r.register(name, help, family);
    }
    let gauges = [
        (
            "confab_active_conferences",
            "Conferences not yet terminated",
            g.active_conferences,
        ),
        (
            "confab_active_calls",
            "Conferencecalls not yet left",
            g.active_calls,
        ),
        (
            "confab_deadlines_pending",
            "Timers (timeouts, kick grace, idle) waiting to fire",
            g.deadlines,
        ),
    ];
    for (name, help, n) in gauges {
        r.register(name, help, ConstGauge::new(gauge_value(n)));
    }
    store_series(&mut r, &g.store);
    r
}

fn store_series(r: &mut Registry, s: &StoreGauges) {
    r.register(
        "confab_store_wal_bytes",
        "Size of the SQLite WAL file",
        ConstGauge::new(gauge_value(s.wal_bytes)),
    );
    r.register(
        "confab_store_wal_limit_bytes",
        "The WAL bound (--wal-limit-mb)",
        ConstGauge::new(gauge_value(s.wal_limit_bytes)),
    );
    r.register(
        "confab_store_write_failing",
        "1 while the store cannot write (disk full, I/O error); writes answer 503",
        ConstGauge::new(i64::from(s.write_failing)),
    );
    r.register(
        "confab_store_write_failures",
        "Write batches that could not be committed",
        ConstCounter::new(s.write_failures),
    );
    r.register(
        "confab_store_batch_size",
        "Write jobs per committed transaction (both backends group-commit)",
        s.batch_size.clone(),
    );
    r.register(
        "confab_store_commit_seconds",
        "Time each write transaction's commit took",
        s.commit_seconds.clone(),
    );
    r.register(
        "confab_store_writes_carried",
        "PostgreSQL writes rolled back and run again in a later batch because another transaction held a lock they needed",
        s.carried.clone(),
    );
}

/// A count as a gauge value (counts never come near `i64::MAX`).
fn gauge_value<N: TryInto<i64>>(n: N) -> i64 {
    n.try_into().unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_named_series_in_openmetrics_text() {
        let m = Metrics::default();
        m.request("GET", "/v1.0/conferences/{id}", 200);
        m.request("GET", "/v1.0/conferences/{id}", 200);
        m.event("call_joining", "applied");
        m.delivery("webhook", "failed");
        m.rate_limited.inc();
        let text = m.render(&Gauges {
            outbox_pending: vec![("webhook".into(), 3)],
            active_calls: 2,
            ..Gauges::default()
        });
        assert!(text.contains("confab_http_requests_total{method=\"GET\",route=\"/v1.0/conferences/{id}\",status=\"200\"} 2"), "{text}");
        assert!(text
            .contains("confab_platform_events_total{type=\"call_joining\",outcome=\"applied\"} 1"));
        assert!(text.contains("confab_deliveries_total{kind=\"webhook\",outcome=\"failed\"} 1"));
        assert!(text.contains("confab_rate_limited_total 1"));
        assert!(text.contains("confab_outbox_depth{kind=\"webhook\"} 3"));
        assert!(text.contains("confab_outbox_depth{kind=\"command\"} 0"));
        assert!(text.contains("confab_active_calls 2"));
        assert!(text.ends_with("# EOF\n"));
        m.request_time("/v1.0/conferences/{id}", std::time::Instant::now());
        let text = m.render(&Gauges::default());
        assert!(text.contains("confab_http_request_duration_seconds_bucket{le=\"+Inf\",route=\"/v1.0/conferences/{id}\"} 1")
            || text.contains("confab_http_request_duration_seconds_bucket{route=\"/v1.0/conferences/{id}\",le=\"+Inf\"} 1"), "{text}");
        assert!(text.contains(
            "confab_http_request_duration_seconds_count{route=\"/v1.0/conferences/{id}\"} 1"
        ));
        assert!(
            text.contains("confab_store_batch_size_bucket{le=\"+Inf\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("confab_store_write_failures_total 0"),
            "{text}"
        );
    }
}
