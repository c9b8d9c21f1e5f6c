//! The health phase's results (the `health` subcommand's JSON) and their
//! sections of BENCHMARKS.md: registrations, health queries, propagation
//! between client agents, and the memory of open blocking watchers, with
//! the two goals they decide. praetor only; computed from the numbers, like
//! the rest of the report.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::{cell, mib, ms, ops, Config, Notes, Outcome};
use crate::health::{Wake, CHECK_TTL, WATCH_WAIT};
use crate::machine::Rss;
use crate::stats::{Samples, Throughput};

/// Propagation goal: every flip seen by the other client within this many ms.
const PROPAGATION_GOAL_MS: f64 = 1000.0;
/// Memory goal: an agent's RSS grows by less than this many bytes (50 MB)
/// with the watchers open.
const MEMORY_GOAL_BYTES: u64 = 50_000_000;

/// A labelled measurement, or why it could not be made.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row<T> {
    pub label: String,
    pub result: Outcome<T>,
}

/// One registration row, on a fresh single server.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegRow {
    pub throughput: Throughput,
    /// Registrations acknowledged in each second of the timed window.
    pub per_second: Vec<u64>,
    /// Acknowledged registrations plus one warm-up registration per client.
    pub registered: u64,
    /// Instances `/v1/catalog/service/<name>` listed at the end.
    pub in_catalog: u64,
    /// Seconds from the end of the timed window until the catalog listed
    /// every registered instance; `None` if it never did within the bound.
    pub catalog_lag_s: Option<f64>,
    pub wall_s: f64,
    pub agent_cpu_s: f64,
    pub client_cpu_s: f64,
    /// (Agent rows) the size of the agent's saved services and checks
    /// (`local/`) at the end.
    pub state_file_bytes: Option<u64>,
    /// The agent's RSS at the end, KiB.
    pub rss_kib: Option<u64>,
}

/// The health catalog as registered before the query rows.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Load {
    pub instances: u64,
    pub secs: f64,
}

/// One health-query row.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueryRow {
    pub throughput: Throughput,
    pub wall_s: f64,
    pub agent_cpu_s: f64,
    pub client_cpu_s: f64,
}

/// The watchers open during the query rows: whether they stayed blocked,
/// and whether a change woke each.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueryWatchers {
    pub returned_during_rows: usize,
    pub wake: Wake,
}

/// Another process's RSS before and with the watchers open (the servers
/// behind a client agent).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OtherRss {
    pub name: String,
    pub before_kib: u64,
    pub open_kib: u64,
}

/// The memory an agent's open blocking watchers cost.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MemRow {
    pub agent: String,
    pub watchers: usize,
    pub before: Rss,
    pub open: Rss,
    /// Settled after every watcher returned.
    pub after_wake: Rss,
    pub sockets_before: usize,
    pub sockets_open: usize,
    /// Seconds from the last connection accepted to the RSS sample.
    pub settle_s: f64,
    /// Watchers that had returned before their change (should be 0).
    pub returned_early: usize,
    pub wake: Wake,
    pub others: Vec<OtherRss>,
    /// The same again, once the first round's watchers have returned.
    pub second: SecondRound,
}

/// A second round of watchers on the same agent.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SecondRound {
    pub open: Rss,
    pub after_wake: Rss,
    pub returned_early: usize,
    pub wake: Wake,
}

impl MemRow {
    fn delta_kib(&self) -> i64 {
        self.open.total_kib as i64 - self.before.total_kib as i64
    }
}

/// One check flip on client A as client B's blocking query saw it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Flip {
    /// The status flipped to.
    pub to: String,
    /// From sending the check PUT on A to B's query returning with it.
    pub ms: f64,
    /// The check PUT's own latency.
    pub put_ms: f64,
    /// How many times B's blocking query returned for this flip (1: only
    /// with the change).
    pub returns: u32,
}

/// The propagation trials.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Propagation {
    /// From registering the service on A to B seeing it passing.
    pub registered_ms: f64,
    pub flips: Vec<Flip>,
    /// Flips B's query did not return with, and why.
    pub failed: Vec<String>,
}

