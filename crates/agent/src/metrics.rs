//! The agent's metrics: one recorder per agent (so several agents in one
//! process, as in the tests, each report their own), fed through the
//! `metrics` facade by the agent and by its server (`ServerMetrics`), and
//! read in two forms for `GET /v1/agent/metrics`:
//!
//! - Prometheus text, from `metrics-exporter-prometheus`'s recorder:
//!   cumulative counters, gauges, and timers as summaries (quantiles 0.5,
//!   0.9, 0.99, as Consul's Prometheus sink), names with `.` as `_`.
//! - Consul's JSON, from `IntervalSink`, our version of go-metrics' in-memory
//!   sink (which no Rust crate provides): counters and samples aggregated
//!   over 10-second intervals aligned to the wall clock, a minute of them
//!   kept, and the most recent *finished* interval shown (the current one
//!   while none has finished), as Consul's `DisplayMetrics`. Each aggregate's
//!   `Rate` is its `Sum` over the time the interval really covered: the whole
//!   interval, or, for the one the agent started in and the one in progress,
//!   the part of it the agent was running. Gauges show their latest value.
//!
//! No global recorder is installed: the process may run several agents.
//! This module never reads the server or the HTTP layer; they record into it.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use praetor_server::ServerMetrics;
use serde::Serialize;

/// Consul's in-memory interval.
pub const INTERVAL: Duration = Duration::from_secs(10);
/// Intervals kept: Consul keeps a minute.
const RETAIN: usize = 6;
/// The quantiles of a timer in the Prometheus form, as Consul's.
const QUANTILES: [f64; 3] = [0.5, 0.9, 0.99];

/// The agent's metrics; clones share one recorder.
#[derive(Clone)]
pub struct Metrics {
    recorder: Arc<AgentRecorder>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("interval", &self.recorder.shared.sink.interval)
            .finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new(INTERVAL)
    }
}

impl Metrics {
    /// A recorder whose JSON view aggregates over `interval`.
    pub fn new(interval: Duration) -> Self {
        let builder = PrometheusBuilder::new();
        let builder = match builder.set_quantiles(&QUANTILES) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "prometheus quantiles refused; using the defaults");
                PrometheusBuilder::new()
            }
        };
        let prometheus = builder.build_recorder();
        let shared = Arc::new(Shared {
            prom: prometheus.handle(),
            sink: IntervalSink::new(interval, Instant::now(), SystemTime::now()),
        });
        Metrics {
            recorder: Arc::new(AgentRecorder {
                prometheus,
                shared,
                counters: RwLock::default(),
                gauges: RwLock::default(),
                histograms: RwLock::default(),
            }),
        }
    }

    /// Runs `f` with this agent's recorder as the one the `metrics` macros
    /// record into (on this thread, for the duration of `f`).
    pub fn record<T>(&self, f: impl FnOnce() -> T) -> T {
        metrics::with_local_recorder(&*self.recorder, f)
    }

    /// Handles for a server hosted by this agent.
    pub fn server_metrics(&self) -> ServerMetrics {
        ServerMetrics::new(&*self.recorder)
    }

    /// Consul's JSON form (`Timestamp`, `Gauges`, `Points`, `Counters`, `Samples`).
    pub fn to_json(&self) -> serde_json::Value {
        self.recorder.shared.sink.display(Instant::now())
    }

    /// The Prometheus text exposition.
    pub fn to_prometheus(&self) -> String {
        self.recorder.shared.prom.render()
    }
}

/// What every handle reaches: both destinations.
struct Shared {
    prom: PrometheusHandle,
    sink: IntervalSink,
}

impl Shared {
    fn after_record(&self, rolled_over: bool) {
        // Histogram values wait in the Prometheus recorder until drained;
        // draining once an interval bounds them when nobody scrapes.
        if rolled_over {
            self.prom.run_upkeep();
        }
    }
}

/// A recorder that sends every value to Prometheus and to the interval sink.
struct AgentRecorder {
    prometheus: PrometheusRecorder,
    shared: Arc<Shared>,
    /// Handles already made, by key: a macro registers its metric on every
    /// call (the HTTP layer's per-route timers, say), and a cached handle
    /// costs a lookup instead of two registrations and their allocations.
    counters: RwLock<HashMap<Key, Counter>>,
    gauges: RwLock<HashMap<Key, Gauge>>,
    histograms: RwLock<HashMap<Key, Histogram>>,
}

