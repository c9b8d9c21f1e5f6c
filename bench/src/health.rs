//! Praetor's service registry and health API as the health benchmark uses
//! it: service registrations through an agent (`/v1/agent/service/register`)
//! and through the catalog (`/v1/catalog/register`), health queries
//! (`/v1/health/service/<name>`), blocking health watchers, and TTL check
//! flips; and the workloads built from them: closed-loop registrations and
//! queries, and a set of open watchers that a change wakes. Every request is
//! bounded; every service, node and check it registers is named `bench-…`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context as _};
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::Barrier;
use tokio::task::{JoinHandle, JoinSet};

use crate::stats::{Samples, Throughput};
use crate::target::{CONNECT_TIMEOUT, OP_TIMEOUT};

/// The TTL of every TTL check registered: long enough never to expire during
/// a run, so no expiry adds writes of its own.
pub const CHECK_TTL: &str = "10m";
/// The `wait` of every blocking query.
pub const WATCH_WAIT: &str = "5m";
/// Bound on a blocking request: its wait, the server's jitter (wait/16) and a margin.
const WATCH_TIMEOUT: Duration = Duration::from_secs(5 * 60 + 60);

/// One client of one agent's HTTP API, with its own keep-alive connection.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
}

/// One health check of a service entry, as far as the benchmark reads it.
#[derive(Debug, Deserialize)]
pub struct EntryCheck {
    #[serde(rename = "CheckID")]
    pub check_id: String,
    #[serde(rename = "Status")]
    pub status: String,
}

/// One entry of `/v1/health/service/<name>`, as far as the benchmark reads it.
#[derive(Debug, Deserialize)]
pub struct Entry {
    #[serde(rename = "Checks")]
    pub checks: Vec<EntryCheck>,
}

/// A service instance on a (fake) node, as `/v1/catalog/register` takes it,
/// with one check on the instance.
#[derive(Debug, Clone)]
pub struct Instance {
    pub node: String,
    pub address: String,
    pub service: String,
    pub service_id: String,
    pub status: &'static str,
}

impl Api {
    /// A client of the agent whose HTTP API is at `addr` (host:port); every
    /// request is bounded by [`OP_TIMEOUT`], blocking ones by their wait.
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn new(addr: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .http1_only()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(1)
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .context("building the HTTP client")?;
        Ok(Self {
            http,
            base: format!("http://{addr}"),
        })
    }

    /// `PUT /v1/agent/service/register`: instance `id` of service `name`,
    /// with a passing TTL check `<id>-ttl`.
    pub async fn register_agent_service(&self, id: &str, name: &str) -> anyhow::Result<()> {
        let body = json!({
            "ID": id, "Name": name, "Port": 8080,
            "Check": { "CheckID": format!("{id}-ttl"), "TTL": CHECK_TTL, "Status": "passing" },
        });
        let resp = self
            .http
            .put(format!("{}/v1/agent/service/register", self.base))
            .timeout(OP_TIMEOUT)
            .json(&body)
            .send()
            .await?;
        let status = resp.status();
        let text = resp.text().await?;
        ensure!(
            status.is_success(),
            "agent register {id}: {status} {text:?}"
        );
        Ok(())
    }

    /// `PUT /v1/catalog/register` of `i` and its check `service:<id>`;
    /// succeeds only on `200` with body `true`.
    pub async fn register_catalog(&self, i: &Instance) -> anyhow::Result<()> {
        let body = json!({
            "Node": i.node, "Address": i.address,
            "Service": { "ID": i.service_id, "Service": i.service, "Port": 8080 },
            "Check": {
                "CheckID": format!("service:{}", i.service_id), "Name": "bench check",
                "Status": i.status, "ServiceID": i.service_id,
            },
        });
        let resp = self
            .http
            .put(format!("{}/v1/catalog/register", self.base))
            .timeout(OP_TIMEOUT)
            .json(&body)
            .send()
            .await?;
        let status = resp.status();
        let text = resp.text().await?;
        ensure!(
            status.is_success() && text.trim() == "true",
            "catalog register {}: {status} {text:?}",
            i.service_id
        );
        Ok(())
    }

