//! Latency histograms and the time window a run measures.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

/// The window a run measures: a warm-up, then the measured span.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// When measuring starts (after the warm-up).
    pub start: Instant,
    /// When measuring ends and the run stops.
    pub end: Instant,
}

impl Window {
    /// A window starting `warmup` from now and lasting `duration`.
    #[must_use]
    pub fn after(warmup: Duration, duration: Duration) -> Self {
        let start = Instant::now() + warmup;
        Self {
            start,
            end: start + duration,
        }
    }

    /// Whether `at` falls in the measured span.
    #[must_use]
    pub fn measures(&self, at: Instant) -> bool {
        at >= self.start && at < self.end
    }

    /// The measured span, in seconds.
    #[must_use]
    pub fn seconds(&self) -> f64 {
        (self.end - self.start).as_secs_f64()
    }
}

/// A latency histogram in microseconds, from 1 µs to 10 minutes, 3 significant
/// digits.
#[derive(Debug, Clone)]
pub struct Latency(Histogram<u64>);

impl Default for Latency {
    fn default() -> Self {
        Self::new()
    }
}

impl Latency {
    /// An empty histogram.
    #[must_use]
    pub fn new() -> Self {
        #[allow(clippy::expect_used)] // constant, valid bounds
        let h = Histogram::new_with_bounds(1, 600_000_000, 3).expect("valid histogram bounds");
        Self(h)
    }

    /// Records one latency (clamped to the histogram's range).
    pub fn record(&mut self, latency: Duration) {
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.0.saturating_record(us.max(1));
    }

    /// How many latencies were recorded.
    #[must_use]
    pub fn count(&self) -> u64 {
        self.0.len()
    }

    /// Adds another histogram's samples.
    pub fn merge(&mut self, other: &Self) {
        // Same bounds on both sides: cannot fail.
        let _ = self.0.add(&other.0);
    }

    /// The percentiles a report shows.
    #[must_use]
    pub fn summary(&self) -> Percentiles {
        let q = |q: f64| {
            if self.0.is_empty() {
                0.0
            } else {
                self.0.value_at_quantile(q) as f64
            }
        };
        Percentiles {
            p50_us: q(0.50),
            p99_us: q(0.99),
            p999_us: q(0.999),
        }
    }
}

/// Latency percentiles, in microseconds.
#[derive(Debug, Clone, Copy, Default, Serialize, serde::Deserialize)]
pub struct Percentiles {
    /// Median.
    pub p50_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
}

/// The median of `values` (the mean of the two middle ones for an even count).
#[must_use]
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[mid]
    } else {
        f64::midpoint(v[mid - 1], v[mid])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn percentiles_come_from_the_recorded_latencies() {
        let mut h = Latency::new();
        for us in 1..=1000 {
            h.record(Duration::from_micros(us));
        }
        let p = h.summary();
        assert!((p.p50_us - 500.0).abs() <= 1.0, "{p:?}");
        assert!((p.p99_us - 990.0).abs() <= 1.0, "{p:?}");
        assert_eq!(h.count(), 1000);
    }

    #[test]
    fn a_window_measures_only_its_span() {
        let w = Window::after(Duration::from_millis(100), Duration::from_millis(100));
        assert!(!w.measures(Instant::now()));
        assert!(w.measures(w.start));
        assert!(!w.measures(w.end));
        assert!((w.seconds() - 0.1).abs() < 1e-9);
    }
}
