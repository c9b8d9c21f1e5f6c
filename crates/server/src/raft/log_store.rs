//! The Raft log and vote. In dev mode they live in memory only. On a server
//! with a data dir, one writer thread commits every queued operation in one
//! fsynced redb transaction (group commit), and openraft is told an append is
//! durable only after that commit.
//!
//! An appended entry stays in memory until it is both committed to redb and
//! applied to the state machine; after that it is read back from redb (only
//! lagging followers need it), so memory holds the entries in flight, not the
//! whole log between snapshots. A reader reads redb first and memory second (memory
//! wins), and an entry leaves memory only after it is in redb, so no read can
//! miss an entry. While a truncation is queued, redb rows at or past it are
//! ignored, since they may be the truncated ones.

// openraft's storage traits fail with its `StorageError` (over 200 bytes);
// the helpers here pass that same error through.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{LogState, RaftLogReader, StorageIOError, Vote};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use tokio::sync::oneshot;

use super::{Entry, LogId, StorageError, TypeConfig};
use crate::ServerMetrics;

const LOGS: TableDefinition<u64, &[u8]> = TableDefinition::new("logs");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const VOTE: &str = "vote";
const COMMITTED: &str = "committed";
const PURGED: &str = "last_purged";
const FORMAT: &str = "format";

/// The log's format: how entries, the vote and log ids are encoded
/// (postcard of openraft's types around store `Command`s, pinned by the
/// golden bytes in `format_tests.rs`). Kept in the meta table; a log
/// without it was written before it was recorded, in format 1. A log of
/// another format is refused at open rather than misread.
pub const LOG_FORMAT: u32 = 1;

/// Bytes of entries one AppendEntries carries at most (a single larger
/// entry goes alone): small enough for a follower to write within a
/// heartbeat interval on a loaded machine.
pub const REPLICATION_BYTES: usize = 1024 * 1024;

#[derive(Debug, Default)]
struct Inner {
    /// Entries not yet committed to redb (dev mode: every unpurged entry).
    entries: BTreeMap<u64, Entry>,
    last_log_id: Option<LogId>,
    last_purged: Option<LogId>,
    vote: Option<Vote<u64>>,
    committed: Option<LogId>,
    /// Queued truncations not yet committed: redb rows at or past the lowest
    /// one are stale until then.
    pending_truncations: Vec<u64>,
    /// The highest index known to be in redb.
    durable_upto: u64,
}

/// One operation for the writer thread, applied in order.
enum Op {
    Append(Vec<(LogId, Vec<u8>)>, LogFlushed<TypeConfig>),
    TruncateFrom(u64),
    PurgeUpTo(u64, Vec<u8>),
    Meta(
        &'static str,
        Vec<u8>,
        Option<oneshot::Sender<std::io::Result<()>>>,
    ),
    /// Close the database (after Raft stopped) and report when it is closed.
    Close(std::sync::mpsc::Sender<()>),
}

/// The database, shared by the writer and readers; `None` once closed.
type Db = Arc<RwLock<Option<Database>>>;

/// The log store handed to openraft; clones share the same log.
#[derive(Clone)]
pub struct LogStore {
    inner: Arc<Mutex<Inner>>,
    /// The state machine's applied index (entries at or below it that are in
    /// redb may leave memory).
    applied: Arc<std::sync::atomic::AtomicU64>,
    durable: Option<(Db, std::sync::mpsc::Sender<Op>)>,
}

fn io_err(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

fn encode<T: serde::Serialize>(v: &T) -> Vec<u8> {
    // Raft types always serialize; a failure here is a bug, not an I/O error.
    postcard::to_stdvec(v).unwrap_or_else(|e| panic!("encoding a raft log record: {e}"))
}

fn lock(inner: &Mutex<Inner>) -> std::sync::MutexGuard<'_, Inner> {
    inner.lock().unwrap_or_else(|p| p.into_inner())
}

impl LogStore {
    /// A log kept only in memory (dev mode): lost when the process stops.
    pub fn in_memory() -> Self {
        LogStore {
            inner: Arc::new(Mutex::new(Inner::default())),
            applied: Default::default(),
            durable: None,
        }
    }

