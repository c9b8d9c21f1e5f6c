//! The federation phase's results (the `federation` subcommand's JSON) and
//! their section of BENCHMARKS.md: KV reads of another datacenter
//! (`?dc=dc2` through a dc1 server) beside the same reads of the local
//! datacenter, and how long a prepared query's DNS answer takes to fail
//! over to dc2 when dc1's instance goes critical, and to come back.
//! Computed from the numbers, like the rest of the report; never measures
//! anything itself.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::template::Latency;
use super::{Config, Outcome};
use crate::machine::Machine;
use crate::stats::Throughput;

/// One read row: the same closed loop against the local datacenter and
/// against dc2 through the same dc1 server.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReadRow {
    /// `default` (Consul's default mode) or `stale` (`?stale`).
    pub consistency: String,
    pub clients: usize,
    /// `GET /v1/kv/<key>` of dc1's copy, through the dc1 server.
    pub local: Outcome<Throughput>,
    /// `GET /v1/kv/<key>?dc=dc2` of dc2's copy, through the same server.
    pub cross: Outcome<Throughput>,
    /// Whether the cross-datacenter loop ran first in this row.
    pub cross_first: bool,
}

/// One failover trial, from the bench's clock. `None`: the transition did
/// not happen within the deadline (or its request failed).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Trial {
    /// The `PUT /v1/agent/check/fail/…` round trip, ms.
    pub fail_put_ms: Option<f64>,
    /// From that PUT's start to the first DNS answer holding dc2's address
    /// alone, ms.
    pub to_dc2_ms: Option<f64>,
    /// The `PUT /v1/agent/check/pass/…` round trip, ms.
    pub pass_put_ms: Option<f64>,
    /// From that PUT's start to the first DNS answer holding dc1's address
    /// alone, ms.
    pub back_ms: Option<f64>,
    /// DNS queries sent during the trial (both transitions).
    pub dns_queries: u64,
    /// DNS queries of the trial that got no answer within their bound.
    pub dns_timeouts: u64,
    /// What went wrong, if anything.
    pub note: Option<String>,
}

/// Everything the federation phase measured.
#[derive(Debug, Serialize, Deserialize)]
pub struct FederationReport {
    pub config: Config,
    pub command: String,
    pub date: String,
    pub praetor_version: String,
    pub machine: Option<Machine>,
    /// Servers in each datacenter.
    pub servers_per_dc: usize,
    /// The servers' addresses, in member order (s1, s2, …).
    pub dc1_ips: Vec<String>,
    pub dc2_ips: Vec<String>,
    /// How dc1's and dc2's first server were started (paths shown as $TMP).
    pub dc1_cmd: String,
    pub dc2_cmd: String,
    pub load_before: String,
    pub load_after: String,
    /// Seconds from starting the servers to both datacenters serving
    /// (a leader, every server a peer, a put readable on every server).
    pub ready_secs: Option<f64>,
    /// Seconds from starting the servers to `/v1/catalog/datacenters`
    /// listing both datacenters on a server of each.
    pub federated_secs: Option<f64>,
    /// `/v1/catalog/datacenters` as dc1's server answered it.
    pub datacenters: Vec<String>,
    /// Keys written in each datacenter (the reads pick among them).
    pub keys: usize,
    /// The dc1 server every read goes through, and its role.
    pub via: String,
    pub via_role: String,
    /// Seconds each read loop ran.
    pub read_secs: u64,
    pub reads: Vec<ReadRow>,
    pub reads_load_before: String,
    pub reads_load_after: String,
    /// The DNS server asked (dc1's), and where each datacenter's `web`
    /// instance runs (the address DNS answers for it).
    pub dns_server: String,
    pub web_dc1: String,
    pub web_dc2: String,
    /// The prepared query's definition, as posted.
    pub query_def: String,
    /// Milliseconds between two DNS queries while waiting.
    pub poll_ms: u64,
    /// Bound on each transition, and on all trials.
    pub deadline_secs: u64,
    pub budget_secs: u64,
    pub trials_asked: usize,
    pub trials: Vec<Trial>,
    pub failover_load_before: String,
    pub failover_load_after: String,
    /// Processes that exited on their own or needed SIGKILL.
    pub stopped: Vec<String>,
    /// Why the phase stopped early, if it did.
    pub error: Option<String>,
}

