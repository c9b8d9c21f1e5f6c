//! The `scale` subcommand: praetor at Consul's published scale, scaled to
//! this machine (issue 17). Starts, on free loopback addresses in
//! 127.0.14.0/24 with default ports (away from testkit's 127.0.0.x and the
//! other phases' 127.0.10–13.x):
//!
//! 1. three praetor servers and five client agents; loads the catalog
//!    (`--nodes` × `--instances-per-node` instances over `--service-names`
//!    names) through the servers' `/v1/txn` (catalog operations, at most 64
//!    a transaction) or `/v1/catalog/register`; measures load time, RSS per
//!    server, `/v1/snapshot` size and time, and one server's restart to
//!    serving; then open blocking health queries spread over the client
//!    agents, one check flipped at a time, with each watcher count of
//!    `--scale-watchers`; then one client agent registering
//!    `--agent-services` services with TTL checks. Stops them.
//! 2. three fresh praetor servers and three etcd members; loads `--kv-keys`
//!    keys of 256 bytes on each (streamed, in transactions of 64 puts), then
//!    RSS, data size, puts and gets at `--kv-clients` clients, a recursive read
//!    of a 10 000-key prefix, watch notification with `--kv-watchers`
//!    streams, snapshot and restart. Stops them.
//!
//! Always writes its JSON results, whatever failed recorded as such; stops
//! every process it started (by PID, SIGTERM then SIGKILL), also on SIGINT or
//! SIGTERM. Writes only keys under `bench/` and services and nodes named
//! `scale-…`. Never holds more than one transaction's values per client.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _};
use base64::Engine as _;
use clap::Args;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::cluster::{self, Cluster};
use crate::health::Api;
use crate::health_bench::start_ready;
use crate::machine::{
    cpu_secs, dir_bytes, load_average, peak_rss_kib, reset_peak_rss, sockets, Machine, Rss,
};
use crate::phase::PhaseArgs;
use crate::report::scale::{
    AgentReg, CatalogLoad, KvSide, Restart, ScaleReport, Snapshot, WatchRun,
};
use crate::report::{Config, Pair};
use crate::runner::{outcome, Runner};
use crate::stats::{Samples, Throughput};
use crate::target::{Read, Side, Target, CONNECT_TIMEOUT, OP_TIMEOUT};
use crate::workload::{self, Op};

/// The loopback /24 the scale phase's agents and members use.
const SCALE_SUBNET: [u8; 3] = [127, 0, 14];
/// Bound on a cluster forming.
const READY_DEADLINE: Duration = Duration::from_secs(120);
/// Bound on a restarted member serving again.
const RESTART_DEADLINE: Duration = Duration::from_secs(300);
/// Bound on every watcher of a flipped service seeing the flip.
const FLIP_DEADLINE: Duration = Duration::from_secs(30);
/// Bound on the watchers' requests reaching the agents.
const OPEN_DEADLINE: Duration = Duration::from_secs(120);
/// The `wait` of every blocking query: longer than any measurement, so none
/// returns on its own while one runs.
const WATCH_WAIT: &str = "10m";
/// Bound on one blocking request.
const WATCH_TIMEOUT: Duration = Duration::from_secs(12 * 60);
/// Operations per transaction: Consul's limit (current praetor allows 128,
/// earlier builds 64; etcd's default is 128), the same on both sides.
const TXN_OPS: usize = 64;
/// Bound on one transaction.
const TXN_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound on reading a snapshot or a large prefix.
const BIG_READ_TIMEOUT: Duration = Duration::from_secs(300);
/// Recursive reads of the 10 000-key prefix per side.
const PREFIX_READS: usize = 5;
/// Pause between two flips, so that each is measured on a settled cluster.
const FLIP_GAP: Duration = Duration::from_millis(300);
/// How long the servers' CPU rate is measured with the watchers open and
/// nothing changing (the "net of idle" column subtracts it).
pub const IDLE_WINDOW: Duration = Duration::from_secs(10);
/// Writes of the KV watch row and the gap between their starts.
const KV_WATCH_PUTS: u64 = 50;
const KV_WATCH_SPACING: Duration = Duration::from_millis(100);

#[derive(Args)]
pub struct ScaleArgs {
    #[command(flatten)]
    phase: PhaseArgs,
    /// The etcd binary to run.
    #[arg(long)]
    etcd_bin: PathBuf,
    #[arg(long)]
    etcd_version: String,
    #[command(flatten)]
    config: Config,
    /// Catalog nodes loaded (scale phase).
    #[arg(long, default_value_t = 10_000)]
    nodes: usize,
    /// Service instances on each node (scale phase).
    #[arg(long, default_value_t = 10)]
    instances_per_node: usize,
    /// Service names the instances are spread over (scale phase).
    #[arg(long, default_value_t = 1000)]
    service_names: usize,
    /// How the catalog is loaded: `register` (`/v1/catalog/register`, one
    /// instance a request: the catalog API, as issue 17 asks) or `txn`
    /// (`/v1/txn`, whole nodes of catalog operations, at most 64 a
    /// transaction).
    #[arg(long, default_value = "register")]
    catalog_load: String,
    /// Concurrent clients loading the catalog and the keys (scale phase).
    #[arg(long, default_value_t = 16)]
    load_concurrency: usize,
    /// Open blocking health queries, one measurement per count (scale phase).
    #[arg(long, value_delimiter = ',', default_values_t = [5000, 500])]
    scale_watchers: Vec<usize>,
    /// Service names the blocking queries are spread over (scale phase).
    #[arg(long, default_value_t = 100)]
    watch_names: usize,
    /// Of those, the names whose checks are flipped; each has the same number
    /// of watchers in every measurement (the largest count ÷ --watch-names),
    /// so only the watchers of other services change between measurements.
    #[arg(long, default_value_t = 5)]
    hot_names: usize,
    /// Check flips per watcher measurement (scale phase).
    #[arg(long, default_value_t = 20)]
    scale_flips: usize,
    /// Seconds after which a watcher measurement makes no more flips (it
    /// reports those made), so an overloaded cluster cannot stretch the run.
    #[arg(long, default_value_t = 120)]
    watch_budget_secs: u64,
    /// Services registered through one client agent (scale phase).
    #[arg(long, default_value_t = 5000)]
    agent_services: usize,
    /// Concurrent clients registering them.
    #[arg(long, default_value_t = 16)]
    agent_clients: usize,
    /// KV keys of 256 bytes loaded on each side (scale phase).
    #[arg(long, default_value_t = 1_000_000)]
    kv_keys: u64,
    /// Clients of the KV put and get rows (scale phase).
    #[arg(long, default_value_t = 16)]
    kv_clients: usize,
    /// Watch streams of the KV watch row (scale phase).
    #[arg(long, default_value_t = 1000)]
    kv_watchers: usize,
    /// Seconds after which a side's KV load gives up.
    #[arg(long, default_value_t = 900)]
    kv_load_deadline_secs: u64,
}

