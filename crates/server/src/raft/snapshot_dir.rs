//! The snapshot files: where the current snapshot's store bytes and its
//! Raft meta are kept, how a new one replaces it, how its bytes are read
//! without loading them into one buffer, and the data dir the previous
//! release wrote. Owns every file under the snapshots dir (or the copy kept
//! in memory in dev mode); never encodes or decodes the store itself and
//! never takes the store's lock (the state machine does both).
//!
//! On disk (`<data dir>/raft/snapshots/`):
//! - `data-<n>.bin`: the store's snapshot bytes as `Store::encode_snapshot`
//!   writes them, nothing around them, so openraft streams them to a
//!   follower in chunks straight from the file.
//! - `snapshot.meta`: postcard of `MetaFile`, the Raft meta and which data
//!   file it describes. It is the commit point: written to a temp file,
//!   fsynced and renamed over the old one, then the directory is fsynced;
//!   only then are older data files removed.
//! - `build-<n>.tmp`, `recv-<n>.tmp`: a snapshot being written or received;
//!   removed at open (a crash left them).
//! - `state.snap`: the previous release's layout, postcard of `SnapshotFile`
//!   (meta and data in one file). Read in place when there is no
//!   `snapshot.meta` (its data is one range of the file), removed once a
//!   new snapshot is committed.

// openraft's storage traits fail with its `StorageError` (over 200 bytes);
// the helpers here pass that same error through.
#![allow(clippy::result_large_err)]

use std::io::{Cursor, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use openraft::storage::SnapshotMeta;
use openraft::BasicNode;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncSeek, AsyncWrite, ReadBuf};

/// The Raft meta of a snapshot as this server keeps it.
pub type Meta = SnapshotMeta<u64, BasicNode>;

/// The previous release's snapshot file (`state.snap`): the meta and the
/// store's bytes in one postcard record. Still read at open; pinned by the
/// golden bytes in `format_tests.rs`. Only tests write it now; loading
/// reads it in place (`SnapshotFileRef`).
#[cfg(test)]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SnapshotFile {
    pub(crate) meta: Meta,
    pub(crate) data: Vec<u8>,
}

/// `SnapshotFile` decoded in place: `data` borrows the mapped file (a
/// `Vec<u8>` and a byte slice are the same bytes in postcard).
#[derive(Deserialize)]
struct SnapshotFileRef<'a> {
    meta: Meta,
    #[serde(borrow)]
    data: &'a [u8],
}

/// `snapshot.meta`: which data file holds the current snapshot, and its
/// Raft meta. Pinned by the golden bytes in `format_tests.rs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct MetaFile {
    /// `META_FORMAT`; a file of another format is refused at open.
    pub(crate) format: u32,
    pub(crate) meta: Meta,
    /// The data file's name in the snapshots dir.
    pub(crate) data_file: String,
    /// The data file's length in bytes.
    pub(crate) data_len: u64,
}

/// The layout of `snapshot.meta` and the data files it names.
pub(crate) const META_FORMAT: u32 = 1;
const META_NAME: &str = "snapshot.meta";
const LEGACY_NAME: &str = "state.snap";
/// Buffer between the encoder and a data file.
const WRITE_BUFFER: usize = 1 << 20;

/// What failed with the snapshot files.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotDirError {
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("reading {path}: {source}")]
    Decode {
        path: PathBuf,
        source: postcard::Error,
    },
    #[error("{path} is in format {found}; this build reads format {META_FORMAT}")]
    Format { path: PathBuf, found: u32 },
}

