//! A durable server keeps every acknowledged write across restarts, through
//! snapshots and log compaction, history included.

use praetor_agent::config::RuntimeConfig;

use crate::{dev_config, TestAgent};

fn durable(dir: &std::path::Path) -> RuntimeConfig {
    let mut cfg = dev_config();
    cfg.dev = false;
    cfg.bootstrap_expect = 1;
    cfg.data_dir = Some(dir.to_path_buf());
    cfg.raft_snapshot_threshold = 50;
    cfg.raft_trailing_logs = 10;
    cfg
}

#[tokio::test]
async fn restart_keeps_writes_across_snapshots_and_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let a = TestAgent::start(durable(dir.path())).await;
    for i in 0..300 {
        assert!(a.put(&format!("d/{i:03}"), &format!("v{i}")).await);
    }
    a.http.delete(a.u("/v1/kv/d/000")).send().await.unwrap();
    let node_id = a.agent.server().unwrap().id();
    a.shutdown().await;
    assert!(
        dir.path().join("raft/snapshots/snapshot.meta").exists(),
        "a snapshot was written"
    );

    let b = TestAgent::start(durable(dir.path())).await;
    assert_eq!(
        b.agent.server().unwrap().id(),
        node_id,
        "the node id is kept in the data dir"
    );
    let keys: Vec<String> = b
        .http
        .get(b.u("/v1/kv/d/?keys"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(keys.len(), 299);
    assert_eq!(keys[0], "d/001");
    let r = b.http.get(b.u("/v1/kv/d/299?raw")).send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), "v299");
    // History survives too: a watch from an early index still works or says compacted.
    let r = b
        .http
        .get(b.u("/v1/watch/kv/d/?index=1"))
        .send()
        .await
        .unwrap();
    assert!(r.status() == 200 || r.status() == 410);
    b.put("after", "restart").await;
    b.shutdown().await;
}
