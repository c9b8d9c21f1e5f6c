//! The state machine adapter: applies committed entries to the pure store,
//! publishes the applied index and wakes the blocking queries whose topics
//! the entries touched (`read::wake`), and builds, saves and installs
//! snapshots (files in the data dir, or memory in dev mode).

// openraft's storage traits fail with its `StorageError` (over 200 bytes);
// the helpers here pass that same error through.
#![allow(clippy::result_large_err)]

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, RwLockReadGuard};

use openraft::storage::{RaftStateMachine, Snapshot, SnapshotMeta};
use openraft::{BasicNode, EntryPayload, RaftSnapshotBuilder, StorageIOError, StoredMembership};
use praetor_store::{Response, Store};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::{Entry, LogId, StorageError, TypeConfig};
use crate::ServerMetrics;

/// What the state machine holds: the store and what Raft needs to know of it.
#[derive(Debug)]
pub struct Applied {
    pub store: Store,
    pub last_applied: Option<LogId>,
    pub membership: StoredMembership<u64, BasicNode>,
}

/// The state shared between the state machine and readers (HTTP handlers).
#[derive(Debug)]
pub struct Shared {
    state: RwLock<Applied>,
    applied_tx: watch::Sender<u64>,
    /// The blocking queries open on this server, by topic.
    wakers: crate::read::Wakers,
    /// Answers blocking queries built at the current index, shared.
    answers: crate::read::Answers,
}

impl Shared {
    /// Read access to the store; hold it briefly and never across an await.
    pub fn read(&self) -> RwLockReadGuard<'_, Applied> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    /// A receiver that changes every time entries are applied; its value is
    /// the store's last index.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.applied_tx.subscribe()
    }

    /// The blocking queries open on this server, by topic.
    pub fn wakers(&self) -> &crate::read::Wakers {
        &self.wakers
    }

    /// The answers blocking queries built at the current index.
    pub fn answers(&self) -> &crate::read::Answers {
        &self.answers
    }

    fn publish(&self, index: u64) {
        self.applied_tx.send_replace(index);
    }
}

/// The snapshot file's header, stored beside the data.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SnapshotFile {
    pub(crate) meta: SnapshotMeta<u64, BasicNode>,
    pub(crate) data: Vec<u8>,
}

/// Where snapshots are kept: a file in the data dir, or memory in dev mode.
#[derive(Debug)]
struct SnapshotSlot {
    dir: Option<PathBuf>,
    memory: std::sync::Mutex<Option<SnapshotFile>>,
}

const SNAPSHOT_FILE: &str = "state.snap";

impl SnapshotSlot {
    /// Keeps `file` as the current snapshot; gives its data back.
    fn save(&self, file: SnapshotFile) -> Result<Vec<u8>, StorageError> {
        let Some(dir) = &self.dir else {
            let data = file.data.clone();
            *self.memory.lock().unwrap_or_else(|p| p.into_inner()) = Some(file);
            return Ok(data);
        };
        let tmp = dir.join(format!("{SNAPSHOT_FILE}.tmp"));
        {
            use std::io::Write;
            let f = std::fs::File::create(&tmp).map_err(write_err)?;
            let mut w = std::io::BufWriter::new(f);
            postcard::to_io(&file, &mut w).map_err(write_err)?;
            w.flush().map_err(write_err)?;
            w.get_ref().sync_all().map_err(write_err)?;
        }
        std::fs::rename(&tmp, dir.join(SNAPSHOT_FILE)).map_err(write_err)?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(file.data)
    }