/// p50, p99 and max of `v` (nearest rank), in the unit given.
fn pcts(v: impl Iterator<Item = f64>) -> (f64, f64, f64) {
    let mut s = Samples::default();
    for x in v {
        s.push(std::time::Duration::from_secs_f64(x / 1000.0));
    }
    (
        s.percentile_ms(50.0),
        s.percentile_ms(99.0),
        s.percentile_ms(100.0),
    )
}

/// Everything the health phase measured.
#[derive(Debug, Serialize, Deserialize)]
pub struct HealthReport {
    pub config: Config,
    pub command: String,
    pub date: String,
    pub praetor_version: String,
    /// How each single server was started (`<row>` stands for the row).
    pub agent_cmd: String,
    /// How the propagation cluster's agents were started.
    pub cluster_cmds: Vec<String>,
    pub load_before: String,
    pub load_after: String,
    /// /proc/loadavg after the registration rows (section 7's), and after
    /// the query and watcher-memory rows on the loaded single server.
    #[serde(default)]
    pub load_after_registrations: String,
    #[serde(default)]
    pub load_after_queries: String,
    pub registrations: Vec<Row<RegRow>>,
    pub health_load: Outcome<Load>,
    pub queries: Vec<Row<QueryRow>>,
    pub query_watchers: Outcome<QueryWatchers>,
    /// Why the query part stopped early, if it did.
    pub queries_error: Option<String>,
    pub memory: Vec<Row<MemRow>>,
    /// Seconds from starting the cluster's agents to all serving.
    pub cluster_formed: Outcome<f64>,
    pub propagation: Outcome<Propagation>,
    /// Why the cluster part stopped early, if it did.
    pub cluster_error: Option<String>,
    /// Agents that exited on their own or needed SIGKILL.
    pub stopped: Vec<String>,
    /// Why the phase stopped early, if it did.
    pub error: Option<String>,
}

fn not_run<T>() -> Outcome<T> {
    Err("not run".into())
}

/// A load average, or "not recorded" (results from an older bench).
fn or_unknown(load: &str) -> &str {
    if load.is_empty() {
        "not recorded"
    } else {
        load
    }
}

impl HealthReport {
    pub fn new(config: Config, command: String, date: String, praetor_version: String) -> Self {
        Self {
            config,
            command,
            date,
            praetor_version,
            agent_cmd: String::new(),
            cluster_cmds: Vec::new(),
            load_before: String::new(),
            load_after: String::new(),
            load_after_registrations: String::new(),
            load_after_queries: String::new(),
            registrations: Vec::new(),
            health_load: not_run(),
            queries: Vec::new(),
            query_watchers: not_run(),
            queries_error: None,
            memory: Vec::new(),
            cluster_formed: not_run(),
            propagation: not_run(),
            cluster_error: None,
            stopped: Vec::new(),
            error: None,
        }
    }

    /// The two health goals as "Where it stands" lines, each with whether
    /// it was met.
    pub fn goals(&self) -> Vec<(bool, String)> {
        let mut out = Vec::new();

        // Propagation within 1 s, every flip seen.
        let want = self.config.flips;
        out.push(match &self.propagation {
            Ok(p) if !p.flips.is_empty() => {
                let (p50, p99, max) = pcts(p.flips.iter().map(|f| f.ms));
                let met = p.failed.is_empty() && p.flips.len() == want && max < PROPAGATION_GOAL_MS;
                let mut t = format!(
                    "praetor health propagation < {PROPAGATION_GOAL_MS:.0} ms (TTL check flipped on client agent A → \
                     a blocking `/v1/health/service` query on client agent B returns with it): p50 {} ms, p99 {} ms, \
                     max {} ms over {} flips",
                    ms(p50),
                    ms(p99),
                    ms(max),
                    p.flips.len()
                );
                if !p.failed.is_empty() {
                    let _ = write!(t, "; **{} flips never reached B**", p.failed.len());
                }
                (met, t)
            }
            Ok(p) => (
                false,
                format!(
                    "praetor health propagation < {PROPAGATION_GOAL_MS:.0} ms: no flip measured ({} failed)",
                    p.failed.len()
                ),
            ),
            Err(e) => (
                false,
                format!(
                    "praetor health propagation < {PROPAGATION_GOAL_MS:.0} ms: not measured ({})",
                    e.replace('\n', " ")
                ),
            ),
        });

        // Memory per 1 000 open watchers under 50 MB on every agent measured.
        let mut met = !self.memory.is_empty();
        let mut notes = Vec::new();
        for row in &self.memory {
            match &row.result {
                Ok(m) => {
                    let delta = m.delta_kib();
                    let ok = delta * 1024 < MEMORY_GOAL_BYTES as i64 && m.returned_early == 0;
                    met &= ok;
                    let mut t = format!(
                        "{} +{:.1} MiB with {} watchers",
                        row.label,
                        delta as f64 / 1024.0,
                        m.watchers
                    );
                    if m.returned_early > 0 {
                        let _ = write!(
                            t,
                            " (**{} had returned before the sample, so it undercounts**)",
                            m.returned_early
                        );
                    }
                    if m.wake.woke < m.watchers {
                        let _ = write!(
                            t,
                            " (**{} of {} did not return on their change**)",
                            m.watchers - m.wake.woke,
                            m.watchers
                        );
                    }
                    notes.push(t);
                }
                Err(e) => {
                    met = false;
                    notes.push(format!(
                        "{}: not measured ({})",
                        row.label,
                        e.replace('\n', " ")
                    ));
                }
            }
        }
        if self.memory.is_empty() {
            notes.push("not measured".into());
        }
        out.push((
            met,
            format!(
                "praetor RSS growth with {} open blocking health watchers < 50 MB (47.7 MiB): {}",
                self.config.memory_watchers,
                notes.join("; ")
            ),
        ));
        out
    }

