//! `praetor-bench`: runs the same KV workloads against praetor and etcd, side
//! by side, and writes BENCHMARKS.md. `run` measures one running server of
//! each, which `bench/run.sh` starts and stops; `cluster` starts, kills,
//! restarts and stops three-member clusters of both itself (cluster.rs), as
//! its failover measurement needs; `health` starts and stops praetor agents
//! itself to measure service registration and health checking (praetor
//! only); `locks` starts three-server clusters of both with praetor client
//! agents to time lock hand-over and transactions; `acl` starts two single
//! servers, ACLs off and on, to measure what enforcement costs; `tls` starts a
//! single server of each with plain and TLS client ports to measure what TLS
//! costs each; `template` starts a server and one `praetor template`
//! process to time a KV write reaching a rendered file; `federation` starts two
//! datacenters federated over the WAN to time reads across them and a
//! prepared query's failover. Writes only keys under `bench/`, services and
//! nodes named `bench-…`, and (federation) the service `web` and the
//! prepared query `web-fo` in its own datacenters.

mod acl_bench;
mod cluster;
mod cluster_bench;
mod dns;
mod etcd;
mod failover;
mod federation_bench;
mod health;
mod health_bench;
mod locks_bench;
mod machine;
mod phase;
mod praetor;
mod report;
mod runner;
mod scale_bench;
mod stats;
mod target;
mod template_bench;
mod tls_bench;
mod tls_client;
mod workload;

use std::net::TcpListener;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};

use crate::cluster_bench::ClusterArgs;
use crate::health_bench::HealthArgs;
use crate::locks_bench::LocksArgs;
use crate::machine::{dir_bytes, load_average, Machine, Rss};
use crate::report::cluster::ClusterReport;
use crate::report::health::HealthReport;
use crate::report::locks::LocksReport;
use crate::report::{Config, Pair, Report, Results};
use crate::runner::{outcome, Runner};
use crate::target::{Read, Side, Target};
use crate::workload::Op;

#[derive(Parser)]
#[command(about = "Runs the same workloads against praetor and etcd and writes BENCHMARKS.md")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Prints N distinct free TCP ports on 127.0.0.1, one per line.
    FreePorts { n: usize },
    /// Runs every workload against both servers and writes the report.
    Run(Box<RunArgs>),
    /// Closed-loop DNS queries against one server: rate and latency
    /// percentiles as one JSON line.
    Dns(Box<dns::DnsArgs>),
    /// Starts a three-member cluster of each system, measures puts and
    /// failover on both, stops them, and writes the results as JSON (and,
    /// with --out, as a report of its own).
    Cluster(Box<ClusterArgs>),
    /// Starts praetor agents (single servers; three servers and two client
    /// agents), measures registrations, health queries, check propagation
    /// and the memory of blocking watchers, stops them, and writes the
    /// results as JSON (and, with --out, as a report of its own).
    Health(Box<HealthArgs>),
    /// Starts a three-server praetor cluster with two client agents and a
    /// three-member etcd cluster, measures transaction throughput and lock
    /// hand-over when the holder dies on both, stops them, and writes the
    /// results as JSON (and, with --out, as a report of its own).
    Locks(Box<LocksArgs>),
    /// Starts two single-server praetors, one without ACLs and one with
    /// ACLs enforced (default deny, an application token with a handful of
    /// prefix rules), measures durable puts and gets on both, interleaved,
    /// stops them, and writes the results as JSON (and, with --out, as a
    /// report of its own).
    Acl(Box<acl_bench::AclArgs>),
    /// Starts one single-server praetor with an HTTP and an HTTPS port and
    /// one single-member etcd with a plain and a TLS client URL (client
    /// certificates required), measures durable puts and gets in all four
    /// modes, interleaved, stops them, and writes the results as JSON (and,
    /// with --out, as a report of its own).
    Tls(Box<tls_bench::TlsArgs>),
    /// Starts three praetor servers with five client agents, loads a large
    /// catalog, measures load, memory, snapshot, restart, blocking health
    /// watchers at two counts and registrations through one agent; then
    /// three fresh praetor servers and three etcd members with a large KV
    /// store side by side; stops them, and writes the results as JSON (and,
    /// with --out, as a report of its own).
    Scale(Box<scale_bench::ScaleArgs>),
    /// Starts one praetor server and one `praetor template` process with
    /// many templates watching many keys, times KV writes until the
    /// rendered file shows them, stops both, and writes the results as JSON
    /// (and, with --out, as a report of its own).
    Template(Box<template_bench::TemplateArgs>),
    /// Starts two datacenters of praetor servers federated over the WAN,
    /// measures KV reads of the other datacenter (`?dc=`) beside local
    /// reads and how long a prepared query's DNS answer takes to fail over
    /// to the other datacenter and back, stops them, and writes the results
    /// as JSON (and, with --out, as a report of its own).
    Federation(Box<federation_bench::FederationArgs>),
}

