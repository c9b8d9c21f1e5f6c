//! Consul compatibility as its users meet it on the wire: the curl
//! flows against an agent on the default port 8500, through reqwest and
//! through the real `curl`.

mod acl;
mod curl;
mod differences;
mod tls;

/// Runs the py-consul script `tests/compat/py/<name>` with `args` (within
/// two minutes) and fails, showing its output and `agent`'s log, unless it
/// exits 0 having printed "all checks passed".
async fn run_py(
    name: &str,
    args: &[String],
    agent: &praetor_testkit::AgentProcess,
) -> anyhow::Result<()> {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/compat/py")
        .join(name);
    let out = tokio::time::timeout(
        std::time::Duration::from_secs(120),
        tokio::process::Command::new("python3")
            .arg(&script)
            .args(args)
            .kill_on_drop(true)
            .output(),
    )
    .await??;
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        out.status.success(),
        "py-consul script {name} failed\nstdout:\n{stdout}\nstderr:\n{stderr}\nagent log:\n{}",
        agent.log_tail(30)
    );
    assert!(stdout.contains("all checks passed"), "{stdout}");
    Ok(())
}
