//! `GET /v1/agent/monitor`: the agent's log lines as they are logged, as
//! Consul streams them: `?loglevel=` (trace, debug, info, warn, error;
//! default info; another is 400 `Unknown log level: …`), `?logjson` for
//! hclog's JSON lines; agent:read on this agent. A chunked body that ends
//! when the client goes away or the agent stops. A reader too slow for the
//! log loses lines and reads a line saying how many; logging never waits.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use praetor_acl::Access;
use tracing::Level;

use super::error::ApiError;
use super::extract::Caller;
use super::query::Params;
use super::AppState;
use crate::logs::{self, LogLine, Subscription};

/// Most lines sent in one chunk.
const BATCH: usize = 64;

pub async fn monitor(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    state.require_agent(&caller, Access::Read).await?;
    let p = Params::parse(q.as_deref());
    let level = match p.get("loglevel").filter(|l| !l.is_empty()) {
        None => Level::INFO,
        Some(l) => logs::parse_level(l)
            .ok_or_else(|| ApiError::BadRequest(format!("Unknown log level: {l}")))?,
    };
    let json = p.has("logjson");
    let sub = logs::hub().subscribe(level);
    let stop = state.stop.clone();
    let stream = futures::stream::unfold(Some(sub), move |sub| {
        let stop = stop.clone();
        async move {
            let mut sub = sub?;
            // Lines first: those logged as the agent stops still go out.
            let first = tokio::select! {
                biased;
                next = sub.next() => next,
                () = stop.cancelled() => return None,
            };
            let mut chunk = String::new();
            let mut open = add(&mut chunk, first, json);
            let mut lines = 1;
            while open && lines < BATCH {
                let Some(next) = sub.try_next() else { break };
                open = add(&mut chunk, next, json);
                lines += 1;
            }
            let rest: Option<Subscription> = open.then_some(sub);
            Some((Ok::<_, std::io::Error>(Bytes::from(chunk)), rest))
        }
    });
    Ok((
        [("content-type", "text/plain; charset=utf-8")],
        Body::from_stream(stream),
    )
        .into_response())
}

/// Appends what the monitor read; false when the hub closed.
fn add(chunk: &mut String, next: logs::Next, json: bool) -> bool {
    use logs::Next;
    match next {
        Next::Line(line) => chunk.push_str(&line.render(json)),
        Next::Dropped(n) => {
            let note = LogLine::new(
                Level::WARN,
                "agent.monitor",
                format!("{n} log lines dropped: this monitor reads slower than the agent logs"),
            );
            chunk.push_str(&note.render(json));
        }
        Next::Closed => return false,
    }
    true
}
