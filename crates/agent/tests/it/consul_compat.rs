//! Issue 16, item 7: where the catalog, KV, txn and local-agent endpoints
//! answered otherwise than Consul (checked against Consul's API docs and
//! handlers): writes for another datacenter, the empty KV key, `?filter=`
//! on `/v1/catalog/services` and a node's services, repeated `?tag=`,
//! unknown service and check IDs, and the txn limits, verbs and errors.

use serde_json::{json, Value};
use tracing::info;

use crate::TestAgent;

fn b64(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Registers instance `id` of `service` on node `node` through the catalog.
async fn register(a: &TestAgent, node: &str, id: &str, service: &str, tags: &[&str], meta: Value) {
    let body = json!({"Node": node, "Address": "10.0.0.9",
        "Service": {"ID": id, "Service": service, "Tags": tags, "Meta": meta, "Port": 80}});
    let r = a.put_json("/v1/catalog/register", &body).await;
    assert_eq!(r.status(), 200, "register {id}");
}

/// The service IDs of a list of catalog or health entries.
fn ids(v: &Value, pointer: &str) -> Vec<String> {
    let mut ids: Vec<String> = v
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|e| {
            e.pointer(pointer)
                .and_then(Value::as_str)
                .unwrap()
                .to_owned()
        })
        .collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_16_catalog_writes_for_another_datacenter_change_nothing() {
    let a = TestAgent::dev().await;
    register(&a, "n1", "web1", "web", &[], json!({})).await;

    info!("--- a deregister naming another datacenter in its body");
    let r = a
        .put_json(
            "/v1/catalog/deregister",
            json!({"Datacenter": "dc2", "Node": "n1"}),
        )
        .await;
    assert_eq!(r.status(), 500);
    assert_eq!(r.text().await.unwrap().trim(), "No path to datacenter");
    let node = a.get_json("/v1/catalog/node/n1").await;
    assert_eq!(node["Node"]["Node"], "n1", "the local node is still there");

    info!("--- a register naming another datacenter, in the body or ?dc=");
    for (path, body) in [
        (
            "/v1/catalog/register",
            json!({"Datacenter": "dc2", "Node": "n2", "Address": "10.0.0.2"}),
        ),
        (
            "/v1/catalog/register?dc=dc2",
            json!({"Node": "n2", "Address": "10.0.0.2"}),
        ),
    ] {
        let r = a.put_json(path, &body).await;
        assert_eq!(r.status(), 500, "{path} {body}");
        assert_eq!(r.text().await.unwrap().trim(), "No path to datacenter");
    }
    assert_eq!(a.get_json("/v1/catalog/node/n2").await, Value::Null);

    info!("--- the body's own datacenter wins over ?dc=, as in Consul");
    let r = a
        .put_json(
            "/v1/catalog/deregister?dc=dc2",
            json!({"Datacenter": "dc1", "Node": "n1", "ServiceID": "web1"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(a.get_json("/v1/catalog/service/web").await, json!([]));

    info!("--- other writes with ?dc= naming another datacenter");
    let s = a.put_empty("/v1/session/create?dc=dc2").await;
    assert_eq!(s.status(), 500);
    let r = a
        .put_json(
            "/v1/txn?dc=dc2",
            json!([{"KV": {"Verb": "set", "Key": "x", "Value": b64("1")}}]),
        )
        .await;
    assert_eq!(r.status(), 500);
    let r = a
        .http
        .put(a.u("/v1/kv/x?dc=dc2"))
        .body("1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 500);
    let r = a.http.get(a.u("/v1/kv/x")).send().await.unwrap();
    assert_eq!(r.status(), 404, "no write reached the local KV");
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_16_reading_the_empty_kv_key_is_missing_key_name() {
    let a = TestAgent::dev().await;
    a.put("k", "v").await;
    for path in ["/v1/kv/", "/v1/kv", "/v1/kv/?raw"] {
        let r = a.http.get(a.u(path)).send().await.unwrap();
        assert_eq!(r.status(), 400, "GET {path}");
        assert_eq!(r.text().await.unwrap().trim(), "Missing key name");
    }
    let r = a.http.put(a.u("/v1/kv/")).body("v").send().await.unwrap();
    assert_eq!(r.status(), 400);
    let r = a.http.delete(a.u("/v1/kv/")).send().await.unwrap();
    assert_eq!(r.status(), 400);
    info!("--- listings may name the empty key");
    let all = a.get_json("/v1/kv/?recurse").await;
    assert_eq!(all[0]["Key"], "k");
    assert_eq!(a.get_json("/v1/kv/?keys").await, json!(["k"]));
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_16_filter_on_catalog_services_and_node_services_selects_instances() {
    let a = TestAgent::dev().await;
    register(&a, "n1", "web1", "web", &["v1"], json!({"env": "prod"})).await;
    register(&a, "n1", "db1", "db", &["primary"], json!({"env": "dev"})).await;
    register(&a, "n2", "web2", "web", &["v2"], json!({"env": "dev"})).await;

    info!("--- /v1/catalog/services: the filter selects instances, the answer lists their names and tags");
    let f = |expr: &str| format!("/v1/catalog/services?filter={}", enc(expr));
    assert_eq!(
        a.get_json(&f(r#"ServiceMeta.env == "prod""#)).await,
        json!({"web": ["v1"]})
    );
    assert_eq!(
        a.get_json(&f(r#"ServiceName == "web""#)).await,
        json!({"web": ["v1", "v2"]})
    );
    assert_eq!(
        a.get_json(&f(r#""primary" in ServiceTags"#)).await,
        json!({"db": ["primary"]})
    );
    assert_eq!(
        a.get_json(&f(r#"Node == "n2""#)).await,
        json!({"web": ["v2"]})
    );
    let all = a.get_json("/v1/catalog/services").await;
    assert_eq!(
        all["web"],
        json!(["v1", "v2"]),
        "without a filter: everything"
    );
    let r = a.http.get(a.u(&f("ServiceName =="))).send().await.unwrap();
    assert_eq!(r.status(), 400, "a malformed filter is refused");

    info!("--- /v1/catalog/node/<node>: the filter selects among the node's services");
    let node = a
        .get_json(&format!(
            "/v1/catalog/node/n1?filter={}",
            enc(r#"Service == "db""#)
        ))
        .await;
    assert_eq!(node["Node"]["Node"], "n1", "the node itself is kept");
    let services: Vec<&String> = node["Services"].as_object().unwrap().keys().collect();
    assert_eq!(services, ["db1"]);
    let node = a
        .get_json(&format!(
            "/v1/catalog/node/n1?filter={}",
            enc(r#"Meta.env == "prod""#)
        ))
        .await;
    let services: Vec<&String> = node["Services"].as_object().unwrap().keys().collect();
    assert_eq!(services, ["web1"]);
    let listed = a
        .get_json(&format!(
            "/v1/catalog/node-services/n1?filter={}",
            enc(r#""v1" in Tags"#)
        ))
        .await;
    assert_eq!(ids(&listed["Services"], "/ID"), ["web1"]);
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_16_several_tags_are_anded() {
    let a = TestAgent::dev().await;
    register(&a, "n1", "web1", "web", &["v1", "blue"], json!({})).await;
    register(&a, "n1", "web2", "web", &["v1", "green"], json!({})).await;
    register(&a, "n2", "web3", "web", &["v2", "blue"], json!({})).await;
    let catalog = a.get_json("/v1/catalog/service/web?tag=v1&tag=blue").await;
    assert_eq!(ids(&catalog, "/ServiceID"), ["web1"]);
    let health = a.get_json("/v1/health/service/web?tag=blue&tag=v1").await;
    assert_eq!(ids(&health, "/Service/ID"), ["web1"]);
    let one = a.get_json("/v1/catalog/service/web?tag=blue").await;
    assert_eq!(ids(&one, "/ServiceID"), ["web1", "web3"]);
    info!("--- tags compare case-insensitively, as Consul's");
    let catalog = a.get_json("/v1/catalog/service/web?tag=V1&tag=Green").await;
    assert_eq!(ids(&catalog, "/ServiceID"), ["web2"]);
    let none = a.get_json("/v1/health/service/web?tag=v2&tag=green").await;
    assert_eq!(none, json!([]));
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_16_unknown_service_and_check_ids_are_404_with_consuls_words() {
    let a = TestAgent::dev().await;
    let service = |id: &str| {
        format!("Unknown service ID {id:?}. Ensure that the service ID is passed, not the service name.")
    };
    let check = |id: &str| {
        format!("Unknown check ID {id:?}. Ensure that the check ID is passed, not the check name.")
    };
    let cases = [
        ("/v1/agent/service/deregister/nope", service("nope")),
        (
            "/v1/agent/service/maintenance/nope?enable=true",
            service("nope"),
        ),
        ("/v1/agent/check/deregister/nope", check("nope")),
        ("/v1/agent/check/pass/nope", check("nope")),
        ("/v1/agent/check/warn/nope", check("nope")),
        ("/v1/agent/check/fail/nope", check("nope")),
    ];
    for (path, want) in cases {
        let r = a.put_empty(path).await;
        assert_eq!(r.status(), 404, "PUT {path}");
        assert_eq!(r.text().await.unwrap().trim(), want, "PUT {path}");
    }
    let r = a
        .put_json("/v1/agent/check/update/nope", json!({"Status": "passing"}))
        .await;
    assert_eq!(r.status(), 404);
    assert_eq!(r.text().await.unwrap().trim(), check("nope"));
    let r = a
        .http
        .get(a.u("/v1/agent/service/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.text().await.unwrap().trim(), "unknown service ID: nope");

    info!("--- known IDs still work");
    let r = a
        .put_json(
            "/v1/agent/service/register",
            json!({"ID": "api1", "Name": "api", "Check": {"CheckID": "api-ttl", "TTL": "30s"}}),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        a.put_empty("/v1/agent/check/pass/api-ttl").await.status(),
        200
    );
    let r = a
        .put_empty("/v1/agent/service/maintenance/api1?enable=true")
        .await;
    assert_eq!(r.status(), 200);
    info!("--- enable as Go's ParseBool reads it (py-consul sends True)");
    for v in ["True", "1", "t", "FALSE", "0"] {
        let path = format!("/v1/agent/service/maintenance/api1?enable={v}");
        assert_eq!(a.put_empty(&path).await.status(), 200, "enable={v}");
    }
    let r = a
        .put_empty("/v1/agent/service/maintenance/api1?enable=yes")
        .await;
    assert_eq!(r.status(), 400);
    assert_eq!(
        a.put_empty("/v1/agent/service/deregister/api1")
            .await
            .status(),
        200
    );
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_16_txn_limits_verbs_and_errors_are_consuls() {
    let a = TestAgent::dev().await;
    a.put("t/a", "1").await;

    info!("--- 128 operations are taken, 129 are a 413");
    let ops = |n: usize| -> Value {
        (0..n)
            .map(|i| json!({"KV": {"Verb": "set", "Key": format!("m/{i}"), "Value": b64("x")}}))
            .collect()
    };
    let r = a.put_json("/v1/txn", ops(128)).await;
    assert_eq!(r.status(), 200);
    let r = a.put_json("/v1/txn", ops(129)).await;
    assert_eq!(r.status(), 413);
    assert_eq!(
        r.text().await.unwrap().trim(),
        "Transaction contains too many operations (129 > 128)"
    );

    info!("--- get-or-empty: the entry, or an empty one, without failing");
    let r = a
        .put_json(
            "/v1/txn",
            json!([
                {"KV": {"Verb": "get-or-empty", "Key": "t/a"}},
                {"KV": {"Verb": "get-or-empty", "Key": "t/missing"}},
            ]),
        )
        .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let results = body["Results"].as_array().unwrap();
    assert_eq!(results[0]["KV"]["Value"], b64("1"));
    assert_eq!(results[1]["KV"]["Key"], "t/missing");
    assert_eq!(results[1]["KV"]["Value"], Value::Null);
    let r = a
        .put_json(
            "/v1/txn",
            json!([
                {"KV": {"Verb": "set", "Key": "t/b", "Value": b64("2")}},
                {"KV": {"Verb": "get-or-empty", "Key": "t/b"}},
            ]),
        )
        .await;
    assert_eq!(r.status(), 200, "get-or-empty in a write txn");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["Results"][1]["KV"]["Value"], b64("2"));

    info!("--- operations that cannot run are Errors with their index, 409, nothing applied");
    let r = a
        .put_json(
            "/v1/txn",
            json!([
                {"KV": {"Verb": "set", "Key": "t/c", "Value": b64("3")}},
                {"KV": {"Verb": "frobnicate", "Key": "t/a"}},
                {"KV": {"Verb": "get", "Key": ""}},
                {"Node": {"Verb": "frob", "Node": {"Node": "n"}}},
            ]),
        )
        .await;
    assert_eq!(r.status(), 409);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["Results"], Value::Null);
    assert_eq!(
        body["Errors"],
        json!([
            {"OpIndex": 1, "What": "unknown KV verb \"frobnicate\""},
            {"OpIndex": 2, "What": "Must provide key"},
            {"OpIndex": 3, "What": "unknown Node verb \"frob\""},
        ])
    );
    let r = a.http.get(a.u("/v1/kv/t/c")).send().await.unwrap();
    assert_eq!(r.status(), 404, "the refused txn changed nothing");
    a.shutdown().await;
}