impl FederationReport {
    pub fn new(config: Config, command: String, date: String, praetor_version: String) -> Self {
        Self {
            config,
            command,
            date,
            praetor_version,
            machine: None,
            servers_per_dc: 0,
            dc1_ips: Vec::new(),
            dc2_ips: Vec::new(),
            dc1_cmd: String::new(),
            dc2_cmd: String::new(),
            load_before: String::new(),
            load_after: String::new(),
            ready_secs: None,
            federated_secs: None,
            datacenters: Vec::new(),
            keys: 0,
            via: String::new(),
            via_role: String::new(),
            read_secs: 0,
            reads: Vec::new(),
            reads_load_before: String::new(),
            reads_load_after: String::new(),
            dns_server: String::new(),
            web_dc1: String::new(),
            web_dc2: String::new(),
            query_def: String::new(),
            poll_ms: 0,
            deadline_secs: 0,
            budget_secs: 0,
            trials_asked: 0,
            trials: Vec::new(),
            failover_load_before: String::new(),
            failover_load_after: String::new(),
            stopped: Vec::new(),
            error: None,
        }
    }

    /// dc1 critical → DNS answers dc2, over the trials.
    pub fn to_dc2(&self) -> Latency {
        Latency::of(&self.trials.iter().map(|t| t.to_dc2_ms).collect::<Vec<_>>())
    }

    /// dc1 passing again → DNS answers dc1, over the trials that failed
    /// over (a trial that never reached dc2 has nothing to come back from).
    pub fn back(&self) -> Latency {
        Latency::of(
            &self
                .trials
                .iter()
                .filter(|t| t.to_dc2_ms.is_some())
                .map(|t| t.back_ms)
                .collect::<Vec<_>>(),
        )
    }

    /// Its section of BENCHMARKS.md, numbered `n`.
    pub fn section(&self, md: &mut String, n: usize) {
        let machine = self.machine.as_ref().map_or_else(
            || "unknown".to_owned(),
            |m| {
                format!(
                    "{}, {} cores, {:.1} GiB RAM, Linux {}; data directories on {}",
                    m.cpu, m.cores, m.ram_gib, m.kernel, m.disk
                )
            },
        );
        let s = self.servers_per_dc;
        let plural = if s == 1 { "" } else { "s" };
        let _ = writeln!(
            md,
            "\n## {n}. Federation: two datacenters (issue 19)\n\n\
             A separate phase on {date} (praetor alone): two datacenters on loopback, **dc1 and dc2 with {s} \
             server{plural} each** (no client agents), every server on its own address in 127.0.16.0/24 with \
             praetor's default ports (HTTP 8500, RPC 8300, LAN gossip 8301, WAN gossip 8302, DNS 8600), durable, \
             dc2's servers joining dc1's over the WAN with `-retry-join-wan` (default WAN gossip timing), all on \
             the same machine as the bench client. The command, from the repository root:\n\n    {cmd}\n\n\
             - Machine: {machine}\n\
             - praetor: `{version}`\n\
             - dc1: {dc1}; dc2: {dc2}\n\
             - Load average (1, 5, 15 min) before the phase: {lb}; after: {la}.\n",
            date = self.date,
            cmd = self.command,
            version = self.praetor_version,
            dc1 = self.dc1_ips.join(", "),
            dc2 = self.dc2_ips.join(", "),
            lb = self.load_before,
            la = self.load_after,
        );
        let mut facts = Vec::new();
        if let Some(r) = self.ready_secs {
            facts.push(format!(
                "both datacenters served (a leader each, every server a Raft peer) {r:.1} s after the servers started"
            ));
        }
        if let Some(f) = self.federated_secs {
            facts.push(format!(
                "`/v1/catalog/datacenters` listed both on a server of each {f:.1} s after the start (dc1's \
                 server answered `{}`)",
                serde_json::to_string(&self.datacenters).unwrap_or_default()
            ));
        }
        if !facts.is_empty() {
            let mut s = facts.join("; ");
            if let Some(c) = s.get(..1) {
                s = c.to_uppercase() + &s[1..];
            }
            let _ = writeln!(md, "{s}.\n");
        }
        self.reads_table(md);
        self.failover_table(md);
        let mut notes = Vec::new();
        notes.extend(self.stopped.iter().cloned());
        if let Some(e) = &self.error {
            notes.push(format!("the phase stopped early: {}", e.replace('\n', " ")));
        }
        if !notes.is_empty() {
            let _ = writeln!(md, "\nNotes:\n");
            for n in notes {
                let _ = writeln!(md, "- {n}");
            }
        }
        let _ = writeln!(
            md,
            "\nStarted as (dc1's first server, then dc2's; the others differ only in address, name and data \
             directory):\n\n    {}\n    {}",
            self.dc1_cmd, self.dc2_cmd
        );
    }

