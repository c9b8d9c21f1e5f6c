//! `/v1/status/leader` and `/v1/status/peers`: the Raft leader's and voters'
//! RPC addresses, as Consul returns them.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::Json;

use super::error::ApiError;
use super::query::{check_dc, Params};
use super::AppState;

/// `"ip:port"` of the leader, or `""` when there is none.
pub async fn leader(
    State(state): State<Arc<AppState>>,
    RawQuery(q): RawQuery,
) -> Result<Json<String>, ApiError> {
    check_dc(&Params::parse(q.as_deref()), &state)?;
    let status = state.backend.status().await?;
    Ok(Json(status.leader_addr().unwrap_or_default().to_owned()))
}

/// The RPC addresses of every voter.
pub async fn peers(
    State(state): State<Arc<AppState>>,
    RawQuery(q): RawQuery,
) -> Result<Json<Vec<String>>, ApiError> {
    check_dc(&Params::parse(q.as_deref()), &state)?;
    let status = state.backend.status().await?;
    Ok(Json(
        status
            .members
            .into_iter()
            .filter(|m| m.voter)
            .map(|m| m.addr)
            .collect(),
    ))
}