impl From<SnapshotDirError> for std::io::Error {
    fn from(e: SnapshotDirError) -> Self {
        std::io::Error::other(e.to_string())
    }
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> SnapshotDirError {
    let path = path.to_path_buf();
    move |source| SnapshotDirError::Io { what, path, source }
}

/// Where the current snapshot's bytes are.
#[derive(Debug, Clone)]
enum Source {
    /// `len` bytes from `start` to the end of the file at `path`.
    File { path: PathBuf, start: u64 },
    /// Dev mode.
    Memory(Arc<Vec<u8>>),
}

#[derive(Debug, Clone)]
struct Current {
    meta: Meta,
    source: Source,
}

/// A snapshot's bytes as openraft reads, writes and seeks them: a file in
/// the snapshots dir (built here, being received, or the previous release's
/// `state.snap` from the offset where its data begins), or memory in dev
/// mode.
#[derive(Debug)]
pub struct SnapshotData(Data);

#[derive(Debug)]
enum Data {
    File {
        file: tokio::fs::File,
        /// Where the snapshot's bytes begin in the file; seeks are relative
        /// to it (the bytes run to the end of the file).
        start: u64,
        /// A file this server is receiving into (`recv-<n>.tmp`).
        receiving: Option<PathBuf>,
    },
    Memory(Cursor<Vec<u8>>),
}

impl SnapshotData {
    /// Snapshot bytes held in memory.
    pub fn in_memory(bytes: Vec<u8>) -> Self {
        SnapshotData(Data::Memory(Cursor::new(bytes)))
    }
}

impl AsyncRead for SnapshotData {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match &mut self.get_mut().0 {
            Data::File { file, .. } => Pin::new(file).poll_read(cx, buf),
            Data::Memory(c) => Pin::new(c).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for SnapshotData {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match &mut self.get_mut().0 {
            Data::File { file, .. } => Pin::new(file).poll_write(cx, buf),
            Data::Memory(c) => Pin::new(c).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match &mut self.get_mut().0 {
            Data::File { file, .. } => Pin::new(file).poll_flush(cx),
            Data::Memory(c) => Pin::new(c).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match &mut self.get_mut().0 {
            Data::File { file, .. } => Pin::new(file).poll_shutdown(cx),
            Data::Memory(c) => Pin::new(c).poll_shutdown(cx),
        }
    }
}

impl AsyncSeek for SnapshotData {
    fn start_seek(self: Pin<&mut Self>, pos: SeekFrom) -> std::io::Result<()> {
        match &mut self.get_mut().0 {
            Data::File { file, start, .. } => {
                let pos = match pos {
                    SeekFrom::Start(n) => SeekFrom::Start(start.saturating_add(n)),
                    other => other,
                };
                Pin::new(file).start_seek(pos)
            }
            Data::Memory(c) => Pin::new(c).start_seek(pos),
        }
    }

    fn poll_complete(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<u64>> {
        match &mut self.get_mut().0 {
            Data::File { file, start, .. } => {
                let start = *start;
                Pin::new(file)
                    .poll_complete(cx)
                    .map_ok(|p| p.saturating_sub(start))
            }
            Data::Memory(c) => Pin::new(c).poll_complete(cx),
        }
    }
}

/// A data file written by `build` and not yet committed.
pub(crate) struct Pending {
    tmp: PathBuf,
    seq: u64,
}

/// The snapshots dir (or memory in dev mode) and the current snapshot.
#[derive(Debug)]
pub struct SnapshotDir {
    dir: Option<PathBuf>,
    current: Mutex<Option<Current>>,
    /// Held while a snapshot is committed, so two commits (a build and an
    /// install) do not interleave.
    committing: Mutex<()>,
    next_seq: AtomicU64,
}

/// The sequence number in a file name `<prefix><n><suffix>`.
fn seq_of(name: &str, prefix: &str, suffix: &str) -> Option<u64> {
    name.strip_prefix(prefix)?
        .strip_suffix(suffix)?
        .parse()
        .ok()
}

fn sync_dir(dir: &Path) -> Result<(), SnapshotDirError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("syncing the directory", dir))
}

/// Maps `file` read-only.
fn map(file: &std::fs::File, path: &Path) -> Result<memmap2::Mmap, SnapshotDirError> {
    // SAFETY: snapshot files are never written after they are renamed into
    // place (new snapshots go to new files), and a file being received is
    // mapped only after its last write; so the mapping does not change
    // under the borrow. Another process truncating the file would fault
    // the read, as it would corrupt any other read of the data dir.
    unsafe { memmap2::Mmap::map(file) }.map_err(io("mapping", path))
}

impl SnapshotDir {
    /// The snapshots kept in `dir` (created if missing), or in memory.
    /// Removes what a crash left half-written.
    ///
    /// # Errors
    /// When the directory cannot be created or listed.
    pub fn open(dir: Option<&Path>) -> Result<Self, SnapshotDirError> {
        let mut next = 1;
        if let Some(dir) = dir {
            std::fs::create_dir_all(dir).map_err(io("creating", dir))?;
            for entry in std::fs::read_dir(dir).map_err(io("listing", dir))? {
                let entry = entry.map_err(io("listing", dir))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.ends_with(".tmp") {
                    let _ = std::fs::remove_file(entry.path());
                } else if let Some(n) = seq_of(&name, "data-", ".bin") {
                    next = next.max(n + 1);
                }
            }
        }
        Ok(SnapshotDir {
            dir: dir.map(Path::to_path_buf),
            current: Mutex::new(None),
            committing: Mutex::new(()),
            next_seq: AtomicU64::new(next),
        })
    }

