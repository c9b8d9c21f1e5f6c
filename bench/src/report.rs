//! The run's settings and results, and BENCHMARKS.md rendered from them.
//! Every statement in "Where it stands" is computed here from the numbers;
//! nothing in the report is written by hand. The cluster phase's part is in
//! `cluster`, the health phase's in `health`.

pub mod acl;
pub mod cluster;
pub mod federation;
pub mod health;
pub mod locks;
pub mod scale;
pub mod template;
pub mod tls;

use std::fmt::Write as _;

use clap::Args;
use serde::{Deserialize, Serialize};

use self::cluster::ClusterReport;
use self::health::HealthReport;
use self::locks::LocksReport;
use crate::machine::{Machine, Rss};
use crate::stats::{Notify, Throughput};
use crate::workload::VALUE_SIZE;

/// The workloads' parameters, identical for both sides.
#[derive(Args, Debug, Clone, Serialize, Deserialize)]
pub struct Config {
    /// Seconds each closed-loop row (puts, gets) runs per side.
    #[arg(long, default_value_t = 5)]
    pub duration_secs: u64,
    /// Concurrent clients for the put rows.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 16, 256])]
    pub put_clients: Vec<usize>,
    /// Concurrent clients for the get rows.
    #[arg(long, default_value_t = 16)]
    pub get_clients: usize,
    /// Keys loaded before measuring RSS; the get rows read among them.
    #[arg(long, default_value_t = 100_000)]
    pub load_keys: u64,
    /// Concurrent clients loading them.
    #[arg(long, default_value_t = 64)]
    pub load_clients: usize,
    /// Seconds after which a side's load gives up.
    #[arg(long, default_value_t = 150)]
    pub load_deadline_secs: u64,
    /// Watcher counts for the watch rows.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 100])]
    pub watchers: Vec<usize>,
    /// Puts the writer makes per watch row.
    #[arg(long, default_value_t = 500)]
    pub watch_puts: u64,
    /// Milliseconds between the starts of two of those puts.
    #[arg(long, default_value_t = 10)]
    pub watch_spacing_ms: u64,
    /// Leader-kill trials per cluster.
    #[arg(long, default_value_t = 5)]
    pub failover_trials: usize,
    /// After the kill, a new put starts this many milliseconds after the last.
    #[arg(long, default_value_t = 20)]
    pub failover_poll_ms: u64,
    /// Each of those puts gives up after this many milliseconds.
    #[arg(long, default_value_t = 500)]
    pub failover_put_timeout_ms: u64,
    /// Concurrent clients for the registration rows (health phase).
    #[arg(long, value_delimiter = ',', default_values_t = [1, 16, 64])]
    pub reg_clients: Vec<usize>,
    /// Services in the health catalog.
    #[arg(long, default_value_t = 1000)]
    pub health_services: usize,
    /// Instances of each (at least 2; the last one's check is critical).
    #[arg(long, default_value_t = 5)]
    pub health_instances: usize,
    /// Blocking watchers open during the health-query rows.
    #[arg(long, default_value_t = 100)]
    pub health_watchers: usize,
    /// Concurrent clients for the health-query rows.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 16])]
    pub health_query_clients: Vec<usize>,
    /// Open blocking watchers whose memory is measured.
    #[arg(long, default_value_t = 1000)]
    pub memory_watchers: usize,
    /// Check flips timed in the propagation measurement.
    #[arg(long, default_value_t = 50)]
    pub flips: usize,
    /// Lock hand-over trials per row (locks phase).
    #[arg(long, default_value_t = 3)]
    pub lock_trials: usize,
    /// Bound on one hand-over, from the kill to the new holder's start.
    #[arg(long, default_value_t = 120)]
    pub handover_deadline_secs: u64,
    /// Concurrent clients for the transaction rows (locks phase).
    #[arg(long, value_delimiter = ',', default_values_t = [1, 16])]
    pub txn_clients: Vec<usize>,
}

/// A measurement, or why it could not be made.
pub type Outcome<T> = Result<T, String>;

/// The same measurement on both sides.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pair<T> {
    pub praetor: T,
    pub etcd: T,
}

impl<T> Default for Pair<Outcome<T>> {
    fn default() -> Self {
        Self {
            praetor: Err("not run".into()),
            etcd: Err("not run".into()),
        }
    }
}

impl Default for Pair<bool> {
    fn default() -> Self {
        Self {
            praetor: true,
            etcd: true,
        }
    }
}

/// One goal's verdict, computed from the numbers: met, not met, or not
/// measured (counted as not met), with the numbers that decided it.
#[derive(Debug, Clone, PartialEq)]
pub struct Goal {
    pub met: Option<bool>,
    pub text: String,
}

impl Goal {
    pub fn judged(met: bool, text: String) -> Self {
        Self {
            met: Some(met),
            text,
        }
    }

    pub fn unmeasured(text: String) -> Self {
        Self { met: None, text }
    }

    /// Its line in a markdown list.
    pub fn line(&self) -> String {
        let word = match self.met {
            Some(true) => "Met",
            Some(false) => "Not met",
            None => "Not measured",
        };
        format!("- **{word}**: {}.", self.text)
    }
}

/// /proc/loadavg before and after a group of rows.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Around {
    pub before: String,
    pub after: String,
}

impl Around {
    /// The sentence a section states it in.
    pub fn sentence(&self, what: &str) -> String {
        let or = |l: &str| {
            if l.is_empty() {
                "not recorded".to_owned()
            } else {
                l.to_owned()
            }
        };
        format!(
            "Load average (1, 5, 15 min) before {what}: {}; after: {}.",
            or(&self.before),
            or(&self.after)
        )
    }
}

/// CPU seconds used while one side ran one row.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Cpu {
    pub wall_s: f64,
    /// By the server process.
    pub server_s: f64,
    /// By the bench client (this process).
    pub client_s: f64,
}

/// CPU used by both sides in one row.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CpuRow {
    pub label: String,
    pub cpu: Pair<Cpu>,
}