/// The handle cached for `key` in `cache`, made by `make` the first time.
fn cached<H: Clone>(cache: &RwLock<HashMap<Key, H>>, key: &Key, make: impl FnOnce() -> H) -> H {
    if let Some(h) = cache.read().unwrap_or_else(|p| p.into_inner()).get(key) {
        return h.clone();
    }
    cache
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .entry(key.clone())
        .or_insert_with(make)
        .clone()
}

impl Recorder for AgentRecorder {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.prometheus.describe_counter(key, unit, description);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.prometheus.describe_gauge(key, unit, description);
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.prometheus.describe_histogram(key, unit, description);
    }

    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        cached(&self.counters, key, || {
            Counter::from_arc(Arc::new(Tee {
                prom: self.prometheus.register_counter(key, metadata),
                name: Arc::new(MetricName::of(key)),
                shared: self.shared.clone(),
            }))
        })
    }

    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        cached(&self.gauges, key, || {
            Gauge::from_arc(Arc::new(Tee {
                prom: self.prometheus.register_gauge(key, metadata),
                name: Arc::new(MetricName::of(key)),
                shared: self.shared.clone(),
            }))
        })
    }

    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        cached(&self.histograms, key, || {
            Histogram::from_arc(Arc::new(Tee {
                prom: self.prometheus.register_histogram(key, metadata),
                name: Arc::new(MetricName::of(key)),
                shared: self.shared.clone(),
            }))
        })
    }
}

/// One handle's two destinations.
struct Tee<H> {
    prom: H,
    name: Arc<MetricName>,
    shared: Arc<Shared>,
}

impl CounterFn for Tee<Counter> {
    fn increment(&self, value: u64) {
        self.prom.increment(value);
        let rolled = self
            .shared
            .sink
            .add(Kind::Counter, &self.name, value as f64, Instant::now());
        self.shared.after_record(rolled);
    }

    fn absolute(&self, value: u64) {
        self.prom.absolute(value);
    }
}

impl GaugeFn for Tee<Gauge> {
    fn increment(&self, value: f64) {
        self.prom.increment(value);
        self.shared.sink.gauge(&self.name, |v| v + value);
    }

    fn decrement(&self, value: f64) {
        self.prom.decrement(value);
        self.shared.sink.gauge(&self.name, |v| v - value);
    }

    fn set(&self, value: f64) {
        self.prom.set(value);
        self.shared.sink.gauge(&self.name, |_| value);
    }
}

impl HistogramFn for Tee<Histogram> {
    fn record(&self, value: f64) {
        self.prom.record(value);
        let rolled = self
            .shared
            .sink
            .add(Kind::Sample, &self.name, value, Instant::now());
        self.shared.after_record(rolled);
    }
}

/// A metric's name and labels, as the JSON shows them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct MetricName {
    name: String,
    labels: BTreeMap<String, String>,
}

