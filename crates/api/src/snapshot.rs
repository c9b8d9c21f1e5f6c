//! The file `GET /v1/snapshot` returns and `PUT /v1/snapshot` takes: a
//! first line naming the format, a second line of JSON metadata (what
//! `praetor snapshot inspect` prints), then the encoded store. The metadata
//! carries the data's size and CRC-32, so a truncated or altered file is
//! refused before anything is restored.

use serde::{Deserialize, Serialize};

/// The first line of every snapshot file.
pub const MAGIC: &[u8] = b"praetor-snapshot 1\n";

/// What a snapshot file says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SnapshotMeta {
    /// `<term>-<index>-<unix ms>`, as Consul's snapshot IDs.
    #[serde(rename = "ID")]
    pub id: String,
    /// The Raft index the state was taken at.
    pub index: u64,
    /// The Raft term then.
    pub term: u64,
    /// The store's encoding version.
    pub version: u32,
    /// Bytes of data after the header.
    pub size: u64,
    /// CRC-32 (IEEE) of the data.
    pub crc32: u32,
}

/// Writes a snapshot file around `data`.
pub fn encode(index: u64, term: u64, unix_ms: u128, data: &[u8]) -> Vec<u8> {
    let meta = SnapshotMeta {
        id: format!("{term}-{index}-{unix_ms}"),
        index,
        term,
        version: 1,
        size: data.len() as u64,
        crc32: crc32fast::hash(data),
    };
    let mut out = Vec::with_capacity(data.len() + 256);
    out.extend_from_slice(MAGIC);
    // A struct of strings and numbers always serializes.
    out.extend_from_slice(&serde_json::to_vec(&meta).unwrap_or_default());
    out.push(b'\n');
    out.extend_from_slice(data);
    out
}

/// Reads a snapshot file: its metadata and its data, checked.
///
/// # Errors
/// A one-line reason when the file is not a snapshot, is truncated, or its
/// data does not match its checksum.
pub fn decode(file: &[u8]) -> Result<(SnapshotMeta, &[u8]), String> {
    let rest = file
        .strip_prefix(MAGIC)
        .ok_or("not a Praetor snapshot (bad header)")?;
    let end = rest
        .iter()
        .position(|b| *b == b'\n')
        .ok_or("not a Praetor snapshot (no metadata line)")?;
    let meta: SnapshotMeta = serde_json::from_slice(&rest[..end])
        .map_err(|e| format!("not a Praetor snapshot (bad metadata: {e})"))?;
    let data = &rest[end + 1..];
    if data.len() as u64 != meta.size {
        return Err(format!(
            "snapshot is truncated or padded: {} bytes of data, the header says {}",
            data.len(),
            meta.size
        ));
    }
    if crc32fast::hash(data) != meta.crc32 {
        return Err("snapshot data does not match its checksum".into());
    }
    Ok((meta, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage_is_refused() {
        let file = encode(42, 3, 1_700_000_000_000, b"state bytes");
        let (meta, data) = decode(&file).unwrap();
        assert_eq!((meta.index, meta.term, meta.size), (42, 3, 11));
        assert_eq!(meta.id, "3-42-1700000000000");
        assert_eq!(data, b"state bytes");

        let mut flipped = file.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(decode(&flipped).unwrap_err().contains("checksum"));
        assert!(decode(&file[..file.len() - 1])
            .unwrap_err()
            .contains("truncated"));
        assert!(decode(b"hello")
            .unwrap_err()
            .contains("not a Praetor snapshot"));
    }
}