/// Everything measured in one run.
#[derive(Debug, Default, Serialize)]
pub struct Results {
    pub rss_idle: Pair<Outcome<Rss>>,
    pub load: Pair<Outcome<Throughput>>,
    pub rss_loaded: Pair<Outcome<Rss>>,
    pub disk_loaded: Pair<Outcome<u64>>,
    /// One per `Config::put_clients`.
    pub puts: Vec<Pair<Outcome<Throughput>>>,
    /// Default reads, then local reads.
    pub gets: Vec<Pair<Outcome<Throughput>>>,
    /// One per `Config::watchers`.
    pub notify: Vec<Pair<Outcome<Notify>>>,
    /// CPU used during each row, in the order run.
    pub cpu: Vec<CpuRow>,
    /// Whether each server was still running at the end.
    pub still_running: Pair<bool>,
    /// Load average around the rows of sections 1, 2, 3 and 4.
    pub load_puts: Around,
    pub load_gets: Around,
    pub load_notify: Around,
    pub load_memory: Around,
}

/// The whole report: where and how it ran, and what it measured.
#[derive(Debug, Serialize)]
pub struct Report {
    pub machine: Machine,
    pub command: String,
    pub date: String,
    pub praetor_version: String,
    pub etcd_version: String,
    pub praetor_cmd: String,
    pub etcd_cmd: String,
    /// /proc/loadavg before and after the workloads: other work on the machine skews the numbers.
    pub load_before: String,
    pub load_after: String,
    pub config: Config,
    pub results: Results,
    /// The cluster phase's results, when it was asked for: or why they
    /// could not be read.
    pub cluster: Option<Outcome<ClusterReport>>,
    /// The health phase's results, likewise.
    pub health: Option<Outcome<HealthReport>>,
    /// The locks phase's results, likewise.
    pub locks: Option<Outcome<LocksReport>>,
    /// The acl phase's results, likewise.
    pub acl: Option<Outcome<acl::AclReport>>,
    /// The tls phase's results, likewise.
    pub tls: Option<Outcome<tls::TlsReport>>,
    /// The scale phase's results, likewise.
    pub scale: Option<Outcome<scale::ScaleReport>>,
    /// The template phase's results, likewise.
    pub template: Option<Outcome<template::TemplateReport>>,
    /// The federation phase's results, likewise.
    pub federation: Option<Outcome<federation::FederationReport>>,
    /// bench/dns.sh's markdown section, likewise.
    pub dns: Option<Outcome<String>>,
    /// bench/run.sh's wall-clock seconds per phase before the single-server
    /// rows, in the order run.
    pub phase_times: Vec<(String, u64)>,
    /// Wall-clock seconds of the single-server rows (sections 1–4).
    pub single_secs: f64,
}

/// bench/run.sh's phase times file: one `name seconds` a line; other lines
/// are skipped.
pub fn parse_phase_times(text: &str) -> Vec<(String, u64)> {
    text.lines()
        .filter_map(|l| {
            let (name, secs) = l.trim().rsplit_once(' ')?;
            Some((name.trim().to_owned(), secs.parse().ok()?))
        })
        .collect()
}

/// The "This run" line listing the phases' wall-clock times and their sum.
fn phase_times_line(phases: &[(String, u64)], single_secs: f64) -> Option<String> {
    if phases.is_empty() {
        return None;
    }
    let single = single_secs.round() as u64;
    let total: u64 = phases.iter().map(|p| p.1).sum::<u64>() + single;
    let list = phases
        .iter()
        .map(|(n, s)| format!("{n} {s} s"))
        .chain(std::iter::once(format!("single servers {single} s")))
        .collect::<Vec<_>>()
        .join(", ");
    Some(format!(
        "- Wall-clock time per phase: {list}; {:.1} min in all, after the build (bench/run.sh's clock; the \
         single servers' from their start to this report).",
        total as f64 / 60.0
    ))
}

/// A memory table row: label, measurements, the field shown.
type RssRow<'a> = (&'a str, &'a Pair<Outcome<Rss>>, fn(&Rss) -> u64);

/// Watch notification p99 goal, in milliseconds.
const NOTIFY_P99_GOAL_MS: f64 = 5.0;

const GET_LABELS: [&str; 2] = [
    "default: praetor default mode / etcd linearizable",
    "local: praetor `?stale` / etcd serializable",
];

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn ratio(p: f64, e: f64) -> String {
    if e > 0.0 {
        format!("{:.2}×", p / e)
    } else {
        "–".into()
    }
}

/// `f` of a cell, or "error" (the message is listed under the table).
fn cell<T>(o: &Outcome<T>, f: impl Fn(&T) -> String) -> String {
    match o {
        Ok(v) => f(v),
        Err(_) => "error".into(),
    }
}

fn ops(t: &Throughput) -> String {
    format!("{:.0}", t.ops_per_sec)
}

fn ms(v: f64) -> String {
    format!("{v:.2}")
}

fn both_ratio<T>(p: &Outcome<T>, e: &Outcome<T>, f: impl Fn(&T) -> f64) -> String {
    match (p, e) {
        (Ok(p), Ok(e)) => ratio(f(p), f(e)),
        _ => "–".into(),
    }
}

/// Lines noting failures and failed requests under a table.
#[derive(Default)]
struct Notes(Vec<String>);

impl Notes {
    fn outcome<T>(&mut self, what: &str, pair: &Pair<Outcome<T>>) {
        for (side, o) in [("praetor", &pair.praetor), ("etcd", &pair.etcd)] {
            if let Err(e) = o {
                self.0
                    .push(format!("{side}, {what}: failed: {}", e.replace('\n', " ")));
            }
        }
    }

    fn errors(&mut self, what: &str, pair: &Pair<Outcome<Throughput>>) {
        for (side, o) in [("praetor", &pair.praetor), ("etcd", &pair.etcd)] {
            if let Ok(t) = o {
                if t.errors > 0 {
                    self.0.push(format!(
                        "{side}, {what}: {} requests failed or timed out (not counted above)",
                        t.errors
                    ));
                }
            }
        }
    }