    fn current(&self) -> Option<Current> {
        self.current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn set_current(&self, c: Current) {
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = Some(c);
    }

    /// Finds the current snapshot (this layout, or the previous release's
    /// `state.snap`) and hands its bytes to `decode` without reading them
    /// into one buffer: the file is mapped, and unmapped when `decode`
    /// returns. `None` when there is no snapshot.
    ///
    /// # Errors
    /// When a snapshot file cannot be read, is of an unknown format, or
    /// `decode` fails.
    pub fn load<T, E: std::fmt::Display>(
        &self,
        decode: impl FnOnce(&[u8]) -> Result<T, E>,
    ) -> Result<Option<(Meta, T)>, std::io::Error> {
        let Some(dir) = &self.dir else {
            let Some(c) = self.current() else {
                return Ok(None);
            };
            let Source::Memory(bytes) = &c.source else {
                return Ok(None);
            };
            let value = decode(bytes).map_err(|e| std::io::Error::other(e.to_string()))?;
            return Ok(Some((c.meta, value)));
        };
        let meta_path = dir.join(META_NAME);
        let (meta, path, legacy) = match std::fs::read(&meta_path) {
            Ok(bytes) => {
                let m: MetaFile =
                    postcard::from_bytes(&bytes).map_err(|source| SnapshotDirError::Decode {
                        path: meta_path.clone(),
                        source,
                    })?;
                if m.format != META_FORMAT {
                    return Err(SnapshotDirError::Format {
                        path: meta_path,
                        found: m.format,
                    }
                    .into());
                }
                (m.meta, dir.join(&m.data_file), false)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let legacy = dir.join(LEGACY_NAME);
                if !legacy.exists() {
                    return Ok(None);
                }
                // The meta is read from the mapped file below.
                (Meta::default(), legacy, true)
            }
            Err(e) => return Err(io("reading", &meta_path)(e).into()),
        };
        let file = std::fs::File::open(&path).map_err(io("opening", &path))?;
        let mapped = map(&file, &path)?;
        let (meta, data, start) = match legacy {
            false => (meta, &mapped[..], 0),
            true => {
                let old: SnapshotFileRef<'_> =
                    postcard::from_bytes(&mapped).map_err(|source| SnapshotDirError::Decode {
                        path: path.clone(),
                        source,
                    })?;
                let start = (old.data.as_ptr() as usize - mapped.as_ptr() as usize) as u64;
                if start + old.data.len() as u64 != mapped.len() as u64 {
                    return Err(std::io::Error::other(format!(
                        "{}: bytes after the snapshot's data",
                        path.display()
                    )));
                }
                (old.meta, old.data, start)
            }
        };
        let value = decode(data).map_err(|e| {
            std::io::Error::other(format!("decoding the snapshot in {}: {e}", path.display()))
        })?;
        drop(mapped);
        self.set_current(Current {
            meta: meta.clone(),
            source: Source::File { path, start },
        });
        Ok(Some((meta, value)))
    }

    fn next_path(&self, prefix: &str) -> Option<(PathBuf, u64)> {
        let dir = self.dir.as_ref()?;
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        Some((dir.join(format!("{prefix}{seq}.tmp")), seq))
    }

    /// Writes a new snapshot's bytes with `encode` (given a buffered
    /// writer), into a new data file, not yet the current snapshot
    /// (`commit` makes it so); in dev mode, into memory.
    ///
    /// # Errors
    /// When the file cannot be written or `encode` fails.
    pub(crate) fn build<E: std::fmt::Display>(
        &self,
        encode: impl FnOnce(&mut dyn Write) -> Result<(), E>,
    ) -> Result<Built, SnapshotDirError> {
        let Some((tmp, seq)) = self.next_path("build-") else {
            let mut bytes = Vec::new();
            encode(&mut bytes).map_err(|e| SnapshotDirError::Io {
                what: "encoding a snapshot into",
                path: "memory".into(),
                source: std::io::Error::other(e.to_string()),
            })?;
            return Ok(Built::Memory(bytes));
        };
        let file = std::fs::File::create(&tmp).map_err(io("creating", &tmp))?;
        let mut w = std::io::BufWriter::with_capacity(WRITE_BUFFER, file);
        encode(&mut w).map_err(|e| SnapshotDirError::Io {
            what: "encoding a snapshot into",
            path: tmp.clone(),
            source: std::io::Error::other(e.to_string()),
        })?;
        w.flush().map_err(io("writing", &tmp))?;
        Ok(Built::File(Pending { tmp, seq }))
    }

    /// Makes `built` the current snapshot, described by `meta`, unless the
    /// current one is newer (a snapshot installed while this one was being
    /// built); gives its bytes to read.
    ///
    /// # Errors
    /// When a file cannot be written, synced, renamed or opened.
    pub(crate) fn commit(
        &self,
        meta: &Meta,
        built: Built,
    ) -> Result<SnapshotData, SnapshotDirError> {
        let pending = match built {
            Built::Memory(bytes) => {
                let _g = self.committing.lock().unwrap_or_else(|p| p.into_inner());
                if !self.is_newer_than_current(meta) {
                    return Ok(SnapshotData::in_memory(bytes));
                }
                let bytes = Arc::new(bytes);
                self.set_current(Current {
                    meta: meta.clone(),
                    source: Source::Memory(bytes.clone()),
                });
                return Ok(SnapshotData::in_memory(bytes.to_vec()));
            }
            Built::File(p) => p,
        };
        let dir = self.dir.clone().unwrap_or_default();
        let file = std::fs::File::open(&pending.tmp).map_err(io("opening", &pending.tmp))?;
        file.sync_all().map_err(io("syncing", &pending.tmp))?;
        let data_len = file.metadata().map_err(io("reading", &pending.tmp))?.len();
        let _g = self.committing.lock().unwrap_or_else(|p| p.into_inner());
        if !self.is_newer_than_current(meta) {
            // Readable until the handle closes.
            let _ = std::fs::remove_file(&pending.tmp);
            return Ok(read_only(file, 0));
        }
        let data_file = format!("data-{}.bin", pending.seq);
        let data_path = dir.join(&data_file);
        std::fs::rename(&pending.tmp, &data_path).map_err(io("renaming", &pending.tmp))?;
        let record = MetaFile {
            format: META_FORMAT,
            meta: meta.clone(),
            data_file: data_file.clone(),
            data_len,
        };
        let meta_tmp = dir.join(format!("{META_NAME}.tmp"));
        {
            let mut f = std::fs::File::create(&meta_tmp).map_err(io("creating", &meta_tmp))?;
            let bytes =
                postcard::to_stdvec(&record).map_err(|source| SnapshotDirError::Decode {
                    path: meta_tmp.clone(),
                    source,
                })?;
            f.write_all(&bytes).map_err(io("writing", &meta_tmp))?;
            f.sync_all().map_err(io("syncing", &meta_tmp))?;
        }
        std::fs::rename(&meta_tmp, dir.join(META_NAME)).map_err(io("renaming", &meta_tmp))?;
        sync_dir(&dir)?;
        self.set_current(Current {
            meta: meta.clone(),
            source: Source::File {
                path: data_path,
                start: 0,
            },
        });
        self.remove_old(&dir, &data_file);
        Ok(read_only(file, 0))
    }

    fn is_newer_than_current(&self, meta: &Meta) -> bool {
        self.current()
            .is_none_or(|c| c.meta.last_log_id <= meta.last_log_id)
    }

    /// Removes the data files other than `keep` and the previous release's
    /// file, once `keep` is committed. A reader that has one open keeps
    /// reading it.
    fn remove_old(&self, dir: &Path, keep: &str) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let old_data = name != keep && seq_of(&name, "data-", ".bin").is_some();
            if old_data || name == LEGACY_NAME {
                if let Err(e) = std::fs::remove_file(entry.path()) {
                    tracing::warn!(file = %entry.path().display(), error = %e, "removing an old snapshot file");
                }
            }
        }
    }

