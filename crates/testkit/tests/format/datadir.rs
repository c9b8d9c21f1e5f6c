//! A data dir written by the previous release (a Raft snapshot, log entries
//! after it, the vote and the node ID) is read by this build: KV entries
//! with their flags, indexes and locks, sessions, the catalog's nodes,
//! services and checks, and user events all read back as that release
//! wrote them. The state is listed in `scripts/golden-datadir.sh`.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, ensure, Context as _};
use praetor_testkit::{init_tracing, secs, wait_for, AgentProcess, Loopback};
use serde_json::Value;
use tracing::info;

/// The fixture and its manifest, at the repository root.
fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/golden")
        .join(name)
}

/// `key: value` lines of the fixture's manifest.
fn manifest_value(manifest: &str, key: &str) -> anyhow::Result<String> {
    manifest
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}: ")))
        .map(|v| v.trim().to_owned())
        .ok_or_else(|| anyhow!("{key} missing from the fixture's manifest"))
}

async fn get(agent: &AgentProcess, path: &str) -> anyhow::Result<(u64, Value)> {
    let r = agent
        .http()
        .get(agent.url(path))
        .send()
        .await
        .with_context(|| format!("GET {path}"))?;
    let status = r.status();
    let index = r
        .headers()
        .get("X-Consul-Index")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let body = r.text().await?;
    ensure!(
        status.is_success() || status == 404,
        "GET {path}: {status} {body}"
    );
    let value = if status == 404 || body.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&body).with_context(|| format!("GET {path}: {body}"))?
    };
    Ok((index, value))
}

/// The one entry of `GET /v1/kv/<key>`.
async fn kv(agent: &AgentProcess, key: &str) -> anyhow::Result<Value> {
    let (_, v) = get(agent, &format!("/v1/kv/{key}")).await?;
    Ok(v.get(0).cloned().unwrap_or(Value::Null))
}

fn b64(s: &str) -> Value {
    use base64::Engine as _;
    Value::String(base64::engine::general_purpose::STANDARD.encode(s))
}

