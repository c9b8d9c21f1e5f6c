//! `praetor debug`: records an agent for a while into a `.tar.gz`, as
//! Consul's `debug` does: `agent.json` (agent/self), `members.json`,
//! `host.json` (when the agent answers `/v1/agent/host`), one directory per
//! interval with `metrics.json` (`/v1/agent/metrics`) and `tasks.json`
//! (`/v1/agent/debug/tasks`, the stand-in for Go's goroutine profile under
//! Consul's target name `pprof`), the agent's log lines at DEBUG for the
//! whole duration in `praetor.log`, and `index.json` saying what was asked
//! for and what could not be captured. SIGINT ends the capture early and
//! archives what was recorded.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;
use clap::{ArgAction, Args};
use futures::StreamExt as _;
use praetor_client::error::ClientError;
use praetor_client::Client;
use serde_json::{json, Value};

use super::{Failed, HttpArgs};
use crate::output;

/// Consul's targets, in its order.
const TARGETS: &[&str] = &["metrics", "logs", "pprof", "host", "agent", "members"];
/// Shortest interval accepted (Consul's is 5s; shorter is allowed here so a
/// capture can be tried in seconds).
const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// The version of this archive's layout (Consul's `debugProtocolVersion`).
const PROTOCOL: u32 = 1;

#[derive(Args, Debug)]
pub struct DebugArgs {
    #[command(flatten)]
    http: HttpArgs,
    /// The total time to record information.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    duration: Duration,
    /// The interval in which to capture dynamic information (metrics, tasks).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    interval: Duration,
    /// The path of the archive to create (".tar.gz" is added), default
    /// praetor-debug-<time>.
    #[arg(long)]
    output: Option<PathBuf>,
    /// What to capture: metrics, logs, pprof, host, agent, members
    /// (repeatable; default: all).
    #[arg(long)]
    capture: Vec<String>,
    /// Archive and compress the files (false leaves the directory).
    #[arg(long, action = ArgAction::SetFalse, default_value_t = true)]
    archive: bool,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    praetor_api::duration::parse(s).map_err(|e| e.to_string())
}

/// A Consul-style UTC time usable in a file name (`2026-12-03T19-09-09Z`).
fn stamp() -> String {
    let t = praetor_agent::logs::timestamp(SystemTime::now(), 3);
    format!("{}Z", t[..19].replace(':', "-"))
}

/// Runs the command.
///
/// # Errors
/// Bad flags, an agent that cannot be reached, an output that exists or
/// cannot be written.
pub async fn run(args: DebugArgs) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    if args.interval < MIN_INTERVAL {
        return Err(Failed(format!(
            "Capture validation failed: interval must be at least {}s",
            MIN_INTERVAL.as_secs()
        ))
        .into());
    }
    if args.duration < args.interval {
        return Err(Failed(format!(
            "Capture validation failed: duration ({}) must be longer than interval ({})",
            praetor_api::duration::format(args.duration),
            praetor_api::duration::format(args.interval)
        ))
        .into());
    }
    let targets: Vec<String> = if args.capture.is_empty() {
        TARGETS.iter().map(|t| (*t).to_owned()).collect()
    } else {
        args.capture.clone()
    };
    if let Some(bad) = targets.iter().find(|t| !TARGETS.contains(&t.as_str())) {
        return Err(Failed(format!(
            "Capture validation failed: target not found: {bad}"
        ))
        .into());
    }
    let client = args.http.client()?;
    let me = client.get_value("/v1/agent/self", &[]).await.map_err(|e| {
        Failed(format!(
            "Capture validation failed: error querying target agent: {e}. verify connectivity and agent address"
        ))
    })?;
    let version = me["Config"]["Version"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let dir = args
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("praetor-debug-{}", stamp())));
    if dir.exists() {
        return Err(Failed(format!(
            "Capture validation failed: output directory already exists: {}",
            dir.display()
        ))
        .into());
    }
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("creating the output directory {}", dir.display()))?;
    let archive = PathBuf::from(format!("{}.tar.gz", dir.display()));
    let shown = if args.archive { &archive } else { &dir };
    output::line("==> Starting debugger and capturing static information...");
    output::line(&format!("     Agent Version: '{version}'"));
    output::line(&format!(
        "          Interval: '{}'",
        praetor_api::duration::format(args.interval)
    ));
    output::line(&format!(
        "          Duration: '{}'",
        praetor_api::duration::format(args.duration)
    ));
    output::line(&format!("            Output: '{}'", shown.display()));
    output::line(&format!("           Capture: '{}'", targets.join(", ")));

    let want = |t: &str| targets.iter().any(|x| x == t);
    let mut missing: BTreeMap<String, String> = BTreeMap::new();
    if want("host") {
        capture_static(
            &client,
            "/v1/agent/host",
            &dir.join("host.json"),
            "host",
            &mut missing,
        )
        .await?;
    }
    if want("agent") {
        write_json(&dir.join("agent.json"), &me)?;
    }
    if want("members") {
        capture_static(
            &client,
            "/v1/agent/members",
            &dir.join("members.json"),
            "members",
            &mut missing,
        )
        .await?;
    }

    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let end = Instant::now() + args.duration;
    let logs = want("logs").then(|| {
        let client = client.clone();
        let path = dir.join("praetor.log");
        tokio::spawn(async move { capture_logs(client, path, end).await })
    });
    let mut interrupted = false;
    if want("metrics") || want("pprof") {
        let mut count = 0u32;
        let mut next = Instant::now();
        loop {
            output::line(&format!(
                "==> Beginning capture interval {} ({count})",
                stamp()
            ));
            let sub = interval_dir(&dir)?;
            if want("metrics") {
                capture_static(
                    &client,
                    "/v1/agent/metrics",
                    &sub.join("metrics.json"),
                    "metrics",
                    &mut missing,
                )
                .await?;
            }
            if want("pprof") {
                capture_static(
                    &client,
                    "/v1/agent/debug/tasks",
                    &sub.join("tasks.json"),
                    "pprof",
                    &mut missing,
                )
                .await?;
            }
            output::line(&format!("    Capture successful {} ({count})", stamp()));
            count += 1;
            next += args.interval;
            if next > end {
                break;
            }
            tokio::select! {
                () = tokio::time::sleep_until(next.into()) => {}
                _ = int.recv() => { interrupted = true; break; }
                _ = term.recv() => { interrupted = true; break; }
            }
        }
    }
    if !interrupted && want("logs") {
        tokio::select! {
            () = tokio::time::sleep_until(end.into()) => {}
            _ = int.recv() => interrupted = true,
            _ = term.recv() => interrupted = true,
        }
    }
    if interrupted {
        output::line("==> Capture interrupted: archiving what was recorded");
    }
    if let Some(task) = logs {
        task.abort();
        if let Ok(Err(e)) = task.await {
            missing.insert("logs".into(), e.to_string());
        }
    }
    let index = json!({
        "Version": PROTOCOL,
        "AgentVersion": version,
        "Interval": praetor_api::duration::format(args.interval),
        "Duration": praetor_api::duration::format(args.duration),
        "Targets": targets,
        "NotCaptured": missing,
    });
    write_json(&dir.join("index.json"), &index)?;
    for (target, why) in &missing {
        output::line(&format!("==> {target} not captured: {why}"));
    }
    if args.archive {
        write_archive(&dir, &archive)?;
        std::fs::remove_dir_all(&dir).with_context(|| {
            format!(
                "removing the directory {} after archiving it",
                dir.display()
            )
        })?;
    }
    output::line(&format!("    Saved debug archive: {}", shown.display()));
    Ok(())
}

