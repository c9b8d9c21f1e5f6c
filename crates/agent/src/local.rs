//! The services and checks this agent owns (registered through
//! `/v1/agent/*`), kept in its data dir so they survive a restart, and
//! anti-entropy: the agent pushes them to the catalog at once on every
//! change and re-syncs periodically, repairing drift both ways (an entry
//! deleted from the catalog behind its back comes back; one the agent no
//! longer has is removed), as Consul's agents do.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use praetor_api::catalog::{
    check_status, CheckDefinition, RegisterRequest, ServiceDefinition, SERF_CHECK_ID,
};
use praetor_server::leader::SERVER_SERVICE;
use praetor_server::read::{CatalogNode, NodeChecks};
use praetor_server::{Consistency, QueryOpts};
use praetor_store::model::Deregistration;
use praetor_store::{Command, Response};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::backend::Backend;

mod saved;

/// Consul's anti-entropy interval for clusters up to 128 nodes.
const SYNC_EVERY: Duration = Duration::from_secs(60);

/// The anti-entropy interval for a cluster of `nodes`, scaled as Consul's
/// (`lib.RateScaledInterval`-like): 1 minute up to 128 nodes, then one more
/// minute per doubling, so the servers see a bounded sync rate.
pub fn sync_interval(nodes: usize) -> Duration {
    const THRESHOLD: f64 = 128.0;
    if nodes <= 128 {
        return SYNC_EVERY;
    }
    let scale = ((nodes as f64).log2() - THRESHOLD.log2()).ceil() as u32 + 1;
    SYNC_EVERY * scale
}
/// Retry pause after a failed sync.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// A check this agent owns, with its current state.
///
/// Saved in the data dir in the shape earlier releases wrote
/// ([`saved::SavedCheck`]), so a restarted or upgraded agent reads it back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "saved::SavedCheck", from = "saved::SavedCheck")]
pub struct LocalCheck {
    pub id: String,
    pub name: String,
    pub service_id: String,
    pub notes: String,
    pub status: String,
    pub output: String,
    /// `DeregisterCriticalServiceAfter`: the service is removed once this
    /// check has been critical that long.
    pub deregister_after: Option<Duration>,
    /// What the agent runs for it on `praetor-checks` (its kind, interval,
    /// timeout and thresholds); `None` for a maintenance check, whose
    /// status only the agent sets. Its `initial` status is taken from
    /// `status` when the runner starts.
    pub definition: Option<praetor_checks::Definition>,
}

impl LocalCheck {
    /// Consul's `Type` of the check: its kind's name (`ttl`, `http`, `tcp`,
    /// `udp`, `grpc`, `script`, `alias`), or `maintenance`.
    pub fn kind_name(&self) -> &'static str {
        self.definition
            .as_ref()
            .map_or("maintenance", |d| d.kind.name())
    }

    /// Whether it is a TTL check (its status is set through the API).
    pub fn is_ttl(&self) -> bool {
        self.definition
            .as_ref()
            .is_some_and(|d| matches!(d.kind, praetor_checks::Kind::Ttl { .. }))
    }
}

/// What the agent owns.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owned {
    pub services: BTreeMap<String, ServiceDefinition>,
    pub checks: BTreeMap<String, LocalCheck>,
}

/// The agent's local state: one lock, short sections, never across an await.
pub struct LocalState {
    owned: Mutex<Owned>,
    /// `data_dir/local`: one file per service (`services/`) and per check
    /// (`checks/`), so a change writes only what it changed.
    dir: Option<PathBuf>,
    changed: Notify,
    /// Bumped on every change, for the check runners' supervisor.
    version: tokio::sync::watch::Sender<u64>,
}

