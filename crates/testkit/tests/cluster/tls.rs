//! TLS across real processes, set up as the README's security section
//! says: certificates made by `praetor tls`, a 3-server + client cluster
//! with mutual TLS on server RPC (`verify_incoming`, `verify_outgoing`,
//! `verify_server_hostname`) and the HTTPS API, formed from config files.
//! Writes through the client agent ride on TLS; the CLI and curl speak
//! HTTPS with certificates; a server of another CA and a client
//! certificate posing as a server are kept out of Raft, refused at the
//! handshake and logged once, not in a loop; certificates are reloaded by
//! SIGHUP and `praetor reload` while the cluster runs.

use std::path::PathBuf;
use std::process::Command;

use praetor_testkit::{
    init_tracing, secs, wait_for, AgentProcess, Cli, Cluster, KitError, Loopback, Spec,
};
use serde_json::Value;
use tracing::info;

/// A directory of certificates made by `praetor tls`, as an operator
/// would: the CA, three server certificates, one client and one CLI.
struct Certs {
    dir: tempfile::TempDir,
}

impl Certs {
    fn make() -> anyhow::Result<Certs> {
        let dir = tempfile::tempdir()?;
        let run = |args: &[&str]| -> anyhow::Result<()> {
            let out = Cli::new(args.iter().copied())
                .current_dir(dir.path())
                .run()?;
            anyhow::ensure!(out.status.success(), "{out:?}");
            Ok(())
        };
        run(&["tls", "ca", "create"])?;
        for _ in 0..3 {
            run(&["tls", "cert", "create", "-server", "-dc", "dc1"])?;
        }
        run(&["tls", "cert", "create", "-client", "-dc", "dc1"])?;
        run(&["tls", "cert", "create", "-cli", "-dc", "dc1"])?;
        Ok(Certs { dir })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn ca(&self) -> String {
        self.path("consul-agent-ca.pem").display().to_string()
    }

    /// `(cert, key)` of the `n`th certificate of `kind` (server, client, cli).
    fn pair(&self, kind: &str, n: usize) -> (String, String) {
        (
            self.path(&format!("dc1-{kind}-consul-{n}.pem"))
                .display()
                .to_string(),
            self.path(&format!("dc1-{kind}-consul-{n}-key.pem"))
                .display()
                .to_string(),
        )
    }
}

/// Consul's `tls` block with every check on, for `cert`/`key` signed by
/// `ca`; the HTTPS API lets clients without a certificate in when
/// `https_open`.
fn tls_block(ca: &str, (cert, key): &(String, String), https_open: bool) -> String {
    let q = |s: &str| Value::from(s).to_string();
    format!(
        r#"{{ "defaults": {{ "ca_file": {}, "cert_file": {}, "key_file": {},
              "verify_incoming": true, "verify_outgoing": true }},
            "internal_rpc": {{ "verify_server_hostname": true }},
            "https": {{ "verify_incoming": {} }} }}"#,
        q(ca),
        q(cert),
        q(key),
        !https_open
    )
}

