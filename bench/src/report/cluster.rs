//! The three-server cluster results (the `cluster` subcommand's JSON) and
//! their sections of BENCHMARKS.md: durable puts, failover, and the two goals
//! they decide. Computed from the numbers, like the rest of the report.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::{both_ratio, cell, ms, ops, ratio, Config, CpuRow, Notes, Outcome, Pair};
use crate::failover::Trial;
use crate::stats::Throughput;
use crate::workload::VALUE_SIZE;

/// Failover goal: every trial under this many milliseconds.
const FAILOVER_GOAL_MS: f64 = 3000.0;

/// One put row on a cluster, with the check that every acknowledged put is there.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterPuts {
    pub throughput: Throughput,
    /// Keys under the row's prefix afterwards (linearizable count).
    pub keys_found: u64,
    /// Acknowledged puts plus each client's warm-up put.
    pub keys_expected: u64,
}

impl ClusterPuts {
    /// Acknowledged puts missing afterwards (a lower bound: a put that timed
    /// out but was applied anyway can hide one).
    pub fn lost(&self) -> u64 {
        self.keys_expected.saturating_sub(self.keys_found)
    }
}

/// Everything the cluster phase measured.
#[derive(Debug, Serialize, Deserialize)]
pub struct ClusterReport {
    pub config: Config,
    pub command: String,
    pub date: String,
    pub praetor_version: String,
    pub etcd_version: String,
    pub praetor_cmds: Vec<String>,
    pub etcd_cmds: Vec<String>,
    /// /proc/loadavg before the put rows and after the last failover trial.
    pub load_before: String,
    pub load_after: String,
    /// /proc/loadavg after the put rows, before the first failover trial.
    #[serde(default)]
    pub load_after_puts: String,
    /// Seconds from starting the members to the cluster serving.
    pub formed: Pair<Outcome<f64>>,
    /// One per `Config::put_clients`.
    pub puts: Vec<Pair<Outcome<ClusterPuts>>>,
    pub failover: Pair<Vec<Outcome<Trial>>>,
    pub cpu: Vec<CpuRow>,
    /// Put rows across which a cluster's leader changed (or was unknown).
    pub leader_changes: Vec<String>,
    /// Members found to have exited on their own at the end.
    pub exited: Vec<String>,
    /// Members that needed SIGKILL to stop at the end.
    pub forced: Vec<String>,
    /// Why the phase stopped early, if it did.
    pub error: Option<String>,
}

/// Nearest-rank median and maximum.
/// A load average, or "not recorded" (results from an older bench).
fn or_unknown(load: &str) -> &str {
    if load.is_empty() {
        "not recorded"
    } else {
        load
    }
}

fn median_max(mut v: Vec<f64>) -> Option<(f64, f64)> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let median = v[v.len().div_ceil(2) - 1];
    Some((median, v[v.len() - 1]))
}

fn ok_trials(trials: &[Outcome<Trial>]) -> Vec<&Trial> {
    trials.iter().filter_map(|t| t.as_ref().ok()).collect()
}

/// A failover summary row: label, praetor, etcd, decimals, and whether a
/// ratio means anything (not for the leader-seen-to-put gap, which for etcd
/// is within the polling resolution).
type SummaryRow<'a> = (&'a str, Option<f64>, Option<f64>, usize, bool);

/// One side's failover trials summed up: (median, max) pairs over the
/// trials that measured a failover.
struct Summary {
    ok: usize,
    run: usize,
    seen: Option<(f64, f64)>,
    /// From a new leader being seen to the first acknowledged put.
    gap: Option<(f64, f64)>,
    failover: Option<(f64, f64)>,
    rejoin: Option<(f64, f64)>,
    lost: u64,
    acknowledged: u64,
}

impl Summary {
    fn of(trials: &[Outcome<Trial>]) -> Self {
        let ok = ok_trials(trials);
        Self {
            ok: ok.len(),
            run: trials.len(),
            seen: median_max(ok.iter().filter_map(|t| t.elected_ms).collect()),
            gap: median_max(
                ok.iter()
                    .filter_map(|t| t.elected_ms.map(|e| t.failover_ms - e))
                    .collect(),
            ),
            failover: median_max(ok.iter().map(|t| t.failover_ms).collect()),
            rejoin: median_max(ok.iter().map(|t| t.rejoin_secs).collect()),
            lost: ok.iter().map(|t| t.lost).sum(),
            acknowledged: ok.iter().map(|t| t.acknowledged).sum(),
        }
    }
}