    fn reads_table(&self, md: &mut String) {
        fn ops(t: &Throughput) -> f64 {
            t.ops_per_sec
        }
        fn p50(t: &Throughput) -> f64 {
            t.p50_ms
        }
        fn p99(t: &Throughput) -> f64 {
            t.p99_ms
        }
        let _ = writeln!(
            md,
            "### Reads of another datacenter vs local reads\n\n\
             Method: {keys} keys `bench/fed/k000`… are written in each datacenter, each datacenter's copy \
             holding its own 256-byte value. Every read goes through the same dc1 server, {via} ({role}): \
             **local** is `GET /v1/kv/<key>` of dc1's copy, **cross-DC** is `GET /v1/kv/<key>?dc=dc2` of dc2's \
             copy, which that server forwards over RPC to a dc2 server. Closed loops of {secs} s each: every \
             client its own HTTP/1.1 keep-alive connection and one request at a time, a random key each time, \
             its first request (outside the timed window) checked to return that datacenter's value; local and \
             cross-DC run one after the other, the first alternating row by row. `default` is Consul's default \
             consistency (the request reaches the leader of the datacenter read), `stale` is `?stale` (any \
             server of it answers). Nearest-rank percentiles over every request of a loop; failed requests \
             counted apart. Ratio: cross-DC ÷ local. Load average before the reads: {lb}; after: {la}.\n\n\
             | consistency | clients | local ops/s | cross-DC ops/s | ops/s ratio | local p50 ms | cross-DC p50 ms | p50 ratio | local p99 ms | cross-DC p99 ms | p99 ratio |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            keys = self.keys,
            via = self.via,
            role = self.via_role,
            secs = self.read_secs,
            lb = self.reads_load_before,
            la = self.reads_load_after,
        );
        let mut notes = Vec::new();
        for r in &self.reads {
            let cell = |o: &Outcome<Throughput>, f: fn(&Throughput) -> f64, prec: usize| match o {
                Ok(t) => format!("{:.prec$}", f(t)),
                Err(_) => "error".to_owned(),
            };
            let ratio = |f: fn(&Throughput) -> f64| match (&r.local, &r.cross) {
                (Ok(l), Ok(c)) if f(l) > 0.0 => format!("{:.2}×", f(c) / f(l)),
                _ => "–".to_owned(),
            };
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                r.consistency,
                r.clients,
                cell(&r.local, ops, 0),
                cell(&r.cross, ops, 0),
                ratio(ops),
                cell(&r.local, p50, 2),
                cell(&r.cross, p50, 2),
                ratio(p50),
                cell(&r.local, p99, 2),
                cell(&r.cross, p99, 2),
                ratio(p99),
            );
            for (what, o) in [("local", &r.local), ("cross-DC", &r.cross)] {
                let row = format!("{} ×{}, {what}", r.consistency, r.clients);
                match o {
                    Err(e) => notes.push(format!("{row}: failed: {}", e.replace('\n', " "))),
                    Ok(t) if t.errors > 0 => notes.push(format!(
                        "{row}: {} requests failed or timed out (not counted above)",
                        t.errors
                    )),
                    Ok(_) => {}
                }
            }
        }
        if self.reads.is_empty() {
            let _ = writeln!(md, "| (not measured) | | | | | | | | | | |");
        }
        if !notes.is_empty() {
            md.push('\n');
            for n in notes {
                let _ = writeln!(md, "- {n}");
            }
        }
        md.push('\n');
    }

    fn failover_table(&self, md: &mut String) {
        let _ = writeln!(
            md,
            "### Prepared-query failover to dc2, over DNS\n\n\
             Method: a service `web` is registered on one agent of each datacenter ({web1} in dc1, {web2} in \
             dc2) with a TTL check, passing; a prepared query of dc1 is created through {dns}: `{def}`. Each \
             trial: `PUT /v1/agent/check/fail/service:web` on dc1's agent, then an A query for \
             `web-fo.query.consul` to {dns}:8600 every {poll} ms (UDP, one in flight, each bounded at 1 s) \
             until the answer holds dc2's address alone (**failover**); then `PUT \
             /v1/agent/check/pass/service:web` and the same until it holds dc1's address alone (**back**). \
             Times are from the start of the PUT to the first such answer, so they include the PUT's round \
             trip, and may be up to one wait between queries plus one query's round trip late; each transition is bounded at {deadline} s, the trials at {budget} s in all. Before the \
             first trial the query answered dc1's address. Load average before the trials: {lb}; after: {la}.\n",
            web1 = self.web_dc1,
            web2 = self.web_dc2,
            dns = self.dns_server,
            def = self.query_def,
            poll = self.poll_ms,
            deadline = self.deadline_secs,
            budget = self.budget_secs,
            lb = self.failover_load_before,
            la = self.failover_load_after,
        );
        let opt = |v: Option<f64>| v.map_or_else(|| "missed".to_owned(), |v| format!("{v:.1}"));
        let _ = writeln!(
            md,
            "| trial | dc1 critical → DNS answers dc2, ms | of which the fail PUT, ms | dc1 passing → DNS answers dc1, ms | of which the pass PUT, ms | DNS queries | DNS timeouts |\n\
             |---:|---:|---:|---:|---:|---:|---:|"
        );
        for (i, t) in self.trials.iter().enumerate() {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} |",
                i + 1,
                opt(t.to_dc2_ms),
                opt(t.fail_put_ms),
                opt(t.back_ms),
                opt(t.pass_put_ms),
                t.dns_queries,
                t.dns_timeouts
            );
        }
        if self.trials.is_empty() {
            let _ = writeln!(md, "| (none) | | | | | | |");
        }
        let summary = |l: &Latency| {
            if l.seen == 0 {
                format!("none of {} trials", l.samples)
            } else {
                let missed = if l.missed > 0 {
                    format!(", {} of {} missed the deadline", l.missed, l.samples)
                } else {
                    String::new()
                };
                format!(
                    "p50 {:.1} ms, max {:.1} ms over {} trials{missed}",
                    l.p50_ms, l.max_ms, l.seen
                )
            }
        };
        let _ = writeln!(
            md,
            "\nFailover (dc1 critical → DNS answers dc2): {}. Back (dc1 passing → DNS answers dc1): {}.",
            summary(&self.to_dc2()),
            summary(&self.back())
        );
        let notes: Vec<String> = self
            .trials
            .iter()
            .enumerate()
            .filter_map(|(i, t)| t.note.as_ref().map(|n| format!("trial {}: {n}", i + 1)))
            .collect();
        if !notes.is_empty() {
            md.push('\n');
            for n in notes {
                let _ = writeln!(md, "- {}", n.replace('\n', " "));
            }
        }
    }
}

