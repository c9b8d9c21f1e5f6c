//! A second agent under a node name already in use (its own node ID) is
//! refused: both sides log Consul's reason, and the first node keeps its
//! place in the member list and the catalog.

use praetor_testkit::{init_tracing, secs, AgentProcess, Cluster, Loopback, Spec};
use serde_json::Value;
use tracing::info;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_agent_with_a_node_name_in_use_is_refused_and_the_first_keeps_it(
) -> anyhow::Result<()> {
    init_tracing();
    let cluster = Cluster::start(Spec::servers(1).clients(1)).await?;
    cluster.wait_for_leader(secs(30)).await?;
    let c1 = cluster.node("c1")?;
    let (c1_ip, s1_ip) = (c1.ip(), cluster.node("s1")?.ip());
    let c1_self = cluster.get_json("c1", "/v1/agent/self").await?;
    let c1_id = c1_self["Config"]["NodeID"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(!c1_id.is_empty(), "c1's node ID: {c1_self}");

    info!("--- a second client agent named c1, with its own data dir, joins s1");
    let lo = Loopback::allocate()?;
    let b = AgentProcess::builder(&lo)?;
    let config = format!(
        r#"{{ "node_name": "c1", "server": false, "bind_addr": "{ip}", "client_addr": "{ip}",
             "data_dir": {data}, "retry_join": ["{s1_ip}"], "retry_interval": "1s" }}"#,
        ip = lo.ip(),
        data = Value::from(b.data_dir().display().to_string()),
    );
    let mut dup = b
        .config_file("dup.json", &config)
        .name("c1-dup")
        .no_leader_wait()
        .start()
        .await?;
    let reason = format!("Node name c1 is reserved by node {c1_id} with name c1 ({c1_ip})");

    info!("--- refused, with Consul's reason in both logs");
    dup.wait_for_log(secs(30), &reason).await?;
    cluster
        .node("s1")?
        .agent()
        .wait_for_log(secs(30), &reason)
        .await?;

    info!("--- c1 is still the c1 that gossip and the catalog know");
    for via in ["s1", "c1"] {
        let members = cluster.members(via).await?;
        let listed: Vec<_> = members.iter().filter(|m| m.name == "c1").collect();
        assert_eq!(listed.len(), 1, "{via}: {members:?}");
        assert_eq!(listed[0].status, "alive", "{via}: {members:?}");
        assert!(
            listed[0].addr.starts_with(&c1_ip.to_string()),
            "{via} lists c1 at {}: {members:?}",
            listed[0].addr
        );
    }
    let node = cluster.get_json("s1", "/v1/catalog/node/c1").await?;
    assert_eq!(node["Node"]["ID"], c1_id.as_str(), "{node}");
    assert_eq!(node["Node"]["Address"], c1_ip.to_string(), "{node}");

    dup.kill9()?;
    cluster.shutdown().await?;
    Ok(())
}
