//! `GET /v1/agent/monitor` and `GET /v1/agent/debug/tasks` on a dev agent:
//! levels, JSON lines, Consul's 400 for an unknown level, a stream that
//! ends with the agent. Lines are handed to the process's monitor hub
//! directly (the test binary's subscriber is not the agent's layer).

use std::time::Duration;

use praetor_agent::logs::{hub, LogLine};
use tracing::Level;

use crate::TestAgent;

/// Reads the stream until a chunk holding `want` arrives (10 s at most);
/// everything read so far.
async fn read_until(resp: &mut reqwest::Response, want: &str) -> String {
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !seen.contains(want) {
        let chunk = tokio::time::timeout_at(deadline, resp.chunk())
            .await
            .unwrap_or_else(|_| panic!("no {want:?} within 10 s; read: {seen}"))
            .expect("the stream reads");
        match chunk {
            Some(bytes) => seen.push_str(&String::from_utf8_lossy(&bytes)),
            None => panic!("the stream ended before {want:?}; read: {seen}"),
        }
    }
    seen
}

#[tokio::test]
async fn monitor_streams_lines_at_the_asked_level_as_text_or_json() {
    let a = TestAgent::dev().await;

    let bad = a
        .http
        .get(a.u("/v1/agent/monitor?loglevel=loud"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert_eq!(
        bad.text().await.unwrap().trim_end(),
        "Unknown log level: loud"
    );

    let mut warn = a
        .http
        .get(a.u("/v1/agent/monitor?loglevel=WARN"))
        .send()
        .await
        .unwrap();
    assert_eq!(warn.status(), 200);
    let mut json = a
        .http
        .get(a.u("/v1/agent/monitor?logjson"))
        .send()
        .await
        .unwrap();
    assert_eq!(json.status(), 200);
    hub().publish(LogLine::new(Level::INFO, "agent.test", "an info line"));
    hub().publish(LogLine::new(Level::WARN, "agent.test", "a warning line"));

    let text = read_until(&mut warn, "a warning line").await;
    assert!(!text.contains("an info line"), "WARN shows no INFO: {text}");
    assert!(
        text.contains(" [WARN]  agent.test: a warning line\n"),
        "{text}"
    );

    let lines = read_until(&mut json, "a warning line").await;
    let parsed: Vec<serde_json::Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(
        parsed[0]["@level"], "info",
        "the default level is info: {lines}"
    );
    assert_eq!(parsed[0]["@message"], "an info line");
    assert_eq!(parsed[1]["@module"], "agent.test");

    a.shutdown().await;
    let _ = tokio::time::timeout(Duration::from_secs(10), warn.text())
        .await
        .expect("the stream ends when the agent stops");
}

#[tokio::test]
async fn debug_tasks_lists_the_runtime_and_the_threads() {
    let a = TestAgent::dev().await;
    let v: serde_json::Value = a
        .http
        .get(a.u("/v1/agent/debug/tasks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(v["Runtime"]["Workers"].as_u64().unwrap() >= 1, "{v}");
    assert!(v["Runtime"]["AliveTasks"].as_u64().unwrap() >= 1, "{v}");
    let threads = v["Threads"].as_array().unwrap();
    assert!(
        threads
            .iter()
            .all(|t| t["Name"].is_string() && t["State"].is_string()),
        "{v}"
    );
    a.shutdown().await;
}
