//! `GET /v1/snapshot` saves the whole replicated state to a file;
//! `PUT /v1/snapshot` restores one on a running cluster (a Raft command, so
//! every server takes it at the same index). After a restore, indexes of
//! restored entries are those they had when saved; open blocking queries
//! return at once so clients reset, as Consul documents.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use praetor_server::read::Snapshot;
use praetor_store::{Command, Store};

use super::error::ApiError;
use super::extract::{Body, Caller};
use super::query::{self, Params, ReadOpts};
use super::AppState;

/// Largest snapshot file accepted by `PUT /v1/snapshot`: the state travels
/// in one Raft entry, which must fit an RPC frame.
pub const MAX_SNAPSHOT: usize = 200 * 1024 * 1024;

/// `GET /v1/snapshot` (`?stale` lets any server answer).
pub async fn save(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let p = Params::parse(q.as_deref());
    let mut opts = ReadOpts::from_params(&p, &state)?;
    opts.index = 0;
    let r = query::run(&state, &caller, &opts, Snapshot).await?;
    let headers = query::headers_of(&r, opts.consistency);
    let data = r.answer;
    // An empty state is how the server reports that encoding failed
    // (`read::Snapshot`); a 200 with no snapshot in it would be a lie.
    if data.is_empty() {
        return Err(ApiError::Failed(
            "the server could not encode its state for a snapshot".into(),
        ));
    }
    let hold = state.config().rpc_hold_timeout;
    let term = state
        .backend
        .status_in(opts.dc.as_deref(), hold)
        .await
        .map(|s| s.term)
        .unwrap_or(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let file = praetor_api::snapshot::encode(r.index, term, now, &data);
    Ok((
        headers,
        [("content-type", "application/octet-stream")],
        file,
    )
        .into_response())
}

/// `PUT /v1/snapshot`: the body is a file `GET /v1/snapshot` returned.
pub async fn restore(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    RawQuery(q): RawQuery,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let dc = query::check_dc(&Params::parse(q.as_deref()), &state)?;
    let (_, data) = praetor_api::snapshot::decode(&body).map_err(ApiError::BadRequest)?;
    Store::decode_snapshot(data)
        .map_err(|e| ApiError::BadRequest(format!("snapshot state cannot be read: {e}")))?;
    let (index, resp) = query::write(
        &state,
        &caller,
        dc.as_deref(),
        Command::Restore(data.to_vec()),
    )
    .await?;
    if !resp.ok() {
        return Err(ApiError::BadRequest(
            "the snapshot was refused by the store".into(),
        ));
    }
    tracing::info!(index, "snapshot restored");
    Ok(([("X-Consul-Index", index.to_string())], "").into_response())
}
