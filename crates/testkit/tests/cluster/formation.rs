//! Three servers and three client agents form one cluster from their config
//! files alone: every agent sees six alive members of the right kind, they
//! agree on one leader and three voters, and KV reads and blocking queries
//! work through any agent.

use std::time::Instant;

use base64::Engine as _;
use praetor_testkit::{init_tracing, millis, secs, wait_for, Cluster, Consistency, Spec};
use serde_json::Value;
use tracing::info;

use crate::members_table;

#[tokio::test]
async fn three_servers_and_three_clients_form_one_cluster_from_config_files() -> anyhow::Result<()>
{
    init_tracing();
    info!("--- start three servers and three clients, each from a JSON config file with comments");
    let cluster = Cluster::start(Spec::servers(3).clients(3)).await?;
    for node in cluster.nodes() {
        let me: Value = cluster.get_json(node.name(), "/v1/agent/self").await?;
        assert_eq!(me["Config"]["NodeName"], node.name(), "{me}");
        assert_eq!(me["Config"]["Datacenter"], "dc1", "{me}");
        assert_eq!(
            me["Config"]["Server"],
            node.role() == praetor_testkit::Role::Server,
            "{me}"
        );
    }

    info!("--- praetor members, against a client agent, lists six alive nodes");
    let out = cluster.cli("c2", &["members"])?.run()?;
    out.assert_success();
    let rows = members_table(&out.stdout);
    assert_eq!(
        rows.get("Node").map(|h| h[..7].join(" ")),
        Some("Node Address Status Type Build Protocol DC".to_owned()),
        "{out:?}"
    );
    assert_eq!(rows.len(), 7, "a header and six members: {out:?}");
    for node in cluster.nodes() {
        let row = rows
            .get(node.name())
            .unwrap_or_else(|| panic!("{} is listed: {out:?}", node.name()));
        assert_eq!(row[1], format!("{}:8301", node.ip()), "{out:?}");
        assert_eq!(row[2], "alive", "{out:?}");
        assert_eq!(row[3], node.role().word(), "{out:?}");
        assert_eq!(row[6], "dc1", "{out:?}");
    }

    info!("--- one leader, named alike by every agent; three voters");
    let leader = cluster.wait_for_leader(secs(10)).await?;
    let mut servers: Vec<String> = cluster
        .server_names()
        .iter()
        .map(|s| cluster.node(s).map(|n| n.rpc_addr()))
        .collect::<Result<_, _>>()?;
    servers.sort();
    for name in cluster.names() {
        let mut peers = cluster.peers(&name).await?;
        peers.sort();
        assert_eq!(peers, servers, "/v1/status/peers on {name}");
    }
    let cfg = cluster.raft_configuration("c1").await?;
    let list = cfg["Servers"].as_array().cloned().unwrap_or_default();
    assert_eq!(list.len(), 3, "{cfg}");
    let leaders: Vec<&Value> = list.iter().filter(|s| s["Leader"] == true).collect();
    assert_eq!(leaders.len(), 1, "one leader in {cfg}");
    assert_eq!(leaders[0]["Node"], leader.as_str(), "{cfg}");
    assert!(list.iter().all(|s| s["Voter"] == true), "{cfg}");
    let mut names: Vec<&str> = list.iter().filter_map(|s| s["Node"].as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["s1", "s2", "s3"], "{cfg}");

    info!("--- a write through c1 is read through every other agent, default and stale");
    cluster.put_acked("c1", "cluster/greeting", "hello").await?;
    for name in cluster.names().into_iter().filter(|n| n != "c1") {
        assert_eq!(
            cluster
                .get(&name, "cluster/greeting", Consistency::Default)
                .await?
                .as_deref(),
            Some("hello"),
            "default read through {name}"
        );
        let reason = format!("a stale read through {name} to see the write");
        wait_for(secs(10), &reason, || {
            let (cluster, name) = (&cluster, &name);
            async move {
                match cluster
                    .get(name, "cluster/greeting", Consistency::Stale)
                    .await
                {
                    Ok(Some(v)) if v == "hello" => Ok(()),
                    other => Err(format!("{other:?}")),
                }
            }
        })
        .await?;
    }

    info!("--- a blocking query on c2 wakes on a write through c3");
    let first = cluster
        .request(
            "c2",
            reqwest::Method::GET,
            "/v1/kv/cluster/greeting",
            None,
            secs(5),
        )
        .await?;
    assert_eq!(first.status, 200, "{first:?}");
    let index = first.index.expect("X-Consul-Index on a KV read");
    let path = format!("/v1/kv/cluster/greeting?index={index}&wait=30s");
    let mut blocking = Box::pin(cluster.request("c2", reqwest::Method::GET, &path, None, secs(40)));
    assert!(
        tokio::time::timeout(millis(500), &mut blocking)
            .await
            .is_err(),
        "the blocking query at index {index} answered before any write"
    );
    let written_at = Instant::now();
    let new_index = cluster
        .put_acked("c3", "cluster/greeting", "hello again")
        .await?;
    let woke = tokio::time::timeout(secs(10), &mut blocking)
        .await
        .map_err(|_| {
            anyhow::anyhow!("the blocking query did not wake within 10 s of the write")
        })??;
    info!(after = ?written_at.elapsed(), "blocking query woke");
    assert_eq!(woke.status, 200, "{woke:?}");
    assert!(
        woke.index.is_some_and(|i| i >= new_index && i > index),
        "woke at index {:?}, the write was {new_index}: {woke:?}",
        woke.index
    );
    let entries: Value = serde_json::from_str(&woke.body)?;
    let value = base64::engine::general_purpose::STANDARD
        .decode(entries[0]["Value"].as_str().unwrap_or_default())?;
    assert_eq!(value, b"hello again", "{woke:?}");
    drop(blocking);

    cluster.shutdown().await?;
    Ok(())
}
