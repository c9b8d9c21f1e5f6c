//! The leader's autopilot: servers with `bootstrap_expect = 0` never form a
//! cluster of their own but are added to the one they find (a common real
//! layout: one server at 1, the rest at 0); a server that has failed for
//! longer than `autopilot.dead_server_timeout` is removed from Raft, and
//! added back once it returns.

use praetor_testkit::{init_tracing, secs, wait_for, Cluster, Spec};
use tracing::info;

#[tokio::test]
async fn servers_at_bootstrap_expect_zero_join_the_cluster_the_one_at_one_formed(
) -> anyhow::Result<()> {
    init_tracing();
    let cluster = Cluster::start(Spec::servers(3).one_bootstraps().clients(1)).await?;
    let leader = cluster.wait_formed(secs(30)).await?;
    info!(%leader, "formed");
    for s in cluster.server_names() {
        let peers = wait_for(secs(20), "three voters seen by every server", || async {
            let peers = cluster.peers(&s).await.map_err(|e| e.to_string())?;
            if peers.len() == 3 {
                Ok(peers)
            } else {
                Err(format!("{s} sees {peers:?}"))
            }
        })
        .await?;
        info!(server = %s, ?peers, "voters");
    }
    // One cluster: every server names the same leader.
    for s in cluster.server_names() {
        assert_eq!(
            cluster.leader_seen_by(&s).await?.as_deref(),
            Some(leader.as_str()),
            "{s}"
        );
    }
    let index = cluster.put_acked("c1", "layout/k", "v").await?;
    info!(index, "a write through the client was acknowledged");
    cluster.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn a_dead_server_is_removed_after_the_timeout_and_added_back_when_it_returns(
) -> anyhow::Result<()> {
    init_tracing();
    let mut cluster = Cluster::start(Spec::servers(3).dead_server_timeout("2s")).await?;
    let leader = cluster.wait_formed(secs(30)).await?;
    let victim = cluster
        .server_names()
        .into_iter()
        .find(|s| *s != leader)
        .expect("a follower");
    let victim_addr = cluster.node(&victim)?.rpc_addr();

    info!(%victim, "--- SIGKILL a follower; it is failed, then removed from Raft");
    cluster.kill9(&victim)?;
    let peers = wait_for(
        secs(30),
        "the dead server removed from the voters",
        || async {
            let peers = cluster.peers(&leader).await.map_err(|e| e.to_string())?;
            if peers.len() == 2 && !peers.contains(&victim_addr) {
                Ok(peers)
            } else {
                Err(format!("voters {peers:?}"))
            }
        },
    )
    .await?;
    info!(?peers, "two voters left");
    cluster.put_acked(&leader, "after/removal", "1").await?;

    info!("--- the server comes back: autopilot adds it again");
    cluster.restart(&victim).await?;
    wait_for(
        secs(30),
        "the returning server among the voters",
        || async {
            let peers = cluster.peers(&leader).await.map_err(|e| e.to_string())?;
            if peers.len() == 3 && peers.contains(&victim_addr) {
                Ok(())
            } else {
                Err(format!("voters {peers:?}"))
            }
        },
    )
    .await?;
    cluster.shutdown().await?;
    Ok(())
}
