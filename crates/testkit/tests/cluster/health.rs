//! Health across a cluster: a service registered on one client agent with a
//! TTL check is seen through another; when its check goes critical, a
//! blocking health query on the other client returns without it; when the
//! agent that owns it is killed, its node's `serfHealth` fails and the
//! instance drops out of healthy answers too.

use praetor_testkit::{init_tracing, secs, wait_for, Cluster, Spec};
use reqwest::Method;
use serde_json::Value;
use tracing::info;

fn instances(body: &str) -> Vec<String> {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    v.as_array()
        .map(|l| {
            l.iter()
                .filter_map(|e| e["Service"]["ID"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// Waits until c2's healthy instances of `web` are `want`; the last answer.
async fn wait_healthy(
    cluster: &Cluster,
    want: &[&str],
    what: &str,
) -> anyhow::Result<praetor_testkit::cluster::Answer> {
    Ok(wait_for(secs(20), what, || async {
        let a = cluster
            .request(
                "c2",
                Method::GET,
                "/v1/health/service/web?passing",
                None,
                secs(5),
            )
            .await
            .map_err(|e| e.to_string())?;
        if instances(&a.body) == want {
            Ok(a)
        } else {
            Err(a.body)
        }
    })
    .await?)
}

#[tokio::test]
async fn a_check_going_critical_on_one_client_is_seen_through_another() -> anyhow::Result<()> {
    init_tracing();
    let mut cluster = Cluster::start(Spec::servers(3).clients(2)).await?;
    let reg = r#"{"ID": "web1", "Name": "web", "Port": 8080, "Check": {"TTL": "60s", "Status": "passing"}}"#;
    let r = cluster
        .request(
            "c1",
            Method::PUT,
            "/v1/agent/service/register",
            Some(reg),
            secs(10),
        )
        .await?;
    assert_eq!(r.status, 200, "{r:?}");
    let healthy = wait_healthy(&cluster, &["web1"], "web1 healthy through c2").await?;
    let index = healthy.index.unwrap_or(0);

    info!("--- a blocking query on c2 returns when c1's check fails");
    // A blocking query may also return for another change that moves the
    // same index (c1's node checks, as Consul's may): the client re-blocks
    // at the returned index, as Consul's clients do, a bounded few times.
    let blocked = async {
        let mut index = index;
        for _ in 0..5 {
            let path = format!("/v1/health/service/web?passing&index={index}&wait=30s");
            let a = cluster
                .request("c2", Method::GET, &path, None, secs(40))
                .await?;
            if instances(&a.body).is_empty() {
                return Ok(a);
            }
            index = a.index.unwrap_or(index);
        }
        anyhow::bail!("five blocking returns on c2 without the failure")
    };
    let (blocked, ()) = tokio::join!(blocked, async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let r = cluster
            .request(
                "c1",
                Method::PUT,
                "/v1/agent/check/fail/service:web1?note=down",
                None,
                secs(10),
            )
            .await
            .expect("the check update is sent");
        assert_eq!(r.status, 200, "{r:?}");
    });
    let blocked = blocked?;
    assert!(
        instances(&blocked.body).is_empty(),
        "the blocking query saw the failure: {blocked:?}"
    );

    info!("--- passing again, then the owning agent dies: serfHealth takes it out");
    let r = cluster
        .request(
            "c1",
            Method::PUT,
            "/v1/agent/check/pass/service:web1",
            None,
            secs(10),
        )
        .await?;
    assert_eq!(r.status, 200);
    wait_healthy(&cluster, &["web1"], "web1 healthy again").await?;
    cluster.kill9("c1")?;
    wait_healthy(
        &cluster,
        &[],
        "web1 out of healthy answers after its agent died",
    )
    .await?;
    let all = cluster
        .request("c2", Method::GET, "/v1/health/service/web", None, secs(5))
        .await?;
    assert_eq!(
        instances(&all.body),
        ["web1"],
        "still registered, just unhealthy: {all:?}"
    );
    cluster.shutdown().await?;
    Ok(())
}
