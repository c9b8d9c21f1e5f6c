//! A server whose disk fails stops instead of lingering as a zombie: its data
//! dir is a small tmpfs (mounting one needs root, as the partition tests'
//! packet filters do), writes fill it, the Raft log write fails, and the
//! agent exits with status 1 and a log line that says why — so gossip marks
//! it failed and autopilot can replace it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use praetor_testkit::{init_tracing, secs, AgentProcess, Loopback};
use tracing::info;

/// A tmpfs mounted on a directory for the life of the value.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> anyhow::Result<Tmpfs> {
        std::fs::create_dir_all(dir)?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "mounting a tmpfs on {} (this test needs root): {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Ok(Tmpfs(dir.to_owned()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[tokio::test]
async fn a_server_whose_log_disk_fills_up_exits_with_status_1_and_says_why() -> anyhow::Result<()> {
    init_tracing();
    let lo = Loopback::allocate()?;
    let builder = AgentProcess::server(&lo)?;
    let _disk = Tmpfs::mount(&builder.data_dir(), "6m")?;
    let mut agent = builder.start().await?;

    info!("--- fill the data dir with 256 KiB values until a write fails");
    let value = "x".repeat(256 * 1024);
    let mut acked = 0;
    let mut refused = None;
    for i in 0..200 {
        let r = agent
            .http()
            .put(agent.url(&format!("/v1/kv/fill/{i}")))
            .body(value.clone())
            .timeout(secs(15))
            .send()
            .await;
        match r {
            Ok(r) if r.status() == 200 => acked += 1,
            Ok(r) => {
                refused = Some(format!("{} {}", r.status(), r.text().await?.trim()));
                break;
            }
            Err(e) => {
                refused = Some(format!("no answer: {e}"));
                break;
            }
        }
    }
    info!(acked, ?refused, "writes until the disk filled");
    let refused = refused.ok_or_else(|| {
        anyhow::anyhow!("200 writes of 256 KiB fit a 6 MiB disk; the test proves nothing")
    })?;
    assert!(
        !refused.contains("No cluster leader"),
        "a write that failed on the disk is not a missing leader: {refused}"
    );

    info!("--- the agent exits with status 1");
    let started = Instant::now();
    let status = agent.wait_exit_async(secs(30)).await?;
    info!(?status, took = ?started.elapsed(), "agent exited");
    assert_eq!(
        status.code(),
        Some(1),
        "exit status of a server whose disk failed; log:\n{}",
        agent.log_tail(30)
    );
    let log = agent.log();
    assert!(
        log.contains("raft stopped on a fatal error"),
        "the log says why; log:\n{}",
        agent.log_tail(30)
    );
    Ok(())
}
