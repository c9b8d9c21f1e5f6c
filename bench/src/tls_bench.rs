//! The `tls` subcommand: what TLS costs, praetor beside etcd, in one run.
//! Starts one durable single-server praetor serving its HTTP API on both a
//! plain port and an HTTPS port (`ports.https`, `tls.defaults` with
//! `verify_incoming`), and one single-member etcd listening on a plain and an
//! `https://` client URL (`--client-cert-auth`), both on 127.0.0.1 with free
//! ports, from the same CA, server and client certificates. Then durable puts
//! and default-consistency gets, closed loop with keep-alive connections, in
//! four modes: praetor over HTTP, praetor over HTTPS, etcd plain, etcd over
//! TLS, interleaved round by round so the machine's drift falls on every mode.
//! The client certificate is presented on every TLS connection; a client
//! without one is shown to be refused first. Always writes its JSON results,
//! failures recorded as such; stops both servers (by PID, SIGTERM then
//! SIGKILL), also on SIGINT or SIGTERM. Writes only keys under `bench/`.

use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _};
use clap::Args;

use crate::cluster::Cluster;
use crate::machine::{cpu_secs, load_average, machine_busy_secs, Machine};
use crate::phase::PhaseArgs;
use crate::report::tls::{ModeResult, TlsReport, TlsRow, MODES};
use crate::report::Config;
use crate::runner::outcome;
use crate::stats::{Samples, Throughput};
use crate::target::{Read, Scheme, Side, Target};
use crate::tls_client::{ClientTls, HyperConn};
use crate::workload::{self, Op};

/// Bound on a server becoming ready (a put through each of its modes).
const READY_DEADLINE: Duration = Duration::from_secs(60);
/// Bound on loading the keys on one server.
const LOAD_DEADLINE: Duration = Duration::from_secs(300);
/// Concurrent clients loading the keys.
const LOAD_CLIENTS: usize = 16;
/// Pause after each run, so that the next starts on a server at rest.
const SETTLE: Duration = Duration::from_millis(500);
/// Bound on the refusal checks' requests.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// The order of the four modes in round `i % 4` (indices into [`MODES`]):
/// within each system, each mode runs first in two rounds of four, and the
/// system that runs first alternates.
const ORDERS: [[usize; 4]; 4] = [[0, 1, 3, 2], [2, 3, 1, 0], [1, 0, 2, 3], [3, 2, 0, 1]];

#[derive(Args)]
pub struct TlsArgs {
    #[command(flatten)]
    phase: PhaseArgs,
    #[command(flatten)]
    config: Config,
    /// The etcd binary to run.
    #[arg(long)]
    etcd_bin: PathBuf,
    /// `etcd --version`'s first line, for the report.
    #[arg(long)]
    etcd_version: String,
    /// The CA certificate (PEM) both servers trust for client certificates
    /// and the client trusts for theirs.
    #[arg(long)]
    ca_file: PathBuf,
    /// The server certificate and key (PEM) both servers present; it must
    /// name 127.0.0.1.
    #[arg(long)]
    server_cert: PathBuf,
    #[arg(long)]
    server_key: PathBuf,
    /// The client certificate and key (PEM) every TLS client presents.
    #[arg(long)]
    client_cert: PathBuf,
    #[arg(long)]
    client_key: PathBuf,
    /// How the certificates were made, for the report.
    #[arg(long, default_value = "")]
    certs_made_by: String,
    /// Concurrent clients for the TLS phase's put and get rows.
    #[arg(long, value_delimiter = ',', default_values_t = [16, 256])]
    tls_clients: Vec<usize>,
    /// Rounds of the TLS phase: each row runs once per round in each mode.
    #[arg(long, default_value_t = 4)]
    tls_rounds: usize,
    /// Keys loaded on each server of the TLS phase; its get rows read among them.
    #[arg(long, default_value_t = 10_000)]
    tls_keys: u64,
}