impl crate::phase::PhaseReport for FederationReport {
    fn set_error(&mut self, error: String) {
        self.error = Some(error);
    }

    fn standalone_markdown(&self) -> String {
        crate::phase::standalone(
            "Federation benchmark (federation phase only)",
            &self.command,
            &self.date,
            |md| self.section(md, 17),
        )
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::stats::Samples;

    #[derive(clap::Parser)]
    struct Flags {
        #[command(flatten)]
        config: Config,
    }

    fn report() -> FederationReport {
        FederationReport::new(
            <Flags as clap::Parser>::parse_from(["federation"]).config,
            "cmd".into(),
            "date".into(),
            "v".into(),
        )
    }

    fn loop_of(clients: usize, ms: u64, n: u64) -> Throughput {
        let mut s = Samples::default();
        for _ in 0..n {
            s.push(Duration::from_millis(ms));
        }
        Throughput::new(clients, s, 0, Duration::from_secs(1))
    }

    #[test]
    fn the_read_table_shows_local_and_cross_dc_side_by_side_with_ratios() {
        let mut r = report();
        r.servers_per_dc = 3;
        r.reads.push(ReadRow {
            consistency: "default".into(),
            clients: 16,
            local: Ok(loop_of(16, 1, 1000)),
            cross: Ok(loop_of(16, 2, 500)),
            cross_first: false,
        });
        r.reads.push(ReadRow {
            consistency: "stale".into(),
            clients: 1,
            local: Ok(loop_of(1, 1, 100)),
            cross: Err("no path".into()),
            cross_first: true,
        });
        let mut md = String::new();
        r.section(&mut md, 17);
        assert!(
            md.contains("## 17. Federation: two datacenters (issue 19)"),
            "{md}"
        );
        assert!(md.contains("dc1 and dc2 with 3 servers each"), "{md}");
        assert!(
            md.contains(
                "| default | 16 | 1000 | 500 | 0.50× | 1.00 | 2.00 | 2.00× | 1.00 | 2.00 | 2.00× |"
            ),
            "{md}"
        );
        assert!(
            md.contains("| stale | 1 | 100 | error | – | 1.00 | error | – |"),
            "{md}"
        );
        assert!(md.contains("- stale ×1, cross-DC: failed: no path"), "{md}");
    }

    #[test]
    fn failover_summaries_leave_missed_trials_out_of_the_percentiles() {
        let mut r = report();
        let trial = |to: Option<f64>, back: Option<f64>| Trial {
            to_dc2_ms: to,
            back_ms: back,
            fail_put_ms: Some(1.0),
            pass_put_ms: Some(1.0),
            dns_queries: 10,
            ..Trial::default()
        };
        r.trials = vec![
            trial(Some(30.0), Some(10.0)),
            trial(Some(50.0), Some(20.0)),
            trial(None, None),
            trial(Some(40.0), None),
        ];
        let to = r.to_dc2();
        assert_eq!((to.samples, to.seen, to.missed), (4, 3, 1));
        assert_eq!((to.p50_ms, to.max_ms), (40.0, 50.0));
        let back = r.back();
        assert_eq!((back.samples, back.seen, back.missed), (3, 2, 1));
        let mut md = String::new();
        r.section(&mut md, 3);
        assert!(
            md.contains("Failover (dc1 critical → DNS answers dc2): p50 40.0 ms, max 50.0 ms over 3 trials, 1 of 4 missed the deadline."),
            "{md}"
        );
        assert!(
            md.contains("| 3 | missed | 1.0 | missed | 1.0 | 10 | 0 |"),
            "{md}"
        );
    }
}
