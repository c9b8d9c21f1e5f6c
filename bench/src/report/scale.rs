//! The scale phase's results (issue 17) and their section of BENCHMARKS.md.
//! Every statement of the verdict is computed here from the numbers.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::{cpu_rows, CpuRow, Goal, Outcome, Pair};
use crate::machine::{Machine, Rss};
use crate::stats::{Notify, Throughput};

/// Goals of issue 17.
const WAKE_P99_GOAL_MS: f64 = 1000.0;
const CPU_SPREAD_GOAL: f64 = 0.20;
const REG_KEEP_GOAL: f64 = 0.80;
const RSS_PER_KEY_GOAL: f64 = 0.5;

/// Loading the catalog.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CatalogLoad {
    /// Requests made (transactions or registrations).
    pub requests: u64,
    pub secs: f64,
    pub instances_per_sec: f64,
    /// Per request.
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// One `GET /v1/snapshot`, and the `PUT /v1/snapshot` of the file it
/// gave when that was measured too.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Snapshot {
    pub bytes: u64,
    pub secs: f64,
    /// Seconds until `PUT /v1/snapshot` of the saved file answered.
    #[serde(default)]
    pub restore_secs: Option<f64>,
    /// RSS of the member serving the snapshot before it, and its peak while
    /// it was read, KiB.
    #[serde(default)]
    pub rss_before_kib: Option<u64>,
    #[serde(default)]
    pub peak_rss_kib: Option<u64>,
    /// The highest peak RSS of any member while the restore ran, KiB.
    #[serde(default)]
    pub restore_peak_rss_kib: Option<u64>,
}

/// One member killed (SIGKILL) and started again on its data.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Restart {
    pub member: String,
    /// From the start until it answers a local (`?stale` / serializable)
    /// read of the last key written before.
    pub local_secs: f64,
    /// Until a default-consistency read through it succeeds.
    pub consistent_secs: f64,
    /// Its peak RSS from the start until it served both reads, KiB.
    #[serde(default)]
    pub peak_rss_kib: Option<u64>,
}

/// One blocking-watcher measurement.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WatchRun {
    pub watchers: usize,
    /// Watchers on each flipped (hot) service.
    pub hot_watchers: usize,
    pub flips: usize,
    /// Returns before any flip (there should be none).
    pub early_returns: u64,
    /// Failed watcher requests (each made again 100 ms later), e.g. while
    /// an overloaded cluster has no leader.
    #[serde(default)]
    pub watcher_errors: u64,
    /// The failed watcher requests by what failed (`connect`, `timeout`,
    /// `HTTP 503`, …).
    #[serde(default)]
    pub watcher_error_kinds: std::collections::BTreeMap<String, u64>,
    /// Seconds after the watchers were closed until the servers used under
    /// a tenth of a core (none: not within 90 s).
    #[serde(default)]
    pub quiet_secs: Option<f64>,
    /// Returns of watchers of services that were not flipped, during the flips.
    pub other_returns: u64,
    /// Watchers of a flipped service that had not seen it within the deadline.
    pub missed: u64,
    pub write_errors: u64,
    /// From the flip's write starting to one watcher returning with it.
    pub per_watcher_p50_ms: f64,
    pub per_watcher_p99_ms: f64,
    pub per_watcher_max_ms: f64,
    /// From the flip's write starting to the last watcher of the service
    /// returning with it, over the flips.
    pub all_p50_ms: f64,
    pub all_p99_ms: f64,
    pub all_max_ms: f64,
    /// The three servers' CPU (user + system) over the flips ÷ flips.
    pub server_cpu_ms_per_change: f64,
    /// Their CPU per second with the watchers open and nothing changing.
    pub server_idle_cpu_ms_per_sec: f64,
    /// The first less the idle rate over the flips' time.
    pub server_net_cpu_ms_per_change: f64,
    /// Servers and client agents together, per change.
    pub all_cpu_ms_per_change: f64,
    pub flips_secs: f64,
}

/// One client agent registering services with TTL checks.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AgentReg {
    pub services: usize,
    pub ok: u64,
    pub errors: u64,
    pub secs: f64,
    /// Registrations per block (1000, or fewer on small runs).
    pub block: usize,
    pub first_per_sec: f64,
    pub last_per_sec: f64,
}

/// One side of the KV rows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KvSide {
    pub rss_idle: Vec<Outcome<Rss>>,
    pub load: Outcome<Throughput>,
    pub rss_loaded: Vec<Outcome<Rss>>,
    /// Each member's data directory after the load, bytes.
    pub disk: Vec<u64>,
    pub puts: Outcome<Throughput>,
    pub gets: Outcome<Throughput>,
    pub prefix: Outcome<Throughput>,
    pub notify: Outcome<Notify>,
    /// praetor's `GET /v1/snapshot`, etcd's maintenance Snapshot (what
    /// `etcdctl snapshot save` reads), through member 1.
    pub snapshot: Option<Outcome<Snapshot>>,
    pub restart: Outcome<Restart>,
}

fn not_run<T>() -> Outcome<T> {
    Err("not run".into())
}

impl Default for KvSide {
    fn default() -> Self {
        Self {
            rss_idle: Vec::new(),
            load: not_run(),
            rss_loaded: Vec::new(),
            disk: Vec::new(),
            puts: not_run(),
            gets: not_run(),
            prefix: not_run(),
            notify: not_run(),
            snapshot: None,
            restart: not_run(),
        }
    }
}

impl KvSide {
    /// RSS gained by the members over the load, summed, in bytes per key.
    fn rss_per_key(&self, keys: u64) -> Option<f64> {
        let sum = |v: &[Outcome<Rss>]| -> Option<u64> {
            v.iter()
                .map(|r| r.as_ref().ok().map(|r| r.total_kib))
                .sum::<Option<u64>>()
        };
        let (a, b) = (sum(&self.rss_idle)?, sum(&self.rss_loaded)?);
        (keys > 0 && !self.rss_loaded.is_empty())
            .then(|| b.saturating_sub(a) as f64 * 1024.0 / keys as f64)
    }

