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

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use praetor_api::catalog::check_status;
use praetor_checks::{Definition, Kind, Runner, Status, Update};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::backend::Backend;
use crate::local::{Entry, LocalCheck, LocalError, LocalState};

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

/// Feeds local alias check `id` (of `service_id`; `""`: the node) the
/// current state of what it aliases.
fn feed_local_alias(runners: &CheckRunners, local: &LocalState, id: &str, service_id: &str) {
    if let Some(runner) = runners.lock().get(id).and_then(|r| r.runner.as_ref()) {
        let view = alias::local_view_of(local, service_id, id);
        if let Err(e) = runner.alias_update(view) {
            tracing::debug!(check = %id, error = %e, "alias input not delivered");
        }
    }
}

/// Keeps one runner per check the agent owns: starts runners for new or
/// changed checks, stops those whose check went away, and feeds local alias
/// checks when what they alias changes. After a first pass over every
/// check it looks only at the entries that changed (the local state's
/// [`Feed`](crate::local::Feed)), so a registration costs the same
/// however many checks run. Runners and their tasks go on `tasks`; when
/// `stop` is cancelled every runner is stopped and waited for.
pub async fn run_supervisor(
    local: Arc<LocalState>,
    runners: Arc<CheckRunners>,
    backend: Arc<Backend>,
    acl: Arc<crate::acl::AgentAcl>,
    tasks: TaskTracker,
    stop: CancellationToken,
) {
    let mut changes = local.subscribe();
    let feed = local.feed();
    let cx = Context {
        local: &local,
        runners: &runners,
        backend: &backend,
        acl: &acl,
        tasks: &tasks,
    };
    // Local alias checks: the service each aliases (`""`: the node).
    let mut aliases: BTreeMap<String, String> = BTreeMap::new();
    let mut changed: Vec<Entry> = local.owned().checks.into_keys().map(Entry::Check).collect();
    let mut first = true;
    loop {
        // The checks that changed, with their service; `None` when gone.
        let mut touched_services: BTreeSet<String> = BTreeSet::new();
        let mut any_gone = false;
        let mut started = BTreeSet::new();
        for entry in &changed {
            let id = match entry {
                Entry::Service(id) => {
                    touched_services.insert(id.clone());
                    continue;
                }
                Entry::Check(id) => id,
            };
            let check = local.check(id);
            match &check {
                Some(c) => {
                    touched_services.insert(c.service_id.clone());
                }
                None => any_gone = true,
            }
            if reconcile(&cx, id, check, &stop, &mut aliases).await {
                started.insert(id.clone());
            }
        }
        for (id, service_id) in &aliases {
            // What a local alias sees: its service, its service's checks
            // and the node's (a removed check may have been either).
            if first
                || any_gone
                || started.contains(id)
                || touched_services.contains(service_id)
                || touched_services.contains("")
            {
                feed_local_alias(&runners, &local, id, service_id);
            }
        }
        first = false;
        tokio::select! {
            changed = changes.changed() => if changed.is_err() { break },
            () = stop.cancelled() => break,
        }
        changed = feed.take().into_iter().collect();
    }
    let all: Vec<Running> = std::mem::take(&mut *runners.lock()).into_values().collect();
    for r in all {
        r.shutdown().await;
    }
}

/// Brings check `id`'s runner in line with the check (`None`: gone):
/// stops a runner whose definition changed or whose check went away, then
/// starts one for a check that has none. `true` when it started one.
async fn reconcile(
    cx: &Context<'_>,
    id: &str,
    check: Option<LocalCheck>,
    stop: &CancellationToken,
    aliases: &mut BTreeMap<String, String>,
) -> bool {
    let wanted = check.and_then(|c| c.definition);
    let stale = {
        let mut running = cx.runners.lock();
        match running.get(id) {
            Some(r) if Some(&r.definition) != wanted.as_ref() => running.remove(id),
            _ => None,
        }
    };
    if let Some(r) = stale {
        r.shutdown().await;
    }
    match &wanted {
        Some(Definition {
            kind:
                Kind::Alias {
                    node: None,
                    service_id,
                },
            ..
        }) => {
            aliases.insert(id.to_owned(), service_id.clone());
        }
        _ => {
            aliases.remove(id);
        }
    }
    let Some(def) = wanted else {
        return false;
    };
    // Started under the lock: a TTL update racing with the start either is
    // in the state the runner starts from, or finds the runner.
    let mut running = cx.runners.lock();
    if running.contains_key(id) {
        return false;
    }
    let started = start(cx, id, &def, stop.child_token());
    running.insert(id.to_owned(), started);
    true
}

#[cfg(test)]
mod tests;
