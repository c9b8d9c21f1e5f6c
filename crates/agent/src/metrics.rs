//! Agent metrics in Consul's shapes: `/v1/agent/metrics` as JSON (Gauges,
//! Counters, Samples) and as Prometheus text. Counters and timing samples are
//! recorded by the HTTP layer; gauges are read when asked for.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;

#[derive(Debug, Default, Clone, Copy)]
struct Aggregate {
    count: u64,
    sum: f64,
    sum_sq: f64,
    min: f64,
    max: f64,
}

impl Aggregate {
    fn add(&mut self, v: f64) {
        if self.count == 0 || v < self.min {
            self.min = v;
        }
        if self.count == 0 || v > self.max {
            self.max = v;
        }
        self.count += 1;
        self.sum += v;
        self.sum_sq += v * v;
    }

    fn json(&self, name: &str) -> AggregateJson {
        let n = self.count as f64;
        let mean = if self.count > 0 { self.sum / n } else { 0.0 };
        let var = if self.count > 1 {
            ((self.sum_sq - n * mean * mean) / (n - 1.0)).max(0.0)
        } else {
            0.0
        };
        AggregateJson {
            name: name.to_owned(),
            count: self.count,
            rate: self.sum / 10.0,
            sum: self.sum,
            min: self.min,
            max: self.max,
            mean,
            stddev: var.sqrt(),
            labels: BTreeMap::new(),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct AggregateJson {
    name: String,
    count: u64,
    rate: f64,
    sum: f64,
    min: f64,
    max: f64,
    mean: f64,
    stddev: f64,
    labels: BTreeMap<String, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct GaugeJson {
    name: String,
    value: f64,
    labels: BTreeMap<String, String>,
}

/// The agent's metrics registry.
#[derive(Debug, Default)]
pub struct Metrics {
    counters: Mutex<BTreeMap<&'static str, Aggregate>>,
    samples: Mutex<BTreeMap<&'static str, Aggregate>>,
}

impl Metrics {
    /// Adds `n` to a counter.
    pub fn incr(&self, name: &'static str, n: u64) {
        self.counters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(name)
            .or_default()
            .add(n as f64);
    }

    /// Records a timing, in milliseconds as Consul's samples are.
    pub fn time(&self, name: &'static str, d: Duration) {
        self.samples
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(name)
            .or_default()
            .add(d.as_secs_f64() * 1000.0);
    }

    /// Consul's JSON form, with `gauges` read by the caller now.
    pub fn to_json(&self, gauges: &[(String, f64)], timestamp: &str) -> serde_json::Value {
        let counters: Vec<_> = self
            .counters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(n, a)| a.json(n))
            .collect();
        let samples: Vec<_> = self
            .samples
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(n, a)| a.json(n))
            .collect();
        let gauges: Vec<_> = gauges
            .iter()
            .map(|(n, v)| GaugeJson {
                name: n.clone(),
                value: *v,
                labels: BTreeMap::new(),
            })
            .collect();
        serde_json::json!({
            "Timestamp": timestamp,
            "Gauges": gauges,
            "Points": [],
            "Counters": counters,
            "Samples": samples,
        })
    }

    /// Prometheus text exposition of the same metrics.
    pub fn to_prometheus(&self, gauges: &[(String, f64)]) -> String {
        use std::fmt::Write;
        let prom = |n: &str| n.replace(['.', '-'], "_");
        let mut out = String::new();
        for (name, v) in gauges {
            let n = prom(name);
            let _ = writeln!(out, "# TYPE {n} gauge\n{n} {v}");
        }
        for (name, a) in self
            .counters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let n = prom(name);
            let _ = writeln!(out, "# TYPE {n} counter\n{n} {}", a.sum);
        }
        for (name, a) in self
            .samples
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let n = prom(name);
            let _ = writeln!(
                out,
                "# TYPE {n} summary\n{n}_sum {}\n{n}_count {}",
                a.sum, a.count
            );
        }
        out
    }
}

/// The process's resident set size in bytes, from /proc (0 where unavailable).
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * 4096)
}
