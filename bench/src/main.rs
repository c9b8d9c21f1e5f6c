//! `praetor-bench`: runs the same KV workloads against a running praetor
//! server and a running etcd, side by side, and writes BENCHMARKS.md.
//! Starting and stopping the servers is `bench/run.sh`'s job; this tool only
//! connects to them, and writes only keys under `bench/`.

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

use crate::machine::{cpu_secs, dir_bytes, load_average, Machine, Rss};
use crate::report::{Config, Cpu, CpuRow, Outcome, Pair, Report, Results};
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
    let load_before = load_average();
    let mut results = Results::default();
    let mut run = Runner {
        praetor: praetor.clone(),
        etcd: etcd.clone(),
        row: 0,
        cpu: Vec::new(),
    };

    eprintln!("== memory: idle RSS, then load {} keys", cfg.load_keys);
    results.rss_idle = Pair {
        praetor: outcome(Rss::of(praetor.pid)),
        etcd: outcome(Rss::of(etcd.pid)),
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
        praetor: outcome(Rss::of(praetor.pid)),
        etcd: outcome(Rss::of(etcd.pid)),
    };
    results.disk_loaded = Pair {
        praetor: Ok(dir_bytes(&args.praetor_data_dir)),
        etcd: Ok(dir_bytes(&args.etcd_data_dir)),
    };

    let d = Duration::from_secs(cfg.duration_secs);
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
    results.still_running = Pair {
        praetor: alive(praetor.pid),
        etcd: alive(etcd.pid),
    };
    results.cpu = run.cpu;
    eprintln!("== done in {:.0} s", started.elapsed().as_secs_f64());

    let report = Report {
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

/// Runs each workload against both targets and accounts the CPU each used.
struct Runner {
    praetor: Target,
    etcd: Target,
    /// Rows run so far: which side goes first alternates with it.
    row: usize,
    cpu: Vec<CpuRow>,
}

impl Runner {
    /// Runs `f` against both targets, one after the other (never both at
    /// once); which goes first alternates row by row so neither side always
    /// runs on the fresher server.
    async fn both<T, F, Fut>(&mut self, label: String, f: F) -> Pair<Outcome<T>>
    where
        F: Fn(Target) -> Fut,
        Fut: Future<Output = anyhow::Result<T>>,
        T: std::fmt::Debug,
    {
        let order = if self.row & 1 == 0 {
            [self.praetor.clone(), self.etcd.clone()]
        } else {
            [self.etcd.clone(), self.praetor.clone()]
        };
        self.row += 1;
        let mut out = [None, None];
        let mut cpu = [Cpu::default(), Cpu::default()];
        for t in order {
            let (server0, client0, wall0) = (
                cpu_secs(t.pid),
                cpu_secs(std::process::id()),
                Instant::now(),
            );
            let r = outcome(f(t.clone()).await);
            let i = usize::from(t.side == Side::Etcd);
            cpu[i] = Cpu {
                wall_s: wall0.elapsed().as_secs_f64(),
                server_s: cpu_secs(t.pid) - server0,
                client_s: cpu_secs(std::process::id()) - client0,
            };
            eprintln!("   {}: {r:?}", t.side);
            out[i] = Some(r);
        }
        let [praetor, etcd] = cpu;
        self.cpu.push(CpuRow {
            label,
            cpu: Pair { praetor, etcd },
        });
        let [p, e] = out.map(|r| r.unwrap_or_else(|| Err("not run".into())));
        Pair {
            praetor: p,
            etcd: e,
        }
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
