//! KV shapes: Consul's `DirEntry` as `/v1/kv` returns it, and Praetor's watch
//! events (`/v1/watch/kv`), which carry the previous value.

use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// One key as Consul's `GET /v1/kv/<key>` returns it. `Value` is base64, and
/// `null` when the value is empty; `Session` appears only when the key is locked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KvPair {
    pub lock_index: u64,
    pub key: String,
    pub flags: u64,
    pub value: Option<String>,
    pub create_index: u64,
    pub modify_index: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
}

impl KvPair {
    /// Builds the wire form from raw bytes, encoding the value as Consul does.
    pub fn new(
        key: &str,
        value: &[u8],
        flags: u64,
        create_index: u64,
        modify_index: u64,
        lock_index: u64,
    ) -> Self {
        KvPair {
            lock_index,
            key: key.to_owned(),
            flags,
            value: encode_value(value),
            create_index,
            modify_index,
            session: None,
        }
    }

    /// The decoded value (empty when `Value` is null or not valid base64).
    pub fn decoded_value(&self) -> Vec<u8> {
        self.value
            .as_deref()
            .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok())
            .unwrap_or_default()
    }
}

/// Consul's encoding of a value: base64, or `null` for an empty value.
pub fn encode_value(value: &[u8]) -> Option<String> {
    if value.is_empty() {
        None
    } else {
        Some(base64::engine::general_purpose::STANDARD.encode(value))
    }
}

/// What happened to a key in a watch event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WatchOp {
    Set,
    Delete,
}

/// One change in `GET /v1/watch/kv/<prefix>`'s newline-delimited stream.
/// For a `set`, the fields describe the new entry; for a `delete`, `Value` is
/// null and `ModifyIndex` is the index of the delete. `Prev` is the entry as it
/// was just before the change, or null when the key did not exist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WatchEvent {
    pub op: WatchOp,
    pub key: String,
    pub flags: u64,
    pub value: Option<String>,
    pub create_index: u64,
    pub modify_index: u64,
    pub lock_index: u64,
    pub prev: Option<KvPair>,
}

/// The body of a `410 Gone` from the watch endpoint: the requested index is
/// older than the oldest change the store still keeps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Compacted {
    pub error: String,
    pub oldest_index: u64,
    pub current_index: u64,
}

/// One version of a key in `GET /v1/history/kv/<key>` (Praetor's): the
/// change at `Index`. For a `set`, the fields describe the entry it wrote;
/// for a `delete`, `Value` is `null` and `Flags` 0.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KvVersion {
    pub index: u64,
    pub op: WatchOp,
    pub key: String,
    pub value: Option<String>,
    pub flags: u64,
    pub create_index: u64,
    pub modify_index: u64,
    pub lock_index: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
}