#[derive(Args)]
struct RunArgs {
    /// praetor's HTTP address (host:port).
    #[arg(long)]
    praetor_addr: String,
    #[arg(long)]
    praetor_pid: u32,
    #[arg(long)]
    praetor_data_dir: PathBuf,
    #[arg(long)]
    praetor_version: String,
    /// How the praetor server was started, for the report.
    #[arg(long)]
    praetor_cmd: String,
    /// etcd's client address (host:port).
    #[arg(long)]
    etcd_addr: String,
    #[arg(long)]
    etcd_pid: u32,
    #[arg(long)]
    etcd_data_dir: PathBuf,
    #[arg(long)]
    etcd_version: String,
    /// How etcd was started, for the report.
    #[arg(long)]
    etcd_cmd: String,
    /// The command that produced the report, for the report.
    #[arg(long)]
    command: String,
    /// When the run started, for the report.
    #[arg(long)]
    date: String,
    /// Where to write the markdown report.
    #[arg(long)]
    out: PathBuf,
    /// Where to write the raw results as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// The `cluster` subcommand's JSON results, to include in the report;
    /// when the file is missing or unreadable the report says so.
    #[arg(long)]
    cluster_json: Option<PathBuf>,
    /// The `health` subcommand's JSON results, likewise.
    #[arg(long)]
    health_json: Option<PathBuf>,
    /// The `locks` subcommand's JSON results, likewise.
    #[arg(long)]
    locks_json: Option<PathBuf>,
    /// The `acl` subcommand's JSON results, likewise.
    #[arg(long)]
    acl_json: Option<PathBuf>,
    /// The `tls` subcommand's JSON results, likewise.
    #[arg(long)]
    tls_json: Option<PathBuf>,
    /// The `scale` subcommand's JSON results, likewise.
    #[arg(long)]
    scale_json: Option<PathBuf>,
    /// The `template` subcommand's JSON results, likewise.
    #[arg(long)]
    template_json: Option<PathBuf>,
    /// The `federation` subcommand's JSON results, likewise.
    #[arg(long)]
    federation_json: Option<PathBuf>,
    /// bench/dns.sh's markdown section, included as it is (its `## DNS`
    /// heading numbered); when the file is missing the report says so.
    #[arg(long)]
    dns_md: Option<PathBuf>,
    /// bench/run.sh's wall-clock seconds per phase so far, one `name
    /// seconds` a line; listed in the report's "This run".
    #[arg(long)]
    phase_times: Option<PathBuf>,
    #[command(flatten)]
    config: Config,
}

#[tokio::main]
async fn main() {
    // Built together with praetor (`cargo build -p praetor -p praetor-bench`,
    // as bench/run.sh does), reqwest gets praetor-client's
    // `rustls-no-provider` feature and panics building any client unless a
    // process-wide provider is installed; without that feature this changes
    // nothing (reqwest then has no TLS, and tls_client passes its own).
    let _ = rustls::crypto::ring::default_provider().install_default();
    if let Err(e) = run().await {
        eprintln!("praetor-bench: {e:#}");
        std::process::exit(1);
    }
}

async fn run() -> anyhow::Result<()> {
    match Cli::parse().cmd {
        Cmd::FreePorts { n } => {
            // Hold all at once so the ports are distinct, then release them.
            let listeners = (0..n)
                .map(|_| TcpListener::bind("127.0.0.1:0"))
                .collect::<Result<Vec<_>, _>>()
                .context("binding a free port")?;
            for l in &listeners {
                println!("{}", l.local_addr()?.port());
            }
            Ok(())
        }
        Cmd::Run(args) => bench(*args).await,
        Cmd::Dns(args) => dns::run(*args).await,
        Cmd::Cluster(args) => cluster_bench::run(*args).await,
        Cmd::Health(args) => health_bench::run(*args).await,
        Cmd::Locks(args) => locks_bench::run(*args).await,
        Cmd::Acl(args) => acl_bench::run(*args).await,
        Cmd::Tls(args) => tls_bench::run(*args).await,
        Cmd::Scale(args) => scale_bench::run(*args).await,
        Cmd::Template(args) => template_bench::run(*args).await,
        Cmd::Federation(args) => federation_bench::run(*args).await,
    }
}

