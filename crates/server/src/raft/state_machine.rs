//! The state machine adapter: applies committed entries to the pure store,
//! publishes the applied index and wakes the blocking queries whose topics
//! the entries touched (`read::wake`), and builds, saves and installs
//! snapshots (files in the data dir, or memory in dev mode).

// openraft's storage traits fail with its `StorageError` (over 200 bytes);
// the helpers here pass that same error through.
#![allow(clippy::result_large_err)]

use std::path::Path;
use std::sync::{Arc, RwLock, RwLockReadGuard};

use openraft::storage::{RaftStateMachine, Snapshot, SnapshotMeta};
use openraft::{BasicNode, EntryPayload, RaftSnapshotBuilder, StorageIOError, StoredMembership};
use praetor_store::{Command, Response, Store};
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
    /// Taken (asynchronously) before `state`'s write lock, and held by a
    /// snapshot build while it encodes under `state`'s read lock: a write
    /// waits for the encode here, on the async runtime, and not in the
    /// lock, where a waiting writer would stop every reader too (std's
    /// `RwLock` lets no new reader in while a writer waits). Order: this,
    /// then `state`.
    writing: tokio::sync::Mutex<()>,
    applied_tx: watch::Sender<u64>,
    /// The blocking queries open on this server, by topic.
    wakers: crate::read::Wakers,
    /// Answers blocking queries built at the current index, shared.
    answers: crate::read::Answers,
}

