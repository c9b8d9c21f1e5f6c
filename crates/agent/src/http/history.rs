//! `GET /v1/history/kv/<key>?limit=N`: Praetor's read of one key's recent
//! versions from the store's KV history (what the web UI diffs and rolls
//! back to), newest first. A blocking query on the key, like
//! `GET /v1/kv/<key>`. Never writes.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use praetor_api::kv::{encode_value, KvVersion};
use praetor_api::WatchOp;
use praetor_server::read::{KeyHistory, KvHistory};
use praetor_server::Answered;
use praetor_store::{Change, Entry};

use super::error::ApiError;
use super::extract::Caller;
use super::kv::key_from_path;
use super::query::{self, read_headers, Params, ReadOpts};
use super::AppState;

/// Versions returned without `?limit`.
pub const DEFAULT_LIMIT: usize = 100;
/// Most versions one answer holds.
pub const MAX_LIMIT: usize = 10_000;

/// Answers the key's kept versions, newest first (at most `?limit`). A key
/// that exists but whose changes have all left the history answers its live
/// entry alone; a key with neither is a 404.
///
/// # Errors
/// 400 on a bad key or `?limit`; 500 when no server can answer.
pub async fn kv_history(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    uri: Uri,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let key = key_from_path(uri.path(), "/v1/history/kv")?;
    if key.is_empty() {
        return Err(ApiError::BadRequest(
            "Missing key name: use /v1/history/kv/<key>".into(),
        ));
    }
    let p = Params::parse(q.as_deref());
    let opts = ReadOpts::from_params(&p, &state)?;
    let limit = match p.u64("limit")? {
        None => DEFAULT_LIMIT,
        Some(n) if (1..=MAX_LIMIT as u64).contains(&n) => n as usize,
        Some(n) => {
            return Err(ApiError::BadRequest(format!(
                "Invalid limit {n}: expected 1 to {MAX_LIMIT}"
            )))
        }
    };
    let read = KvHistory {
        key: key.clone(),
        max: limit,
    };
    let Answered {
        meta,
        index,
        answer: KeyHistory { changes, live },
        filtered,
    } = query::run(&state, &caller, &opts, read).await?;
    let headers = read_headers(&meta, index, filtered, opts.consistency);
    let versions: Vec<KvVersion> = if changes.is_empty() {
        live.iter().map(|e| live_version(&key, e)).collect()
    } else {
        changes.iter().map(version).collect()
    };
    if versions.is_empty() {
        return Ok((StatusCode::NOT_FOUND, headers).into_response());
    }
    Ok((headers, Json(versions)).into_response())
}

/// The wire form of one kept change.
fn version(c: &Change) -> KvVersion {
    match &c.entry {
        Some(e) => KvVersion {
            op: WatchOp::Set,
            ..live_version(&c.key, e)
        },
        None => KvVersion {
            index: c.index,
            op: WatchOp::Delete,
            key: c.key.clone(),
            value: None,
            flags: 0,
            create_index: c.prev.as_ref().map_or(0, |p| p.create_index),
            modify_index: c.index,
            lock_index: 0,
            session: None,
        },
    }
}

/// A live entry as the version that wrote it.
fn live_version(key: &str, e: &Entry) -> KvVersion {
    KvVersion {
        index: e.modify_index,
        op: WatchOp::Set,
        key: key.to_owned(),
        value: encode_value(&e.value),
        flags: e.flags,
        create_index: e.create_index,
        modify_index: e.modify_index,
        lock_index: e.lock_index,
        session: e.session.clone(),
    }
}