async fn bench(args: RunArgs) -> anyhow::Result<()> {
    let cfg = args.config.clone();
    let praetor = Target::single(Side::Praetor, args.praetor_addr.clone(), args.praetor_pid);
    let etcd = Target::single(Side::Etcd, args.etcd_addr.clone(), args.etcd_pid);
    let started = Instant::now();
    let load_before = load_average();
    let mut results = Results::default();
    let mut run = Runner::new(praetor.clone(), etcd.clone());

    eprintln!("== memory: idle RSS, then load {} keys", cfg.load_keys);
    results.load_memory.before = load_average();
    results.rss_idle = Pair {
        praetor: outcome(Rss::of(args.praetor_pid)),
        etcd: outcome(Rss::of(args.etcd_pid)),
    };
    let (load_clients, load_keys) = (cfg.load_clients, cfg.load_keys);
    let load_deadline = Duration::from_secs(cfg.load_deadline_secs);
    results.load = run
        .both("load".into(), |t| async move {
            let load = workload::load(&t, load_clients, load_keys, load_deadline).await;
            // Let background work settle, then measure.
            tokio::time::sleep(Duration::from_secs(2)).await;
            load
        })
        .await;
    results.rss_loaded = Pair {
        praetor: outcome(Rss::of(args.praetor_pid)),
        etcd: outcome(Rss::of(args.etcd_pid)),
    };
    results.disk_loaded = Pair {
        praetor: Ok(dir_bytes(&args.praetor_data_dir)),
        etcd: Ok(dir_bytes(&args.etcd_data_dir)),
    };
    results.load_memory.after = load_average();

    let d = Duration::from_secs(cfg.duration_secs);
    results.load_puts.before = load_average();
    for &clients in &cfg.put_clients {
        eprintln!("== puts, {clients} clients");
        let op = Op::Put {
            tag: format!("c{clients}"),
        };
        let r = run
            .both(format!("puts ×{clients}"), |t| {
                let op = op.clone();
                async move { workload::closed_loop(&t, clients, d, op).await }
            })
            .await;
        results.puts.push(r);
    }
    results.load_puts.after = load_average();
    results.load_gets.before = results.load_puts.after.clone();
    for (read, label) in [
        (Read::Default, "gets, default"),
        (Read::Local, "gets, local"),
    ] {
        eprintln!("== {label}, {} clients", cfg.get_clients);
        let clients = cfg.get_clients;
        let op = Op::Get {
            keys: load_keys,
            read,
        };
        let r = run
            .both(label.into(), |t| {
                let op = op.clone();
                async move { workload::closed_loop(&t, clients, d, op).await }
            })
            .await;
        results.gets.push(r);
    }
    results.load_gets.after = load_average();
    results.load_notify.before = results.load_gets.after.clone();
    for &watchers in &cfg.watchers {
        eprintln!("== watch notify, {watchers} watchers");
        let (puts, spacing) = (cfg.watch_puts, Duration::from_millis(cfg.watch_spacing_ms));
        let r = run
            .both(format!("watch ×{watchers}"), |t| async move {
                let tag = format!("{}-w{watchers}", t.side);
                workload::notify(&t, watchers, puts, spacing, &tag).await
            })
            .await;
        results.notify.push(r);
    }
    results.load_notify.after = load_average();
    results.still_running = Pair {
        praetor: alive(args.praetor_pid),
        etcd: alive(args.etcd_pid),
    };
    results.cpu = run.cpu;
    eprintln!("== done in {:.0} s", started.elapsed().as_secs_f64());

    let cluster = args
        .cluster_json
        .as_ref()
        .map(|path| read_json::<ClusterReport>(path));
    let health = args
        .health_json
        .as_ref()
        .map(|path| read_json::<HealthReport>(path));
    let locks = args
        .locks_json
        .as_ref()
        .map(|path| read_json::<LocksReport>(path));
    let acl = args
        .acl_json
        .as_ref()
        .map(|path| read_json::<report::acl::AclReport>(path));
    let tls = args
        .tls_json
        .as_ref()
        .map(|path| read_json::<report::tls::TlsReport>(path));
    let scale = args
        .scale_json
        .as_ref()
        .map(|path| read_json::<report::scale::ScaleReport>(path));
    let template = args
        .template_json
        .as_ref()
        .map(|path| read_json::<report::template::TemplateReport>(path));
    let federation = args
        .federation_json
        .as_ref()
        .map(|path| read_json::<report::federation::FederationReport>(path));
    let dns = args.dns_md.as_ref().map(|path| {
        std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))
    });
    let phase_times = args
        .phase_times
        .as_ref()
        .and_then(|path| std::fs::read_to_string(path).ok())
        .map(|text| report::parse_phase_times(&text))
        .unwrap_or_default();
    let report = Report {
        phase_times,
        single_secs: started.elapsed().as_secs_f64(),
        cluster,
        health,
        locks,
        acl,
        tls,
        scale,
        template,
        federation,
        dns,
        machine: Machine::read(&args.praetor_data_dir),
        command: args.command,
        date: args.date,
        praetor_version: args.praetor_version,
        etcd_version: args.etcd_version,
        praetor_cmd: args.praetor_cmd,
        etcd_cmd: args.etcd_cmd,
        load_before,
        load_after: load_average(),
        config: cfg,
        results,
    };
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    std::fs::write(&args.out, report.markdown())
        .with_context(|| format!("writing {}", args.out.display()))?;
    eprintln!("wrote {}", args.out.display());
    Ok(())
}

/// A phase's JSON results, or why they cannot be read.
fn read_json<T: serde::de::DeserializeOwned>(path: &std::path::Path) -> Result<T, String> {
    std::fs::read(path)
        .with_context(|| format!("reading {}", path.display()))
        .and_then(|b| {
            serde_json::from_slice::<T>(&b).with_context(|| format!("parsing {}", path.display()))
        })
        .map_err(|e| format!("{e:#}"))
}

/// Whether the process exists and has not exited (a zombie has).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("State:"))
            .is_some_and(|l| !l.contains("zombie"))
    })
}