    /// The health sections of BENCHMARKS.md, numbered from `first`.
    pub fn sections(&self, md: &mut String, first: usize) {
        let around = |before: &str, after: &str| super::Around {
            before: before.to_owned(),
            after: after.to_owned(),
        };
        let (lr, lq) = (&self.load_after_registrations, &self.load_after_queries);
        self.registrations_section(md, first);
        let _ = writeln!(
            md,
            "\n{}",
            around(&self.load_before, lr).sentence("these rows")
        );
        self.queries_section(md, first + 1);
        let _ = writeln!(
            md,
            "\n{}",
            around(lr, lq).sentence(&format!(
                "these rows (the loaded server's part, with section {}'s server rows)",
                first + 3
            ))
        );
        self.propagation_section(md, first + 2);
        let _ = writeln!(
            md,
            "\n{}",
            around(lq, &self.load_after).sentence(&format!(
                "these flips (the cluster's part, with section {}'s client-agent rows)",
                first + 3
            ))
        );
        self.memory_section(md, first + 3);
        let _ = writeln!(
            md,
            "\nLoad average (1, 5, 15 min): the server rows ran with section {}'s ({} before, {} after), the \
             client-agent rows with section {}'s ({} before, {} after); the whole health phase: {} before, {} after.",
            first + 1,
            or_unknown(&self.load_after_registrations),
            or_unknown(&self.load_after_queries),
            first + 2,
            or_unknown(&self.load_after_queries),
            self.load_after,
            self.load_before,
            self.load_after
        );
        let mut notes = Notes::default();
        if let Some(e) = &self.error {
            notes.0.push(format!(
                "the health phase stopped early: {}",
                e.replace('\n', " ")
            ));
        }
        for s in &self.stopped {
            notes.0.push(format!("health phase: {s}"));
        }
        notes.write(md);
    }