/// `GET path` into `file`; an endpoint the agent does not have (404) or
/// refuses is noted in `missing` under `target` instead.
async fn capture_static(
    client: &Client,
    path: &str,
    file: &Path,
    target: &str,
    missing: &mut BTreeMap<String, String>,
) -> anyhow::Result<()> {
    match client.get_value(path, &[]).await {
        Ok(v) => write_json(file, &v),
        Err(ClientError::Http { status, body }) => {
            missing
                .entry(target.to_owned())
                .or_insert_with(|| format!("GET {path} answered {status}: {body}"));
            Ok(())
        }
        Err(e) => Err(anyhow::anyhow!("capturing {target}: {e}")),
    }
}

/// A new directory for one interval, named by the time.
fn interval_dir(base: &Path) -> anyhow::Result<PathBuf> {
    let name = stamp();
    let mut dir = base.join(&name);
    let mut n = 1;
    while dir.exists() {
        dir = base.join(format!("{name}-{n}"));
        n += 1;
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

fn write_json(path: &Path, v: &Value) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(v).context("encoding JSON")?;
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// The agent's log lines at DEBUG into `path` until `end`.
async fn capture_logs(client: Client, path: PathBuf, end: Instant) -> anyhow::Result<()> {
    use tokio::io::AsyncWriteExt as _;
    let mut file = tokio::fs::File::create(&path)
        .await
        .with_context(|| format!("creating {}", path.display()))?;
    let stream = client.agent_monitor("debug", false).await?;
    let mut stream = std::pin::pin!(stream);
    loop {
        let item = tokio::select! {
            item = stream.next() => item,
            () = tokio::time::sleep_until(end.into()) => break,
        };
        match item {
            Some(Ok(line)) => {
                file.write_all(line.as_bytes()).await?;
                file.write_all(b"\n").await?;
                // Flushed per line: the task is aborted at the end.
                file.flush().await?;
            }
            Some(Err(e)) => return Err(e.into()),
            None => break,
        }
    }
    file.flush().await?;
    Ok(())
}

/// `dir` as `<archive>`: a gzipped tar whose entries sit under the
/// directory's name, as Consul's archive does.
fn write_archive(dir: &Path, archive: &Path) -> anyhow::Result<()> {
    let file = std::fs::File::create(archive)
        .with_context(|| format!("creating the archive {}", archive.display()))?;
    let gz = flate2::write::GzEncoder::new(file, flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    let name = dir
        .file_name()
        .map_or_else(|| PathBuf::from("debug"), PathBuf::from);
    tar.append_dir_all(&name, dir)
        .with_context(|| format!("archiving {}", dir.display()))?;
    tar.into_inner()
        .and_then(flate2::write::GzEncoder::finish)
        .with_context(|| format!("writing the archive {}", archive.display()))?;
    Ok(())
}
