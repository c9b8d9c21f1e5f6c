//! `GET /v1/watch/kv/<prefix>?index=N`: Praetor's watch stream. Every change
//! under the prefix from index N on (inclusive), in order, one JSON object per
//! line, each with the previous value; nothing is skipped. When N is older
//! than the kept history the answer is `410 Gone` with the oldest index kept;
//! a reader that falls that far behind mid-stream gets a last line saying so.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use praetor_api::kv::Compacted;
use praetor_server::Server;
use praetor_store::HistoryError;

use super::error::ApiError;
use super::kv::key_from_path;
use super::query::{self, Params};
use super::AppState;

/// Most events sent in one chunk.
const BATCH: usize = 4096;

pub async fn watch_kv(
    State(state): State<Arc<AppState>>,
    uri: Uri,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let prefix = key_from_path(uri.path(), "/v1/watch/kv")?;
    let p = Params::parse(q.as_deref());
    query::check_dc(&p, &state)?;
    let server = state.server()?.clone();
    let rx = server.subscribe();
    let (start, current) = {
        let st = server.shared().read();
        let current = st.store.last_index();
        let start = p.u64("index")?.unwrap_or(current + 1);
        if let Err(HistoryError::Compacted { oldest, .. }) =
            st.store.history().since(&prefix, start, 0)
        {
            let body = Compacted {
                error: format!("index {start} is older than the oldest change kept ({oldest}); read the current state and watch from its index"),
                oldest_index: oldest,
                current_index: current,
            };
            return Ok((
                StatusCode::GONE,
                [("X-Consul-Index", current.to_string())],
                Json(body),
            )
                .into_response());
        }
        (start, current)
    };
    let stop = state.stop.clone();
    let stream = futures::stream::unfold(Some((start, rx)), move |cursor| {
        let server = server.clone();
        let prefix = prefix.clone();
        let stop = stop.clone();
        async move {
            let (mut from, mut rx) = cursor?;
            loop {
                match next_chunk(&server, &prefix, from) {
                    Ok((Some(chunk), next)) => {
                        return Some((Ok::<_, std::io::Error>(chunk), Some((next, rx))))
                    }
                    Ok((None, next)) => from = next,
                    Err(line) => return Some((Ok(line), None)),
                }
                tokio::select! {
                    changed = rx.changed() => if changed.is_err() { return None },
                    () = stop.cancelled() => return None,
                }
            }
        }
    });
    Ok((
        [
            ("content-type", "application/x-ndjson"),
            ("X-Consul-Index", &current.to_string()),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

/// The lines to send from index `from` (`None` when nothing under the prefix
/// changed) and the index to continue from; `Err(last line)` when the reader
/// fell behind the history.
fn next_chunk(server: &Server, prefix: &str, from: u64) -> Result<(Option<Bytes>, u64), Bytes> {
    let st = server.shared().read();
    let changes = match st.store.history().since(prefix, from, usize::MAX) {
        Ok(c) => c,
        Err(HistoryError::Compacted { oldest, .. }) => {
            let body = Compacted {
                error: format!("the watcher fell behind: index {from} is older than the oldest change kept ({oldest})"),
                oldest_index: oldest,
                current_index: st.store.last_index(),
            };
            let mut line = serde_json::to_vec(&body).unwrap_or_default();
            line.push(b'\n');
            return Err(Bytes::from(line));
        }
    };
    // Everything applied so far has been looked at, matching or not.
    let next = (st.store.last_index() + 1).max(from);
    if changes.is_empty() {
        return Ok((None, next));
    }
    let mut out = Vec::with_capacity(changes.len().min(BATCH) * 128);
    for c in &changes {
        // serde_json never fails on these plain structs.
        serde_json::to_writer(&mut out, &c.to_event()).unwrap_or_default();
        out.push(b'\n');
    }
    Ok((Some(Bytes::from(out)), next))
}
