//! The checks an agent runs itself, every kind on `praetor-checks`' runners
//! (HTTP and HTTPS, TCP, UDP, script, gRPC, TTL and alias), one runner per
//! check the agent owns. The supervisor starts and stops runners as checks
//! are registered, changed and removed, on the agent's `TaskTracker` and
//! under its cancellation token, so shutdown waits for them. Results go
//! into the local state (only when status or output changes), and from
//! there to the catalog through anti-entropy.
//!
//! TTL checks are fed through [`CheckRunners::ttl_update`]
//! (`PUT /v1/agent/check/pass|warn|fail|update`); alias checks with the
//! aliased instance's state, from the local state (`alias`) or from the
//! servers. Services whose check stays critical too long are removed by
//! [`reap::run_reaper`]. This module never calls the agent's own HTTP API.

pub mod alias;
pub mod reap;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use praetor_api::catalog::check_status;
use praetor_checks::{Definition, Kind, Runner, Status, Update};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::backend::Backend;
use crate::local::{LocalError, LocalState, Owned};

/// The running checks, by ID: shared by the supervisor, which alone starts
/// and stops them, and the handlers that feed TTL checks. One short lock,
/// never held across an await.
#[derive(Default)]
pub struct CheckRunners {
    /// Lock order: this lock, then the local state's (a runner starts from
    /// the local state under it); never the other way round.
    running: Mutex<BTreeMap<String, Running>>,
}

/// One check's runner and the tasks that serve it.
struct Running {
    /// What it runs; a change of definition restarts it.
    definition: Definition,
    /// `None` when the runner could not be built (the reason is the
    /// check's output); it is retried when the definition changes.
    runner: Option<Runner>,
    /// Stops the runner and its tasks.
    stop: CancellationToken,
    /// The update forwarder and, for a remote alias, its reader.
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// Stops the check and waits until nothing of it runs any more, so a
    /// replacement is never overtaken by the old runner's updates.
    async fn shutdown(self) {
        self.stop.cancel();
        if let Some(runner) = self.runner {
            runner.shutdown().await;
        }
        for task in self.tasks {
            if let Err(e) = task.await {
                tracing::error!(error = %e, "a check task failed");
            }
        }
    }
}

impl CheckRunners {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Running>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets a TTL check's status and output and restarts its TTL, as
    /// Consul's `PUT /v1/agent/check/pass|warn|fail|update/<id>`: the local
    /// state (and the data dir) has it when this returns; the runner, once
    /// it has it, turns the check critical if no update follows within the
    /// TTL.
    ///
    /// # Errors
    /// `NoTtl` for an unknown check or one that is not a TTL check;
    /// `Invalid` for a status that is not one of Consul's; `Save`.
    pub fn ttl_update(
        &self,
        local: &LocalState,
        id: &str,
        status: &str,
        output: &str,
    ) -> Result<(), LocalError> {
        if !local.check(id).is_some_and(|c| c.is_ttl()) {
            return Err(LocalError::NoTtl(id.to_owned()));
        }
        local.set_status(id, status, output)?;
        let status: Status = status
            .parse()
            .map_err(|e: praetor_checks::CheckError| LocalError::Invalid(e.to_string()))?;
        // A check registered a moment ago may have no runner yet; it will
        // start from the status just set, with a fresh TTL.
        if let Some(runner) = self.lock().get(id).and_then(|r| r.runner.as_ref()) {
            if let Err(e) = runner.ttl_update(status, output.to_owned()) {
                tracing::debug!(check = %id, error = %e, "TTL update not delivered");
            }
        }
        Ok(())
    }

    /// Feeds an alias check the aliased instance's state (or why it could
    /// not be read).
    fn alias_input(&self, id: &str, input: Result<praetor_checks::AliasView, String>) {
        if let Some(runner) = self.lock().get(id).and_then(|r| r.runner.as_ref()) {
            let fed = match input {
                Ok(view) => runner.alias_update(view),
                Err(reason) => runner.alias_unreachable(reason),
            };
            if let Err(e) = fed {
                tracing::debug!(check = %id, error = %e, "alias input not delivered");
            }
        }
    }
}

/// Records a result in the local state when it changed anything.
fn record(local: &LocalState, id: &str, status: &str, output: &str) {
    match local.check_state(id) {
        Some((s, o)) if s != status || o != output => {
            if let Err(e) = local.set_status(id, status, output) {
                tracing::debug!(check = %id, error = %e, "check result not recorded");
            }
        }
        _ => {}
    }
}

/// Moves one runner's updates into the local state, until `stop`.
async fn run_forwarder(
    local: Arc<LocalState>,
    id: String,
    mut updates: mpsc::Receiver<Update>,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            biased;
            () = stop.cancelled() => return,
            update = updates.recv() => match update {
                Some(u) => record(&local, &id, u.status.as_str(), &u.output),
                None => return,
            },
        }
    }
}

