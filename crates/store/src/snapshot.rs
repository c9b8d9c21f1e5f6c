//! Snapshot encoding of the whole store, history included, so a watcher can
//! resume across a snapshot install or a restart.

use serde::{Deserialize, Serialize};

use crate::{Store, StoreError};

const FORMAT_VERSION: u32 = 1;

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
