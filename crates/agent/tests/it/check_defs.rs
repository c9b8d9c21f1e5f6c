//! Check definitions in every form Consul's agent accepts them, through the
//! HTTP API, and TTL checks expiring on time.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::TestAgent;

/// The status `/v1/agent/checks` shows for `id`.
async fn agent_status(a: &TestAgent, id: &str) -> String {
    let v = a.get_json("/v1/agent/checks").await;
    v[id]["Status"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checks_take_nanosecond_numbers_and_short_intervals_through_the_api() {
    let a = TestAgent::dev().await;

    tracing::info!("--- a TTL as nanoseconds, as Consul's api package sends it");
    let r = a
        .put_json(
            "/v1/agent/check/register",
            json!({"Name": "n-ttl", "TTL": 30_000_000_000u64, "Status": "passing"}),
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    assert_eq!(agent_status(&a, "n-ttl").await, "passing");

    tracing::info!("--- a service whose checks give an interval under 1s and numbers");
    let r = a
        .put_json(
            "/v1/agent/service/register",
            json!({"Name": "fast", "Port": 1,
                   "Checks": [
                       {"CheckID": "fast-tcp", "TCP": "127.0.0.1:1", "Interval": "500ms",
                        "Timeout": 100_000_000u64},
                       {"CheckID": "fast-ttl", "TTL": "1m30s",
                        "DeregisterCriticalServiceAfter": 600_000_000_000u64}]}),
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    let checks = a.get_json("/v1/agent/checks").await;
    assert_eq!(checks["fast-tcp"]["Type"], "tcp");
    assert_eq!(checks["fast-ttl"]["Type"], "ttl");

    tracing::info!("--- a zero interval is still refused, in Consul's words");
    let r = a
        .put_json(
            "/v1/agent/check/register",
            json!({"Name": "zero", "TCP": "127.0.0.1:1", "Interval": 0}),
        )
        .await;
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("Interval must be > 0"));
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ttl_check_goes_critical_within_a_tenth_of_its_ttl_after_its_last_pass() {
    let a = TestAgent::dev().await;
    let ttl = Duration::from_secs(2);
    let r = a
        .put_json(
            "/v1/agent/check/register",
            json!({"Name": "beat", "TTL": "2s", "Status": "passing"}),
        )
        .await;
    assert_eq!(r.status(), 200);

    tracing::info!("--- pass, then watch the status until it turns critical");
    let sent = Instant::now();
    assert_eq!(a.put_empty("/v1/agent/check/pass/beat").await.status(), 200);
    let done = Instant::now();
    // Each observation: when its request started and ended, and the status.
    let mut seen: Vec<(Duration, Duration, String)> = Vec::new();
    let deadline = done + ttl * 3;
    while Instant::now() < deadline {
        let start = sent.elapsed();
        let status = agent_status(&a, "beat").await;
        seen.push((start, sent.elapsed(), status.clone()));
        if status == "critical" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let last = seen.last().cloned();
    assert!(
        last.as_ref().is_some_and(|(_, _, s)| s == "critical"),
        "never went critical; last seen {last:?}"
    );
    // The TTL restarted after `sent`: nothing read before sent + TTL may
    // be critical.
    for (_, end, status) in &seen {
        if *end < ttl {
            assert_eq!(status, "passing", "critical before its TTL: {seen:?}");
        }
    }
    // And it restarted before `done`: nothing read after done + 1.1 TTL may
    // still be passing.
    let late = (done - sent) + ttl.mul_f64(1.1);
    for (start, _, status) in &seen {
        if *start > late {
            assert_eq!(status, "critical", "still passing past 1.1 × TTL: {seen:?}");
        }
    }
    a.shutdown().await;
}

/// The `Type` of `id` in a list of checks.
fn type_of(list: &serde_json::Value, id: &str) -> Option<String> {
    list.as_array()?
        .iter()
        .find(|c| c["CheckID"] == id)?
        .get("Type")?
        .as_str()
        .map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checks_type_is_shown_by_the_health_endpoints_as_by_the_agent() {
    let a = TestAgent::dev().await;
    let r = a
        .put_json(
            "/v1/agent/service/register",
            json!({"ID": "web1", "Name": "web", "Port": 1,
                   "Checks": [
                       {"CheckID": "web-ttl", "TTL": "60s", "Status": "passing"},
                       {"CheckID": "web-tcp", "TCP": "127.0.0.1:1", "Interval": "10s"}]}),
        )
        .await;
    assert_eq!(r.status(), 200);

    tracing::info!("--- anti-entropy carries each check's Type to the catalog");
    let node = a.get_json("/v1/agent/self").await["Config"]["NodeName"]
        .as_str()
        .unwrap()
        .to_owned();
    praetor_testwait::wait_for(
        Duration::from_secs(10),
        "typed checks in the catalog",
        || {
            let a = &a;
            async move {
                let checks = a.get_json("/v1/health/checks/web").await;
                match (type_of(&checks, "web-ttl"), type_of(&checks, "web-tcp")) {
                    (Some(t), Some(p)) if t == "ttl" && p == "tcp" => Ok(()),
                    _ => Err(checks.to_string()),
                }
            }
        },
    )
    .await
    .unwrap();
    let entries = a.get_json("/v1/health/service/web").await;
    assert_eq!(
        type_of(&entries[0]["Checks"], "web-ttl").as_deref(),
        Some("ttl")
    );
    let on_node = a.get_json(&format!("/v1/health/node/{node}")).await;
    assert_eq!(type_of(&on_node, "web-tcp").as_deref(), Some("tcp"));

    tracing::info!("--- a catalog register's Check.Type is kept too");
    let r = a
        .put_json(
            "/v1/catalog/register",
            json!({"Node": "ext", "Address": "10.9.9.9",
                   "Check": {"CheckID": "ext-http", "Name": "ext", "Status": "passing",
                             "Type": "http"}}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let ext = a.get_json("/v1/health/node/ext").await;
    assert_eq!(type_of(&ext, "ext-http").as_deref(), Some("http"), "{ext}");
    a.shutdown().await;
}