    /// One member's data directory after the load, in bytes per key.
    fn disk_per_key(&self, keys: u64) -> Option<f64> {
        let d = *self.disk.first()?;
        (keys > 0).then(|| d as f64 / keys as f64)
    }
}

/// Everything the scale phase measured.
#[derive(Debug, Serialize, Deserialize)]
pub struct ScaleReport {
    pub command: String,
    pub date: String,
    pub praetor_version: String,
    pub etcd_version: String,
    pub machine: Option<Machine>,
    pub duration_secs: u64,
    pub nodes: usize,
    pub instances_per_node: usize,
    pub service_names: usize,
    /// `txn` or `register`.
    pub catalog_via: String,
    pub watch_names: usize,
    pub hot_names: usize,
    pub flips: usize,
    /// Seconds after which a watcher measurement makes no more flips.
    #[serde(default)]
    pub watch_budget_secs: u64,
    pub agent_services: usize,
    pub agent_clients: usize,
    pub kv_keys: u64,
    pub kv_clients: usize,
    pub kv_watchers: usize,
    pub load_concurrency: usize,
    pub load_before: String,
    pub catalog_load_after: String,
    pub kv_load_before: String,
    pub kv_load_after: String,
    pub load_after: String,
    /// Wall-clock seconds of the whole phase.
    pub secs: f64,
    pub catalog_cmds: Vec<String>,
    pub catalog_rss_idle: Vec<Outcome<Rss>>,
    pub catalog_load: Outcome<CatalogLoad>,
    pub catalog_rss: Vec<Outcome<Rss>>,
    pub catalog_disk: Vec<u64>,
    pub catalog_snapshot: Outcome<Snapshot>,
    pub catalog_restart: Outcome<Restart>,
    pub watch: Vec<Outcome<WatchRun>>,
    pub agent_reg: Outcome<AgentReg>,
    pub kv_praetor_cmds: Vec<String>,
    pub kv_etcd_cmds: Vec<String>,
    pub kv: Option<Pair<KvSide>>,
    pub kv_cpu: Vec<CpuRow>,
    pub notes: Vec<String>,
    pub error: Option<String>,
}

impl ScaleReport {
    pub fn new(
        command: String,
        date: String,
        praetor_version: String,
        etcd_version: String,
    ) -> Self {
        Self {
            command,
            date,
            praetor_version,
            etcd_version,
            machine: None,
            duration_secs: 0,
            nodes: 0,
            instances_per_node: 0,
            service_names: 0,
            catalog_via: String::new(),
            watch_names: 0,
            hot_names: 0,
            flips: 0,
            watch_budget_secs: 0,
            agent_services: 0,
            agent_clients: 0,
            kv_keys: 0,
            kv_clients: 0,
            kv_watchers: 0,
            load_concurrency: 0,
            load_before: String::new(),
            catalog_load_after: String::new(),
            kv_load_before: String::new(),
            kv_load_after: String::new(),
            load_after: String::new(),
            secs: 0.0,
            catalog_cmds: Vec::new(),
            catalog_rss_idle: Vec::new(),
            catalog_load: not_run(),
            catalog_rss: Vec::new(),
            catalog_disk: Vec::new(),
            catalog_snapshot: not_run(),
            catalog_restart: not_run(),
            watch: Vec::new(),
            agent_reg: not_run(),
            kv_praetor_cmds: Vec::new(),
            kv_etcd_cmds: Vec::new(),
            kv: None,
            kv_cpu: Vec::new(),
            notes: Vec::new(),
            error: None,
        }
    }

    /// Service instances in the catalog.
    fn instances(&self) -> usize {
        self.nodes * self.instances_per_node
    }

    /// RSS the catalog servers gained over the load, in bytes per service
    /// instance, the mean of the servers measured idle and loaded (each
    /// server holds the whole catalog).
    pub fn catalog_rss_per_instance(&self) -> Option<f64> {
        let gains: Vec<f64> = self
            .catalog_rss_idle
            .iter()
            .zip(&self.catalog_rss)
            .filter_map(|(i, l)| match (i, l) {
                (Ok(i), Ok(l)) => Some(l.total_kib.saturating_sub(i.total_kib) as f64 * 1024.0),
                _ => None,
            })
            .collect();
        let n = self.instances();
        (!gains.is_empty() && n > 0)
            .then(|| gains.iter().sum::<f64>() / gains.len() as f64 / n as f64)
    }

    /// Server s1's data directory after the catalog's load, in bytes per
    /// service instance.
    pub fn catalog_disk_per_instance(&self) -> Option<f64> {
        let d = *self.catalog_disk.first()?;
        let n = self.instances();
        (n > 0).then(|| d as f64 / n as f64)
    }

    /// Issue 17's item 4 in numbers: RSS and data directory per service
    /// instance and per key (both sides), snapshot size and time, and
    /// restart to serving, one line each; what was not measured is left out.
    pub fn memory_and_disk(&self) -> Vec<String> {
        let mut out = Vec::new();
        let n = self.instances();
        if let (Some(r), Some(d)) = (
            self.catalog_rss_per_instance(),
            self.catalog_disk_per_instance(),
        ) {
            out.push(format!(
                "catalog of {n} instances (praetor): {r:.0} bytes of RSS per instance per server, {d:.0} bytes of \
                 data directory per instance"
            ));
        }
        if let Ok(s) = &self.catalog_snapshot {
            let mut l = format!(
                "catalog snapshot: {:.1} MiB in {:.2} s",
                s.bytes as f64 / 1048576.0,
                s.secs
            );
            if let Ok(r) = &self.catalog_restart {
                let _ = write!(
                    l,
                    "; a server's restart to serving: {:.2} s",
                    r.consistent_secs
                );
            }
            out.push(l);
        }
        if let Some(kv) = &self.kv {
            let keys = self.kv_keys;
            let side = |s: &KvSide| {
                let mut parts = Vec::new();
                if let Some(r) = s.rss_per_key(keys) {
                    parts.push(format!("{r:.0} B RSS per key (three members)"));
                }
                if let Some(d) = s.disk_per_key(keys) {
                    parts.push(format!("{d:.0} B of data directory per key (one member)"));
                }
                if let Some(Ok(sn)) = &s.snapshot {
                    let mut l = format!(
                        "snapshot {:.1} MiB in {:.2} s",
                        sn.bytes as f64 / 1048576.0,
                        sn.secs
                    );
                    if let (Some(before), Some(peak)) = (sn.rss_before_kib, sn.peak_rss_kib) {
                        let _ = write!(
                            l,
                            " (RSS {:.0} MiB before, peak {:.0} MiB)",
                            before as f64 / 1024.0,
                            peak as f64 / 1024.0
                        );
                    }
                    parts.push(l);
                    if let (Some(secs), Some(peak)) = (sn.restore_secs, sn.restore_peak_rss_kib) {
                        parts.push(format!(
                            "restore {secs:.2} s (peak RSS of a member {:.0} MiB)",
                            peak as f64 / 1024.0
                        ));
                    }
                }
                if let Ok(r) = &s.restart {
                    let mut l = format!("restart to serving {:.2} s", r.consistent_secs);
                    if let Some(peak) = r.peak_rss_kib {
                        let _ = write!(l, " (peak RSS {:.0} MiB)", peak as f64 / 1024.0);
                    }
                    parts.push(l);
                }
                parts.join(", ")
            };
            for (name, s) in [("praetor", &kv.praetor), ("etcd", &kv.etcd)] {
                let l = side(s);
                if !l.is_empty() {
                    out.push(format!("{keys} keys, {name}: {l}"));
                }
            }
        }
        out
    }

