//! `GET /v1/agent/debug/tasks`: what this agent process runs, for `praetor
//! debug` (Praetor's stand-in for Consul's goroutine profile, which a Rust
//! process cannot give): the async runtime's worker and live task counts
//! and the process's threads with their names and states (Linux
//! `/proc/self/task`). Counts and names only, no stacks. operator:read.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use praetor_acl::{Access, Global};
use serde::Serialize;

use super::error::ApiError;
use super::extract::Caller;
use super::AppState;

/// The answer of `GET /v1/agent/debug/tasks`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tasks {
    /// The tokio runtime serving this request.
    pub runtime: RuntimeTasks,
    /// The process's threads (empty where `/proc` is absent).
    pub threads: Vec<Thread>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RuntimeTasks {
    pub workers: usize,
    /// Tasks spawned and not yet finished: every long-lived duty of the
    /// agent (gossip, Raft, checks, listeners) and each open connection.
    pub alive_tasks: usize,
    /// Tasks waiting in the shared queue for a worker.
    pub global_queue_depth: usize,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Thread {
    pub id: u64,
    pub name: String,
    /// `/proc`'s one-letter state: R running, S sleeping, D disk wait, …
    pub state: String,
}

pub async fn tasks(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Json<Tasks>, ApiError> {
    state
        .authorize(&caller)
        .await?
        .require_global(Global::Operator, Access::Read)?;
    let m = tokio::runtime::Handle::current().metrics();
    Ok(Json(Tasks {
        runtime: RuntimeTasks {
            workers: m.num_workers(),
            alive_tasks: m.num_alive_tasks(),
            global_queue_depth: m.global_queue_depth(),
        },
        threads: threads(),
    }))
}

fn threads() -> Vec<Thread> {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    let mut out: Vec<Thread> = dir
        .filter_map(Result::ok)
        .filter_map(|e| {
            let id = e.file_name().to_str()?.parse().ok()?;
            let name = std::fs::read_to_string(e.path().join("comm")).ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            // `pid (comm) S …`: the state follows the last ')'.
            let state = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .next()?
                .to_owned();
            Some(Thread {
                id,
                name: name.trim_end().to_owned(),
                state,
            })
        })
        .collect();
    out.sort_by_key(|t| t.id);
    out
}