    fn write(self, md: &mut String) {
        if !self.0.is_empty() {
            md.push('\n');
            for n in self.0 {
                let _ = writeln!(md, "- {n}");
            }
        }
    }
}

impl Report {
    /// BENCHMARKS.md.
    pub fn markdown(&self) -> String {
        let mut md = String::new();
        self.header(&mut md);
        self.verdict(&mut md);
        self.method(&mut md);
        self.puts(&mut md);
        self.gets(&mut md);
        self.notify(&mut md);
        self.memory(&mut md);
        let mut next = 5;
        match &self.cluster {
            Some(Ok(c)) => {
                c.sections(&mut md, next);
                next += 2;
            }
            Some(Err(e)) => {
                let _ = writeln!(
                    md,
                    "\n## {next}. Three-server cluster\n\nNo results: {}",
                    e.replace('\n', " ")
                );
                next += 1;
            }
            None => {}
        }
        match &self.health {
            Some(Ok(h)) => {
                h.sections(&mut md, next);
                next += 4;
            }
            Some(Err(e)) => {
                let _ = writeln!(
                    md,
                    "\n## {next}. Service registry and health checking\n\nNo results: {}",
                    e.replace('\n', " ")
                );
                next += 1;
            }
            None => {}
        }
        match &self.locks {
            Some(Ok(l)) => {
                l.sections(&mut md, next);
                next += 1;
            }
            Some(Err(e)) => {
                let _ = writeln!(
                    md,
                    "\n## {next}. Locks and transactions\n\nNo results: {}",
                    e.replace('\n', " ")
                );
                next += 1;
            }
            None => {}
        }
        let missing = |md: &mut String, next: usize, title: &str, e: &str| {
            let _ = writeln!(
                md,
                "\n## {next}. {title}\n\nNo results: {}",
                e.replace('\n', " ")
            );
        };
        match &self.acl {
            Some(Ok(a)) => a.section(&mut md, next),
            Some(Err(e)) => missing(&mut md, next, "Cost of ACL enforcement", e),
            None => {}
        }
        next += usize::from(self.acl.is_some());
        match &self.tls {
            Some(Ok(t)) => t.section(&mut md, next),
            Some(Err(e)) => missing(&mut md, next, "Cost of TLS", e),
            None => {}
        }
        next += usize::from(self.tls.is_some());
        match &self.dns {
            Some(Ok(d)) => {
                let body = d.trim_start();
                let body = body.strip_prefix("## DNS").unwrap_or(body);
                let _ = writeln!(md, "\n## {next}. DNS (praetor only; `bench/dns.sh`){body}");
            }
            Some(Err(e)) => missing(&mut md, next, "DNS", e),
            None => {}
        }
        next += usize::from(self.dns.is_some());
        match &self.scale {
            Some(Ok(s)) => s.section(&mut md, next),
            Some(Err(e)) => missing(&mut md, next, "Scale (issue 17)", e),
            None => {}
        }
        next += usize::from(self.scale.is_some());
        match &self.template {
            Some(Ok(t)) => t.section(&mut md, next),
            Some(Err(e)) => missing(&mut md, next, "Templates (issue 18)", e),
            None => {}
        }
        next += usize::from(self.template.is_some());
        match &self.federation {
            Some(Ok(f)) => f.section(&mut md, next),
            Some(Err(e)) => missing(&mut md, next, "Federation: two datacenters (issue 19)", e),
            None => {}
        }
        self.cpu(&mut md);
        md
    }

    fn cpu(&self, md: &mut String) {
        let _ = writeln!(
            md,
            "\n## Appendix: CPU used per row\n\n\
             CPU seconds used by the server process and by the bench client while each side ran each row \
             (from `/proc/<pid>/stat`), over that side's wall-clock seconds; for the cluster rows, the server \
             CPU is the sum over the three members. With {} cores, servers and client \
             whose sum nears {}× the wall time were CPU-bound; a client share close to the server's means the \
             client library, not the server, may be the limit.\n\n\
             | row | praetor wall s | praetor server CPU s | client CPU s (praetor) | etcd wall s | etcd server CPU s | client CPU s (etcd) |\n\
             |---|---:|---:|---:|---:|---:|---:|",
            self.machine.cores, self.machine.cores
        );
        cpu_rows(md, &self.results.cpu);
        if let Some(Ok(c)) = &self.cluster {
            cpu_rows(md, &c.cpu);
        }
    }

