//! Gossip encryption on a cluster of processes formed from config files with
//! `encrypt`: the key rotated with `praetor keyring` (install, use, remove)
//! while every member stays alive, each member's keyring file following; an
//! agent with another key cannot join and is never listed; a restarted
//! member comes back from its keyring file.

use std::time::{Duration, Instant};

use praetor_testkit::{init_tracing, secs, AgentProcess, Cluster, Loopback, Spec};
use tracing::info;

const K1: &str = "pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s=";
const K2: &str = "5Cm8A0jZoaFXX3GWyvD47g==";
const OTHER: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// Fails if any node that is up sees any node that is up other than alive.
async fn all_alive_now(cluster: &Cluster) -> anyhow::Result<()> {
    let up = cluster.up_names();
    for observer in &up {
        for m in cluster.members(observer).await? {
            if up.contains(&m.name) && m.status != "alive" {
                anyhow::bail!("{observer} sees {} {}", m.name, m.status);
            }
        }
    }
    Ok(())
}

fn keyring_file(cluster: &Cluster, name: &str) -> anyhow::Result<Vec<String>> {
    let path = cluster
        .node(name)?
        .agent()
        .data_dir()
        .join("serf/local.keyring");
    Ok(serde_json::from_str(&std::fs::read_to_string(&path)?)?)
}

#[tokio::test]
async fn a_cluster_rotates_its_gossip_key_with_the_cli_and_keeps_another_key_out(
) -> anyhow::Result<()> {
    init_tracing();
    let mut cluster = Cluster::start(
        Spec::servers(3)
            .clients(1)
            .config("encrypt", &format!("\"{K1}\"")),
    )
    .await?;
    cluster.wait_formed(secs(30)).await?;
    cluster.wait_all_alive(secs(30)).await?;
    let names = cluster.names();
    for name in &names {
        assert_eq!(keyring_file(&cluster, name)?, [K1], "{name}");
    }

    info!("--- praetor keyring -list: one key on the four members");
    let out = cluster.cli("s1", &["keyring", "-list"])?.run()?;
    out.assert_success();
    assert_eq!(
        out.stdout,
        format!("==> Gathering installed encryption keys...\n\ndc1 (LAN):\n  {K1} [4/4]\n")
    );

    info!("--- install K2 (via s1), use it (via s2), remove K1 (via s3)");
    for (via, args) in [
        ("s1", ["keyring", "-install", K2]),
        ("s2", ["keyring", "-use", K2]),
        ("s3", ["keyring", "-remove", K1]),
    ] {
        cluster.cli(via, &args)?.run()?.assert_success();
        all_alive_now(&cluster).await?;
    }
    let out = cluster.cli("c1", &["keyring", "-list"]);
    // Keyring operations run against servers, as in Consul.
    let out = out?.run()?;
    out.assert_code(1);
    assert!(out.stderr.contains("server node"), "{out:?}");
    let out = cluster.cli("s2", &["keyring", "-list-primary"])?.run()?;
    out.assert_success();
    assert!(
        out.stdout.ends_with(&format!("dc1 (LAN):\n  {K2} [4/4]\n")),
        "{out:?}"
    );
    let out = cluster.cli("s2", &["keyring", "-list"])?.run()?;
    assert!(
        out.stdout.ends_with(&format!("dc1 (LAN):\n  {K2} [4/4]\n")),
        "{out:?}"
    );
    for name in &names {
        assert_eq!(keyring_file(&cluster, name)?, [K2], "{name}");
    }

    info!("--- through a full suspicion period, every member stays alive everywhere");
    let until = Instant::now() + Duration::from_secs(6);
    while Instant::now() < until {
        all_alive_now(&cluster).await?;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    for node in cluster.nodes() {
        let log = node.agent().log();
        // The gossip layer's member events are in the log: none is a failure.
        assert!(log.contains("member joined"), "{}: {log}", node.name());
        assert!(!log.contains("member failed"), "{}: {log}", node.name());
        assert!(
            !log.contains("dropped a"),
            "{} dropped traffic: {log}",
            node.name()
        );
    }

    info!("--- an agent with another key cannot join, and is never listed");
    let lo = Loopback::allocate()?;
    let intruder = AgentProcess::dev(&lo)?
        .config_file("encrypt.hcl", &format!("encrypt = \"{OTHER}\"\n"))
        .start()
        .await?;
    let s1_ip = cluster.node("s1")?.ip().to_string();
    let out = praetor_testkit::Cli::new(["join", s1_ip.as_str()])
        .env("CONSUL_HTTP_ADDR", &intruder.http_addr())
        .run()?;
    out.assert_code(1);
    assert!(out.stderr.contains("encryption"), "{out:?}");
    for observer in cluster.up_names() {
        let members = cluster.members(&observer).await?;
        assert!(
            members.iter().all(|m| m.name != intruder.name()),
            "{observer} lists the intruder: {members:?}"
        );
    }
    intruder.shutdown().await?;

    info!("--- c1 restarts with encrypt = K1 in its config: its keyring file (K2) wins");
    cluster.terminate("c1").await?;
    cluster.restart("c1").await?;
    cluster.wait_all_alive(secs(30)).await?;
    let log = cluster.node("c1")?.agent().log();
    assert!(
        log.contains("doesn't include key provided with encrypt"),
        "{log}"
    );
    assert_eq!(keyring_file(&cluster, "c1")?, [K2]);

    cluster.shutdown().await?;
    Ok(())
}
