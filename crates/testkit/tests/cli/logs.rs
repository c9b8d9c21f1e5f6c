//! Issue 16: `praetor monitor`, `praetor debug` and the agent's `-log-file`
//! with rotation, run as a user runs them against a dev agent.

use std::path::Path;
use std::process::Command;

use praetor_testkit::{secs, AgentProcess, Loopback, Signal};
use tracing::info;

use super::{cli, dev_agent, praetor};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitor_prints_lines_until_sigint_and_fails_when_the_agent_goes() -> anyhow::Result<()> {
    let (mut agent, _lo) = dev_agent().await?;

    info!("--- a bad level is refused with the agent's reason");
    let bad = praetor(&agent, &["monitor", "-log-level=loud"]);
    bad.assert_code(1);
    assert!(bad.stderr.contains("Unknown log level: loud"), "{bad:?}");

    info!("--- DEBUG lines (more verbose than the agent's INFO) until SIGINT, exit 0");
    let mut mon = cli(&agent, &["monitor", "-log-level=debug"]).spawn()?;
    seen_by(&mut mon, &agent, "url=/v1/kv/monitored").await?;
    let out = mon.stop(secs(10))?;
    out.assert_success();
    assert!(
        out.stdout.contains("[DEBUG] agent.http: http request"),
        "{out:?}"
    );

    info!("--- the agent stops: a JSON monitor prints its last lines, says so and exits 1");
    let mut json = cli(&agent, &["monitor", "-log-level=debug", "-log-json"]).spawn()?;
    seen_by(&mut json, &agent, "\"url\":\"/v1/kv/monitored\"").await?;
    agent.signal(Signal::Int)?;
    let out = json.wait_exit(secs(15))?;
    out.assert_code(1);
    assert!(
        out.stderr.contains("Remote side ended the monitor!"),
        "{out:?}"
    );
    let line = out
        .stdout
        .lines()
        .find(|l| l.contains("caught SIGINT"))
        .ok_or_else(|| anyhow::anyhow!("no shutdown line: {out:?}"))?;
    let v: serde_json::Value = serde_json::from_str(line)?;
    assert_eq!(v["@level"], "info", "{line}");
    agent.wait_exit_async(secs(10)).await?;
    Ok(())
}

/// Waits until `mon` prints `needle`, making a request that the agent logs
/// at DEBUG on every poll (the monitor attaches some time after it starts,
/// and sees only what is logged after that).
async fn seen_by(
    mon: &mut praetor_testkit::CliChild,
    agent: &AgentProcess,
    needle: &str,
) -> anyhow::Result<()> {
    let (http, url) = (agent.http().clone(), agent.url("/v1/kv/monitored"));
    mon.wait_for_stdout(secs(10), needle, |out| {
        let (http, url) = (http.clone(), url.clone());
        tokio::spawn(async move { http.get(url).send().await });
        out.contains(needle)
    })
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_writes_an_archive_of_json_metrics_tasks_and_logs() -> anyhow::Result<()> {
    let (agent, _lo) = dev_agent().await?;
    let dir = tempfile::tempdir()?;
    let output = dir.path().join("capture");
    let out = praetor(
        &agent,
        &[
            "debug",
            "-duration=2s",
            "-interval=1s",
            &format!("-output={}", output.display()),
        ],
    );
    out.assert_success();
    assert!(out.stdout.contains("Saved debug archive:"), "{out:?}");
    assert!(!output.exists(), "only the archive is left: {out:?}");
    let archive = dir.path().join("capture.tar.gz");

    info!("--- the listing");
    let listing = run("tar", &["tzf", &archive.display().to_string()], dir.path())?;
    for want in [
        "capture/index.json",
        "capture/agent.json",
        "capture/members.json",
        "capture/praetor.log",
    ] {
        assert!(listing.lines().any(|l| l == want), "{want} in:\n{listing}");
    }
    let intervals = |file: &str| listing.lines().filter(|l| l.ends_with(file)).count();
    assert!(intervals("/metrics.json") >= 2, "{listing}");
    assert!(intervals("/tasks.json") >= 2, "{listing}");

    info!("--- every JSON file parses; the index says what is missing");
    run("tar", &["xzf", &archive.display().to_string()], dir.path())?;
    let mut parsed = 0;
    for name in listing.lines().filter(|l| l.ends_with(".json")) {
        let text = std::fs::read_to_string(dir.path().join(name))?;
        let v: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
        if name.ends_with("tasks.json") {
            assert!(v["Runtime"]["AliveTasks"].as_u64() > Some(0), "{name}: {v}");
        }
        parsed += 1;
    }
    assert!(parsed >= 7, "{listing}");
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(output.join("index.json"))?)?;
    assert_eq!(index["Version"], 1);
    assert_eq!(index["Interval"], "1s");
    assert_eq!(index["Duration"], "2s");
    assert_eq!(
        index["Targets"].as_array().map(Vec::len),
        Some(6),
        "{index}"
    );
    let host_captured = listing.lines().any(|l| l == "capture/host.json");
    assert!(
        host_captured
            || index["NotCaptured"]["host"]
                .as_str()
                .is_some_and(|s| s.contains("404")),
        "host.json, or the index says why not: {index}"
    );
    let log = std::fs::read_to_string(output.join("praetor.log"))?;
    assert!(log.contains("[DEBUG] agent.http: http request"), "{log}");
    agent.shutdown().await?;
    Ok(())
}

fn run(cmd: &str, args: &[&str], dir: &Path) -> anyhow::Result<String> {
    let out = Command::new(cmd).args(args).current_dir(dir).output()?;
    anyhow::ensure!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_file_rotates_by_size_and_keeps_max_files() -> anyhow::Result<()> {
    praetor_testkit::init_tracing();
    let lo = Loopback::allocate()?;
    let logs = tempfile::tempdir()?;
    let agent = AgentProcess::dev(&lo)?
        .arg(format!("-log-file={}/", logs.path().display()))
        .args([
            "-log-rotate-bytes=2000",
            "-log-rotate-max-files=2",
            "-log-level=debug",
        ])
        .start()
        .await?;
    let rotated = || -> Vec<String> {
        std::fs::read_dir(logs.path())
            .map(|d| {
                d.filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.starts_with("praetor-") && n.ends_with(".log"))
                    .collect()
            })
            .unwrap_or_default()
    };
    info!("--- requests logged at DEBUG fill the file past 2000 bytes several times");
    for i in 0..60 {
        agent
            .http()
            .get(agent.url(&format!("/v1/kv/rotation-{i}")))
            .send()
            .await?;
        assert!(
            rotated().len() <= 2,
            "never more than 2 old files: {:?}",
            rotated()
        );
    }
    let current = std::fs::read_to_string(logs.path().join("praetor.log"))?;
    assert_eq!(rotated().len(), 2, "{:?}", rotated());
    assert!(
        current.len() < 4000,
        "the current file was rotated: {} bytes",
        current.len()
    );
    assert!(
        agent.log().contains("[DEBUG] agent.http: http request"),
        "stderr still has every line"
    );
    agent.shutdown().await?;
    Ok(())
}