#[tokio::test]
async fn a_data_dir_written_by_the_previous_release_reads_back_in_full() -> anyhow::Result<()> {
    init_tracing();
    let manifest = std::fs::read_to_string(golden("datadir-release.txt"))?;
    let session = manifest_value(&manifest, "session")?;
    let last_index: u64 = manifest_value(&manifest, "last_index")?.parse()?;
    let snapshot_index: u64 = manifest_value(&manifest, "snapshot_index")?.parse()?;
    ensure!(
        snapshot_index < last_index,
        "the fixture must hold log entries after its snapshot"
    );

    info!("--- unpack the previous release's data dir and start this build on it");
    let lo = Loopback::allocate()?;
    let builder = AgentProcess::server(&lo)?.arg("-node=golden");
    let tar = std::process::Command::new("tar")
        .arg("-xzf")
        .arg(golden("datadir-release.tar.gz"))
        .arg("-C")
        .arg(builder.dir())
        .status()
        .context("running tar")?;
    ensure!(tar.success(), "tar -xzf failed: {tar}");
    ensure!(
        builder
            .data_dir()
            .join("raft/snapshots/state.snap")
            .exists(),
        "the fixture has a snapshot"
    );
    let agent = builder.start().await?;

    assert!(
        agent.log().contains("loaded snapshot"),
        "the server starts from the old release's snapshot file:\n{}",
        agent.log_tail(20)
    );

    info!("--- the log after the snapshot was replayed");
    let after = wait_for(secs(20), "the entry after the snapshot", || async {
        let (index, v) = get(&agent, "/v1/kv/golden/after-snapshot")
            .await
            .map_err(|e| e.to_string())?;
        if v.is_null() {
            return Err(format!("not there yet (index {index})"));
        }
        Ok((index, v))
    })
    .await?;
    assert_eq!(after.1[0]["Flags"], 9);
    assert_eq!(after.1[0]["Value"], b64("written after the snapshot"));
    assert_eq!(after.0, last_index, "the key keeps its ModifyIndex");

    info!("--- KV: values, flags, indexes, locks, deletes");
    let flags = kv(&agent, "golden/flags").await?;
    assert_eq!(
        (&flags["Flags"], &flags["Value"]),
        (&Value::from(42), &b64("forty-two"))
    );
    assert_eq!(
        kv(&agent, "golden/plain").await?["Value"],
        b64("plain value")
    );
    assert_eq!(kv(&agent, "golden/empty").await?["Value"], Value::Null);
    let cas = kv(&agent, "golden/cas").await?;
    assert_eq!(cas["Value"], b64("second"));
    assert!(cas["ModifyIndex"].as_u64() > cas["CreateIndex"].as_u64());
    assert!(
        kv(&agent, "golden/gone").await?.is_null(),
        "a deleted key stays deleted"
    );
    assert!(
        kv(&agent, "golden/delete-me").await?.is_null(),
        "the key of the destroyed delete-behaviour session is gone"
    );
    for (key, value) in [("golden/txn/a", "a"), ("golden/txn/b", "b")] {
        let e = kv(&agent, key).await?;
        assert_eq!(
            (&e["Flags"], &e["Value"]),
            (&Value::from(7), &b64(value)),
            "{key}"
        );
        assert_eq!(
            e["ModifyIndex"],
            kv(&agent, "golden/txn/a").await?["ModifyIndex"]
        );
    }
    let lock = kv(&agent, "golden/lock").await?;
    assert_eq!(lock["Session"], Value::String(session.clone()));
    assert_eq!(
        (&lock["LockIndex"], &lock["Value"]),
        (&Value::from(1), &b64("held"))
    );
    let (_, fillers) = get(&agent, "/v1/kv/golden/filler/?keys").await?;
    assert!(
        fillers.as_array().is_some_and(|k| !k.is_empty()),
        "filler keys: {fillers}"
    );

    info!("--- sessions");
    let (_, info) = get(&agent, &format!("/v1/session/info/{session}")).await?;
    let s = &info[0];
    assert_eq!(s["Name"], "golden-lock");
    assert_eq!(s["Node"], "golden");
    assert_eq!(s["Behavior"], "release");
    assert_eq!(s["TTL"], "3600s");
    assert_eq!(s["LockDelay"], 15_000_000_000u64);
    assert_eq!(s["NodeChecks"], serde_json::json!(["serfHealth"]));
    let (_, list) = get(&agent, "/v1/session/list").await?;
    assert_eq!(
        list.as_array().map(Vec::len),
        Some(1),
        "only golden-lock is left: {list}"
    );

    info!("--- catalog: nodes, services, checks");
    let (_, nodes) = get(&agent, "/v1/catalog/nodes").await?;
    let mut names: Vec<&str> = nodes
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n["Node"].as_str())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["golden", "web-host"], "old-host was deregistered");
    let (_, node) = get(&agent, "/v1/catalog/node/web-host").await?;
    assert_eq!(node["Node"]["Address"], "10.1.2.3");
    assert_eq!(node["Node"]["Datacenter"], "dc1");
    assert_eq!(
        node["Node"]["TaggedAddresses"],
        serde_json::json!({"lan": "10.1.2.3", "wan": "198.51.100.3"})
    );
    assert_eq!(node["Node"]["Meta"], serde_json::json!({"rack": "r1"}));
    let services = &node["Services"];
    let mut ids: Vec<&String> = services
        .as_object()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    ids.sort_unstable();
    assert_eq!(ids, ["db-1", "web-1"], "gone-1 was deregistered");
    let web = &services["web-1"];
    assert_eq!(web["Service"], "web");
    assert_eq!(web["Tags"], serde_json::json!(["v1", "primary", "canary"]));
    assert_eq!(web["Address"], "10.1.2.4");
    assert_eq!(web["Port"], 8080);
    assert_eq!(web["Meta"], serde_json::json!({"version": "1"}));
    assert_eq!(
        web["Weights"],
        serde_json::json!({"Passing": 5, "Warning": 2})
    );
    assert_eq!(services["db-1"]["Port"], 5432);
    let (_, checks) = get(&agent, "/v1/health/node/web-host").await?;
    let check = |id: &str| {
        checks
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["CheckID"] == id)
            .cloned()
            .unwrap_or(Value::Null)
    };
    let disk = check("disk");
    assert_eq!(
        (&disk["Name"], &disk["Status"]),
        (&Value::from("Disk"), &Value::from("passing"))
    );
    assert_eq!(disk["ServiceID"], "");
    let http = check("web-http");
    assert_eq!(http["Status"], "warning");
    assert_eq!(http["Notes"], "slow");
    assert_eq!(http["Output"], "HTTP 200 in 900ms");
    assert_eq!(
        (&http["ServiceID"], &http["ServiceName"]),
        (&Value::from("web-1"), &Value::from("web"))
    );
    let (_, serf) = get(&agent, "/v1/health/node/golden").await?;
    assert!(
        serf.as_array()
            .into_iter()
            .flatten()
            .any(|c| c["CheckID"] == "serfHealth"),
        "the server's own node keeps its serfHealth check: {serf}"
    );

    info!("--- user events, in order");
    let (_, events) = get(&agent, "/v1/event/list?name=deploy").await?;
    let events = events.as_array().cloned().unwrap_or_default();
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0]["Payload"], b64("v1"));
    assert_eq!(events[0]["NodeFilter"], "gold.*");
    assert_eq!(events[1]["Payload"], b64("v2"));
    assert!(events[0]["LTime"].as_u64() <= Some(snapshot_index));
    assert!(events[1]["LTime"].as_u64() > Some(snapshot_index));

    info!("--- and the store takes new writes on top");
    let r = agent
        .http()
        .put(agent.url("/v1/kv/golden/new"))
        .body("new")
        .send()
        .await?;
    ensure!(r.status() == 200, "PUT after the upgrade: {}", r.status());
    let (index, _) = get(&agent, "/v1/kv/golden/new").await?;
    assert!(index > last_index, "new writes continue the old log");

    agent.shutdown().await?;
    Ok(())
}