/// Counts one load request started at `t`: its time when it succeeded,
/// else a failure (the first one of a task printed, with `what`).
fn tally(r: anyhow::Result<()>, t: Instant, what: &str, samples: &mut Samples, errors: &mut u64) {
    match r {
        Ok(()) => samples.push(t.elapsed()),
        Err(e) => {
            if *errors == 0 {
                eprintln!("   {what}: {e:#}");
            }
            *errors += 1;
        }
    }
}

/// Joins load tasks that each return what they measured and how many of
/// their requests failed, merging the measurements with `merge`.
async fn join_tallies<C: Default + 'static>(
    mut tasks: JoinSet<(C, u64)>,
    what: &str,
    mut merge: impl FnMut(&mut C, C),
) -> anyhow::Result<(C, u64)> {
    let (mut all, mut errors) = (C::default(), 0);
    while let Some(r) = tasks.join_next().await {
        let (c, e) = r.with_context(|| format!("{what} panicked"))?;
        merge(&mut all, c);
        errors += e;
    }
    Ok((all, errors))
}

/// Runs the scale phase and writes its results.
///
/// # Errors
/// When the results cannot be written, or the phase was interrupted.
pub async fn run(args: ScaleArgs) -> anyhow::Result<()> {
    let report = ScaleReport::new(
        args.phase.command.clone(),
        args.phase.date.clone(),
        args.phase.praetor_version.clone(),
        args.etcd_version.clone(),
    );
    crate::phase::run(
        &args,
        report,
        &args.phase.json,
        args.phase.out.as_deref(),
        |a, r| Box::pin(measure(a, r)),
    )
    .await
}

async fn measure(args: &ScaleArgs, report: &mut ScaleReport) -> anyhow::Result<()> {
    ensure!(
        args.catalog_load == "txn" || args.catalog_load == "register",
        "--catalog-load is txn or register"
    );
    ensure!(
        args.nodes >= 1 && args.instances_per_node >= 1 && args.service_names >= 1,
        "--nodes, --instances-per-node and --service-names must be at least 1"
    );
    ensure!(
        args.watch_names >= 1
            && args.hot_names >= 1
            && args.hot_names <= args.watch_names
            && args.watch_names <= args.service_names,
        "need 1 ≤ --hot-names ≤ --watch-names ≤ --service-names"
    );
    for dir in [&args.phase.work, &args.phase.logs] {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    report.nodes = args.nodes;
    report.instances_per_node = args.instances_per_node;
    report.service_names = args.service_names;
    report.catalog_via = args.catalog_load.clone();
    report.watch_names = args.watch_names;
    report.hot_names = args.hot_names;
    report.flips = args.scale_flips;
    report.watch_budget_secs = args.watch_budget_secs;
    report.agent_services = args.agent_services;
    report.agent_clients = args.agent_clients;
    report.kv_keys = args.kv_keys;
    report.kv_clients = args.kv_clients;
    report.kv_watchers = args.kv_watchers;
    report.load_concurrency = args.load_concurrency;
    report.duration_secs = args.config.duration_secs;
    report.machine = Some(Machine::read(&args.phase.work));
    report.load_before = load_average();
    let ips = cluster::free_ips_in(SCALE_SUBNET, 14)?;
    let started = Instant::now();

    let catalog = catalog_part(args, report, &ips[..8]).await;
    if let Err(e) = &catalog {
        report
            .notes
            .push(format!("the catalog part stopped early: {e:#}"));
    }
    report.catalog_load_after = load_average();
    let kv = kv_part(args, report, &ips[8..14]).await;
    if let Err(e) = &kv {
        report
            .notes
            .push(format!("the KV part stopped early: {e:#}"));
    }
    report.load_after = load_average();
    report.secs = started.elapsed().as_secs_f64();
    catalog.and(kv)
}

// --- the catalog part -------------------------------------------------------------

/// The name of service `s`.
fn svc_name(s: usize) -> String {
    format!("scale-svc-{s:04}")
}

/// Node `n`'s name and address.
fn node(n: usize) -> (String, String) {
    (
        format!("scale-node-{n:05}"),
        format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255),
    )
}

/// The catalog's shape: instances per node, service names.
#[derive(Clone, Copy)]
struct Shape {
    ipn: usize,
    names: usize,
}

impl ScaleArgs {
    fn shape(&self) -> Shape {
        Shape {
            ipn: self.instances_per_node,
            names: self.service_names,
        }
    }
}

/// Instance `j` of node `n`: its service name and ID.
fn instance(sh: Shape, n: usize, j: usize) -> (String, String) {
    let s = (n * sh.ipn + j) % sh.names;
    (svc_name(s), format!("{}-n{n:05}-{j}", svc_name(s)))
}

/// The instance of service `s` whose check is flipped: its node and
/// instance index.
fn flipped(sh: Shape, s: usize) -> (usize, usize) {
    (s / sh.ipn, s % sh.ipn)
}

/// `/v1/catalog/register`'s body for instance `j` of node `n`, its check
/// `service:<id>` at `status`.
fn register_body(sh: Shape, n: usize, j: usize, status: &str) -> Value {
    let (name, addr) = node(n);
    let (svc, id) = instance(sh, n, j);
    json!({
        "Node": name, "Address": addr,
        "Service": { "ID": id, "Service": svc, "Port": 8080 },
        "Check": {
            "CheckID": format!("service:{id}"), "Name": "scale check",
            "Status": status, "ServiceID": id,
        },
    })
}

/// `/v1/txn` operations registering node `n` with all its instances and checks.
fn node_ops(sh: Shape, n: usize, ops: &mut Vec<Value>) {
    let (name, addr) = node(n);
    ops.push(json!({"Node": {"Verb": "set", "Node": {"Node": name, "Address": addr}}}));
    for j in 0..sh.ipn {
        let (svc, id) = instance(sh, n, j);
        ops.push(json!({"Service": {"Verb": "set", "Node": name,
            "Service": {"ID": id, "Service": svc, "Port": 8080}}}));
        ops.push(json!({"Check": {"Verb": "set", "Check": {"Node": name,
            "CheckID": format!("service:{id}"), "Name": "scale check",
            "Status": "passing", "ServiceID": id}}}));
    }
}

fn http(timeout: Option<Duration>) -> anyhow::Result<reqwest::Client> {
    let mut b = reqwest::Client::builder()
        .no_proxy()
        .http1_only()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(1)
        .connect_timeout(CONNECT_TIMEOUT);
    if let Some(t) = timeout {
        b = b.timeout(t);
    }
    b.build().context("building the HTTP client")
}

