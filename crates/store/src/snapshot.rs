//! Snapshot encoding of the whole store, history included, so a watcher can
//! resume across a snapshot install or a restart.

use serde::{Deserialize, Serialize};

use crate::{Store, StoreError};

const FORMAT_VERSION: u32 = 3;

#[derive(Serialize, Deserialize)]
struct Envelope<T> {
    version: u32,
    store: T,
}

impl Store {
    /// Encodes the whole store.
    ///
    /// # Errors
    /// Only if serialization fails, which a well-formed store never does.
    pub fn encode_snapshot(&self) -> Result<Vec<u8>, StoreError> {
        postcard::to_stdvec(&Envelope {
            version: FORMAT_VERSION,
            store: self,
        })
        .map_err(StoreError::SnapshotEncode)
    }

    /// Encodes the replicated tables without the history (what a snapshot
    /// restore takes; the history restarts at the restore). Decodes with
    /// `decode_snapshot` into a store with an empty history.
    ///
    /// # Errors
    /// As `encode_snapshot`.
    pub fn encode_state(&self) -> Result<Vec<u8>, StoreError> {
        // The same fields in the same order as `Store`, so the encoding is
        // the same as a store whose history is empty.
        #[derive(Serialize)]
        struct View<'a> {
            kv: &'a crate::kv::KvTable,
            catalog: &'a crate::catalog::Catalog,
            events: &'a crate::events::Events,
            history: &'a crate::History,
            last_index: u64,
            restored_at: u64,
            sessions: &'a crate::session::Sessions,
            clock_ms: u64,
        }
        let empty = crate::History::new(self.history.limit());
        postcard::to_stdvec(&Envelope {
            version: FORMAT_VERSION,
            store: View {
                kv: &self.kv,
                catalog: &self.catalog,
                events: &self.events,
                history: &empty,
                last_index: self.last_index,
                restored_at: self.restored_at,
                sessions: &self.sessions,
                clock_ms: self.clock_ms,
            },
        })
        .map_err(StoreError::SnapshotEncode)
    }

    /// Decodes a store written by `encode_snapshot`.
    ///
    /// # Errors
    /// When the bytes are not a snapshot of this format.
    pub fn decode_snapshot(bytes: &[u8]) -> Result<Store, StoreError> {
        #[derive(Deserialize)]
        struct Version {
            version: u32,
        }
        let v: Version = postcard::from_bytes(bytes).map_err(StoreError::SnapshotDecode)?;
        if v.version != FORMAT_VERSION {
            return Err(StoreError::SnapshotVersion {
                found: v.version,
                expected: FORMAT_VERSION,
            });
        }
        let mut env: Envelope<Store> =
            postcard::from_bytes(bytes).map_err(StoreError::SnapshotDecode)?;
        let Store { kv, history, .. } = &mut env.store;
        history.relink(kv);
        Ok(env.store)
    }
}
