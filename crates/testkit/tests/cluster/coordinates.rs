//! Network coordinates in a real cluster: three servers measure gossip
//! round trips, send their coordinates to the leader, and after a few
//! rounds `/v1/coordinate/nodes` lists every node; `praetor rtt` prints an
//! estimate; `?near=` orders catalog answers from a node (this agent's
//! first with `_agent`).

use praetor_testkit::{init_tracing, secs, wait_for, Cluster, Spec};
use serde_json::Value;
use tracing::info;

fn node_names(v: &Value, field: impl Fn(&Value) -> &Value) -> Vec<String> {
    v.as_array()
        .map(|l| {
            l.iter()
                .filter_map(|e| field(e).as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// `Estimated a <-> b rtt: X ms (using AREA coordinates)`: the X.
fn estimate_of(stdout: &str, a: &str, b: &str, area: &str) -> Option<f64> {
    let rest = stdout
        .trim()
        .strip_prefix(&format!("Estimated {a} <-> {b} rtt: "))?;
    let ms = rest.strip_suffix(&format!(" ms (using {area} coordinates)"))?;
    ms.parse().ok()
}

#[tokio::test]
async fn coordinates_reach_the_catalog_and_order_answers_by_distance() -> anyhow::Result<()> {
    init_tracing();
    let cluster = Cluster::start(Spec::servers(3)).await?;
    cluster.wait_formed(secs(30)).await?;
    let names = ["s1", "s2", "s3"];

    info!("--- after a few gossip rounds every node has a coordinate");
    let listed = wait_for(secs(60), "every node in /v1/coordinate/nodes", || async {
        let v: Value = cluster
            .get_json("s1", "/v1/coordinate/nodes")
            .await
            .map_err(|e| e.to_string())?;
        let listed = node_names(&v, |e| &e["Node"]);
        if names.iter().all(|n| listed.iter().any(|l| l == n)) {
            Ok(v)
        } else {
            Err(v.to_string())
        }
    })
    .await?;
    for entry in listed.as_array().unwrap() {
        assert_eq!(entry["Segment"], "", "{entry}");
        assert_eq!(
            entry["Coord"]["Vec"].as_array().map(Vec::len),
            Some(8),
            "{entry}"
        );
    }
    let me: Value = cluster.get_json("s2", "/v1/agent/self").await?;
    assert_eq!(me["Coord"]["Vec"].as_array().map(Vec::len), Some(8), "{me}");

    info!("--- praetor rtt s1 s2, and s3 to the agent's own node");
    let out = cluster.cli("s1", &["rtt", "s1", "s2"])?.run()?;
    out.assert_success();
    let ms = estimate_of(&out.stdout, "s1", "s2", "LAN")
        .unwrap_or_else(|| panic!("Consul's estimate line: {out:?}"));
    assert!((0.0..1000.0).contains(&ms), "{out:?}");
    info!(ms, "estimated s1 <-> s2 on loopback");
    let out = cluster.cli("s2", &["rtt", "s3"])?.run()?;
    out.assert_success();
    assert!(
        estimate_of(&out.stdout, "s3", "s2", "LAN").is_some(),
        "{out:?}"
    );
    let out = cluster.cli("s1", &["rtt", "s1", "nobody"])?.run()?;
    out.assert_code(1);
    assert!(
        out.stderr
            .contains("Could not find a coordinate for node \"nobody\""),
        "{out:?}"
    );
    let out = cluster.cli("s1", &["rtt"])?.run()?;
    out.assert_code(1);

    info!("--- praetor rtt -wan between servers, from /v1/coordinate/datacenters");
    let dcs: Value = cluster.get_json("s1", "/v1/coordinate/datacenters").await?;
    assert_eq!(dcs[0]["Datacenter"], "dc1", "{dcs}");
    let out = wait_for(secs(30), "rtt -wan s1.dc1 s2.dc1", || async {
        let out = cluster
            .cli("s1", &["rtt", "-wan", "s1.dc1", "s2.dc1"])
            .map_err(|e| e.to_string())?
            .run()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(out)
        } else {
            Err(format!("{out:?}"))
        }
    })
    .await?;
    assert!(
        estimate_of(&out.stdout, "s1.dc1", "s2.dc1", "WAN").is_some(),
        "{out:?}"
    );

    info!("--- ?near= orders the catalog from a node; _agent from this agent's");
    for (via, near, first) in [
        ("s2", "_agent", "s2"),
        ("s3", "_agent", "s3"),
        ("s1", "s3", "s3"),
    ] {
        let v: Value = cluster
            .get_json(via, &format!("/v1/catalog/nodes?near={near}"))
            .await?;
        let order = node_names(&v, |e| &e["Node"]);
        assert_eq!(order.len(), 3, "{v}");
        assert_eq!(order[0], first, "near={near} via {via}: {order:?}");
    }
    let v: Value = cluster
        .get_json("s3", "/v1/health/service/consul?near=_agent")
        .await?;
    let order = node_names(&v, |e| &e["Node"]["Node"]);
    assert_eq!(order.first().map(String::as_str), Some("s3"), "{v}");
    cluster.shutdown().await?;
    Ok(())
}