    fn registrations_section(&self, md: &mut String, n: usize) {
        let c = &self.config;
        let _ = writeln!(
            md,
            "\n## {n}. Service registration (praetor only)\n\n\
             A separate phase, after the cluster phase: praetor alone, since Consul cannot be installed here, so \
             there is no comparison and no goal for these rows. Each row runs on a freshly started durable single \
             server on its own loopback address (127.0.11.x, default ports), started as `{cmd}`. Each client has \
             its own keep-alive connection and registers distinct instances of one service, one at a time, for \
             {d} s, after one warm-up registration:\n\n\
             - **agent**: `PUT /v1/agent/service/register` with a TTL check (`\"TTL\": \"{CHECK_TTL}\"`, initially \
             passing). The agent acknowledges once the service is in its local state and that state is saved \
             (`local/services/` and `local/checks/`, one file per entry, written on every change, not fsynced); anti-entropy then writes it to \
             the catalog through Raft. \"In catalog\" counts the instances `/v1/catalog/service/<name>` lists \
             afterwards, and \"caught up\" is how long after the timed window it took to list all of them.\n\
             - **catalog**: `PUT /v1/catalog/register` of a node (one per client), the instance and a passing \
             check: one Raft write, acknowledged once on disk.\n\n\
             \"First s → last s\" is the registrations acknowledged in the first and in the last second of the \
             window.\n\n\
             | path | clients | registrations/s | first s → last s | p50 ms | p99 ms | registered | in catalog | caught up after s | agent CPU s | client CPU s | local/ at the end, MiB | agent RSS at the end, MiB |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            cmd = self.agent_cmd,
            d = c.duration_secs,
        );
        let mut notes = Notes::default();
        for row in &self.registrations {
            let (path, clients) = row.label.split_once(" ×").unwrap_or((&row.label, ""));
            let r = &row.result;
            let t = |f: fn(&Throughput) -> String| cell(r, |x: &RegRow| f(&x.throughput));
            let _ = writeln!(
                md,
                "| {path} | {clients} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                t(ops),
                cell(r, |x| match (x.per_second.first(), x.per_second.last()) {
                    (Some(a), Some(b)) => format!("{a} → {b}"),
                    _ => "–".into(),
                }),
                t(|x| ms(x.p50_ms)),
                t(|x| ms(x.p99_ms)),
                cell(r, |x| x.registered.to_string()),
                cell(r, |x| x.in_catalog.to_string()),
                cell(r, |x| x
                    .catalog_lag_s
                    .map_or("never".into(), |s| format!("{s:.1}"))),
                cell(r, |x| format!("{:.1}", x.agent_cpu_s)),
                cell(r, |x| format!("{:.1}", x.client_cpu_s)),
                cell(r, |x| x.state_file_bytes.map_or("–".into(), |b| format!(
                    "{:.1}",
                    b as f64 / 1048576.0
                ))),
                cell(r, |x| x
                    .rss_kib
                    .map_or("–".into(), |k| format!("{:.1}", mib(k)))),
            );
            match r {
                Err(e) => notes.0.push(format!(
                    "registrations, {}: failed: {}",
                    row.label,
                    e.replace('\n', " ")
                )),
                Ok(x) => {
                    if x.throughput.errors > 0 {
                        notes.0.push(format!(
                            "registrations, {}: {} requests failed or timed out (not counted above)",
                            row.label, x.throughput.errors
                        ));
                    }
                    if x.in_catalog < x.registered {
                        notes.0.push(format!(
                            "**registrations, {}: only {} of {} acknowledged registrations reached the catalog**",
                            row.label, x.in_catalog, x.registered
                        ));
                    }
                }
            }
        }
        if self.registrations.is_empty() {
            notes.0.push("no registration row was run".into());
        }
        notes.write(md);
    }

