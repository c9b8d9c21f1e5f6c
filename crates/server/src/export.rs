//! `GET /v1/snapshot` of a store of any size, in pieces. The server that
//! answers encodes its state once, straight into an unlinked temporary
//! file (never one buffer), and hands it out piece by piece
//! (`Request::SnapshotExport`): the state crosses RPC in frames of a few
//! megabytes and reaches the HTTP client as a stream.
//!
//! An export lives on the server that encoded it, found again by its ID,
//! until its last piece is read or it sits idle for `IDLE`; at most
//! `MAX_EXPORTS` are open at a time, so what callers can make a server
//! hold is bounded. Pieces follow the same route as the first (the leader
//! for a default read, the preferred server for a stale one): a piece
//! asked of a server that does not hold the export is refused with the
//! reason, and the client starts again.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::acl::{Guarded, Token};
use crate::raft::state_machine::Shared;
use crate::read::Snapshot;
use crate::{rpc, Consistency, ReadMeta, Server, ServerError};

/// Bytes in one piece.
pub const PIECE: usize = 4 * 1024 * 1024;
/// Exports a server keeps open at once.
pub const MAX_EXPORTS: usize = 2;
/// How long an export waits for its next piece to be asked for.
pub const IDLE: Duration = Duration::from_secs(60);

/// How long one piece may take, forwarded included: the first piece
/// encodes the whole state.
pub const PIECE_TIMEOUT: Duration = Duration::from_secs(120);

impl Server {
    /// A piece of the replicated state as `GET /v1/snapshot` saves it, for
    /// the caller with `token` (management only): served here when this
    /// server may serve a read of `req.consistency`, else on the leader.
    /// Retried across an election for at most the leader wait.
    ///
    /// # Errors
    /// As `read`; `Remote` with the reason when the export cannot be
    /// made or continued here.
    pub async fn snapshot_export(
        &self,
        token: &Token,
        req: ExportRequest,
    ) -> Result<ExportPiece, ServerError> {
        let give_up = tokio::time::Instant::now() + self.leader_wait;
        loop {
            let retryable = match self.read_access(req.consistency).await {
                Ok(meta) => {
                    {
                        let st = self.shared.read();
                        let authz = self.acl.authorize(&st.store, token)?;
                        Snapshot.authorize(&authz, &st.store)?;
                    }
                    return match req.id {
                        None => self.exports.begin(&self.shared, meta).await,
                        Some(id) => self.exports.piece(id, req.offset, meta).await,
                    };
                }
                Err(ServerError::NotLeader {
                    leader: Some(leader),
                }) => {
                    let call = rpc::Request::SnapshotExport(req.clone(), token.clone());
                    match self.call_leader(leader, call, PIECE_TIMEOUT).await {
                        Ok(rpc::Reply::SnapshotExport(Ok(piece))) => return Ok(piece),
                        Ok(rpc::Reply::SnapshotExport(Err(
                            rpc::WireError::NoLeader | rpc::WireError::NotLeader(_),
                        ))) => ServerError::NoLeader,
                        Ok(rpc::Reply::SnapshotExport(Err(e))) => return Err(e.into()),
                        Ok(other) => {
                            return Err(ServerError::Forward(format!(
                                "the leader answered a snapshot export with {}",
                                other.kind()
                            )))
                        }
                        Err(e) => ServerError::Forward(e.to_string()),
                    }
                }
                Err(e) => return Err(e),
            };
            let now = tokio::time::Instant::now();
            if now >= give_up {
                return Err(retryable);
            }
            tokio::time::sleep_until(give_up.min(now + Duration::from_millis(50))).await;
        }
    }
}

/// Asks for a piece of a state export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportRequest {
    /// The export to continue; `None` begins one (encodes the state now).
    pub id: Option<u64>,
    /// Where the piece starts in the encoded state.
    pub offset: u64,
    /// Which server may answer (`?stale`, `?consistent`).
    pub consistency: Consistency,
}