impl Shared {
    /// Encodes the replicated state (`Store::encode_state_to`: what `GET
    /// /v1/snapshot` saves) into `file`, as a snapshot build does: on a
    /// blocking thread, under the store's read lock, with applies waiting
    /// in `writing`. Answers the file, the index the state is at, and the
    /// encoding's size and CRC-32.
    ///
    /// # Errors
    /// When writing the file fails.
    pub(crate) async fn save_state(
        self: &Arc<Self>,
        file: std::fs::File,
    ) -> Result<(std::fs::File, u64, u64, u32), crate::ServerError> {
        let writing = self.writing.lock().await;
        let shared = self.clone();
        let saved = tokio::task::spawn_blocking(move || {
            let st = shared.read();
            let index = st.store.last_index();
            let summing = crate::export::Summing {
                inner: std::io::BufWriter::with_capacity(1 << 20, file),
                len: 0,
                crc: crc32fast::Hasher::new(),
            };
            let crate::export::Summing { inner, len, crc } = st
                .store
                .encode_state_to(summing)
                .map_err(|e| e.to_string())?;
            drop(st);
            let file = inner.into_inner().map_err(|e| e.error().to_string())?;
            Ok::<_, String>((file, index, len, crc.finalize()))
        })
        .await;
        drop(writing);
        match saved {
            Ok(Ok(saved)) => Ok(saved),
            Ok(Err(e)) => Err(crate::ServerError::Remote(format!("saving the state: {e}"))),
            Err(e) => Err(crate::ServerError::Remote(format!("saving the state: {e}"))),
        }
    }

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

use super::snapshot_dir::{SnapshotData, SnapshotDir};

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
    slot: Arc<SnapshotDir>,
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
        let slot = Arc::new(SnapshotDir::open(snapshot_dir)?);
        let mut applied = Applied {
            store: Store::new(history_limit),
            last_applied: None,
            membership: StoredMembership::default(),
        };
        let started = std::time::Instant::now();
        if let Some((meta, mut store)) = slot.load(Store::decode_snapshot)? {
            store.set_history_limit(history_limit);
            tracing::info!(
                index = ?meta.last_log_id.map(|l| l.index),
                keys = store.kv().len(),
                ms = started.elapsed().as_millis() as u64,
                "loaded snapshot"
            );
            applied = Applied {
                store,
                last_applied: meta.last_log_id,
                membership: meta.last_membership,
            };
        }
        let (applied_tx, _) = watch::channel(applied.store.last_index());
        let shared = Arc::new(Shared {
            state: RwLock::new(applied),
            writing: tokio::sync::Mutex::new(()),
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

/// Builds snapshots of the store as it is at one index.
pub struct SnapshotBuilder {
    shared: Arc<Shared>,
    slot: Arc<SnapshotDir>,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    /// Encodes the store straight into a new file (memory in dev mode) on
    /// a blocking thread, under the store's read lock: readers go on, and
    /// applies wait for the encode in `Shared::writing` (a copy of a
    /// million-key store would cost as much time under the lock and as
    /// much memory again). Then syncs the file and makes it the current
    /// snapshot, after the applies are let go.
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let gate = self.shared.clone();
        let writing = gate.writing.lock().await;
        let (shared, slot) = (self.shared.clone(), self.slot.clone());
        let started = std::time::Instant::now();
        let (meta, built) = tokio::task::spawn_blocking(move || {
            let st = shared.read();
            let last_applied = st.last_applied;
            let meta = SnapshotMeta {
                last_log_id: last_applied,
                last_membership: st.membership.clone(),
                snapshot_id: match last_applied {
                    Some(l) => format!("{}-{}", l.leader_id.term, l.index),
                    None => "0-0".to_owned(),
                },
            };
            let built = slot.build(|w| st.store.encode_snapshot_to(w).map(|_| ()))?;
            Ok::<_, super::snapshot_dir::SnapshotDirError>((meta, built))
        })
        .await
        .map_err(write_err)?
        .map_err(write_err)?;
        drop(writing);
        let encoded = started.elapsed();
        let slot = self.slot.clone();
        let m = meta.clone();
        let data = tokio::task::spawn_blocking(move || slot.commit(&m, built))
            .await
            .map_err(write_err)?
            .map_err(write_err)?;
        tracing::info!(
            index = ?meta.last_log_id.map(|l| l.index),
            encode_ms = encoded.as_millis() as u64,
            total_ms = started.elapsed().as_millis() as u64,
            "snapshot saved"
        );
        Ok(Snapshot {
            meta,
            snapshot: Box::new(data),
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
        let writing = self.shared.writing.lock().await;
        let started = std::time::Instant::now();
        let mut last_entry = None;
        // What a restore replaced, freed after the lock is released.
        let mut garbage = Vec::new();
        let mut entries = entries.into_iter().peekable();
        let (last, touched, oldest) = loop {
            // The costly part of a restore's commit, its decode, is done
            // before the store's lock is taken (`writing` keeps any other
            // write out): readers go on, and no runtime thread stalls.
            let prepared = match entries.peek() {
                Some(Entry {
                    payload: EntryPayload::Normal(Command::RestoreCommit { id, size, crc32 }),
                    ..
                }) => {
                    let (size, crc32) = (*size, *crc32);
                    let staged = self.shared.read().store.staged_restore(*id);
                    match staged {
                        Some(pieces) => Some(
                            tokio::task::spawn_blocking(move || pieces.decode(size, crc32))
                                .await
                                .map_err(write_err)?,
                        ),
                        None => None,
                    }
                }
                _ => None,
            };
            let mut st = self.shared.state.write().unwrap_or_else(|p| p.into_inner());
            let mut prepared = prepared;
            let mut taken = 0usize;
            // A commit is applied first in a round (the one prepared for,
            // if it could be), never after other entries.
            while let Some(entry) = entries.next_if(|e| {
                let commit = matches!(
                    e.payload,
                    EntryPayload::Normal(Command::RestoreCommit { .. })
                );
                let take = !commit || taken == 0;
                taken += usize::from(take);
                take
            }) {
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
                        let answer = match prepared.take() {
                            Some(p) if matches!(cmd, Command::RestoreCommit { .. }) => {
                                let (answer, old) = st.store.apply_prepared(index, &cmd, p);
                                garbage.extend(old);
                                answer
                            }
                            other => {
                                prepared = other;
                                st.store.apply(index, &cmd)
                            }
                        };
                        out.push(answer);
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
            if entries.peek().is_none() {
                let touched = st.store.take_touched();
                break (
                    st.store.last_index(),
                    touched,
                    st.store.history().oldest_index(),
                );
            }
        };
        drop(writing);
        if !garbage.is_empty() {
            tokio::task::spawn_blocking(move || drop(garbage));
        }
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

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<SnapshotData>, StorageError> {
        Ok(Box::new(
            self.slot.begin_receiving().await.map_err(write_err)?,
        ))
    }

    /// Decodes the received snapshot from its file (mapped, on a blocking
    /// thread), makes it the current snapshot, then swaps the store; the
    /// old store is dropped after the lock is released.
    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<u64, BasicNode>,
        snapshot: Box<SnapshotData>,
    ) -> Result<(), StorageError> {
        let started = std::time::Instant::now();
        let limit = self.history_limit;
        let (store, built) = self
            .slot
            .receive(*snapshot, move |bytes| {
                Store::decode_snapshot(bytes).map(|mut store| {
                    store.set_history_limit(limit);
                    store
                })
            })
            .await
            .map_err(read_err)?;
        let slot = self.slot.clone();
        let m = meta.clone();
        tokio::task::spawn_blocking(move || slot.commit(&m, built))
            .await
            .map_err(write_err)?
            .map_err(write_err)?;
        let last = store.last_index();
        let keys = store.kv().len();
        let old = {
            let _writing = self.shared.writing.lock().await;
            let mut st = self.shared.state.write().unwrap_or_else(|p| p.into_inner());
            std::mem::replace(
                &mut *st,
                Applied {
                    store,
                    last_applied: meta.last_log_id,
                    membership: meta.last_membership.clone(),
                },
            )
        };
        tracing::info!(
            index = ?meta.last_log_id.map(|l| l.index),
            keys,
            ms = started.elapsed().as_millis() as u64,
            "snapshot installed"
        );
        self.shared.publish(last);
        self.shared.wakers.wake_all();
        // Freeing a large store takes a while: not on the runtime.
        tokio::task::spawn_blocking(move || drop(old));
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let current = self.slot.open_current().await.map_err(read_err)?;
        Ok(current.map(|(meta, data)| Snapshot {
            meta,
            snapshot: Box::new(data),
        }))
    }
}