    /// Issue 17's goals this phase judges, in the order: a change
    /// reaches every watcher of its service with p99 < 1 s; server CPU per
    /// change within 20 % between the smallest and the largest watcher
    /// count; registrations in the last block at ≥ 80 % of the first; RSS
    /// per 256-byte key at most half of etcd's. Always four, each "not
    /// measured" when its numbers are missing.
    pub fn goals(&self) -> Vec<Goal> {
        let mut out = Vec::new();
        let ok: Vec<&WatchRun> = self.watch.iter().filter_map(|w| w.as_ref().ok()).collect();
        let wake = format!(
            "one change reaches every watcher of its service with p99 < {:.0} s",
            WAKE_P99_GOAL_MS / 1000.0
        );
        out.push(match ok.iter().max_by_key(|w| w.watchers) {
            Some(w) if w.missed == 0 => Goal::judged(
                w.all_p99_ms < WAKE_P99_GOAL_MS,
                format!(
                    "{wake}: with {} watchers, the last watcher of the service had it after {:.1} ms \
                     (p99 over {} flips; one watcher's p99 {:.1} ms)",
                    w.watchers, w.all_p99_ms, w.flips, w.per_watcher_p99_ms
                ),
            ),
            Some(w) => Goal::judged(
                false,
                format!(
                    "{wake}: with {} watchers, {} watchers of flipped services never saw their flip within the deadline",
                    w.watchers, w.missed
                ),
            ),
            None => Goal::unmeasured(format!("{wake}: no watcher run succeeded")),
        });
        let cpu = format!(
            "server CPU per change independent of unrelated watchers (within {:.0}% between the smallest and the \
             largest watcher count)",
            CPU_SPREAD_GOAL * 100.0
        );
        out.push(
            match (
                ok.iter().min_by_key(|w| w.watchers),
                ok.iter().max_by_key(|w| w.watchers),
            ) {
                (Some(lo), Some(hi))
                    if lo.watchers != hi.watchers && lo.server_net_cpu_ms_per_change > 0.0 =>
                {
                    let r = hi.server_net_cpu_ms_per_change / lo.server_net_cpu_ms_per_change;
                    Goal::judged(
                        (r - 1.0).abs() <= CPU_SPREAD_GOAL,
                        format!(
                            "{cpu}: {:.2} ms with {} watchers against {:.2} ms with {} (net of idle CPU), {r:.2}×; \
                             watchers of other services returned {} and {} times during the flips",
                            hi.server_net_cpu_ms_per_change,
                            hi.watchers,
                            lo.server_net_cpu_ms_per_change,
                            lo.watchers,
                            hi.other_returns,
                            lo.other_returns,
                        ),
                    )
                }
                _ => Goal::unmeasured(format!(
                    "{cpu}: needs two watcher runs of different sizes with CPU above idle"
                )),
            },
        );
        let reg = format!(
            "registrations through one agent in the last thousand at ≥ {:.0}% of the first",
            REG_KEEP_GOAL * 100.0
        );
        out.push(match &self.agent_reg {
            Ok(a) if a.first_per_sec > 0.0 => {
                let r = a.last_per_sec / a.first_per_sec;
                Goal::judged(
                    r >= REG_KEEP_GOAL,
                    format!(
                        "{reg}: {:.0}/s against {:.0}/s ({:.0}%; blocks of {}, {} services)",
                        a.last_per_sec,
                        a.first_per_sec,
                        r * 100.0,
                        a.block,
                        a.services
                    ),
                )
            }
            Ok(_) => Goal::unmeasured(format!("{reg}: no registration succeeded")),
            Err(e) => Goal::unmeasured(format!("{reg}: {}", e.replace('\n', " "))),
        });
        let rss = format!(
            "RSS per {}-byte key at most half of etcd's",
            crate::workload::VALUE_SIZE
        );
        let per_key = self.kv.as_ref().map(|kv| {
            (
                kv.praetor.rss_per_key(self.kv_keys),
                kv.etcd.rss_per_key(self.kv_keys),
            )
        });
        out.push(match per_key {
            Some((Some(p), Some(e))) if e > 0.0 => Goal::judged(
                p <= e * RSS_PER_KEY_GOAL,
                format!(
                    "{rss}: {p:.0} B against {e:.0} B ({:.2}×), RSS gained over the load of {} keys, summed over \
                     three members",
                    p / e,
                    self.kv_keys
                ),
            ),
            _ => Goal::unmeasured(format!("{rss}: the KV rows did not measure both sides")),
        });
        out
    }

