//! The node's identity: its UUID (Consul's `NodeID`), kept in the data dir so
//! it survives restarts, and the Raft id derived from it.

use std::path::Path;

use crate::AgentError;

/// Returns the configured node id, or the one stored in `data_dir/node-id`,
/// or a new random one (stored there when there is a data dir).
///
/// # Errors
/// When the file cannot be read or written, or holds something else than a UUID.
pub fn node_id(
    configured: Option<&str>,
    data_dir: Option<&Path>,
) -> Result<uuid::Uuid, AgentError> {
    if let Some(id) = configured {
        return uuid::Uuid::parse_str(id).map_err(|_| AgentError::BadNodeId {
            path: "config node_id".into(),
            value: id.to_owned(),
        });
    }
    let Some(dir) = data_dir else {
        return Ok(uuid::Uuid::new_v4());
    };
    let path = dir.join("node-id");
    let io = |source| AgentError::NodeId {
        path: path.display().to_string(),
        source,
    };
    match std::fs::read_to_string(&path) {
        Ok(s) => uuid::Uuid::parse_str(s.trim()).map_err(|_| AgentError::BadNodeId {
            path: path.display().to_string(),
            value: s.trim().to_owned(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).map_err(io)?;
            let id = uuid::Uuid::new_v4();
            std::fs::write(&path, id.to_string()).map_err(io)?;
            Ok(id)
        }
        Err(e) => Err(io(e)),
    }
}

/// The Raft id of a node: the first 8 bytes of its UUID (never 0).
pub fn raft_id(id: &uuid::Uuid) -> u64 {
    let b = id.as_bytes();
    u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]).max(1)
}
