//! Snapshots through their files: built straight into a data file, streamed
//! to another state machine in chunks the way openraft sends them, installed
//! there from the received file, reopened after a restart; and the data dir
//! of the previous release (one `state.snap`) loaded and replaced.

use std::io::SeekFrom;
use std::path::Path;

use openraft::storage::{RaftStateMachine, SnapshotMeta};
use openraft::{BasicNode, CommittedLeaderId, EntryPayload, Membership, RaftSnapshotBuilder};
use praetor_store::Command;
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use super::snapshot_dir::SnapshotFile;
use super::state_machine::StateMachine;
use super::{Entry, LogId};

fn log_id(index: u64) -> LogId {
    LogId::new(CommittedLeaderId::new(1, 1), index)
}

/// Entries 1..=n: a membership, then KV writes (some values large enough to
/// span several chunks), one delete and a lock-less overwrite.
fn entries(n: u64) -> Vec<Entry> {
    let mut out = vec![Entry {
        log_id: log_id(1),
        payload: EntryPayload::Membership(Membership::new(
            vec![[1u64].into_iter().collect()],
            [(1u64, BasicNode::new("127.0.0.1:1"))]
                .into_iter()
                .collect::<std::collections::BTreeMap<_, _>>(),
        )),
    }];
    for i in 2..=n {
        let cmd = if i % 17 == 0 {
            Command::KvDelete {
                key: format!("k/{:04}", i - 1),
                cas: None,
            }
        } else {
            Command::KvSet {
                key: format!("k/{:04}", i % 300),
                value: vec![(i % 251) as u8; if i % 50 == 0 { 70_000 } else { 200 }].into(),
                flags: i,
                cas: None,
            }
        };
        out.push(Entry {
            log_id: log_id(i),
            payload: EntryPayload::Normal(cmd),
        });
    }
    out
}

