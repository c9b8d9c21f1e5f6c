//! Partitions between in-process servers: a leader cut off from its quorum
//! stops leading when its lease ends (its blocking queries, default reads
//! and writes end with "No cluster leader"), and the write it proposed
//! alone is gone once healed; a minority side takes no write
//! while the majority elects a leader and goes on; once healed, every
//! server holds exactly the acknowledged writes; and a follower cut off,
//! from everyone or from the leader alone, disturbs neither the leader nor
//! its term.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use praetor_server::read::KvGet;
use praetor_server::{Consistency, QueryOpts, ServerError, READ_LEASE};
use praetor_testkit::{check, init_tracing, kv_set, secs, wait_until, InProcess};
use tracing::info;

/// Waits until every server in `names` holds exactly `acked` under the keys
/// it names, and none of `absent`.
async fn wait_converged(
    cluster: &InProcess,
    names: &[String],
    acked: &BTreeMap<String, String>,
    absent: &[String],
) -> anyhow::Result<()> {
    wait_until(
        secs(15),
        "every server to hold exactly the acknowledged writes",
        || {
            let mut wrong = Vec::new();
            for name in names {
                for (key, want) in acked {
                    let got = cluster.kv_local(name, key).map_err(|e| e.to_string())?;
                    if got.as_deref() != Some(want.as_str()) {
                        wrong.push(format!("{name}: {key} = {got:?}"));
                    }
                }
                for key in absent {
                    let got = cluster.kv_local(name, key).map_err(|e| e.to_string())?;
                    if got.is_some() {
                        wrong.push(format!("{name}: {key}, never acknowledged, = {got:?}"));
                    }
                }
            }
            check(wrong.is_empty(), || wrong.join("; "))
        },
    )
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_isolated_leader_ends_its_blocking_queries_and_refuses_reads_and_writes_once_its_lease_ends(
) -> anyhow::Result<()> {
    init_tracing();
    let cluster = InProcess::start(3).await?;
    let old = cluster.wait_for_leader(secs(10)).await?;
    let leader = cluster.server(&old)?.clone();
    leader.write(kv_set("k", "before")).await?;

    info!("--- a default blocking query waits on the leader {old}");
    let index = leader.shared().read().store.last_index();
    let blocked = {
        let s = leader.clone();
        tokio::spawn(async move {
            let opts = QueryOpts {
                index,
                wait: Duration::from_secs(60),
                consistency: Consistency::Default,
            };
            s.read(
                &praetor_server::acl::Token::anonymous(),
                &KvGet { key: "k".into() },
                opts,
            )
            .await
        })
    };
    let s = leader.clone();
    wait_until(secs(10), "the blocking query to wait on the leader", || {
        let open = s.open_blocking_queries();
        check(open == 1, || format!("{open} open"))
    })
    .await?;

    info!("--- isolate {old}");
    let cut_at = Instant::now();
    cluster.isolate(&old)?;
    let r = leader.write(kv_set("k", "on the cut-off leader")).await;
    info!(?r, took = ?cut_at.elapsed(), "write on the cut-off leader");
    assert!(
        matches!(
            r,
            Err(ServerError::OutcomeUnknown(_) | ServerError::NoLeader)
        ),
        "{old}, cut off from its quorum, must not acknowledge a write: {r:?}"
    );

    info!("--- past its lease {old} stops naming itself");
    wait_until(
        secs(10),
        "the cut-off leader to stop naming a leader",
        || match cluster.leader_seen_by(&old) {
            Ok(None) => Ok(()),
            other => Err(format!("{old} names {other:?}")),
        },
    )
    .await?;
    let stepped_back = cut_at.elapsed();
    info!(?stepped_back, "the cut-off leader names no leader");
    assert!(!leader.is_leader());
    let meta = leader.read_meta();
    assert!(!meta.known_leader, "{meta:?}");
    assert!(
        meta.last_contact_ms >= READ_LEASE.as_millis() as u64,
        "X-Consul-LastContact on a leader cut off for {stepped_back:?}: {meta:?}"
    );
    let read = leader.read_access(Consistency::Default).await;
    assert!(matches!(read, Err(ServerError::NoLeader)), "{read:?}");
    let read = leader.read_access(Consistency::Consistent).await;
    assert!(read.is_err(), "a consistent read on {old}: {read:?}");
    let r = leader.write(kv_set("k", "refused")).await;
    assert!(matches!(r, Err(ServerError::NoLeader)), "{r:?}");

    info!("--- the blocking query ended with the lease, not after its 60 s");
    let ended = tokio::time::timeout(secs(10), blocked)
        .await
        .expect("a blocking query on a cut-off leader ends")?;
    assert!(matches!(ended, Err(ServerError::NoLeader)), "{ended:?}");
    assert_eq!(leader.open_blocking_queries(), 0);

    info!("--- heal: the write {old} could not commit is nowhere");
    cluster.heal();
    let new = cluster.wait_for_leader(secs(15)).await?;
    info!(%new, "leader after healing");
    // The cut came before the proposal, so no other server ever held it;
    // the new leader's log replaces it on the old one.
    let acked = BTreeMap::from([("k".to_owned(), "before".to_owned())]);
    wait_converged(&cluster, &cluster.names(), &acked, &[]).await?;

    cluster.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_minority_side_takes_no_write_the_majority_goes_on_and_healing_converges(
) -> anyhow::Result<()> {
    init_tracing();
    let cluster = InProcess::start(5).await?;
    let old = cluster.wait_for_leader(secs(10)).await?;
    let others: Vec<String> = cluster.names().into_iter().filter(|n| *n != old).collect();
    // The old leader and one follower on one side, three on the other.
    let minority = vec![old.clone(), others[0].clone()];
    let majority: Vec<String> = others[1..].to_vec();
    let mut acked = BTreeMap::new();
    for i in 0..5 {
        let (key, value) = (format!("before/{i}"), format!("before {i}"));
        cluster
            .server(&others[i % 4])?
            .write(kv_set(&key, &value))
            .await?;
        acked.insert(key, value);
    }

    info!("--- partition {minority:?} | {majority:?}");
    let cut_at = Instant::now();
    let side_a: Vec<&str> = minority.iter().map(String::as_str).collect();
    let side_b: Vec<&str> = majority.iter().map(String::as_str).collect();
    cluster.partition(&side_a, &side_b)?;

    info!("--- the majority elects a leader of its own");
    let new = cluster.wait_for_new_leader(&old, secs(15)).await?;
    info!(%new, took = ?cut_at.elapsed(), "new leader");
    assert!(
        majority.contains(&new),
        "{new} leads from the minority side"
    );

    info!("--- no server on the minority side acknowledges a write");
    let mut refused = Vec::new();
    for (i, name) in minority.iter().enumerate() {
        let key = format!("minority/{i}");
        let r = cluster
            .server(name)?
            .write(kv_set(&key, "written on the minority side"))
            .await;
        info!(%name, ?r, "write on the minority side");
        assert!(
            matches!(
                r,
                Err(ServerError::NoLeader | ServerError::OutcomeUnknown(_))
            ),
            "{name}, on the minority side, must not acknowledge a write: {r:?}"
        );
        refused.push(key);
    }
    for name in &minority {
        let r = cluster
            .server(name)?
            .read_access(Consistency::Consistent)
            .await;
        assert!(r.is_err(), "a consistent read on {name}: {r:?}");
    }

    info!("--- the majority takes writes, through its leader and its followers");
    for (i, name) in majority.iter().cycle().take(6).enumerate() {
        let (key, value) = (format!("during/{i}"), format!("during {i}"));
        cluster.server(name)?.write(kv_set(&key, &value)).await?;
        acked.insert(key, value);
    }
    cluster
        .server(&new)?
        .read_access(Consistency::Consistent)
        .await?;

    info!("--- heal: one leader, and every server holds exactly the acknowledged writes");
    cluster.heal();
    let healed_at = Instant::now();
    let leader = cluster.wait_for_leader(secs(15)).await?;
    info!(%leader, took = ?healed_at.elapsed(), "leader after healing");
    // A write made after healing reaches the old side too.
    cluster.server(&old)?.write(kv_set("after", "1")).await?;
    acked.insert("after".into(), "1".into());
    wait_converged(&cluster, &cluster.names(), &acked, &refused).await?;
    let terms: BTreeMap<String, u64> = cluster
        .nodes()
        .iter()
        .map(|n| (n.name().to_owned(), n.server().status().term))
        .collect();
    let first = terms.values().next().copied();
    assert!(
        terms.values().all(|t| Some(*t) == first),
        "every server in one term after healing: {terms:?}"
    );

    cluster.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_cut_off_and_healed_leaves_the_leader_and_its_term_alone() -> anyhow::Result<()>
{
    init_tracing();
    let cluster = InProcess::start(3).await?;
    let leader = cluster.wait_for_leader(secs(10)).await?;
    let term = cluster.server(&leader)?.status().term;
    let follower = cluster
        .names()
        .into_iter()
        .find(|n| *n != leader)
        .expect("three servers");
    cluster
        .server(&leader)?
        .write(kv_set("heal/before", "1"))
        .await?;

    info!("--- cut the follower {follower} off for 3 s (leader {leader}, term {term})");
    cluster.isolate(&follower)?;
    let cut_at = Instant::now();
    // Several election timeouts (300-600 ms): long enough for the cut-off
    // follower to have tried to start elections many times.
    wait_until(secs(10), "3 s of partition, the leader unchanged", || {
        let seen = cluster.leader_seen_by(&leader).map_err(|e| e.to_string());
        let still = matches!(&seen, Ok(Some(l)) if *l == leader);
        assert!(
            still,
            "{leader} lost its lead while only a follower was cut off: {seen:?}"
        );
        let cut_for = cut_at.elapsed();
        check(cut_for >= secs(3), || format!("cut off for {cut_for:?}"))
    })
    .await?;
    cluster
        .server(&leader)?
        .write(kv_set("heal/during", "2"))
        .await?;
    assert_eq!(cluster.kv_local(&follower, "heal/during")?, None);

    info!("--- heal: the follower catches up without an election");
    cluster.heal();
    cluster
        .server(&leader)?
        .write(kv_set("heal/after", "3"))
        .await?;
    let acked = BTreeMap::from([
        ("heal/before".to_owned(), "1".to_owned()),
        ("heal/during".to_owned(), "2".to_owned()),
        ("heal/after".to_owned(), "3".to_owned()),
    ]);
    wait_converged(&cluster, std::slice::from_ref(&follower), &acked, &[]).await?;
    for name in cluster.names() {
        assert_eq!(
            cluster.leader_seen_by(&name)?.as_deref(),
            Some(leader.as_str()),
            "the leader {name} names after healing"
        );
        assert_eq!(
            cluster.server(&name)?.status().term,
            term,
            "the raft term on {name} after healing a follower's partition"
        );
    }

    cluster.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_cut_off_from_the_leader_alone_unseats_no_one() -> anyhow::Result<()> {
    init_tracing();
    let cluster = InProcess::start(3).await?;
    let leader = cluster.wait_for_leader(secs(10)).await?;
    let term = cluster.server(&leader)?.status().term;
    let followers: Vec<String> = cluster
        .names()
        .into_iter()
        .filter(|n| *n != leader)
        .collect();
    let (cut, bridge) = (&followers[0], &followers[1]);

    info!("--- cut {cut} off from the leader {leader} only; {bridge} still reaches both");
    cluster.partition(&[&leader], &[cut])?;
    let cut_at = Instant::now();
    // The cut-off follower hears no leader and asks for pre-votes; the
    // bridge, which hears the leader, must refuse them, or the cluster
    // would flap between elections (Raft without pre-vote does).
    wait_until(
        secs(10),
        "3 s of partial partition, the leader unchanged",
        || {
            for name in [&leader, bridge] {
                let seen = cluster.leader_seen_by(name).map_err(|e| e.to_string());
                assert!(
                    matches!(&seen, Ok(Some(l)) if l == &leader),
                    "{name} names {seen:?} while only the link {leader}-{cut} is cut"
                );
            }
            let cut_for = cut_at.elapsed();
            check(cut_for >= secs(3), || format!("cut for {cut_for:?}"))
        },
    )
    .await?;
    cluster
        .server(&leader)?
        .write(kv_set("partial/1", "1"))
        .await?;
    cluster
        .server(bridge)?
        .write(kv_set("partial/2", "2"))
        .await?;
    assert_eq!(
        cluster.kv_local(cut, "partial/1")?,
        None,
        "{cut} got a write while cut off from the leader"
    );

    info!("--- heal: the follower catches up, and the term never moved");
    cluster.heal();
    let acked = BTreeMap::from([
        ("partial/1".to_owned(), "1".to_owned()),
        ("partial/2".to_owned(), "2".to_owned()),
    ]);
    wait_converged(&cluster, &cluster.names(), &acked, &[]).await?;
    for name in cluster.names() {
        assert_eq!(
            cluster.server(&name)?.status().term,
            term,
            "the raft term on {name} after a partial partition"
        );
    }

    cluster.shutdown().await?;
    Ok(())
}
