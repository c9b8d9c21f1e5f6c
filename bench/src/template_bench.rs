//! The `template` subcommand (issue 18): how long a KV write takes to reach
//! the file `praetor template` renders from it. Starts one durable
//! single-server praetor agent on its own loopback address in
//! 127.0.15.0/24 with praetor's default ports (away from testkit's
//! 127.0.0.x and the other phases' 127.0.10–14.x), writes the keys
//! `bench/tpl/k0000`…, then starts ONE `praetor template -config FILE`
//! process whose config has one `template { contents, destination }` block
//! per template, each rendering its own slice of the keys. Once every
//! output holds its initial values, times sequential writes of a new value
//! to a random key until the output that renders it shows the value
//! (polling the file). Always writes its JSON results, failures recorded
//! as such; stops both processes (by PID, SIGTERM then SIGKILL), also on
//! SIGINT or SIGTERM. praetor only. Writes only keys under `bench/`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context as _};
use clap::Args;
use rand::Rng as _;

use crate::cluster::{self, Cluster};
use crate::machine::{cpu_secs, load_average, sockets, Machine, Rss};
use crate::phase::PhaseArgs;
use crate::report::template::{ProcUse, TemplateReport};
use crate::report::Config;
use crate::target::{Side, Target};

/// The loopback /24 the template phase's agent uses.
const TEMPLATE_SUBNET: [u8; 3] = [127, 0, 15];
/// Bound on the agent becoming ready.
const READY_DEADLINE: Duration = Duration::from_secs(60);
/// Bound on loading the keys.
const LOAD_DEADLINE: Duration = Duration::from_secs(120);
/// Concurrent clients loading the keys.
const LOAD_CLIENTS: usize = 8;
/// Bound on every output holding its initial values.
const FIRST_RENDER_DEADLINE: Duration = Duration::from_secs(60);
/// Bound on one put of a sample.
const PUT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Args)]
pub struct TemplateArgs {
    #[command(flatten)]
    phase: PhaseArgs,
    #[command(flatten)]
    config: Config,
    /// Templates in the renderer's config file.
    #[arg(long, default_value_t = 100)]
    tpl_templates: usize,
    /// Keys written; each template renders keys / templates of them.
    #[arg(long, default_value_t = 1000)]
    tpl_keys: usize,
    /// Writes timed, one at a time.
    #[arg(long, default_value_t = 200)]
    tpl_samples: usize,
    /// Bound on the whole sample loop, in seconds.
    #[arg(long, default_value_t = 60)]
    tpl_budget_secs: u64,
    /// Bound on one write reaching its file, in seconds.
    #[arg(long, default_value_t = 10)]
    tpl_deadline_secs: u64,
    /// How often the output file is read while waiting, in microseconds.
    #[arg(long, default_value_t = 1000)]
    tpl_poll_us: u64,
}