    /// The goals, then comparisons at this scale that are not goals, each as
    /// one line.
    pub fn verdicts(&self) -> Vec<String> {
        let mut out: Vec<String> = self.goals().iter().map(Goal::line).collect();
        if let Some(kv) = &self.kv {
            if let (Ok(p), Ok(e)) = (&kv.praetor.puts, &kv.etcd.puts) {
                out.push(format!(
                    "- (Not a goal; the put goal is at 1 client, in \"Where it stands\".) Puts at {} clients on {} keys: \
                     {:.0}/s against etcd's {:.0}/s ({:.2}×).",
                    p.clients,
                    self.kv_keys,
                    p.ops_per_sec,
                    e.ops_per_sec,
                    p.ops_per_sec / e.ops_per_sec.max(1e-9)
                ));
            }
        }
        out
    }

    /// Its section of BENCHMARKS.md, numbered `n`.
    pub fn section(&self, md: &mut String, n: usize) {
        let machine = self.machine.as_ref().map_or_else(
            || "unknown".to_owned(),
            |m| {
                format!(
                    "{}, {} cores, {:.1} GiB RAM, Linux {}",
                    m.cpu, m.cores, m.ram_gib, m.kernel
                )
            },
        );
        let instances = self.nodes * self.instances_per_node;
        let _ = writeln!(
            md,
            "\n## {n}. Scale: a {instances}-instance catalog, blocking watchers, {} keys (issue 17)\n\n\
             Run on {date}, praetor `{pv}` and etcd `{ev}`, on {machine}; {secs:.0} s in all. \
             Load average (1, 5, 15 min) before the phase: {lb}; after the catalog part: {lc}; before the KV part: {lk}; \
             after: {la}. Sizes used (`praetor-bench scale` flags; the issue's are 10 000 nodes × 10, 5 000 and 500 \
             watchers, 5 000 agent services, 1 000 000 keys): `--nodes {nodes} --instances-per-node {ipn} \
             --service-names {names} --scale-watchers {watchers} --watch-names {wn} --hot-names {hn} --scale-flips {flips} \
             --agent-services {as_} --kv-keys {keys} --kv-clients {kc} --kv-watchers {kw}`.\n\n\
             Every agent and member runs on its own loopback address in 127.0.14.0/24 with default ports, durable \
             (data on disk); the bench client shares the machine.",
            self.kv_keys,
            date = self.date,
            pv = self.praetor_version,
            ev = self.etcd_version,
            secs = self.secs,
            lb = self.load_before,
            lc = self.catalog_load_after,
            lk = self.kv_load_before,
            la = self.load_after,
            nodes = self.nodes,
            ipn = self.instances_per_node,
            names = self.service_names,
            watchers = self
                .watch
                .iter()
                .filter_map(|w| w.as_ref().ok().map(|w| w.watchers.to_string()))
                .collect::<Vec<_>>()
                .join(","),
            wn = self.watch_names,
            hn = self.hot_names,
            flips = self.flips,
            as_ = self.agent_services,
            keys = self.kv_keys,
            kc = self.kv_clients,
            kw = self.kv_watchers,
        );
        let _ = writeln!(md, "\nGoals of issue 17, computed from the tables below:\n");
        for v in self.verdicts() {
            let _ = writeln!(md, "{v}");
        }
        let lines = self.memory_and_disk();
        if !lines.is_empty() {
            let _ = writeln!(
                md,
                "\nMemory and disk (issue 17, item 4), from the tables below:\n"
            );
            for l in lines {
                let _ = writeln!(md, "- {l}");
            }
        }

        // The catalog.
        let _ = writeln!(
            md,
            "\n**Catalog** (three servers, five client agents). {instances} instances on {} nodes over {} service names, \
             loaded through the servers' {} by {} concurrent clients (spread over the three servers); each instance \
             has one passing check.\n\n| measure | value |\n|---|---:|",
            self.nodes,
            self.service_names,
            if self.catalog_via == "txn" {
                "`/v1/txn` (whole nodes: node, services and checks, at most 64 operations a transaction)"
            } else {
                "`/v1/catalog/register` (one instance and its check a request)"
            },
            self.load_concurrency,
        );
        match &self.catalog_load {
            Ok(l) => {
                let _ = writeln!(
                    md,
                    "| load time | {:.1} s ({:.0} instances/s; {} requests, p50 {:.1} ms, p99 {:.1} ms) |",
                    l.secs, l.instances_per_sec, l.requests, l.p50_ms, l.p99_ms
                );
            }
            Err(e) => {
                let _ = writeln!(md, "| load | failed: {} |", e.replace('\n', " "));
            }
        }
        for (i, (idle, loaded)) in self
            .catalog_rss_idle
            .iter()
            .zip(&self.catalog_rss)
            .enumerate()
        {
            let _ = writeln!(
                md,
                "| RSS of server s{}, idle → loaded | {} → {} MiB |",
                i + 1,
                rss_mib(idle),
                rss_mib(loaded)
            );
        }
        if let Some(r) = self.catalog_rss_per_instance() {
            let _ = writeln!(
                md,
                "| RSS gained per service instance (mean of the servers) | {r:.0} bytes |"
            );
        }
        if let Some(d) = self.catalog_disk.first() {
            let _ = writeln!(
                md,
                "| data directory of s1 after the load | {:.1} MiB ({:.0} bytes per instance) |",
                *d as f64 / 1048576.0,
                self.catalog_disk_per_instance().unwrap_or(0.0)
            );
        }
        match &self.catalog_snapshot {
            Ok(s) => {
                let _ = writeln!(
                    md,
                    "| `GET /v1/snapshot` | {:.1} MiB in {:.2} s |",
                    s.bytes as f64 / 1048576.0,
                    s.secs
                );
            }
            Err(e) => {
                let _ = writeln!(
                    md,
                    "| `GET /v1/snapshot` | failed: {} |",
                    e.replace('\n', " ")
                );
            }
        }
        restart_row(md, "restart of", &self.catalog_restart);

        let _ = writeln!(
            md,
            "\n**Blocking health queries.** Each watcher is its own connection holding \
             `GET /v1/health/service/<name>?index=N&wait=10m` on one of the five client agents (in turn), over \
             the first {} service names; the first {} names are flipped, and each keeps the same number of watchers \
             in every row (the largest count ÷ {}), so that only the watchers of *other* services change between rows; the smallest count runs first. \
             A flip is one `/v1/catalog/register` of one instance with its check critical (or passing again), through \
             the servers in turn, one at a time, {} ms apart, {} of them or as many as start within {} s. A watcher that returns re-blocks at the new index; it has \
             the change when its answer shows the new status. Server CPU is user + system time of the three server \
             processes (`/proc/<pid>/stat`) over the flips ÷ flips; \"net\" subtracts the servers' CPU rate measured \
             for 10 s with the watchers open and nothing changing.\n\n\
             | watchers | on each flipped service | flips | one watcher p50 / p99 / max ms | every watcher of the service p50 / p99 / max ms | server CPU ms per change | net of idle | servers + agents CPU ms per change | returns of other services' watchers | missed | failed watcher requests | servers quiet again after, s |\n\
             |---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            self.watch_names,
            self.hot_names,
            self.watch_names,
            300,
            self.flips,
            self.watch_budget_secs,
        );
        for w in &self.watch {
            match w {
                Ok(w) => {
                    let _ = writeln!(
                        md,
                        "| {} | {} | {} | {:.1} / {:.1} / {:.1} | {:.1} / {:.1} / {:.1} | {:.2} | {:.2} | {:.2} | {} | {} | {} | {} |",
                        w.watchers,
                        w.hot_watchers,
                        w.flips,
                        w.per_watcher_p50_ms,
                        w.per_watcher_p99_ms,
                        w.per_watcher_max_ms,
                        w.all_p50_ms,
                        w.all_p99_ms,
                        w.all_max_ms,
                        w.server_cpu_ms_per_change,
                        w.server_net_cpu_ms_per_change,
                        w.all_cpu_ms_per_change,
                        w.other_returns,
                        w.missed,
                        failures(w.watcher_errors, &w.watcher_error_kinds),
                        w.quiet_secs
                            .map_or_else(|| "over 90".to_owned(), |q| format!("{q:.0}"))
                    );
                }
                Err(e) => {
                    let _ = writeln!(
                        md,
                        "| failed: {} | | | | | | | | | | | |",
                        e.replace('\n', " ")
                    );
                }
            }
        }
        let ok: Vec<&WatchRun> = self.watch.iter().filter_map(|w| w.as_ref().ok()).collect();
        if let (Some(lo), Some(hi)) = (
            ok.iter().min_by_key(|w| w.watchers),
            ok.iter().max_by_key(|w| w.watchers),
        ) {
            if lo.watchers != hi.watchers {
                let _ = writeln!(
                    md,
                    "\nServer CPU per change, {} ÷ {} watchers: {} raw, {} net of idle.",
                    hi.watchers,
                    lo.watchers,
                    ratio(hi.server_cpu_ms_per_change, lo.server_cpu_ms_per_change),
                    ratio(
                        hi.server_net_cpu_ms_per_change,
                        lo.server_net_cpu_ms_per_change
                    ),
                );
            }
        }

        let _ = writeln!(
            md,
            "\n**Registrations through one client agent.** {} services, each with a TTL check, through \
             `/v1/agent/service/register` on one client agent by {} concurrent clients, while the catalog above is loaded.\n",
            self.agent_services, self.agent_clients
        );
        match &self.agent_reg {
            Ok(a) => {
                let _ = writeln!(
                    md,
                    "| registered | failed | total s | first {b} /s | last {b} /s | last ÷ first |\n|---:|---:|---:|---:|---:|---:|\n\
                     | {} | {} | {:.1} | {:.0} | {:.0} | {:.2} |",
                    a.ok,
                    a.errors,
                    a.secs,
                    a.first_per_sec,
                    a.last_per_sec,
                    a.last_per_sec / a.first_per_sec.max(1e-9),
                    b = a.block,
                );
            }
            Err(e) => {
                let _ = writeln!(md, "Failed: {}", e.replace('\n', " "));
            }
        }

        // The keys.
        let _ = writeln!(
            md,
            "\n**{} keys: praetor (three servers) and etcd 3.4 (three members)**, fresh clusters, both running during \
             this part; each row runs on one side, then on the other. The keys (`bench/load/…`, {}-byte values) are \
             loaded in transactions of 64 puts (praetor `/v1/txn`, etcd `Txn`) by {} clients, streamed; puts and gets: \
             {} closed-loop clients for {} s each (puts durable to new keys, gets of random loaded keys in the default \
             consistency); the prefix read is `?recurse` / a prefix range of `bench/load/000` (10 000 keys, {} times); \
             watches: {} streams on one prefix (praetor's `/v1/watch/kv/` stream, etcd's watch API), {} puts {} ms apart; \
             snapshot: praetor's `GET /v1/snapshot` and etcd's maintenance Snapshot (what `etcdctl snapshot save` reads) \
             through member 1, read to the end; restart: member 1 killed with SIGKILL and started again, until it answers a local read of the last loaded \
             key, and a default-consistency one.\n",
            self.kv_keys,
            crate::workload::VALUE_SIZE,
            self.load_concurrency,
            self.kv_clients,
            self.duration_secs,
            5,
            self.kv_watchers,
            50,
            100,
        );
        match &self.kv {
            Some(kv) => kv_table(md, kv, self.kv_keys),
            None => {
                let _ = writeln!(md, "No results.");
            }
        }
        if !self.kv_cpu.is_empty() {
            let _ = writeln!(
                md,
                "\nCPU seconds per row (servers summed over members):\n\n\
                 | row | praetor wall s | praetor server CPU s | client CPU s (praetor) | etcd wall s | etcd server CPU s | client CPU s (etcd) |\n\
                 |---|---:|---:|---:|---:|---:|---:|"
            );
            cpu_rows(md, &self.kv_cpu);
        }
        let mut notes = self.notes.clone();
        if let Some(e) = &self.error {
            notes.push(format!("the phase stopped early: {e}"));
        }
        if !notes.is_empty() {
            let _ = writeln!(md, "\nNotes:\n");
            for n in notes {
                let _ = writeln!(md, "- {}", n.replace('\n', " "));
            }
        }
        if let Some(c) = self.catalog_cmds.first() {
            let _ = writeln!(md, "\nA catalog server was started as:\n\n    {c}");
        }
        if let Some(c) = self.catalog_cmds.get(3) {
            let _ = writeln!(md, "\nA client agent as:\n\n    {c}");
        }
        if let Some(c) = self.kv_etcd_cmds.first() {
            let _ = writeln!(md, "\nAn etcd member as:\n\n    {c}");
        }
    }
}

fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 {
        format!("{:.2}×", a / b)
    } else {
        "–".into()
    }
}

fn rss_mib(r: &Outcome<Rss>) -> String {
    r.as_ref().map_or_else(
        |_| "–".into(),
        |r| format!("{:.0}", r.total_kib as f64 / 1024.0),
    )
}

fn restart_row(md: &mut String, what: &str, r: &Outcome<Restart>) {
    match r {
        Ok(r) => {
            let _ = writeln!(
                md,
                "| {what} {} (SIGKILL, start) to serving a local read of the last write / a consistent read | {:.2} s / {:.2} s |",
                r.member, r.local_secs, r.consistent_secs
            );
        }
        Err(e) => {
            let _ = writeln!(md, "| {what} a member | failed: {} |", e.replace('\n', " "));
        }
    }
}

fn kv_table(md: &mut String, kv: &Pair<KvSide>, keys: u64) {
    let _ = writeln!(
        md,
        "| measure | praetor | etcd | praetor ÷ etcd |\n|---|---:|---:|---:|"
    );
    let tp = |o: &Outcome<Throughput>| o.as_ref().ok().map(|t| t.ops_per_sec);
    let row =
        |md: &mut String, label: &str, p: Option<f64>, e: Option<f64>, fmt: fn(f64) -> String| {
            let cell = |v: Option<f64>| v.map_or_else(|| "failed".to_owned(), fmt);
            let r = match (p, e) {
                (Some(p), Some(e)) => ratio(p, e),
                _ => "–".into(),
            };
            let _ = writeln!(md, "| {label} | {} | {} | {r} |", cell(p), cell(e));
        };
    let secs = |o: &Outcome<Throughput>| o.as_ref().ok().map(|t| t.secs);
    row(
        md,
        "load time, s",
        secs(&kv.praetor.load),
        secs(&kv.etcd.load),
        |v| format!("{v:.1}"),
    );
    row(
        md,
        "load, keys/s",
        tp(&kv.praetor.load),
        tp(&kv.etcd.load),
        |v| format!("{v:.0}"),
    );
    let sum = |v: &[Outcome<Rss>]| {
        v.iter()
            .map(|r| r.as_ref().ok().map(|r| r.total_kib))
            .sum::<Option<u64>>()
            .map(|k| k as f64 / 1024.0)
    };
    row(
        md,
        "RSS idle, MiB (3 members)",
        sum(&kv.praetor.rss_idle),
        sum(&kv.etcd.rss_idle),
        |v| format!("{v:.0}"),
    );
    row(
        md,
        "RSS loaded, MiB (3 members)",
        sum(&kv.praetor.rss_loaded),
        sum(&kv.etcd.rss_loaded),
        |v| format!("{v:.0}"),
    );
    row(
        md,
        "RSS gained per key, bytes (3 members)",
        kv.praetor.rss_per_key(keys),
        kv.etcd.rss_per_key(keys),
        |v| format!("{v:.0}"),
    );
    let disk = |d: &[u64]| d.first().map(|&b| b as f64 / 1048576.0);
    row(
        md,
        "data directory of one member, MiB",
        disk(&kv.praetor.disk),
        disk(&kv.etcd.disk),
        |v| format!("{v:.1}"),
    );
    row(
        md,
        "data directory per key, bytes (one member)",
        kv.praetor.disk_per_key(keys),
        kv.etcd.disk_per_key(keys),
        |v| format!("{v:.0}"),
    );
    row(md, "puts/s", tp(&kv.praetor.puts), tp(&kv.etcd.puts), |v| {
        format!("{v:.0}")
    });
    let p = |o: &Outcome<Throughput>, f: fn(&Throughput) -> f64| o.as_ref().ok().map(f);
    row(
        md,
        "put p50 ms",
        p(&kv.praetor.puts, |t| t.p50_ms),
        p(&kv.etcd.puts, |t| t.p50_ms),
        |v| format!("{v:.2}"),
    );
    row(
        md,
        "put p99 ms",
        p(&kv.praetor.puts, |t| t.p99_ms),
        p(&kv.etcd.puts, |t| t.p99_ms),
        |v| format!("{v:.2}"),
    );
    row(md, "gets/s", tp(&kv.praetor.gets), tp(&kv.etcd.gets), |v| {
        format!("{v:.0}")
    });
    row(
        md,
        "get p50 ms",
        p(&kv.praetor.gets, |t| t.p50_ms),
        p(&kv.etcd.gets, |t| t.p50_ms),
        |v| format!("{v:.2}"),
    );
    row(
        md,
        "get p99 ms",
        p(&kv.praetor.gets, |t| t.p99_ms),
        p(&kv.etcd.gets, |t| t.p99_ms),
        |v| format!("{v:.2}"),
    );
    row(
        md,
        "prefix read of 10 000 keys, p50 ms",
        p(&kv.praetor.prefix, |t| t.p50_ms),
        p(&kv.etcd.prefix, |t| t.p50_ms),
        |v| format!("{v:.1}"),
    );
    let n = |o: &Outcome<Notify>, f: fn(&Notify) -> f64| o.as_ref().ok().map(f);
    row(
        md,
        "watch notification p50 ms",
        n(&kv.praetor.notify, |x| x.p50_ms),
        n(&kv.etcd.notify, |x| x.p50_ms),
        |v| format!("{v:.2}"),
    );
    row(
        md,
        "watch notification p99 ms",
        n(&kv.praetor.notify, |x| x.p99_ms),
        n(&kv.etcd.notify, |x| x.p99_ms),
        |v| format!("{v:.2}"),
    );
    row(
        md,
        "watch events received ÷ expected",
        n(&kv.praetor.notify, |x| {
            x.received as f64 / x.expected.max(1) as f64
        }),
        n(&kv.etcd.notify, |x| {
            x.received as f64 / x.expected.max(1) as f64
        }),
        |v| format!("{v:.3}"),
    );
    let rs = |o: &Outcome<Restart>, f: fn(&Restart) -> f64| o.as_ref().ok().map(f);
    row(
        md,
        "restart to a local read of the last key, s",
        rs(&kv.praetor.restart, |r| r.local_secs),
        rs(&kv.etcd.restart, |r| r.local_secs),
        |v| format!("{v:.2}"),
    );
    row(
        md,
        "restart to a default-consistency read, s",
        rs(&kv.praetor.restart, |r| r.consistent_secs),
        rs(&kv.etcd.restart, |r| r.consistent_secs),
        |v| format!("{v:.2}"),
    );
    let snap = |s: &Option<Outcome<Snapshot>>, f: fn(&Snapshot) -> f64| {
        s.as_ref().and_then(|o| o.as_ref().ok()).map(f)
    };
    row(
        md,
        "snapshot through member 1 (praetor `GET /v1/snapshot`, etcd maintenance Snapshot), MiB",
        snap(&kv.praetor.snapshot, |s| s.bytes as f64 / 1048576.0),
        snap(&kv.etcd.snapshot, |s| s.bytes as f64 / 1048576.0),
        |v| format!("{v:.1}"),
    );
    row(
        md,
        "snapshot time, s",
        snap(&kv.praetor.snapshot, |s| s.secs),
        snap(&kv.etcd.snapshot, |s| s.secs),
        |v| format!("{v:.2}"),
    );
    let mib = |kib: Option<u64>| kib.map(|k| k as f64 / 1024.0);
    let snap_mib = |s: &Option<Outcome<Snapshot>>, f: fn(&Snapshot) -> Option<u64>| {
        mib(s.as_ref().and_then(|o| o.as_ref().ok()).and_then(f))
    };
    row(
        md,
        "RSS of member 1 before the snapshot, MiB",
        snap_mib(&kv.praetor.snapshot, |s| s.rss_before_kib),
        snap_mib(&kv.etcd.snapshot, |s| s.rss_before_kib),
        |v| format!("{v:.0}"),
    );
    row(
        md,
        "peak RSS of member 1 while the snapshot was read, MiB",
        snap_mib(&kv.praetor.snapshot, |s| s.peak_rss_kib),
        snap_mib(&kv.etcd.snapshot, |s| s.peak_rss_kib),
        |v| format!("{v:.0}"),
    );
    let restored = kv.praetor.snapshot.as_ref().and_then(|o| o.as_ref().ok());
    if let Some(restore) = restored.and_then(|s| s.restore_secs) {
        let _ = writeln!(
            md,
            "| restore of that snapshot on the running cluster (`PUT /v1/snapshot`, streamed), s | {restore:.2} | – (etcd restores offline only) | – |"
        );
    }
    if let Some(peak) = mib(restored.and_then(|s| s.restore_peak_rss_kib)) {
        let _ = writeln!(
            md,
            "| highest peak RSS of a member during that restore, MiB | {peak:.0} | – | – |"
        );
    }
    row(
        md,
        "peak RSS of the restarted member until it served, MiB",
        mib(kv
            .praetor
            .restart
            .as_ref()
            .ok()
            .and_then(|r| r.peak_rss_kib)),
        mib(kv.etcd.restart.as_ref().ok().and_then(|r| r.peak_rss_kib)),
        |v| format!("{v:.0}"),
    );
    for (side, s) in [("praetor", &kv.praetor), ("etcd", &kv.etcd)] {
        for (what, o) in [
            ("load", &s.load),
            ("puts", &s.puts),
            ("gets", &s.gets),
            ("prefix read", &s.prefix),
        ] {
            if let Err(e) = o {
                let _ = writeln!(md, "\n{side} {what}: {}", e.replace('\n', " "));
            }
        }
        if let Err(e) = &s.notify {
            let _ = writeln!(md, "\n{side} watch: {}", e.replace('\n', " "));
        }
        if let Err(e) = &s.restart {
            let _ = writeln!(md, "\n{side} restart: {}", e.replace('\n', " "));
        }
        if let Some(Err(e)) = &s.snapshot {
            let _ = writeln!(md, "\n{side} snapshot: {}", e.replace('\n', " "));
        }
    }
}

