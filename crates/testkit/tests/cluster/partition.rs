//! A leader cut off from the majority (packet filter rules on the shared
//! loopback device) acknowledges no write and serves no consistent read;
//! the majority elects a leader and goes on; once healed, every server holds
//! exactly the acknowledged writes.

use std::collections::BTreeMap;
use std::time::Instant;

use praetor_testkit::{init_tracing, secs, wait_for, Cluster, Consistency, Put, Spec};

use tracing::info;

use crate::wait_converged;

#[tokio::test]
async fn a_leader_cut_off_from_the_majority_acknowledges_nothing_and_the_majority_goes_on(
) -> anyhow::Result<()> {
    init_tracing();
    let cluster = Cluster::start(Spec::servers(3).clients(1).partitionable()).await?;
    let old = cluster.wait_for_leader(secs(10)).await?;
    let majority: Vec<String> = cluster.names().into_iter().filter(|n| *n != old).collect();
    let mut acked = BTreeMap::new();

    info!("--- acknowledged writes before the cut");
    for i in 0..5 {
        let (key, value) = (format!("partition/before/{i}"), format!("before {i}"));
        cluster.put_acked("c1", &key, &value).await?;
        acked.insert(key, value);
    }

    info!("--- cut {old} off from {majority:?}");
    let cut_at = Instant::now();
    let partition = cluster.isolate(&old)?;

    info!("--- the majority elects a new leader");
    let (new, took) = cluster.wait_for_new_leader(&old, cut_at, secs(20)).await?;
    info!("new leader {new}, {took:?} after the cut");

    info!("--- the cut-off {old} refuses writes and consistent reads");
    let minority_keys: Vec<String> = (0..2).map(|i| format!("partition/minority/{i}")).collect();
    for key in &minority_keys {
        let started = Instant::now();
        let put = cluster
            .put(&old, key, "written on the minority side")
            .await?;
        info!(?put, took = ?started.elapsed(), "write on the minority side");
        match &put {
            Put::Acked { .. } => {
                panic!("{old}, cut off from the majority, acknowledged a write of {key}: {put:?}")
            }
            Put::Refused { status, body } => {
                assert_eq!(*status, 500, "{put:?}");
                assert!(
                    body.contains("No cluster leader"),
                    "the refusal says why: {put:?}"
                );
            }
            Put::NoAnswer { .. } => panic!(
                "{old} gave no answer to a write within 20 s; it should refuse after a bounded wait: {put:?}"
            ),
        }
    }
    let read = cluster
        .get(&old, "partition/before/0", Consistency::Consistent)
        .await;
    info!(?read, "consistent read on the minority side");
    assert!(
        read.is_err(),
        "{old}, cut off from the majority, served a consistent read: {read:?}"
    );

    info!("--- the majority keeps taking writes through the client agent");
    let (key, value) = ("partition/during/0".to_owned(), "during 0".to_owned());
    wait_for(secs(15), "the client agent to take a write again", || {
        let (cluster, key, value) = (&cluster, &key, &value);
        async move {
            match cluster.put("c1", key, value).await {
                Ok(Put::Acked { .. }) => Ok(()),
                other => Err(format!("{other:?}")),
            }
        }
    })
    .await?;
    acked.insert(key, value);
    for i in 1..5 {
        let (key, value) = (format!("partition/during/{i}"), format!("during {i}"));
        cluster.put_acked("c1", &key, &value).await?;
        acked.insert(key, value);
    }
    for name in majority
        .iter()
        .filter(|n| cluster.server_names().contains(n))
    {
        let v = cluster
            .get(name, "partition/during/4", Consistency::Consistent)
            .await?;
        assert_eq!(v.as_deref(), Some("during 4"), "consistent read on {name}");
    }

    info!("--- the cut-off {old}, past its lease, serves no stale default read");
    let (key, value) = (
        "partition/before/0".to_owned(),
        "rewritten by the majority".to_owned(),
    );
    cluster.put_acked("c1", &key, &value).await?;
    acked.insert(key.clone(), value);
    let read = cluster.get(&old, &key, Consistency::Default).await;
    info!(?read, "default read on the minority side");
    assert!(
        read.is_err(),
        "{old}, cut off from the majority for longer than its lease, served a default read: {read:?}"
    );
    let named = cluster.leader_seen_by(&old).await?;
    assert_eq!(
        named, None,
        "{old} still names a leader on /v1/status/leader"
    );
    let node = cluster.node(&old)?;
    let stale = node
        .agent()
        .http()
        .get(node.agent().url(&format!("/v1/kv/{key}?stale")))
        .timeout(secs(5))
        .send()
        .await?;
    let header = |name: &str| {
        stale
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("(none)")
            .to_owned()
    };
    let (known, contact) = (
        header("x-consul-knownleader"),
        header("x-consul-lastcontact"),
    );
    info!(%known, %contact, "stale read headers on the minority side");
    assert_eq!(
        known, "false",
        "X-Consul-KnownLeader of a stale read on {old}"
    );
    let contact: u64 = contact.parse()?;
    assert!(
        contact >= LEASE_MS,
        "X-Consul-LastContact on {old} is {contact} ms, cut off for {:?}",
        cut_at.elapsed()
    );

    info!("--- heal: every server holds exactly the acknowledged writes");
    partition.heal()?;
    let healed_at = Instant::now();
    // Consul heals a partition this short at once (memberlist keeps
    // gossiping to members it declared dead for 30 s, so they refute), and
    // any partition within Serf's reconnect_interval (30 s): the bound.
    cluster.wait_all_alive(secs(30)).await?;
    info!(
        "every member alive again {:?} after healing",
        healed_at.elapsed()
    );
    let leader = cluster.wait_for_leader(secs(15)).await?;
    info!("leader after healing: {leader}");
    wait_converged(&cluster, &cluster.server_names(), "partition/", &acked).await?;
    for key in &minority_keys {
        for name in cluster.server_names() {
            let v = cluster.get(&name, key, Consistency::Stale).await?;
            assert_eq!(v, None, "{key}, refused by the minority, exists on {name}");
        }
    }

    cluster.shutdown().await?;
    Ok(())
}

