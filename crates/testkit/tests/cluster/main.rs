//! Clusters of real `praetor agent` processes (servers and client agents on
//! their own loopback addresses, formed from Consul-shaped config files):
//! formation, failover after SIGKILL, partitions, whole-cluster restarts,
//! Raft peer removal, and members leaving or failing.
//!
//! Each test starts its own cluster on addresses no other test holds, so
//! they run in parallel; each ends with `cluster.shutdown()`.

mod acl;
mod autopilot;
mod coordinates;
mod election;
mod failover;
mod federation;
mod formation;
mod gossip_encryption;
mod health;
mod locks;
mod logs;
mod membership;
mod name_conflict;
mod operator;
mod partition;
mod peers;
mod restart;
mod snapshot;
mod tls;
mod tutorial;

use std::collections::BTreeMap;

use praetor_testkit::{secs, wait_for, Cluster, Consistency, KitError};
use serde_json::Value;

/// The rows of a `praetor members` table, split on whitespace, by node name
/// (the header row under "Node").
fn members_table(stdout: &str) -> BTreeMap<String, Vec<String>> {
    stdout
        .lines()
        .map(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .filter(|cols| !cols.is_empty())
        .map(|cols| (cols[0].clone(), cols))
        .collect()
}

/// `Stats.raft.state` of `/v1/agent/self` on `via` (`Leader`, `Follower`, …).
async fn raft_state(cluster: &Cluster, via: &str) -> Result<String, KitError> {
    let v: Value = cluster.get_json(via, "/v1/agent/self").await?;
    Ok(v["Stats"]["raft"]["state"]
        .as_str()
        .unwrap_or("(none)")
        .to_owned())
}

/// Waits until every node in `nodes` holds exactly `expected` under
/// `prefix`, read with `?stale` (so each server answers from its own state).
async fn wait_converged(
    cluster: &Cluster,
    nodes: &[String],
    prefix: &str,
    expected: &BTreeMap<String, String>,
) -> Result<(), KitError> {
    let reason = format!(
        "{} to hold exactly the {} keys written under {prefix}",
        nodes.join(" "),
        expected.len()
    );
    wait_for(secs(30), &reason, move || async move {
        let mut wrong = Vec::new();
        for n in nodes {
            match cluster.kv_list(n, prefix, Consistency::Stale).await {
                Ok(got) if got == *expected => {}
                Ok(got) => {
                    let missing: Vec<&String> =
                        expected.keys().filter(|k| !got.contains_key(*k)).collect();
                    let extra: Vec<&String> =
                        got.keys().filter(|k| !expected.contains_key(*k)).collect();
                    let changed: Vec<&String> = expected
                        .iter()
                        .filter(|(k, v)| got.get(*k).is_some_and(|g| g != *v))
                        .map(|(k, _)| k)
                        .collect();
                    wrong.push(format!(
                        "{n}: {} keys, missing {missing:?}, extra {extra:?}, other values {changed:?}",
                        got.len()
                    ));
                }
                Err(e) => wrong.push(format!("{n}: {e}")),
            }
        }
        if wrong.is_empty() {
            Ok(())
        } else {
            Err(wrong.join("; "))
        }
    })
    .await
}