/// `PUT body` to `url`; succeeds on a 2xx answer.
async fn put_json(http: &reqwest::Client, url: &str, body: &Value) -> anyhow::Result<()> {
    let resp = http.put(url).json(body).send().await?;
    let status = resp.status();
    let text = resp.text().await?;
    ensure!(status.is_success(), "PUT {url}: {status} {:.200}", text);
    Ok(())
}

async fn catalog_part(
    args: &ScaleArgs,
    report: &mut ScaleReport,
    ips: &[Ipv4Addr],
) -> anyhow::Result<()> {
    let work = args.phase.work.join("catalog");
    let logs = args.phase.logs.join("catalog");
    std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
    let mut c = Cluster::praetor_agents(
        &args.phase.praetor_bin,
        &ips[..3],
        &ips[3..8],
        &work,
        &logs,
        &args.phase.pidfile,
    );
    let show = |s: String| s.replace(&args.phase.work.display().to_string(), "$TMP");
    report.catalog_cmds = (0..c.members.len())
        .map(|i| show(c.command_line(i)))
        .collect();
    eprintln!("== scale: three servers and five client agents");
    let r = catalog_measure(args, report, &mut c).await;
    for m in c.exited() {
        report
            .notes
            .push(format!("catalog {m} had exited on its own"));
    }
    for m in c.stop_all().await {
        report
            .notes
            .push(format!("catalog {m} did not stop within 15 s of SIGTERM"));
    }
    r
}

async fn catalog_measure(
    args: &ScaleArgs,
    report: &mut ScaleReport,
    c: &mut Cluster,
) -> anyhow::Result<()> {
    start_ready(c)
        .await
        .context("forming the catalog cluster")?;
    let servers: Vec<String> = c.members[..3]
        .iter()
        .map(|m| m.client_addr(Side::Praetor))
        .collect();
    let agents: Vec<String> = c.members[3..]
        .iter()
        .map(|m| m.client_addr(Side::Praetor))
        .collect();
    let server_pids = || {
        c.members[..3]
            .iter()
            .filter_map(|m| m.pid())
            .collect::<Vec<_>>()
    };
    report.catalog_rss_idle = rss_all(&server_pids());

    eprintln!(
        "== scale: loading {} nodes × {} instances ({})",
        args.nodes, args.instances_per_node, args.catalog_load
    );
    let load = outcome(load_catalog(args, &servers).await);
    eprintln!("   {load:?}");
    report.catalog_load = load;
    ensure!(report.catalog_load.is_ok(), "the catalog did not load");
    // Written after the catalog: a server that reads it locally has applied the whole catalog.
    put_json(
        &http(Some(OP_TIMEOUT))?,
        &format!("http://{}/v1/kv/bench/scale/marker", servers[0]),
        &json!("loaded"),
    )
    .await
    .context("writing the marker key")?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    report.catalog_rss = rss_all(&server_pids());
    report.catalog_disk = c.members[..3]
        .iter()
        .map(|m| {
            dir_bytes(
                &args
                    .phase
                    .work
                    .join("catalog")
                    .join(format!("praetor-{}", m.name)),
            )
        })
        .collect();

    eprintln!("== scale: snapshot of the catalog");
    report.catalog_snapshot = outcome(snapshot(&servers[0], None, &server_pids()).await);
    eprintln!("   {:?}", report.catalog_snapshot);

    eprintln!("== scale: restarting a catalog server");
    report.catalog_restart = outcome(restart(c, 0, "bench/scale/marker").await);
    eprintln!("   {:?}", report.catalog_restart);
    // Every server back in the cluster before the watchers open.
    wait_peers(&servers).await?;

    let hot_per = args
        .scale_watchers
        .iter()
        .max()
        .copied()
        .unwrap_or(0)
        .div_ceil(args.watch_names)
        .max(1);
    // Smallest count first: servers that keep working on the larger run's
    // abandoned queries would otherwise weigh on the smaller run.
    let mut counts = args.scale_watchers.clone();
    counts.sort_unstable();
    for w in counts {
        eprintln!(
            "== scale: {w} blocking health queries, {} flips",
            args.scale_flips
        );
        let pids: Vec<u32> = c.members.iter().filter_map(|m| m.pid()).collect();
        let mut r = outcome(watch_run(args, &servers, &agents, &pids, w, hot_per).await);
        let quiet = quiet_after(&pids[..3]).await;
        if let Ok(run) = &mut r {
            run.quiet_secs = quiet;
        }
        eprintln!("   {r:?}");
        report.watch.push(r);
        let exited = c.exited();
        ensure!(exited.is_empty(), "{} exited", exited.join(", "));
    }

    eprintln!(
        "== scale: {} services with TTL checks through one client agent",
        args.agent_services
    );
    let r = outcome(agent_registrations(args, &agents[0]).await);
    eprintln!("   {r:?}");
    report.agent_reg = r;
    Ok(())
}

fn rss_all(pids: &[u32]) -> Vec<crate::report::Outcome<Rss>> {
    pids.iter().map(|&p| outcome(Rss::of(p))).collect()
}

/// Bound on waiting for the servers to go quiet after a watcher measurement.
const QUIET_DEADLINE: Duration = Duration::from_secs(90);

/// Waits until the processes `pids` together use under a tenth of a core
/// over one second (or [`QUIET_DEADLINE`] passes); returns the seconds
/// waited, `None` when they never went quiet.
async fn quiet_after(pids: &[u32]) -> Option<f64> {
    let t0 = Instant::now();
    while t0.elapsed() < QUIET_DEADLINE {
        let cpu0: f64 = pids.iter().map(|&p| cpu_secs(p)).sum();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let used: f64 = pids.iter().map(|&p| cpu_secs(p)).sum::<f64>() - cpu0;
        if used < 0.1 {
            return Some(t0.elapsed().as_secs_f64());
        }
    }
    None
}

