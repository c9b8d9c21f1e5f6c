//! `GET /v1/agent/host` and `GET /v1/agent/metrics/stream`: what an
//! operator (or `praetor debug`) reads about the machine and the agent's
//! metrics over time, as Consul's. Reads only.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use praetor_acl::{Access, Global};

use super::error::ApiError;
use super::extract::Caller;
use super::AppState;

/// `GET /v1/agent/host`: memory, CPUs, host and root disk
/// ([`crate::host::HostInfo`]). Needs `operator:read`, as Consul's.
pub async fn host(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Json<crate::host::HostInfo>, ApiError> {
    state
        .authorize(&caller)
        .await?
        .require_global(Global::Operator, Access::Read)?;
    // Reading /proc and statvfs(2) block: off the async workers.
    let info = tokio::task::spawn_blocking(crate::host::collect)
        .await
        .map_err(|e| ApiError::Failed(format!("collecting host information: {e}")))?;
    Ok(Json(info))
}

/// `GET /v1/agent/metrics/stream`: a summary of the agent's metrics (the
/// JSON of `/v1/agent/metrics`) each time an interval ends, one JSON
/// object per line, until the client disconnects or the agent stops.
/// Needs `agent:read` on this node, as Consul's.
pub async fn metrics_stream(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Response, ApiError> {
    state.require_agent(&caller, Access::Read).await?;
    let stop = state.stop.clone();
    let gauges = state.clone();
    let stream = state
        .metrics
        .stream(move || super::agent::publish_gauges(&gauges), stop);
    Ok((
        [("content-type", "application/json")],
        Body::from_stream(stream),
    )
        .into_response())
}