    fn header(&self, md: &mut String) {
        let m = &self.machine;
        let _ = writeln!(
            md,
            "# Benchmarks: praetor vs etcd\n\n\
             <!-- Generated by bench/run.sh from one run; edits are overwritten. -->\n\n\
             Regenerate with one command from the repository root:\n\n    {cmd}\n\n\
             It installs etcd and protoc with apt if they are missing and builds `praetor` and `praetor-bench` \
             (bench/src/) in release mode. Then, in this order, each phase starting and stopping its own servers: \
             the TLS phase (one praetor server and one etcd member on 127.0.0.1, plain and TLS); the ACL phase \
             (two single praetor servers on 127.0.13.x); the scale phase (three praetor servers and five client \
             agents, then three praetor servers and three etcd members, on 127.0.14.x); the template phase (one \
             praetor server on 127.0.15.x and one `praetor template` process rendering 100 templates); the federation \
             phase (two datacenters of three praetor servers each on 127.0.16.x, federated over the WAN); the cluster phase (a \
             three-server praetor cluster and a three-member etcd cluster on 127.0.10.x; sections 5 and 6); the \
             health phase (praetor alone: single servers, then three servers with two client agents on 127.0.11.x; \
             sections 7–10); the locks phase (three praetor servers with two client agents and three etcd members \
             on 127.0.12.x, and `etcdctl`; section 11); `bench/dns.sh` (one dev agent on 127.0.11.1); last, one \
             durable praetor server and one single-member etcd, both on 127.0.0.1 only, for sections 1–4, stopped \
             by PID at the end; and it rewrites this file. The ACL, TLS, DNS, scale, template and federation sections follow section 11, in that order. \
             The scale phase runs at issue 17's sizes unless its section says otherwise. \
             Every section is written from this one run and states the load average before and after its rows. \
             Raw numbers: `bench/results/*.json`, agent and member logs in `bench/results/<phase>/` (not \
             committed). `bench/run.sh --cluster-only`, `--health-only`, `--locks-only`, `--acl-only`, `--tls-only`, \
             `--scale-only`, `--template-only` and `--federation-only` run one phase alone and write `bench/results/<phase>.md` instead of this file.\n\n\
             ## This run\n\n\
             - Date: {date}\n\
             - Machine: {cpu}, {cores} cores, {ram:.1} GiB RAM, Linux {kernel}; data directories on {disk}\n\
             - praetor: `{pv}`, started as `{pc}`\n\
             - etcd: `{ev}`, started as `{ec}`\n\
             - Bench client: `praetor-bench` on the same machine, sharing its {cores} cores with both servers\n\
             - Load average (1, 5, 15 min) before the workloads: {lb}; after: {la}. Before the \
             workloads both servers are idle, so a 1-minute load above about 0.5 there means other work was \
             running on the machine, and the numbers are noisier.",
            cmd = self.command,
            date = self.date,
            cpu = m.cpu,
            cores = m.cores,
            ram = m.ram_gib,
            kernel = m.kernel,
            disk = m.disk,
            pv = self.praetor_version,
            pc = self.praetor_cmd,
            ev = self.etcd_version,
            ec = self.etcd_cmd,
            lb = self.load_before,
            la = self.load_after,
        );
        if let Some(line) = phase_times_line(&self.phase_times, self.single_secs) {
            let _ = writeln!(md, "{line}");
        }
        let r = &self.results;
        for (side, up) in [
            ("praetor", r.still_running.praetor),
            ("etcd", r.still_running.etcd),
        ] {
            if !up {
                let _ = writeln!(
                    md,
                    "- **{side} was no longer running at the end of the run.**"
                );
            }
        }
    }

    fn method(&self, md: &mut String) {
        let c = &self.config;
        let _ = writeln!(
            md,
            "\n## Method\n\n\
             - Sections 1–4: both servers are durable single-node clusters: a write is acknowledged after it is on disk \
             (praetor: its Raft log; etcd: its WAL, with etcd's default fsync). Both run for the whole run; \
             each workload runs on one side, then on the other, and which side goes first alternates row by row.\n\
             - Every client has its own connection and sends one request at a time (closed loop). praetor is \
             spoken to over HTTP/1.1 keep-alive (reqwest), etcd over gRPC (the `etcd-client` crate). A client's \
             first request is made before the timed window opens. Every request has a 10 s timeout; failed \
             requests are counted separately and not in the rates.\n\
             - Values are {VALUE_SIZE} bytes. Latencies are nearest-rank percentiles over every request of a row. \
             Ratios are praetor ÷ etcd: above 1 is better for praetor in ops/s, worse in latency and memory.\n\
             - Each number comes from one run on a shared virtual machine; differences of about 10% are within \
             run-to-run noise.\n\
             - Order: the TLS, ACL, scale, template and federation phases, the cluster phase (sections 5 and 6), the health phase \
             (sections 7–10), the locks phase (section 11) and bench/dns.sh, each with its own method in its section; \
             then idle RSS, bulk load ({keys} keys, {lc} clients) and loaded RSS, then puts, gets, watches.",
            keys = c.load_keys,
            lc = c.load_clients,
        );
    }

    /// Issue 17's goals (item 6), in the issue's words, each computed from
    /// this run's numbers.
    pub fn issue17_goals(&self) -> Vec<Goal> {
        let mut out = match &self.scale {
            Some(Ok(s)) => s.goals(),
            Some(Err(e)) => vec![Goal::unmeasured(format!(
                "the scale goals (watcher p99 < 1 s; server CPU per change within 20% between 500 and 5 000 \
                 watchers; registrations in the last thousand ≥ 80% of the first; RSS per 256-byte key ≤ half \
                 of etcd's): no scale results ({})",
                e.replace('\n', " ")
            ))],
            None => Vec::new(),
        };
        // Puts at 1 client on one server (section 1) and on three (section 5).
        let single: Vec<(String, Option<(f64, f64)>)> = self
            .config
            .put_clients
            .iter()
            .zip(&self.results.puts)
            .map(|(c, p)| (format!("one server, puts ×{c}"), rates(p)))
            .collect();
        let cluster: Vec<(String, Option<(f64, f64)>)> = match &self.cluster {
            Some(Ok(c)) => c
                .put_rates()
                .into_iter()
                .map(|(n, r)| (format!("three servers, puts ×{n}"), r))
                .collect(),
            _ => Vec::new(),
        };
        let is_one = |l: &str| l.ends_with("puts ×1");
        let ones: Vec<_> = single
            .iter()
            .chain(&cluster)
            .filter(|(l, _)| is_one(l))
            .cloned()
            .collect();
        out.push(at_least_etcd(
            "put throughput at 1 client at least etcd's",
            &ones,
        ));
        let gets = ["one server, gets, default", "one server, gets, local"]
            .iter()
            .zip(&self.results.gets)
            .map(|(l, p)| ((*l).to_owned(), rates(p)));
        let others: Vec<_> = single
            .iter()
            .chain(&cluster)
            .filter(|(l, _)| !is_one(l))
            .cloned()
            .chain(gets)
            .collect();
        let mut rest = at_least_etcd(
            "every other existing throughput row (sections 1, 2 and 5) at or ahead of etcd",
            &others,
        );
        if let Some(Ok(c)) = &self.cluster {
            let lost = c.lost_writes();
            if !lost.is_empty() {
                rest.met = Some(false);
                let _ = write!(rest.text, "; **lost writes**: {}", lost.join("; "));
            }
        }
        out.push(rest);
        out
    }

    /// Issue 18's goal (item 7): a KV change reaches the rendered file
    /// within 1 s (p99), computed from the template phase's samples.
    pub fn issue18_goals(&self) -> Vec<Goal> {
        match &self.template {
            Some(Ok(t)) => vec![t.goal()],
            Some(Err(e)) => vec![Goal::unmeasured(format!(
                "a KV change reaches the rendered file within 1 s (p99): no template results ({})",
                e.replace('\n', " ")
            ))],
            None => Vec::new(),
        }
    }

