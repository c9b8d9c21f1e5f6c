//! A service's `Kind`, `TaggedAddresses`, `Proxy` and `Locality`: kept
//! and returned as Consul does, whichever way the service came in (the
//! catalog, the agent, a transaction, the agent's own saved state), and
//! refused with Consul's reasons when invalid.

use serde_json::{json, Value};

use crate::{dev_config, TestAgent};

fn proxy() -> Value {
    json!({"DestinationServiceName": "web", "LocalServicePort": 8080,
           "Upstreams": [{"DestinationName": "db", "LocalBindPort": 9191}],
           "Config": {"protocol": "http", "lower_case_key": 1}})
}

fn tagged() -> Value {
    json!({"lan_ipv4": {"Address": "10.0.0.8", "Port": 21000},
           "wan": {"Address": "198.18.0.1", "Port": 443}})
}

fn locality() -> Value {
    json!({"Region": "eu-west-1", "Zone": "eu-west-1a"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_catalog_register_keeps_kind_tagged_addresses_proxy_and_locality() {
    let a = TestAgent::dev().await;
    // Consul's documentation writes tagged addresses in lower case.
    let body = json!({
        "Node": "ext1", "Address": "10.0.0.8",
        "Service": {"ID": "web-sidecar", "Service": "web-sidecar-proxy", "Port": 21000,
                    "Kind": "connect-proxy", "Proxy": proxy(),
                    "TaggedAddresses": {"lan_ipv4": {"address": "10.0.0.8", "port": 21000},
                                        "wan": {"address": "198.18.0.1", "port": 443}},
                    "Locality": locality()},
    });
    let r = a.put_json("/v1/catalog/register", &body).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());

    let list = a.get_json("/v1/catalog/service/web-sidecar-proxy").await;
    let s = &list[0];
    assert_eq!(s["ServiceKind"], "connect-proxy");
    assert_eq!(s["ServiceTaggedAddresses"], tagged());
    assert_eq!(s["ServiceProxy"], proxy());
    assert_eq!(s["ServiceLocality"], locality());

    let health = a.get_json("/v1/health/service/web-sidecar-proxy").await;
    let svc = &health[0]["Service"];
    assert_eq!(svc["Kind"], "connect-proxy");
    assert_eq!(svc["TaggedAddresses"], tagged());
    assert_eq!(svc["Proxy"], proxy());
    assert_eq!(svc["Locality"], locality());

    let node = a.get_json("/v1/catalog/node/ext1").await;
    assert_eq!(node["Services"]["web-sidecar"]["Proxy"], proxy());

    // A typical service shows Consul's empty proxy and no kind.
    let plain = json!({"Node": "ext1", "Address": "10.0.0.8", "Service": {"Service": "db"}});
    assert_eq!(
        a.put_json("/v1/catalog/register", &plain).await.status(),
        200
    );
    let db = &a.get_json("/v1/catalog/service/db").await[0];
    assert_eq!(db["ServiceKind"], "");
    assert_eq!(
        db["ServiceProxy"],
        json!({"Mode": "", "MeshGateway": {}, "Expose": {}})
    );

    // A register replaces the service whole: without the fields, they go.
    let bare = json!({"Node": "ext1", "Address": "10.0.0.8",
        "Service": {"ID": "web-sidecar", "Service": "web-sidecar-proxy", "Port": 21000}});
    assert_eq!(
        a.put_json("/v1/catalog/register", &bare).await.status(),
        200
    );
    let s = &a.get_json("/v1/catalog/service/web-sidecar-proxy").await[0];
    assert_eq!(s["ServiceKind"], "");
    assert_eq!(s["ServiceTaggedAddresses"], json!({}));
    assert_eq!(s["ServiceLocality"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_kinds_proxies_and_tagged_addresses_are_refused_and_change_nothing() {
    let a = TestAgent::dev().await;
    let service = |extra: Value| {
        let mut s = json!({"ID": "p1", "Name": "p1", "Port": 21000});
        for (k, v) in extra.as_object().unwrap() {
            s[k] = v.clone();
        }
        s
    };
    let cases = [
        (
            json!({"Kind": "sidecar"}),
            "Invalid service kind \"sidecar\"",
        ),
        (
            json!({"Kind": "connect-proxy"}),
            "Proxy.DestinationServiceName must be non-empty for Connect proxy services",
        ),
        (
            json!({"Kind": "connect-proxy", "Port": 0, "Proxy": {"DestinationServiceName": "web"}}),
            "Port must be set for a Connect proxy",
        ),
        (
            json!({"TaggedAddresses": {"lan_ipv4": {"Address": "::1", "Port": 1}}}),
            "Service tagged address \"lan_ipv4\" must be a valid ipv4 address",
        ),
        (
            json!({"TaggedAddresses": {"wan": {"Port": 1}}}),
            "Service tagged address \"wan\" must have an address",
        ),
        (
            json!({"Proxy": "web"}),
            "Proxy must be a JSON object, not a string",
        ),
        (
            json!({"TaggedAddresses": {"wan": {"Address": "a", "Port": 70000}}}),
            "Request decode failed",
        ),
    ];
    for (extra, want) in cases {
        // Through the agent.
        let r = a
            .put_json("/v1/agent/service/register", service(extra.clone()))
            .await;
        assert_eq!(r.status(), 400, "agent register with {extra}");
        let text = r.text().await.unwrap();
        assert!(text.contains(want), "{extra}: {text:?} lacks {want:?}");
        assert_eq!(text.trim().lines().count(), 1, "one line: {text:?}");

        // Through the catalog.
        let mut s = service(extra.clone());
        s["Service"] = s["Name"].clone();
        let body = json!({"Node": "ext1", "Address": "10.0.0.8", "Service": s});
        let r = a.put_json("/v1/catalog/register", &body).await;
        let status = r.status();
        let text = r.text().await.unwrap();
        assert!(
            status.is_client_error(),
            "catalog register with {extra}: {status} {text}"
        );
        assert!(text.contains(want), "{extra}: {text:?} lacks {want:?}");
    }
    assert_eq!(a.get_json("/v1/agent/services").await, json!({}));
    assert_eq!(
        a.get_json("/v1/catalog/service/p1").await,
        json!([]),
        "nothing was registered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_service_keeps_its_fields_through_anti_entropy_and_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = dev_config();
    cfg.dev = false;
    cfg.bootstrap_expect = 1;
    cfg.data_dir = Some(dir.path().to_owned());
    let a = TestAgent::start(cfg.clone()).await;
    let reg = json!({"ID": "web-sidecar", "Name": "web-sidecar-proxy", "Port": 21000,
        "Kind": "connect-proxy", "Proxy": proxy(), "TaggedAddresses": tagged(),
        "Locality": locality(), "Check": {"TTL": "60s"}});
    let r = a.put_json("/v1/agent/service/register", &reg).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());

    let mine = a.get_json("/v1/agent/service/web-sidecar").await;
    assert_eq!(mine["Kind"], "connect-proxy");
    assert_eq!(mine["Proxy"], proxy());
    assert_eq!(mine["TaggedAddresses"], tagged());
    assert_eq!(mine["Locality"], locality());
    let all = a.get_json("/v1/agent/services").await;
    assert_eq!(all["web-sidecar"]["Kind"], "connect-proxy");

    let in_catalog = a
        .wait_json(
            "/v1/catalog/service/web-sidecar-proxy",
            "the proxy in the catalog with its fields",
            |v| v[0]["ServiceProxy"] == proxy(),
        )
        .await;
    assert_eq!(in_catalog[0]["ServiceKind"], "connect-proxy");
    assert_eq!(in_catalog[0]["ServiceTaggedAddresses"], tagged());
    assert_eq!(in_catalog[0]["ServiceLocality"], locality());

    // Drift: the catalog's copy loses its fields; anti-entropy puts them back.
    let node = cfg.node_name.clone();
    let bare = json!({"Node": node, "SkipNodeUpdate": true,
        "Service": {"ID": "web-sidecar", "Service": "web-sidecar-proxy", "Port": 21000}});
    assert_eq!(
        a.put_json("/v1/catalog/register", &bare).await.status(),
        200
    );
    // (a check's change is synced at once, with its service, as Consul's)
    assert_eq!(
        a.put_empty("/v1/agent/check/pass/service:web-sidecar")
            .await
            .status(),
        200
    );
    let other = json!({"Name": "other"});
    assert_eq!(
        a.put_json("/v1/agent/service/register", &other)
            .await
            .status(),
        200
    );
    a.wait_json(
        "/v1/catalog/service/web-sidecar-proxy",
        "anti-entropy restoring the fields",
        |v| v[0]["ServiceKind"] == "connect-proxy",
    )
    .await;

    // The agent's saved state keeps them across a restart.
    a.shutdown().await;
    let a = TestAgent::start(cfg).await;
    let mine = a.get_json("/v1/agent/service/web-sidecar").await;
    assert_eq!(mine["Proxy"], proxy());
    assert_eq!(mine["TaggedAddresses"], tagged());
    assert_eq!(mine["Locality"], locality());
    let plain = a.get_json("/v1/agent/service/other").await;
    assert!(
        plain.get("Kind").is_none() && plain.get("Proxy").is_none(),
        "a typical service has neither (Consul's omitempty): {plain}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_keeps_service_fields_and_check_types() {
    let a = TestAgent::dev().await;
    let node = json!({"Node": {"Verb": "set", "Node": {"Node": "ext1", "Address": "10.0.0.8"}}});
    let service = json!({"Service": {"Verb": "set", "Node": "ext1", "Service": {
        "ID": "web-sidecar", "Service": "web-sidecar-proxy", "Port": 21000,
        "Kind": "connect-proxy", "Proxy": proxy(), "TaggedAddresses": tagged(),
        "Locality": locality()}}});
    let check = json!({"Check": {"Verb": "set", "Check": {
        "Node": "ext1", "CheckID": "sidecar-ttl", "Name": "ttl", "Status": "passing",
        "ServiceID": "web-sidecar", "Type": "ttl"}}});
    let r = a.put_json("/v1/txn", json!([node, service, check])).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let results: Value = r.json().await.unwrap();
    assert_eq!(results["Results"][1]["Service"]["Proxy"], proxy());

    let s = &a.get_json("/v1/catalog/service/web-sidecar-proxy").await[0];
    assert_eq!(s["ServiceKind"], "connect-proxy");
    assert_eq!(s["ServiceTaggedAddresses"], tagged());
    assert_eq!(s["ServiceLocality"], locality());
    let checks = a.get_json("/v1/health/checks/web-sidecar-proxy").await;
    assert_eq!(checks[0]["Type"], "ttl");

    // An invalid service in a transaction fails it with Consul's reason.
    let bad = json!({"Service": {"Verb": "set", "Node": "ext1", "Service": {
        "ID": "p2", "Service": "p2", "Port": 1, "Kind": "connect-proxy"}}});
    let r = a.put_json("/v1/txn", json!([bad])).await;
    assert_eq!(r.status(), 409);
    let text = r.text().await.unwrap();
    assert!(
        text.contains("Proxy.DestinationServiceName must be non-empty"),
        "{text}"
    );
}
