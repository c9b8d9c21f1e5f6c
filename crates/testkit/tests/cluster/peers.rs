//! `praetor operator raft remove-peer` takes a server out of the Raft
//! configuration; an alive server removed that way is added back by the
//! leader's autopilot, as Consul's leader reconciliation does with alive
//! members it finds missing from Raft.

use praetor_testkit::{init_tracing, secs, wait_for, Cluster, Consistency, Spec};
use serde_json::Value;
use tracing::info;

use crate::members_table;

#[tokio::test]
async fn a_server_removed_with_remove_peer_while_alive_is_added_back_by_autopilot(
) -> anyhow::Result<()> {
    init_tracing();
    let cluster = Cluster::start(Spec::servers(3)).await?;
    let leader = cluster.wait_for_leader(secs(10)).await?;
    let servers = cluster.server_names();
    let followers: Vec<&String> = servers.iter().filter(|s| **s != leader).collect();
    let (victim, asker) = (followers[0].clone(), followers[1].clone());
    let victim_addr = cluster.node(&victim)?.rpc_addr();

    info!("--- praetor operator raft list-peers lists the three servers");
    let out = cluster
        .cli(&asker, &["operator", "raft", "list-peers"])?
        .run()?;
    out.assert_success();
    let rows = members_table(&out.stdout);
    assert_eq!(rows.len(), 4, "a header and three servers: {out:?}");
    for s in &servers {
        let row = rows.get(s).unwrap_or_else(|| panic!("{s} listed: {out:?}"));
        assert_eq!(row[2], cluster.node(s)?.rpc_addr(), "{out:?}");
        let state = if *s == leader { "leader" } else { "follower" };
        assert_eq!(&row[3..5], [state, "true"], "{out:?}");
    }

    info!("--- remove {victim} ({victim_addr}) with praetor operator raft remove-peer, through {asker}");
    let before: Value = cluster.raft_configuration(&leader).await?;
    let out = cluster
        .cli(
            &asker,
            &[
                "operator",
                "raft",
                "remove-peer",
                &format!("-address={victim_addr}"),
            ],
        )?
        .run()?;
    out.assert_success();
    assert!(
        out.stdout
            .contains(&format!("Removed peer with address \"{victim_addr}\"")),
        "{out:?}"
    );
    let after: Value = cluster.raft_configuration(&leader).await?;
    info!(before = %before, after = %after, "raft configuration around the removal");
    let has_victim = |cfg: &Value| {
        cfg["Servers"]
            .as_array()
            .is_some_and(|l| l.iter().any(|s| s["Address"] == victim_addr.as_str()))
    };
    // The removal is committed before the command answers. Autopilot may put
    // the server back at once; then the configuration has moved on by more
    // than the removal (a removal and an addition).
    assert!(
        !has_victim(&after)
            || after["Index"].as_u64() > before["Index"].as_u64(),
        "{victim} is still in the configuration and nothing changed: before {before}, after {after}"
    );

    info!("--- autopilot adds the alive {victim} back as a voter");
    wait_for(secs(45), &format!("{victim} back among the voters"), || {
        let (cluster, leader, victim_addr) = (&cluster, &leader, &victim_addr);
        async move {
            let peers = cluster.peers(leader).await.map_err(|e| e.to_string())?;
            if peers.len() == 3 && peers.contains(victim_addr) {
                Ok(())
            } else {
                Err(format!("peers: {peers:?}"))
            }
        }
    })
    .await?;
    let out = cluster
        .cli(&asker, &["operator", "raft", "list-peers"])?
        .run()?;
    out.assert_success();
    let rows = members_table(&out.stdout);
    assert_eq!(
        rows.get(&victim).map(|r| r[4].as_str()),
        Some("true"),
        "{victim} listed as a voter again: {out:?}"
    );

    info!("--- {victim} follows the log again");
    cluster.put_acked(&asker, "peers/after", "back").await?;
    wait_for(secs(10), &format!("{victim} to have the new write"), || {
        let (cluster, victim) = (&cluster, &victim);
        async move {
            match cluster.get(victim, "peers/after", Consistency::Stale).await {
                Ok(Some(v)) if v == "back" => Ok(()),
                other => Err(format!("{other:?}")),
            }
        }
    })
    .await?;

    cluster.shutdown().await?;
    Ok(())
}
