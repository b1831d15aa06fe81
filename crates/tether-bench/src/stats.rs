//! Latency statistics: nearest-rank percentiles over microsecond samples, and the median of a
//! few timings.

use serde::{Deserialize, Serialize};

/// The nearest-rank percentile `q` (0..=1) of an ascending slice: the smallest sample with at
/// least `q` of the samples at or below it. 0 for an empty slice.
pub fn percentile(sorted: &[u32], q: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q.clamp(0.0, 1.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.saturating_sub(1).min(sorted.len() - 1)]
}

/// A latency summary, in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Number of samples.
    pub n: usize,
    /// Smallest.
    pub min: u32,
    /// Median.
    pub p50: u32,
    /// 90th percentile.
    pub p90: u32,
    /// 99th percentile.
    pub p99: u32,
    /// Largest.
    pub max: u32,
    /// Arithmetic mean.
    pub mean: f64,
}

impl Summary {
    /// Summarises samples (sorted in place).
    pub fn of(samples: &mut [u32]) -> Summary {
        samples.sort_unstable();
        let n = samples.len();
        if n == 0 {
            return Summary::default();
        }
        let sum: u64 = samples.iter().map(|&x| u64::from(x)).sum();
        Summary {
            n,
            min: samples[0],
            p50: percentile(samples, 0.50),
            p90: percentile(samples, 0.90),
            p99: percentile(samples, 0.99),
            max: samples[n - 1],
            mean: (sum as f64 / n as f64 * 10.0).round() / 10.0,
        }
    }
}

/// The median of a few values (the lower middle one for an even count); `None` when empty.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(v[(v.len() - 1) / 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&v, 0.50), 50);
        assert_eq!(percentile(&v, 0.90), 90);
        assert_eq!(percentile(&v, 0.99), 99);
        assert_eq!(percentile(&v, 1.0), 100);
        assert_eq!(percentile(&v, 0.0), 1);
        assert_eq!(percentile(&[7], 0.99), 7);
        assert_eq!(percentile(&[], 0.5), 0);
        // 10 samples: p99 is the largest, p50 the 5th.
        let w = [10, 20, 30, 40, 50, 60, 70, 80, 90, 1000];
        assert_eq!(percentile(&w, 0.99), 1000);
        assert_eq!(percentile(&w, 0.50), 50);
    }

    #[test]
    fn summary_sorts_and_summarises() {
        let mut v = vec![5, 1, 3, 2, 4];
        let s = Summary::of(&mut v);
        assert_eq!((s.n, s.min, s.p50, s.max), (5, 1, 3, 5));
        assert!((s.mean - 3.0).abs() < 1e-9);
        assert_eq!(Summary::of(&mut []), Summary::default());
    }

    #[test]
    fn median_of_timings() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.0));
        assert_eq!(median(&[]), None);
    }
}
