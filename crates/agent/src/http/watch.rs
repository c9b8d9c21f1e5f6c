//! `GET /v1/watch/kv/<prefix>?index=N`: Praetor's watch stream. Every change
//! under the prefix from index N on (inclusive), in order, one JSON object per
//! line, each with the previous value; nothing is skipped. When N is older
//! than the kept history the answer is `410 Gone` with the oldest index kept;
//! a reader that falls that far behind mid-stream gets a last line saying so.
//!
//! The stream is a chain of blocking queries for the changes after the last
//! one sent, each answered from a server's local copy (a stale read: every
//! server applies every change in order, so none is skipped), on this
//! agent's server or, on a client agent, on a server over RPC.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use praetor_api::kv::Compacted;
use praetor_server::read::{ChangesSince, KvChanges};
use praetor_server::{Consistency, QueryOpts};

use super::error::ApiError;
use super::extract::Caller;
use super::kv::key_from_path;
use super::query::{self, Params};
use super::AppState;

/// Most changes sent in one chunk.
const BATCH: usize = 4096;
/// How long one link of the chain waits for a change.
const LINK_WAIT: Duration = Duration::from_secs(60);

pub async fn watch_kv(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    uri: Uri,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let prefix = key_from_path(uri.path(), "/v1/watch/kv")?;
    let p = Params::parse(q.as_deref());
    query::only_local_dc(&p, &state, "a KV watch stream")?;
    let from = p.u64("index")?;
    // The first link answers at once: it tells the current index (where a
    // watch without `?index` starts) and whether `?index` is still kept.
    let first = changes(&state, caller.token(), &prefix, from.unwrap_or(u64::MAX), 0).await?;
    let (start, current) = match first {
        Link::Compacted(body) => return Err(ApiError::Gone(body)),
        Link::Changes { current, .. } => (from.unwrap_or(current + 1), current),
    };
    let stop = state.stop.clone();
    // Every link of the stream is read with the caller's token: a token
    // deleted meanwhile ends the stream.
    let token = caller.0;
    let stream = futures::stream::unfold(Some(start), move |cursor| {
        let state = state.clone();
        let prefix = prefix.clone();
        let token = token.clone();
        let stop = stop.clone();
        async move {
            let mut from = cursor?;
            loop {
                let link = tokio::select! {
                    link = changes(&state, &token, &prefix, from, from.saturating_sub(1)) => link,
                    () = stop.cancelled() => return None,
                };
                match link {
                    Ok(Link::Changes {
                        lines: Some(chunk),
                        next,
                        ..
                    }) => return Some((Ok::<_, std::io::Error>(chunk), Some(next))),
                    Ok(Link::Changes {
                        lines: None, next, ..
                    }) => from = next,
                    Ok(Link::Compacted(body)) => {
                        let mut line = serde_json::to_vec(&body).unwrap_or_default();
                        line.push(b'\n');
                        return Some((Ok(Bytes::from(line)), None));
                    }
                    // The agent or its servers went away: end the stream;
                    // the reader sees it end and resumes from its last index.
                    Err(e) => {
                        tracing::debug!(error = %e, "watch stream ended");
                        return None;
                    }
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

/// One link of the chain.
enum Link {
    /// The lines to send (`None`: nothing under the prefix changed), the
    /// index to continue from, and the store's last index.
    Changes {
        lines: Option<Bytes>,
        next: u64,
        current: u64,
    },
    /// The changes from the asked index are no longer kept.
    Compacted(Compacted),
}

/// The changes under `prefix` from `from` on, waiting while there are none
/// and `index` is not 0.
async fn changes(
    state: &AppState,
    token: &praetor_server::acl::Token,
    prefix: &str,
    from: u64,
    index: u64,
) -> Result<Link, ApiError> {
    let read = KvChanges {
        prefix: prefix.to_owned(),
        from,
        max: BATCH,
    };
    let opts = QueryOpts {
        index,
        wait: LINK_WAIT,
        consistency: Consistency::Stale,
    };
    match state.backend.read(token, read, opts).await?.answer {
        ChangesSince::Changes {
            changes,
            next,
            current,
        } => {
            if changes.is_empty() {
                return Ok(Link::Changes {
                    lines: None,
                    next,
                    current,
                });
            }
            let mut out = Vec::with_capacity(changes.len() * 128);
            for c in &changes {
                // serde_json never fails on these plain structs.
                serde_json::to_writer(&mut out, &c.to_event()).unwrap_or_default();
                out.push(b'\n');
            }
            Ok(Link::Changes {
                lines: Some(Bytes::from(out)),
                next,
                current,
            })
        }
        ChangesSince::Compacted { oldest, current } => Ok(Link::Compacted(Compacted {
            error: format!(
                "index {from} is older than the oldest change kept ({oldest}); read the current state and watch from its index"
            ),
            oldest_index: oldest,
            current_index: current,
        })),
    }
}
