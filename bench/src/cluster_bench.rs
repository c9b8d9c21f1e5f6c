//! The `cluster` subcommand: a three-server praetor cluster and a three-member
//! etcd cluster on loopback, both running for the whole phase; durable puts
//! against each (one after the other, alternating who goes first), then
//! leader-kill failover trials on each. Always writes its JSON results, with
//! whatever failed recorded as such; stops every process it started, also on
//! SIGINT or SIGTERM.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;

use crate::cluster::{self, Cluster};
use crate::failover::{self, Probe, READY_DEADLINE};
use crate::machine::load_average;
use crate::phase::PhaseArgs;
use crate::report::cluster::{ClusterPuts, ClusterReport};
use crate::report::Config;
use crate::runner::{outcome, Runner};
use crate::target::Side;
use crate::workload::{self, Op};

/// Failed trials after which a side's remaining trials are skipped.
const MAX_FAILED_TRIALS: usize = 2;

#[derive(Args)]
pub struct ClusterArgs {
    #[command(flatten)]
    phase: PhaseArgs,
    /// The etcd binary to run.
    #[arg(long)]
    etcd_bin: PathBuf,
    #[arg(long)]
    etcd_version: String,
    #[command(flatten)]
    config: Config,
}

/// Runs the cluster phase and writes its results.
///
/// # Errors
/// When the results cannot be written, or the phase was interrupted.
pub async fn run(args: ClusterArgs) -> anyhow::Result<()> {
    let report = ClusterReport::new(
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

async fn measure(args: &ClusterArgs, report: &mut ClusterReport) -> anyhow::Result<()> {
    let cfg = &args.config;
    let ips = cluster::free_ips(6)?;
    for dir in [&args.phase.work, &args.phase.logs] {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut praetor = Cluster::praetor(
        &args.phase.praetor_bin,
        &ips[..3],
        &args.phase.work,
        &args.phase.logs,
        &args.phase.pidfile,
    );
    let mut etcd = Cluster::etcd(
        &args.etcd_bin,
        &ips[3..],
        &args.phase.work,
        &args.phase.logs,
        &args.phase.pidfile,
    );
    let show = |s: String| s.replace(&args.phase.work.display().to_string(), "$TMP");
    report.praetor_cmds = (0..3).map(|i| show(praetor.command_line(i))).collect();
    report.etcd_cmds = (0..3).map(|i| show(etcd.command_line(i))).collect();

    // One cluster forms while the other is not yet started, so neither
    // formation competes with the other for the CPU.
    eprintln!("== cluster: forming the praetor cluster");
    report.formed.praetor = outcome(form(&mut praetor).await);
    eprintln!("   praetor: {:?}", report.formed.praetor);
    eprintln!("== cluster: forming the etcd cluster");
    report.formed.etcd = outcome(form(&mut etcd).await);
    eprintln!("   etcd: {:?}", report.formed.etcd);

    let result = if report.formed.praetor.is_ok() && report.formed.etcd.is_ok() {
        workloads(cfg, &mut praetor, &mut etcd, report).await
    } else {
        Err(anyhow::anyhow!(
            "a cluster did not form, so nothing was measured"
        ))
    };
    for (side, c) in [("praetor", &mut praetor), ("etcd", &mut etcd)] {
        report
            .exited
            .extend(c.exited().into_iter().map(|m| format!("{side} {m}")));
        report.forced.extend(
            c.stop_all()
                .await
                .into_iter()
                .map(|m| format!("{side} {m}")),
        );
    }
    result
}

/// Starts every member and waits until the cluster serves; its seconds.
async fn form(c: &mut Cluster) -> anyhow::Result<f64> {
    let t0 = Instant::now();
    c.start_all()?;
    c.wait_ready(READY_DEADLINE).await?;
    Ok(t0.elapsed().as_secs_f64())
}

async fn workloads(
    cfg: &Config,
    praetor: &mut Cluster,
    etcd: &mut Cluster,
    report: &mut ClusterReport,
) -> anyhow::Result<()> {
    report.load_before = load_average();
    let mut run = Runner::new(praetor.target(), etcd.target());
    let d = Duration::from_secs(cfg.duration_secs);
    for &clients in &cfg.put_clients {
        eprintln!("== cluster: puts, {clients} clients");
        let before = [praetor.leader_name().await, etcd.leader_name().await];
        let r = run
            .both(format!("cluster: puts ×{clients}"), |t| async move {
                let tag = format!("cluster-c{clients}");
                let prefix = format!("bench/put/{tag}/");
                let throughput = workload::closed_loop(&t, clients, d, Op::Put { tag }).await?;
                let keys_found = t
                    .count_keys(&prefix)
                    .await
                    .context("counting the keys written")?;
                Ok(ClusterPuts {
                    // Every acknowledged put, and each client's warm-up put.
                    keys_expected: throughput.ops + clients as u64,
                    keys_found,
                    throughput,
                })
            })
            .await;
        report.puts.push(r);
        let after = [praetor.leader_name().await, etcd.leader_name().await];
        for ((side, b), a) in ["praetor", "etcd"].iter().zip(before).zip(after) {
            match (b, a) {
                (Ok(b), Ok(a)) if a == b => {}
                (b, a) => report.leader_changes.push(format!(
                    "{side}, puts ×{clients}: leader before the row {}, after it {}",
                    b.unwrap_or_else(|e| format!("unknown ({e:#})")),
                    a.unwrap_or_else(|e| format!("unknown ({e:#})")),
                )),
            }
        }
    }
    report.cpu = run.cpu;
    report.load_after_puts = load_average();

    let probe = Probe {
        every: Duration::from_millis(cfg.failover_poll_ms),
        timeout: Duration::from_millis(cfg.failover_put_timeout_ms),
    };
    for n in 1..=cfg.failover_trials {
        eprintln!("== cluster: failover trial {n}");
        let mut order = [&mut *praetor, &mut *etcd];
        if n % 2 == 0 {
            order.reverse();
        }
        for c in order {
            let trials = match c.side {
                Side::Praetor => &mut report.failover.praetor,
                Side::Etcd => &mut report.failover.etcd,
            };
            if trials.iter().filter(|t| t.is_err()).count() >= MAX_FAILED_TRIALS {
                continue;
            }
            let r = outcome(failover::trial(c, n, probe).await);
            eprintln!("   {}: {r:?}", c.side);
            if r.is_err() {
                // Whatever the trial left stopped is started again for the next.
                c.restart_stopped();
            }
            trials.push(r);
        }
    }
    report.load_after = load_average();
    Ok(())
}
