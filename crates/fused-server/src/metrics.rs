//! Request counters and the duration histogram (atomics, no locks), and a hand-written
//! renderer of the Prometheus text exposition format 0.0.4 for `GET /metrics`.
//!
//! Request counts and durations are recorded by the request middleware
//! (`routes::observe`); the worker pool and cache figures are read from their own counters
//! when `/metrics` is scraped.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::executor::PoolStats;
use crate::runcache::CacheStats;

/// The `Content-Type` of the exposition.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Upper bounds (seconds) of `fused_request_duration_seconds`: a cache hit takes well
/// under a millisecond, a cold UDF run minutes.
pub const DURATION_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0, 120.0,
];

/// Status codes are three digits (`http` accepts 100-999); one counter each, indexed by
/// the code.
const STATUS_SLOTS: usize = 1000;

/// A histogram with fixed bucket bounds. Each observation increments one bucket (the first
/// whose bound is >= the value, or the implicit `+Inf`); the cumulative counts Prometheus
/// expects are summed when rendering.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    /// One per bound, then `+Inf`.
    buckets: Vec<AtomicU64>,
    sum_nanos: AtomicU64,
    count: AtomicU64,
}

/// A consistent-enough copy of a [`Histogram`] for rendering (each field is read atomically;
/// a concurrent observation may show in `count` and not yet in a bucket, never the reverse
/// order across a whole scrape cycle).
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// `(upper bound, cumulative count)`, the `+Inf` bucket last with `f64::INFINITY`.
    pub cumulative: Vec<(f64, u64)>,
    pub sum_seconds: f64,
    pub count: u64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            buckets: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_nanos: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, value: Duration) {
        let seconds = value.as_secs_f64();
        let slot = self
            .bounds
            .iter()
            .position(|b| seconds <= *b)
            .unwrap_or(self.bounds.len());
        self.buckets[slot].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(value.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut total = 0;
        let cumulative = self
            .bounds
            .iter()
            .copied()
            .chain(std::iter::once(f64::INFINITY))
            .zip(&self.buckets)
            .map(|(bound, n)| {
                total += n.load(Ordering::Relaxed);
                (bound, total)
            })
            .collect();
        HistogramSnapshot {
            cumulative,
            sum_seconds: self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9,
            count: total,
        }
    }
}

/// What the server counts itself (the pool and the cache keep their own counters).
#[derive(Debug)]
pub struct Metrics {
    requests_by_status: Vec<AtomicU64>,
    duration: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            requests_by_status: (0..STATUS_SLOTS).map(|_| AtomicU64::new(0)).collect(),
            duration: Histogram::new(DURATION_BUCKETS),
        }
    }
}

impl Metrics {
    /// Count one finished request.
    pub fn record_request(&self, status: u16, duration: Duration) {
        let slot = usize::from(status).min(STATUS_SLOTS - 1);
        self.requests_by_status[slot].fetch_add(1, Ordering::Relaxed);
        self.duration.observe(duration);
    }

    /// `(status, count)` for every status seen, by status.
    pub fn requests(&self) -> Vec<(u16, u64)> {
        self.requests_by_status
            .iter()
            .enumerate()
            .filter_map(|(status, n)| {
                let n = n.load(Ordering::Relaxed);
                (n > 0).then_some((status as u16, n))
            })
            .collect()
    }