/// A piece of an export, with what the whole is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportPiece {
    pub id: u64,
    /// The Raft index the state was taken at.
    pub index: u64,
    /// The encoded state's size and CRC-32 (IEEE).
    pub size: u64,
    pub crc32: u32,
    pub offset: u64,
    #[serde(with = "praetor_store::value")]
    pub data: Bytes,
    /// What the answering server knew of the leader (Consul's headers).
    pub meta: ReadMeta,
}

struct Export {
    file: Arc<File>,
    index: u64,
    size: u64,
    crc32: u32,
    last_used: Instant,
}

/// A server's open exports.
pub(crate) struct Exports {
    dir: PathBuf,
    open: Mutex<HashMap<u64, Export>>,
}

impl Exports {
    /// Exports written as temporary files in `dir` (the data dir, or the
    /// system's temporary directory for a server in memory).
    pub(crate) fn new(dir: PathBuf) -> Self {
        Exports {
            dir,
            open: Mutex::default(),
        }
    }

    fn open(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Export>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Encodes the state in `shared` into a new export and answers its
    /// first piece.
    pub(crate) async fn begin(
        &self,
        shared: &Arc<Shared>,
        meta: ReadMeta,
    ) -> Result<ExportPiece, ServerError> {
        {
            let mut open = self.open();
            open.retain(|_, e| e.last_used.elapsed() < IDLE);
            if open.len() >= MAX_EXPORTS {
                return Err(busy());
            }
        }
        let file = tempfile::tempfile_in(&self.dir)
            .map_err(|e| export_err(format!("creating a file in {}: {e}", self.dir.display())))?;
        let (file, index, size, crc32) = shared.save_state(file).await?;
        let id = rand::random::<u64>();
        let file = Arc::new(file);
        {
            let mut open = self.open();
            if open.len() >= MAX_EXPORTS {
                return Err(busy());
            }
            open.insert(
                id,
                Export {
                    file,
                    index,
                    size,
                    crc32,
                    last_used: Instant::now(),
                },
            );
        }
        self.piece(id, 0, meta).await
    }

    /// The piece of export `id` at `offset`; the last piece ends the
    /// export.
    pub(crate) async fn piece(
        &self,
        id: u64,
        offset: u64,
        meta: ReadMeta,
    ) -> Result<ExportPiece, ServerError> {
        let (file, index, size, crc32) = {
            let mut open = self.open();
            open.retain(|_, e| e.last_used.elapsed() < IDLE);
            let e = open.get_mut(&id).ok_or_else(|| {
                export_err(
                    "this server holds no such snapshot export (it ended, timed out, or \
                     another server answered); save the snapshot again"
                        .into(),
                )
            })?;
            e.last_used = Instant::now();
            (e.file.clone(), e.index, e.size, e.crc32)
        };
        if offset > size {
            return Err(export_err(format!(
                "offset {offset} is past the snapshot's end ({size} bytes)"
            )));
        }
        let len = (size - offset).min(PIECE as u64) as usize;
        let data = tokio::task::spawn_blocking(move || {
            let mut buf = vec![0; len];
            file.read_exact_at(&mut buf, offset).map(|()| buf)
        })
        .await
        .map_err(|e| export_err(e.to_string()))?
        .map_err(|e| export_err(format!("reading the saved state: {e}")))?;
        if offset + len as u64 == size {
            self.open().remove(&id);
        }
        Ok(ExportPiece {
            id,
            index,
            size,
            crc32,
            offset,
            data: Bytes::from(data),
            meta,
        })
    }
}

fn busy() -> ServerError {
    export_err(format!(
        "{MAX_EXPORTS} snapshots are being saved from this server already; try again later"
    ))
}

fn export_err(reason: String) -> ServerError {
    ServerError::Remote(reason)
}

/// Counts and checksums what passes through to the file.
pub(crate) struct Summing<W> {
    pub(crate) inner: W,
    pub(crate) len: u64,
    pub(crate) crc: crc32fast::Hasher,
}

impl<W: Write> Write for Summing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.len += n as u64;
        self.crc.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