    /// `GET /v1/health/service/<name>` (with `?passing` if asked; blocking
    /// on `index` with [`WATCH_WAIT`] when it is given): the response's
    /// `X-Consul-Index` and body.
    pub async fn health_raw(
        &self,
        name: &str,
        passing: bool,
        index: Option<u64>,
    ) -> anyhow::Result<(u64, Vec<u8>)> {
        let mut url = format!("{}/v1/health/service/{name}", self.base);
        let mut sep = '?';
        if passing {
            url.push_str("?passing");
            sep = '&';
        }
        if let Some(i) = index {
            url.push_str(&format!("{sep}index={i}&wait={WATCH_WAIT}"));
        }
        let limit = if index.is_some() {
            WATCH_TIMEOUT
        } else {
            OP_TIMEOUT
        };
        let resp = self.http.get(url).timeout(limit).send().await?;
        let status = resp.status();
        let index = resp
            .headers()
            .get("X-Consul-Index")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let body = resp.bytes().await?.to_vec();
        ensure!(
            status.is_success(),
            "health {name}: {status} {:?}",
            String::from_utf8_lossy(&body)
        );
        let index = index.with_context(|| format!("health {name}: no X-Consul-Index"))?;
        Ok((index, body))
    }

    /// As [`Api::health_raw`], the entries decoded.
    pub async fn health(
        &self,
        name: &str,
        passing: bool,
        index: Option<u64>,
    ) -> anyhow::Result<(u64, Vec<Entry>)> {
        let (index, body) = self.health_raw(name, passing, index).await?;
        let entries = serde_json::from_slice(&body)
            .with_context(|| format!("decoding the health of {name}"))?;
        Ok((index, entries))
    }

    /// How many entries `GET /v1/health/service/<name>?passing` answers
    /// (the entries are counted, not decoded).
    pub async fn passing_count(&self, name: &str) -> anyhow::Result<usize> {
        let (_, body) = self.health_raw(name, true, None).await?;
        let list: Vec<serde::de::IgnoredAny> = serde_json::from_slice(&body)
            .with_context(|| format!("decoding the health of {name}"))?;
        Ok(list.len())
    }

    /// How many instances `GET /v1/catalog/service/<name>` lists.
    pub async fn catalog_count(&self, name: &str) -> anyhow::Result<u64> {
        let resp = self
            .http
            .get(format!("{}/v1/catalog/service/{name}", self.base))
            .timeout(OP_TIMEOUT)
            .send()
            .await?;
        ensure!(
            resp.status().is_success(),
            "catalog service {name}: {}",
            resp.status()
        );
        let body = resp.bytes().await?;
        let list: Vec<serde::de::IgnoredAny> =
            serde_json::from_slice(&body).context("decoding the catalog service list")?;
        Ok(list.len() as u64)
    }

    /// The node names `GET /v1/catalog/nodes` lists.
    pub async fn nodes(&self) -> anyhow::Result<Vec<String>> {
        #[derive(Deserialize)]
        struct Node {
            #[serde(rename = "Node")]
            node: String,
        }
        let resp = self
            .http
            .get(format!("{}/v1/catalog/nodes", self.base))
            .timeout(OP_TIMEOUT)
            .send()
            .await?;
        ensure!(
            resp.status().is_success(),
            "catalog nodes: {}",
            resp.status()
        );
        let nodes: Vec<Node> = resp.json().await.context("decoding the node list")?;
        Ok(nodes.into_iter().map(|n| n.node).collect())
    }

    /// `PUT /v1/agent/check/<verb>/<id>` (`pass`, `warn`, `fail`).
    pub async fn mark_check(&self, verb: &str, id: &str) -> anyhow::Result<()> {
        let resp = self
            .http
            .put(format!("{}/v1/agent/check/{verb}/{id}", self.base))
            .timeout(OP_TIMEOUT)
            .send()
            .await?;
        let status = resp.status();
        let text = resp.text().await?;
        ensure!(status.is_success(), "check {verb} {id}: {status} {text:?}");
        Ok(())
    }
}

/// The status of check `check_id` in `entries`, if it is there.
pub fn check_status<'a>(entries: &'a [Entry], check_id: &str) -> Option<&'a str> {
    entries
        .iter()
        .flat_map(|e| &e.checks)
        .find(|c| c.check_id == check_id)
        .map(|c| c.status.as_str())
}

/// The name of the `i`th service of the health catalog.
pub fn service_name(i: usize) -> String {
    format!("bench-svc-{i:04}")
}

/// Instance `j` (0-based) of service `i` of the health catalog: on fake
/// node `bench-node-<j+1>`, with the given check status.
pub fn instance(i: usize, j: usize, status: &'static str) -> Instance {
    Instance {
        node: format!("bench-node-{}", j + 1),
        address: format!("10.0.0.{}", j + 1),
        service: service_name(i),
        service_id: format!("{}-{}", service_name(i), j + 1),
        status,
    }
}

/// What each closed-loop client does, over and over.
#[derive(Debug, Clone)]
pub enum Op {
    /// Registers instance `<service>-<client>-<seq>` of `service` through the
    /// agent, with a TTL check.
    AgentRegister { service: String },
    /// Registers instance `<service>-<client>-<seq>` of `service` on node
    /// `<service>-n<client>` through the catalog, with a passing check.
    CatalogRegister { service: String },
    /// Asks `?passing` health of a random one of the first `services`
    /// services of the health catalog; each must answer `expect` entries.
    Health { services: usize, expect: usize },
}

