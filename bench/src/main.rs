//! `praetor-bench`: runs the same KV workloads against a running praetor
//! server and a running etcd, side by side, and writes BENCHMARKS.md.
//! Starting and stopping the servers is `bench/run.sh`'s job; this tool only
//! connects to them, and never writes outside the keys `bench/…`.

mod etcd;
mod machine;
mod praetor;
mod report;
mod stats;
mod target;
mod workload;

use std::future::Future;
use std::net::TcpListener;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};

use crate::machine::{dir_bytes, Machine, Rss};
use crate::report::{Config, Outcome, Pair, Report, Results};
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
    #[command(flatten)]
    config: Config,
}

#[tokio::main]
async fn main() {
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
    }
}

async fn bench(args: RunArgs) -> anyhow::Result<()> {
    let cfg = args.config.clone();
    let praetor = Target {
        side: Side::Praetor,
        addr: args.praetor_addr.clone(),
        pid: args.praetor_pid,
    };
    let etcd = Target {
        side: Side::Etcd,
        addr: args.etcd_addr.clone(),
        pid: args.etcd_pid,
    };
    let started = Instant::now();
    let mut results = Results::default();

    eprintln!("== memory: idle RSS, then load {} keys", cfg.load_keys);
    results.rss_idle = Pair {
        praetor: outcome(Rss::of(praetor.pid)),
        etcd: outcome(Rss::of(etcd.pid)),
    };
    let (p_load, e_load) = (
        load_and_measure(&praetor, &cfg, &args.praetor_data_dir).await,
        load_and_measure(&etcd, &cfg, &args.etcd_data_dir).await,
    );
    results.load = Pair {
        praetor: p_load.0,
        etcd: e_load.0,
    };
    results.rss_loaded = Pair {
        praetor: p_load.1,
        etcd: e_load.1,
    };
    results.disk_loaded = Pair {
        praetor: p_load.2,
        etcd: e_load.2,
    };
    let loaded_keys = cfg.load_keys;

    let d = Duration::from_secs(cfg.duration_secs);
    let mut row = 0;
    for &clients in &cfg.put_clients {
        eprintln!("== puts, {clients} clients");
        let op = Op::Put {
            tag: format!("c{clients}"),
        };
        results.puts.push(
            both(row, &praetor, &etcd, |t| {
                let op = op.clone();
                async move { workload::closed_loop(&t, clients, d, op).await }
            })
            .await,
        );
        row += 1;
    }
    for read in [Read::Default, Read::Local] {
        eprintln!("== gets, {} clients, {read:?} reads", cfg.get_clients);
        let clients = cfg.get_clients;
        results.gets.push(
            both(row, &praetor, &etcd, |t| async move {
                workload::closed_loop(
                    &t,
                    clients,
                    d,
                    Op::Get {
                        keys: loaded_keys,
                        read,
                    },
                )
                .await
            })
            .await,
        );
        row += 1;
    }
    for &watchers in &cfg.watchers {
        eprintln!("== watch notify, {watchers} watchers");
        let (puts, spacing) = (cfg.watch_puts, Duration::from_millis(cfg.watch_spacing_ms));
        results.notify.push(
            both(row, &praetor, &etcd, |t| async move {
                let tag = format!("{}-w{watchers}", t.side);
                workload::notify(&t, watchers, puts, spacing, &tag).await
            })
            .await,
        );
        row += 1;
    }
    results.still_running = Pair {
        praetor: alive(praetor.pid),
        etcd: alive(etcd.pid),
    };
    eprintln!("== done in {:.0} s", started.elapsed().as_secs_f64());

    let report = Report {
        machine: Machine::read(&args.praetor_data_dir),
        command: args.command,
        date: args.date,
        praetor_version: args.praetor_version,
        etcd_version: args.etcd_version,
        praetor_cmd: args.praetor_cmd,
        etcd_cmd: args.etcd_cmd,
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

/// Loads the keys into one server, lets it settle, then reads its RSS and
/// the size of its data directory.
async fn load_and_measure(
    t: &Target,
    cfg: &Config,
    data_dir: &std::path::Path,
) -> (Outcome<stats::Throughput>, Outcome<Rss>, Outcome<u64>) {
    eprintln!("   {}: loading", t.side);
    let load = workload::load(
        t,
        cfg.load_clients,
        cfg.load_keys,
        Duration::from_secs(cfg.load_deadline_secs),
    )
    .await;
    if let Ok(l) = &load {
        eprintln!(
            "   {}: {} keys in {:.1} s ({} errors)",
            t.side, l.ops, l.secs, l.errors
        );
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    (
        outcome(load),
        outcome(Rss::of(t.pid)),
        Ok(dir_bytes(data_dir)),
    )
}

/// Runs `f` against both targets, one after the other; which goes first
/// alternates with `row` so neither side always runs on a fresher server.
async fn both<T, F, Fut>(row: usize, praetor: &Target, etcd: &Target, f: F) -> Pair<Outcome<T>>
where
    F: Fn(Target) -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
    T: std::fmt::Debug,
{
    let order = if row & 1 == 0 {
        [praetor, etcd]
    } else {
        [etcd, praetor]
    };
    let mut out = [None, None];
    for t in order {
        let r = outcome(f(t.clone()).await);
        eprintln!("   {}: {r:?}", t.side);
        out[usize::from(t.side == Side::Etcd)] = Some(r);
    }
    let [p, e] = out.map(|r| r.unwrap_or_else(|| Err("not run".into())));
    Pair {
        praetor: p,
        etcd: e,
    }
}

fn outcome<T>(r: anyhow::Result<T>) -> Outcome<T> {
    r.map_err(|e| format!("{e:#}"))
}

/// Whether the process exists and has not exited (a zombie has).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("State:"))
            .is_some_and(|l| !l.contains("zombie"))
    })
}