    /// The whole exposition: these counters plus the pool's and the cache's.
    pub fn render(&self, pool: PoolStats, cache: CacheStats) -> String {
        let mut out = Exposition::default();
        let statuses: Vec<(String, u64)> = self
            .requests()
            .into_iter()
            .map(|(s, n)| (s.to_string(), n))
            .collect();
        out.family(
            "fused_requests_total",
            "HTTP requests answered, by status code.",
            "counter",
        );
        for (status, n) in &statuses {
            out.sample("fused_requests_total", &[("status", status)], *n as f64);
        }
        out.histogram(
            "fused_request_duration_seconds",
            "Time from receiving a request to its response headers.",
            &self.duration.snapshot(),
        );
        let gauges: [(&str, &str, &str, f64); 10] = [
            (
                "fused_queue_depth",
                "Tasks waiting for a free worker.",
                "gauge",
                pool.queued as f64,
            ),
            (
                "fused_workers_configured",
                "Worker processes the pool keeps.",
                "gauge",
                pool.configured as f64,
            ),
            (
                "fused_workers_alive",
                "Worker processes started and ready (idle or busy).",
                "gauge",
                pool.alive as f64,
            ),
            (
                "fused_workers_busy",
                "Worker processes running a task.",
                "gauge",
                pool.busy as f64,
            ),
            (
                "fused_workers_spare",
                "Started, idle spare workers ready to replace one that dies.",
                "gauge",
                pool.spares as f64,
            ),
            (
                "fused_worker_restarts_total",
                "Worker processes replaced since the server started.",
                "counter",
                pool.restarts as f64,
            ),
            (
                "fused_cache_hits_total",
                "Run results served from the result cache.",
                "counter",
                cache.hits as f64,
            ),
            (
                "fused_cache_misses_total",
                "Cacheable runs not found in the result cache.",
                "counter",
                cache.misses as f64,
            ),
            (
                "fused_cache_bytes",
                "Bytes held by the memory tier of the result cache.",
                "gauge",
                cache.bytes as f64,
            ),
            (
                "fused_cache_entries",
                "Entries in the memory tier of the result cache.",
                "gauge",
                cache.memory_entries as f64,
            ),
        ];
        for (name, help, kind, value) in gauges {
            out.family(name, help, kind);
            out.sample(name, &[], value);
        }
        out.family(
            "fused_build_info",
            "Always 1; the version is a label.",
            "gauge",
        );
        out.sample(
            "fused_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))],
            1.0,
        );
        out.text
    }
}

/// Text exposition format 0.0.4, written family by family.
#[derive(Debug, Default)]
pub struct Exposition {
    pub text: String,
}

impl Exposition {
    /// The `# HELP` and `# TYPE` lines of a metric family.
    pub fn family(&mut self, name: &str, help: &str, kind: &str) {
        let _ = writeln!(self.text, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    /// One sample line.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{k}=\"{}\"", escape_label(v));
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {}", number(value));
    }

    /// A histogram family: cumulative `_bucket{le}` lines, `_sum` and `_count`.
    pub fn histogram(&mut self, name: &str, help: &str, h: &HistogramSnapshot) {
        self.family(name, help, "histogram");
        let bucket = format!("{name}_bucket");
        for (bound, n) in &h.cumulative {
            self.sample(&bucket, &[("le", &number(*bound))], *n as f64);
        }
        self.sample(&format!("{name}_sum"), &[], h.sum_seconds);
        self.sample(&format!("{name}_count"), &[], h.count as f64);
    }
}

/// A sample value as Prometheus reads it: integers without a fraction, `+Inf`, `NaN`.
fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        // Display never uses an exponent and prints 1.0 as "1".
        format!("{v}")
    }
}

fn escape_label(v: &str) -> String {
    v.replace('\\', r"\\")
        .replace('"', "\\\"")
        .replace('\n', r"\n")
}

