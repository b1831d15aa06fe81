//! Per server and method: requests, errors by class, a latency histogram. Lock-free on the
//! request path once a series exists; rendered as Prometheus text and as p50/p95 for the page.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Histogram bucket upper bounds, in seconds.
pub const BUCKETS: [f64; 18] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0, 60.0,
];

/// One (server, method) series.
#[derive(Debug, Default)]
pub struct Series {
    requests: AtomicU64,
    errors: RwLock<BTreeMap<&'static str, u64>>,
    buckets: [AtomicU64; BUCKETS.len() + 1],
    sum_micros: AtomicU64,
}

impl Series {
    fn observe(&self, elapsed: Duration, error_class: Option<&'static str>) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let secs = elapsed.as_secs_f64();
        let i = BUCKETS
            .iter()
            .position(|&b| secs <= b)
            .unwrap_or(BUCKETS.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
        if let Some(class) = error_class {
            let mut errors = self.errors.write().unwrap_or_else(|e| e.into_inner());
            *errors.entry(class).or_default() += 1;
        }
    }

    fn counts(&self) -> [u64; BUCKETS.len() + 1] {
        std::array::from_fn(|i| self.buckets[i].load(Ordering::Relaxed))
    }

    /// Estimated quantile (0..1) in milliseconds, interpolated within a bucket.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        let counts = self.counts();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return None;
        }
        let rank = (q * total as f64).ceil().max(1.0);
        let mut seen = 0.0;
        for (i, &c) in counts.iter().enumerate() {
            if c == 0 {
                continue;
            }
            if seen + c as f64 >= rank {
                let lo = if i == 0 { 0.0 } else { BUCKETS[i - 1] };
                let hi = BUCKETS.get(i).copied().unwrap_or(lo * 2.0);
                let frac = (rank - seen) / c as f64;
                return Some((lo + (hi - lo) * frac) * 1000.0);
            }
            seen += c as f64;
        }
        None
    }

    /// Requests counted.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Errors counted, all classes.
    pub fn errors(&self) -> u64 {
        self.errors
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .sum()
    }
}

/// Every series, keyed by (server, method).
#[derive(Debug, Default)]
pub struct Metrics {
    /// server → method → series; looked up by `&str`, so the request path never allocates.
    series: RwLock<BTreeMap<String, BTreeMap<&'static str, Arc<Series>>>>,
}

impl Metrics {
    /// Records one request.
    pub fn observe(
        &self,
        server: &str,
        method: &'static str,
        elapsed: Duration,
        error_class: Option<&'static str>,
    ) {
        self.series(server, method).observe(elapsed, error_class);
    }

    fn series(&self, server: &str, method: &'static str) -> Arc<Series> {
        {
            let map = self.series.read().unwrap_or_else(|e| e.into_inner());
            if let Some(s) = map.get(server).and_then(|m| m.get(method)) {
                return s.clone();
            }
        }
        let mut map = self.series.write().unwrap_or_else(|e| e.into_inner());
        map.entry(server.to_owned())
            .or_default()
            .entry(method)
            .or_default()
            .clone()
    }

    fn each(&self, mut f: impl FnMut(&str, &'static str, &Series)) {
        let map = self.series.read().unwrap_or_else(|e| e.into_inner());
        for (server, methods) in map.iter() {
            for (method, series) in methods {
                f(server, method, series);
            }
        }
    }

    /// Totals for one server across methods: (requests, errors, p50 ms, p95 ms of tools/call).
    pub fn server_summary(&self, server: &str) -> (u64, u64, Option<f64>, Option<f64>) {
        let map = self.series.read().unwrap_or_else(|e| e.into_inner());
        let mut requests = 0;
        let mut errors = 0;
        let mut p = (None, None);
        for (method, series) in map.get(server).into_iter().flatten() {
            requests += series.requests();
            errors += series.errors();
            if *method == "tools/call" {
                p = (series.quantile_ms(0.5), series.quantile_ms(0.95));
            }
        }
        (requests, errors, p.0, p.1)
    }

    /// The Prometheus text exposition of the request series.
    pub fn render(&self, out: &mut String) {
        out.push_str("# HELP tether_requests_total Requests forwarded to upstream servers.\n");
        out.push_str("# TYPE tether_requests_total counter\n");
        self.each(|server, method, s| {
            let _ = writeln!(
                out,
                "tether_requests_total{{server=\"{}\",method=\"{method}\"}} {}",
                label(server),
                s.requests()
            );
        });
        out.push_str("# HELP tether_errors_total Failed requests, by error class.\n");
        out.push_str("# TYPE tether_errors_total counter\n");
        self.each(|server, method, s| {
            let errors = s.errors.read().unwrap_or_else(|e| e.into_inner());
            for (class, n) in errors.iter() {
                let _ = writeln!(
                    out,
                    "tether_errors_total{{server=\"{}\",method=\"{method}\",class=\"{class}\"}} {n}",
                    label(server)
                );
            }
        });
        out.push_str("# HELP tether_request_duration_seconds Latency of forwarded requests.\n");
        out.push_str("# TYPE tether_request_duration_seconds histogram\n");
        self.each(|server, method, s| {
            let counts = s.counts();
            let mut cumulative = 0;
            let server = label(server);
            for (i, c) in counts.iter().enumerate() {
                cumulative += c;
                let le = BUCKETS
                    .get(i)
                    .map_or_else(|| "+Inf".to_owned(), |b| b.to_string());
                let _ = writeln!(
                    out,
                    "tether_request_duration_seconds_bucket{{server=\"{server}\",method=\"{method}\",le=\"{le}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "tether_request_duration_seconds_sum{{server=\"{server}\",method=\"{method}\"}} {}",
                s.sum_micros.load(Ordering::Relaxed) as f64 / 1e6
            );
            let _ = writeln!(
                out,
                "tether_request_duration_seconds_count{{server=\"{server}\",method=\"{method}\"}} {cumulative}"
            );
        });
    }
}

/// Escapes a Prometheus label value.
pub fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_come_from_the_histogram() {
        let m = Metrics::default();
        for _ in 0..90 {
            m.observe("s", "tools/call", Duration::from_micros(300), None);
        }
        for _ in 0..10 {
            m.observe(
                "s",
                "tools/call",
                Duration::from_millis(40),
                Some("request-timeout"),
            );
        }
        let (req, err, p50, p95) = m.server_summary("s");
        assert_eq!((req, err), (100, 10));
        let (p50, p95) = (p50.unwrap(), p95.unwrap());
        assert!(p50 > 0.25 && p50 <= 0.5, "{p50}");
        assert!(p95 > 25.0 && p95 <= 50.0, "{p95}");
    }

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        m.observe(
            "a\"b",
            "tools/call",
            Duration::from_millis(2),
            Some("peer-error"),
        );
        let mut out = String::new();
        m.render(&mut out);
        assert!(out.contains("tether_requests_total{server=\"a\\\"b\",method=\"tools/call\"} 1"));
        assert!(out.contains(
            "tether_errors_total{server=\"a\\\"b\",method=\"tools/call\",class=\"peer-error\"} 1"
        ));
        assert!(out.contains("le=\"+Inf\"} 1"));
    }
}
