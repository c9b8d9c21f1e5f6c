//! A durable server restarts from its snapshot file and the log entries
//! after it: every write is back, with its index, and the snapshot files
//! are in the layout this build writes (a data file and `snapshot.meta`).

use std::time::Duration;

mod common;

use common::set;

async fn durable(dir: &std::path::Path) -> common::Started {
    let dir = dir.to_path_buf();
    let started = common::start(1, true, move |cfg| {
        cfg.data_dir = Some(dir);
        cfg.snapshot_threshold = 40;
        cfg.trailing_logs = 5;
    })
    .await;
    assert!(started.addr.starts_with("127.0.0.1:"), "RPC on loopback");
    started
}

async fn wait_leader(s: &praetor_server::Server) {
    praetor_testwait::wait_until(Duration::from_secs(10), "a leader", || {
        praetor_testwait::check(s.is_leader(), || "not the leader yet".into())
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_starts_from_the_snapshot_file_and_replays_the_log_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let snapshots = dir.path().join("raft/snapshots");
    let first = durable(dir.path()).await;
    wait_leader(&first.server).await;
    let mut last = 0;
    for i in 0..130 {
        last = first
            .server
            .write(set(&format!("r/{i:03}"), &format!("v{i}")))
            .await
            .unwrap()
            .0;
    }
    praetor_testwait::wait_until(Duration::from_secs(10), "a snapshot file", || {
        let meta = snapshots.join("snapshot.meta").exists();
        praetor_testwait::check(meta, || "no snapshot.meta yet".into())
    })
    .await
    .unwrap();
    first.stop.cancel();
    first.server.shutdown().await;
    drop(first);

    let names: Vec<String> = std::fs::read_dir(&snapshots)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names
            .iter()
            .any(|n| n.starts_with("data-") && n.ends_with(".bin"))
            && !names
                .iter()
                .any(|n| n == "state.snap" || n.ends_with(".tmp")),
        "one data file beside the meta: {names:?}"
    );

    let second = durable(dir.path()).await;
    praetor_testwait::wait_until(Duration::from_secs(10), "the log replayed", || {
        let at = second.server.shared().read().store.last_index();
        praetor_testwait::check(at >= last, || format!("applied up to {at} of {last}"))
    })
    .await
    .unwrap();
    {
        let st = second.server.shared().read();
        let kv = st.store.kv();
        assert_eq!(kv.len(), 130);
        assert_eq!(kv.get("r/129").map(|e| e.modify_index), Some(last));
        assert_eq!(kv.get("r/000").map(|e| &e.value[..]), Some(&b"v0"[..]));
    }
    wait_leader(&second.server).await;
    second.server.write(set("r/after", "x")).await.unwrap();
    second.stop.cancel();
    second.server.shutdown().await;
}
