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
    praetor_testwait::wait_for(
        Duration::from_secs(20),
        &format!("{node}: serfHealth {want:?}"),
        || async {
            let got = serf_status(a, node).await;
            praetor_testwait::check(got.as_deref() == want, || format!("serfHealth {got:?}"))
        },
    )
    .await
    .unwrap();
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_register_health_and_blocking_reads_follow_consul() {
    let a = TestAgent::dev().await;
    let put = |path: &str, body: Value| {
        let (http, url) = (a.http.clone(), a.u(path));
        async move { http.put(url).json(&body).send().await.unwrap() }
    };
    let web = |id: &str, node: &str, status: &str| {
        serde_json::json!({
            "Node": node, "Address": "10.0.0.7",
            "Service": {"ID": id, "Service": "web", "Tags": ["v1"], "Port": 8080},
            "Check": {"CheckID": format!("{id}-http"), "Name": "http", "Status": status, "ServiceID": id}
        })
    };
    assert_eq!(
        put("/v1/catalog/register", web("web1", "ext1", "passing"))
            .await
            .status(),
        200
    );
    assert_eq!(
        put("/v1/catalog/register", web("web2", "ext2", "passing"))
            .await
            .status(),
        200
    );

    let services = a.get_json("/v1/catalog/services").await;
    assert_eq!(services["web"], serde_json::json!(["v1"]));
    let node = a.get_json("/v1/catalog/node/ext1").await;
    assert_eq!(
        node["Node"]["Datacenter"], "dc1",
        "the agent's datacenter by default"
    );
    assert_eq!(node["Services"]["web1"]["Port"], 8080);
    let instances = a
        .get_json("/v1/catalog/service/web?tag=v1&near=_agent")
        .await;
    assert_eq!(instances.as_array().unwrap().len(), 2);

    // A blocking health read wakes when one instance's check goes critical.
    let r = a
        .http
        .get(a.u("/v1/health/service/web?passing"))
        .send()
        .await
        .unwrap();
    let index = crate::index_of(&r);
    assert_eq!(
        r.json::<Value>().await.unwrap().as_array().unwrap().len(),
        2
    );
    let blocked = {
        let (http, url) = (
            a.http.clone(),
            a.u(&format!(
                "/v1/health/service/web?passing&index={index}&wait=30s"
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
    a.wait_blocked(1).await;
    // Another service's change does not wake it.
    let db =
        serde_json::json!({"Node": "ext1", "Address": "10.0.0.7", "Service": {"Service": "db"}});
    assert_eq!(put("/v1/catalog/register", db).await.status(), 200);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!blocked.is_finished(), "a change to db woke a read of web");
    assert_eq!(
        put("/v1/catalog/register", web("web2", "ext2", "critical"))
            .await
            .status(),
        200
    );
    let woke = tokio::time::timeout(Duration::from_secs(5), blocked)
        .await
        .unwrap()
        .unwrap();
    let left: Vec<&str> = woke
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["Service"]["ID"].as_str())
        .collect();
    assert_eq!(left, ["web1"]);
    let critical = a.get_json("/v1/health/state/critical").await;
    assert_eq!(critical[0]["CheckID"], "web2-http");
    assert_eq!(
        a.get_json("/v1/health/checks/web")
            .await
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Bad input: a 400 with a reason, and nothing changes.
    let r = put(
        "/v1/catalog/register",
        serde_json::json!({"Node": "ext1", "Check": {"CheckID": "c", "ServiceID": "nope"}}),
    )
    .await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("nope"));
    let r = a
        .http
        .put(a.u("/v1/catalog/register"))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = a
        .http
        .get(a.u("/v1/health/state/sideways"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // Deregistering a node removes its services and checks.
    assert_eq!(
        put(
            "/v1/catalog/deregister",
            serde_json::json!({"Node": "ext2"})
        )
        .await
        .status(),
        200
    );
    assert!(a.get_json("/v1/catalog/node/ext2").await.is_null());
    assert_eq!(
        a.get_json("/v1/health/service/web")
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filter_expressions_select_what_the_endpoints_return() {
    let a = TestAgent::dev().await;
    for (id, tags, env) in [("web1", ["v1"], "prod"), ("web2", ["v2"], "dev")] {
        let body = serde_json::json!({"Node": format!("n-{id}"), "Address": "10.0.0.1",
            "Service": {"ID": id, "Service": "web", "Tags": tags, "Meta": {"env": env}}});
        let r = a.put_json("/v1/catalog/register", &body).await;
        assert_eq!(r.status(), 200);
    }
    let ids = |v: Value, field: &str| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|e| e.pointer(field).unwrap().as_str().unwrap().to_owned())
            .collect()
    };
    let q = |f: &str| {
        format!(
            "/v1/health/service/web?filter={}",
            percent_encoding::utf8_percent_encode(f, percent_encoding::NON_ALPHANUMERIC)
        )
    };
    assert_eq!(
        ids(
            a.get_json(&q(r#"Service.Meta.env == "prod""#)).await,
            "/Service/ID"
        ),
        ["web1"]
    );
    assert_eq!(
        ids(
            a.get_json(&q(r#""v2" in Service.Tags"#)).await,
            "/Service/ID"
        ),
        ["web2"]
    );
    let c = format!(
        "/v1/catalog/service/web?filter={}",
        percent_encoding::utf8_percent_encode(
            "ServiceID != web1",
            percent_encoding::NON_ALPHANUMERIC
        )
    );
    assert_eq!(ids(a.get_json(&c).await, "/ServiceID"), ["web2"]);
    let r = a.http.get(a.u(&q("Service.ID =="))).send().await.unwrap();
    assert_eq!(r.status(), 400, "a malformed filter is refused");
    a.shutdown().await;
}
