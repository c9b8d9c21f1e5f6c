//! `/v1/status/leader` and `/v1/status/peers`: the Raft leader's and voters'
//! RPC addresses, as Consul returns them.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::Json;

use super::error::ApiError;
use super::query::{check_dc, Params};
use super::AppState;

/// `"ip:port"` of the leader, or `""` when there is none (in the
/// datacenter `?dc=` names).
pub async fn leader(
    State(state): State<Arc<AppState>>,
    RawQuery(q): RawQuery,
) -> Result<Json<String>, ApiError> {
    let dc = check_dc(&Params::parse(q.as_deref()), &state)?;
    let hold = state.config().rpc_hold_timeout;
    let status = state.backend.status_in(dc.as_deref(), hold).await?;
    Ok(Json(status.leader_addr().unwrap_or_default().to_owned()))
}

/// The RPC addresses of every voter.
pub async fn peers(
    State(state): State<Arc<AppState>>,
    RawQuery(q): RawQuery,
) -> Result<Json<Vec<String>>, ApiError> {
    let dc = check_dc(&Params::parse(q.as_deref()), &state)?;
    let hold = state.config().rpc_hold_timeout;
    let status = state.backend.status_in(dc.as_deref(), hold).await?;
    Ok(Json(
        status
            .members
            .into_iter()
            .filter(|m| m.voter)
            .map(|m| m.addr)
            .collect(),
    ))
}
