//! What a new leader does before it serves clients (Consul's
//! `establishLeadership`): its own node with `serfHealth` and the servers'
//! `consul` service are in the catalog by the time a client can reach it.

use std::time::Duration;

use praetor_agent::Agent;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::{dev_config, TestAgent};

/// Polls `/v1/status/leader` as a script would, every few milliseconds,
/// until it names a leader (at most 10 s).
async fn first_leader_reported(http: &reqwest::Client, url: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let said = match http.get(format!("{url}/v1/status/leader")).send().await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if said.len() > 2 {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no leader reported within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test]
async fn a_session_opens_the_moment_a_leader_is_reported() {
    crate::install_crypto_provider();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    // A few fresh agents: the window this closes was a few milliseconds wide.
    for round in 0..3 {
        let agent: Agent = praetor_agent::start(dev_config(), CancellationToken::new())
            .await
            .expect("agent starts");
        let url = format!("http://{}", agent.http_addrs()[0]);
        first_leader_reported(&http, &url).await;
        let r = http
            .put(format!("{url}/v1/session/create"))
            .json(&json!({"Name": "first", "TTL": "30s"}))
            .send()
            .await
            .unwrap();
        let status = r.status();
        let body = r.text().await.unwrap();
        assert_eq!(status, 200, "round {round}: session create said {body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert!(v["ID"].as_str().is_some_and(|id| id.len() == 36), "{v}");
        // So does a consistent read of the catalog: the node is there.
        let node: Value = http
            .get(format!("{url}/v1/catalog/node/it-node?consistent"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(node["Node"]["Node"], "it-node", "round {round}: {node}");
        agent.shutdown(Duration::from_secs(5), false).await;
    }
}

#[tokio::test]
async fn every_server_is_listed_as_the_consul_service_and_anti_entropy_keeps_it() {
    let a = TestAgent::dev().await;
    let members = a.get_json("/v1/agent/members").await;
    let rpc_port: u16 = members[0]["Tags"]["port"]
        .as_str()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no RPC port in {members}"));

    let services = a.get_json("/v1/catalog/services").await;
    assert_eq!(services["consul"], json!([]), "{services}");
    let consul = a.get_json("/v1/catalog/service/consul").await;
    let list = consul.as_array().expect("a list");
    assert_eq!(list.len(), 1, "{consul}");
    assert_eq!(list[0]["Node"], "it-node");
    assert_eq!(list[0]["ServiceID"], "consul");
    assert_eq!(list[0]["ServicePort"], rpc_port);
    assert_eq!(list[0]["ServiceMeta"]["raft_version"], "3");
    let healthy = a.get_json("/v1/health/service/consul?passing").await;
    assert_eq!(healthy.as_array().map(Vec::len), Some(1), "{healthy}");
    // Not one of the agent's own services.
    let own = a.get_json("/v1/agent/services").await;
    assert!(own.get("consul").is_none(), "{own}");

    // A registration makes the agent sync its node with the catalog: the
    // `consul` service, which it does not own, must survive that.
    let r = a
        .put_json(
            "/v1/agent/service/register",
            json!({"Name": "web", "Port": 80}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let services = a.get_json("/v1/catalog/services").await;
        if services.get("web").is_some() {
            assert_eq!(services["consul"], json!([]), "after a sync: {services}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "web never synced");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    a.shutdown().await;
}

/// `performance.rpc_hold_timeout` bounds the wait for a leader, not the
/// commit: with a 1 ms hold, writes to a healthy server with a durable log
/// (each commit an fsync) all succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_rpc_hold_timeout_does_not_fail_writes_on_a_healthy_server() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = crate::dev_config();
    cfg.dev = false;
    cfg.bootstrap_expect = 1;
    cfg.data_dir = Some(dir.path().to_owned());
    let a = crate::TestAgent::start(cfg.clone()).await;
    a.wait_for_leader().await;
    a.shutdown().await;
    cfg.rpc_hold_timeout = std::time::Duration::from_millis(1);
    let a = crate::TestAgent::start(cfg).await;
    a.wait_for_leader().await;
    for i in 0..20 {
        let r = a
            .http
            .put(a.u(&format!("/v1/kv/hold/{i}")))
            .body(vec![b'x'; 4096])
            .send()
            .await
            .unwrap();
        let status = r.status();
        assert_eq!(status, 200, "write {i}: {}", r.text().await.unwrap());
    }
}
