//! Python's `py-consul` ACL API (`acl.policy`, `acl.role`, `acl.token`)
//! against an agent with ACLs enabled under `default_policy = "deny"`, and
//! its KV calls with the tokens it made: allowed and denied (403, raised as
//! `consul.ACLPermissionDenied`) as their policy says.

use praetor_testkit::{init_tracing, AgentProcess, Loopback};

const MGMT: &str = "0c9d8e7f-6a5b-4c3d-8e2f-1a0b9c8d7e61";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn py_consul_acl_api_manages_policies_roles_and_tokens_that_enforce() -> anyhow::Result<()> {
    init_tracing();
    let lo = Loopback::allocate()?;
    let config = format!(
        r#"{{ "acl": {{ "enabled": true, "default_policy": "deny",
  "tokens": {{ "initial_management": "{MGMT}", "agent": "{MGMT}" }} }} }}"#
    );
    let agent = AgentProcess::dev(&lo)?
        .config_file("acl.json", &config)
        .start()
        .await?;
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compat/py/acl.py");
    let out = tokio::time::timeout(
        std::time::Duration::from_secs(120),
        tokio::process::Command::new("python3")
            .arg(&script)
            .arg(agent.http_addr())
            .arg(MGMT)
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
        "py-consul ACL script failed\nstdout:\n{stdout}\nstderr:\n{stderr}\nagent log:\n{}",
        agent.log_tail(30)
    );
    assert!(stdout.contains("all checks passed"), "{stdout}");
    agent.shutdown().await?;
    Ok(())
}