fn store_bytes(sm: &std::sync::Arc<super::state_machine::Shared>) -> Vec<u8> {
    sm.read().store.encode_snapshot().unwrap()
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// The bytes of `data` from its start, read in chunks of `chunk` after a
/// seek to each chunk's offset, as openraft's `Chunked::send_snapshot`
/// does; written into `into` the same way its receiver does.
async fn stream(
    data: &mut super::snapshot_dir::SnapshotData,
    into: &mut super::snapshot_dir::SnapshotData,
    chunk: usize,
) -> u64 {
    let end = data.seek(SeekFrom::End(0)).await.unwrap();
    let mut offset = 0;
    let mut rounds = 0;
    while offset < end {
        rounds += 1;
        assert!(rounds < 10_000, "streaming does not end");
        data.seek(SeekFrom::Start(offset)).await.unwrap();
        let mut buf = Vec::with_capacity(chunk);
        while buf.len() < chunk {
            if data.read_buf(&mut buf).await.unwrap() == 0 {
                break;
            }
        }
        assert!(!buf.is_empty(), "no bytes at {offset} of {end}");
        into.seek(SeekFrom::Start(offset)).await.unwrap();
        into.write_all(&buf).await.unwrap();
        offset += buf.len() as u64;
    }
    into.shutdown().await.unwrap();
    end
}

#[tokio::test]
async fn a_snapshot_is_built_into_a_file_streamed_in_chunks_and_installed_elsewhere() {
    let a_dir = tempfile::tempdir().unwrap();
    let b_dir = tempfile::tempdir().unwrap();
    let (mut a, a_shared) = StateMachine::open(Some(a_dir.path()), 1000).unwrap();
    a.apply(entries(400)).await.unwrap();
    let expected = store_bytes(&a_shared);

    let built = a
        .get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .unwrap();
    assert_eq!(built.meta.last_log_id, Some(log_id(400)));
    let files = names(a_dir.path());
    assert_eq!(files.len(), 2, "one data file and the meta: {files:?}");
    let data_file = files.iter().find(|n| n.ends_with(".bin")).unwrap();
    assert!(
        std::fs::read(a_dir.path().join(data_file)).unwrap() == expected,
        "the data file holds the store's snapshot bytes and nothing else"
    );

    let mut current = a.get_current_snapshot().await.unwrap().unwrap();
    assert_eq!(current.meta, built.meta);
    let (mut b, b_shared) = StateMachine::open(Some(b_dir.path()), 1000).unwrap();
    let mut receiving = b.begin_receiving_snapshot().await.unwrap();
    let len = stream(&mut current.snapshot, &mut receiving, 64 * 1024).await;
    assert_eq!(len, expected.len() as u64);
    assert!(len > 4 * 64 * 1024, "several chunks: {len} bytes");
    b.install_snapshot(&current.meta, receiving).await.unwrap();

    assert!(store_bytes(&b_shared) == expected, "equal stores");
    assert_eq!(
        b.applied_state().await.unwrap().0,
        Some(log_id(400)),
        "the follower's applied state is the snapshot's"
    );
    let mut again = b.get_current_snapshot().await.unwrap().unwrap();
    assert_eq!(again.meta, built.meta);
    let mut bytes = Vec::new();
    again.snapshot.read_to_end(&mut bytes).await.unwrap();
    assert!(bytes == expected, "the follower serves the same bytes");
    assert!(
        names(b_dir.path()).iter().all(|n| !n.ends_with(".tmp")),
        "no temp file is left: {:?}",
        names(b_dir.path())
    );
    drop((a, b));

    // A restart of the follower starts from the installed snapshot.
    let (_b, b_shared) = StateMachine::open(Some(b_dir.path()), 1000).unwrap();
    assert!(store_bytes(&b_shared) == expected, "the restart's store");
    assert_eq!(b_shared.read().last_applied, Some(log_id(400)));
}

#[tokio::test]
async fn a_data_dir_of_the_previous_release_loads_serves_and_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let (mut source, shared) = StateMachine::open(None, 1000).unwrap();
    source.apply(entries(250)).await.unwrap();
    let data = store_bytes(&shared);
    let meta = SnapshotMeta {
        last_log_id: Some(log_id(250)),
        last_membership: shared.read().membership.clone(),
        snapshot_id: "1-250".into(),
    };
    std::fs::write(
        dir.path().join("state.snap"),
        postcard::to_stdvec(&SnapshotFile {
            meta: meta.clone(),
            data: data.clone(),
        })
        .unwrap(),
    )
    .unwrap();

    let (mut sm, loaded) = StateMachine::open(Some(dir.path()), 1000).unwrap();
    assert!(store_bytes(&loaded) == data, "the old snapshot loads");
    assert_eq!(
        sm.applied_state().await.unwrap(),
        (meta.last_log_id, meta.last_membership.clone())
    );
    let mut current = sm.get_current_snapshot().await.unwrap().unwrap();
    assert_eq!(current.meta, meta);
    let mut served = Vec::new();
    current.snapshot.read_to_end(&mut served).await.unwrap();
    assert!(served == data, "its data is served without the old header");
    let mut memory = super::snapshot_dir::SnapshotData::in_memory(Vec::new());
    stream(&mut current.snapshot, &mut memory, 1000).await;

    let mut more = entries(260);
    more.drain(..250);
    sm.apply(more).await.unwrap();
    sm.get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .unwrap();
    let files = names(dir.path());
    assert!(
        files.contains(&"snapshot.meta".to_owned()) && !files.contains(&"state.snap".to_owned()),
        "a new snapshot replaces the old file: {files:?}"
    );
    let expected = store_bytes(&loaded);
    drop(sm);
    let (_sm, reopened) = StateMachine::open(Some(dir.path()), 1000).unwrap();
    assert!(store_bytes(&reopened) == expected, "the reopened store");
    assert_eq!(reopened.read().last_applied, Some(log_id(260)));
}

#[tokio::test]
async fn a_snapshot_older_than_the_current_one_does_not_replace_it() {
    let dir = tempfile::tempdir().unwrap();
    let (mut sm, _shared) = StateMachine::open(Some(dir.path()), 1000).unwrap();
    sm.apply(entries(30)).await.unwrap();
    sm.get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .unwrap();

    let (mut old, _) = StateMachine::open(None, 1000).unwrap();
    old.apply(entries(10)).await.unwrap();
    let older = old
        .get_snapshot_builder()
        .await
        .build_snapshot()
        .await
        .unwrap();
    let mut receiving = sm.begin_receiving_snapshot().await.unwrap();
    let mut from = older.snapshot;
    stream(&mut from, &mut receiving, 4096).await;
    // Only the files are compared here: openraft never installs an older
    // snapshot, but a build racing an install may finish after it.
    let _ = sm.install_snapshot(&older.meta, receiving).await;
    drop(sm);
    let (_sm, reopened) = StateMachine::open(Some(dir.path()), 1000).unwrap();
    assert_eq!(reopened.read().last_applied, Some(log_id(30)));
}
