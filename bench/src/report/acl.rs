//! The acl phase's results (the `acl` subcommand's JSON) and their section
//! of BENCHMARKS.md: durable puts and default-consistency gets on a praetor
//! server with ACLs off beside one with ACLs on, and whether enforcement
//! stays under its budget. Computed from the numbers, like the rest of the
//! report; never measures anything itself.

use std::fmt::Write as _;

use serde::Serialize;

use super::{Config, Outcome};
use crate::machine::Machine;
use crate::stats::Throughput;

/// The goal: with ACLs on, every row keeps at least this share of the
/// throughput it has with ACLs off.
pub const GOAL_RATIO: f64 = 0.95;

/// One side of one row: every round's run, and the rounds merged.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct SideResult {
    /// Each round's run, in round order.
    pub rounds: Vec<Outcome<Throughput>>,
    /// The rounds that succeeded, merged: requests over seconds, and the
    /// percentiles over every request of them.
    pub merged: Option<Throughput>,
    /// Server CPU seconds (user + system) over the rounds that succeeded.
    pub server_cpu_s: f64,
}

impl SideResult {
    /// Server CPU microseconds per acknowledged request.
    pub fn cpu_us_per_op(&self) -> Option<f64> {
        self.merged
            .as_ref()
            .filter(|m| m.ops > 0)
            .map(|m| self.server_cpu_s * 1e6 / m.ops as f64)
    }
}

/// One row: one operation with one number of clients, on both servers.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct AclRow {
    /// "puts" (durable) or "gets" (default consistency).
    pub op: String,
    pub clients: usize,
    pub off: SideResult,
    pub on: SideResult,
}

impl AclRow {
    /// Merged throughput with ACLs on over that with them off.
    pub fn ratio(&self) -> Option<f64> {
        match (&self.off.merged, &self.on.merged) {
            (Some(off), Some(on)) if off.ops_per_sec > 0.0 => {
                Some(on.ops_per_sec / off.ops_per_sec)
            }
            _ => None,
        }
    }

    /// The largest difference between two rounds of the same side, as a
    /// share of their mean: how far the machine alone moves a number.
    pub fn spread(&self) -> Option<f64> {
        let spread = |s: &SideResult| {
            let ok: Vec<f64> = s
                .rounds
                .iter()
                .filter_map(|r| r.as_ref().ok().map(|t| t.ops_per_sec))
                .collect();
            let (lo, hi) = ok
                .iter()
                .fold((f64::MAX, 0.0f64), |(lo, hi), &v| (lo.min(v), hi.max(v)));
            let mean = ok.iter().sum::<f64>() / ok.len().max(1) as f64;
            (ok.len() >= 2 && mean > 0.0).then(|| (hi - lo) / mean)
        };
        match (spread(&self.off), spread(&self.on)) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }
}

/// Everything the acl phase measured.
#[derive(Debug, Serialize, serde::Deserialize)]
pub struct AclReport {
    pub config: Config,
    pub command: String,
    pub date: String,
    pub praetor_version: String,
    pub machine: Option<Machine>,
    /// Clients of the put and get rows.
    pub clients: Vec<usize>,
    /// Rounds per side and row.
    pub rounds: usize,
    /// Keys loaded on each server; the get rows read among them.
    pub keys: u64,
    /// How each server was started (paths shown as $TMP).
    pub off_cmd: String,
    pub on_cmd: String,
    /// The ACL config file of the "on" server, its secret elided.
    pub acl_config: String,
    /// The rules of the policy the workload's token has.
    pub rules: String,
    /// What was checked to show the "on" server enforces.
    pub enforcement: Vec<String>,
    pub load_before: String,
    pub load_after: String,
    /// Loading the keys on each server.
    pub load_off: Outcome<Throughput>,
    pub load_on: Outcome<Throughput>,
    pub rows: Vec<AclRow>,
    /// Servers that exited on their own or needed SIGKILL.
    pub stopped: Vec<String>,
    /// Why the phase stopped early, if it did.
    pub error: Option<String>,
}

fn not_run<T>() -> Outcome<T> {
    Err("not run".into())
}

impl AclReport {
    pub fn new(config: Config, command: String, date: String, praetor_version: String) -> Self {
        Self {
            config,
            command,
            date,
            praetor_version,
            machine: None,
            clients: Vec::new(),
            rounds: 0,
            keys: 0,
            off_cmd: String::new(),
            on_cmd: String::new(),
            acl_config: String::new(),
            rules: String::new(),
            enforcement: Vec::new(),
            load_before: String::new(),
            load_after: String::new(),
            load_off: not_run(),
            load_on: not_run(),
            rows: Vec::new(),
            stopped: Vec::new(),
            error: None,
        }
    }

