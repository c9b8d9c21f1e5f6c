//! A snapshot restore that arrives in pieces. The state of a store of a
//! million keys is hundreds of megabytes: more than one log entry, one RPC
//! frame or one buffer should hold. `PUT /v1/snapshot` therefore proposes
//! the state as `Command::RestoreChunk`s of a few megabytes, then one
//! `Command::RestoreCommit` that checks the pieces against the file's size
//! and CRC-32 and replaces the tables with them, at one index on every
//! server.
//!
//! The pieces received so far are replicated state like any other
//! (`Store::restore`, in every Raft snapshot since format 9, never in the
//! state `GET /v1/snapshot` saves), so a Raft snapshot taken between two
//! pieces, or a server that restarts from one, still holds them: every server commits
//! the same bytes or refuses the same way. One restore is staged at a
//! time: the first piece of another drops the one before (its next piece
//! or its commit is then refused with the reason), and staging is bounded
//! in size.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::{topics, Command, Response, Store, StoreError};

/// Largest piece accepted (the agent sends 1 MiB).
pub const MAX_CHUNK: usize = 8 * 1024 * 1024;

/// Largest state a restore may stage: every server holds it in memory
/// until the commit.
pub const MAX_STAGED: u64 = 2 * 1024 * 1024 * 1024;

/// One piece, written as a byte string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Chunk(#[serde(with = "crate::value")] Bytes);

/// The restore being received, if any.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Staging {
    current: Option<Staged>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Staged {
    id: u64,
    chunks: Vec<Chunk>,
    len: u64,
}

impl Staging {
    /// Adds piece `seq` of restore `id`. Piece 0 begins the restore (and
    /// drops any other being staged); every other piece must follow the
    /// last one received, in order.
    pub(crate) fn chunk(&mut self, id: u64, seq: u32, data: &Bytes) -> Result<(), String> {
        if data.len() > MAX_CHUNK {
            return Err(format!(
                "a snapshot piece may hold at most {MAX_CHUNK} bytes, this one holds {}",
                data.len()
            ));
        }
        if seq == 0 {
            self.current = Some(Staged {
                id,
                chunks: Vec::new(),
                len: 0,
            });
        }
        let staged = self.staged(id)?;
        if seq as usize != staged.chunks.len() {
            return Err(format!(
                "snapshot piece {seq} arrived where piece {} was expected",
                staged.chunks.len()
            ));
        }
        let len = staged.len + data.len() as u64;
        if len > MAX_STAGED {
            self.current = None;
            return Err(format!(
                "a snapshot may hold at most {MAX_STAGED} bytes; this restore was dropped"
            ));
        }
        staged.len = len;
        staged.chunks.push(Chunk(data.clone()));
        Ok(())
    }

    /// Ends restore `id`: its pieces joined, when they are `size` bytes
    /// with CRC-32 `crc32`. Whatever the answer, the restore is no longer
    /// staged.
    pub(crate) fn commit(&mut self, id: u64, size: u64, crc32: u32) -> Result<Vec<u8>, String> {
        self.staged(id)?;
        let staged = self.current.take().ok_or("no snapshot restore is staged")?;
        join_checked(&staged.chunks, staged.len, size, crc32)
    }

    /// Drops restore `id`; `false` when it was not the one staged.
    pub(crate) fn abort(&mut self, id: u64) -> bool {
        if self.current.as_ref().is_some_and(|s| s.id == id) {
            self.current = None;
            return true;
        }
        false
    }

    /// Bytes staged now (0 when no restore is under way).
    pub(crate) fn staged_bytes(&self) -> u64 {
        self.current.as_ref().map_or(0, |s| s.len)
    }

    fn staged(&mut self, id: u64) -> Result<&mut Staged, String> {
        match &mut self.current {
            Some(s) if s.id == id => Ok(s),
            Some(_) => Err("another snapshot restore began since this one; it was dropped".into()),
            None => Err("no snapshot restore with this ID is staged".into()),
        }
    }
}