    fn verdict(&self, md: &mut String) {
        let r = &self.results;
        let mut earlier: Vec<Goal> = Vec::new();

        // Watch notification p99 under 5 ms with every event delivered.
        let mut notes = Vec::new();
        let mut ok = !r.notify.is_empty();
        for p in &r.notify {
            match &p.praetor {
                Ok(n) => {
                    let lost = n.expected - n.received.min(n.expected);
                    ok &= n.p99_ms < NOTIFY_P99_GOAL_MS && lost == 0;
                    let etcd = cell(&p.etcd, |e| format!("{} ms", ms(e.p99_ms)));
                    let lost = if lost > 0 {
                        format!(", {lost} of {} events never arrived", n.expected)
                    } else {
                        String::new()
                    };
                    let plural = if n.watchers == 1 { "" } else { "s" };
                    notes.push(format!(
                        "{} ms with {} watcher{plural} (etcd {etcd}){lost}",
                        ms(n.p99_ms),
                        n.watchers
                    ));
                }
                Err(_) => {
                    ok = false;
                    notes.push("failed".into());
                }
            }
        }
        earlier.push(Goal::judged(
            ok,
            format!(
                "praetor watch notify p99 < {NOTIFY_P99_GOAL_MS} ms (section 3): {}",
                notes.join("; ")
            ),
        ));

        // RSS under half of etcd's, idle and loaded.
        let mut ok = true;
        let mut notes = Vec::new();
        for (side, l) in [("praetor", &r.load.praetor), ("etcd", &r.load.etcd)] {
            let loaded = l.as_ref().map_or(0, |t| t.ops);
            if loaded < self.config.load_keys {
                ok = false;
                notes.push(format!(
                    "{side} stored only {loaded} of the {} keys, so its loaded RSS does not count",
                    self.config.load_keys
                ));
            }
        }
        for (what, p) in [("idle", &r.rss_idle), ("after the load", &r.rss_loaded)] {
            match (&p.praetor, &p.etcd) {
                (Ok(a), Ok(b)) => {
                    ok &= a.total_kib * 2 < b.total_kib;
                    notes.push(format!(
                        "{what} {:.1} MiB vs {:.1} MiB ({})",
                        mib(a.total_kib),
                        mib(b.total_kib),
                        ratio(a.total_kib as f64, b.total_kib as f64)
                    ));
                }
                _ => {
                    ok = false;
                    notes.push(format!("{what}: not measured"));
                }
            }
        }
        earlier.push(Goal::judged(
            ok,
            format!(
                "praetor RSS < half of etcd's, one server with {} keys (section 4): {}",
                self.config.load_keys,
                notes.join("; ")
            ),
        ));

        match &self.cluster {
            Some(Ok(c)) => {
                let (ok, text) = c.failover_goal();
                earlier.push(Goal::judged(ok, text));
            }
            Some(Err(e)) => earlier.push(Goal::unmeasured(format!(
                "praetor failover < 3 s: no cluster results ({})",
                e.replace('\n', " ")
            ))),
            None => {}
        }
        match &self.health {
            Some(Ok(h)) => {
                for (ok, text) in h.goals() {
                    earlier.push(Goal::judged(ok, text));
                }
            }
            Some(Err(e)) => earlier.push(Goal::unmeasured(format!(
                "the health goals (propagation between client agents < 1 s; RSS growth with open blocking \
                 watchers < 50 MB): no health results ({})",
                e.replace('\n', " ")
            ))),
            None => {}
        }
        let issue17 = self.issue17_goals();
        let issue18 = self.issue18_goals();
        let count = |g: &[Goal]| g.iter().filter(|g| g.met == Some(true)).count();
        let _ = writeln!(
            md,
            "\n## Where it stands\n\n{} of {} goals met in this run, each computed from the tables below.\n\n\
             Issue 17's goals ({} of {} met):\n",
            count(&issue17) + count(&issue18) + count(&earlier),
            issue17.len() + issue18.len() + earlier.len(),
            count(&issue17),
            issue17.len()
        );
        for g in &issue17 {
            let _ = writeln!(md, "{}", g.line());
        }
        if !issue18.is_empty() {
            let _ = writeln!(
                md,
                "\nIssue 18's goals ({} of {} met):\n",
                count(&issue18),
                issue18.len()
            );
            for g in &issue18 {
                let _ = writeln!(md, "{}", g.line());
            }
        }
        let _ = writeln!(
            md,
            "\nEarlier goals ({} of {} met):\n",
            count(&earlier),
            earlier.len()
        );
        for g in &earlier {
            let _ = writeln!(md, "{}", g.line());
        }
    }

    fn puts(&self, md: &mut String) {
        let _ = writeln!(
            md,
            "\n## 1. Durable puts\n\nEach client puts distinct keys, one at a time, for {} s. {}\n\n\
             | clients | praetor ops/s | etcd ops/s | praetor ÷ etcd | praetor p50 ms | etcd p50 ms | praetor p99 ms | etcd p99 ms |\n\
             |---:|---:|---:|---:|---:|---:|---:|---:|",
            self.config.duration_secs,
            self.results.load_puts.sentence("these rows"),
        );
        let mut notes = Notes::default();
        for (c, p) in self.config.put_clients.iter().zip(&self.results.puts) {
            throughput_row(md, &c.to_string(), p);
            notes.outcome(&format!("puts ×{c}"), p);
            notes.errors(&format!("puts ×{c}"), p);
        }
        notes.write(md);
    }