/// Why a local change was refused.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("Unknown service ID {0:?}")]
    UnknownService(String),
    #[error("Unknown check ID {0:?}")]
    UnknownCheck(String),
    /// A status update for a check that is not a TTL check (or not there
    /// at all), in Consul's words.
    #[error("CheckID {0:?} does not have associated TTL")]
    NoTtl(String),
    #[error("{0}")]
    Invalid(String),
    #[error("saving the agent's services in {path}")]
    Save {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl LocalState {
    /// Loads what a previous run saved in `data_dir` (nothing in dev mode).
    pub fn load(data_dir: Option<&std::path::Path>) -> Arc<LocalState> {
        let dir = data_dir.map(|d| d.join("local"));
        let owned = dir.as_deref().map(load_dir).unwrap_or_default();
        Arc::new(LocalState {
            owned: Mutex::new(owned),
            dir,
            changed: Notify::new(),
            version: tokio::sync::watch::channel(0).0,
        })
    }

    /// A receiver that changes whenever the owned services or checks do.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.version.subscribe()
    }

    /// A copy of what the agent owns.
    pub fn owned(&self) -> Owned {
        self.lock().clone()
    }

    /// A check's status and output, without copying the rest of the state.
    pub fn check_state(&self, id: &str) -> Option<(String, String)> {
        self.lock()
            .checks
            .get(id)
            .map(|c| (c.status.clone(), c.output.clone()))
    }

    /// One check, without copying the rest of the state.
    pub fn check(&self, id: &str) -> Option<LocalCheck> {
        self.lock().checks.get(id).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Owned> {
        self.owned.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies `f` to the state; when it succeeds, saves and wakes the sync.
    fn change<T>(
        &self,
        f: impl FnOnce(&mut Owned) -> Result<T, LocalError>,
    ) -> Result<T, LocalError> {
        let out = {
            let mut owned = self.lock();
            let mut next = owned.clone();
            let out = f(&mut next)?;
            if let Some(dir) = &self.dir {
                save_changes(dir, &owned, &next)?;
            }
            *owned = next;
            out
        };
        self.changed.notify_one();
        self.version.send_modify(|v| *v += 1);
        Ok(out)
    }

    /// Registers (or replaces) a service with its checks.
    ///
    /// # Errors
    /// `Invalid` without a name; `Save` when it cannot be persisted.
    pub fn add_service(
        &self,
        svc: ServiceDefinition,
        checks: Vec<LocalCheck>,
    ) -> Result<(), LocalError> {
        if svc.service.is_empty() {
            return Err(LocalError::Invalid("Missing service name".into()));
        }
        self.change(|o| {
            let id = if svc.id.is_empty() {
                svc.service.clone()
            } else {
                svc.id.clone()
            };
            o.services.insert(
                id.clone(),
                ServiceDefinition {
                    id: id.clone(),
                    ..svc
                },
            );
            for mut c in checks {
                c.service_id = id.clone();
                o.checks.insert(c.id.clone(), c);
            }
            Ok(())
        })
    }

    /// Removes a service and its checks.
    ///
    /// # Errors
    /// `UnknownService`.
    pub fn remove_service(&self, id: &str) -> Result<(), LocalError> {
        self.change(|o| {
            o.services
                .remove(id)
                .ok_or_else(|| LocalError::UnknownService(id.to_owned()))?;
            o.checks.retain(|_, c| c.service_id != id);
            Ok(())
        })
    }

    /// Registers (or replaces) a check.
    ///
    /// # Errors
    /// `UnknownService` when it names a service this agent does not have.
    pub fn add_check(&self, check: LocalCheck) -> Result<(), LocalError> {
        self.change(|o| {
            if !check.service_id.is_empty() && !o.services.contains_key(&check.service_id) {
                return Err(LocalError::UnknownService(check.service_id.clone()));
            }
            o.checks.insert(check.id.clone(), check);
            Ok(())
        })
    }

    /// Removes a check.
    ///
    /// # Errors
    /// `UnknownCheck`.
    pub fn remove_check(&self, id: &str) -> Result<(), LocalError> {
        self.change(|o| {
            o.checks
                .remove(id)
                .map(|_| ())
                .ok_or_else(|| LocalError::UnknownCheck(id.to_owned()))
        })
    }

    /// Sets a check's status and output (TTL updates, check results); the
    /// output is capped at [`MAX_OUTPUT`](crate::definition::MAX_OUTPUT)
    /// bytes as the check runners cap it.
    ///
    /// # Errors
    /// `UnknownCheck`; `Invalid` for a status that is not one of Consul's.
    pub fn set_status(&self, id: &str, status: &str, output: &str) -> Result<(), LocalError> {
        if ![
            check_status::PASSING,
            check_status::WARNING,
            check_status::CRITICAL,
        ]
        .contains(&status)
        {
            return Err(LocalError::Invalid(format!(
                "Invalid check status {status:?}"
            )));
        }
        let output = praetor_checks::cap_output(output.to_owned(), crate::definition::MAX_OUTPUT);
        self.change(|o| {
            let c = o
                .checks
                .get_mut(id)
                .ok_or_else(|| LocalError::UnknownCheck(id.to_owned()))?;
            c.status = status.to_owned();
            c.output = output;
            Ok(())
        })
    }
}

/// The file of one saved entry: its ID hex-encoded, so any ID is a safe
/// file name.
fn entry_file(dir: &std::path::Path, kind: &str, id: &str) -> PathBuf {
    let name: String = id.bytes().map(|b| format!("{b:02x}")).collect();
    dir.join(kind).join(format!("{name}.json"))
}

/// Writes the entries that differ between `before` and `after` and removes
/// those that went away (each written to a temporary file and renamed, so a
/// crash leaves the old or the new entry, never half of one).
fn save_changes(dir: &std::path::Path, before: &Owned, after: &Owned) -> Result<(), LocalError> {
    fn sync<T: Serialize + PartialEq>(
        dir: &std::path::Path,
        kind: &str,
        before: &BTreeMap<String, T>,
        after: &BTreeMap<String, T>,
    ) -> Result<(), LocalError> {
        let err = |path: &std::path::Path| {
            let path = path.display().to_string();
            move |source| LocalError::Save { path, source }
        };
        let mut made_dir = false;
        for (id, entry) in after {
            if before.get(id) == Some(entry) {
                continue;
            }
            let file = entry_file(dir, kind, id);
            if !made_dir {
                std::fs::create_dir_all(dir.join(kind)).map_err(err(&file))?;
                made_dir = true;
            }
            let tmp = file.with_extension("tmp");
            let bytes = serde_json::to_vec(entry).unwrap_or_default();
            std::fs::write(&tmp, bytes).map_err(err(&tmp))?;
            std::fs::rename(&tmp, &file).map_err(err(&file))?;
        }
        for id in before.keys().filter(|id| !after.contains_key(*id)) {
            let file = entry_file(dir, kind, id);
            match std::fs::remove_file(&file) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(err(&file)(e)),
                _ => {}
            }
        }
        Ok(())
    }
    sync(dir, "services", &before.services, &after.services)?;
    sync(dir, "checks", &before.checks, &after.checks)
}

/// Reads the saved services and checks (an entry that cannot be read is
/// skipped with a warning). A `state.json` from an earlier version, which
/// kept everything in one file, is read and converted.
fn load_dir(dir: &std::path::Path) -> Owned {
    fn entries<T: serde::de::DeserializeOwned>(
        dir: &std::path::Path,
        kind: &str,
        id_of: impl Fn(&T) -> String,
    ) -> BTreeMap<String, T> {
        let mut out = BTreeMap::new();
        let Ok(list) = std::fs::read_dir(dir.join(kind)) else {
            return out;
        };
        for file in list.flatten().map(|e| e.path()) {
            if file.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let read = std::fs::read(&file)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice::<T>(&b).map_err(|e| e.to_string()));
            match read {
                Ok(entry) => {
                    out.insert(id_of(&entry), entry);
                }
                Err(error) => {
                    tracing::warn!(file = %file.display(), %error, "a saved entry cannot be read; skipped")
                }
            }
        }
        out
    }
    let legacy = dir.join("state.json");
    if let Ok(bytes) = std::fs::read(&legacy) {
        match serde_json::from_slice::<Owned>(&bytes) {
            Ok(owned) => {
                match save_changes(dir, &Owned::default(), &owned) {
                    Ok(()) => {
                        let _ = std::fs::remove_file(&legacy);
                    }
                    Err(e) => tracing::warn!(error = %e, "converting the saved services"),
                }
                return owned;
            }
            Err(e) => {
                tracing::warn!(error = %e, "the saved services and checks cannot be read; starting without them");
            }
        }
    }
    Owned {
        services: entries(dir, "services", |s: &ServiceDefinition| s.id.clone()),
        checks: entries(dir, "checks", |c: &LocalCheck| c.id.clone()),
    }
}