/// What a runner needs from the agent.
struct Context<'a> {
    local: &'a Arc<LocalState>,
    runners: &'a Arc<CheckRunners>,
    backend: &'a Arc<Backend>,
    acl: &'a Arc<crate::acl::AgentAcl>,
    tasks: &'a TaskTracker,
}

/// Starts one check's runner from its current status (and, for a TTL
/// check, its current output, with a fresh TTL, as after a restart).
fn start(cx: &Context<'_>, id: &str, definition: &Definition, stop: CancellationToken) -> Running {
    let (status, output) = cx.local.check_state(id).unwrap_or_default();
    let mut def = definition.clone();
    def.initial = status.parse().unwrap_or(Status::Critical);
    let (tx, rx) = mpsc::channel(4);
    let runner = match Runner::spawn_on(cx.tasks, def, tx, stop.clone()) {
        Ok(r) => r,
        Err(e) => {
            // Registration validated the definition; what is left (a TLS
            // client that cannot be built) is reported in the output.
            record(cx.local, id, check_status::CRITICAL, &e.to_string());
            return Running {
                definition: definition.clone(),
                runner: None,
                stop,
                tasks: Vec::new(),
            };
        }
    };
    let mut tasks = vec![cx.tasks.spawn(run_forwarder(
        cx.local.clone(),
        id.to_owned(),
        rx,
        stop.clone(),
    ))];
    match &definition.kind {
        Kind::Ttl { .. } => {
            // Its last output, so an expiry quotes it as Consul does.
            if let Ok(status) = status.parse() {
                if let Err(e) = runner.ttl_update(status, output) {
                    tracing::debug!(check = %id, error = %e, "TTL check not seeded");
                }
            }
        }
        Kind::Alias {
            node: Some(node),
            service_id,
        } => tasks.push(cx.tasks.spawn(alias::run_remote(
            cx.runners.clone(),
            cx.backend.clone(),
            cx.acl.clone(),
            id.to_owned(),
            node.clone(),
            service_id.clone(),
            stop.clone(),
        ))),
        _ => {}
    }
    Running {
        definition: definition.clone(),
        runner: Some(runner),
        stop,
        tasks,
    }
}

/// Feeds every local alias check the current state of what it aliases.
fn feed_local_aliases(runners: &CheckRunners, owned: &Owned) {
    let running = runners.lock();
    for (id, r) in running.iter() {
        if let (
            Kind::Alias {
                node: None,
                service_id,
            },
            Some(runner),
        ) = (&r.definition.kind, &r.runner)
        {
            let view = alias::local_view(owned, service_id, id);
            if let Err(e) = runner.alias_update(view) {
                tracing::debug!(check = %id, error = %e, "alias input not delivered");
            }
        }
    }
}

/// Keeps one runner per check the agent owns: starts runners for new or
/// changed checks, stops those whose check went away, and feeds local alias
/// checks on every change of the local state. Runners and their tasks go on
/// `tasks`; when `stop` is cancelled every runner is stopped and waited for.
pub async fn run_supervisor(
    local: Arc<LocalState>,
    runners: Arc<CheckRunners>,
    backend: Arc<Backend>,
    acl: Arc<crate::acl::AgentAcl>,
    tasks: TaskTracker,
    stop: CancellationToken,
) {
    let mut changes = local.subscribe();
    let cx = Context {
        local: &local,
        runners: &runners,
        backend: &backend,
        acl: &acl,
        tasks: &tasks,
    };
    loop {
        let owned = local.owned();
        let wanted: BTreeMap<&String, &Definition> = owned
            .checks
            .iter()
            .filter_map(|(id, c)| Some((id, c.definition.as_ref()?)))
            .collect();
        let stale: Vec<Running> = {
            let mut running = runners.lock();
            let gone: Vec<String> = running
                .iter()
                .filter(|(id, r)| wanted.get(id) != Some(&&r.definition))
                .map(|(id, _)| id.clone())
                .collect();
            gone.iter().filter_map(|id| running.remove(id)).collect()
        };
        for r in stale {
            r.shutdown().await;
        }
        for (id, def) in wanted {
            // Started under the lock: a TTL update racing with the start
            // either is in the state the runner starts from, or finds the
            // runner.
            let mut running = runners.lock();
            if !running.contains_key(id) {
                let started = start(&cx, id, def, stop.child_token());
                running.insert(id.clone(), started);
            }
        }
        feed_local_aliases(&runners, &owned);
        tokio::select! {
            changed = changes.changed() => if changed.is_err() { break },
            () = stop.cancelled() => break,
        }
    }
    let all: Vec<Running> = std::mem::take(&mut *runners.lock()).into_values().collect();
    for r in all {
        r.shutdown().await;
    }
}

#[cfg(test)]
mod tests;