impl crate::phase::PhaseReport for ScaleReport {
    fn set_error(&mut self, error: String) {
        self.error = Some(error);
    }

    fn standalone_markdown(&self) -> String {
        crate::phase::standalone(
            "Scale benchmark (scale phase only)",
            &self.command,
            &self.date,
            |md| self.section(md, 14),
        )
    }
}

/// A count of failures with what failed: `429 (connect 400, HTTP 503 29)`.
fn failures(total: u64, kinds: &std::collections::BTreeMap<String, u64>) -> String {
    if kinds.is_empty() {
        return total.to_string();
    }
    let each: Vec<String> = kinds.iter().map(|(k, n)| format!("{k} {n}")).collect();
    format!("{total} ({})", each.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watch(watchers: usize, net_cpu: f64) -> WatchRun {
        WatchRun {
            watchers,
            hot_watchers: 50,
            flips: 20,
            early_returns: 0,
            watcher_errors: 0,
            watcher_error_kinds: Default::default(),
            quiet_secs: Some(1.0),
            other_returns: 0,
            missed: 0,
            write_errors: 0,
            per_watcher_p50_ms: 10.0,
            per_watcher_p99_ms: 40.0,
            per_watcher_max_ms: 50.0,
            all_p50_ms: 30.0,
            all_p99_ms: 60.0,
            all_max_ms: 60.0,
            server_cpu_ms_per_change: net_cpu + 1.0,
            server_idle_cpu_ms_per_sec: 5.0,
            server_net_cpu_ms_per_change: net_cpu,
            all_cpu_ms_per_change: net_cpu + 2.0,
            flips_secs: 8.0,
        }
    }

    fn report() -> ScaleReport {
        let mut r = ScaleReport::new("cmd".into(), "date".into(), "pv".into(), "ev".into());
        r.nodes = 10;
        r.instances_per_node = 2;
        r.watch.push(Ok(watch(5000, 10.0)));
        r.watch.push(Ok(watch(500, 9.0)));
        r.agent_reg = Ok(AgentReg {
            services: 5000,
            ok: 5000,
            errors: 0,
            secs: 10.0,
            block: 1000,
            first_per_sec: 700.0,
            last_per_sec: 300.0,
        });
        r
    }

    #[test]
    fn verdicts_compare_cpu_per_change_between_watcher_counts_and_registration_rates() {
        let v = report().verdicts();
        assert!(
            v[0].starts_with("- **Met**") && v[0].contains("5000 watchers"),
            "{v:?}"
        );
        assert!(
            v[1].starts_with("- **Met**") && v[1].contains("1.11×"),
            "{v:?}"
        );
        assert!(
            v[2].starts_with("- **Not met**") && v[2].contains("43%"),
            "{v:?}"
        );
        let mut r = report();
        r.watch[0] = Ok(watch(5000, 20.0));
        let v = r.verdicts();
        assert!(
            v[1].starts_with("- **Not met**") && v[1].contains("2.22×"),
            "{v:?}"
        );
    }

    fn rss(kib: u64) -> Outcome<Rss> {
        Ok(Rss {
            total_kib: kib,
            anon_kib: kib,
            file_kib: 0,
        })
    }

    #[test]
    fn there_are_always_four_scale_goals_and_missing_numbers_are_not_measured() {
        let r = ScaleReport::new("c".into(), "d".into(), "pv".into(), "ev".into());
        let g = r.goals();
        assert_eq!(g.len(), 4, "{g:?}");
        assert!(g.iter().all(|g| g.met.is_none()), "{g:?}");
        assert!(
            g[3].line()
                .starts_with("- **Not measured**: RSS per 256-byte key"),
            "{g:?}"
        );
    }

    #[test]
    fn catalog_memory_and_disk_are_reported_per_instance_and_keys_per_key_on_both_sides() {
        let mut r = report();
        // 20 instances; servers gain 2 MiB and 4 MiB: a mean of 3 MiB over 20.
        r.catalog_rss_idle = vec![rss(1024), rss(1024)];
        r.catalog_rss = vec![rss(3072), rss(5120)];
        r.catalog_disk = vec![2000];
        assert_eq!(r.catalog_rss_per_instance(), Some(3.0 * 1048576.0 / 20.0));
        assert_eq!(r.catalog_disk_per_instance(), Some(100.0));
        r.kv_keys = 1000;
        let side = |gain_kib: u64, disk: u64, snap: u64| KvSide {
            rss_idle: vec![rss(1000); 3],
            rss_loaded: vec![rss(1000 + gain_kib); 3],
            disk: vec![disk; 3],
            snapshot: Some(Ok(Snapshot {
                bytes: snap,
                secs: 0.5,
                restore_secs: Some(1.5),
                rss_before_kib: Some(1000 + gain_kib),
                peak_rss_kib: Some(2048 + gain_kib),
                restore_peak_rss_kib: Some(4096),
            })),
            ..KvSide::default()
        };
        r.kv = Some(Pair {
            praetor: side(100, 300_000, 1048576),
            etcd: side(300, 900_000, 2 * 1048576),
        });
        let g = r.goals();
        // 3 × 100 KiB over 1000 keys against 3 × 300 KiB: one third.
        assert_eq!(g[3].met, Some(true), "{g:?}");
        assert!(g[3].text.contains("307 B against 922 B (0.33×)"), "{g:?}");
        let mut md = String::new();
        r.section(&mut md, 16);
        assert!(
            md.contains("| RSS gained per service instance (mean of the servers) | 157286 bytes |"),
            "{md}"
        );
        assert!(md.contains("(100 bytes per instance)"), "{md}");
        assert!(
            md.contains("| data directory per key, bytes (one member) | 300 | 900 | 0.33× |"),
            "{md}"
        );
        assert!(
            md.contains("etcd maintenance Snapshot), MiB | 1.0 | 2.0 | 0.50× |"),
            "{md}"
        );
        assert!(
            md.contains("| snapshot time, s | 0.50 | 0.50 | 1.00× |"),
            "{md}"
        );
        assert!(
            md.contains(
                "(`PUT /v1/snapshot`, streamed), s | 1.50 | – (etcd restores offline only)"
            ),
            "{md}"
        );
        assert!(
            md.contains(
                "| peak RSS of member 1 while the snapshot was read, MiB | 2 | 2 | 0.91× |"
            ),
            "{md}"
        );
        assert!(
            md.contains("| highest peak RSS of a member during that restore, MiB | 4 | – | – |"),
            "{md}"
        );
        let item4 = r.memory_and_disk();
        assert_eq!(
            item4,
            vec![
                "catalog of 20 instances (praetor): 157286 bytes of RSS per instance per server, 100 bytes of \
                 data directory per instance"
                    .to_owned(),
                "1000 keys, praetor: 307 B RSS per key (three members), 300 B of data directory per key (one \
                 member), snapshot 1.0 MiB in 0.50 s (RSS 1 MiB before, peak 2 MiB), restore 1.50 s (peak RSS \
                 of a member 4 MiB)"
                    .to_owned(),
                "1000 keys, etcd: 922 B RSS per key (three members), 900 B of data directory per key (one \
                 member), snapshot 2.0 MiB in 0.50 s (RSS 1 MiB before, peak 2 MiB), restore 1.50 s (peak RSS \
                 of a member 4 MiB)"
                    .to_owned(),
            ]
        );
        assert!(md.contains("Memory and disk (issue 17, item 4)"), "{md}");
    }

    #[test]
    fn a_report_read_back_from_its_json_renders_the_same_section() {
        let r = report();
        let json = serde_json::to_vec(&r).unwrap_or_default();
        let back: ScaleReport = serde_json::from_slice(&json).unwrap_or_else(|e| panic!("{e}"));
        let (mut a, mut b) = (String::new(), String::new());
        r.section(&mut a, 16);
        back.section(&mut b, 16);
        assert_eq!(a, b);
        assert!(a.contains("## 16. Scale: a 20-instance catalog"), "{a}");
        assert!(a.contains("| 5000 | 50 | 20 |"), "{a}");
    }
}