async fn run_op(
    api: &Api,
    op: &Op,
    worker: usize,
    seq: u64,
    rng: &mut StdRng,
) -> anyhow::Result<()> {
    match op {
        Op::AgentRegister { service } => {
            api.register_agent_service(&format!("{service}-{worker}-{seq}"), service)
                .await
        }
        Op::CatalogRegister { service } => {
            api.register_catalog(&Instance {
                node: format!("{service}-n{worker}"),
                address: format!("10.1.{}.{}", worker / 250, worker % 250 + 1),
                service: service.clone(),
                service_id: format!("{service}-{worker}-{seq}"),
                status: "passing",
            })
            .await
        }
        Op::Health { services, expect } => {
            let name = service_name(rng.gen_range(0..*services));
            let n = api.passing_count(&name).await?;
            ensure!(
                n == *expect,
                "{name}: {n} passing entries, expected {expect}"
            );
            Ok(())
        }
    }
}

/// `clients` clients of the agent at `addr`, each on its own connection,
/// each doing `op` one request at a time for `duration` after one warm-up
/// request; ops/s and latency over the timed window, and how many requests
/// succeeded in each second of it. Failed requests are counted, not timed.
///
/// # Errors
/// When a client's warm-up request fails.
pub async fn closed_loop(
    addr: &str,
    clients: usize,
    duration: Duration,
    op: Op,
) -> anyhow::Result<(Throughput, Vec<u64>)> {
    let seconds = usize::try_from(duration.as_secs().max(1))?;
    let barrier = Arc::new(Barrier::new(clients + 1));
    let mut tasks = JoinSet::new();
    for w in 0..clients {
        let api = Api::new(addr)?;
        run_op(&api, &op, w, u64::MAX, &mut StdRng::seed_from_u64(0))
            .await
            .with_context(|| format!("client {w}: warm-up request"))?;
        let (op, barrier) = (op.clone(), barrier.clone());
        tasks.spawn(async move {
            let mut rng = StdRng::seed_from_u64(w as u64);
            let mut samples = Samples::default();
            let mut errors = 0u64;
            let mut first_error = None;
            let mut per_second = vec![0u64; seconds];
            barrier.wait().await;
            let start = Instant::now();
            let end = start + duration;
            let mut seq = 0u64;
            while Instant::now() < end {
                let t0 = Instant::now();
                match run_op(&api, &op, w, seq, &mut rng).await {
                    Ok(()) => {
                        samples.push(t0.elapsed());
                        let s = usize::try_from(start.elapsed().as_secs()).unwrap_or(usize::MAX);
                        per_second[s.min(seconds - 1)] += 1;
                    }
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert_with(|| format!("{e:#}"));
                    }
                }
                seq += 1;
            }
            (samples, errors, first_error, per_second)
        });
    }
    barrier.wait().await;
    let start = Instant::now();
    let mut all = Samples::default();
    let mut errors = 0;
    let mut per_second = vec![0u64; seconds];
    while let Some(r) = tasks.join_next().await {
        let (s, e, first, p) = r.context("a client task panicked")?;
        all.extend(s);
        errors += e;
        for (sum, n) in per_second.iter_mut().zip(p) {
            *sum += n;
        }
        if let Some(first) = first {
            eprintln!("   a client's first failed request: {first}");
        }
    }
    Ok((
        Throughput::new(clients, all, errors, start.elapsed()),
        per_second,
    ))
}

