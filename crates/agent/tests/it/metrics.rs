//! `GET /v1/agent/metrics` after real work: a write, a read and an RPC call
//! show up under Consul's names, in the Prometheus form at once (counters
//! there are cumulative) and in Consul's JSON form once an interval holding
//! them is shown; each agent in the process reports only its own.

use std::collections::BTreeSet;
use std::time::Duration;

use praetor_agent::config::RuntimeConfig;
use praetor_server::rpc::{Reply, Request, RpcClient};
use serde_json::Value;

use crate::{dev_config, prom_value, TestAgent};

/// A server with a data dir, so its log is fsynced.
fn durable(dir: &std::path::Path) -> RuntimeConfig {
    let mut cfg = dev_config();
    cfg.dev = false;
    cfg.bootstrap_expect = 1;
    cfg.data_dir = Some(dir.to_path_buf());
    cfg
}

/// Writes and reads a key over HTTP, and calls the server's RPC once.
async fn some_work(a: &TestAgent, rpc: &RpcClient, i: usize) {
    assert!(a.put("metrics/k", &format!("v{i}")).await);
    let r = a.http.get(a.u("/v1/kv/metrics/k")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let status = rpc
        .call(Request::Status, Duration::from_secs(5))
        .await
        .unwrap();
    assert!(matches!(status, Reply::Status(_)), "{status:?}");
}

fn rpc_client(a: &TestAgent) -> RpcClient {
    let status = a.agent.server().unwrap().status();
    let addr = status.leader_addr().unwrap().parse().unwrap();
    RpcClient::new(addr)
}

/// Series that must grow with `some_work`.
const GROWING: [&str; 13] = [
    "consul_raft_apply",
    "consul_raft_commitTime_count",
    "consul_raft_fsm_apply_count",
    "consul_raft_logstore_fsync_count",
    "consul_raft_logstore_logsPerBatch_count",
    "consul_rpc_request",
    "consul_rpc_query",
    r#"consul_rpc_server_call_count{method="Status"}"#,
    "consul_kvs_apply_count",
    "consul_http_requests",
    "consul_http_request_count",
    r#"consul_api_http_count{method="PUT",path="v1_kv_"}"#,
    "consul_http_PUT_v1_kv___count",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_shows_in_raft_fsync_rpc_and_http_metrics_in_prometheus_form() {
    let dir = tempfile::tempdir().unwrap();
    let a = TestAgent::start(durable(dir.path())).await;
    let rpc = rpc_client(&a);
    let before = a.prometheus().await;
    some_work(&a, &rpc, 0).await;
    let after = a.prometheus().await;
    for series in GROWING {
        let was = prom_value(&before, series).unwrap_or(0.0);
        let is = prom_value(&after, series).unwrap_or_else(|| panic!("{series} in {after}"));
        assert!(is > was, "{series}: {was} then {is}");
    }
    assert!(
        after.contains("# TYPE consul_raft_commitTime summary"),
        "{after}"
    );
    assert!(
        after.contains(r#"consul_raft_commitTime{quantile="0.99"}"#),
        "{after}"
    );
    // Read-now gauges, and the leader this server became.
    assert_eq!(prom_value(&after, "consul_rpc_queries_blocking"), Some(0.0));
    assert_eq!(prom_value(&after, "consul_server_isLeader"), Some(1.0));
    assert!(prom_value(&after, "consul_raft_applied_index").unwrap() >= 1.0);
    assert!(
        prom_value(&after, "consul_raft_state_leader").unwrap() >= 1.0,
        "{after}"
    );
    a.shutdown().await;
}

#[tokio::test]
async fn made_up_methods_share_one_metric_series() {
    let a = TestAgent::dev().await;
    for i in 0..20 {
        let method = reqwest::Method::from_bytes(format!("MADEUP{i}").as_bytes()).unwrap();
        let r = a
            .http
            .request(method, a.u("/v1/kv/x"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 405);
    }
    let text = a.prometheus().await;
    assert!(!text.contains("MADEUP"), "{text}");
    assert!(
        text.contains(r#"consul_api_http_count{method="OTHER",path="v1_kv_"} 20"#),
        "{text}"
    );
    a.shutdown().await;
}

/// The names in one table of the JSON form.
fn names(json: &Value, table: &str) -> BTreeSet<String> {
    json[table]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["Name"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consuls_json_form_shows_an_interval_with_the_work_and_its_rate() {
    let dir = tempfile::tempdir().unwrap();
    let a = TestAgent::start(durable(dir.path())).await;
    let rpc = rpc_client(&a);
    let samples = [
        "consul.raft.commitTime",
        "consul.raft.fsm.apply",
        "consul.raft.logstore.fsync",
        "consul.kvs.apply",
        "consul.api.http",
        "consul.http.PUT.v1.kv._",
        "consul.rpc.server.call",
    ];
    let counters = [
        "consul.raft.apply",
        "consul.rpc.request",
        "consul.rpc.query",
        "consul.http.requests",
    ];
    // The form shows the last finished 10 s interval (the current one until
    // one has finished): keep working until the one shown holds it all.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut i = 0;
    let json = loop {
        some_work(&a, &rpc, i).await;
        i += 1;
        let json = a.get_json("/v1/agent/metrics").await;
        let (s, c) = (names(&json, "Samples"), names(&json, "Counters"));
        if samples.iter().all(|n| s.contains(*n)) && counters.iter().all(|n| c.contains(*n)) {
            break json;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "an interval with the work within 30s; last shown {json}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let ts = json["Timestamp"].as_str().unwrap();
    assert!(ts.ends_with(" +0000 UTC") && ts.len() == 29, "{ts}");
    assert_eq!(json["Points"], serde_json::json!([]));
    let gauges = names(&json, "Gauges");
    for g in ["consul.rpc.queries_blocking", "consul.runtime.alloc_bytes"] {
        assert!(gauges.contains(g), "{g} in {json}");
    }
    // Rate is Sum per second of the interval, which covers at most 10 s.
    for agg in ["Counters", "Samples"]
        .iter()
        .flat_map(|t| json[*t].as_array().unwrap())
    {
        let (sum, rate) = (agg["Sum"].as_f64().unwrap(), agg["Rate"].as_f64().unwrap());
        assert!(agg["Count"].as_u64().unwrap() >= 1, "{agg}");
        assert!(rate > 0.0 || sum == 0.0, "{agg}");
        assert!(rate * 10.0 >= sum * (1.0 - 1e-9), "{agg}");
        for key in ["Min", "Max", "Mean", "Stddev", "Labels"] {
            assert!(agg.get(key).is_some(), "{key} in {agg}");
        }
    }
    let http = json["Samples"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Name"] == "consul.api.http" && s["Labels"]["method"] == "PUT")
        .unwrap_or_else(|| panic!("consul.api.http for PUT in {json}"));
    assert_eq!(http["Labels"]["path"], "v1_kv_");
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_in_one_process_report_only_their_own_metrics() {
    let (a, b) = (TestAgent::dev().await, TestAgent::dev().await);
    for i in 0..5 {
        assert!(a.put(&format!("own/{i}"), "v").await);
    }
    let (pa, pb) = (a.prometheus().await, b.prometheus().await);
    let puts = r#"consul_api_http_count{method="PUT",path="v1_kv_"}"#;
    assert_eq!(prom_value(&pa, puts), Some(5.0), "{pa}");
    assert_eq!(prom_value(&pb, puts), None, "{pb}");
    assert!(prom_value(&pa, "consul_raft_apply").unwrap() >= 5.0);
    a.shutdown().await;
    b.shutdown().await;
}
