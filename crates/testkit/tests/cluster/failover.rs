//! SIGKILL the leader of three servers: another takes over within seconds,
//! a client agent keeps taking writes, and the old leader, restarted on its
//! data dir, rejoins as a follower holding every key.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use praetor_testkit::{init_tracing, secs, wait_for, Cluster, Put, Spec};
use tracing::info;

use crate::{raft_state, wait_converged};

/// The bound (a new leader within 3 s) with margin for a loaded
/// two-core machine running debug builds.
const FAILOVER_BOUND: Duration = Duration::from_secs(5);

#[tokio::test]
async fn a_killed_leader_is_replaced_within_seconds_and_rejoins_as_a_follower() -> anyhow::Result<()>
{
    init_tracing();
    let mut cluster = Cluster::start(Spec::servers(3).clients(1)).await?;
    let old = cluster.wait_for_leader(secs(10)).await?;
    let mut written = BTreeMap::new();

    info!("--- writes through the client agent before the kill");
    for i in 0..10 {
        let (key, value) = (format!("failover/before/{i:02}"), format!("before {i}"));
        cluster.put_acked("c1", &key, &value).await?;
        written.insert(key, value);
    }

    info!("--- SIGKILL the leader {old}");
    let killed_at = Instant::now();
    cluster.kill9(&old)?;
    let (new, took) = cluster
        .wait_for_new_leader(&old, killed_at, secs(15))
        .await?;
    info!(
        failover_ms = took.as_millis() as u64,
        "new leader {new}, {took:?} after the SIGKILL"
    );
    assert!(
        took < FAILOVER_BOUND,
        "a new leader took {took:?} (bound {FAILOVER_BOUND:?})"
    );

    info!("--- writes through the client agent continue");
    // The client may have been talking to the dead server: its first write
    // may need a retry while it finds another (bounded, like its own).
    let (key, value) = ("failover/after/00".to_owned(), "after 0".to_owned());
    wait_for(secs(10), "the client agent to take a write again", || {
        let (cluster, key, value) = (&cluster, &key, &value);
        async move {
            match cluster.put("c1", key, value).await {
                Ok(Put::Acked { .. }) => Ok(()),
                other => Err(format!("{other:?}")),
            }
        }
    })
    .await?;
    written.insert(key, value);
    for i in 1..10 {
        let (key, value) = (format!("failover/after/{i:02}"), format!("after {i}"));
        cluster.put_acked("c1", &key, &value).await?;
        written.insert(key, value);
    }

    info!("--- restart {old}: it rejoins as a follower and catches up");
    cluster.restart(&old).await?;
    cluster.wait_all_alive(secs(20)).await?;
    let leader = cluster.wait_for_leader(secs(10)).await?;
    assert_ne!(leader, old, "the restarted server should follow, not lead");
    let state = raft_state(&cluster, &old).await?;
    assert_eq!(state, "Follower", "raft state of the restarted {old}");
    wait_converged(&cluster, &cluster.server_names(), "failover/", &written).await?;
    assert_eq!(cluster.peers(&old).await?.len(), 3);

    cluster.shutdown().await?;
    Ok(())
}