    fn queries_section(&self, md: &mut String, n: usize) {
        let c = &self.config;
        let per = c.health_instances;
        let load = cell(&self.health_load, |l| {
            format!(
                "{} instances in {:.1} s ({:.0}/s)",
                l.instances,
                l.secs,
                l.instances as f64 / l.secs.max(1e-9)
            )
        });
        let _ = writeln!(
            md,
            "\n## {n}. Health queries on a loaded catalog (praetor only)\n\n\
             Another fresh single server, as above. First {services} services × {per} instances are registered \
             through `PUT /v1/catalog/register` with {w} concurrent clients, instance j of every service on fake \
             node `bench-node-j`, each with one check: passing, except the last instance's, which is critical, so \
             that `?passing` answers {pass} of {per} ({load}). Then {watchers} blocking watchers open, each on its \
             own connection: `GET /v1/health/service/<name>?passing&index=<its current index>&wait={WATCH_WAIT}` \
             on {watchers} different services, and once the server has accepted all their connections, each row's \
             clients ask `GET /v1/health/service/<random one of the {services}>?passing`, one at a time, for {d} s \
             (default consistency; every answer is checked to hold {pass} entries). No goal is set for these rows.\n\n\
             | clients | queries/s | p50 ms | p99 ms | agent CPU s | client CPU s |\n\
             |---:|---:|---:|---:|---:|---:|",
            services = c.health_services,
            w = 16,
            pass = per.saturating_sub(1),
            watchers = c.health_watchers,
            d = c.duration_secs,
        );
        let mut notes = Notes::default();
        for row in &self.queries {
            let r = &row.result;
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} |",
                row.label,
                cell(r, |x| ops(&x.throughput)),
                cell(r, |x| ms(x.throughput.p50_ms)),
                cell(r, |x| ms(x.throughput.p99_ms)),
                cell(r, |x| format!("{:.1}", x.agent_cpu_s)),
                cell(r, |x| format!("{:.1}", x.client_cpu_s)),
            );
            match r {
                Err(e) => notes.0.push(format!(
                    "health queries ×{}: failed: {}",
                    row.label,
                    e.replace('\n', " ")
                )),
                Ok(x) if x.throughput.errors > 0 => notes.0.push(format!(
                    "health queries ×{}: {} requests failed, timed out or answered the wrong entries (not counted above)",
                    row.label, x.throughput.errors
                )),
                Ok(_) => {}
            }
        }
        if let Err(e) = &self.health_load {
            notes
                .0
                .push(format!("registering the catalog: {}", e.replace('\n', " ")));
        }
        match &self.query_watchers {
            Ok(q) => notes.0.push(format!(
                "The {} watchers: {} returned while the rows ran (expected 0: nothing they watch changed). Then the \
                 critical instance of each watched service was made passing (one catalog write each, {w} writers): \
                 {} of {} returned with a higher index{}, p50 {} ms, p99 {} ms, max {} ms from the write's start \
                 to the watcher's answer.",
                q.wake.watchers,
                q.returned_during_rows,
                q.wake.woke,
                q.wake.watchers,
                wake_problems(&q.wake),
                ms(q.wake.p50_ms),
                ms(q.wake.p99_ms),
                ms(q.wake.max_ms),
                w = 16,
            )),
            Err(e) => notes
                .0
                .push(format!("the watchers: {}", e.replace('\n', " "))),
        }
        if let Some(e) = &self.queries_error {
            notes
                .0
                .push(format!("this part stopped early: {}", e.replace('\n', " ")));
        }
        notes.write(md);
    }

    fn propagation_section(&self, md: &mut String, n: usize) {
        let formed = cell(&self.cluster_formed, |s| format!("{s:.1} s"));
        let cmds = self
            .cluster_cmds
            .iter()
            .map(|s| format!("  - `{s}`"))
            .collect::<Vec<_>>()
            .join("\n");
        let _ = writeln!(
            md,
            "\n## {n}. Health propagation between client agents (praetor only)\n\n\
             Three durable servers and two client agents (A = c1, B = c2), each on its own loopback address \
             (127.0.11.x, default ports), formed (servers agreeing on the leader and listing three Raft peers, \
             every agent listing all five nodes in the catalog) in {formed}:\n{cmds}\n\n\
             A service with a TTL check (`\"TTL\": \"{CHECK_TTL}\"`, initially passing) is registered on A \
             through `PUT /v1/agent/service/register`. Then {flips} times: read `GET /v1/health/service/<name>` \
             on B for its index; open the blocking query `…?index=<it>&wait={WATCH_WAIT}` on B (on its own \
             connection); 200 ms later send `PUT /v1/agent/check/fail/<id>` to A (`pass` on every other flip); \
             the time is from sending that PUT to B's blocking query returning with the check in the new status \
             (a return without it re-blocks at the returned index and counts as a spurious return). The path: \
             A's local state, A's anti-entropy sync (reads the node's services and checks from a server, writes \
             the difference through Raft), then the blocking query B forwarded to a server. Goal: within \
             {PROPAGATION_GOAL_MS:.0} ms.\n\n\
             | flips | measured | p50 ms | p99 ms | max ms | check PUT on A, p50 ms | spurious returns |\n\
             |---|---:|---:|---:|---:|---:|---:|",
            flips = self.config.flips,
        );
        let mut notes = Notes::default();
        match &self.propagation {
            Ok(p) => {
                for (label, filter) in [
                    ("all", None),
                    ("to critical (`fail`)", Some("critical")),
                    ("to passing (`pass`)", Some("passing")),
                ] {
                    let flips: Vec<&Flip> = p
                        .flips
                        .iter()
                        .filter(|f| filter.is_none_or(|s| f.to == s))
                        .collect();
                    if flips.is_empty() {
                        let _ = writeln!(md, "| {label} | 0 | – | – | – | – | – |");
                        continue;
                    }
                    let (p50, p99, max) = pcts(flips.iter().map(|f| f.ms));
                    let (put50, _, _) = pcts(flips.iter().map(|f| f.put_ms));
                    let spurious: u32 = flips.iter().map(|f| f.returns - 1).sum();
                    let _ = writeln!(
                        md,
                        "| {label} | {} | {} | {} | {} | {} | {spurious} |",
                        flips.len(),
                        ms(p50),
                        ms(p99),
                        ms(max),
                        ms(put50),
                    );
                }
                notes.0.push(format!(
                    "Registering the service on A to B first seeing it passing: {:.0} ms.",
                    p.registered_ms
                ));
                for f in &p.failed {
                    notes.0.push(format!("**{f}**"));
                }
            }
            Err(e) => notes
                .0
                .push(format!("not measured: {}", e.replace('\n', " "))),
        }
        if let Some(e) = &self.cluster_error {
            notes.0.push(format!(
                "the cluster part stopped early: {}",
                e.replace('\n', " ")
            ));
        }
        notes.write(md);
    }

    fn memory_section(&self, md: &mut String, n: usize) {
        let c = &self.config;
        let _ = writeln!(
            md,
            "\n## {n}. Memory of open blocking watchers (praetor only)\n\n\
             On the loaded single server of section {q} (after its query rows and their watchers), and on client \
             agent B of section {p} (after the flips, with {w} more services registered, one instance each): the \
             RSS (`VmRSS`) of the agent, settled (sampled every 500 ms from 2 s on until two samples differ by less \
             than 256 KiB), before and with {w} blocking `?passing` health watchers open on {w} different \
             services, each on its own connection, counted open once the agent holds that many more sockets. Then \
             a change to each watched service (one catalog write each, 16 writers) wakes them all, and the RSS is \
             sampled again once settled and their connections closed. Then a second round, the same, shows whether \
             the memory is reused. A client agent forwards each blocking query to a server, which holds the wait; \
             the servers' RSS change is listed under the table. \"Wake\" is from a change's write starting to its \
             watcher's answer. Goal: the agent's RSS grows by less than 50 MB (47.7 MiB) in the first round.\n\n\
             | agent | watchers | RSS before, MiB | RSS with them open, MiB | growth, MiB | per watcher, KiB | sockets opened | returned early | woke on their change | wake p50 / p99 / max ms | RSS after they returned, MiB | 2nd round: RSS open / after, MiB | 2nd round: woke, wake p99 ms |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            q = n - 2,
            p = n - 1,
            w = c.memory_watchers,
        );
        let mut notes = Notes::default();
        for row in &self.memory {
            let r = &row.result;
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                row.label,
                cell(r, |m| m.watchers.to_string()),
                cell(r, |m| format!("{:.1}", mib(m.before.total_kib))),
                cell(r, |m| format!("{:.1}", mib(m.open.total_kib))),
                cell(r, |m| format!("{:+.1}", m.delta_kib() as f64 / 1024.0)),
                cell(r, |m| format!(
                    "{:.1}",
                    m.delta_kib() as f64 / m.watchers.max(1) as f64
                )),
                cell(r, |m| (m.sockets_open.saturating_sub(m.sockets_before))
                    .to_string()),
                cell(r, |m| m.returned_early.to_string()),
                cell(r, |m| format!("{}/{}", m.wake.woke, m.watchers)),
                cell(r, |m| format!(
                    "{} / {} / {}",
                    ms(m.wake.p50_ms),
                    ms(m.wake.p99_ms),
                    ms(m.wake.max_ms)
                )),
                cell(r, |m| format!("{:.1}", mib(m.after_wake.total_kib))),
                cell(r, |m| format!(
                    "{:.1} / {:.1}",
                    mib(m.second.open.total_kib),
                    mib(m.second.after_wake.total_kib)
                )),
                cell(r, |m| format!(
                    "{}/{}, {}",
                    m.second.wake.woke,
                    m.watchers,
                    ms(m.second.wake.p99_ms)
                )),
            );
            match r {
                Ok(m) => {
                    if !m.others.is_empty() {
                        let list: Vec<String> = m
                            .others
                            .iter()
                            .map(|o| {
                                format!(
                                    "{} {:.1} → {:.1} MiB ({:+.1})",
                                    o.name,
                                    mib(o.before_kib),
                                    mib(o.open_kib),
                                    (o.open_kib as f64 - o.before_kib as f64) / 1024.0
                                )
                            })
                            .collect();
                        notes.0.push(format!(
                            "{}: the servers' RSS before and with the watchers open: {}.",
                            row.label,
                            list.join(", ")
                        ));
                    }
                    for (round, w, early) in [
                        ("first", &m.wake, m.returned_early),
                        ("second", &m.second.wake, m.second.returned_early),
                    ] {
                        let problems = wake_problems(w);
                        if !problems.is_empty() {
                            notes.0.push(format!(
                                "**{}, {round} round: the wake-up{problems}**",
                                row.label
                            ));
                        }
                        if early > 0 {
                            notes.0.push(format!(
                                "**{}, {round} round: {early} watchers had returned before the RSS sample**",
                                row.label
                            ));
                        }
                    }
                }
                Err(e) => notes
                    .0
                    .push(format!("{}: failed: {}", row.label, e.replace('\n', " "))),
            }
        }
        if self.memory.is_empty() {
            notes.0.push("not measured".into());
        }
        notes.write(md);
    }

    /// A report of the health phase alone (`bench/run.sh --health-only`).
    fn standalone_markdown_text(&self) -> String {
        let mut md = format!(
            "# Health benchmark: praetor (health phase only)\n\n\
             Written by `{}` on {}; BENCHMARKS.md is left as it was.\n\n\
             - praetor: `{}`\n- Load average (1, 5, 15 min) before the phase: {}; after: {}\n\n## Where it stands\n\n",
            self.command, self.date, self.praetor_version, self.load_before, self.load_after
        );
        for (met, text) in self.goals() {
            let _ = writeln!(md, "- **{}**: {text}.", if met { "Met" } else { "Not met" });
        }
        self.sections(&mut md, 1);
        md
    }
}