/// The leader's read lease (Consul's `leader_lease_timeout`), in ms.
const LEASE_MS: u64 = 500;

/// `Stats.raft.term` of `/v1/agent/self` on `via`.
async fn raft_term(cluster: &Cluster, via: &str) -> anyhow::Result<u64> {
    let v = cluster.get_json(via, "/v1/agent/self").await?;
    Ok(v["Stats"]["raft"]["term"]
        .as_str()
        .unwrap_or("(none)")
        .parse()?)
}

#[tokio::test]
async fn a_follower_cut_off_and_healed_leaves_the_leader_and_its_term_alone() -> anyhow::Result<()>
{
    init_tracing();
    let cluster = Cluster::start(Spec::servers(3).partitionable()).await?;
    let leader = cluster.wait_for_leader(secs(10)).await?;
    let term = raft_term(&cluster, &leader).await?;
    let follower = cluster
        .server_names()
        .into_iter()
        .find(|n| *n != leader)
        .expect("three servers");
    cluster.put_acked(&leader, "heal/before", "1").await?;

    info!("--- cut the follower {follower} off for 5 s (leader {leader}, term {term})");
    let partition = cluster.isolate(&follower)?;
    let cut_at = Instant::now();
    wait_for(secs(10), "5 s of partition, the leader unchanged", || {
        let (cluster, leader) = (&cluster, &leader);
        async move {
            let seen = cluster
                .leader_seen_by(leader)
                .await
                .map_err(|e| e.to_string())?;
            if seen.as_deref() != Some(leader.as_str()) {
                panic!("{leader} lost its lead while only a follower was cut off: {seen:?}");
            }
            if cut_at.elapsed() < secs(5) {
                return Err(format!("cut off for {:?}", cut_at.elapsed()));
            }
            Ok(())
        }
    })
    .await?;

    info!("--- heal: the follower catches up without an election");
    partition.heal()?;
    cluster.put_acked(&leader, "heal/after", "2").await?;
    wait_for(
        secs(15),
        "the healed follower to hold the write made after healing",
        || {
            let (cluster, follower) = (&cluster, &follower);
            async move {
                match cluster
                    .get(follower, "heal/after", Consistency::Stale)
                    .await
                {
                    Ok(Some(v)) if v == "2" => Ok(()),
                    other => Err(format!("{other:?}")),
                }
            }
        },
    )
    .await?;
    for name in cluster.server_names() {
        let seen = cluster.leader_seen_by(&name).await?;
        assert_eq!(
            seen.as_deref(),
            Some(leader.as_str()),
            "the leader {name} names after healing"
        );
        let t = raft_term(&cluster, &name).await?;
        assert_eq!(
            t, term,
            "the raft term on {name} after healing a follower's partition"
        );
    }

    cluster.shutdown().await?;
    Ok(())
}
