//! The tls phase's results (the `tls` subcommand's JSON) and their section of
//! BENCHMARKS.md: durable puts and default-consistency gets on one praetor
//! and one etcd, each over plain HTTP and over TLS with client certificates,
//! and whether the goals are met. Computed from the numbers, like
//! the rest of the report; never measures anything itself.

use std::fmt::Write as _;

use serde::Serialize;

use super::{Config, Outcome};
use crate::machine::Machine;
use crate::stats::Throughput;

/// The first goal: praetor over HTTPS keeps at least this share of its HTTP
/// throughput on every row (TLS costs it under 15 %).
pub const GOAL_KEEP: f64 = 0.85;
/// The second goal: praetor over HTTPS at or ahead of etcd over TLS.
pub const GOAL_VS_ETCD: f64 = 1.0;

/// One system reached one way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub enum Mode {
    PraetorHttp,
    PraetorHttps,
    EtcdPlain,
    EtcdTls,
}

/// The modes, in the order of [`TlsRow::modes`].
pub const MODES: [Mode; 4] = [
    Mode::PraetorHttp,
    Mode::PraetorHttps,
    Mode::EtcdPlain,
    Mode::EtcdTls,
];

impl Mode {
    pub fn label(self) -> &'static str {
        match self {
            Mode::PraetorHttp => "praetor HTTP",
            Mode::PraetorHttps => "praetor HTTPS",
            Mode::EtcdPlain => "etcd plain",
            Mode::EtcdTls => "etcd TLS",
        }
    }

    /// For key names.
    pub fn slug(self) -> &'static str {
        match self {
            Mode::PraetorHttp => "praetor-http",
            Mode::PraetorHttps => "praetor-https",
            Mode::EtcdPlain => "etcd-plain",
            Mode::EtcdTls => "etcd-tls",
        }
    }
}

/// One mode of one row: every round's run, and the rounds merged.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct ModeResult {
    /// Each round's run, in round order.
    pub rounds: Vec<Outcome<Throughput>>,
    /// The rounds that succeeded, merged: requests over seconds, and the
    /// percentiles over every request of them.
    pub merged: Option<Throughput>,
    /// Server CPU seconds (user + system) over the rounds that succeeded.
    pub server_cpu_s: f64,
    /// The bench client's CPU seconds over them.
    pub client_cpu_s: f64,
}

impl ModeResult {
    fn per_op(&self, secs: f64) -> Option<f64> {
        self.merged
            .as_ref()
            .filter(|m| m.ops > 0)
            .map(|m| secs * 1e6 / m.ops as f64)
    }

    /// Server CPU microseconds per acknowledged request.
    pub fn server_us_per_op(&self) -> Option<f64> {
        self.per_op(self.server_cpu_s)
    }

    /// Client CPU microseconds per acknowledged request.
    pub fn client_us_per_op(&self) -> Option<f64> {
        self.per_op(self.client_cpu_s)
    }

    fn ops_per_sec(&self) -> Option<f64> {
        self.merged.as_ref().map(|m| m.ops_per_sec)
    }

    /// The largest difference between two of its rounds, as a share of
    /// their mean.
    fn spread(&self) -> Option<f64> {
        let ok: Vec<f64> = self
            .rounds
            .iter()
            .filter_map(|r| r.as_ref().ok().map(|t| t.ops_per_sec))
            .collect();
        let (lo, hi) = ok
            .iter()
            .fold((f64::MAX, 0.0f64), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        let mean = ok.iter().sum::<f64>() / ok.len().max(1) as f64;
        (ok.len() >= 2 && mean > 0.0).then(|| (hi - lo) / mean)
    }
}

/// One row: one operation with one number of clients, in every mode.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct TlsRow {
    /// "puts" (durable) or "gets" (default consistency).
    pub op: String,
    pub clients: usize,
    /// In [`MODES`] order.
    pub modes: [ModeResult; 4],
}

impl TlsRow {
    fn ratio(&self, a: Mode, b: Mode) -> Option<f64> {
        let (x, y) = (
            self.modes[a as usize].ops_per_sec()?,
            self.modes[b as usize].ops_per_sec()?,
        );
        (y > 0.0).then(|| x / y)
    }

    /// praetor's HTTPS throughput over its HTTP throughput.
    pub fn praetor_keep(&self) -> Option<f64> {
        self.ratio(Mode::PraetorHttps, Mode::PraetorHttp)
    }

