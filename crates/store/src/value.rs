//! The encoding of a KV value (`bytes::Bytes`) in the Raft log, snapshots
//! and RPC: a byte string, which postcard writes as its length (a varint)
//! then the bytes, exactly as it wrote the `Vec<u8>` (commands) and
//! `Arc<[u8]>` (entries) values were before, and JSON as an array of
//! numbers, as before. Fields use it with `#[serde(with = "crate::value")]`:
//! the log's format is owned here, not by another crate's serde support.
//! Decoding accepts a byte string or a sequence of bytes (what JSON holds).

use bytes::Bytes;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Serializer;

/// Writes `value` as one byte string.
///
/// # Errors
/// As the serializer's `serialize_bytes`.
pub fn serialize<S: Serializer>(value: &Bytes, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_bytes(value)
}

/// Reads a value written by `serialize` (or as a sequence of bytes), into
/// a buffer of its own.
///
/// # Errors
/// When the input holds neither.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Bytes, D::Error> {
    d.deserialize_byte_buf(ValueVisitor)
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Bytes;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a byte array")
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Bytes, E> {
        Ok(Bytes::copy_from_slice(v))
    }

    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Bytes, E> {
        Ok(Bytes::from(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Bytes, A::Error> {
        // The hint comes from the input: trust it only so far.
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(b) = seq.next_element::<u8>()? {
            out.push(b);
        }
        Ok(Bytes::from(out))
    }
}
