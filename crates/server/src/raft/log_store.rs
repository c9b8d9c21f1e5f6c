//! The Raft log and vote. In dev mode they live in memory; on a server with a
//! data dir they are also written to redb by one writer thread that commits
//! every pending operation in one fsynced transaction (group commit), and
//! openraft is told an append is durable only after that commit.
//!
//! Every entry is also kept in memory until purged, so reads never wait for
//! the disk and always see appends in the order they were made.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::ops::RangeBounds;
use std::path::Path;
use std::sync::{Arc, Mutex};

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{LogState, RaftLogReader, StorageIOError, Vote};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use tokio::sync::oneshot;

use super::{Entry, LogId, StorageError, TypeConfig};

const LOGS: TableDefinition<u64, &[u8]> = TableDefinition::new("logs");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const VOTE: &str = "vote";
const COMMITTED: &str = "committed";
const PURGED: &str = "last_purged";

#[derive(Debug, Default)]
struct Inner {
    entries: BTreeMap<u64, Entry>,
    last_purged: Option<LogId>,
    vote: Option<Vote<u64>>,
    committed: Option<LogId>,
}

/// One operation for the writer thread, applied in order.
enum Op {
    Append(Vec<(u64, Vec<u8>)>, LogFlushed<TypeConfig>),
    TruncateFrom(u64),
    PurgeUpTo(u64, Vec<u8>),
    Meta(&'static str, Vec<u8>, Option<oneshot::Sender<std::io::Result<()>>>),
    /// Close the database (after Raft stopped) and report when it is closed.
    Close(std::sync::mpsc::Sender<()>),
}

/// The log store handed to openraft; clones share the same log.
#[derive(Clone)]
pub struct LogStore {
    inner: Arc<Mutex<Inner>>,
    writer: Option<std::sync::mpsc::Sender<Op>>,
}

fn io_err(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

fn encode<T: serde::Serialize>(v: &T) -> Vec<u8> {
    // Raft types always serialize; a failure here is a bug, not an I/O error.
    postcard::to_stdvec(v).unwrap_or_else(|e| panic!("encoding a raft log record: {e}"))
}

impl LogStore {
    /// A log kept only in memory (dev mode): lost when the process stops.
    pub fn in_memory() -> Self {
        LogStore { inner: Arc::new(Mutex::new(Inner::default())), writer: None }
    }

    /// Opens (or creates) the durable log at `path` and loads it.
    ///
    /// # Errors
    /// When the file cannot be opened or a record cannot be decoded.
    pub fn open(path: &Path) -> Result<Self, std::io::Error> {
        let db = Database::create(path).map_err(io_err)?;
        {
            let txn = db.begin_write().map_err(io_err)?;
            txn.open_table(LOGS).map_err(io_err)?;
            txn.open_table(META).map_err(io_err)?;
            txn.commit().map_err(io_err)?;
        }
        let mut inner = Inner::default();
        {
            let txn = db.begin_read().map_err(io_err)?;
            let logs = txn.open_table(LOGS).map_err(io_err)?;
            for row in logs.iter().map_err(io_err)? {
                let (k, v) = row.map_err(io_err)?;
                let entry: Entry = postcard::from_bytes(v.value()).map_err(io_err)?;
                inner.entries.insert(k.value(), entry);
            }
            let meta = txn.open_table(META).map_err(io_err)?;
            if let Some(v) = meta.get(VOTE).map_err(io_err)? {
                inner.vote = Some(postcard::from_bytes(v.value()).map_err(io_err)?);
            }
            if let Some(v) = meta.get(COMMITTED).map_err(io_err)? {
                inner.committed = postcard::from_bytes(v.value()).map_err(io_err)?;
            }
            if let Some(v) = meta.get(PURGED).map_err(io_err)? {
                inner.last_purged = postcard::from_bytes(v.value()).map_err(io_err)?;
            }
        }
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::Builder::new().name("raft-log-writer".into()).spawn(move || run_writer(db, rx))?;
        Ok(LogStore { inner: Arc::new(Mutex::new(inner)), writer: Some(tx) })
    }

    fn send(&self, op: Op) -> Result<(), StorageError> {
        match &self.writer {
            Some(w) => w.send(op).map_err(|_| StorageIOError::write_logs(&io_err("the log writer has stopped")).into()),
            None => {
                match op {
                    Op::Append(_, cb) => cb.log_io_completed(Ok(())),
                    Op::Meta(_, _, Some(done)) => {
                        let _ = done.send(Ok(()));
                    }
                    _ => {}
                }
                Ok(())
            }
        }
    }

    /// Closes the database file once every queued write is done, so the same
    /// data dir can be opened again in this process. Later writes fail.
    pub fn close(&self) {
        if let Some(w) = &self.writer {
            let (tx, rx) = std::sync::mpsc::channel();
            if w.send(Op::Close(tx)).is_ok() {
                let _ = rx.recv_timeout(std::time::Duration::from_secs(10));
            }
        }
    }

    async fn save_meta(&self, key: &'static str, bytes: Vec<u8>) -> Result<(), std::io::Error> {
        let (tx, rx) = oneshot::channel();
        self.send(Op::Meta(key, bytes, Some(tx))).map_err(io_err)?;
        rx.await.map_err(io_err)?
    }
}

/// The writer thread: takes every queued operation, writes them in one
/// transaction, commits with fsync, then reports each append as flushed.
fn run_writer(db: Database, rx: std::sync::mpsc::Receiver<Op>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        let mut close = None;
        while let Ok(more) = rx.try_recv() {
            batch.push(more);
            if batch.len() >= 1024 {
                break;
            }
        }
        if let Some(pos) = batch.iter().position(|op| matches!(op, Op::Close(_))) {
            // Everything after the close is dropped (its senders see an error).
            let rest = batch.split_off(pos);
            if let Some(Op::Close(ack)) = rest.into_iter().next() {
                close = Some(ack);
            }
        }
        let result = write_batch(&db, &batch);
        for op in batch {
            let r = result.as_ref().map(|_| ()).map_err(|e| io_err(e));
            match op {
                Op::Append(_, cb) => cb.log_io_completed(r),
                Op::Meta(_, _, Some(done)) => {
                    let _ = done.send(r);
                }
                _ => {}
            }
        }
        if let Err(e) = result {
            tracing::error!(error = %e, "writing the raft log failed; this server must stop");
            return;
        }
        if let Some(ack) = close {
            drop(db);
            let _ = ack.send(());
            return;
        }
    }
}

fn write_batch(db: &Database, batch: &[Op]) -> Result<(), redb::Error> {
    let txn = db.begin_write()?;
    {
        let mut logs = txn.open_table(LOGS)?;
        let mut meta = txn.open_table(META)?;
        for op in batch {
            match op {
                Op::Append(rows, _) => {
                    for (i, bytes) in rows {
                        logs.insert(*i, bytes.as_slice())?;
                    }
                }
                Op::TruncateFrom(i) => {
                    logs.retain_in(*i.., |_, _| false)?;
                }
                Op::PurgeUpTo(i, purged) => {
                    logs.retain_in(..=*i, |_, _| false)?;
                    meta.insert(PURGED, purged.as_slice())?;
                }
                Op::Meta(key, bytes, _) => {
                    meta.insert(*key, bytes.as_slice())?;
                }
                Op::Close(_) => {}
            }
        }
    }
    txn.commit()?;
    Ok(())
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        Ok(inner.entries.range(range).map(|(_, e)| e.clone()).collect())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let last = inner.entries.values().next_back().map(|e| e.log_id).or(inner.last_purged);
        Ok(LogState { last_purged_log_id: inner.last_purged, last_log_id: last })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<u64>) -> Result<(), StorageError> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).vote = Some(*vote);
        self.save_meta(VOTE, encode(vote)).await.map_err(|e| StorageIOError::write_vote(&e).into())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<u64>>, StorageError> {
        Ok(self.inner.lock().unwrap_or_else(|p| p.into_inner()).vote)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).committed = committed;
        // Not awaited: losing the newest committed marker only means replaying
        // a little more of the log after a crash.
        self.send(Op::Meta(COMMITTED, encode(&committed), None))
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self.inner.lock().unwrap_or_else(|p| p.into_inner()).committed)
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let durable = self.writer.is_some();
        let mut rows = Vec::new();
        {
            let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            for entry in entries {
                if durable {
                    rows.push((entry.log_id.index, encode(&entry)));
                }
                inner.entries.insert(entry.log_id.index, entry);
            }
        }
        self.send(Op::Append(rows, callback))
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        {
            let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            inner.entries.split_off(&log_id.index);
        }
        self.send(Op::TruncateFrom(log_id.index))
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        {
            let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            let keep = inner.entries.split_off(&(log_id.index + 1));
            inner.entries = keep;
            inner.last_purged = Some(log_id);
        }
        self.send(Op::PurgeUpTo(log_id.index, encode(&Some(log_id))))
    }
}
