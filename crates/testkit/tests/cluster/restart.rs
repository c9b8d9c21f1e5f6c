//! The whole cluster stopped with SIGTERM and started again on the same
//! data dirs keeps every key and every node.

use std::collections::BTreeMap;

use praetor_testkit::{init_tracing, secs, Cluster, Consistency, Spec};
use tracing::info;

use crate::wait_converged;

#[tokio::test]
async fn a_cluster_stopped_and_started_again_keeps_every_key_and_node() -> anyhow::Result<()> {
    init_tracing();
    let mut cluster = Cluster::start(Spec::servers(3).clients(2)).await?;
    let mut written = BTreeMap::new();

    info!("--- writes through both client agents");
    for i in 0..20 {
        let via = if i % 2 == 0 { "c1" } else { "c2" };
        let (key, value) = (format!("restart/{i:02}"), format!("value {i} via {via}"));
        cluster.put_acked(via, &key, &value).await?;
        written.insert(key, value);
    }
    let before = cluster.members("s1").await?;
    let mut before: Vec<(String, bool)> = before
        .into_iter()
        .map(|m| {
            let server = m.is_server();
            (m.name, server)
        })
        .collect();
    before.sort();

    info!("--- SIGTERM every node at once; each exits 0");
    cluster.stop_all().await?;

    info!("--- start every node again");
    cluster.start_all().await?;
    cluster.wait_formed(secs(30)).await?;

    info!("--- every node is back, and every key through every agent");
    for name in cluster.names() {
        let mut after: Vec<(String, bool)> = cluster
            .members(&name)
            .await?
            .into_iter()
            .filter(|m| m.status == "alive")
            .map(|m| {
                let server = m.is_server();
                (m.name, server)
            })
            .collect();
        after.sort();
        assert_eq!(after, before, "alive members seen by {name}");
        let got = cluster
            .kv_list(&name, "restart/", Consistency::Default)
            .await?;
        assert_eq!(got, written, "keys read through {name}");
    }
    wait_converged(&cluster, &cluster.server_names(), "restart/", &written).await?;
    assert_eq!(cluster.peers("c1").await?.len(), 3);

    info!("--- and it takes writes again");
    cluster.put_acked("c2", "restart/after", "yes").await?;

    cluster.shutdown().await?;
    Ok(())
}