    fn gets(&self, md: &mut String) {
        let _ = writeln!(
            md,
            "\n## 2. Gets\n\n{} clients each read random keys among the {} loaded ones, one at a time, for {} s. {}\n\n\
             | reads | praetor ops/s | etcd ops/s | praetor ÷ etcd | praetor p50 ms | etcd p50 ms | praetor p99 ms | etcd p99 ms |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|",
            self.config.get_clients,
            self.config.load_keys,
            self.config.duration_secs,
            self.results.load_gets.sentence("these rows"),
        );
        let mut notes = Notes::default();
        for (label, p) in GET_LABELS.iter().zip(&self.results.gets) {
            throughput_row(md, label, p);
            notes.outcome(label, p);
            notes.errors(label, p);
        }
        notes.write(md);
    }

    fn notify(&self, md: &mut String) {
        let c = &self.config;
        let _ = writeln!(
            md,
            "\n## 3. Watch notification latency\n\n\
             Each watcher watches one fresh prefix on its own connection (praetor: `GET /v1/watch/kv/<prefix>`; \
             etcd: a prefix Watch). Once every watch is open, one writer puts {} keys under the prefix, starting \
             one every {} ms. Latency is from a put's start to a watcher receiving its event, over every \
             watcher × event. {}\n\n\
             | watchers | praetor events | etcd events | praetor p50 ms | etcd p50 ms | praetor p99 ms | etcd p99 ms | p99 praetor ÷ etcd | praetor max ms | etcd max ms |\n\
             |---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            c.watch_puts,
            c.watch_spacing_ms,
            self.results.load_notify.sentence("these rows"),
        );
        let mut notes = Notes::default();
        for (w, p) in c.watchers.iter().zip(&self.results.notify) {
            let events = |n: &Notify| format!("{}/{}", n.received, n.expected);
            let _ = writeln!(
                md,
                "| {w} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                cell(&p.praetor, events),
                cell(&p.etcd, events),
                cell(&p.praetor, |n| ms(n.p50_ms)),
                cell(&p.etcd, |n| ms(n.p50_ms)),
                cell(&p.praetor, |n| ms(n.p99_ms)),
                cell(&p.etcd, |n| ms(n.p99_ms)),
                both_ratio(&p.praetor, &p.etcd, |n| n.p99_ms),
                cell(&p.praetor, |n| ms(n.max_ms)),
                cell(&p.etcd, |n| ms(n.max_ms)),
            );
            notes.outcome(&format!("{w} watchers"), p);
            for (side, o) in [("praetor", &p.praetor), ("etcd", &p.etcd)] {
                if let Ok(n) = o {
                    if n.put_errors > 0 {
                        notes.0.push(format!(
                            "{side}, {w} watchers: {} of the writer's puts failed",
                            n.put_errors
                        ));
                    }
                }
            }
        }
        notes.write(md);
    }

    fn memory(&self, md: &mut String) {
        let r = &self.results;
        let c = &self.config;
        let _ = writeln!(
            md,
            "\n## 4. Memory\n\n\
             Resident memory from `/proc/<pid>/status` (`VmRSS`; `RssAnon` is heap and stacks, `RssFile` is \
             mapped files such as etcd's bbolt database): idle right after start, then after loading {} keys of \
             {VALUE_SIZE} bytes with {} concurrent clients into each server (one after the other) and at least 2 s to settle. {}\n\n\
             | | praetor | etcd | praetor ÷ etcd |\n|---|---:|---:|---:|",
            c.load_keys,
            c.load_clients,
            r.load_memory.sentence("the idle RSS (after: the loaded RSS)"),
        );
        let rss_rows: [RssRow<'_>; 4] = [
            ("RSS idle after start, MiB", &r.rss_idle, |x| x.total_kib),
            ("RSS after the load, MiB", &r.rss_loaded, |x| x.total_kib),
            ("… of which RssAnon, MiB", &r.rss_loaded, |x| x.anon_kib),
            ("… of which RssFile, MiB", &r.rss_loaded, |x| x.file_kib),
        ];
        for (label, p, f) in rss_rows {
            let _ = writeln!(
                md,
                "| {label} | {} | {} | {} |",
                cell(&p.praetor, |x| format!("{:.1}", mib(f(x)))),
                cell(&p.etcd, |x| format!("{:.1}", mib(f(x)))),
                both_ratio(&p.praetor, &p.etcd, |x| f(x) as f64),
            );
        }
        let d = &r.disk_loaded;
        let _ = writeln!(
            md,
            "| data directory after the load, MiB | {} | {} | {} |",
            cell(&d.praetor, |b| format!("{:.1}", *b as f64 / 1048576.0)),
            cell(&d.etcd, |b| format!("{:.1}", *b as f64 / 1048576.0)),
            both_ratio(&d.praetor, &d.etcd, |b| *b as f64),
        );
        let l = &r.load;
        let _ = writeln!(
            md,
            "| load: keys written | {} | {} | |\n| load: seconds | {} | {} | {} |\n| load: puts/s | {} | {} | {} |",
            cell(&l.praetor, |t| t.ops.to_string()),
            cell(&l.etcd, |t| t.ops.to_string()),
            cell(&l.praetor, |t| format!("{:.1}", t.secs)),
            cell(&l.etcd, |t| format!("{:.1}", t.secs)),
            both_ratio(&l.praetor, &l.etcd, |t| t.secs),
            cell(&l.praetor, ops),
            cell(&l.etcd, ops),
            both_ratio(&l.praetor, &l.etcd, |t| t.ops_per_sec),
        );
        let mut notes = Notes::default();
        notes.outcome("idle RSS", &r.rss_idle);
        notes.outcome("load", l);
        notes.errors("load", l);
        notes.outcome("RSS after the load", &r.rss_loaded);
        notes.write(md);
    }
}

/// praetor's and etcd's ops/s of a row, or `None` when a side failed.
fn rates(p: &Pair<Outcome<Throughput>>) -> Option<(f64, f64)> {
    match (&p.praetor, &p.etcd) {
        (Ok(a), Ok(b)) => Some((a.ops_per_sec, b.ops_per_sec)),
        _ => None,
    }
}