/// Where this agent's node is in the catalog.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    pub name: String,
    pub id: String,
    pub address: String,
    pub datacenter: String,
}

/// Anti-entropy: syncs at once after every local change and every
/// `sync_interval(cluster size)` otherwise; retries soon after a failure.
pub async fn run_anti_entropy(
    local: Arc<LocalState>,
    backend: Arc<Backend>,
    acl: Arc<crate::acl::AgentAcl>,
    node: NodeInfo,
    cluster_size: impl Fn() -> usize + Send + 'static,
    stop: CancellationToken,
) {
    // An ACL refusal is the operator's to fix: warned once per reason (as
    // Consul's "blocked by ACLs"), not at every retry.
    let mut warned: Option<String> = None;
    loop {
        // The agent token of the moment: `PUT /v1/agent/token/agent`
        // applies from the next round.
        let wait = match sync(&local, &backend, &acl.agent_token(), &node).await {
            Ok(()) => {
                warned = None;
                sync_interval(cluster_size())
            }
            Err(e) => {
                let reason = e.to_string();
                if e.is_acl() && warned.as_deref() != Some(reason.as_str()) {
                    tracing::warn!(error = %reason, "catalog sync blocked by ACLs: set an agent token that may write this node and its services (acl.tokens.agent)");
                    warned = Some(reason);
                } else {
                    tracing::debug!(error = %e, "anti-entropy sync failed; retrying");
                }
                RETRY_AFTER
            }
        };
        tokio::select! {
            () = local.changed.notified() => {}
            () = tokio::time::sleep(wait) => {}
            () = stop.cancelled() => return,
        }
    }
}

