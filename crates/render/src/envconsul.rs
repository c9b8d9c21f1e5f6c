//! envconsul: runs a child with the keys under some KV prefixes as its
//! environment, and restarts it whenever that environment changes. The
//! child starts once every prefix has been read (a missing prefix is
//! empty); while the agent cannot be reached the child keeps running with
//! the environment it has, and reads are retried with back-off. SIGINT,
//! SIGTERM and SIGQUIT stop the child (its kill signal, then SIGKILL after
//! the kill timeout) and end the run; any other signal is passed on to it.
//! The run ends with the child's exit code when the child ends. With
//! `-wait`, a restart waits for the prefixes to settle (`quiesce`).

use std::collections::BTreeMap;

use praetor_api::KvPair;
use praetor_client::{Client, QueryOptions};
use tokio::sync::mpsc;

use crate::child::{exit_code, Child, ChildEnv, ChildError, ChildSpec};
use crate::env::{variables, EnvError, Naming};
use crate::quiesce::{Quiescence, Wait};
use crate::watch::{Endpoint, Update, WatchError, Watcher};

/// What envconsul runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvConsul {
    /// The KV prefixes, in order (a later one overrides an earlier one).
    pub prefixes: Vec<String>,
    pub naming: Naming,
    /// The child sees only the prefixes' variables.
    pub pristine: bool,
    pub child: ChildSpec,
    /// Start the child once with the first environment; never restart it.
    pub once: bool,
    /// Quiescence before a restart (`-wait`).
    pub wait: Option<Wait>,
}

/// Why envconsul ended without a child's exit code.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Child(#[from] ChildError),
    #[error(transparent)]
    Env(#[from] EnvError),
    #[error(transparent)]
    Watch(#[from] WatchError),
    #[error("prefix {prefix:?}: the agent answered {what}, not a list of keys")]
    Shape { prefix: String, what: String },
}

/// Runs envconsul until its child ends or a stop signal arrives on
/// `signals`; returns the exit code to end with.
///
/// # Errors
/// When the child cannot start, a prefix's keys make no environment, or
/// the agent answers something that is not a key list.
pub async fn run(
    cfg: &EnvConsul,
    client: Client,
    opts: QueryOptions,
    mut signals: mpsc::Receiver<i32>,
) -> Result<i32, RunError> {
    let (mut watcher, mut updates) = Watcher::new(client, opts);
    for (i, prefix) in cfg.prefixes.iter().enumerate() {
        let path = format!("/v1/kv/{}", prefix.trim_start_matches('/'));
        watcher.watch(
            i,
            Endpoint {
                path,
                params: vec![("recurse".to_owned(), String::new())],
            },
        )?;
    }
    let mut data: BTreeMap<usize, Vec<(String, Vec<u8>)>> = BTreeMap::new();
    let mut child: Option<Child> = None;
    let mut current: Option<ChildEnv> = None;
    let mut signals_open = true;
    // The first environment starts the child at once; later ones wait.
    let mut settle = Quiescence::new(None);
    loop {
        let due = settle.deadline();
        tokio::select! {
            update = updates.recv() => {
                // The watcher holds a sender for as long as this runs.
                let Some(update) = update else { continue };
                match update {
                    Update::Data { key, value, .. } => {
                        data.insert(key, pairs(&cfg.prefixes[key], value)?);
                        if data.len() == cfg.prefixes.len() {
                            settle.changed(std::time::Instant::now());
                        }
                    }
                    Update::Failed { key, error, retry } => {
                        tracing::warn!(prefix = %cfg.prefixes[key], %error, ?retry, "reading the prefix failed; retrying");
                    }
                }
            }
            () = crate::quiesce::until(due) => {
                settle.rendered();
                let listings = data.iter().map(|(i, p)| (cfg.prefixes[*i].as_str(), p.as_slice()));
                let env = ChildEnv { pristine: cfg.pristine, vars: variables(listings, cfg.naming)? };
                if current.as_ref() == Some(&env) {
                    continue;
                }
                match &mut child {
                    None => {
                        let c = Child::start(&cfg.child, &env)?;
                        tracing::info!(pid = c.pid(), "child started");
                        child = Some(c);
                        settle = Quiescence::new(cfg.wait);
                    }
                    Some(_) if cfg.once => {}
                    Some(c) => {
                        tracing::info!("environment changed; restarting the child");
                        c.reload(&env).await?;
                    }
                }
                current = Some(env);
            }
            status = crate::child::ended(&mut child) => {
                return Ok(exit_code(status));
            }
            sig = signals.recv(), if signals_open => {
                let Some(sig) = sig else {
                    signals_open = false;
                    continue;
                };
                if let Some(code) = crate::child::on_signal(&mut child, sig, 128 + sig).await {
                    return Ok(code);
                }
            }
        }
    }
}

/// The keys and decoded values of a prefix's listing (`null`: none).
fn pairs(prefix: &str, value: serde_json::Value) -> Result<Vec<(String, Vec<u8>)>, RunError> {
    if value.is_null() {
        return Ok(Vec::new());
    }
    let list: Vec<KvPair> = serde_json::from_value(value).map_err(|e| RunError::Shape {
        prefix: prefix.to_owned(),
        what: e.to_string(),
    })?;
    Ok(list
        .into_iter()
        .map(|p| {
            let v = p.decoded_value();
            (p.key, v)
        })
        .collect())
}
