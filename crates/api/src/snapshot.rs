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

/// Longest metadata line a reader accepts.
pub const MAX_META_LINE: usize = 4096;

impl SnapshotMeta {
    /// The metadata of data of `size` bytes with CRC-32 `crc32`, taken at
    /// Raft `index` in `term`, at `unix_ms`.
    pub fn new(index: u64, term: u64, unix_ms: u128, size: u64, crc32: u32) -> Self {
        SnapshotMeta {
            id: format!("{term}-{index}-{unix_ms}"),
            index,
            term,
            version: 1,
            size,
            crc32,
        }
    }

    /// The file's first bytes: `MAGIC`, then this metadata's line. The
    /// data follows.
    pub fn header(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(MAGIC);
        // A struct of strings and numbers always serializes.
        out.extend_from_slice(&serde_json::to_vec(self).unwrap_or_default());
        out.push(b'\n');
        out
    }
}

/// Writes a snapshot file around `data`.
pub fn encode(index: u64, term: u64, unix_ms: u128, data: &[u8]) -> Vec<u8> {
    let meta = SnapshotMeta::new(
        index,
        term,
        unix_ms,
        data.len() as u64,
        crc32fast::hash(data),
    );
    let mut out = meta.header();
    out.extend_from_slice(data);
    out
}

/// Reads a snapshot's header from the first bytes of a file (a stream
/// being received): its metadata and the header's length, or `None` when
/// more bytes are needed to tell.
///
/// # Errors
/// A one-line reason when the bytes cannot begin a snapshot.
pub fn parse_header(start: &[u8]) -> Result<Option<(SnapshotMeta, usize)>, String> {
    let magic = start.len().min(MAGIC.len());
    if start[..magic] != MAGIC[..magic] {
        return Err("not a Praetor snapshot (bad header)".into());
    }
    let rest = &start[magic..];
    let Some(end) = rest.iter().position(|b| *b == b'\n') else {
        if rest.len() > MAX_META_LINE {
            return Err("not a Praetor snapshot (no metadata line)".into());
        }
        return Ok(None);
    };
    if end > MAX_META_LINE {
        return Err("not a Praetor snapshot (no metadata line)".into());
    }
    let meta: SnapshotMeta = serde_json::from_slice(&rest[..end])
        .map_err(|e| format!("not a Praetor snapshot (bad metadata: {e})"))?;
    Ok(Some((meta, MAGIC.len() + end + 1)))
}

/// Reads a snapshot file: its metadata and its data, checked.
///
/// # Errors
/// A one-line reason when the file is not a snapshot, is truncated, or its
/// data does not match its checksum.
pub fn decode(file: &[u8]) -> Result<(SnapshotMeta, &[u8]), String> {
    let (meta, start) = match parse_header(file)? {
        Some(found) => found,
        None if file.len() < MAGIC.len() => {
            return Err("not a Praetor snapshot (bad header)".into())
        }
        None => return Err("not a Praetor snapshot (no metadata line)".into()),
    };
    let data = &file[start..];
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

/// Reads a snapshot file from `r` without holding it: its metadata, once
/// its data was checked against the size and checksum the header gives.
///
/// # Errors
/// As `decode`, and when reading fails.
pub fn verify<R: std::io::Read>(mut r: R) -> Result<SnapshotMeta, String> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut head = Vec::new();
    let (meta, start) = loop {
        if let Some(found) = parse_header(&head)? {
            break found;
        }
        let n = read_some(&mut r, &mut buf)?;
        if n == 0 {
            return Err("not a Praetor snapshot (it ends inside its header)".into());
        }
        head.extend_from_slice(&buf[..n]);
    };
    let mut crc = crc32fast::Hasher::new();
    let first = &head[start..];
    crc.update(first);
    let mut size = first.len() as u64;
    loop {
        let n = read_some(&mut r, &mut buf)?;
        if n == 0 {
            break;
        }
        crc.update(&buf[..n]);
        size += n as u64;
    }
    if size != meta.size {
        return Err(format!(
            "snapshot is truncated or padded: {size} bytes of data, the header says {}",
            meta.size
        ));
    }
    if crc.finalize() != meta.crc32 {
        return Err("snapshot data does not match its checksum".into());
    }
    Ok(meta)
}

fn read_some<R: std::io::Read>(r: &mut R, buf: &mut [u8]) -> Result<usize, String> {
    loop {
        match r.read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            other => return other.map_err(|e| format!("reading the snapshot: {e}")),
        }
    }
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
        assert!(decode(b"praetor-snap").unwrap_err().contains("bad header"));
    }

    #[test]
    fn verify_reads_a_file_as_decode_does() {
        let file = encode(42, 3, 1_700_000_000_000, &vec![7u8; 200_000]);
        assert_eq!(verify(&file[..]).unwrap(), decode(&file).unwrap().0);
        let mut flipped = file.clone();
        flipped[150_000] ^= 1;
        assert!(verify(&flipped[..]).unwrap_err().contains("checksum"));
        assert!(verify(&file[..file.len() - 1])
            .unwrap_err()
            .contains("truncated"));
        assert!(verify(&file[..30]).unwrap_err().contains("header"));
        assert!(verify(&b"hello"[..]).unwrap_err().contains("bad header"));
    }

    #[test]
    fn a_header_read_from_a_stream_needs_its_whole_line() {
        let file = encode(42, 3, 1_700_000_000_000, b"state bytes");
        let (meta, len) = parse_header(&file).unwrap().unwrap();
        assert_eq!(&file[len..], b"state bytes");
        assert_eq!(meta.size, 11);
        for cut in 0..len {
            assert_eq!(parse_header(&file[..cut]).unwrap(), None, "cut at {cut}");
        }
        let mut endless = MAGIC.to_vec();
        endless.extend(std::iter::repeat_n(b'x', MAX_META_LINE + 1));
        assert!(parse_header(&endless).is_err());
    }

    proptest::proptest! {
        /// Any bytes: an answer or an error, never a panic; and whatever
        /// follows a header never changes what it says.
        #[test]
        fn parse_header_of_any_bytes(
            start in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
            index in 0u64..u64::MAX,
            size in 0u64..u64::MAX,
            crc in proptest::prelude::any::<u32>(),
        ) {
            let _ = parse_header(&start);
            let mut prefixed = MAGIC.to_vec();
            prefixed.extend_from_slice(&start);
            let _ = parse_header(&prefixed);
            let meta = SnapshotMeta::new(index, 2, 7, size, crc);
            let mut file = meta.header();
            let len = file.len();
            file.extend_from_slice(&start);
            proptest::prop_assert_eq!(parse_header(&file).unwrap(), Some((meta, len)));
        }
    }
}
