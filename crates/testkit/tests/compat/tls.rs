//! Python's `py-consul` over HTTPS against an agent whose certificates were
//! made by `praetor tls` (the server certificate names the agent's address
//! with `-additional-ipaddress`), with `verify_incoming` on: it works with
//! the CA and a client certificate, and is refused without them.

use praetor_testkit::{init_tracing, AgentProcess, Cli, Loopback};

/// Runs `praetor <args>` in `dir`; fails the test unless it exits 0.
fn praetor_in(dir: &std::path::Path, args: &[&str]) -> anyhow::Result<()> {
    let out = Cli::new(args.iter().copied()).current_dir(dir).run()?;
    anyhow::ensure!(out.status.success(), "{out:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn py_consul_speaks_https_with_client_certificates() -> anyhow::Result<()> {
    init_tracing();
    let lo = Loopback::allocate()?;
    let ip = lo.ip().to_string();
    let certs = tempfile::tempdir()?;
    let other = tempfile::tempdir()?;
    praetor_in(certs.path(), &["tls", "ca", "create"])?;
    praetor_in(
        certs.path(),
        &[
            "tls",
            "cert",
            "create",
            "-server",
            "-additional-ipaddress",
            &ip,
        ],
    )?;
    praetor_in(certs.path(), &["tls", "cert", "create", "-client"])?;
    praetor_in(other.path(), &["tls", "ca", "create"])?;
    let file = |dir: &tempfile::TempDir, name: &str| dir.path().join(name).display().to_string();
    let config = format!(
        r#"{{ "ports": {{ "https": 8501 }},
  "tls": {{ "defaults": {{ "ca_file": {}, "cert_file": {}, "key_file": {}, "verify_incoming": true }} }} }}"#,
        serde_json::Value::from(file(&certs, "consul-agent-ca.pem")),
        serde_json::Value::from(file(&certs, "dc1-server-consul-0.pem")),
        serde_json::Value::from(file(&certs, "dc1-server-consul-0-key.pem")),
    );
    let agent = AgentProcess::dev(&lo)?
        .config_file("tls.json", &config)
        .start()
        .await?;
    crate::run_py(
        "tls.py",
        &[
            format!("{ip}:8501"),
            file(&certs, "consul-agent-ca.pem"),
            file(&certs, "dc1-client-consul-0.pem"),
            file(&certs, "dc1-client-consul-0-key.pem"),
            file(&other, "consul-agent-ca.pem"),
        ],
        &agent,
    )
    .await?;
    agent.shutdown().await?;
    Ok(())
}