fn escape_help(v: &str) -> String {
    v.replace('\\', r"\\").replace('\n', r"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        static BOUNDS: &[f64] = &[0.1, 1.0];
        let h = Histogram::new(BOUNDS);
        h.observe(Duration::from_millis(50)); // <= 0.1
        h.observe(Duration::from_millis(100)); // == 0.1: le is inclusive
        h.observe(Duration::from_millis(500)); // <= 1
        h.observe(Duration::from_secs(3)); // +Inf only
        let s = h.snapshot();
        assert_eq!(s.cumulative, vec![(0.1, 2), (1.0, 3), (f64::INFINITY, 4)]);
        assert_eq!(s.count, 4);
        assert!((s.sum_seconds - 3.65).abs() < 1e-9, "{}", s.sum_seconds);
    }

    #[test]
    fn exposition_text_of_a_small_registry() {
        static BOUNDS: &[f64] = &[0.005, 0.5];
        let h = Histogram::new(BOUNDS);
        h.observe(Duration::from_millis(2));
        h.observe(Duration::from_millis(250));
        let mut out = Exposition::default();
        out.family("x_total", "Things.\nMore \\ text.", "counter");
        out.sample("x_total", &[("status", "200")], 2.0);
        out.sample("x_total", &[("status", "a\"b\\c\nd")], 1.0);
        out.histogram("x_seconds", "Time.", &h.snapshot());
        out.family("x_bytes", "Bytes.", "gauge");
        out.sample("x_bytes", &[], 1536.0);
        assert_eq!(
            out.text,
            "# HELP x_total Things.\\nMore \\\\ text.\n\
             # TYPE x_total counter\n\
             x_total{status=\"200\"} 2\n\
             x_total{status=\"a\\\"b\\\\c\\nd\"} 1\n\
             # HELP x_seconds Time.\n\
             # TYPE x_seconds histogram\n\
             x_seconds_bucket{le=\"0.005\"} 1\n\
             x_seconds_bucket{le=\"0.5\"} 2\n\
             x_seconds_bucket{le=\"+Inf\"} 2\n\
             x_seconds_sum 0.252\n\
             x_seconds_count 2\n\
             # HELP x_bytes Bytes.\n\
             # TYPE x_bytes gauge\n\
             x_bytes 1536\n"
        );
    }

    #[test]
    fn server_metrics_render_requests_pool_and_cache() {
        let m = Metrics::default();
        m.record_request(200, Duration::from_millis(3));
        m.record_request(200, Duration::from_millis(7));
        m.record_request(404, Duration::from_micros(100));
        assert_eq!(m.requests(), vec![(200, 2), (404, 1)]);
        let pool = PoolStats {
            configured: 4,
            alive: 3,
            busy: 2,
            queued: 5,
            restarts: 1,
            spares: 1,
        };
        let cache = CacheStats {
            enabled: true,
            hits: 7,
            misses: 8,
            bytes: 1024,
            memory_entries: 2,
        };
        let text = m.render(pool, cache);
        let lines: Vec<&str> = text.lines().collect();
        for expected in [
            "# TYPE fused_requests_total counter",
            "fused_requests_total{status=\"200\"} 2",
            "fused_requests_total{status=\"404\"} 1",
            "# TYPE fused_request_duration_seconds histogram",
            "fused_request_duration_seconds_bucket{le=\"0.0005\"} 1",
            "fused_request_duration_seconds_bucket{le=\"0.005\"} 2",
            "fused_request_duration_seconds_bucket{le=\"0.01\"} 3",
            "fused_request_duration_seconds_bucket{le=\"120\"} 3",
            "fused_request_duration_seconds_bucket{le=\"+Inf\"} 3",
            "fused_request_duration_seconds_sum 0.0101",
            "fused_request_duration_seconds_count 3",
            "# TYPE fused_queue_depth gauge",
            "fused_queue_depth 5",
            "fused_workers_configured 4",
            "fused_workers_alive 3",
            "fused_workers_busy 2",
            "fused_workers_spare 1",
            "# TYPE fused_worker_restarts_total counter",
            "fused_worker_restarts_total 1",
            "fused_cache_hits_total 7",
            "fused_cache_misses_total 8",
            "# TYPE fused_cache_bytes gauge",
            "fused_cache_bytes 1024",
            "fused_cache_entries 2",
        ] {
            assert!(lines.contains(&expected), "{expected:?} missing in\n{text}");
        }
        // Every sample belongs to a family announced by HELP and TYPE.
        let families: Vec<&str> = lines
            .iter()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .map(|l| l.split(' ').next().unwrap())
            .collect();
        for sample in lines.iter().filter(|l| !l.starts_with('#')) {
            let name = sample.split(['{', ' ']).next().unwrap();
            let family = if families.contains(&name) {
                name
            } else {
                ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| name.strip_suffix(s))
                    .unwrap_or(name)
            };
            assert!(families.contains(&family), "{sample}");
        }
        assert_eq!(
            lines.iter().filter(|l| l.starts_with("# HELP ")).count(),
            families.len()
        );
    }

    #[test]
    fn every_three_digit_status_has_a_counter() {
        let m = Metrics::default();
        m.record_request(999, Duration::ZERO);
        m.record_request(100, Duration::ZERO);
        assert_eq!(m.requests(), vec![(100, 1), (999, 1)]);
    }
}