    /// etcd's TLS throughput over its plain throughput.
    pub fn etcd_keep(&self) -> Option<f64> {
        self.ratio(Mode::EtcdTls, Mode::EtcdPlain)
    }

    /// praetor over HTTPS ÷ etcd over TLS.
    pub fn tls_vs_etcd(&self) -> Option<f64> {
        self.ratio(Mode::PraetorHttps, Mode::EtcdTls)
    }

    /// praetor over HTTP ÷ etcd plain.
    pub fn plain_vs_etcd(&self) -> Option<f64> {
        self.ratio(Mode::PraetorHttp, Mode::EtcdPlain)
    }

    /// The widest spread between rounds of one mode.
    pub fn spread(&self) -> Option<f64> {
        self.modes
            .iter()
            .filter_map(ModeResult::spread)
            .reduce(f64::max)
    }

    fn label(&self) -> String {
        format!("{} ×{}", self.op, self.clients)
    }
}

/// Everything the tls phase measured.
#[derive(Debug, Serialize, serde::Deserialize)]
pub struct TlsReport {
    pub config: Config,
    pub command: String,
    pub date: String,
    pub praetor_version: String,
    pub etcd_version: String,
    pub machine: Option<Machine>,
    /// Clients of the put and get rows.
    pub clients: Vec<usize>,
    /// Rounds per mode and row.
    pub rounds: usize,
    /// Keys loaded on each server; the get rows read among them.
    pub keys: u64,
    /// How the certificates were made.
    pub certs_made_by: String,
    /// What they are, one line each (from `openssl x509`).
    pub certificates: Vec<String>,
    /// praetor's config file (paths shown as $TMP).
    pub praetor_config: String,
    /// How each server was started (paths shown as $TMP).
    pub praetor_cmd: String,
    pub etcd_cmd: String,
    /// What was seen of a TLS client without a certificate, one line a server.
    pub refusals: Vec<String>,
    pub load_before: String,
    pub load_after: String,
    /// CPU seconds used on the machine by processes other than the two
    /// servers and the bench client while the rows ran, and the rows' wall
    /// seconds.
    pub other_cpu_s: f64,
    pub rows_wall_s: f64,
    /// Loading the keys on each server (plain).
    pub load_praetor: Outcome<Throughput>,
    pub load_etcd: Outcome<Throughput>,
    /// Each round's order of the modes (indices into [`MODES`]).
    pub orders: Vec<Vec<usize>>,
    pub rows: Vec<TlsRow>,
    /// Servers that exited on their own or needed SIGKILL.
    pub stopped: Vec<String>,
    /// Why the phase stopped early, if it did.
    pub error: Option<String>,
}

fn not_run<T>() -> Outcome<T> {
    Err("not run".into())
}

