//! `/v1/operator/raft/configuration` and `DELETE /v1/operator/raft/peer`:
//! the Raft configuration and removing a server from it, as Consul's.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::Json;
use praetor_acl::{Access, Global};
use praetor_api::operator::{RaftConfiguration, RaftServer};
use praetor_server::RaftStatus;

use super::error::ApiError;
use super::extract::Caller;
use super::query::{check_dc, only_local_dc, Params};
use super::AppState;
use crate::identity;

/// The servers of the Raft configuration, with their names and IDs when
/// gossip knows them.
pub async fn configuration(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> Result<Json<RaftConfiguration>, ApiError> {
    let dc = check_dc(&Params::parse(q.as_deref()), &state)?;
    state
        .authorize(&caller)
        .await?
        .require_global(Global::Operator, Access::Read)?;
    let hold = state.config().rpc_hold_timeout;
    let status = state.backend.status_in(dc.as_deref(), hold).await?;
    Ok(Json(describe(&state, &status)))
}

/// Consul's shape of a server's Raft status.
pub fn describe(state: &AppState, status: &RaftStatus) -> RaftConfiguration {
    let known = state.servers_by_raft_id();
    RaftConfiguration {
        servers: status
            .members
            .iter()
            .map(|m| {
                let (node, id) = known
                    .get(&m.id)
                    .cloned()
                    .unwrap_or_else(|| (String::new(), m.id.to_string()));
                RaftServer {
                    id,
                    node,
                    address: m.addr.clone(),
                    leader: status.leader == Some(m.id),
                    protocol_version: praetor_api::RAFT_PROTOCOL.to_string(),
                    voter: m.voter,
                }
            })
            .collect(),
        index: status.config_index,
    }
}

/// Removes the server named by `?id=` (its node ID or Raft id) or
/// `?address=` (its RPC address) from the Raft configuration.
pub async fn remove_peer(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> Result<(), ApiError> {
    let p = Params::parse(q.as_deref());
    only_local_dc(&p, &state, "removing a Raft peer")?;
    state
        .authorize(&caller)
        .await?
        .require_global(Global::Operator, Access::Write)?;
    let status = state.backend.status().await?;
    let id = match (p.get("id"), p.get("address")) {
        (Some(id), None) => raft_id_of(id).ok_or_else(|| {
            ApiError::BadRequest(format!("Invalid id {id:?}: expected a node ID or a Raft id"))
        })?,
        (None, Some(addr)) => status
            .members
            .iter()
            .find(|m| m.addr == addr)
            .map(|m| m.id)
            .ok_or_else(|| ApiError::Server(praetor_server::ServerError::UnknownPeer(addr.to_owned())))?,
        _ => {
            return Err(ApiError::BadRequest(
                "Must specify either ?id with the server's ID or ?address with IP:port of peer to remove"
                    .into(),
            ))
        }
    };
    state.backend.remove_peer(id).await?;
    Ok(())
}

/// The Raft id a server is named by: its node UUID or the number itself.
fn raft_id_of(id: &str) -> Option<u64> {
    match uuid::Uuid::parse_str(id) {
        Ok(u) => Some(identity::raft_id(&u)),
        Err(_) => id.parse().ok(),
    }
}
