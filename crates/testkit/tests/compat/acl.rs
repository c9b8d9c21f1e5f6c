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
    crate::run_py(
        "acl.py",
        &[agent.http_addr().to_string(), MGMT.to_owned()],
        &agent,
    )
    .await?;
    agent.shutdown().await?;
    Ok(())
}