    /// The current snapshot's meta and its bytes to read, streamed from its
    /// file; `None` when there is none.
    ///
    /// # Errors
    /// When its file cannot be opened.
    pub async fn open_current(&self) -> Result<Option<(Meta, SnapshotData)>, SnapshotDirError> {
        let Some(c) = self.current() else {
            return Ok(None);
        };
        let data = match c.source {
            Source::Memory(bytes) => SnapshotData::in_memory(bytes.to_vec()),
            Source::File { path, start } => {
                let mut file = tokio::fs::File::open(&path)
                    .await
                    .map_err(io("opening", &path))?;
                tokio::io::AsyncSeekExt::seek(&mut file, SeekFrom::Start(start))
                    .await
                    .map_err(io("reading", &path))?;
                SnapshotData(Data::File {
                    file,
                    start,
                    receiving: None,
                })
            }
        };
        Ok(Some((c.meta, data)))
    }

    /// A new file to receive a snapshot's bytes into (memory in dev mode).
    /// Removes any earlier receive left unfinished (openraft receives one
    /// snapshot at a time).
    ///
    /// # Errors
    /// When the file cannot be created.
    pub async fn begin_receiving(&self) -> Result<SnapshotData, SnapshotDirError> {
        let Some((path, _)) = self.next_path("recv-") else {
            return Ok(SnapshotData::in_memory(Vec::new()));
        };
        if let Some(dir) = &self.dir {
            if let Ok(entries) = std::fs::read_dir(dir) {
                for entry in entries.flatten() {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    if name.starts_with("recv-") && entry.path() != path {
                        let _ = std::fs::remove_file(entry.path());
                    }
                }
            }
        }
        let file = tokio::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .await
            .map_err(io("creating", &path))?;
        Ok(SnapshotData(Data::File {
            file,
            start: 0,
            receiving: Some(path),
        }))
    }