/// `curl` over HTTPS to `ip:8501` (named `localhost`, which the
/// certificates carry), with `extra` arguments; its stdout, or why not.
fn curl(ca: &str, ip: &str, path: &str, extra: &[&str]) -> Result<String, String> {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--cacert", ca, "--resolve"])
        .arg(format!("localhost:8501:{ip}"))
        .args(extra)
        .arg(format!("https://localhost:8501{path}"))
        .output()
        .map_err(|e| format!("running curl: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// The Raft configuration's servers as `(node name, voter)`.
async fn raft_servers(cluster: &Cluster, via: &str) -> Result<Vec<(String, bool)>, KitError> {
    let conf = cluster.raft_configuration(via).await?;
    Ok(conf["Servers"]
        .as_array()
        .map(|servers| {
            servers
                .iter()
                .map(|s| {
                    (
                        s["Node"].as_str().unwrap_or_default().to_owned(),
                        s["Voter"].as_bool().unwrap_or(false),
                    )
                })
                .collect()
        })
        .unwrap_or_default())
}

/// Starts an extra server outside the cluster with `tls` and the cluster's
/// other settings, joining `join`.
async fn outsider(name: &str, tls: &str, join: &str, extra: &str) -> anyhow::Result<AgentProcess> {
    let lo = Loopback::allocate()?;
    let b = AgentProcess::builder(&lo)?;
    let config = format!(
        r#"{{ "node_name": "{name}", "server": true, "bootstrap_expect": 0,
             "bind_addr": "{ip}", "client_addr": "{ip}", "data_dir": {data},
             "retry_join": ["{join}"], "retry_interval": "1s", "tls": {tls}{extra} }}"#,
        ip = lo.ip(),
        data = Value::from(b.data_dir().display().to_string()),
    );
    Ok(b.config_file("outsider.json", &config)
        .name(name)
        .no_leader_wait()
        .start()
        .await?)
}

/// How many lines of `log` contain `needle`.
fn count(log: &str, needle: &str) -> usize {
    log.lines().filter(|l| l.contains(needle)).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_with_tls_everywhere_serves_https_and_keeps_strangers_out() -> anyhow::Result<()>
{
    init_tracing();
    info!("--- certificates by praetor tls, as the README's three commands");
    let certs = Certs::make()?;
    let ca = certs.ca();
    info!("--- and a gossip key by praetor keygen");
    let keygen = Cli::new(["keygen"]).run()?;
    keygen.assert_success();
    let key = keygen.stdout.trim().to_owned();
    let mut spec = Spec::servers(3)
        .clients(1)
        .config("ports", r#"{ "https": 8501 }"#)
        .config("encrypt", &Value::from(key.as_str()).to_string());
    for (i, name) in ["s1", "s2", "s3"].iter().enumerate() {
        spec = spec.node_config(name, "tls", &tls_block(&ca, &certs.pair("server", i), true));
    }
    spec = spec.node_config(
        "c1",
        "tls",
        &tls_block(&ca, &certs.pair("client", 0), false),
    );
    let mut cluster = Cluster::start(spec).await?;
    cluster.wait_formed(secs(60)).await?;
    let ips: std::collections::BTreeMap<String, String> = cluster
        .nodes()
        .iter()
        .map(|n| (n.name().to_owned(), n.ip().to_string()))
        .collect();
    let ip = |name: &str| -> anyhow::Result<String> {
        ips.get(name)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("no node {name}"))
    };

    info!("--- a write through the client agent rides on mutual TLS to the servers");
    cluster
        .put_acked("c1", "config/db/password", "s3cret")
        .await?;
    let on_s3 = curl(&ca, &ip("s3")?, "/v1/kv/config/db/password?raw&stale", &[])
        .map_err(anyhow::Error::msg)?;
    assert_eq!(on_s3, "s3cret", "read over HTTPS from another server");

    info!("--- every member holds the gossip key");
    let out = Cli::new([
        "keyring",
        "-list",
        &format!("-http-addr={}:8500", ip("s1")?),
    ])
    .run()?;
    out.assert_success();
    assert!(out.stdout.contains(&format!("{key} [4/4]")), "{out:?}");

    info!("--- the client agent's HTTPS wants a client certificate");
    let (cli_cert, cli_key) = certs.pair("cli", 0);
    let with_cert = curl(
        &ca,
        &ip("c1")?,
        "/v1/kv/config/db/password?raw",
        &["--cert", &cli_cert, "--key", &cli_key],
    );
    assert_eq!(with_cert.as_deref(), Ok("s3cret"));
    let without = curl(&ca, &ip("c1")?, "/v1/kv/config/db/password?raw", &[]);
    assert!(without.is_err(), "no client certificate: {without:?}");

    info!("--- the CLI over HTTPS, with Consul's environment variables");
    let out = Cli::new(["kv", "get", "config/db/password"])
        .env("CONSUL_HTTP_ADDR", &format!("https://{}:8501", ip("c1")?))
        .env("CONSUL_CACERT", &ca)
        .env("CONSUL_CLIENT_CERT", &cli_cert)
        .env("CONSUL_CLIENT_KEY", &cli_key)
        .env("CONSUL_TLS_SERVER_NAME", "localhost")
        .run()?;
    out.assert_success();
    assert_eq!(out.stdout.trim(), "s3cret");
    let out = Cli::new(["kv", "get", "config/db/password"])
        .env("CONSUL_HTTP_ADDR", &format!("https://{}:8501", ip("c1")?))
        .env("CONSUL_CACERT", &ca)
        .env("CONSUL_TLS_SERVER_NAME", "localhost")
        .run()?;
    assert_eq!(out.code(), Some(1), "no client certificate: {out:?}");

    let s1 = ip("s1")?;
    // The outsiders hold the gossip key (insiders gone wrong): only their
    // certificates keep them out.
    let gossip_key = format!(", \"encrypt\": {}", Value::from(key.as_str()));
    info!("--- a server with a certificate of another CA stays out");
    let evil = Certs::make()?;
    let stranger = outsider(
        "stranger",
        &tls_block(&evil.ca(), &evil.pair("server", 0), true),
        &s1,
        &gossip_key,
    )
    .await?;
    info!("--- a client certificate of our CA, posing as a server, stays out too");
    let impostor = outsider(
        "impostor",
        &tls_block(&ca, &certs.pair("client", 0), true),
        &s1,
        &gossip_key,
    )
    .await?;
    let leader = cluster.wait_for_leader(secs(30)).await?;
    // Gossip lets them in (it is not TLS): give the leader time to try
    // adding them to Raft, over and over.
    wait_for(secs(30), "both outsiders to be seen in gossip", || async {
        let members = cluster.members(&leader).await.map_err(|e| e.to_string())?;
        let seen = members
            .iter()
            .filter(|m| m.name == "stranger" || m.name == "impostor")
            .count();
        if seen == 2 {
            Ok(())
        } else {
            Err(format!("{seen} of 2 seen"))
        }
    })
    .await?;
    // The leader has tried to add each and refused: autopilot says so.
    wait_for(secs(30), "the leader to refuse both outsiders", || async {
        let log = cluster
            .node(&leader)
            .map_err(|e| e.to_string())?
            .agent()
            .log();
        let refused = ["stranger", "impostor"]
            .iter()
            .filter(|n| {
                log.lines().any(|l| {
                    l.contains("could not add server") && l.contains(&format!("server={n}"))
                })
            })
            .count();
        if refused == 2 {
            Ok(())
        } else {
            Err(format!("{refused} of 2 refused so far"))
        }
    })
    .await?;
    let servers = raft_servers(&cluster, &leader).await?;
    for outsider in ["stranger", "impostor"] {
        assert!(
            !servers.iter().any(|(n, voter)| n == outsider && *voter),
            "{outsider} must never vote: {servers:?}"
        );
    }
    cluster.put_acked("c1", "still", "writable").await?;
    let stranger_log = stranger.log();
    assert!(
        stranger_log.contains("tls handshake") || stranger_log.contains("rpc connection refused"),
        "the stranger is told why: {}",
        stranger.log_tail(30)
    );
    let leader_log = cluster.node(&leader)?.agent().log();
    let refusals = count(&leader_log, "rpc tls handshake with a server failed")
        + count(&leader_log, "rpc connection refused");
    assert!(
        (1..=8).contains(&refusals),
        "refusals are logged once a minute per peer, not in a loop: {refusals} lines"
    );
    stranger.shutdown().await?;
    impostor.shutdown().await?;

    info!("--- certificates reloaded while running: SIGHUP, then praetor reload");
    // A new server certificate that also names reloaded.example, written
    // over s1's files.
    Cli::new([
        "tls",
        "cert",
        "create",
        "-server",
        "-dc",
        "dc1",
        "-additional-dnsname",
        "reloaded.example",
    ])
    .current_dir(certs.dir.path())
    .run()?
    .assert_success();
    let name_check = |ip: &str| -> Result<String, String> {
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "10", "--cacert", &ca, "--resolve"])
            .arg(format!("reloaded.example:8501:{ip}"))
            .arg("https://reloaded.example:8501/v1/status/leader")
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    };
    assert!(
        name_check(&s1).is_err(),
        "the old certificate does not name reloaded.example"
    );
    let (new_cert, new_key) = certs.pair("server", 3);
    let (s1_cert, s1_key) = certs.pair("server", 0);
    std::fs::copy(&new_cert, &s1_cert)?;
    std::fs::copy(&new_key, &s1_key)?;
    cluster.hangup("s1")?;
    wait_for(secs(15), "s1 to serve the reloaded certificate", || async {
        name_check(&s1).map(|_| ())
    })
    .await?;

    let s2 = ip("s2")?;
    let (s2_cert, s2_key) = certs.pair("server", 1);
    std::fs::copy(&new_cert, &s2_cert)?;
    std::fs::copy(&new_key, &s2_key)?;
    let out = Cli::new(["reload", &format!("-http-addr={s2}:8500")]).run()?;
    out.assert_success();
    assert!(
        out.stdout.contains("Configuration reload triggered"),
        "{out:?}"
    );
    assert!(
        name_check(&s2).is_ok(),
        "praetor reload applied the new certificate"
    );

    info!("--- a reload with a broken key changes nothing and says why");
    std::fs::write(&s2_key, "not a key")?;
    let out = Cli::new(["reload", &format!("-http-addr={s2}:8500")]).run()?;
    assert_eq!(out.code(), Some(1), "{out:?}");
    assert!(
        out.stderr.contains(&s2_key),
        "the message names the file: {out:?}"
    );
    assert!(
        name_check(&s2).is_ok(),
        "the previous certificate stays in use"
    );

    info!("--- the cluster never lost a member along the way");
    cluster.put_acked("c1", "after/reload", "ok").await?;
    cluster.wait_all_alive(secs(10)).await?;
    cluster.shutdown().await?;
    Ok(())
}
