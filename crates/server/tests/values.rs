//! A KV value travels from the command a server is given to its store
//! without another copy: the proposer, the Raft log's memory and the state
//! machine pass on the same buffer, and the store and its history keep it.
//! (The durable log encodes its own copy: that one the log needs.) The
//! agent's part, from the HTTP body to the command, is tested with its
//! `Value` extractor.

use bytes::Bytes;
use praetor_store::Command;

#[allow(dead_code)] // each test file uses part of it
mod common;

/// Whether `a` and `b` are views of the same memory (not equal copies).
fn same_buffer(a: &[u8], b: &[u8]) -> bool {
    a.as_ptr() == b.as_ptr() && a.len() == b.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_written_value_reaches_the_store_and_its_history_without_a_copy() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_path_buf();
    let common::Started { server, stop, .. } = common::start(1, true, |cfg| {
        cfg.data_dir = Some(data_dir);
    })
    .await;
    let s = server.clone();
    praetor_testwait::wait_until(std::time::Duration::from_secs(10), "a leader", || {
        praetor_testwait::check(s.is_leader(), || "not yet".into())
    })
    .await
    .unwrap();

    // Alone, and batched with concurrent writes (the proposer joins them
    // into one `Command::Batch` entry).
    let values: Vec<Bytes> = (0..8u8)
        .map(|i| Bytes::from(vec![i; 1000 + usize::from(i)]))
        .collect();
    let writes = values.iter().enumerate().map(|(i, v)| {
        server.write(Command::KvSet {
            key: format!("k/{i}"),
            value: v.clone(),
            flags: 0,
            cas: None,
        })
    });
    for r in futures::future::join_all(writes).await {
        r.unwrap();
    }
    {
        let shared = server.shared().read();
        for (i, v) in values.iter().enumerate() {
            let key = format!("k/{i}");
            let stored = &shared.store.kv().get(&key).expect("the key").value;
            assert!(same_buffer(stored, v), "{key}: the store holds a copy");
            let change = shared.store.history().of_key(&key, 1)[0];
            let kept = &change.entry.as_ref().expect("a set").value;
            assert!(same_buffer(kept, v), "{key}: the history holds a copy");
        }
    }
    stop.cancel();
    server.shutdown().await;
}