impl ClusterReport {
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
            praetor_cmds: Vec::new(),
            etcd_cmds: Vec::new(),
            load_before: String::new(),
            load_after: String::new(),
            load_after_puts: String::new(),
            formed: Pair::default(),
            puts: Vec::new(),
            failover: Pair {
                praetor: Vec::new(),
                etcd: Vec::new(),
            },
            cpu: Vec::new(),
            leader_changes: Vec::new(),
            exited: Vec::new(),
            forced: Vec::new(),
            error: None,
        }
    }

    /// The two cluster goals as "Where it stands" lines, each with whether it
    /// was met.
    pub fn goals(&self) -> Vec<(bool, String)> {
        let mut out = Vec::new();

        // Throughput at least etcd's on every cluster put row, losing nothing.
        let mut behind = Vec::new();
        let mut ahead = Vec::new();
        let mut lost = Vec::new();
        for (c, p) in self.config.put_clients.iter().zip(&self.puts) {
            let label = format!("puts ×{c}");
            match (&p.praetor, &p.etcd) {
                (Ok(a), Ok(b)) => {
                    let r = ratio(a.throughput.ops_per_sec, b.throughput.ops_per_sec);
                    if a.throughput.ops_per_sec >= b.throughput.ops_per_sec {
                        ahead.push(format!("{label} ({r})"));
                    } else {
                        behind.push(format!("{label} ({r})"));
                    }
                }
                _ => behind.push(format!("{label} (failed)")),
            }
            if let Ok(a) = &p.praetor {
                if a.lost() > 0 {
                    lost.push(format!(
                        "{label}: {} of {} acknowledged keys missing",
                        a.lost(),
                        a.keys_expected
                    ));
                }
            }
        }
        if self.puts.is_empty() {
            behind.push("every row (not run)".into());
        }
        let met = behind.is_empty() && lost.is_empty();
        let mut text = if behind.is_empty() {
            format!(
                "praetor ≥ etcd on every three-server put row ({})",
                ahead.join(", ")
            )
        } else {
            let also = if ahead.is_empty() {
                String::new()
            } else {
                format!("; at or ahead on {}", ahead.join(", "))
            };
            format!(
                "praetor ≥ etcd on every three-server put row. Behind on {}{also}",
                behind.join(", ")
            )
        };
        if !lost.is_empty() {
            let _ = write!(text, ". **Lost writes**: {}", lost.join("; "));
        }
        out.push((met, text));

        out.push(self.failover_goal());
        out
    }

    /// The put rows' throughput by client count: praetor's and etcd's
    /// ops/s, or `None` when a side failed.
    pub fn put_rates(&self) -> Vec<(usize, Option<(f64, f64)>)> {
        self.config
            .put_clients
            .iter()
            .zip(&self.puts)
            .map(|(&c, p)| {
                let rates = match (&p.praetor, &p.etcd) {
                    (Ok(a), Ok(b)) => Some((a.throughput.ops_per_sec, b.throughput.ops_per_sec)),
                    _ => None,
                };
                (c, rates)
            })
            .collect()
    }

    /// praetor's put rows whose acknowledged keys were not all found
    /// afterwards, one line each.
    pub fn lost_writes(&self) -> Vec<String> {
        self.config
            .put_clients
            .iter()
            .zip(&self.puts)
            .filter_map(|(c, p)| {
                let a = p.praetor.as_ref().ok()?;
                (a.lost() > 0).then(|| {
                    format!(
                        "puts ×{c}: {} of {} acknowledged keys missing",
                        a.lost(),
                        a.keys_expected
                    )
                })
            })
            .collect()
    }

    /// Failover under 3 s in every trial, losing nothing.
    pub fn failover_goal(&self) -> (bool, String) {
        let p = ok_trials(&self.failover.praetor);
        let failed = self.failover.praetor.len() - p.len();
        let lost: u64 = p.iter().map(|t| t.lost).sum();
        let etcd = match median_max(
            ok_trials(&self.failover.etcd)
                .iter()
                .map(|t| t.failover_ms)
                .collect(),
        ) {
            Some((m, x)) => format!("etcd: median {m:.0} ms, max {x:.0} ms"),
            None => "etcd: no successful trial".into(),
        };
        let text = match median_max(p.iter().map(|t| t.failover_ms).collect()) {
            Some((median, max)) => {
                let mut t = format!(
                    "praetor failover < {:.0} s (leader SIGKILL → first acknowledged put): median {median:.0} ms, \
                     max {max:.0} ms over {} trials ({etcd})",
                    FAILOVER_GOAL_MS / 1000.0,
                    p.len()
                );
                if failed > 0 {
                    let _ = write!(t, "; {failed} trials failed");
                }
                if lost > 0 {
                    let _ = write!(t, "; **{lost} acknowledged puts lost**");
                }
                return (failed == 0 && lost == 0 && max < FAILOVER_GOAL_MS, t);
            }
            None => format!(
                "praetor failover < {:.0} s: no successful trial ({failed} failed; {etcd})",
                FAILOVER_GOAL_MS / 1000.0
            ),
        };
        (false, text)
    }

    /// The cluster sections of BENCHMARKS.md, numbered from `first`.
    pub fn sections(&self, md: &mut String, first: usize) {
        self.puts_section(md, first);
        self.failover_section(md, first + 1);
    }

    fn notes(&self) -> Notes {
        let mut notes = Notes::default();
        if let Some(e) = &self.error {
            notes.0.push(format!(
                "the cluster phase stopped early: {}",
                e.replace('\n', " ")
            ));
        }
        notes.outcome("forming the cluster", &self.formed);
        for c in &self.leader_changes {
            notes.0.push(format!("**leader changed**: {c}"));
        }
        for m in &self.exited {
            notes
                .0
                .push(format!("{m} had exited on its own by the end of the phase"));
        }
        for m in &self.forced {
            notes.0.push(format!(
                "{m} did not stop within 15 s of SIGTERM and was killed"
            ));
        }
        notes
    }

    fn puts_section(&self, md: &mut String, n: usize) {
        let c = &self.config;
        let formed = |o: &Outcome<f64>| cell(o, |s| format!("{s:.1} s"));
        let _ = writeln!(
            md,
            "\n## {n}. Three-server cluster: durable puts\n\n\
             A separate phase, before the single-server rows: a three-server praetor cluster and a three-member \
             etcd cluster, each member on its own loopback address (127.0.10.x) with its system's default ports, \
             data on the same disk; both clusters run for the whole phase, and each row runs on one cluster, then on \
             the other, alternating who goes first. Each client puts distinct keys of {VALUE_SIZE} bytes, one at a \
             time, for {d} s, and spreads its puts over all three members: a praetor client sends them to the \
             three servers in turn (one keep-alive connection to each; followers forward to the leader), an etcd \
             client is one `etcd-client` client given all three endpoints, whose balancer picks a member per \
             request (followers forward proposals to the leader). A put is acknowledged once a majority has it on \
             disk. Afterwards a linearizable count of the row's keys checks that every acknowledged put is there \
             (\"keys found\"; it should equal the acknowledged puts plus one warm-up put per client).\n\n\
             - praetor servers, formed (every server agreeing on the leader, listing three Raft peers, and \
             replicating a put through each) in {pf}:\n{pc}\n\
             - etcd members, formed (the same test, without the peer list) in {ef}:\n{ec}\n\
             - Load average (1, 5, 15 min) before the put rows: {lb}; after them: {lp}. Six \
             servers and the bench client share the machine's cores.\n\n\
             | clients | praetor ops/s | etcd ops/s | praetor ÷ etcd | praetor p50 ms | etcd p50 ms | praetor p99 ms | etcd p99 ms | praetor keys found | etcd keys found |\n\
             |---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            d = c.duration_secs,
            pf = formed(&self.formed.praetor),
            ef = formed(&self.formed.etcd),
            pc = self.praetor_cmds.iter().map(|s| format!("  - `{s}`")).collect::<Vec<_>>().join("\n"),
            ec = self.etcd_cmds.iter().map(|s| format!("  - `{s}`")).collect::<Vec<_>>().join("\n"),
            lb = self.load_before,
            lp = or_unknown(&self.load_after_puts),
        );
        let mut notes = self.notes();
        for (clients, p) in c.put_clients.iter().zip(&self.puts) {
            let t = |o: &Outcome<ClusterPuts>| {
                o.as_ref()
                    .map(|x| x.throughput.clone())
                    .map_err(Clone::clone)
            };
            let (pt, et) = (t(&p.praetor), t(&p.etcd));
            let keys = |x: &ClusterPuts| format!("{}/{}", x.keys_found, x.keys_expected);
            let _ = writeln!(
                md,
                "| {clients} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                cell(&pt, ops),
                cell(&et, ops),
                both_ratio(&pt, &et, |t| t.ops_per_sec),
                cell(&pt, |t| ms(t.p50_ms)),
                cell(&et, |t| ms(t.p50_ms)),
                cell(&pt, |t| ms(t.p99_ms)),
                cell(&et, |t| ms(t.p99_ms)),
                cell(&p.praetor, keys),
                cell(&p.etcd, keys),
            );
            let what = format!("cluster puts ×{clients}");
            notes.outcome(&what, p);
            notes.errors(
                &what,
                &Pair {
                    praetor: pt,
                    etcd: et,
                },
            );
            for (side, o) in [("praetor", &p.praetor), ("etcd", &p.etcd)] {
                if let Ok(x) = o {
                    if x.lost() > 0 {
                        notes.0.push(format!(
                            "**{side}, {what}: {} acknowledged puts are missing afterwards**",
                            x.lost()
                        ));
                    }
                }
            }
        }
        if self.puts.is_empty() {
            notes.0.push("no cluster put row was run".into());
        }
        notes.write(md);
    }

    fn failover_section(&self, md: &mut String, n: usize) {
        let c = &self.config;
        let _ = writeln!(
            md,
            "\n## {n}. Three-server cluster: failover\n\n\
             After the put rows, {trials} trials per cluster, alternating which cluster goes first. A trial waits \
             until the cluster is whole (as when it formed), puts one key through each member, then kills the \
             leader (praetor: `/v1/status/leader`; etcd: the maintenance Status of each member) with SIGKILL. \
             From then on a put starts every {poll} ms, alternately through each surviving member (one connection \
             to each, opened before the kill), each giving up after {to} ms; failover time is from the SIGKILL to \
             the first put acknowledged, so its resolution is about {poll} ms; \"leader seen\" is from the SIGKILL to a \
             survivor first naming a survivor as leader (polled as often). The killed member is then restarted \
             on its data directory (\"rejoin\": until the cluster is whole again), and a linearizable read checks \
             that every put acknowledged in the trial is there. The clusters are otherwise idle, and keep their \
             systems' default timing. praetor: Raft heartbeat 100 ms, election timeout 300–600 ms, and \
             openraft 0.9 lets a follower that saw a leader stand only after a leader lease (the maximum election \
             timeout, 600 ms) plus its randomized election timeout have passed since the last heartbeat, so about \
             0.9–1.2 s; etcd: heartbeat 100 ms, election timeout 1000 ms, which its Raft randomizes to 1–2 s. \
             Load average (1, 5, 15 min) before the first trial: {lp}; after the last: {la}.\n\n\
             | trial | praetor killed → new leader | praetor leader seen ms | praetor failover ms | praetor failed puts | praetor rejoin s | etcd killed → new leader | etcd leader seen ms | etcd failover ms | etcd failed puts | etcd rejoin s |\n\
             |---:|---|---:|---:|---:|---:|---|---:|---:|---:|---:|",
            trials = c.failover_trials,
            poll = c.failover_poll_ms,
            to = c.failover_put_timeout_ms,
            lp = or_unknown(&self.load_after_puts),
            la = self.load_after,
        );
        let rows = self.failover.praetor.len().max(self.failover.etcd.len());
        let mut notes = Notes::default();
        let skipped =
            |o: Option<&Outcome<Trial>>| o.map_or_else(|| Err("skipped".to_owned()), Clone::clone);
        for i in 0..rows {
            let p = skipped(self.failover.praetor.get(i));
            let e = skipped(self.failover.etcd.get(i));
            let who =
                |t: &Trial| format!("{} → {}", t.killed, t.new_leader.as_deref().unwrap_or("?"));
            let seen = |t: &Trial| t.elected_ms.map_or("–".into(), |m| format!("{m:.0}"));
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                i + 1,
                cell(&p, who),
                cell(&p, seen),
                cell(&p, |t| format!("{:.0}", t.failover_ms)),
                cell(&p, |t| t.failed_puts.to_string()),
                cell(&p, |t| format!("{:.1}", t.rejoin_secs)),
                cell(&e, who),
                cell(&e, seen),
                cell(&e, |t| format!("{:.0}", t.failover_ms)),
                cell(&e, |t| t.failed_puts.to_string()),
                cell(&e, |t| format!("{:.1}", t.rejoin_secs)),
            );
            notes.outcome(
                &format!("failover trial {}", i + 1),
                &Pair {
                    praetor: p,
                    etcd: e,
                },
            );
        }
        let (p, e) = (
            Summary::of(&self.failover.praetor),
            Summary::of(&self.failover.etcd),
        );
        let _ = writeln!(
            md,
            "\n| | praetor | etcd | praetor ÷ etcd |\n|---|---:|---:|---:|\n\
             | trials that measured a failover | {}/{} | {}/{} | |",
            p.ok, p.run, e.ok, e.run
        );
        let rows: [SummaryRow<'_>; 6] = [
            (
                "new leader seen, median ms",
                p.seen.map(|x| x.0),
                e.seen.map(|x| x.0),
                0,
                true,
            ),
            (
                "from leader seen to first put, median ms",
                p.gap.map(|x| x.0),
                e.gap.map(|x| x.0),
                0,
                false,
            ),
            (
                "failover, median ms",
                p.failover.map(|x| x.0),
                e.failover.map(|x| x.0),
                0,
                true,
            ),
            (
                "failover, max ms",
                p.failover.map(|x| x.1),
                e.failover.map(|x| x.1),
                0,
                true,
            ),
            (
                "rejoin after restart, median s",
                p.rejoin.map(|x| x.0),
                e.rejoin.map(|x| x.0),
                1,
                true,
            ),
            (
                "rejoin after restart, max s",
                p.rejoin.map(|x| x.1),
                e.rejoin.map(|x| x.1),
                1,
                true,
            ),
        ];
        for (label, a, b, digits, comparable) in rows {
            let v = |x: Option<f64>| x.map_or("–".into(), |x| format!("{x:.digits$}"));
            let r = match (a, b) {
                (Some(a), Some(b)) if comparable => ratio(a, b),
                _ => "–".into(),
            };
            let _ = writeln!(md, "| {label} | {} | {} | {r} |", v(a), v(b));
        }
        let _ = writeln!(
            md,
            "| acknowledged puts lost | {} of {} | {} of {} | |",
            p.lost, p.acknowledged, e.lost, e.acknowledged
        );
        notes.write(md);
    }

    /// A report of the cluster phase alone (`bench/run.sh --cluster-only`).
    fn standalone_markdown_text(&self) -> String {
        let mut md = format!(
            "# Cluster benchmark: praetor vs etcd (cluster phase only)\n\n\
             Written by `{}` on {}; BENCHMARKS.md is left as it was.\n\n\
             - praetor: `{}`\n- etcd: `{}`\n\n## Where it stands\n\n",
            self.command, self.date, self.praetor_version, self.etcd_version
        );
        for (met, text) in self.goals() {
            let _ = writeln!(md, "- **{}**: {text}.", if met { "Met" } else { "Not met" });
        }
        self.sections(&mut md, 1);
        let _ = writeln!(
            md,
            "\n## CPU used per row\n\n\
             | row | praetor wall s | praetor servers CPU s | client CPU s (praetor) | etcd wall s | etcd servers CPU s | client CPU s (etcd) |\n\
             |---|---:|---:|---:|---:|---:|---:|"
        );
        super::cpu_rows(&mut md, &self.cpu);
        md
    }
}

impl crate::phase::PhaseReport for ClusterReport {
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

    #[test]
    fn median_max_use_nearest_rank() {
        assert_eq!(median_max(vec![]), None);
        assert_eq!(median_max(vec![3.0, 1.0, 2.0]), Some((2.0, 3.0)));
        assert_eq!(median_max(vec![4.0, 1.0, 3.0, 2.0]), Some((2.0, 4.0)));
    }
}
