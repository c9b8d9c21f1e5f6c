//! Membership feeds the catalog: the leader registers every member as a
//! node with a `serfHealth` check that follows gossip (passing while alive,
//! critical once failed) and deregisters members that leave. A client agent
//! answers catalog reads by forwarding them to a server.

use std::time::Duration;

use serde_json::Value;

use crate::{dev_config, TestAgent};

fn client_config(name: &str, join: String) -> praetor_agent::config::RuntimeConfig {
    let mut cfg = dev_config();
    cfg.dev = false;
    cfg.server = false;
    cfg.node_name = name.into();
    cfg.retry_join = vec![join];
    cfg.retry_interval = Duration::from_millis(200);
    cfg
}

async fn serf_status(a: &TestAgent, node: &str) -> Option<String> {
    let checks: Value = a
        .http
        .get(a.u(&format!("/v1/health/node/{node}")))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    checks
        .as_array()?
        .iter()
        .find(|c| c["CheckID"] == "serfHealth")
        .map(|c| c["Status"].as_str().unwrap_or_default().to_owned())
}

async fn wait_status(a: &TestAgent, node: &str, want: Option<&str>) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let got = serf_status(a, node).await;
        if got.as_deref() == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{node}: serfHealth {got:?}, wanted {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_become_catalog_nodes_whose_serf_health_follows_gossip() {
    let server = TestAgent::dev().await;
    let seed = server.agent.gossip().local().addr.to_string();
    wait_status(&server, "it-node", Some("passing")).await;

    let stays = TestAgent::start(client_config("client-stays", seed.clone())).await;
    let dies = TestAgent::start(client_config("client-dies", seed.clone())).await;
    let leaves = TestAgent::start(client_config("client-leaves", seed)).await;
    for node in ["client-stays", "client-dies", "client-leaves"] {
        wait_status(&server, node, Some("passing")).await;
    }
    // A client agent reads the catalog through a server.
    let nodes: Vec<Value> =
        serde_json::from_value(stays.get_json("/v1/catalog/nodes").await).unwrap();
    let names: Vec<&str> = nodes.iter().filter_map(|n| n["Node"].as_str()).collect();
    assert_eq!(
        names,
        ["client-dies", "client-leaves", "client-stays", "it-node"]
    );
    let one: Value = stays.get_json("/v1/catalog/node/client-dies").await;
    assert_eq!(one["Node"]["Address"], "127.0.0.1");
    let none: Value = stays.get_json("/v1/catalog/node/nobody").await;
    assert!(none.is_null());

    // A blocking read of the node's checks wakes when it fails.
    let r = server
        .http
        .get(server.u("/v1/health/node/client-dies"))
        .send()
        .await
        .unwrap();
    let index = crate::index_of(&r);
    let blocked = {
        let (http, url) = (
            server.http.clone(),
            server.u(&format!(
                "/v1/health/node/client-dies?index={index}&wait=30s"
            )),
        );
        tokio::spawn(async move {
            http.get(url)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        })
    };
    dies.agent.shutdown(Duration::from_secs(5), false).await;
    let woke = tokio::time::timeout(Duration::from_secs(25), blocked)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(woke[0]["Status"], "critical", "{woke}");
    assert_eq!(woke[0]["Output"], "Agent not live or unreachable");

    leaves.agent.shutdown(Duration::from_secs(5), true).await;
    wait_status(&server, "client-leaves", None).await;
    let gone: Value = server.get_json("/v1/catalog/node/client-leaves").await;
    assert!(gone.is_null(), "a node that left is deregistered: {gone}");
    assert_eq!(
        serf_status(&server, "client-stays").await.as_deref(),
        Some("passing")
    );
    stays.shutdown().await;
    server.shutdown().await;
}