/// The goal `what`: praetor's rate at least etcd's on every row of `rows`
/// (label, praetor's and etcd's ops/s; `None` counts as behind). Not
/// measured when there are no rows.
fn at_least_etcd(what: &str, rows: &[(String, Option<(f64, f64)>)]) -> Goal {
    if rows.is_empty() {
        return Goal::unmeasured(format!("{what}: no such rows in this run"));
    }
    let (mut behind, mut ahead) = (Vec::new(), Vec::new());
    for (label, r) in rows {
        match r {
            Some((p, e)) if p >= e => ahead.push(format!("{label} {}", ratio(*p, *e))),
            Some((p, e)) => behind.push(format!(
                "{label} {} ({p:.0}/s against {e:.0}/s)",
                ratio(*p, *e)
            )),
            None => behind.push(format!("{label} (failed)")),
        }
    }
    let mut text = what.to_owned();
    if !behind.is_empty() {
        let _ = write!(text, ": behind on {}", behind.join(", "));
    }
    if !ahead.is_empty() {
        let sep = if behind.is_empty() { ":" } else { ";" };
        let _ = write!(text, "{sep} at or ahead on {}", ahead.join(", "));
    }
    Goal::judged(behind.is_empty(), text)
}

fn cpu_rows(md: &mut String, rows: &[CpuRow]) {
    for row in rows {
        let (p, e) = (&row.cpu.praetor, &row.cpu.etcd);
        let _ = writeln!(
            md,
            "| {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |",
            row.label, p.wall_s, p.server_s, p.client_s, e.wall_s, e.server_s, e.client_s
        );
    }
}

