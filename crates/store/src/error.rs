//! The store's errors: only snapshot decoding can fail; applying a command
//! never fails (a failed check-and-set is an answer, not an error).

/// What went wrong inside the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("decoding a snapshot of the store: {0}")]
    SnapshotDecode(postcard::Error),
    #[error("encoding a snapshot of the store: {0}")]
    SnapshotEncode(postcard::Error),
    #[error("snapshot format version {found} is not supported (expected {expected})")]
    SnapshotVersion { found: u32, expected: u32 },
}