    /// Takes received snapshot bytes as a new snapshot not yet committed,
    /// and hands them to `decode` (mapped, not read into one buffer). Bytes
    /// that are not a file received here (openraft's own tests hand over a
    /// snapshot's data directly) are first copied into one.
    ///
    /// # Errors
    /// When the bytes cannot be written, synced or mapped, or `decode` fails.
    pub(crate) async fn receive<T, E: std::fmt::Display>(
        &self,
        data: SnapshotData,
        decode: impl FnOnce(&[u8]) -> Result<T, E> + Send + 'static,
    ) -> Result<(T, Built), std::io::Error>
    where
        T: Send + 'static,
    {
        let decode_err = |e: E| std::io::Error::other(format!("decoding a received snapshot: {e}"));
        let pending = match (data.0, self.next_path("recv-")) {
            (
                Data::File {
                    file,
                    receiving: Some(path),
                    ..
                },
                _,
            ) => {
                let seq = path
                    .file_name()
                    .and_then(|n| seq_of(&n.to_string_lossy(), "recv-", ".tmp"))
                    .unwrap_or(0);
                (file.into_std().await, Pending { tmp: path, seq })
            }
            (Data::Memory(c), None) => {
                let bytes = c.into_inner();
                let value = decode(&bytes).map_err(decode_err)?;
                return Ok((value, Built::Memory(bytes)));
            }
            (other, None) => {
                let bytes = read_all(SnapshotData(other)).await?;
                let value = decode(&bytes).map_err(decode_err)?;
                return Ok((value, Built::Memory(bytes)));
            }
            (other, Some((tmp, seq))) => {
                let mut src = SnapshotData(other);
                let mut dst = tokio::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create_new(true)
                    .open(&tmp)
                    .await
                    .map_err(io("creating", &tmp))?;
                tokio::io::AsyncSeekExt::seek(&mut src, SeekFrom::Start(0)).await?;
                tokio::io::copy(&mut src, &mut dst).await?;
                tokio::io::AsyncWriteExt::flush(&mut dst).await?;
                (dst.into_std().await, Pending { tmp, seq })
            }
        };
        let (file, pending) = pending;
        tokio::task::spawn_blocking(move || {
            file.sync_all().map_err(io("syncing", &pending.tmp))?;
            let mapped = map(&file, &pending.tmp)?;
            let value = decode(&mapped).map_err(decode_err)?;
            Ok((value, Built::File(pending)))
        })
        .await
        .map_err(std::io::Error::other)?
    }
}

/// A snapshot's bytes written but not yet the current snapshot.
pub(crate) enum Built {
    File(Pending),
    Memory(Vec<u8>),
}

fn read_only(file: std::fs::File, start: u64) -> SnapshotData {
    SnapshotData(Data::File {
        file: tokio::fs::File::from_std(file),
        start,
        receiving: None,
    })
}

async fn read_all(mut data: SnapshotData) -> Result<Vec<u8>, std::io::Error> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    data.seek(SeekFrom::Start(0)).await?;
    let mut out = Vec::new();
    data.read_to_end(&mut out).await?;
    Ok(out)
}