/// Registers every instance through the catalog at `addr` with `clients`
/// concurrent clients; returns the seconds taken.
///
/// # Errors
/// On the first failed registration.
pub async fn register_all(
    addr: &str,
    clients: usize,
    instances: Vec<Instance>,
) -> anyhow::Result<f64> {
    let t0 = Instant::now();
    let instances = Arc::new(instances);
    let mut tasks = JoinSet::new();
    for w in 0..clients {
        let (api, instances) = (Api::new(addr)?, instances.clone());
        tasks.spawn(async move {
            for i in instances.iter().skip(w).step_by(clients) {
                api.register_catalog(i).await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.context("a registering task panicked")??;
    }
    Ok(t0.elapsed().as_secs_f64())
}

/// How a set of watchers answered the changes meant to wake them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Wake {
    pub watchers: usize,
    /// Returned with a higher index after their change started.
    pub woke: usize,
    /// Returned before their change started (a spurious wake-up).
    pub early: usize,
    /// Failed, or had not returned by the deadline.
    pub missing: usize,
    pub write_errors: u64,
    /// From a change's start to its watcher returning.
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// Blocking `?passing` health watchers, one per service, each on its own
/// connection, blocked at the index the service had when it was opened.
pub struct Watchers {
    services: Vec<String>,
    tasks: Vec<JoinHandle<anyhow::Result<(u64, Instant)>>>,
    /// The indexes they block on, in service order.
    indexes: Vec<u64>,
}

/// Bound on every watcher returning once its change is written.
const WAKE_DEADLINE: Duration = Duration::from_secs(60);

impl Watchers {
    /// The index each service's `?passing` health has now at `addr`.
    ///
    /// # Errors
    /// When one cannot be read.
    pub async fn read_indexes(addr: &str, services: &[String]) -> anyhow::Result<Vec<u64>> {
        let reader = Api::new(addr)?;
        let mut indexes = Vec::with_capacity(services.len());
        for s in services {
            indexes.push(reader.health_raw(s, true, None).await?.0);
        }
        Ok(indexes)
    }

    /// Opens one blocking `?passing` query per service at `addr`, each on
    /// its own connection, blocked at the service's index in `indexes`.
    /// Returns once every request is started, not necessarily received: the
    /// caller waits for the agent's sockets.
    ///
    /// # Errors
    /// When an HTTP client cannot be built.
    pub fn open(addr: &str, services: Vec<String>, indexes: Vec<u64>) -> anyhow::Result<Self> {
        let mut tasks = Vec::with_capacity(services.len());
        for (s, &index) in services.iter().zip(&indexes) {
            let (api, s) = (Api::new(addr)?, s.clone());
            tasks.push(tokio::spawn(async move {
                let (i, _) = api.health_raw(&s, true, Some(index)).await?;
                anyhow::Ok((i, Instant::now()))
            }));
        }
        Ok(Self {
            services,
            tasks,
            indexes,
        })
    }

    /// How many have returned so far (before any change, none should).
    pub fn returned(&self) -> usize {
        self.tasks.iter().filter(|t| t.is_finished()).count()
    }

    /// Writes `change(i)` for every watched service `i` (in order, through
    /// the catalog at `write_addr`, `writers` at a time) and waits, up to
    /// [`WAKE_DEADLINE`] after the last write, for every watcher to return;
    /// stragglers are aborted and counted missing.
    ///
    /// # Errors
    /// When a writer task panics.
    pub async fn wake(
        self,
        write_addr: &str,
        writers: usize,
        change: impl Fn(usize) -> Instance,
    ) -> anyhow::Result<Wake> {
        let n = self.services.len();
        let base = Instant::now();
        // Each change's start, in nanoseconds after `base`, plus one; 0 = not started.
        let started: Arc<Vec<AtomicU64>> = Arc::new((0..n).map(|_| AtomicU64::new(0)).collect());
        let changes = Arc::new((0..n).map(&change).collect::<Vec<_>>());
        let mut writes = JoinSet::new();
        for w in 0..writers.max(1) {
            let (api, started, changes) = (Api::new(write_addr)?, started.clone(), changes.clone());
            let writers = writers.max(1);
            writes.spawn(async move {
                let mut errors = 0u64;
                for i in (w..changes.len()).step_by(writers) {
                    let at = u64::try_from(base.elapsed().as_nanos()).unwrap_or(u64::MAX - 1);
                    started[i].store(at + 1, Ordering::SeqCst);
                    if api.register_catalog(&changes[i]).await.is_err() {
                        errors += 1;
                    }
                }
                errors
            });
        }
        let mut write_errors = 0;
        while let Some(r) = writes.join_next().await {
            write_errors += r.context("a writer task panicked")?;
        }
        let deadline = tokio::time::Instant::now() + WAKE_DEADLINE;
        let mut samples = Samples::default();
        let (mut woke, mut early, mut missing) = (0, 0, 0);
        for (i, mut task) in self.tasks.into_iter().enumerate() {
            match tokio::time::timeout_at(deadline, &mut task).await {
                Ok(Ok(Ok((index, at)))) => {
                    let t = started[i].load(Ordering::SeqCst);
                    let at = at.saturating_duration_since(base);
                    if t == 0 || at < Duration::from_nanos(t - 1) || index <= self.indexes[i] {
                        early += 1;
                    } else {
                        woke += 1;
                        samples.push(at - Duration::from_nanos(t - 1));
                    }
                }
                Ok(_) => missing += 1,
                Err(_) => {
                    task.abort();
                    missing += 1;
                }
            }
        }
        Ok(Wake {
            watchers: n,
            woke,
            early,
            missing,
            write_errors,
            p50_ms: samples.percentile_ms(50.0),
            p99_ms: samples.percentile_ms(99.0),
            max_ms: samples.percentile_ms(100.0),
        })
    }

    /// Aborts every watcher still open (when a measurement fails half-way).
    pub fn abort(&self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}