    /// The verdict on [`GOAL_RATIO`], computed from the rows.
    pub fn verdict(&self) -> String {
        let ratios: Vec<(String, f64)> = self
            .rows
            .iter()
            .filter_map(|r| r.ratio().map(|x| (format!("{} ×{}", r.op, r.clients), x)))
            .collect();
        if ratios.is_empty() || ratios.len() < self.rows.len() {
            return "**Not measured**: some rows failed (see the notes).".into();
        }
        let (worst, w) = ratios
            .iter()
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(l, x)| (l.clone(), *x))
            .unwrap_or_default();
        let spread = self
            .rows
            .iter()
            .filter_map(AclRow::spread)
            .fold(0.0f64, f64::max);
        let cost = (1.0 - w) * 100.0;
        if w >= GOAL_RATIO {
            format!(
                "**Met**: ACLs cost under {:.0}% of throughput on every row; the worst row, {worst}, \
                 keeps {w:.3}× ({cost:+.1}% cost). Two rounds of the same side differed by up to \
                 {:.1}% in this run, so smaller differences are noise.",
                (1.0 - GOAL_RATIO) * 100.0,
                spread * 100.0
            )
        } else {
            format!(
                "**Not met**: the goal is under {:.0}% on every row; {worst} keeps {w:.3}× \
                 ({cost:.1}% cost). Two rounds of the same side differed by up to {:.1}% in this run.",
                (1.0 - GOAL_RATIO) * 100.0,
                spread * 100.0
            )
        }
    }

    /// Its section of BENCHMARKS.md, numbered `n`.
    pub fn section(&self, md: &mut String, n: usize) {
        let c = &self.config;
        let machine = self.machine.as_ref().map_or_else(
            || "unknown".to_owned(),
            |m| {
                format!(
                    "{}, {} cores, {:.1} GiB RAM, Linux {}; data directories on {}",
                    m.cpu, m.cores, m.ram_gib, m.kernel, m.disk
                )
            },
        );
        let clients = self
            .clients
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" and ");
        let _ = writeln!(
            md,
            "\n## {n}. Cost of ACL enforcement\n\n\
             A separate run on {date} (praetor alone): two durable single-server praetors, each on its own \
             loopback address in 127.0.13.0/24 with default ports, both running for the whole run on the \
             same machine as the bench client. **off** has no ACL config; **on** has ACLs enabled with \
             `default_policy = \"deny\"`, and the workload's clients send `X-Consul-Token` with an \
             application token whose one policy has {nrules} rules, of which only `key_prefix \"bench/\"` \
             (write) covers the keys used. The command, from the repository root:\n\n    {cmd}\n\n\
             - Machine: {machine}\n\
             - praetor: `{version}`\n\
             - Load average (1, 5, 15 min) before the phase: {lb}; after: {la}.\n\n\
             Method: {keys} keys (`bench/load/…`, 256-byte values) are loaded on each server with its \
             own client (on: the application token). Then, for each of {rounds} rounds, every row (puts, then gets, with \
             {clients} clients) runs on one server, then on the other, for {d} s each; the side that goes first alternates round by round \
             (off, on, then on, off), so a machine that slows down during the run slows both. Puts are durable \
             (acknowledged once in the Raft log on disk) to distinct keys `bench/put/…`; gets read random \
             loaded keys in the default consistency mode. Closed loop: each client on its own keep-alive \
             connection, one request at a time, as in sections 1 and 2. ops/s is every acknowledged request of \
             the {rounds} rounds over their seconds; p50 and p99 are nearest-rank over every request of them; \
             server CPU is user + system time of the server process (from `/proc/<pid>/stat`) per request.\n\n\
             | row | clients | off ops/s | on ops/s | on ÷ off | off p50 ms | on p50 ms | off p99 ms | on p99 ms | off server CPU µs/op | on server CPU µs/op |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            date = self.date,
            nrules = self.rules.lines().filter(|l| l.contains("policy")).count(),
            cmd = self.command,
            version = self.praetor_version,
            lb = self.load_before,
            la = self.load_after,
            keys = self.keys,
            rounds = self.rounds,
            d = c.duration_secs,
        );
        let num = |t: &Option<Throughput>, f: fn(&Throughput) -> String| {
            t.as_ref().map_or_else(|| "error".to_owned(), f)
        };
        let cpu = |s: &SideResult| s.cpu_us_per_op().map_or("–".into(), |v| format!("{v:.0}"));
        for r in &self.rows {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                r.op,
                r.clients,
                num(&r.off.merged, |t| format!("{:.0}", t.ops_per_sec)),
                num(&r.on.merged, |t| format!("{:.0}", t.ops_per_sec)),
                r.ratio().map_or("–".into(), |x| format!("{x:.3}×")),
                num(&r.off.merged, |t| format!("{:.2}", t.p50_ms)),
                num(&r.on.merged, |t| format!("{:.2}", t.p50_ms)),
                num(&r.off.merged, |t| format!("{:.2}", t.p99_ms)),
                num(&r.on.merged, |t| format!("{:.2}", t.p99_ms)),
                cpu(&r.off),
                cpu(&r.on),
            );
        }
        let _ = writeln!(md, "\n{}\n", self.verdict());
        let _ = writeln!(
            md,
            "Each round's ops/s, in the order they ran (a round's first side ran first):\n\n\
             | row | clients | {} |\n|---|---:|{}",
            (1..=self.rounds)
                .map(|i| {
                    if i % 2 == 1 {
                        format!("round {i}: off | round {i}: on")
                    } else {
                        format!("round {i}: on | round {i}: off")
                    }
                })
                .collect::<Vec<_>>()
                .join(" | "),
            "---:|".repeat(2 * self.rounds)
        );
        let round = |o: Option<&Outcome<Throughput>>| match o {
            Some(Ok(t)) => format!("{:.0}", t.ops_per_sec),
            Some(Err(_)) => "error".into(),
            None => "–".into(),
        };
        for r in &self.rows {
            let cells = (0..self.rounds)
                .map(|i| {
                    let (a, b) = if i % 2 == 0 {
                        (&r.off, &r.on)
                    } else {
                        (&r.on, &r.off)
                    };
                    format!("{} | {}", round(a.rounds.get(i)), round(b.rounds.get(i)))
                })
                .collect::<Vec<_>>()
                .join(" | ");
            let _ = writeln!(md, "| {} | {} | {cells} |", r.op, r.clients);
        }
        let mut notes = Vec::new();
        for r in &self.rows {
            for (side, s) in [("off", &r.off), ("on", &r.on)] {
                for (i, o) in s.rounds.iter().enumerate() {
                    match o {
                        Err(e) => notes.push(format!(
                            "{} ×{} {side}, round {}: failed: {}",
                            r.op,
                            r.clients,
                            i + 1,
                            e.replace('\n', " ")
                        )),
                        Ok(t) if t.errors > 0 => notes.push(format!(
                            "{} ×{} {side}, round {}: {} requests failed (not counted)",
                            r.op,
                            r.clients,
                            i + 1,
                            t.errors
                        )),
                        Ok(_) => {}
                    }
                }
            }
        }
        for (side, l) in [("off", &self.load_off), ("on", &self.load_on)] {
            if let Err(e) = l {
                notes.push(format!(
                    "loading the keys ({side}): {}",
                    e.replace('\n', " ")
                ));
            }
        }
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
            "\nThe enforcement was checked before measuring: {}.\n\n\
             The **on** server's ACL config (`acl.tokens.agent` is the management token too, so the agent's own \
             catalog sync is allowed, as in a deployment; without it the sync would be refused and retried \
             every second):\n\n{}\n\
             The application token's policy:\n\n{}\n\
             Started as (off, then on):\n\n    {}\n    {}",
            if self.enforcement.is_empty() {
                "not done".to_owned()
            } else {
                self.enforcement.join("; ")
            },
            indent(&self.acl_config),
            indent(&self.rules),
            self.off_cmd,
            self.on_cmd,
        );
    }
}