    fn load(&self) -> Result<Option<SnapshotFile>, std::io::Error> {
        let Some(dir) = &self.dir else {
            return Ok(self
                .memory
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone());
        };
        match std::fs::read(dir.join(SNAPSHOT_FILE)) {
            Ok(bytes) => postcard::from_bytes(&bytes)
                .map(Some)
                .map_err(std::io::Error::other),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

fn read_err(e: impl std::fmt::Display) -> StorageError {
    StorageIOError::read_snapshot(None, &std::io::Error::other(e.to_string())).into()
}

fn write_err(e: impl std::fmt::Display) -> StorageError {
    StorageIOError::write_snapshot(None, &std::io::Error::other(e.to_string())).into()
}

/// The state machine handed to openraft.
pub struct StateMachine {
    shared: Arc<Shared>,
    /// Where the applied index is told to the log store.
    applied_marker: Option<Arc<std::sync::atomic::AtomicU64>>,
    slot: Arc<SnapshotSlot>,
    history_limit: usize,
    /// Times each apply (`consul.raft.fsm.apply`) and notes when each batch
    /// began (for `consul.raft.commitTime`).
    metrics: Option<ServerMetrics>,
}

impl StateMachine {
    /// Records apply times into `metrics`.
    pub fn record_metrics_to(&mut self, metrics: ServerMetrics) {
        self.metrics = Some(metrics);
    }

    /// Tells the log store, through `marker`, how far entries are applied.
    pub fn report_applied_to(&mut self, marker: Arc<std::sync::atomic::AtomicU64>) {
        self.applied_marker = Some(marker);
    }

    /// A state machine whose snapshots live in `snapshot_dir` (or memory),
    /// starting from the snapshot found there.
    ///
    /// # Errors
    /// When a snapshot exists but cannot be read or decoded.
    pub fn open(
        snapshot_dir: Option<&Path>,
        history_limit: usize,
    ) -> Result<(Self, Arc<Shared>), std::io::Error> {
        if let Some(dir) = snapshot_dir {
            std::fs::create_dir_all(dir)?;
        }
        let slot = Arc::new(SnapshotSlot {
            dir: snapshot_dir.map(Path::to_path_buf),
            memory: Default::default(),
        });
        let mut applied = Applied {
            store: Store::new(history_limit),
            last_applied: None,
            membership: StoredMembership::default(),
        };
        if let Some(file) = slot.load()? {
            let mut store = Store::decode_snapshot(&file.data).map_err(std::io::Error::other)?;
            store.set_history_limit(history_limit);
            tracing::info!(index = ?file.meta.last_log_id.map(|l| l.index), "loaded snapshot");
            applied = Applied {
                store,
                last_applied: file.meta.last_log_id,
                membership: file.meta.last_membership,
            };
        }
        let (applied_tx, _) = watch::channel(applied.store.last_index());
        let shared = Arc::new(Shared {
            state: RwLock::new(applied),
            applied_tx,
            wakers: crate::read::Wakers::default(),
            answers: crate::read::Answers::default(),
        });
        Ok((
            StateMachine {
                shared: shared.clone(),
                applied_marker: None,
                slot,
                history_limit,
                metrics: None,
            },
            shared,
        ))
    }
}

/// Builds snapshots from a consistent copy of the store.
pub struct SnapshotBuilder {
    shared: Arc<Shared>,
    slot: Arc<SnapshotSlot>,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let (data, last_applied, membership) = {
            let st = self.shared.read();
            (
                st.store.encode_snapshot().map_err(write_err)?,
                st.last_applied,
                st.membership.clone(),
            )
        };
        let snapshot_id = match last_applied {
            Some(l) => format!("{}-{}", l.leader_id.term, l.index),
            None => "0-0".to_owned(),
        };
        let meta = SnapshotMeta {
            last_log_id: last_applied,
            last_membership: membership,
            snapshot_id,
        };
        let slot = self.slot.clone();
        let file = SnapshotFile {
            meta: meta.clone(),
            data,
        };
        let data = tokio::task::spawn_blocking(move || slot.save(file))
            .await
            .map_err(write_err)??;
        tracing::info!(index = ?last_applied.map(|l| l.index), bytes = data.len(), "snapshot saved");
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId>, StoredMembership<u64, BasicNode>), StorageError> {
        let st = self.shared.read();
        Ok((st.last_applied, st.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Response>, StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let mut out = Vec::new();
        let started = std::time::Instant::now();
        let mut last_entry = None;
        let (last, touched, oldest) = {
            let mut st = self.shared.state.write().unwrap_or_else(|p| p.into_inner());
            for entry in entries {
                let index = entry.log_id.index;
                last_entry = Some(index);
                st.last_applied = Some(entry.log_id);
                match entry.payload {
                    EntryPayload::Blank => {
                        st.store.advance(index);
                        out.push(Response::Applied(true));
                    }
                    EntryPayload::Normal(cmd) => {
                        let _span =
                            tracing::trace_span!("apply", index, kind = cmd.kind()).entered();
                        let one = std::time::Instant::now();
                        out.push(st.store.apply(index, &cmd));
                        if let Some(m) = &self.metrics {
                            m.fsm_applied(one.elapsed());
                        }
                    }
                    EntryPayload::Membership(m) => {
                        st.membership = StoredMembership::new(Some(entry.log_id), m);
                        st.store.advance(index);
                        out.push(Response::Applied(true));
                    }
                }
            }
            let touched = st.store.take_touched();
            (
                st.store.last_index(),
                touched,
                st.store.history().oldest_index(),
            )
        };
        if let (Some(m), Some(index)) = (&self.metrics, last_entry) {
            m.applying(index, started);
        }
        if let Some(m) = &self.applied_marker {
            m.fetch_max(last, std::sync::atomic::Ordering::Release);
        }
        self.shared.publish(last);
        // After the store's lock is released, so the woken read the change.
        self.shared.wakers.wake(&touched, oldest);
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        SnapshotBuilder {
            shared: self.shared.clone(),
            slot: self.slot.clone(),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<u64, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let data = snapshot.into_inner();
        let mut store = Store::decode_snapshot(&data).map_err(read_err)?;
        store.set_history_limit(self.history_limit);
        self.slot.save(SnapshotFile {
            meta: meta.clone(),
            data,
        })?;
        let last = store.last_index();
        {
            let mut st = self.shared.state.write().unwrap_or_else(|p| p.into_inner());
            *st = Applied {
                store,
                last_applied: meta.last_log_id,
                membership: meta.last_membership.clone(),
            };
        }
        tracing::info!(index = ?meta.last_log_id.map(|l| l.index), "snapshot installed");
        self.shared.publish(last);
        self.shared.wakers.wake_all();
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let slot = self.slot.clone();
        let file = tokio::task::spawn_blocking(move || slot.load())
            .await
            .map_err(read_err)?
            .map_err(read_err)?;
        Ok(file.map(|f| Snapshot {
            meta: f.meta,
            snapshot: Box::new(Cursor::new(f.data)),
        }))
    }
}
