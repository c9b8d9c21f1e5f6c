//! `enable_syslog` and `syslog_facility` as the tutorial sets them: the
//! agent's log lines reach the machine's syslog socket (`/dev/log`) with
//! the configured facility and each line's severity.
//!
//! The test plays the syslog daemon: it binds `/dev/log` itself, which
//! needs root and a machine without a syslog daemon — the CI machines are
//! both. Anywhere else it fails saying so, rather than passing unseen.

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::time::{Duration, Instant};

use praetor_testkit::{init_tracing, AgentProcess, Loopback};

const DEV_LOG: &str = "/dev/log";

/// Removes the socket this test bound, however the test ends.
struct Bound;

impl Drop for Bound {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(DEV_LOG);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enable_syslog_sends_the_agents_lines_to_dev_log_with_the_configured_facility(
) -> anyhow::Result<()> {
    init_tracing();
    anyhow::ensure!(
        // SAFETY: reads the process's effective uid; no memory is touched.
        unsafe { libc::geteuid() } == 0 && !Path::new(DEV_LOG).exists(),
        "this test binds {DEV_LOG} as the syslog daemon: it needs root and no syslog \
         daemon on the machine (as on CI)"
    );
    let daemon = UnixDatagram::bind(DEV_LOG)?;
    let _bound = Bound;
    daemon.set_read_timeout(Some(Duration::from_millis(200)))?;

    let lo = Loopback::allocate()?;
    let config = serde_json::json!({
        "enable_syslog": true, "syslog_facility": "LOCAL4", "log_level": "info",
    });
    let agent = AgentProcess::dev(&lo)?
        .config_file("syslog.json", &config.to_string())
        .start()
        .await?;
    let prefix = format!("<{}>praetor[{}]: ", 20 * 8 + 6, agent.pid());

    // The agent logs at INFO as it starts; each line is one datagram.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    let found = loop {
        let mut buf = [0u8; 8192];
        if let Ok(n) = daemon.recv(&mut buf) {
            let line = String::from_utf8_lossy(&buf[..n]).into_owned();
            if line.starts_with(&prefix) && line.contains("[INFO]") {
                break Some(line);
            }
            seen.push(line);
        }
        if Instant::now() > deadline {
            break None;
        }
    };
    agent.shutdown().await?;
    let line = found.ok_or_else(|| {
        anyhow::anyhow!("no INFO line with {prefix:?} reached {DEV_LOG}; got {seen:?}")
    })?;
    assert!(!line.ends_with('\n'), "one line per datagram: {line:?}");
    Ok(())
}