/// Runs the tls phase and writes its results.
///
/// # Errors
/// When the results cannot be written, or the phase was interrupted.
pub async fn run(args: TlsArgs) -> anyhow::Result<()> {
    let report = TlsReport::new(
        args.config.clone(),
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

/// Free ports on 127.0.0.1: `tcp` of them for TCP only and `both` (listed
/// first) free for TCP and UDP alike, all distinct.
fn free_ports(both: usize, tcp: usize) -> anyhow::Result<Vec<u16>> {
    for _ in 0..20 {
        let listeners = (0..both + tcp)
            .map(|_| TcpListener::bind("127.0.0.1:0"))
            .collect::<Result<Vec<_>, _>>()
            .context("binding a free port")?;
        let ports = listeners
            .iter()
            .map(|l| l.local_addr().map(|a| a.port()))
            .collect::<Result<Vec<_>, _>>()?;
        if ports[..both]
            .iter()
            .all(|&p| UdpSocket::bind(("127.0.0.1", p)).is_ok())
        {
            return Ok(ports);
        }
    }
    bail!("no free TCP and UDP port pair on 127.0.0.1 after 20 tries")
}

/// A path as praetor's HCL and the report show it.
fn hcl_path(p: &Path) -> anyhow::Result<String> {
    let abs = std::path::absolute(p).with_context(|| format!("resolving {}", p.display()))?;
    let s = abs.display().to_string();
    ensure!(
        !s.contains('"') && !s.contains('\\'),
        "{s}: a quote or backslash in a certificate path"
    );
    Ok(s)
}

/// The two servers and the four ways to reach them.
struct Servers {
    praetor: Cluster,
    etcd: Cluster,
    /// In [`MODES`] order.
    targets: [Target; 4],
}

async fn measure(args: &TlsArgs, report: &mut TlsReport) -> anyhow::Result<()> {
    ensure!(args.tls_rounds >= 1, "--tls-rounds must be at least 1");
    ensure!(args.tls_keys >= 1, "--tls-keys must be at least 1");
    ensure!(!args.tls_clients.is_empty(), "--tls-clients is empty");
    let work = &args.phase.work;
    for dir in [work, &args.phase.logs] {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    report.clients = args.tls_clients.clone();
    report.rounds = args.tls_rounds;
    report.keys = args.tls_keys;
    report.certs_made_by = args.certs_made_by.clone();
    report.load_before = load_average();
    report.machine = Some(Machine::read(work));
    let show = |s: String| s.replace(&work.display().to_string(), "$TMP");
    report.certificates = describe_certs(args);

    let tls = Arc::new(ClientTls::read(
        &args.ca_file,
        &args.client_cert,
        &args.client_key,
    )?);
    let (ca, cert, key) = (
        hcl_path(&args.ca_file)?,
        hcl_path(&args.server_cert)?,
        hcl_path(&args.server_key)?,
    );

    // praetor: HTTP, HTTPS, server RPC, LAN gossip (TCP and UDP);
    // etcd: plain client, TLS client, peer.
    let ports = free_ports(1, 6)?;
    let [serf, http, https, rpc, etcd_plain, etcd_tls, etcd_peer] = ports[..] else {
        bail!("expected 7 ports")
    };
    let config = format!(
        "# The 256-client rows hold 256 connections from one address; Consul's default \
         limit of 200 per client would refuse some.\n\
         limits {{ http_max_conns_per_client = 0 }}\n\
         ports {{ https = {https} }}\n\
         tls {{\n  defaults {{\n    ca_file         = \"{ca}\"\n    cert_file       = \"{cert}\"\n    \
         key_file        = \"{key}\"\n    verify_incoming = true\n  }}\n}}\n"
    );
    let config_file = work.join("praetor-tls.hcl");
    std::fs::write(&config_file, &config)
        .with_context(|| format!("writing {}", config_file.display()))?;
    report.praetor_config = show(config.clone());
    let praetor_args: Vec<String> = vec![
        "agent".into(),
        format!("-config-file={}", config_file.display()),
        "-server".into(),
        "-bootstrap-expect=1".into(),
        format!("-data-dir={}", work.join("praetor").display()),
        "-bind=127.0.0.1".into(),
        "-client=127.0.0.1".into(),
        format!("-http-port={http}"),
        format!("-server-port={rpc}"),
        format!("-serf-lan-port={serf}"),
        "-dns-port=-1".into(),
        "-node=bench".into(),
        "-log-level=warn".into(),
    ];
    let client_urls = format!("http://127.0.0.1:{etcd_plain},https://127.0.0.1:{etcd_tls}");
    let peer = format!("http://127.0.0.1:{etcd_peer}");
    let etcd_args: Vec<String> = [
        "--name",
        "bench",
        "--data-dir",
        &work.join("etcd").display().to_string(),
        "--listen-client-urls",
        &client_urls,
        "--advertise-client-urls",
        &client_urls,
        "--listen-peer-urls",
        &peer,
        "--initial-advertise-peer-urls",
        &peer,
        "--initial-cluster",
        &format!("bench={peer}"),
        "--cert-file",
        &cert,
        "--key-file",
        &key,
        "--client-cert-auth",
        "--trusted-ca-file",
        &ca,
        "--logger",
        "zap",
        "--log-level",
        "warn",
    ]
    .map(String::from)
    .to_vec();
    let praetor = Cluster::single(
        Side::Praetor,
        &args.phase.praetor_bin,
        "praetor",
        praetor_args,
        &args.phase.logs.join("praetor.log"),
        &args.phase.pidfile,
    );
    let etcd = Cluster::single(
        Side::Etcd,
        &args.etcd_bin,
        "etcd",
        etcd_args,
        &args.phase.logs.join("etcd.log"),
        &args.phase.pidfile,
    );
    report.praetor_cmd = show(praetor.command_line(0));
    report.etcd_cmd = show(etcd.command_line(0));

    let target = |side, port: u16, scheme| {
        Target::single(side, format!("127.0.0.1:{port}"), 0).with_scheme(scheme)
    };
    let mut servers = Servers {
        praetor,
        etcd,
        targets: [
            target(Side::Praetor, http, Scheme::Http),
            target(Side::Praetor, https, Scheme::Https(tls.clone())),
            target(Side::Etcd, etcd_plain, Scheme::Http),
            target(Side::Etcd, etcd_tls, Scheme::Https(tls.clone())),
        ],
    };
    let r = measure_on(args, report, &mut servers, &tls).await;
    for (name, c) in [
        ("praetor", &mut servers.praetor),
        ("etcd", &mut servers.etcd),
    ] {
        let who = format!("{name} server");
        report.stopped.extend(c.stop_and_report(&who).await);
    }
    report.load_after = load_average();
    r
}

async fn measure_on(
    args: &TlsArgs,
    report: &mut TlsReport,
    s: &mut Servers,
    tls: &ClientTls,
) -> anyhow::Result<()> {
    eprintln!("== tls: starting praetor and etcd");
    s.praetor.start_all()?;
    s.etcd.start_all()?;
    let ppid = s.praetor.members[0].pid().context("praetor has no PID")?;
    let epid = s.etcd.members[0].pid().context("etcd has no PID")?;
    eprintln!("   praetor pid {ppid}, etcd pid {epid}");
    for t in &mut s.targets {
        t.pids = vec![if t.side == Side::Praetor { ppid } else { epid }];
    }
    for (i, t) in s.targets.iter().enumerate() {
        let c = if t.side == Side::Praetor {
            &mut s.praetor
        } else {
            &mut s.etcd
        };
        let secs = wait_serving(c, t)
            .await
            .with_context(|| format!("{} not serving", MODES[i].label()))?;
        eprintln!("   {} serving after {secs:.1} s", MODES[i].label());
    }

    eprintln!("== tls: a TLS client without a certificate");
    report.refusals = check_refusals(&s.targets, tls).await?;
    for r in &report.refusals {
        eprintln!("   {r}");
    }

    eprintln!("== tls: loading {} keys on each server", args.tls_keys);
    for (i, slot) in [(0, &mut report.load_praetor), (2, &mut report.load_etcd)] {
        let t = &s.targets[i];
        let r = workload::load(t, LOAD_CLIENTS, args.tls_keys, LOAD_DEADLINE)
            .await
            .and_then(|l| {
                ensure!(
                    l.ops == args.tls_keys && l.errors == 0,
                    "{} of {} keys loaded ({} puts failed)",
                    l.ops,
                    args.tls_keys,
                    l.errors
                );
                Ok(l)
            });
        eprintln!("   {}: {r:?}", t.side);
        *slot = outcome(r);
        if let Err(e) = slot {
            bail!("loading the keys on {}: {e}", t.side);
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    let d = Duration::from_secs(args.config.duration_secs);
    let rows: Vec<(&str, usize)> = ["puts", "gets"]
        .iter()
        .flat_map(|&k| args.tls_clients.iter().map(move |&c| (k, c)))
        .collect();
    let mut acc: Vec<[Acc; 4]> = rows.iter().map(|_| Default::default()).collect();
    for round in 0..args.tls_rounds {
        let order = ORDERS[round % ORDERS.len()];
        report.orders.push(order.to_vec());
        for (row, &(kind, clients)) in rows.iter().enumerate() {
            for &m in &order {
                let mode = MODES[m];
                let t = &s.targets[m];
                eprintln!(
                    "== tls: round {}, {kind} ×{clients}, {}",
                    round + 1,
                    mode.label()
                );
                let op = match kind {
                    "puts" => Op::Put {
                        tag: format!("tls-{}-r{}-c{clients}", mode.slug(), round + 1),
                    },
                    _ => Op::Get {
                        keys: args.tls_keys,
                        read: Read::Default,
                    },
                };
                let pid = t.pids[0];
                let me = std::process::id();
                let ours = || cpu_secs(ppid) + cpu_secs(epid) + cpu_secs(me);
                let (server0, client0) = (cpu_secs(pid), cpu_secs(me));
                let (busy0, ours0, wall0) = (machine_busy_secs(), ours(), Instant::now());
                let r = workload::closed_loop_samples(t, clients, d, op).await;
                let (server, client) = (cpu_secs(pid) - server0, cpu_secs(me) - client0);
                report.rows_wall_s += wall0.elapsed().as_secs_f64();
                report.other_cpu_s += ((machine_busy_secs() - busy0) - (ours() - ours0)).max(0.0);
                acc[row][m].push(clients, r, server, client);
                tokio::time::sleep(SETTLE).await;
                for (name, c) in [("praetor", &mut s.praetor), ("etcd", &mut s.etcd)] {
                    let exited = c.exited();
                    ensure!(
                        exited.is_empty(),
                        "the {name} server exited: {}",
                        exited.join(", ")
                    );
                }
            }
        }
    }
    report.rows = rows
        .iter()
        .zip(acc)
        .map(|(&(kind, clients), modes)| TlsRow {
            op: kind.to_owned(),
            clients,
            modes: modes.map(|a| a.finish(clients)),
        })
        .collect();
    Ok(())
}

/// One mode of one row, round by round.
#[derive(Default)]
struct Acc {
    rounds: Vec<crate::report::Outcome<Throughput>>,
    samples: Samples,
    errors: u64,
    elapsed: Duration,
    server_cpu_s: f64,
    client_cpu_s: f64,
    ok: bool,
}

impl Acc {
    fn push(
        &mut self,
        clients: usize,
        r: anyhow::Result<workload::LoopRun>,
        server_cpu_s: f64,
        client_cpu_s: f64,
    ) {
        let r = r.map(|run| {
            let t = Throughput::new(clients, run.samples.clone(), run.errors, run.elapsed);
            self.samples.extend(run.samples);
            self.errors += run.errors;
            self.elapsed += run.elapsed;
            self.server_cpu_s += server_cpu_s;
            self.client_cpu_s += client_cpu_s;
            self.ok = true;
            t
        });
        eprintln!("   {r:?}");
        self.rounds.push(outcome(r));
    }

    fn finish(self, clients: usize) -> ModeResult {
        ModeResult {
            merged: self
                .ok
                .then(|| Throughput::new(clients, self.samples, self.errors, self.elapsed)),
            rounds: self.rounds,
            server_cpu_s: self.server_cpu_s,
            client_cpu_s: self.client_cpu_s,
        }
    }
}

/// Waits until a put through `t` succeeds; returns the seconds taken.
async fn wait_serving(c: &mut Cluster, t: &Target) -> anyhow::Result<f64> {
    let t0 = Instant::now();
    let end = t0 + READY_DEADLINE;
    let value = workload::value();
    for attempt in 0u64.. {
        let exited = c.exited();
        ensure!(
            exited.is_empty(),
            "{} exited during startup",
            exited.join(", ")
        );
        let r = async {
            t.connect(0)
                .await?
                .put_within(
                    &format!("bench/ready/{attempt}"),
                    &value,
                    Duration::from_secs(2),
                )
                .await
        }
        .await;
        match r {
            Ok(()) => return Ok(t0.elapsed().as_secs_f64()),
            Err(e) if Instant::now() >= end => {
                bail!("not ready after {READY_DEADLINE:?}: {e:#}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    bail!("no attempt left")
}

/// Shows that both TLS endpoints require the client certificate: a client
/// that trusts the CA but presents none is refused by each. Returns what was
/// seen, one line a server.
async fn check_refusals(targets: &[Target; 4], tls: &ClientTls) -> anyhow::Result<Vec<String>> {
    let mut seen = Vec::new();
    let praetor = &targets[1].addrs[0];
    let mut c = HyperConn::new(praetor, Some(tls.without_cert.clone()))?;
    let r = tokio::time::timeout(CHECK_TIMEOUT, c.get("bench/ready/0", Read::Default))
        .await
        .context("praetor's HTTPS port did not answer within 5 s")?;
    match r {
        Ok(()) => bail!("praetor's HTTPS port served a client without a certificate"),
        Err(e) => seen.push(format!(
            "praetor HTTPS, no client certificate: refused ({})",
            one_line(&e)
        )),
    }
    let etcd = &targets[3].addrs[0];
    let opts = etcd_client::ConnectOptions::new()
        .with_connect_timeout(CHECK_TIMEOUT)
        .with_timeout(CHECK_TIMEOUT)
        .with_tls(
            etcd_client::TlsOptions::new()
                .ca_certificate(etcd_client::Certificate::from_pem(&tls.ca_pem)),
        );
    let r = tokio::time::timeout(CHECK_TIMEOUT * 2, async {
        let mut client =
            etcd_client::Client::connect([format!("https://{etcd}")], Some(opts)).await?;
        client.get("bench/ready/0", None).await
    })
    .await
    .context("etcd's TLS URL did not answer within 10 s")?;
    match r {
        Ok(_) => bail!("etcd's TLS URL served a client without a certificate"),
        Err(e) => seen.push(format!(
            "etcd TLS, no client certificate: refused ({})",
            one_line(&anyhow::Error::from(e))
        )),
    }
    Ok(seen)
}

/// An error chain on one line, shortened.
fn one_line(e: &anyhow::Error) -> String {
    let s = format!("{e:#}").replace('\n', " ");
    match s.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s,
    }
}

/// What the certificates are, from `openssl x509` when it is installed
/// (subject, SANs, key), one line each; empty when it is not.
fn describe_certs(args: &TlsArgs) -> Vec<String> {
    let mut out = Vec::new();
    for (what, path) in [
        ("CA", &args.ca_file),
        ("server", &args.server_cert),
        ("client", &args.client_cert),
    ] {
        let o = std::process::Command::new("openssl")
            .args(["x509", "-noout", "-subject", "-text", "-in"])
            .arg(path)
            .output();
        let Ok(o) = o else { continue };
        if !o.status.success() {
            continue;
        }
        let text = String::from_utf8_lossy(&o.stdout);
        let field = |label: &str| {
            text.lines()
                .find_map(|l| l.trim().strip_prefix(label))
                .map_or("?", str::trim)
                .to_owned()
        };
        let subject = field("subject=");
        let (key, curve, sig) = (
            field("Public Key Algorithm:"),
            field("NIST CURVE:"),
            field("Signature Algorithm:"),
        );
        // The value of an X.509v3 extension is on the line after its name.
        let after = |label: &str| {
            let mut lines = text.lines();
            lines
                .by_ref()
                .find(|l| l.contains(label))
                .and_then(|_| lines.next())
                .map(|l| l.trim().to_owned())
        };
        let mut line = format!("{what}: `{subject}`, {key} {curve}, signed {sig}");
        if let Some(san) = after("Subject Alternative Name") {
            line.push_str(&format!(", SAN `{san}`"));
        }
        if let Some(eku) = after("Extended Key Usage") {
            line.push_str(&format!(", extended key usage `{eku}`"));
        }
        out.push(line);
    }
    out
}