impl MetricName {
    fn of(key: &Key) -> Self {
        MetricName {
            name: key.name().to_owned(),
            labels: key
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect(),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Counter,
    Sample,
}

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

    /// go-metrics' `AggregateSample` as JSON; `Rate` is `Sum` over `span`.
    fn json(&self, name: &MetricName, span: Duration) -> AggregateJson {
        let n = self.count as f64;
        let mean = if self.count > 0 { self.sum / n } else { 0.0 };
        let var = if self.count > 1 {
            ((self.sum_sq - n * mean * mean) / (n - 1.0)).max(0.0)
        } else {
            0.0
        };
        let secs = span.as_secs_f64();
        AggregateJson {
            name: name.name.clone(),
            count: self.count,
            rate: if secs > 0.0 { self.sum / secs } else { 0.0 },
            sum: self.sum,
            min: self.min,
            max: self.max,
            mean,
            stddev: var.sqrt(),
            labels: name.labels.clone(),
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

/// One interval's counters and samples.
#[derive(Debug, Default)]
struct Interval {
    /// Its number: it covers `[number × interval, (number + 1) × interval)`
    /// on the sink's clock (see `IntervalSink::clock`).
    number: u64,
    counters: BTreeMap<Arc<MetricName>, Aggregate>,
    samples: BTreeMap<Arc<MetricName>, Aggregate>,
}

#[derive(Debug, Default)]
struct SinkState {
    /// The intervals kept, oldest first; an interval exists once a value
    /// was recorded in it.
    intervals: VecDeque<Interval>,
    gauges: BTreeMap<Arc<MetricName>, f64>,
}

/// go-metrics' in-memory sink: values aggregated per interval.
#[derive(Debug)]
struct IntervalSink {
    interval: Duration,
    /// When the sink started, and the wall time then.
    started: Instant,
    started_wall: SystemTime,
    /// How far into its interval the sink started: intervals are aligned
    /// to the wall clock, as Consul's.
    offset: Duration,
    state: Mutex<SinkState>,
}

impl IntervalSink {
    fn new(interval: Duration, started: Instant, started_wall: SystemTime) -> Self {
        let interval = interval.max(Duration::from_millis(1));
        let since_epoch = started_wall.duration_since(UNIX_EPOCH).unwrap_or_default();
        let offset_nanos = since_epoch.as_nanos() % interval.as_nanos();
        IntervalSink {
            interval,
            started,
            started_wall,
            offset: Duration::from_nanos(offset_nanos as u64),
            state: Mutex::default(),
        }
    }

    /// The sink's clock at `now`: time since the start of the interval the
    /// sink started in.
    fn clock(&self, now: Instant) -> Duration {
        self.offset + now.saturating_duration_since(self.started)
    }

    /// The start of interval `number` on the sink's clock.
    fn at(&self, number: u64) -> Duration {
        let nanos = self.interval.as_nanos().saturating_mul(u128::from(number));
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    fn number(&self, now: Instant) -> u64 {
        (self.clock(now).as_nanos() / self.interval.as_nanos()) as u64
    }

    /// How long interval `number` really covered by `now`: not before the
    /// sink started, not after `now`.
    fn span(&self, number: u64, now: Instant) -> Duration {
        let start = self.at(number).max(self.offset);
        let end = self.at(number + 1).min(self.clock(now));
        end.saturating_sub(start)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SinkState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds `value` to `name`'s aggregate in the interval of `now`;
    /// `true` when that opened a new interval.
    fn add(&self, kind: Kind, name: &Arc<MetricName>, value: f64, now: Instant) -> bool {
        let number = self.number(now);
        let mut st = self.lock();
        let opened = st.intervals.back().is_none_or(|i| i.number < number);
        if opened {
            st.intervals.push_back(Interval {
                number,
                ..Interval::default()
            });
            while st.intervals.len() > RETAIN {
                st.intervals.pop_front();
            }
        }
        if let Some(current) = st.intervals.back_mut() {
            let table = match kind {
                Kind::Counter => &mut current.counters,
                Kind::Sample => &mut current.samples,
            };
            match table.get_mut(&**name) {
                Some(agg) => agg.add(value),
                None => {
                    let mut agg = Aggregate::default();
                    agg.add(value);
                    table.insert(name.clone(), agg);
                }
            }
        }
        opened
    }

    fn gauge(&self, name: &Arc<MetricName>, update: impl FnOnce(f64) -> f64) {
        let mut st = self.lock();
        let v = st.gauges.get(&**name).copied().unwrap_or(0.0);
        st.gauges.insert(name.clone(), update(v));
    }

    /// The JSON Consul's `/v1/agent/metrics` answers at `now`: the latest
    /// finished interval, or the current one while none has finished.
    fn display(&self, now: Instant) -> serde_json::Value {
        self.summary(self.number(now).saturating_sub(1), now)
    }

    /// Interval `shown` as Consul's JSON shows it (seen at `now`).
    fn summary(&self, shown: u64, now: Instant) -> serde_json::Value {
        let st = self.lock();
        let interval = st.intervals.iter().find(|i| i.number == shown);
        let span = self.span(shown, now);
        let aggregates = |pick: fn(&Interval) -> &BTreeMap<Arc<MetricName>, Aggregate>| {
            interval
                .into_iter()
                .flat_map(|i| pick(i).iter())
                .map(|(n, a)| a.json(n, span))
                .collect::<Vec<_>>()
        };
        let counters = aggregates(|i| &i.counters);
        let samples = aggregates(|i| &i.samples);
        let gauges: Vec<GaugeJson> = st
            .gauges
            .iter()
            .map(|(n, v)| GaugeJson {
                name: n.name.clone(),
                value: *v,
                labels: n.labels.clone(),
            })
            .collect();
        let start = self
            .started_wall
            .checked_sub(self.offset)
            .and_then(|t| t.checked_add(self.at(shown)))
            .unwrap_or(UNIX_EPOCH);
        serde_json::json!({
            "Timestamp": consul_timestamp(start),
            "Gauges": gauges,
            "Points": [],
            "Counters": counters,
            "Samples": samples,
        })
    }
}

/// `t` as Go prints a UTC time rounded to the second, as Consul's
/// `Timestamp` is: `2026-12-03 10:08:10 +0000 UTC`.
fn consul_timestamp(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} +0000 UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
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

mod stream;

#[cfg(test)]
mod tests;