    /// Opens (or creates) the durable log at `path`; its metrics go to
    /// the global recorder.
    ///
    /// # Errors
    /// When the file cannot be opened or a record cannot be decoded.
    pub fn open(path: &Path) -> Result<Self, std::io::Error> {
        Self::open_with(path, ServerMetrics::global())
    }

    /// Opens (or creates) the durable log at `path`, timing each group
    /// commit into `metrics` (`consul.raft.logstore.fsync`).
    ///
    /// # Errors
    /// When the file cannot be opened or a record cannot be decoded.
    pub fn open_with(path: &Path, metrics: ServerMetrics) -> Result<Self, std::io::Error> {
        // Entries are read back rarely (apply, lagging followers); a small
        // cache keeps memory down.
        let db = Database::builder()
            .set_cache_size(4 * 1024 * 1024)
            .create(path)
            .map_err(io_err)?;
        {
            let txn = db.begin_write().map_err(io_err)?;
            txn.open_table(LOGS).map_err(io_err)?;
            {
                let mut meta = txn.open_table(META).map_err(io_err)?;
                let found = match meta.get(FORMAT).map_err(io_err)? {
                    Some(v) => Some(postcard::from_bytes::<u32>(v.value()).map_err(io_err)?),
                    None => None,
                };
                match found {
                    Some(LOG_FORMAT) => {}
                    Some(other) => {
                        return Err(io_err(format!(
                            "the raft log {} is in format {other}; this build reads format \
                             {LOG_FORMAT} (was it written by a newer release?)",
                            path.display()
                        )))
                    }
                    None => {
                        meta.insert(FORMAT, encode(&LOG_FORMAT).as_slice())
                            .map_err(io_err)?;
                    }
                }
            }
            txn.commit().map_err(io_err)?;
        }
        let mut inner = Inner::default();
        {
            let txn = db.begin_read().map_err(io_err)?;
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
            let logs = txn.open_table(LOGS).map_err(io_err)?;
            inner.last_log_id = match logs.last().map_err(io_err)? {
                Some((_, v)) => Some(
                    postcard::from_bytes::<Entry>(v.value())
                        .map_err(io_err)?
                        .log_id,
                ),
                None => inner.last_purged,
            };
        }
        let db: Db = Arc::new(RwLock::new(Some(db)));
        let inner = Arc::new(Mutex::new(inner));
        let (tx, rx) = std::sync::mpsc::channel();
        let applied: Arc<std::sync::atomic::AtomicU64> = Default::default();
        let (w_db, w_inner, w_applied) = (db.clone(), inner.clone(), applied.clone());
        std::thread::Builder::new()
            .name("raft-log-writer".into())
            .spawn(move || run_writer(w_db, w_inner, w_applied, rx, metrics))?;
        Ok(LogStore {
            inner,
            applied,
            durable: Some((db, tx)),
        })
    }

    /// The cell the state machine's applied index is kept in; the server
    /// shares it with the state machine.
    pub fn applied_marker(&self) -> Arc<std::sync::atomic::AtomicU64> {
        self.applied.clone()
    }