fn throughput_row(md: &mut String, label: &str, p: &Pair<Outcome<Throughput>>) {
    let _ = writeln!(
        md,
        "| {label} | {} | {} | {} | {} | {} | {} | {} |",
        cell(&p.praetor, ops),
        cell(&p.etcd, ops),
        both_ratio(&p.praetor, &p.etcd, |t| t.ops_per_sec),
        cell(&p.praetor, |t| ms(t.p50_ms)),
        cell(&p.etcd, |t| ms(t.p50_ms)),
        cell(&p.praetor, |t| ms(t.p99_ms)),
        cell(&p.etcd, |t| ms(t.p99_ms)),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(clap::Parser)]
    struct Flags {
        #[command(flatten)]
        config: Config,
    }

    fn report() -> Report {
        Report {
            machine: Machine {
                cpu: "cpu".into(),
                cores: 2,
                ram_gib: 1.0,
                kernel: "k".into(),
                disk: "d".into(),
            },
            command: "bench/run.sh".into(),
            date: "date".into(),
            praetor_version: "pv".into(),
            etcd_version: "ev".into(),
            praetor_cmd: "p".into(),
            etcd_cmd: "e".into(),
            load_before: "0.1 0.2 0.3".into(),
            load_after: "0.4 0.5 0.6".into(),
            config: <Flags as clap::Parser>::parse_from(["run"]).config,
            results: Results::default(),
            cluster: None,
            health: None,
            locks: None,
            acl: None,
            tls: None,
            scale: None,
            template: None,
            federation: None,
            dns: None,
            phase_times: Vec::new(),
            single_secs: 0.0,
        }
    }

    #[test]
    fn the_phase_times_file_is_listed_with_its_total_in_minutes() {
        let phases = parse_phase_times("tls 200\nacl 150\nnot a line\nbench/dns.sh 60\n");
        assert_eq!(
            phases,
            vec![
                ("tls".to_owned(), 200),
                ("acl".to_owned(), 150),
                ("bench/dns.sh".to_owned(), 60)
            ]
        );
        let line = phase_times_line(&phases, 90.4).unwrap_or_default();
        assert!(
            line.starts_with("- Wall-clock time per phase: tls 200 s, acl 150 s, bench/dns.sh 60 s, single servers 90 s; 8.3 min in all"),
            "{line}"
        );
        assert_eq!(phase_times_line(&[], 90.0), None);
        let mut r = report();
        r.phase_times = phases;
        assert!(r
            .markdown()
            .contains("- Wall-clock time per phase: tls 200 s"));
    }

    fn tp(clients: usize, ops_per_sec: f64) -> Outcome<Throughput> {
        Ok(Throughput {
            clients,
            ops: 1000,
            errors: 0,
            secs: 1.0,
            ops_per_sec,
            p50_ms: 1.0,
            p99_ms: 2.0,
        })
    }

    fn pair(clients: usize, p: f64, e: f64) -> Pair<Outcome<Throughput>> {
        Pair {
            praetor: tp(clients, p),
            etcd: tp(clients, e),
        }
    }

    /// A three-server cluster report whose put rows ran at these rates.
    fn cluster(rows: &[(usize, f64, f64)]) -> ClusterReport {
        let mut config = <Flags as clap::Parser>::parse_from(["run"]).config;
        config.put_clients = rows.iter().map(|r| r.0).collect();
        let mut c = ClusterReport::new(config, "c".into(), "d".into(), "pv".into(), "ev".into());
        let puts = |clients, rate| {
            tp(clients, rate).map(|throughput| cluster::ClusterPuts {
                keys_expected: 10,
                keys_found: 10,
                throughput,
            })
        };
        c.puts = rows
            .iter()
            .map(|&(n, p, e)| Pair {
                praetor: puts(n, p),
                etcd: puts(n, e),
            })
            .collect();
        c
    }

    #[test]
    fn puts_at_one_client_are_their_own_goal_on_one_and_three_servers_and_the_other_rows_another() {
        let mut r = report();
        r.results.puts = vec![
            pair(1, 1400.0, 2000.0),
            pair(16, 9000.0, 9000.0),
            pair(256, 25000.0, 13000.0),
        ];
        r.results.gets = vec![pair(16, 50000.0, 5000.0), pair(16, 60000.0, 6000.0)];
        r.cluster = Some(Ok(cluster(&[(1, 900.0, 1000.0), (16, 5000.0, 4000.0)])));
        let g = r.issue17_goals();
        assert_eq!(g.len(), 2, "{g:?}");
        assert_eq!(g[0].met, Some(false));
        assert!(
            g[0].text.starts_with(
                "put throughput at 1 client at least etcd's: behind on one server, puts ×1 0.70×"
            ),
            "{g:?}"
        );
        assert!(g[0].text.contains("three servers, puts ×1 0.90×"), "{g:?}");
        assert!(!g[0].text.contains("×16"), "{g:?}");
        assert_eq!(g[1].met, Some(true), "{g:?}");
        assert!(g[1].text.contains("one server, puts ×16 1.00×"), "{g:?}");
        assert!(g[1].text.contains("three servers, puts ×16 1.25×"), "{g:?}");
        assert!(
            g[1].text.contains("one server, gets, local 10.00×"),
            "{g:?}"
        );
        assert!(!g[1].text.contains("puts ×1 "), "{g:?}");

        // Both at 1 client ahead: met; a lost write fails the other rows.
        r.results.puts[0] = pair(1, 2100.0, 2000.0);
        let mut c = cluster(&[(1, 1000.0, 1000.0), (16, 5000.0, 4000.0)]);
        if let Ok(p) = &mut c.puts[1].praetor {
            p.keys_found = 7;
        }
        r.cluster = Some(Ok(c));
        let g = r.issue17_goals();
        assert_eq!(g[0].met, Some(true), "{g:?}");
        assert_eq!(g[1].met, Some(false), "{g:?}");
        assert!(
            g[1].text.contains("**lost writes**: puts ×16: 3 of 10"),
            "{g:?}"
        );
    }

    #[test]
    fn where_it_stands_lists_the_scale_goals_first_and_counts_every_goal() {
        let mut r = report();
        r.results.puts = vec![pair(1, 1400.0, 2000.0)];
        r.scale = Some(Ok(scale::ScaleReport::new(
            "c".into(),
            "d".into(),
            "pv".into(),
            "ev".into(),
        )));
        let md = r.markdown();
        // Four scale goals (none measured), the put goal, the other rows, then
        // the earlier goals: watch notify and RSS.
        assert!(md.contains("0 of 8 goals met in this run"), "{md}");
        assert!(md.contains("Issue 17's goals (0 of 6 met):"), "{md}");
        let wake = md
            .find("- **Not measured**: one change reaches every watcher")
            .unwrap_or(usize::MAX);
        let put = md
            .find("- **Not met**: put throughput at 1 client at least etcd's")
            .unwrap_or(usize::MAX);
        let earlier = md.find("Earlier goals (0 of 2 met):").unwrap_or(usize::MAX);
        assert!(wake < put && put < earlier && earlier < usize::MAX, "{md}");
        assert!(
            md.contains("RSS per 256-byte key at most half of etcd's"),
            "{md}"
        );
    }

    #[test]
    fn every_single_server_section_states_the_load_average_around_its_rows() {
        let mut r = report();
        r.results.load_puts = Around {
            before: "1.00 1.00 1.00".into(),
            after: "2.00 2.00 2.00".into(),
        };
        let md = r.markdown();
        assert!(md.contains("for 5 s. Load average (1, 5, 15 min) before these rows: 1.00 1.00 1.00; after: 2.00 2.00 2.00."), "{md}");
        for section in [
            "## 2. Gets",
            "## 3. Watch notification latency",
            "## 4. Memory",
        ] {
            let at = md
                .find(section)
                .unwrap_or_else(|| panic!("{section} missing"));
            let rest = &md[at..];
            let end = rest[3..].find("\n## ").map_or(rest.len(), |e| e + 3);
            assert!(
                rest[..end].contains("Load average (1, 5, 15 min) before"),
                "{section}: {}",
                &rest[..end]
            );
        }
    }

    #[test]
    fn the_full_report_numbers_every_phase_section_in_order_and_says_what_is_missing() {
        let report = Report {
            acl: Some(Err("reading acl.json: gone".into())),
            tls: Some(Err("reading tls.json: gone".into())),
            scale: Some(Ok(scale::ScaleReport::new(
                "c".into(),
                "d".into(),
                "pv".into(),
                "ev".into(),
            ))),
            dns: Some(Ok("## DNS\n\nSRV lookups.\n".into())),
            template: Some(Err("reading template.json: gone".into())),
            federation: Some(Err("reading federation.json: gone".into())),
            ..report()
        };
        let md = report.markdown();
        let at = |needle: &str| {
            md.find(needle)
                .unwrap_or_else(|| panic!("{needle:?} missing from:\n{md}"))
        };
        let acl = at("## 5. Cost of ACL enforcement\n\nNo results: reading acl.json: gone");
        let tls = at("## 6. Cost of TLS\n\nNo results");
        let dns = at("## 7. DNS (praetor only; `bench/dns.sh`)\n\nSRV lookups.");
        let scale = at("## 8. Scale:");
        let template = at("## 9. Templates (issue 18)\n\nNo results: reading template.json: gone");
        let federation = at(
            "## 10. Federation: two datacenters (issue 19)\n\nNo results: reading federation.json: gone",
        );
        let appendix = at("## Appendix: CPU used per row");
        assert!(acl < tls && tls < dns && dns < scale && scale < template);
        assert!(template < federation && federation < appendix);
    }

    #[test]
    fn where_it_stands_counts_the_template_goal_under_issue_18() {
        let mut r = report();
        let mut t =
            template::TemplateReport::new(r.config.clone(), "c".into(), "d".into(), "pv".into());
        (t.templates, t.keys, t.deadline_secs) = (100, 1000, 10);
        t.samples_ms = vec![Some(20.0); 200];
        r.template = Some(Ok(t));
        let md = r.markdown();
        assert!(md.contains("Issue 18's goals (1 of 1 met):"), "{md}");
        assert!(
            md.contains("- **Met**: a KV change reaches the rendered file within 1 s (p99), 100 templates watching 1000 keys: p99 20.0 ms"),
            "{md}"
        );
        assert!(md.contains("## 5. Templates (issue 18)"), "{md}");
        r.template = Some(Err("gone".into()));
        let md = r.markdown();
        assert!(md.contains("Issue 18's goals (0 of 1 met):"), "{md}");
        assert!(md.contains("- **Not measured**: a KV change reaches the rendered file within 1 s (p99): no template results (gone)."), "{md}");
    }
}
