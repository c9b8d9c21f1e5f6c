//! Latency samples and the numbers reported from them. Pure arithmetic: no
//! I/O, no clock.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Latencies of one workload run, in microseconds.
#[derive(Debug, Default, Clone)]
pub struct Samples {
    micros: Vec<u32>,
}

impl Samples {
    pub fn push(&mut self, d: Duration) {
        self.micros
            .push(u32::try_from(d.as_micros()).unwrap_or(u32::MAX));
    }

    pub fn extend(&mut self, other: Samples) {
        self.micros.extend(other.micros);
    }

    pub fn len(&self) -> u64 {
        self.micros.len() as u64
    }

    /// The nearest-rank percentile `p` (0..=100) in milliseconds; 0 when empty.
    pub fn percentile_ms(&mut self, p: f64) -> f64 {
        if self.micros.is_empty() {
            return 0.0;
        }
        self.micros.sort_unstable();
        let n = self.micros.len();
        // Nearest rank: the smallest sample with at least p% of samples at or below it.
        let rank = ((p / 100.0) * n as f64).ceil().max(1.0) as usize;
        f64::from(self.micros[rank.min(n) - 1]) / 1000.0
    }
}

/// A closed-loop throughput run: clients each issuing one request at a time.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Throughput {
    pub clients: usize,
    pub ops: u64,
    pub errors: u64,
    pub secs: f64,
    pub ops_per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

impl Throughput {
    pub fn new(clients: usize, mut samples: Samples, errors: u64, elapsed: Duration) -> Self {
        let secs = elapsed.as_secs_f64().max(1e-9);
        let ops = samples.len();
        Self {
            clients,
            ops,
            errors,
            secs,
            ops_per_sec: ops as f64 / secs,
            p50_ms: samples.percentile_ms(50.0),
            p99_ms: samples.percentile_ms(99.0),
        }
    }
}

/// Watch notification latency: from the start of a put to a watcher seeing it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Notify {
    pub watchers: usize,
    pub puts: u64,
    /// watchers × puts.
    pub expected: u64,
    pub received: u64,
    pub put_errors: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Notify {
    pub fn new(watchers: usize, puts: u64, mut samples: Samples, put_errors: u64) -> Self {
        Self {
            watchers,
            puts,
            expected: watchers as u64 * puts,
            received: samples.len(),
            put_errors,
            p50_ms: samples.percentile_ms(50.0),
            p99_ms: samples.percentile_ms(99.0),
            max_ms: samples.percentile_ms(100.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let mut s = Samples::default();
        for ms in 1..=100 {
            s.push(Duration::from_millis(ms));
        }
        assert_eq!(s.percentile_ms(50.0), 50.0);
        assert_eq!(s.percentile_ms(99.0), 99.0);
        assert_eq!(s.percentile_ms(100.0), 100.0);
        assert_eq!(Samples::default().percentile_ms(99.0), 0.0);
    }
}