/// ", but …" naming watchers that failed to wake or wrote errors; empty when none.
fn wake_problems(w: &Wake) -> String {
    let mut p = Vec::new();
    if w.early > 0 {
        p.push(format!("{} returned before their change", w.early));
    }
    if w.missing > 0 {
        p.push(format!("{} failed or never returned", w.missing));
    }
    if w.write_errors > 0 {
        p.push(format!("{} of the writes failed", w.write_errors));
    }
    if p.is_empty() {
        String::new()
    } else {
        format!(", but {}", p.join(", "))
    }
}

impl crate::phase::PhaseReport for HealthReport {
    fn set_error(&mut self, error: String) {
        self.error = Some(error);
    }

    fn standalone_markdown(&self) -> String {
        self.standalone_markdown_text()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(clap::Parser)]
    struct Flags {
        #[command(flatten)]
        config: Config,
    }

    #[test]
    fn every_health_section_states_the_load_average_around_its_own_rows() {
        let config = <Flags as clap::Parser>::parse_from(["health"]).config;
        let mut r = HealthReport::new(config, "c".into(), "d".into(), "pv".into());
        r.load_before = "1.00 1.00 1.00".into();
        r.load_after_registrations = "2.00 2.00 2.00".into();
        r.load_after_queries = "3.00 3.00 3.00".into();
        r.load_after = "4.00 4.00 4.00".into();
        let mut md = String::new();
        r.sections(&mut md, 7);
        let section = |n: usize| {
            let start = md
                .find(&format!("\n## {n}. "))
                .unwrap_or_else(|| panic!("section {n} missing from {md}"));
            let end = md[start + 1..]
                .find("\n## ")
                .map_or(md.len(), |e| start + 1 + e);
            &md[start..end]
        };
        assert!(
            section(7).contains("before these rows: 1.00 1.00 1.00; after: 2.00 2.00 2.00."),
            "{}",
            section(7)
        );
        assert!(
            section(8).contains(": 2.00 2.00 2.00; after: 3.00 3.00 3.00."),
            "{}",
            section(8)
        );
        assert!(
            section(9).contains(": 3.00 3.00 3.00; after: 4.00 4.00 4.00."),
            "{}",
            section(9)
        );
        assert!(
            section(10).contains("the server rows ran with section 8's (2.00 2.00 2.00 before, 3.00 3.00 3.00 after)"),
            "{}",
            section(10)
        );
    }
}