/// `text` as an indented markdown code block.
fn indent(text: &str) -> String {
    text.lines().fold(String::new(), |mut out, l| {
        let _ = writeln!(out, "    {l}");
        out
    })
}

impl crate::phase::PhaseReport for AclReport {
    fn set_error(&mut self, error: String) {
        self.error = Some(error);
    }

    fn standalone_markdown(&self) -> String {
        crate::phase::standalone(
            "ACL enforcement benchmark (acl phase only)",
            &self.command,
            &self.date,
            |md| self.section(md, 14),
        )
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

    fn t(ops_per_sec: f64) -> Throughput {
        Throughput {
            clients: 1,
            ops: 100,
            errors: 0,
            secs: 1.0,
            ops_per_sec,
            p50_ms: 1.0,
            p99_ms: 2.0,
        }
    }

    fn side(rounds: &[f64], merged: f64) -> SideResult {
        SideResult {
            rounds: rounds.iter().map(|&x| Ok(t(x))).collect(),
            merged: Some(t(merged)),
            server_cpu_s: 0.01,
        }
    }

    #[test]
    fn ratio_is_on_over_off_and_spread_is_the_widest_side() {
        let row = AclRow {
            op: "puts".into(),
            clients: 1,
            off: side(&[1000.0, 1100.0], 1050.0),
            on: side(&[990.0, 1000.0], 995.0),
        };
        let r = row.ratio().unwrap_or_default();
        assert!((r - 995.0 / 1050.0).abs() < 1e-9);
        let s = row.spread().unwrap_or_default();
        assert!((s - 100.0 / 1050.0).abs() < 1e-9);
        assert_eq!(row.off.cpu_us_per_op().map(f64::round), Some(100.0));
    }

    #[test]
    fn verdict_names_the_worst_row_against_the_goal() {
        let mut report = AclReport::new(
            <Flags as clap::Parser>::parse_from(["acl"]).config,
            "cmd".into(),
            "date".into(),
            "v".into(),
        );
        report.rows.push(AclRow {
            op: "gets".into(),
            clients: 16,
            off: side(&[1000.0], 1000.0),
            on: side(&[990.0], 990.0),
        });
        assert!(report.verdict().starts_with("**Met**"));
        report.rows.push(AclRow {
            op: "puts".into(),
            clients: 1,
            off: side(&[1000.0], 1000.0),
            on: side(&[900.0], 900.0),
        });
        let v = report.verdict();
        assert!(v.starts_with("**Not met**") && v.contains("puts ×1"), "{v}");
    }
}