impl TlsReport {
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
            machine: None,
            clients: Vec::new(),
            rounds: 0,
            keys: 0,
            certs_made_by: String::new(),
            certificates: Vec::new(),
            praetor_config: String::new(),
            praetor_cmd: String::new(),
            etcd_cmd: String::new(),
            refusals: Vec::new(),
            load_before: String::new(),
            load_after: String::new(),
            other_cpu_s: 0.0,
            rows_wall_s: 0.0,
            load_praetor: not_run(),
            load_etcd: not_run(),
            orders: Vec::new(),
            rows: Vec::new(),
            stopped: Vec::new(),
            error: None,
        }
    }

    /// The verdicts on [`GOAL_KEEP`] and [`GOAL_VS_ETCD`], computed from the
    /// rows, one line each.
    pub fn verdicts(&self) -> [String; 2] {
        let spread = self
            .rows
            .iter()
            .filter_map(TlsRow::spread)
            .fold(0.0f64, f64::max);
        let noise = format!(
            "Two rounds of the same mode differed by up to {:.1}% in this run.",
            spread * 100.0
        );
        let collect = |f: fn(&TlsRow) -> Option<f64>| -> Option<Vec<(String, f64)>> {
            let v: Vec<(String, f64)> = self
                .rows
                .iter()
                .filter_map(|r| f(r).map(|x| (r.label(), x)))
                .collect();
            (!v.is_empty() && v.len() == self.rows.len()).then_some(v)
        };
        let list = |v: &[(String, f64)]| {
            v.iter()
                .map(|(l, x)| format!("{l} {x:.3}×"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let not_measured = "**Not measured**: some rows failed (see the notes).";
        let keep = match collect(TlsRow::praetor_keep) {
            None => format!("{not_measured} (TLS cost under 15%)"),
            Some(v) => {
                let worst = v
                    .iter()
                    .min_by(|a, b| a.1.total_cmp(&b.1))
                    .cloned()
                    .unwrap_or_default();
                let met = worst.1 >= GOAL_KEEP;
                format!(
                    "**{}**: TLS costs praetor under {:.0}% of throughput with keep-alive on every row. \
                     HTTPS ÷ HTTP: {}; the worst, {}, is a {:.1}% cost. {noise}",
                    if met { "Met" } else { "Not met" },
                    (1.0 - GOAL_KEEP) * 100.0,
                    list(&v),
                    worst.0,
                    (1.0 - worst.1) * 100.0
                )
            }
        };
        let vs = match collect(TlsRow::tls_vs_etcd) {
            None => format!("{not_measured} (praetor with TLS at or ahead of etcd with TLS)"),
            Some(v) => {
                let behind: Vec<(String, f64)> = v
                    .iter()
                    .filter(|(_, x)| *x < GOAL_VS_ETCD)
                    .cloned()
                    .collect();
                format!(
                    "**{}**: praetor over HTTPS at or ahead of etcd over TLS on every row. praetor HTTPS ÷ etcd TLS: {}{}. {noise}",
                    if behind.is_empty() { "Met" } else { "Not met" },
                    list(&v),
                    if behind.is_empty() {
                        String::new()
                    } else {
                        format!("; behind on {}", behind.iter().map(|(l, _)| l.as_str()).collect::<Vec<_>>().join(", "))
                    }
                )
            }
        };
        [keep, vs]
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
        let certs = if self.certificates.is_empty() {
            String::new()
        } else {
            format!(
                "\n{}",
                self.certificates
                    .iter()
                    .map(|l| format!("  - {l}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        };
        let other = if self.rows_wall_s > 0.0 {
            format!(
                "Processes other than the two servers and the bench client used {:.0} CPU s over the rows' {:.0} s \
                 ({:.2} of the 2 cores on average; from `/proc/stat` less the three processes' own CPU).",
                self.other_cpu_s,
                self.rows_wall_s,
                self.other_cpu_s / self.rows_wall_s
            )
        } else {
            String::new()
        };
        let _ = writeln!(
            md,
            "\n## {n}. Cost of TLS: praetor and etcd, plain and with client certificates\n\n\
             A separate run on {date}: one durable single-server praetor serving its HTTP API on a plain port \
             and on an HTTPS port (`ports.https`, `tls.defaults` with `verify_incoming = true`), and one \
             single-member etcd listening on a plain and an `https://` client URL (`--client-cert-auth`), \
             both on 127.0.0.1 with free ports, running for the whole run on the same machine as the bench \
             client. Both servers present the same server certificate and require a client certificate from \
             the same CA on their TLS port; the bench client presents the same client certificate to both. \
             The command, from the repository root:\n\n    {cmd}\n\n\
             - Machine: {machine}\n\
             - praetor: `{pv}`\n\
             - etcd: `{ev}`\n\
             - Certificates: {made}{certs}\n\
             - Load average (1, 5, 15 min) before the phase: {lb}; after: {la}. {other}\n\n\
             Method: {keys} keys (`bench/load/…`, 256-byte values) are loaded on each server over its plain \
             port. Then, for each of {rounds} rounds, every row (puts, then gets, with {clients} clients) runs \
             in the four modes one after the other, {d} s each: praetor over HTTP, praetor over HTTPS, etcd \
             plain, etcd over TLS; the order changes round by round (listed below) so that within each system \
             each mode runs first in half the rounds, and a machine that slows down during the run slows every \
             mode. Puts are durable (acknowledged once in the Raft log or WAL on disk) to distinct keys \
             `bench/put/…`; gets read random loaded keys in each system's default consistency (praetor's \
             default mode, etcd linearizable). Closed loop: each client on its own connection, kept alive and \
             reused, one request at a time; a client's first request (and so its TCP and TLS handshakes) is \
             made before the timed window opens, so the rows measure TLS on established connections, as the \
             goal asks. praetor is spoken to over HTTP/1.1 through hyper-util's pooled client (the client \
             reqwest wraps) with hyper-rustls on ring, the same client code for `http://` and `https://`; etcd \
             over gRPC (HTTP/2) through the `etcd-client` crate, plain or with its rustls-on-ring TLS. ops/s \
             is every acknowledged request of the {rounds} rounds over their seconds; p50 and p99 are \
             nearest-rank over every request of them; CPU is user + system time of the server process and of \
             the bench client (from `/proc/<pid>/stat`) per request.\n\n\
             | row | clients | praetor HTTP ops/s | praetor HTTPS ops/s | praetor HTTPS ÷ HTTP | etcd plain ops/s | etcd TLS ops/s | etcd TLS ÷ plain | praetor ÷ etcd, plain | praetor ÷ etcd, TLS |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            date = self.date,
            cmd = self.command,
            pv = self.praetor_version,
            ev = self.etcd_version,
            made = if self.certs_made_by.is_empty() { "?" } else { self.certs_made_by.as_str() },
            lb = self.load_before,
            la = self.load_after,
            keys = self.keys,
            rounds = self.rounds,
            d = c.duration_secs,
        );
        let ops = |m: &ModeResult| {
            m.merged
                .as_ref()
                .map_or_else(|| "error".to_owned(), |t| format!("{:.0}", t.ops_per_sec))
        };
        let x = |v: Option<f64>| v.map_or("–".into(), |x| format!("{x:.3}×"));
        for r in &self.rows {
            let [ph, ps, eh, es] = &r.modes;
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                r.op,
                r.clients,
                ops(ph),
                ops(ps),
                x(r.praetor_keep()),
                ops(eh),
                ops(es),
                x(r.etcd_keep()),
                x(r.plain_vs_etcd()),
                x(r.tls_vs_etcd()),
            );
        }
        let [keep, vs] = self.verdicts();
        let _ = writeln!(md, "\n- {keep}\n- {vs}\n");
        let _ = writeln!(
            md,
            "Latency, p50 / p99 in ms, and CPU per request in µs, server / bench client:\n\n\
             | row | clients | praetor HTTP | praetor HTTPS | etcd plain | etcd TLS | CPU praetor HTTP | CPU praetor HTTPS | CPU etcd plain | CPU etcd TLS |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        );
        let lat = |m: &ModeResult| {
            m.merged.as_ref().map_or_else(
                || "error".to_owned(),
                |t| format!("{:.2} / {:.2}", t.p50_ms, t.p99_ms),
            )
        };
        let cpu = |m: &ModeResult| match (m.server_us_per_op(), m.client_us_per_op()) {
            (Some(s), Some(c)) => format!("{s:.0} / {c:.0}"),
            _ => "–".into(),
        };
        for r in &self.rows {
            let [ph, ps, eh, es] = &r.modes;
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                r.op,
                r.clients,
                lat(ph),
                lat(ps),
                lat(eh),
                lat(es),
                cpu(ph),
                cpu(ps),
                cpu(eh),
                cpu(es),
            );
        }
        let orders = self
            .orders
            .iter()
            .enumerate()
            .map(|(i, o)| {
                format!(
                    "round {}: {}",
                    i + 1,
                    o.iter()
                        .filter_map(|&m| MODES.get(m).map(|m| m.label()))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        let _ = writeln!(
            md,
            "\nEach round's ops/s (the order of the modes in each round: {orders}):\n\n\
             | row | clients | mode | {} |\n|---|---:|---|{}",
            (1..=self.rounds)
                .map(|i| format!("round {i}"))
                .collect::<Vec<_>>()
                .join(" | "),
            "---:|".repeat(self.rounds)
        );
        for r in &self.rows {
            for (m, res) in MODES.iter().zip(&r.modes) {
                let cells = (0..self.rounds)
                    .map(|i| match res.rounds.get(i) {
                        Some(Ok(t)) => format!("{:.0}", t.ops_per_sec),
                        Some(Err(_)) => "error".into(),
                        None => "–".into(),
                    })
                    .collect::<Vec<_>>()
                    .join(" | ");
                let _ = writeln!(md, "| {} | {} | {} | {cells} |", r.op, r.clients, m.label());
            }
        }
        let mut notes = Vec::new();
        for r in &self.rows {
            for (m, res) in MODES.iter().zip(&r.modes) {
                for (i, o) in res.rounds.iter().enumerate() {
                    match o {
                        Err(e) => notes.push(format!(
                            "{} {}, round {}: failed: {}",
                            r.label(),
                            m.label(),
                            i + 1,
                            e.replace('\n', " ")
                        )),
                        Ok(t) if t.errors > 0 => notes.push(format!(
                            "{} {}, round {}: {} requests failed (not counted)",
                            r.label(),
                            m.label(),
                            i + 1,
                            t.errors
                        )),
                        Ok(_) => {}
                    }
                }
            }
        }
        for (side, l) in [("praetor", &self.load_praetor), ("etcd", &self.load_etcd)] {
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
            "\nBefore measuring, a TLS client trusting the CA but presenting no certificate was refused by both: {}.\n\n\
             praetor's config file (besides its command line):\n\n{}\n\
             Started as (praetor, then etcd):\n\n    {}\n    {}",
            if self.refusals.is_empty() {
                "not checked".to_owned()
            } else {
                self.refusals.join("; ")
            },
            indent(&self.praetor_config),
            self.praetor_cmd,
            self.etcd_cmd,
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

impl crate::phase::PhaseReport for TlsReport {
    fn set_error(&mut self, error: String) {
        self.error = Some(error);
    }

    fn standalone_markdown(&self) -> String {
        crate::phase::standalone(
            "TLS benchmark (tls phase only)",
            &self.command,
            &self.date,
            |md| self.section(md, 15),
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
            clients: 16,
            ops: 100,
            errors: 0,
            secs: 1.0,
            ops_per_sec,
            p50_ms: 1.0,
            p99_ms: 2.0,
        }
    }

    fn mode(rounds: &[f64], merged: f64) -> ModeResult {
        ModeResult {
            rounds: rounds.iter().map(|&x| Ok(t(x))).collect(),
            merged: Some(t(merged)),
            server_cpu_s: 0.01,
            client_cpu_s: 0.02,
        }
    }

    fn row(op: &str, ops: [f64; 4]) -> TlsRow {
        TlsRow {
            op: op.into(),
            clients: 16,
            modes: ops.map(|x| mode(&[x * 0.95, x * 1.05], x)),
        }
    }

    fn report(rows: Vec<TlsRow>) -> TlsReport {
        let mut r = TlsReport::new(
            <Flags as clap::Parser>::parse_from(["tls"]).config,
            "cmd".into(),
            "date".into(),
            "pv".into(),
            "ev".into(),
        );
        r.rows = rows;
        r
    }

    #[test]
    fn ratios_compare_the_right_modes() {
        let r = row("puts", [1000.0, 900.0, 800.0, 600.0]);
        assert!((r.praetor_keep().unwrap_or_default() - 0.9).abs() < 1e-9);
        assert!((r.etcd_keep().unwrap_or_default() - 0.75).abs() < 1e-9);
        assert!((r.tls_vs_etcd().unwrap_or_default() - 1.5).abs() < 1e-9);
        assert!((r.plain_vs_etcd().unwrap_or_default() - 1.25).abs() < 1e-9);
        assert!((r.spread().unwrap_or_default() - 0.1).abs() < 1e-9);
        assert_eq!(r.modes[0].server_us_per_op().map(f64::round), Some(100.0));
        assert_eq!(r.modes[0].client_us_per_op().map(f64::round), Some(200.0));
    }

    #[test]
    fn verdicts_name_the_rows_that_miss_each_goal() {
        let ok = report(vec![
            row("puts", [1000.0, 900.0, 800.0, 600.0]),
            row("gets", [1000.0, 950.0, 800.0, 700.0]),
        ]);
        let [keep, vs] = ok.verdicts();
        assert!(keep.starts_with("**Met**"), "{keep}");
        assert!(vs.starts_with("**Met**"), "{vs}");

        let bad = report(vec![
            row("puts", [1000.0, 800.0, 800.0, 900.0]),
            row("gets", [1000.0, 950.0, 800.0, 700.0]),
        ]);
        let [keep, vs] = bad.verdicts();
        assert!(
            keep.starts_with("**Not met**") && keep.contains("puts ×16"),
            "{keep}"
        );
        assert!(
            vs.starts_with("**Not met**") && vs.contains("behind on puts ×16"),
            "{vs}"
        );
    }

    #[test]
    fn a_failed_mode_leaves_the_goal_not_measured() {
        let mut r = row("puts", [1000.0, 900.0, 800.0, 600.0]);
        r.modes[1] = ModeResult {
            rounds: vec![Err("refused".into())],
            ..ModeResult::default()
        };
        let [keep, vs] = report(vec![r]).verdicts();
        assert!(keep.starts_with("**Not measured**"), "{keep}");
        assert!(vs.starts_with("**Not measured**"), "{vs}");
    }
}
