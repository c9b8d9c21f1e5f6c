//! The operator surface on three server processes and a client agent:
//! `praetor operator raft transfer-leader -id=…` moves leadership to the
//! server named, with every write acknowledged before and after it on
//! every server; `/v1/operator/autopilot/health` says healthy (200) and
//! then, with a follower killed, unhealthy with Consul's 429.

use std::collections::BTreeMap;

use praetor_testkit::{init_tracing, secs, wait_for, Cluster, Spec};
use serde_json::Value;
use tracing::info;

use crate::wait_converged;

#[tokio::test]
async fn transfer_leader_moves_leadership_to_the_server_named_and_health_follows(
) -> anyhow::Result<()> {
    init_tracing();
    let mut cluster = Cluster::start(Spec::servers(3).clients(1)).await?;
    let old = cluster.wait_for_leader(secs(20)).await?;
    let mut written = BTreeMap::new();
    for i in 0..10 {
        let (key, value) = (format!("transfer/before/{i:02}"), format!("before {i}"));
        cluster.put_acked("c1", &key, &value).await?;
        written.insert(key, value);
    }

    info!("--- every server healthy, as the leader sees it");
    let health = wait_for(secs(20), "a healthy cluster", || async {
        let a = cluster
            .request(
                "c1",
                reqwest::Method::GET,
                "/v1/operator/autopilot/health",
                None,
                secs(5),
            )
            .await
            .map_err(|e| e.to_string())?;
        let v: Value = serde_json::from_str(&a.body).map_err(|e| format!("{e}: {}", a.body))?;
        praetor_testkit::check(a.status == 200 && v["Healthy"] == true, || {
            format!("{}: {v}", a.status)
        })?;
        Ok(v)
    })
    .await?;
    assert_eq!(health["FailureTolerance"], 1, "{health}");
    let servers = health["Servers"].as_array().cloned().unwrap_or_default();
    assert_eq!(servers.len(), 3, "{health}");
    let target = cluster
        .server_names()
        .into_iter()
        .find(|s| *s != old)
        .expect("a follower");
    let target_id = servers
        .iter()
        .find(|s| s["Name"] == target.as_str())
        .and_then(|s| s["ID"].as_str())
        .expect("the target in the health report")
        .to_owned();

    info!(%old, %target, "--- transfer leadership");
    let out = cluster
        .cli(
            "c1",
            &[
                "operator",
                "raft",
                "transfer-leader",
                &format!("-id={target_id}"),
            ],
        )?
        .run()?;
    out.assert_success();
    assert_eq!(out.stdout, "Success\n");
    wait_for(secs(10), "every server to name the new leader", || async {
        for s in cluster.server_names() {
            let seen = cluster
                .leader_seen_by(&s)
                .await
                .map_err(|e| e.to_string())?;
            praetor_testkit::check(seen.as_deref() == Some(target.as_str()), || {
                format!("{s} names {seen:?}")
            })?;
        }
        Ok(())
    })
    .await?;
    for i in 0..10 {
        let (key, value) = (format!("transfer/after/{i:02}"), format!("after {i}"));
        cluster.put_acked("c1", &key, &value).await?;
        written.insert(key, value);
    }
    wait_converged(&cluster, &cluster.server_names(), "transfer/", &written).await?;

    info!(%old, "--- SIGKILL a follower: the cluster is unhealthy (429)");
    cluster.kill9(&old)?;
    let v = wait_for(secs(20), "an unhealthy report", || async {
        let a = cluster
            .request(
                &target,
                reqwest::Method::GET,
                "/v1/operator/autopilot/health",
                None,
                secs(5),
            )
            .await
            .map_err(|e| e.to_string())?;
        praetor_testkit::check(a.status == 429, || format!("{}: {}", a.status, a.body))?;
        serde_json::from_str::<Value>(&a.body).map_err(|e| e.to_string())
    })
    .await?;
    assert_eq!(v["Healthy"], false, "{v}");
    assert_eq!(v["FailureTolerance"], 0, "{v}");
    let dead = v["Servers"]
        .as_array()
        .and_then(|l| l.iter().find(|s| s["Name"] == old.as_str()).cloned())
        .expect("the killed server is still in the configuration");
    assert_eq!(dead["Healthy"], false, "{v}");
    cluster.shutdown().await?;
    Ok(())
}