/// Runs the template phase and writes its results.
///
/// # Errors
/// When the results cannot be written, or the phase was interrupted.
pub async fn run(args: TemplateArgs) -> anyhow::Result<()> {
    let report = TemplateReport::new(
        args.config.clone(),
        args.phase.command.clone(),
        args.phase.date.clone(),
        args.phase.praetor_version.clone(),
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

/// The key of index `i`.
fn key(i: usize) -> String {
    format!("bench/tpl/k{i:04}")
}

/// The line template output shows for key `i` holding `value`.
fn line(i: usize, value: &str) -> String {
    format!("k{i:04}={value}\n")
}

/// The keys template `t` renders, of `keys` spread over `templates`.
fn keys_of(t: usize, keys: usize, templates: usize) -> std::ops::Range<usize> {
    let per = keys / templates;
    t * per..(t + 1) * per
}

/// Template `t`'s output file.
fn output(dir: &Path, t: usize) -> PathBuf {
    dir.join(format!("t{t:03}.conf"))
}

/// The HCL `template` block of template `t`: one `kNNNN={{ key … }}` line
/// per key of its slice, written to `dest`.
fn block(keys: std::ops::Range<usize>, dest: &Path) -> String {
    let contents: String = keys
        .map(|i| format!("k{i:04}={{{{ key \\\"{}\\\" }}}}\\n", key(i)))
        .collect();
    format!(
        "template {{\n  contents    = \"{contents}\"\n  destination = \"{}\"\n}}\n",
        dest.display()
    )
}

/// A process's memory, CPU and sockets now; `None` when it is gone.
fn proc_use(pid: Option<u32>) -> Option<ProcUse> {
    let pid = pid?;
    let rss = Rss::of(pid).ok()?;
    Some(ProcUse {
        rss_kib: rss.total_kib,
        cpu_s: cpu_secs(pid),
        sockets: sockets(pid),
    })
}

async fn measure(args: &TemplateArgs, report: &mut TemplateReport) -> anyhow::Result<()> {
    let (templates, keys) = (args.tpl_templates, args.tpl_keys);
    ensure!(
        templates >= 1 && keys >= templates,
        "--tpl-templates must be at least 1 and --tpl-keys at least as many"
    );
    ensure!(args.tpl_samples >= 1, "--tpl-samples must be at least 1");
    let work = &args.phase.work;
    for dir in [work, &args.phase.logs] {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    report.templates = templates;
    report.keys = keys - keys % templates;
    report.samples_asked = args.tpl_samples;
    report.budget_secs = args.tpl_budget_secs;
    report.deadline_secs = args.tpl_deadline_secs;
    report.poll_us = args.tpl_poll_us;
    report.load_before = load_average();
    report.machine = Some(Machine::read(work));
    let show = |s: String| s.replace(&work.display().to_string(), "$TMP");

    let ips = cluster::free_ips_in(TEMPLATE_SUBNET, 1)?;
    let mut agent = Cluster::praetor_agents(
        &args.phase.praetor_bin,
        &ips,
        &[],
        &work.join("agent"),
        &args.phase.logs,
        &args.phase.pidfile,
    );
    report.agent_cmd = show(agent.command_line(0));
    let addr = agent.members[0].client_addr(Side::Praetor);

    let out_dir = work.join("out");
    std::fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let config: String = (0..templates)
        .map(|t| block(keys_of(t, keys, templates), &output(&out_dir, t)))
        .collect();
    report.example_block = show(block(keys_of(0, keys, templates), &output(&out_dir, 0)));
    let config_file = work.join("templates.hcl");
    std::fs::write(&config_file, &config)
        .with_context(|| format!("writing {}", config_file.display()))?;
    let mut renderer = Cluster::single(
        Side::Praetor,
        &args.phase.praetor_bin,
        "renderer",
        vec![
            "template".into(),
            format!("-http-addr=http://{addr}"),
            format!("-config={}", config_file.display()),
            "-log-level=warn".into(),
        ],
        &args.phase.logs.join("renderer.log"),
        &args.phase.pidfile,
    );
    report.renderer_cmd = show(renderer.command_line(0));

    let r = measure_on(args, report, &mut agent, &mut renderer, &addr, &out_dir).await;
    for (who, c) in [("renderer", &mut renderer), ("agent", &mut agent)] {
        report.stopped.extend(c.stop_and_report(who).await);
    }
    report.load_after = load_average();
    r
}

async fn measure_on(
    args: &TemplateArgs,
    report: &mut TemplateReport,
    agent: &mut Cluster,
    renderer: &mut Cluster,
    addr: &str,
    out_dir: &Path,
) -> anyhow::Result<()> {
    let (templates, keys) = (report.templates, report.keys);
    eprintln!("== template: starting the agent on {addr}");
    agent.start_all()?;
    agent.wait_ready(READY_DEADLINE).await?;
    let agent_pid = agent.members[0].pid();
    let target = Target::single(Side::Praetor, addr.to_owned(), agent_pid.unwrap_or(0));

    eprintln!("== template: writing {keys} keys");
    let t0 = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..LOAD_CLIENTS {
        let target = target.clone();
        tasks.spawn(async move {
            let mut conn = target.connect(c).await?;
            for i in (c..keys).step_by(LOAD_CLIENTS) {
                conn.put(&key(i), b"v0").await?;
            }
            anyhow::Ok(())
        });
    }
    tokio::time::timeout(LOAD_DEADLINE, async {
        while let Some(r) = tasks.join_next().await {
            r.context("a load task panicked")??;
        }
        anyhow::Ok(())
    })
    .await
    .with_context(|| format!("loading the keys took more than {LOAD_DEADLINE:?}"))??;
    report.load_secs = Some(t0.elapsed().as_secs_f64());

    eprintln!("== template: starting one renderer with {templates} templates");
    let t0 = Instant::now();
    renderer.start_all()?;
    let renderer_pid = renderer.members[0].pid();
    let initial =
        |t: usize| -> String { keys_of(t, keys, templates).map(|i| line(i, "v0")).collect() };
    let mut pending: Vec<usize> = (0..templates).collect();
    while !pending.is_empty() {
        let exited = renderer.exited();
        ensure!(
            exited.is_empty(),
            "the renderer exited before rendering every template: {}",
            exited.join(", ")
        );
        ensure!(
            t0.elapsed() < FIRST_RENDER_DEADLINE,
            "{} of {templates} outputs did not hold their initial values {FIRST_RENDER_DEADLINE:?} after the \
             renderer started (e.g. {})",
            pending.len(),
            output(out_dir, pending[0]).display()
        );
        pending.retain(|&t| {
            std::fs::read_to_string(output(out_dir, t)).map_or(true, |s| s != initial(t))
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    report.first_render_secs = Some(t0.elapsed().as_secs_f64());
    eprintln!(
        "   every output rendered after {:.2} s",
        t0.elapsed().as_secs_f64()
    );
    // Let the first render's work settle before reading the idle numbers.
    tokio::time::sleep(Duration::from_secs(1)).await;
    report.renderer_idle = proc_use(renderer_pid);
    report.agent_idle = proc_use(agent_pid);

    eprintln!(
        "== template: up to {} writes, each until its file shows it",
        args.tpl_samples
    );
    let nonce: u32 = rand::thread_rng().gen();
    let mut conn = target.connect(0).await?;
    let poll = Duration::from_micros(args.tpl_poll_us.max(1));
    let deadline = Duration::from_secs(args.tpl_deadline_secs);
    let budget = Duration::from_secs(args.tpl_budget_secs);
    let started = Instant::now();
    for s in 0..args.tpl_samples {
        if started.elapsed() >= budget {
            break;
        }
        let i = rand::thread_rng().gen_range(0..keys);
        let file = output(out_dir, i / (keys / templates));
        let value = format!("s{s}-{nonce:08x}");
        let want = line(i, &value);
        let t0 = Instant::now();
        let put = conn
            .put_within(&key(i), value.as_bytes(), PUT_TIMEOUT)
            .await;
        report
            .put_ms
            .push(put.is_ok().then(|| t0.elapsed().as_secs_f64() * 1000.0));
        let mut seen = None;
        if put.is_ok() {
            while t0.elapsed() < deadline {
                if std::fs::read_to_string(&file).is_ok_and(|s| s.contains(&want)) {
                    seen = Some(t0.elapsed().as_secs_f64() * 1000.0);
                    break;
                }
                tokio::time::sleep(poll).await;
            }
        }
        report.samples_ms.push(seen);
        let exited = renderer.exited();
        ensure!(
            exited.is_empty(),
            "the renderer exited during the samples: {}",
            exited.join(", ")
        );
    }
    report.samples_secs = started.elapsed().as_secs_f64();
    report.renderer_end = proc_use(renderer_pid);
    report.agent_end = proc_use(agent_pid);
    let l = report.latency();
    eprintln!(
        "   {} writes: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, {} missed",
        l.samples, l.p50_ms, l.p99_ms, l.max_ms, l.missed
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_belongs_to_exactly_one_template() {
        let mut owner = vec![None; 1000];
        for t in 0..100 {
            for i in keys_of(t, 1000, 100) {
                assert_eq!(owner[i], None, "key {i}");
                owner[i] = Some(t);
            }
        }
        assert!(owner.iter().all(Option::is_some));
        // The sample loop finds a key's template by division.
        assert_eq!(owner[123], Some(123 / (1000 / 100)));
    }

    #[test]
    fn a_block_renders_one_escaped_key_line_per_key() {
        let b = block(10..12, Path::new("/tmp/x/t001.conf"));
        assert_eq!(
            b,
            "template {\n  contents    = \"k0010={{ key \\\"bench/tpl/k0010\\\" }}\\n\
             k0011={{ key \\\"bench/tpl/k0011\\\" }}\\n\"\n  destination = \"/tmp/x/t001.conf\"\n}\n"
        );
        assert_eq!(line(7, "s1-ab"), "k0007=s1-ab\n");
    }
}
