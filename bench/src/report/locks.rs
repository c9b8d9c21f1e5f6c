//! The locks phase's results (the `locks` subcommand's JSON) and their
//! section of BENCHMARKS.md: lock hand-over after the holder dies, and
//! transaction throughput, praetor beside etcd. No goals: the issue asks
//! for the comparison, not for a bound. Computed from the numbers, like the
//! rest of the report.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::{both_ratio, cell, ms, ops, Config, Notes, Outcome, Pair};
use crate::stats::Throughput;

/// One hand-over row: one tool with one set of settings, several trials.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HandoverRow {
    /// "praetor" or "etcd".
    pub side: String,
    /// The contenders' command, as run (paths shown as $TMP).
    pub command: String,
    /// What ends the dead holder's hold, and the settings that bound it.
    pub settings: String,
    /// What is killed at the start of the measurement.
    pub killed: String,
    /// What marks the end: the new holder's child starting, or its
    /// proposal printed.
    pub end: String,
    /// Seconds from the kill to the new holder's start, per trial.
    pub trials: Vec<Outcome<f64>>,
}

/// One transaction row: the same number of clients on both clusters.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TxnRow {
    pub clients: usize,
    pub result: Pair<Outcome<Throughput>>,
}

/// Everything the locks phase measured.
#[derive(Debug, Serialize, Deserialize)]
pub struct LocksReport {
    pub config: Config,
    pub command: String,
    pub date: String,
    pub praetor_version: String,
    pub etcd_version: String,
    pub etcdctl_version: String,
    pub praetor_cmds: Vec<String>,
    pub etcd_cmds: Vec<String>,
    pub load_before: String,
    pub load_after: String,
    /// Seconds from starting each cluster to its serving.
    pub formed: Pair<Outcome<f64>>,
    pub txn: Vec<TxnRow>,
    pub handover: Vec<HandoverRow>,
    /// Members that exited on their own or needed SIGKILL.
    pub stopped: Vec<String>,
    /// Why the phase stopped early, if it did.
    pub error: Option<String>,
}

/// Median and maximum of the trials that succeeded.
fn median_max(trials: &[Outcome<f64>]) -> Option<(f64, f64)> {
    let mut ok: Vec<f64> = trials
        .iter()
        .filter_map(|t| t.as_ref().ok().copied())
        .collect();
    if ok.is_empty() {
        return None;
    }
    ok.sort_by(f64::total_cmp);
    let n = ok.len();
    let median = if n % 2 == 1 {
        ok[n / 2]
    } else {
        (ok[n / 2 - 1] + ok[n / 2]) / 2.0
    };
    Some((median, ok[n - 1]))
}

impl LocksReport {
    pub fn new(
        config: Config,
        command: String,
        date: String,
        praetor_version: String,
        etcd_version: String,
    ) -> Self {
        Self {
            config,
            command,
            date,
            praetor_version,
            etcd_version,
            etcdctl_version: String::new(),
            praetor_cmds: Vec::new(),
            etcd_cmds: Vec::new(),
            load_before: String::new(),
            load_after: String::new(),
            formed: Pair::default(),
            txn: Vec::new(),
            handover: Vec::new(),
            stopped: Vec::new(),
            error: None,
        }
    }

