//! What the agent says about itself and its host (issue 16):
//! `/v1/agent/self` with every top-level key Consul returns and real
//! values, `/v1/agent/version`, `/v1/agent/host`, and the metrics stream.

use std::time::{Duration, Instant};

use futures::StreamExt as _;
use serde_json::{json, Value};
use tracing::info;

use crate::{dev_config, TestAgent};

/// The agent token these tests configure: it must never show.
const AGENT_TOKEN: &str = "5b1f1a52-agent-token-never-shown";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_self_has_every_key_consul_returns_with_real_values_and_no_secret() {
    let mut cfg = dev_config();
    cfg.enable_script_checks = true;
    cfg.acl.tokens.agent = Some(AGENT_TOKEN.into());
    cfg.raw = json!({"node_meta": {"rack": "r1"}});
    let a = TestAgent::start(cfg).await;

    info!("--- a service with a TTL check, a script check and an HTTP check");
    let reg = json!({"ID": "web1", "Name": "web", "Port": 8080,
                     "Check": {"TTL": "30s", "Status": "passing"}});
    assert_eq!(
        a.put_json("/v1/agent/service/register", reg).await.status(),
        200
    );
    for check in [
        json!({"ID": "script", "Name": "script", "Args": ["true"], "Interval": "30s"}),
        json!({"ID": "http", "Name": "http", "HTTP": format!("{}/v1/status/leader", a.url), "Interval": "30s"}),
    ] {
        let r = a.put_json("/v1/agent/check/register", check).await;
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }

    info!("--- /v1/agent/self");
    let r = a.http.get(a.u("/v1/agent/self")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(
        !text.contains(AGENT_TOKEN),
        "the agent token leaked: {text}"
    );
    let me: Value = serde_json::from_str(&text).unwrap();
    for key in [
        "Config",
        "DebugConfig",
        "Coord",
        "Member",
        "Stats",
        "Meta",
        "xDS",
    ] {
        assert!(me.get(key).is_some(), "{key} in {me}");
    }
    let c = &me["Config"];
    assert_eq!(c["Version"], praetor_api::CONSUL_API_VERSION);
    assert_eq!(c["PraetorVersion"], praetor_api::VERSION);
    assert_eq!(c["Revision"], praetor_agent::version::REVISION);
    assert_eq!(c["BuildDate"], praetor_agent::version::BUILD_DATE);
    assert_eq!(c["NodeName"], "it-node");
    assert_eq!(c["Server"], true);

    let d = &me["DebugConfig"];
    assert_eq!(d["NodeName"], "it-node");
    assert_eq!(d["NodeID"], c["NodeID"]);
    assert_eq!(d["ServerMode"], true);
    assert_eq!(d["DevMode"], true);
    assert_eq!(d["EnableRemoteScriptChecks"], true);
    assert_eq!(d["ACLTokens"]["ACLAgentToken"], "hidden");
    assert_eq!(d["NodeMeta"]["rack"], "r1");

    let coord = &me["Coord"];
    assert_eq!(coord["Vec"].as_array().map(Vec::len), Some(8), "{coord}");
    for key in ["Error", "Adjustment", "Height"] {
        assert!(coord[key].is_number(), "{key} in {coord}");
    }
    assert_eq!(me["Member"]["Name"], "it-node");
    assert_eq!(me["Meta"]["rack"], "r1");
    assert_eq!(me["Meta"]["consul-network-segment"], "");
    assert!(me["xDS"]["SupportedProxies"].is_object(), "{}", me["xDS"]);

    let stats = &me["Stats"];
    for section in ["agent", "build", "runtime", "serf_lan", "raft", "consul"] {
        assert!(stats[section].is_object(), "Stats.{section} in {stats}");
    }
    let agent = &stats["agent"];
    assert_eq!(agent["services"], "1", "{agent}");
    assert_eq!(agent["checks"], "3", "{agent}");
    assert_eq!(agent["check_ttls"], "1", "{agent}");
    assert_eq!(agent["check_monitors"], "1", "{agent}");
    assert_eq!(stats["build"]["version"], praetor_api::CONSUL_API_VERSION);
    assert_eq!(stats["build"]["praetor_version"], praetor_api::VERSION);
    assert_eq!(stats["raft"]["state"], "Leader");
    assert_eq!(stats["serf_lan"]["members"], "1");
    let rt = &stats["runtime"];
    assert!(rt["version"].as_str().unwrap().starts_with("rustc"), "{rt}");
    let tasks: u64 = rt["goroutines"].as_str().unwrap().parse().unwrap();
    assert!(tasks > 0, "{rt}");
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_version_reports_the_build_and_the_consul_api_level() {
    let a = TestAgent::dev().await;
    let v = a.get_json("/v1/agent/version").await;
    assert_eq!(v["HumanVersion"], praetor_api::CONSUL_API_VERSION);
    assert_eq!(v["PraetorVersion"], praetor_api::VERSION);
    assert_eq!(v["SHA"], praetor_agent::version::REVISION);
    assert_eq!(v["BuildDate"], praetor_agent::version::BUILD_DATE);
    assert_eq!(v["FIPS"], "");
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_host_reports_memory_cpus_host_and_root_disk_in_consuls_fields() {
    let a = TestAgent::dev().await;
    let h = a.get_json("/v1/agent/host").await;
    assert_eq!(h["Errors"], Value::Null, "{h}");
    let total = h["Memory"]["total"].as_u64().unwrap();
    assert!(total > 0 && h["Memory"]["available"].as_u64().unwrap() <= total);
    assert!(h["Memory"]["usedPercent"].is_number());
    let cpus = h["CPU"].as_array().unwrap();
    assert!(!cpus.is_empty());
    assert!(cpus[0]["modelName"].is_string() && cpus[0]["cores"] == 1);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(h["Host"]["hostname"], host.trim());
    assert_eq!(h["Host"]["os"], "linux");
    assert!(h["Host"]["bootTime"].as_u64().unwrap() > 0);
    assert_eq!(h["Disk"]["path"], "/");
    assert!(h["Disk"]["total"].as_u64().unwrap() > 0);
    assert!(h["Disk"]["inodesTotal"].is_u64());
    let now_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    let at = h["CollectionTime"].as_i64().unwrap();
    assert!((now_ns - at).abs() < 60_000_000_000, "{at} vs {now_ns}");
    a.shutdown().await;
}

/// Consul's interval: the first summary comes when it ends.
const INTERVAL: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_stream_sends_each_interval_and_a_stalled_reader_blocks_nothing() {
    let a = TestAgent::dev().await;

    info!("--- a reader that never reads, and one that does");
    let stalled = a
        .http
        .get(a.u("/v1/agent/metrics/stream"))
        .timeout(Duration::from_secs(120))
        .send()
        .await
        .unwrap();
    assert_eq!(stalled.status(), 200);
    let started = Instant::now();
    let r = a
        .http
        .get(a.u("/v1/agent/metrics/stream"))
        .timeout(Duration::from_secs(120))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    assert!(a.put("stream/k", "v").await, "writes go on meanwhile");

    info!("--- the first line: the interval that just ended");
    let mut body = r.bytes_stream();
    let mut buf = Vec::new();
    let line = tokio::time::timeout(INTERVAL + Duration::from_secs(10), async {
        loop {
            let chunk = body.next().await.expect("the stream goes on").unwrap();
            buf.extend_from_slice(&chunk);
            if let Some(i) = buf.iter().position(|b| *b == b'\n') {
                return buf[..i].to_vec();
            }
        }
    })
    .await
    .expect("a summary within one interval");
    assert!(started.elapsed() <= INTERVAL + Duration::from_secs(5));
    let v: Value = serde_json::from_slice(&line).unwrap();
    for key in ["Timestamp", "Gauges", "Points", "Counters", "Samples"] {
        assert!(v.get(key).is_some(), "{key} in {v}");
    }
    assert!(
        v["Gauges"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["Name"] == "consul.runtime.alloc_bytes"),
        "the read-now gauges are set for each summary: {v}"
    );

    info!("--- the agent stops at once with both streams open");
    let stopping = Instant::now();
    a.shutdown().await;
    assert!(
        stopping.elapsed() < Duration::from_secs(5),
        "{:?}",
        stopping.elapsed()
    );
    drop(stalled);
}