/// One sync: compares the catalog's view of this node with what the agent
/// owns and writes only the differences.
/// Why an anti-entropy round stopped early (the next round starts over).
#[derive(Debug, thiserror::Error)]
enum SyncError {
    /// Reading this node's catalog entry failed.
    #[error("reading the catalog: {0}")]
    Read(#[source] praetor_server::ServerError),
    /// A write failed, or its outcome is unknown.
    #[error("writing the catalog: {0}")]
    Write(#[source] praetor_server::ServerError),
    /// The store refused a write (it changed nothing).
    #[error("the catalog refused a change: {0}")]
    Refused(String),
}

impl SyncError {
    /// Whether the servers refused the agent's token.
    fn is_acl(&self) -> bool {
        matches!(
            self,
            SyncError::Read(praetor_server::ServerError::Acl(_))
                | SyncError::Write(praetor_server::ServerError::Acl(_))
        )
    }
}

async fn sync(
    local: &LocalState,
    backend: &Backend,
    token: &praetor_server::acl::Token,
    node: &NodeInfo,
) -> Result<(), SyncError> {
    let owned = local.owned();
    let opts = QueryOpts {
        index: 0,
        wait: Duration::from_secs(1),
        consistency: Consistency::Default,
    };
    let name = node.name.clone();
    let (_, services) = backend
        .read(token, CatalogNode { name }, opts)
        .await
        .map_err(SyncError::Read)?
        .answer;
    let name = node.name.clone();
    let checks = backend
        .read(token, NodeChecks { name }, opts)
        .await
        .map_err(SyncError::Read)?
        .answer;
    let mut commands = Vec::new();
    let deregister = |service_id: &str, check_id: &str| {
        Command::CatalogDeregister(Deregistration {
            node: node.name.clone(),
            service_id: service_id.to_owned(),
            check_id: check_id.to_owned(),
            ..Default::default()
        })
    };
    for s in &services {
        // The leader keeps a server's `consul` service (Consul's agents
        // leave it alone too).
        if !owned.services.contains_key(&s.id) && s.id != SERVER_SERVICE {
            commands.push(deregister(&s.id, ""));
        }
    }
    for c in &checks {
        if c.check_id != SERF_CHECK_ID && !owned.checks.contains_key(&c.check_id) {
            commands.push(deregister("", &c.check_id));
        }
    }
    // Each check goes with its `Type` (Consul's `ttl`, `http`, …), which
    // the catalog shows in /v1/health and /v1/catalog answers.
    let register = |service: Option<ServiceDefinition>, checks: Vec<(CheckDefinition, &str)>| {
        let types = checks
            .iter()
            .map(|(c, kind)| (c.check_id.clone(), (*kind).to_owned()))
            .collect();
        let register = RegisterRequest {
            id: node.id.clone(),
            node: node.name.clone(),
            address: node.address.clone(),
            datacenter: node.datacenter.clone(),
            service,
            checks: checks.into_iter().map(|(c, _)| c).collect(),
            skip_node_update: true,
            ..Default::default()
        };
        Command::catalog_register(register, types)
    };
    let definition = |id: &String, want: &LocalCheck| CheckDefinition {
        node: node.name.clone(),
        check_id: id.clone(),
        name: want.name.clone(),
        notes: want.notes.clone(),
        status: want.status.clone(),
        output: want.output.clone(),
        service_id: want.service_id.clone(),
    };
    let stale_checks: Vec<(&String, &LocalCheck)> = owned
        .checks
        .iter()
        .filter(|(id, want)| {
            let have = checks.iter().find(|c| &c.check_id == *id);
            !have.is_some_and(|h| {
                h.status == want.status
                    && h.output == want.output
                    && h.name == want.name
                    && h.service_id == want.service_id
                    && h.notes == want.notes
                    && h.kind == want.kind_name()
            })
        })
        .collect();
    let mut covered = std::collections::BTreeSet::new();
    for (id, want) in &owned.services {
        let have = services.iter().find(|s| &s.id == id);
        let same = have.is_some_and(|h| {
            h.service == want.service
                && h.tags == want.tags
                && h.address == want.address
                && h.port == want.port
                && h.meta == want.meta
                && h.enable_tag_override == want.enable_tag_override
                && Some(&h.weights) == want.weights.as_ref().or(Some(&h.weights))
                && h.kind == want.kind
                && h.tagged_addresses == want.tagged_addresses
                && h.proxy == want.proxy
                && h.locality == want.locality
        });
        if !same {
            // The service goes with its checks in one write, so it never
            // shows up in the catalog without them (healthy by default).
            let mut with = Vec::new();
            for (cid, c) in owned.checks.iter().filter(|(_, c)| &c.service_id == id) {
                with.push((definition(cid, c), c.kind_name()));
                covered.insert(cid.clone());
            }
            commands.push(register(Some(want.clone()), with));
        }
    }
    for (id, want) in stale_checks {
        if !covered.contains(id) {
            commands.push(register(
                None,
                vec![(definition(id, want), want.kind_name())],
            ));
        }
    }
    for cmd in commands {
        if let (_, Response::Refused(reason)) =
            backend.write(token, cmd).await.map_err(SyncError::Write)?
        {
            return Err(SyncError::Refused(reason));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sync_interval_grows_a_minute_per_doubling_past_128_nodes() {
        assert_eq!(sync_interval(1), Duration::from_secs(60));
        assert_eq!(sync_interval(128), Duration::from_secs(60));
        assert_eq!(sync_interval(129), Duration::from_secs(120));
        assert_eq!(sync_interval(256), Duration::from_secs(120));
        assert_eq!(sync_interval(257), Duration::from_secs(180));
        assert_eq!(sync_interval(1024), Duration::from_secs(240));
    }
}