    /// Its section of BENCHMARKS.md, numbered `n`.
    pub fn sections(&self, md: &mut String, n: usize) {
        let c = &self.config;
        let _ = writeln!(
            md,
            "\n## {n}. Locks and transactions: praetor vs etcd, three-server clusters\n\n\
             A three-server praetor cluster with two client agents (c1, c2), and a three-member etcd cluster, \
             every process on its own loopback address in 127.0.12.0/24 with default ports, both running \
             during the whole phase on the same machine as the contenders and the bench client. \
             Load average (1, 5, 15 min) before the phase: {lb}; after: {la}.\n\n\
             ### {n}a. Lock hand-over when the holder dies\n\n\
             Two contenders for one lock, A and B. Once A's child runs and B waits, A's host \"dies\": every \
             process of it gets SIGKILL at once (for praetor its client agent c1, its `praetor lock`/`praetor elect` \
             process and its child; for etcd, which has no agent, the `etcdctl` process and its child). The time is \
             from that kill to B's start: B's child (`<child>` below: `sh -c 'date +%s%N >> FILE; exec sleep 400'`) \
             writing a nanosecond timestamp as its first command, or, for `etcdctl elect`, which runs no child, B printing its proposal (read by the bench \
             through a pipe). A fresh key per trial; the killed agent is restarted and back in the catalog with a \
             passing `serfHealth` before the next. {trials} trials per row, each bounded by {dl} s. Nothing is \
             tuned unless the row says so: the first row of each system is its defaults.\n\n\
             | system | contenders run | what frees the dead holder's lock | killed | B's start | hand-over s, each trial | median s | max s |\n\
             |---|---|---|---|---|---|---:|---:|",
            lb = self.load_before,
            la = self.load_after,
            trials = c.lock_trials,
            dl = c.handover_deadline_secs,
        );
        let mut notes = Notes::default();
        for r in &self.handover {
            let each = r
                .trials
                .iter()
                .map(|t| match t {
                    Ok(s) => format!("{s:.2}"),
                    Err(_) => "error".into(),
                })
                .collect::<Vec<_>>()
                .join(", ");
            let (median, max) = median_max(&r.trials)
                .map_or(("–".into(), "–".into()), |(m, x)| {
                    (format!("{m:.2}"), format!("{x:.2}"))
                });
            let _ = writeln!(
                md,
                "| {} | `{}` | {} | {} | {} | {each} | {median} | {max} |",
                r.side, r.command, r.settings, r.killed, r.end
            );
            for (i, t) in r.trials.iter().enumerate() {
                if let Err(e) = t {
                    notes.0.push(format!(
                        "{} `{}`, trial {}: failed: {}",
                        r.side,
                        r.command,
                        i + 1,
                        e.replace('\n', " ")
                    ));
                }
            }
        }
        if self.handover.is_empty() {
            let _ = writeln!(md, "| – | not run | | | | | | |");
        }
        notes.write(md);
        let _ = writeln!(
            md,
            "\nHow to read it: praetor's hold ends when the servers invalidate the dead holder's session, which \
             the gossip failure detector triggers (the session's node check `serfHealth` goes critical when c1 \
             stops answering probes), or, failing that, the session TTL (the servers expire it after twice the \
             TTL); then Consul's lock-delay keeps the key unacquirable (15 s by default, `praetor lock` does not \
             change it), and B, whose acquire is refused, retries once a second. etcd's hold ends when the \
             dead holder's lease expires: its session TTL (`etcdctl elect`: 60 s, the concurrency package's \
             default, not settable from etcdctl 3.4; `etcdctl lock`: `--ttl`, 10 s by default); B, watching \
             the key before its own, then runs at once (the lease runs from A's last keep-alive, sent every \
             third of the TTL, so slightly under the TTL after the kill). Shorter TTLs and lock-delays hand \
             over sooner but give a holder that is only paused (not dead) less time before a second holder \
             may act; praetor's lock-delay is that margin, and `praetor elect`'s fencing token covers a paused \
             leader without it."
        );

        let _ = writeln!(
            md,
            "\n### {n}b. Transactions\n\n\
             Each transaction checks that a guard key is unchanged since the client's last transaction and \
             writes three keys (the guard among them), each value {size} bytes: praetor `PUT /v1/txn` with \
             `check-index` on the guard plus three `set`s; etcd `Txn` comparing the guard's `mod_revision` then \
             three `Put`s (etcd-client crate, gRPC). Every client has its own guard, so no transaction should \
             fail its check; the index or revision for the next one comes from the answer. Clients spread \
             their requests over the three servers (praetor: in turn; etcd: the crate's balancer). Closed \
             loop, {d} s per row, which side goes first alternates row by row; latencies are nearest-rank \
             over every transaction. Ratio: praetor ÷ etcd ops/s (above 1 is better for praetor).\n\n\
             | clients | praetor txn/s | praetor p50 ms | praetor p99 ms | etcd txn/s | etcd p50 ms | etcd p99 ms | ratio |\n\
             |---:|---:|---:|---:|---:|---:|---:|---:|",
            size = crate::workload::VALUE_SIZE,
            d = c.duration_secs,
        );
        let mut notes = Notes::default();
        for r in &self.txn {
            let p = &r.result;
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                r.clients,
                cell(&p.praetor, ops),
                cell(&p.praetor, |t| ms(t.p50_ms)),
                cell(&p.praetor, |t| ms(t.p99_ms)),
                cell(&p.etcd, ops),
                cell(&p.etcd, |t| ms(t.p50_ms)),
                cell(&p.etcd, |t| ms(t.p99_ms)),
                both_ratio(&p.praetor, &p.etcd, |t| t.ops_per_sec),
            );
            let what = format!("txn ×{}", r.clients);
            notes.outcome(&what, p);
            notes.errors(&what, p);
        }
        if self.txn.is_empty() {
            let _ = writeln!(md, "| – | not run | | | | | | |");
        }
        for (side, f) in [
            ("praetor", &self.formed.praetor),
            ("etcd", &self.formed.etcd),
        ] {
            if let Err(e) = f {
                notes.0.push(format!(
                    "the {side} cluster did not form: {}",
                    e.replace('\n', " ")
                ));
            }
        }
        for s in &self.stopped {
            notes.0.push(s.clone());
        }
        if let Some(e) = &self.error {
            notes
                .0
                .push(format!("the phase stopped early: {}", e.replace('\n', " ")));
        }
        notes.write(md);
        let _ = writeln!(md, "\nStarted as:\n");
        for cmd in self.praetor_cmds.iter().chain(&self.etcd_cmds) {
            let _ = writeln!(md, "    {cmd}");
        }
        if !self.etcdctl_version.is_empty() {
            let _ = writeln!(md, "\netcdctl: `{}`.", self.etcdctl_version);
        }
    }

    /// A report of the locks phase alone (`bench/run.sh --locks-only`).
    fn standalone_markdown_text(&self) -> String {
        let mut md = format!(
            "# Locks benchmark: praetor vs etcd (locks phase only)\n\n\
             Written by `{}` on {}; BENCHMARKS.md is left as it was.\n\n\
             - praetor: `{}`\n- etcd: `{}`\n",
            self.command, self.date, self.praetor_version, self.etcd_version
        );
        self.sections(&mut md, 1);
        md
    }
}

impl crate::phase::PhaseReport for LocksReport {
    fn set_error(&mut self, error: String) {
        self.error = Some(error);
    }

    fn standalone_markdown(&self) -> String {
        self.standalone_markdown_text()
    }
}