/// `chunks` (`len` bytes in all) joined, when they are `size` bytes with
/// CRC-32 `crc32`.
fn join_checked(chunks: &[Chunk], len: u64, size: u64, crc32: u32) -> Result<Vec<u8>, String> {
    if len != size {
        return Err(format!(
            "the snapshot's pieces hold {len} bytes, its header says {size}"
        ));
    }
    // Bounded by `MAX_STAGED`, which fits in memory by design.
    let mut data = Vec::with_capacity(len as usize);
    for chunk in chunks {
        data.extend_from_slice(&chunk.0);
    }
    if crc32fast::hash(&data) != crc32 {
        return Err("the snapshot's pieces do not match its checksum".into());
    }
    Ok(data)
}

/// The pieces of a staged restore, taken out of the store (shared, not
/// copied) so that a server can decode them without holding it.
#[derive(Debug, Clone)]
pub struct StagedPieces {
    id: u64,
    chunks: Vec<Chunk>,
    len: u64,
}

/// A `RestoreCommit` worked out ahead of its apply (`StagedPieces::decode`):
/// what the commit answers when the staged restore is still the one
/// decoded.
#[derive(Debug)]
pub struct PreparedRestore {
    id: u64,
    len: u64,
    size: u64,
    crc32: u32,
    decoded: Result<Store, String>,
}

impl StagedPieces {
    /// What committing these pieces as `size` bytes with CRC-32 `crc32`
    /// gives: the decoded state, or the reason it is refused. The costly
    /// part of a commit, done by `Store::apply_prepared` otherwise.
    pub fn decode(self, size: u64, crc32: u32) -> PreparedRestore {
        let decoded = join_checked(&self.chunks, self.len, size, crc32).and_then(|data| {
            Store::decode_snapshot(&data)
                .map_err(|e: StoreError| format!("snapshot state cannot be read: {e}"))
        });
        PreparedRestore {
            id: self.id,
            len: self.len,
            size,
            crc32,
            decoded,
        }
    }
}

impl Store {
    /// The pieces of staged restore `id`, if it is the one staged.
    pub fn staged_restore(&self, id: u64) -> Option<StagedPieces> {
        let staged = self.restore.current.as_ref().filter(|s| s.id == id)?;
        Some(StagedPieces {
            id,
            chunks: staged.chunks.clone(),
            len: staged.len,
        })
    }

    /// Applies `cmd` at `index` as `apply` does, using `prepared` when
    /// `cmd` is the `RestoreCommit` it was decoded for and the restore
    /// staged is still the one it was decoded from (anything else: as
    /// `apply`, `prepared` unused). The answer and the state are those
    /// `apply` gives; what the store held before a restore is handed back
    /// to be dropped where it costs no one (a million entries take time
    /// to free).
    pub fn apply_prepared(
        &mut self,
        index: u64,
        cmd: &Command,
        prepared: PreparedRestore,
    ) -> (Response, Option<Store>) {
        let matches = matches!(cmd, Command::RestoreCommit { id, size, crc32 }
            if (*id, *size, *crc32) == (prepared.id, prepared.size, prepared.crc32))
            && self
                .restore
                .current
                .as_ref()
                .is_some_and(|s| s.id == prepared.id && s.len == prepared.len);
        if !matches || index <= self.tables.last_index {
            return (self.apply(index, cmd), None);
        }
        self.tables.last_index = index;
        let mark = topics::Mark::before(self, cmd);
        self.restore.current = None;
        let (answer, old) = match prepared.decoded {
            Ok(restored) => (
                Response::Applied(true),
                Some(self.restore_from(index, restored)),
            ),
            Err(reason) => (Response::Refused(reason), None),
        };
        mark.after(self, index);
        (answer, old)
    }

    /// How many bytes of a restore in pieces are staged now.
    pub fn restore_staged_bytes(&self) -> u64 {
        self.restore.staged_bytes()
    }

    /// Commits staged restore `id` at `index`: the tables become the
    /// decoded state, the history restarts.
    pub(crate) fn commit_restore(
        &mut self,
        index: u64,
        id: u64,
        size: u64,
        crc32: u32,
    ) -> Result<(), String> {
        let data = self.restore.commit(id, size, crc32)?;
        let restored = Store::decode_snapshot(&data)
            .map_err(|e: StoreError| format!("snapshot state cannot be read: {e}"))?;
        drop(data);
        drop(self.restore_from(index, restored));
        Ok(())
    }
}