/// Waits until every server lists three Raft peers and knows a leader.
async fn wait_peers(servers: &[String]) -> anyhow::Result<()> {
    let end = Instant::now() + READY_DEADLINE;
    loop {
        let mut ok = true;
        for s in servers {
            let peers = crate::praetor::status_peers(s).await.unwrap_or_default();
            let leader = crate::praetor::status_leader(s).await.unwrap_or_default();
            ok &= peers.len() == servers.len() && !leader.is_empty();
        }
        if ok {
            return Ok(());
        }
        ensure!(
            Instant::now() < end,
            "the servers did not agree again within {READY_DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn load_catalog(args: &ScaleArgs, servers: &[String]) -> anyhow::Result<CatalogLoad> {
    let t0 = Instant::now();
    let txn = args.catalog_load == "txn";
    let per_node = 1 + 2 * args.instances_per_node;
    ensure!(
        !txn || per_node <= TXN_OPS,
        "a node of {} instances needs {per_node} operations, over {TXN_OPS}; use --catalog-load register",
        args.instances_per_node
    );
    let nodes_per_req = if txn { TXN_OPS / per_node } else { 1 };
    // Work items: txn: batches of nodes; register: single instances.
    let items = if txn {
        args.nodes.div_ceil(nodes_per_req)
    } else {
        args.nodes * args.instances_per_node
    };
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = JoinSet::new();
    for w in 0..args.load_concurrency.max(1) {
        let client = http(Some(TXN_TIMEOUT))?;
        let base = format!("http://{}", servers[w % servers.len()]);
        let next = next.clone();
        let (nodes, sh) = (args.nodes, args.shape());
        tasks.spawn(async move {
            let mut samples = Samples::default();
            let mut errors = 0u64;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                if i >= items {
                    break;
                }
                let t = Instant::now();
                let r = if txn {
                    let mut ops = Vec::with_capacity(TXN_OPS);
                    for n in (i * nodes_per_req)..((i + 1) * nodes_per_req).min(nodes) {
                        node_ops(sh, n, &mut ops);
                    }
                    put_json(&client, &format!("{base}/v1/txn"), &Value::Array(ops)).await
                } else {
                    let body = register_body(sh, i / sh.ipn, i % sh.ipn, "passing");
                    put_json(&client, &format!("{base}/v1/catalog/register"), &body).await
                };
                tally(r, t, "catalog load", &mut samples, &mut errors);
            }
            (samples, errors)
        });
    }
    let (mut samples, errors) = join_tallies(tasks, "a load task", Samples::extend).await?;
    let secs = t0.elapsed().as_secs_f64();
    ensure!(errors == 0, "{errors} of {items} load requests failed");
    // Check the result through a server: the node count and one service's instances.
    let api = Api::new(&servers[1])?;
    let listed = api.nodes().await?;
    let loaded = listed
        .iter()
        .filter(|n| n.starts_with("scale-node-"))
        .count();
    ensure!(
        loaded == args.nodes,
        "{loaded} of {} nodes listed after the load",
        args.nodes
    );
    let instances = api.catalog_count(&svc_name(0)).await?;
    let expect = (0..args.nodes * args.instances_per_node)
        .filter(|k| k % args.service_names == 0)
        .count() as u64;
    ensure!(
        instances == expect,
        "{} lists {instances} instances, expected {expect}",
        svc_name(0)
    );
    Ok(CatalogLoad {
        requests: items as u64,
        secs,
        instances_per_sec: (args.nodes * args.instances_per_node) as f64 / secs,
        p50_ms: samples.percentile_ms(50.0),
        p99_ms: samples.percentile_ms(99.0),
    })
}

/// `GET /v1/snapshot` through `addr`: its size and time, read to the end
/// and counted. With `restore_via`, the file is kept there and then
/// restored through `addr` (`PUT /v1/snapshot`, streamed from the disk),
/// timed until the agent answers, and deleted.
///
/// `pids` are the members' processes, the one at `addr` first: its RSS
/// before and its peak while the snapshot is read, and the highest peak of
/// any member while the restore runs, are reported (none where /proc does
/// not tell).
async fn snapshot(
    addr: &str,
    restore_via: Option<&std::path::Path>,
    pids: &[u32],
) -> anyhow::Result<Snapshot> {
    use std::io::Write as _;
    let serving = pids.first().copied();
    let rss_before_kib = serving.and_then(|p| Rss::of(p).ok()).map(|r| r.total_kib);
    let peaks_from_now = |pids: &[u32]| pids.iter().all(|&p| reset_peak_rss(p).is_ok());
    let peak = |pids: &[u32]| {
        pids.iter()
            .map(|&p| peak_rss_kib(p).ok())
            .collect::<Option<Vec<u64>>>()
            .and_then(|v| v.into_iter().max())
    };
    let counting = serving.is_some_and(|p| peaks_from_now(&[p]));
    let t0 = Instant::now();
    let mut resp = http(Some(BIG_READ_TIMEOUT))?
        .get(format!("http://{addr}/v1/snapshot"))
        .send()
        .await?;
    ensure!(resp.status().is_success(), "snapshot: {}", resp.status());
    let mut file = match restore_via {
        Some(path) => Some(std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => None,
    };
    let mut bytes = 0u64;
    while let Some(chunk) = resp.chunk().await? {
        bytes += chunk.len() as u64;
        if let Some(f) = &mut file {
            f.write_all(&chunk)?;
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    let peak_rss_kib = serving.filter(|_| counting).and_then(|p| peak(&[p]));
    let mut restore_peak_rss_kib = None;
    let restore_secs = match (file, restore_via) {
        (Some(f), Some(path)) => {
            f.into_inner().map_err(|e| e.into_error())?.sync_all()?;
            let counting = peaks_from_now(pids);
            let t1 = Instant::now();
            let body = tokio::fs::File::open(path).await?;
            let resp = http(Some(BIG_READ_TIMEOUT))?
                .put(format!("http://{addr}/v1/snapshot"))
                .body(reqwest::Body::from(body))
                .send()
                .await?;
            let status = resp.status();
            let text = resp.text().await.unwrap_or_default();
            let took = t1.elapsed().as_secs_f64();
            restore_peak_rss_kib = peak(pids).filter(|_| counting);
            let _ = std::fs::remove_file(path);
            ensure!(status.is_success(), "restore: {status} {text}");
            Some(took)
        }
        _ => None,
    };
    Ok(Snapshot {
        bytes,
        secs,
        restore_secs,
        rss_before_kib,
        peak_rss_kib,
        restore_peak_rss_kib,
    })
}

/// etcd's maintenance Snapshot through the member at `addr`: its size and
/// time, read to the end and dropped.
/// `pid` is that member's process: its RSS before and its peak during.
async fn etcd_snapshot(addr: &str, pid: Option<u32>) -> anyhow::Result<Snapshot> {
    let rss_before_kib = pid.and_then(|p| Rss::of(p).ok()).map(|r| r.total_kib);
    let counting = pid.is_some_and(|p| reset_peak_rss(p).is_ok());
    let t0 = Instant::now();
    let bytes = crate::etcd::snapshot_bytes(addr, BIG_READ_TIMEOUT).await?;
    Ok(Snapshot {
        bytes,
        secs: t0.elapsed().as_secs_f64(),
        restore_secs: None,
        rss_before_kib,
        peak_rss_kib: pid.filter(|_| counting).and_then(|p| peak_rss_kib(p).ok()),
        restore_peak_rss_kib: None,
    })
}

/// Kills member `i` with SIGKILL, starts it on its data directory, and
/// times it until it answers a local read of `key` (written last before,
/// so it has applied everything up to it) and until a default-consistency
/// read of it through that member succeeds.
async fn restart(c: &mut Cluster, i: usize, key: &str) -> anyhow::Result<Restart> {
    c.kill(i).await?;
    let t0 = Instant::now();
    c.start(i)?;
    let end = t0 + RESTART_DEADLINE;
    let target = c.member_target(i);
    let mut local = None;
    let mut consistent = None;
    while local.is_none() || consistent.is_none() {
        let exited = c.exited();
        ensure!(
            exited.is_empty(),
            "{} exited after the restart",
            exited.join(", ")
        );
        ensure!(
            Instant::now() < end,
            "member {} not serving {RESTART_DEADLINE:?} after its restart",
            c.members[i].name
        );
        if let Ok(mut conn) = target.connect(0).await {
            if local.is_none() && conn.get(key, Read::Local).await.is_ok() {
                local = Some(t0.elapsed().as_secs_f64());
            }
            if consistent.is_none() && conn.get(key, Read::Default).await.is_ok() {
                consistent = Some(t0.elapsed().as_secs_f64());
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(Restart {
        member: c.members[i].name.clone(),
        local_secs: local.unwrap_or_default(),
        consistent_secs: consistent.unwrap_or_default(),
        // A new process: its peak since it started.
        peak_rss_kib: c.members[i].pid().and_then(|p| peak_rss_kib(p).ok()),
    })
}

/// What a watcher saw: its number, whether the flipped check of its service
/// was critical, when.
type Seen = (usize, bool, Instant);

/// One check entry of a health answer.
#[derive(Deserialize)]
struct Check {
    #[serde(rename = "CheckID")]
    id: String,
    #[serde(rename = "Status")]
    status: String,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(rename = "Checks")]
    checks: Vec<Check>,
}

/// One blocking health watcher: re-blocks on each answer, and reports the
/// flipped check's status (watchers of hot services) or just that it
/// returned (the others). A failed request (an overloaded cluster may lose
/// its leader) is counted in `errors` and made again at the same index
/// 100 ms later; the caller aborts the watcher when its measurement ends.
async fn watcher(
    id: usize,
    base: String,
    service: String,
    check: Option<String>,
    mut index: u64,
    tx: mpsc::UnboundedSender<Seen>,
    errors: Arc<Mutex<BTreeMap<String, u64>>>,
) -> anyhow::Result<()> {
    let client = http(Some(WATCH_TIMEOUT))?;
    loop {
        let url = format!("{base}/v1/health/service/{service}?index={index}&wait={WATCH_WAIT}");
        let answer = async {
            let resp = client.get(url).send().await?;
            let at = Instant::now();
            if !resp.status().is_success() {
                return Err(anyhow::Error::new(HttpStatus(resp.status().as_u16())));
            }
            let next = resp
                .headers()
                .get("X-Consul-Index")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
                .context("no X-Consul-Index")?;
            let body = resp.bytes().await?;
            let critical = match &check {
                Some(check) => {
                    let entries: Vec<Entry> = serde_json::from_slice(&body)?;
                    entries
                        .iter()
                        .flat_map(|e| &e.checks)
                        .find(|c| &c.id == check)
                        .is_some_and(|c| c.status == "critical")
                }
                None => false,
            };
            anyhow::Ok((next, critical, at))
        }
        .await;
        match answer {
            Ok((next, critical, at)) => {
                if tx.send((id, critical, at)).is_err() {
                    return Ok(());
                }
                // Consul's rule: an index that went backwards restarts at 0.
                index = if next < index { 0 } else { next.max(1) };
            }
            Err(e) => {
                {
                    let mut errors = errors.lock().unwrap_or_else(|p| p.into_inner());
                    let count = errors.entry(failure_kind(&e)).or_default();
                    if *count == 0 {
                        // The first of each kind, whole, for the log.
                        eprintln!("   watcher {id} ({service}): {e:#}");
                    }
                    *count += 1;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// An answer that was not a success.
#[derive(Debug)]
struct HttpStatus(u16);

impl std::fmt::Display for HttpStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HTTP {}", self.0)
    }
}

impl std::error::Error for HttpStatus {}

/// What failed in a watcher's request, in a word or two.
fn failure_kind(e: &anyhow::Error) -> String {
    if let Some(status) = e.downcast_ref::<HttpStatus>() {
        return status.to_string();
    }
    match e.downcast_ref::<reqwest::Error>() {
        Some(e) if e.is_timeout() => "timeout".into(),
        Some(e) if e.is_connect() => "connect".into(),
        Some(e) if e.is_body() || e.is_decode() => "body".into(),
        Some(e) if e.is_request() => "request".into(),
        Some(_) => "http".into(),
        None => "answer".into(),
    }
}

/// `watchers` blocking health queries over the first `--watch-names`
/// services, through the client agents in turn; the hot services each get
/// `hot_per` of them, the rest share the remainder. Then `--scale-flips`
/// flips of the hot services' checks, one at a time, through the servers.
async fn watch_run(
    args: &ScaleArgs,
    servers: &[String],
    agents: &[String],
    pids: &[u32],
    watchers: usize,
    hot_per: usize,
) -> anyhow::Result<WatchRun> {
    let hot = args.hot_names;
    let cold_names = args.watch_names - hot;
    let hot_total = (hot * hot_per).min(watchers);
    let cold_total = watchers - hot_total;
    ensure!(
        cold_names > 0 || cold_total == 0,
        "{watchers} watchers leave {cold_total} for other services, but --watch-names equals --hot-names"
    );
    // Each watcher's service.
    let mut of: Vec<usize> = (0..hot_total).map(|k| k % hot).collect();
    of.extend((0..cold_total).map(|k| hot + k % cold_names.max(1)));
    // Each service's index now, read once through a server.
    let reader = Api::new(&servers[0])?;
    let mut indexes = Vec::with_capacity(args.watch_names);
    for s in 0..args.watch_names {
        indexes.push(reader.health_raw(&svc_name(s), false, None).await?.0);
    }
    let agent_pids = &pids[3..];
    let servers_pids = &pids[..3];
    let sockets0: usize = agent_pids.iter().map(|&p| sockets(p)).sum();
    let (tx, mut rx) = mpsc::unbounded_channel::<Seen>();
    let errors = Arc::new(Mutex::new(BTreeMap::new()));
    let mut tasks = JoinSet::new();
    for (w, &s) in of.iter().enumerate() {
        let check = (s < hot).then(|| {
            let (n, j) = flipped(args.shape(), s);
            format!("service:{}", instance(args.shape(), n, j).1)
        });
        tasks.spawn(watcher(
            w,
            format!("http://{}", agents[w % agents.len()]),
            svc_name(s),
            check,
            indexes[s],
            tx.clone(),
            errors.clone(),
        ));
    }
    drop(tx);
    let r = async {
        // Every request received: the agents hold a socket for each.
        let end = Instant::now() + OPEN_DEADLINE;
        loop {
            let have: usize = agent_pids.iter().map(|&p| sockets(p)).sum();
            if have >= sockets0 + watchers {
                break;
            }
            ensure!(
                Instant::now() < end,
                "the agents hold {have} sockets {OPEN_DEADLINE:?} after the watchers started; expected {}",
                sockets0 + watchers
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        let mut early = 0u64;
        while rx.try_recv().is_ok() {
            early += 1;
        }
        // The servers' CPU while nothing changes, over as long as the flips will take at least.
        // Long enough that the idle rate's own noise (ticks of 10 ms, the
        // heartbeats' and gossip's bursts) stays small beside the flips'.
        let idle_window = IDLE_WINDOW;
        let cpu0: f64 = servers_pids.iter().map(|&p| cpu_secs(p)).sum();
        tokio::time::sleep(idle_window).await;
        let idle_rate =
            (servers_pids.iter().map(|&p| cpu_secs(p)).sum::<f64>() - cpu0) / idle_window.as_secs_f64();
        while rx.try_recv().is_ok() {
            early += 1;
        }

        let client = http(Some(OP_TIMEOUT))?;
        let mut critical = vec![false; hot];
        let mut per_watcher = Samples::default();
        let mut all_of_service = Samples::default();
        let (mut missed, mut other_returns, mut write_errors) = (0u64, 0u64, 0u64);
        let cpu_all0: f64 = pids.iter().map(|&p| cpu_secs(p)).sum();
        let cpu0: f64 = servers_pids.iter().map(|&p| cpu_secs(p)).sum();
        let t_flips = Instant::now();
        let budget = Duration::from_secs(args.watch_budget_secs);
        let mut done = 0usize;
        for f in 0..args.scale_flips {
            if t_flips.elapsed() >= budget {
                break;
            }
            done += 1;
            let s = f % hot;
            critical[s] = !critical[s];
            let want = critical[s];
            let (n, j) = flipped(args.shape(), s);
            let status = if want { "critical" } else { "passing" };
            let mine: Vec<usize> = (0..of.len()).filter(|&w| of[w] == s).collect();
            let mut pending: std::collections::HashSet<usize> = mine.iter().copied().collect();
            let t0 = Instant::now();
            let url = format!("http://{}/v1/catalog/register", servers[f % servers.len()]);
            if put_json(&client, &url, &register_body(args.shape(), n, j, status)).await.is_err() {
                write_errors += 1;
                continue;
            }
            let deadline = tokio::time::Instant::now() + FLIP_DEADLINE;
            let mut slowest = Duration::ZERO;
            while !pending.is_empty() {
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some((w, crit, at))) => {
                        if of[w] != s {
                            other_returns += 1;
                        } else if crit == want && at >= t0 && pending.remove(&w) {
                            let d = at - t0;
                            per_watcher.push(d);
                            slowest = slowest.max(d);
                        }
                    }
                    Ok(None) => bail!("every watcher ended"),
                    Err(_) => break,
                }
            }
            missed += pending.len() as u64;
            if pending.is_empty() {
                all_of_service.push(slowest);
            }
            tokio::time::sleep(FLIP_GAP).await;
            while let Ok((w, _, _)) = rx.try_recv() {
                if of[w] != s {
                    other_returns += 1;
                }
            }
        }
        let flips_secs = t_flips.elapsed().as_secs_f64();
        let server_cpu = servers_pids.iter().map(|&p| cpu_secs(p)).sum::<f64>() - cpu0;
        let all_cpu = pids.iter().map(|&p| cpu_secs(p)).sum::<f64>() - cpu_all0;
        let flips = done.max(1) as f64;
        let kinds = errors.lock().unwrap_or_else(|p| p.into_inner()).clone();
        anyhow::Ok(WatchRun {
            watchers,
            hot_watchers: hot_per.min(watchers),
            flips: done,
            early_returns: early,
            watcher_errors: kinds.values().sum(),
            watcher_error_kinds: kinds,
            quiet_secs: None,
            other_returns,
            missed,
            write_errors,
            per_watcher_p50_ms: per_watcher.percentile_ms(50.0),
            per_watcher_p99_ms: per_watcher.percentile_ms(99.0),
            per_watcher_max_ms: per_watcher.percentile_ms(100.0),
            all_p50_ms: all_of_service.percentile_ms(50.0),
            all_p99_ms: all_of_service.percentile_ms(99.0),
            all_max_ms: all_of_service.percentile_ms(100.0),
            server_cpu_ms_per_change: server_cpu * 1000.0 / flips,
            server_idle_cpu_ms_per_sec: idle_rate * 1000.0,
            server_net_cpu_ms_per_change: (server_cpu - idle_rate * flips_secs).max(0.0) * 1000.0
                / flips,
            all_cpu_ms_per_change: all_cpu * 1000.0 / flips,
            flips_secs,
        })
    }
    .await;
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    // Let the agents close the aborted queries' sockets before the next run counts them.
    tokio::time::sleep(Duration::from_secs(2)).await;
    r
}

/// `--agent-services` services with TTL checks through the agent at `addr`,
/// `--agent-clients` at a time; the rate of the first and last thousand.
async fn agent_registrations(args: &ScaleArgs, addr: &str) -> anyhow::Result<AgentReg> {
    let n = args.agent_services;
    let next = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    let mut tasks = JoinSet::new();
    for _ in 0..args.agent_clients.max(1) {
        let (api, next) = (Api::new(addr)?, next.clone());
        tasks.spawn(async move {
            let mut done = Vec::new();
            let mut errors = 0u64;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                if i >= n {
                    break;
                }
                let id = format!("scale-agent-{i:05}");
                match api.register_agent_service(&id, "scale-agent").await {
                    Ok(()) => done.push(Instant::now()),
                    Err(_) => errors += 1,
                }
            }
            (done, errors)
        });
    }
    let (mut done, errors) = join_tallies(tasks, "a registration task", Vec::extend).await?;
    done.sort();
    let secs = t0.elapsed().as_secs_f64();
    let k = 1000.min(done.len() / 2).max(1);
    ensure!(
        done.len() >= 2 * k,
        "only {} registrations succeeded",
        done.len()
    );
    let first = k as f64 / (done[k - 1] - t0).as_secs_f64().max(1e-9);
    let last = k as f64
        / (done[done.len() - 1] - done[done.len() - 1 - k])
            .as_secs_f64()
            .max(1e-9);
    Ok(AgentReg {
        services: n,
        ok: done.len() as u64,
        errors,
        secs,
        block: k,
        first_per_sec: first,
        last_per_sec: last,
    })
}

// --- the KV part ------------------------------------------------------------------

async fn kv_part(
    args: &ScaleArgs,
    report: &mut ScaleReport,
    ips: &[Ipv4Addr],
) -> anyhow::Result<()> {
    let work = args.phase.work.join("kv");
    let logs = args.phase.logs.join("kv");
    std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
    let mut praetor = Cluster::praetor(
        &args.phase.praetor_bin,
        &ips[..3],
        &work,
        &logs,
        &args.phase.pidfile,
    );
    let mut etcd = Cluster::etcd(&args.etcd_bin, &ips[3..], &work, &logs, &args.phase.pidfile);
    let show = |s: String| s.replace(&args.phase.work.display().to_string(), "$TMP");
    report.kv_praetor_cmds = (0..3).map(|i| show(praetor.command_line(i))).collect();
    report.kv_etcd_cmds = (0..3).map(|i| show(etcd.command_line(i))).collect();
    report.kv_load_before = load_average();
    let r = kv_measure(args, report, &mut praetor, &mut etcd).await;
    for (side, c) in [("praetor", &mut praetor), ("etcd", &mut etcd)] {
        for m in c.exited() {
            report
                .notes
                .push(format!("KV {side} {m} had exited on its own"));
        }
        for m in c.stop_all().await {
            report
                .notes
                .push(format!("KV {side} {m} did not stop within 15 s of SIGTERM"));
        }
    }
    r
}

async fn kv_measure(
    args: &ScaleArgs,
    report: &mut ScaleReport,
    praetor: &mut Cluster,
    etcd: &mut Cluster,
) -> anyhow::Result<()> {
    eprintln!("== scale: three praetor servers and three etcd members for the KV rows");
    for c in [&mut *praetor, &mut *etcd] {
        c.start_all()?;
        c.wait_ready(READY_DEADLINE)
            .await
            .with_context(|| format!("forming the {} cluster", c.side))?;
    }
    let work = args.phase.work.join("kv");
    let pids = |c: &Cluster| c.members.iter().filter_map(|m| m.pid()).collect::<Vec<_>>();
    let side = |c: &Cluster| KvSide {
        rss_idle: rss_all(&pids(c)),
        ..KvSide::default()
    };
    let mut sides = Pair {
        praetor: side(praetor),
        etcd: side(etcd),
    };
    let mut run = Runner::new(praetor.target(), etcd.target());
    let keys = args.kv_keys;
    eprintln!("== scale: loading {keys} keys on each side");
    let (conc, deadline) = (
        args.load_concurrency,
        Duration::from_secs(args.kv_load_deadline_secs),
    );
    let load = run
        .both(format!("scale: load {keys} keys"), |t| async move {
            let r = load_kv(&t, conc, keys, deadline).await;
            tokio::time::sleep(Duration::from_secs(2)).await;
            r
        })
        .await;
    sides.praetor.load = load.praetor;
    sides.etcd.load = load.etcd;
    for (s, c) in [(&mut sides.praetor, &*praetor), (&mut sides.etcd, &*etcd)] {
        s.rss_loaded = rss_all(&pids(c));
        s.disk = c
            .members
            .iter()
            .map(|m| {
                let dir = match c.side {
                    Side::Praetor => work.join(format!("praetor-{}", m.name)),
                    Side::Etcd => work.join(format!("etcd-{}", m.name)),
                };
                dir_bytes(&dir)
            })
            .collect();
    }
    ensure!(
        sides.praetor.load.is_ok() && sides.etcd.load.is_ok(),
        "a side's keys did not load: praetor {:?}, etcd {:?}",
        sides.praetor.load.as_ref().err(),
        sides.etcd.load.as_ref().err()
    );
    let d = Duration::from_secs(args.config.duration_secs);
    let clients = args.kv_clients;
    eprintln!("== scale: puts ×{clients}");
    let r = run
        .both(format!("scale: puts ×{clients}"), |t| async move {
            workload::closed_loop(
                &t,
                clients,
                d,
                Op::Put {
                    tag: format!("scale-c{clients}"),
                },
            )
            .await
        })
        .await;
    sides.praetor.puts = r.praetor;
    sides.etcd.puts = r.etcd;
    eprintln!("== scale: gets ×{clients}");
    let r = run
        .both(format!("scale: gets ×{clients}"), |t| async move {
            workload::closed_loop(
                &t,
                clients,
                d,
                Op::Get {
                    keys,
                    read: Read::Default,
                },
            )
            .await
        })
        .await;
    sides.praetor.gets = r.praetor;
    sides.etcd.gets = r.etcd;
    eprintln!("== scale: recursive reads of a 10 000-key prefix");
    let expect = keys.min(10_000);
    let r = run
        .both("scale: prefix read".into(), |t| async move {
            prefix_reads(&t, expect).await
        })
        .await;
    sides.praetor.prefix = r.praetor;
    sides.etcd.prefix = r.etcd;
    let watchers = args.kv_watchers;
    eprintln!("== scale: watch notification, {watchers} streams");
    let r = run
        .both(format!("scale: watch ×{watchers}"), |t| async move {
            let tag = format!("{}-scale-w{watchers}", t.side);
            workload::notify(&t, watchers, KV_WATCH_PUTS, KV_WATCH_SPACING, &tag).await
        })
        .await;
    sides.praetor.notify = r.praetor;
    sides.etcd.notify = r.etcd;
    eprintln!("== scale: praetor snapshot");
    let saved = work.join("snapshot.bin");
    let pids: Vec<u32> = praetor.members.iter().filter_map(|m| m.pid()).collect();
    sides.praetor.snapshot = Some(outcome(
        snapshot(&praetor.client_addrs()[0], Some(&saved), &pids).await,
    ));
    eprintln!("   {:?}", sides.praetor.snapshot);
    eprintln!("== scale: etcd snapshot");
    sides.etcd.snapshot = Some(outcome(
        etcd_snapshot(&etcd.client_addrs()[0], etcd.members[0].pid()).await,
    ));
    eprintln!("   {:?}", sides.etcd.snapshot);
    let last = workload::load_key(keys - 1);
    for c in [&mut *praetor, &mut *etcd] {
        eprintln!("== scale: restarting a {} member", c.side);
        let r = outcome(restart(c, 0, &last).await);
        eprintln!("   {r:?}");
        match c.side {
            Side::Praetor => sides.praetor.restart = r,
            Side::Etcd => sides.etcd.restart = r,
        }
    }
    report.kv = Some(sides);
    report.kv_cpu = run.cpu;
    report.kv_load_after = load_average();
    Ok(())
}

/// Puts `keys` keys ([`workload::load_key`], 256-byte values) in
/// transactions of [`TXN_OPS`] puts, `clients` at a time, streamed: each
/// client builds one transaction at a time.
async fn load_kv(
    t: &Target,
    clients: usize,
    keys: u64,
    deadline: Duration,
) -> anyhow::Result<Throughput> {
    let batches = keys.div_ceil(TXN_OPS as u64);
    let next = Arc::new(AtomicU64::new(0));
    let end = Instant::now() + deadline;
    let t0 = Instant::now();
    let mut tasks = JoinSet::new();
    for w in 0..clients.max(1) {
        let next = next.clone();
        let mut writer = KvWriter::connect(t, w).await?;
        tasks.spawn(async move {
            let mut samples = Samples::default();
            let mut errors = 0u64;
            loop {
                let b = next.fetch_add(1, Ordering::Relaxed);
                if b >= batches || Instant::now() >= end {
                    break;
                }
                let range = b * TXN_OPS as u64..((b + 1) * TXN_OPS as u64).min(keys);
                let t = Instant::now();
                let r = writer.put_batch(range).await;
                tally(r, t, "KV load", &mut samples, &mut errors);
            }
            (samples, errors)
        });
    }
    let (samples, errors) = join_tallies(tasks, "a load task", Samples::extend).await?;
    let elapsed = t0.elapsed();
    ensure!(
        errors == 0,
        "{errors} of {batches} load transactions failed"
    );
    ensure!(
        samples.len() == batches,
        "{} of {batches} load transactions done within {deadline:?}",
        samples.len()
    );
    // The throughput counts keys, not transactions; the latencies are per transaction.
    let mut out = Throughput::new(clients, samples, errors, elapsed);
    out.ops = keys;
    out.ops_per_sec = keys as f64 / elapsed.as_secs_f64().max(1e-9);
    Ok(out)
}

/// One load client: praetor's `/v1/txn` or etcd's Txn.
enum KvWriter {
    Praetor {
        http: reqwest::Client,
        url: String,
        value_b64: String,
    },
    Etcd(Box<etcd_client::KvClient>),
}

impl KvWriter {
    async fn connect(t: &Target, w: usize) -> anyhow::Result<Self> {
        let value = workload::value();
        Ok(match t.side {
            Side::Praetor => Self::Praetor {
                http: http(Some(TXN_TIMEOUT))?,
                url: format!("http://{}/v1/txn", t.addrs[w % t.addrs.len()]),
                value_b64: base64::engine::general_purpose::STANDARD.encode(value),
            },
            Side::Etcd => {
                let opts = etcd_client::ConnectOptions::new()
                    .with_connect_timeout(CONNECT_TIMEOUT)
                    .with_timeout(TXN_TIMEOUT);
                let endpoints: Vec<String> =
                    t.addrs.iter().map(|a| format!("http://{a}")).collect();
                let c = etcd_client::Client::connect(endpoints, Some(opts))
                    .await
                    .context("connecting to etcd")?;
                Self::Etcd(Box::new(c.kv_client()))
            }
        })
    }

    async fn put_batch(&mut self, keys: std::ops::Range<u64>) -> anyhow::Result<()> {
        match self {
            Self::Praetor {
                http,
                url,
                value_b64,
            } => {
                let ops: Vec<Value> = keys
                    .map(|i| json!({"KV": {"Verb": "set", "Key": workload::load_key(i), "Value": value_b64}}))
                    .collect();
                put_json(http, url, &Value::Array(ops)).await
            }
            Self::Etcd(kv) => {
                let value = workload::value();
                let ops: Vec<etcd_client::TxnOp> = keys
                    .map(|i| etcd_client::TxnOp::put(workload::load_key(i), value.clone(), None))
                    .collect();
                let r = kv.txn(etcd_client::Txn::new().and_then(ops)).await?;
                ensure!(r.succeeded(), "the etcd load transaction did not succeed");
                Ok(())
            }
        }
    }
}

/// [`PREFIX_READS`] recursive reads of `bench/load/000` (the first 10 000
/// keys) through the first member, each checked to hold `expect` keys.
async fn prefix_reads(t: &Target, expect: u64) -> anyhow::Result<Throughput> {
    let prefix = "bench/load/000";
    let mut samples = Samples::default();
    let t0 = Instant::now();
    let addr = &t.addrs[0];
    let client = http(Some(BIG_READ_TIMEOUT))?;
    let mut etcd = match t.side {
        Side::Etcd => Some(
            etcd_client::Client::connect(
                [format!("http://{addr}")],
                Some(etcd_client::ConnectOptions::new().with_timeout(BIG_READ_TIMEOUT)),
            )
            .await?
            .kv_client(),
        ),
        Side::Praetor => None,
    };
    for _ in 0..PREFIX_READS {
        let t1 = Instant::now();
        let n = match &mut etcd {
            None => {
                let resp = client
                    .get(format!("http://{addr}/v1/kv/{prefix}?recurse"))
                    .send()
                    .await?;
                ensure!(
                    resp.status().is_success(),
                    "recurse {prefix}: {}",
                    resp.status()
                );
                let body = resp.bytes().await?;
                let list: Vec<serde::de::IgnoredAny> = serde_json::from_slice(&body)?;
                list.len() as u64
            }
            Some(kv) => {
                let r = kv
                    .get(prefix, Some(etcd_client::GetOptions::new().with_prefix()))
                    .await?;
                r.kvs().len() as u64
            }
        };
        samples.push(t1.elapsed());
        ensure!(n == expect, "the prefix read {n} keys, expected {expect}");
    }
    Ok(Throughput::new(1, samples, 0, t0.elapsed()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(clap::Parser)]
    struct Flags {
        #[command(flatten)]
        a: ScaleArgs,
    }

    fn args(extra: &[&str]) -> ScaleArgs {
        let mut argv = vec![
            "scale",
            "--praetor-bin",
            "p",
            "--work",
            "w",
            "--logs",
            "l",
            "--pidfile",
            "f",
            "--praetor-version",
            "v",
            "--command",
            "c",
            "--date",
            "d",
            "--json",
            "j",
            "--etcd-bin",
            "e",
            "--etcd-version",
            "v",
        ];
        argv.extend_from_slice(extra);
        <Flags as clap::Parser>::parse_from(argv).a
    }

    #[test]
    fn every_service_name_gets_its_share_and_the_flipped_instance_is_its_own() {
        let a = args(&[
            "--nodes",
            "30",
            "--instances-per-node",
            "4",
            "--service-names",
            "10",
        ]);
        let mut count = vec![0; 10];
        for n in 0..30 {
            for j in 0..4 {
                let (svc, id) = instance(a.shape(), n, j);
                let s: usize = svc.trim_start_matches("scale-svc-").parse().unwrap_or(99);
                count[s] += 1;
                assert!(id.starts_with(&svc));
            }
        }
        assert!(count.iter().all(|&c| c == 12), "{count:?}");
        for s in 0..10 {
            let (n, j) = flipped(a.shape(), s);
            assert_eq!(instance(a.shape(), n, j).0, svc_name(s));
        }
    }

    #[test]
    fn a_transaction_holds_whole_nodes_within_the_operation_limit() {
        let a = args(&[]);
        let per_node = 1 + 2 * a.instances_per_node;
        let mut ops = Vec::new();
        for n in 0..TXN_OPS / per_node {
            node_ops(a.shape(), n, &mut ops);
        }
        assert!(
            ops.len() <= TXN_OPS && ops.len() + per_node > TXN_OPS,
            "{}",
            ops.len()
        );
        assert_eq!(a.scale_watchers, vec![5000, 500]);
        assert_eq!(a.kv_keys, 1_000_000);
    }
}