    fn send(&self, op: Op) -> Result<(), StorageError> {
        match &self.durable {
            Some((_, w)) => w.send(op).map_err(|_| {
                StorageIOError::write_logs(&io_err("the log writer has stopped")).into()
            }),
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
        if let Some((_, w)) = &self.durable {
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

    /// Committed entries in `range` from redb, below `limit`; with a
    /// `budget`, only the first entries whose encodings add up to at most
    /// that many bytes (at least one).
    fn read_durable(
        db: &Db,
        range: (Bound<u64>, Bound<u64>),
        limit: Option<u64>,
        budget: Option<usize>,
    ) -> Result<Vec<Entry>, std::io::Error> {
        let guard = db.read().unwrap_or_else(|p| p.into_inner());
        let Some(db) = guard.as_ref() else {
            return Ok(Vec::new());
        };
        let txn = db.begin_read().map_err(io_err)?;
        let logs = txn.open_table(LOGS).map_err(io_err)?;
        let mut out = Vec::new();
        let mut bytes = 0usize;
        for row in logs.range::<u64>(range).map_err(io_err)? {
            let (k, v) = row.map_err(io_err)?;
            if limit.is_some_and(|l| k.value() >= l) {
                break;
            }
            bytes += v.value().len();
            if budget.is_some_and(|b| bytes > b) && !out.is_empty() {
                break;
            }
            out.push(postcard::from_bytes::<Entry>(v.value()).map_err(io_err)?);
        }
        Ok(out)
    }

    /// The entries in `bounds`, from memory and redb; with a `budget`,
    /// only a first part of them (`within`).
    fn entries(
        &self,
        bounds: (Bound<u64>, Bound<u64>),
        budget: Option<usize>,
    ) -> Result<Vec<Entry>, StorageError> {
        // The state machine applies entries that are still in memory (an
        // entry leaves it only once applied): answer from memory alone when
        // it holds the whole range, without a redb read.
        if let Some(held) = in_memory(&lock(&self.inner), bounds) {
            return Ok(within(held, budget));
        }
        let mut merged: BTreeMap<u64, Entry> = BTreeMap::new();
        let mut cut = None;
        if let Some((db, _)) = &self.durable {
            // redb first: an entry leaves memory only after it is in redb.
            let limit = lock(&self.inner).pending_truncations.iter().min().copied();
            let rows = Self::read_durable(db, bounds, limit, budget)
                .map_err(|e| StorageIOError::read_logs(&e))?;
            // Cut short by the budget: what memory holds past the last row
            // read would be cut by it too.
            if budget.is_some() {
                cut = rows.last().map(|e| e.log_id.index);
            }
            merged.extend(rows.into_iter().map(|e| (e.log_id.index, e)));
        }
        let inner = lock(&self.inner);
        for (i, e) in inner.entries.range(bounds) {
            if cut.is_some_and(|c| *i > c) && !merged.is_empty() {
                break;
            }
            merged.insert(*i, e.clone());
        }
        // Anything past the last log id was truncated (and maybe not yet from redb).
        let last = inner.last_log_id.map_or(0, |l| l.index);
        let all = merged
            .into_values()
            .filter(|e| e.log_id.index <= last)
            .collect();
        Ok(within(all, budget))
    }
}

/// How long a batch of only unacknowledged metadata (the committed marker
/// openraft saves after every commit) waits for an append to share its
/// transaction before it is written alone. Each commit would otherwise cost
/// a redb transaction of its own, on the leader and on every follower,
/// between the appends of consecutive writes.
const METADATA_WAIT: std::time::Duration = std::time::Duration::from_millis(100);

/// The writer's next batch and whether it is metadata that waited
/// [`METADATA_WAIT`] in vain (or the queue closed): the metadata `held`
/// back (oldest first, so a newer value of the same key wins), then every
/// operation queued; `None` once the queue is closed and nothing is held.
fn next_batch(rx: &std::sync::mpsc::Receiver<Op>, held: &mut Vec<Op>) -> Option<(Vec<Op>, bool)> {
    use std::sync::mpsc::RecvTimeoutError;
    let first = if held.is_empty() {
        rx.recv().ok()?
    } else {
        match rx.recv_timeout(METADATA_WAIT) {
            Ok(op) => op,
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                return Some((std::mem::take(held), true));
            }
        }
    };
    let mut batch = std::mem::take(held);
    batch.push(first);
    while let Ok(more) = rx.try_recv() {
        batch.push(more);
        if batch.len() >= 1024 {
            break;
        }
    }
    Some((batch, false))
}

/// `ops` with only the newest operation of each metadata key (what
/// writing them all in order would leave), so metadata held back stays as
/// small as its keys.
fn newest_per_key(ops: Vec<Op>) -> Vec<Op> {
    let mut out: Vec<Op> = Vec::with_capacity(ops.len());
    for op in ops {
        if let Op::Meta(key, ..) = &op {
            let key = *key;
            out.retain(|o| !matches!(o, Op::Meta(k, ..) if *k == key));
        }
        out.push(op);
    }
    out
}

/// The writer thread: takes every queued operation, writes them in one
/// transaction, commits with fsync, drops committed entries from memory, then
/// reports each append as flushed. A batch of only unacknowledged metadata
/// is held back (at most [`METADATA_WAIT`]) to go with the next append.
fn run_writer(
    db: Db,
    inner: Arc<Mutex<Inner>>,
    applied: Arc<std::sync::atomic::AtomicU64>,
    rx: std::sync::mpsc::Receiver<Op>,
    metrics: ServerMetrics,
) {
    let mut held = Vec::new();
    while let Some((mut batch, waited)) = next_batch(&rx, &mut held) {
        let mut close = None;
        if !waited && !needs_sync(&batch) {
            held = newest_per_key(batch);
            continue;
        }
        if let Some(pos) = batch.iter().position(|op| matches!(op, Op::Close(_))) {
            // Everything after the close is dropped (its senders see an error).
            let rest = batch.split_off(pos);
            if let Some(Op::Close(ack)) = rest.into_iter().next() {
                close = Some(ack);
            }
        }
        // Closing: whatever an unsynced commit left goes to disk now.
        let sync = close.is_some() || needs_sync(&batch);
        let result = {
            let guard = db.read().unwrap_or_else(|p| p.into_inner());
            match guard.as_ref() {
                Some(d) => {
                    let started = std::time::Instant::now();
                    let r = write_batch(d, &batch, sync).map_err(|e| e.to_string());
                    let entries = batch
                        .iter()
                        .map(|op| match op {
                            Op::Append(rows, _) => rows.len(),
                            _ => 0,
                        })
                        .sum();
                    metrics.log_committed(started.elapsed(), entries);
                    r
                }
                None => Err("the log is closed".to_owned()),
            }
        };
        if result.is_ok() {
            let mut st = lock(&inner);
            for op in &batch {
                match op {
                    Op::Append(rows, _) => {
                        if let Some((last, _)) = rows.last() {
                            st.durable_upto = st.durable_upto.max(last.index);
                        }
                    }
                    Op::TruncateFrom(i) => {
                        st.durable_upto = st.durable_upto.min(i.saturating_sub(1));
                        if let Some(pos) = st.pending_truncations.iter().position(|t| t == i) {
                            st.pending_truncations.remove(pos);
                        }
                    }
                    _ => {}
                }
            }
            // Entries both in redb and applied leave memory.
            let done = st
                .durable_upto
                .min(applied.load(std::sync::atomic::Ordering::Acquire));
            if st
                .entries
                .first_key_value()
                .is_some_and(|(i, _)| *i <= done)
            {
                let keep = st.entries.split_off(&(done + 1));
                st.entries = keep;
            }
        }
        for op in batch {
            let r = result.as_ref().map(|_| ()).map_err(io_err);
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
            *db.write().unwrap_or_else(|p| p.into_inner()) = None;
            let _ = ack.send(());
            return;
        }
    }
}

/// Whether `batch` must be on disk when its commit returns: everything but
/// a batch of only unacknowledged metadata (the committed marker, which
/// openraft saves after every commit and which may lag: a lost one only
/// means replaying a little more of the log at start). Such a batch is
/// committed without an fsync and reaches the disk with the next synced
/// commit (the next append), so the marker no longer costs a second fsync
/// per write that the next append would wait behind.
fn needs_sync(batch: &[Op]) -> bool {
    !batch.iter().all(|op| matches!(op, Op::Meta(_, _, None)))
}

fn write_batch(db: &Database, batch: &[Op], sync: bool) -> Result<(), redb::Error> {
    let mut txn = db.begin_write()?;
    if !sync {
        txn.set_durability(redb::Durability::None)?;
    }
    {
        let mut logs = txn.open_table(LOGS)?;
        let mut meta = txn.open_table(META)?;
        for op in batch {
            match op {
                Op::Append(rows, _) => {
                    for (log_id, bytes) in rows {
                        logs.insert(log_id.index, bytes.as_slice())?;
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

/// The first of `entries` whose encodings add up to at most `budget` bytes
/// (at least one); all of them without a budget.
fn within(mut entries: Vec<Entry>, budget: Option<usize>) -> Vec<Entry> {
    let Some(budget) = budget else {
        return entries;
    };
    let mut bytes = 0usize;
    let keep = entries
        .iter()
        .position(|e| {
            bytes += postcard::serialize_with_flavor(e, postcard::ser_flavors::Size::default())
                .unwrap_or(usize::MAX / 2);
            bytes > budget
        })
        .unwrap_or(entries.len())
        .max(1);
    entries.truncate(keep);
    entries
}

/// The entries in `bounds` (up to the last log id) when memory holds every
/// one of them, else `None`. Memory wins over redb for any index it holds,
/// so then this is exactly what reading both would answer.
fn in_memory(inner: &Inner, bounds: (Bound<u64>, Bound<u64>)) -> Option<Vec<Entry>> {
    let last = inner.last_log_id.map_or(0, |l| l.index);
    let start = match bounds.0 {
        Bound::Included(s) => s,
        Bound::Excluded(s) => s.checked_add(1)?,
        Bound::Unbounded => return None,
    };
    let end = match bounds.1 {
        Bound::Included(e) => e.min(last),
        Bound::Excluded(0) => return Some(Vec::new()),
        Bound::Excluded(e) => (e - 1).min(last),
        Bound::Unbounded => last,
    };
    if start > end {
        return Some(Vec::new());
    }
    let held: Vec<Entry> = inner
        .entries
        .range(start..=end)
        .map(|(_, e)| e.clone())
        .collect();
    (held.len() as u64 == end - start + 1).then_some(held)
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        self.entries(
            (range.start_bound().cloned(), range.end_bound().cloned()),
            None,
        )
    }

    /// What one AppendEntries carries: the first entries of `[start, end)`
    /// within `REPLICATION_BYTES` (at least one). openraft gives every
    /// AppendEntries one heartbeat interval to be answered and resends at
    /// once when it is not; a batch of many megabytes that a loaded
    /// follower cannot write in that time would be resent, queued behind
    /// itself, for ever.
    async fn limited_get_log_entries(
        &mut self,
        start: u64,
        end: u64,
    ) -> Result<Vec<Entry>, StorageError> {
        self.entries(
            (Bound::Included(start), Bound::Excluded(end)),
            Some(REPLICATION_BYTES),
        )
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let inner = lock(&self.inner);
        Ok(LogState {
            last_purged_log_id: inner.last_purged,
            last_log_id: inner.last_log_id.or(inner.last_purged),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<u64>) -> Result<(), StorageError> {
        lock(&self.inner).vote = Some(*vote);
        self.save_meta(VOTE, encode(vote))
            .await
            .map_err(|e| StorageIOError::write_vote(&e).into())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<u64>>, StorageError> {
        Ok(lock(&self.inner).vote)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        lock(&self.inner).committed = committed;
        // Not awaited: losing the newest committed marker only means replaying
        // a little more of the log after a crash.
        self.send(Op::Meta(COMMITTED, encode(&committed), None))
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(lock(&self.inner).committed)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        // Encoded before the lock is taken: readers do not wait on it.
        let rows = match self.durable {
            Some(_) => entries.iter().map(|e| (e.log_id, encode(e))).collect(),
            None => Vec::new(),
        };
        {
            let mut inner = lock(&self.inner);
            for entry in entries {
                inner.last_log_id = Some(entry.log_id);
                inner.entries.insert(entry.log_id.index, entry);
            }
        }
        self.send(Op::Append(rows, callback))
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let previous = if log_id.index == 0 {
            None
        } else {
            let prev = log_id.index - 1;
            self.try_get_log_entries(prev..=prev)
                .await?
                .first()
                .map(|e| e.log_id)
        };
        {
            let mut inner = lock(&self.inner);
            inner.entries.split_off(&log_id.index);
            if self.durable.is_some() {
                inner.pending_truncations.push(log_id.index);
            }
            inner.last_log_id = previous.or(inner.last_purged);
        }
        self.send(Op::TruncateFrom(log_id.index))
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        {
            let mut inner = lock(&self.inner);
            let keep = inner.entries.split_off(&(log_id.index + 1));
            inner.entries = keep;
            inner.last_purged = Some(log_id);
            if inner.last_log_id.is_none_or(|l| l.index < log_id.index) {
                inner.last_log_id = Some(log_id);
            }
        }
        self.send(Op::PurgeUpTo(log_id.index, encode(&Some(log_id))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_id(index: u64) -> LogId {
        LogId::new(openraft::CommittedLeaderId::new(1, 1), index)
    }

    fn blank(index: u64) -> Entry {
        Entry {
            log_id: log_id(index),
            payload: openraft::EntryPayload::Blank,
        }
    }

    #[test]
    fn memory_answers_a_range_only_when_it_holds_all_of_it() {
        let mut inner = Inner::default();
        for i in [3, 4, 5, 7] {
            inner.entries.insert(i, blank(i));
        }
        inner.last_log_id = Some(log_id(7));
        let indexes =
            |r: Option<Vec<Entry>>| r.map(|v| v.iter().map(|e| e.log_id.index).collect::<Vec<_>>());
        use Bound::{Excluded, Included, Unbounded};
        assert_eq!(
            indexes(in_memory(&inner, (Included(3), Included(5)))),
            Some(vec![3, 4, 5])
        );
        assert_eq!(
            indexes(in_memory(&inner, (Excluded(3), Excluded(6)))),
            Some(vec![4, 5])
        );
        assert_eq!(
            indexes(in_memory(&inner, (Included(7), Unbounded))),
            Some(vec![7])
        );
        // Past the last log id: nothing, as a read of redb and memory answers.
        assert_eq!(
            indexes(in_memory(&inner, (Included(8), Included(9)))),
            Some(vec![])
        );
        assert_eq!(
            indexes(in_memory(&inner, (Included(5), Excluded(0)))),
            Some(vec![])
        );
        // A gap (6), an index left for redb (2), or no start: redb is read.
        assert_eq!(indexes(in_memory(&inner, (Included(5), Included(7)))), None);
        assert_eq!(indexes(in_memory(&inner, (Included(2), Included(4)))), None);
        assert_eq!(indexes(in_memory(&inner, (Unbounded, Included(4)))), None);
    }

    #[test]
    fn only_a_batch_of_unacknowledged_metadata_skips_the_fsync() {
        let (tx, _rx) = oneshot::channel();
        let committed = || Op::Meta(COMMITTED, Vec::new(), None);
        assert!(!needs_sync(&[committed(), committed()]));
        assert!(needs_sync(&[committed(), Op::TruncateFrom(3)]));
        assert!(needs_sync(&[Op::PurgeUpTo(3, Vec::new())]));
        assert!(needs_sync(&[Op::Meta(VOTE, Vec::new(), Some(tx))]));
    }

    #[tokio::test]
    async fn the_committed_marker_written_without_fsync_survives_a_close() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("raft.db");
        let mut log = LogStore::open(&path).unwrap();
        log.save_committed(Some(log_id(9))).await.unwrap();
        log.close();
        drop(log);
        let mut log = LogStore::open(&path).unwrap();
        assert_eq!(log.read_committed().await.unwrap(), Some(log_id(9)));
        log.close();
    }

    /// The committed marker alone waits for the next write to share its
    /// transaction; alone for `METADATA_WAIT`, it is written anyway; held
    /// markers keep only the newest of each key.
    #[test]
    fn a_lone_committed_marker_waits_for_company_but_not_for_ever() {
        let marker = |n: u8| Op::Meta(COMMITTED, vec![n], None);
        let value = |op: &Op| match op {
            Op::Meta(_, v, _) => v.clone(),
            _ => Vec::new(),
        };
        let (tx, rx) = std::sync::mpsc::channel();
        let mut held = Vec::new();

        tx.send(marker(1)).unwrap();
        tx.send(marker(2)).unwrap();
        let (batch, waited) = next_batch(&rx, &mut held).unwrap();
        assert!(!waited && !needs_sync(&batch));
        held = newest_per_key(batch);
        assert_eq!(held.iter().map(value).collect::<Vec<_>>(), [vec![2]]);

        // A write comes: the marker goes with it, first.
        tx.send(Op::TruncateFrom(5)).unwrap();
        let (batch, waited) = next_batch(&rx, &mut held).unwrap();
        assert!(!waited && needs_sync(&batch));
        assert_eq!(value(&batch[0]), [2]);
        assert!(matches!(batch[1], Op::TruncateFrom(5)));

        // No write comes: written alone after the wait.
        tx.send(marker(3)).unwrap();
        let (batch, _) = next_batch(&rx, &mut held).unwrap();
        held = newest_per_key(batch);
        let started = std::time::Instant::now();
        let (batch, waited) = next_batch(&rx, &mut held).unwrap();
        assert!(waited && started.elapsed() >= METADATA_WAIT);
        assert_eq!(batch.iter().map(value).collect::<Vec<_>>(), [vec![3]]);

        // The queue closes with a marker held: it is still written.
        tx.send(marker(4)).unwrap();
        drop(tx);
        let (batch, _) = next_batch(&rx, &mut held).unwrap();
        held = newest_per_key(batch);
        let (batch, waited) = next_batch(&rx, &mut held).unwrap();
        assert!(waited);
        assert_eq!(value(&batch[0]), [4]);
        assert!(next_batch(&rx, &mut held).is_none());
    }

    fn kv(index: u64, len: usize) -> Entry {
        Entry {
            log_id: log_id(index),
            payload: openraft::EntryPayload::Normal(praetor_store::Command::KvSet {
                key: format!("k{index}"),
                value: vec![7; len].into(),
                flags: 0,
                cas: None,
            }),
        }
    }

    fn indexes(entries: &[Entry]) -> Vec<u64> {
        entries.iter().map(|e| e.log_id.index).collect()
    }

    /// What one AppendEntries carries is cut at `REPLICATION_BYTES`, from
    /// memory and from redb alike, and a larger entry goes alone; a plain
    /// read still gets the whole range.
    #[tokio::test]
    async fn an_append_carries_at_most_its_byte_budget_and_at_least_one_entry() {
        let third = REPLICATION_BYTES / 3 - 64;
        let sizes = [third, third, third, third, 2 * REPLICATION_BYTES, 10];
        let rows: Vec<Entry> = (1..).zip(sizes).map(|(i, len)| kv(i, len)).collect();

        let mut memory = LogStore::in_memory();
        {
            let mut inner = lock(&memory.inner);
            for e in &rows {
                inner.entries.insert(e.log_id.index, e.clone());
            }
            inner.last_log_id = Some(log_id(6));
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("raft.db");
        LogStore::open(&path).unwrap().close();
        {
            let db = Database::open(&path).unwrap();
            let txn = db.begin_write().unwrap();
            {
                let mut logs = txn.open_table(LOGS).unwrap();
                for e in &rows {
                    let bytes = postcard::to_stdvec(e).unwrap();
                    logs.insert(e.log_id.index, bytes.as_slice()).unwrap();
                }
            }
            txn.commit().unwrap();
        }
        let mut durable = LogStore::open(&path).unwrap();

        for log in [&mut memory, &mut durable] {
            let first = log.limited_get_log_entries(1, 7).await.unwrap();
            assert_eq!(indexes(&first), [1, 2, 3]);
            assert_eq!(
                indexes(&log.limited_get_log_entries(4, 7).await.unwrap()),
                [4]
            );
            assert_eq!(
                indexes(&log.limited_get_log_entries(5, 7).await.unwrap()),
                [5]
            );
            assert_eq!(
                indexes(&log.limited_get_log_entries(6, 7).await.unwrap()),
                [6]
            );
            let all = log.try_get_log_entries(1..7).await.unwrap();
            assert_eq!(indexes(&all), [1, 2, 3, 4, 5, 6]);
        }
        durable.close();
    }

    fn stored_format(path: &Path) -> Option<u32> {
        let db = Database::open(path).unwrap();
        let txn = db.begin_read().unwrap();
        let meta = txn.open_table(META).unwrap();
        let v = meta.get(FORMAT).unwrap()?;
        Some(postcard::from_bytes(v.value()).unwrap())
    }

    #[test]
    fn a_log_records_its_format_and_one_of_another_format_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("raft.db");
        let log = LogStore::open(&path).unwrap();
        log.close();
        drop(log);
        assert_eq!(stored_format(&path), Some(LOG_FORMAT));

        // A log from before the format was recorded is format 1 and opens.
        {
            let db = Database::open(&path).unwrap();
            let txn = db.begin_write().unwrap();
            txn.open_table(META).unwrap().remove(FORMAT).unwrap();
            txn.commit().unwrap();
        }
        let log = LogStore::open(&path).unwrap();
        log.close();
        drop(log);
        assert_eq!(stored_format(&path), Some(1));

        {
            let db = Database::open(&path).unwrap();
            let txn = db.begin_write().unwrap();
            txn.open_table(META)
                .unwrap()
                .insert(FORMAT, encode(&(LOG_FORMAT + 1)).as_slice())
                .unwrap();
            txn.commit().unwrap();
        }
        let err = LogStore::open(&path)
            .err()
            .expect("a newer format is refused");
        assert!(
            err.to_string()
                .contains(&format!("in format {}", LOG_FORMAT + 1)),
            "{err}"
        );
    }
}
