//! The services and checks this agent owns (registered through
//! `/v1/agent/*`), kept in its data dir so they survive a restart
//! ([`files`]), with what anti-entropy ([`sync`]) needs to push only what
//! changed: the entries the catalog may not have as the agent does (each
//! marked when it changes, Consul's `InSync` flags kept as a set), and the
//! checks whose new output is held back until `check_update_interval`
//! (Consul's `DeferCheck`).
//!
//! Every operation costs what it touches — the entry, its file and its
//! marks — never a copy, a comparison or a save of the whole state, so an
//! agent with 5 000 services registers, deregisters and updates a check as
//! fast as one with 10. Consumers that follow changes (the check
//! supervisor, the reaper) take the changed entries from a [`Feed`] instead
//! of rescanning. This module never talks to the servers; [`sync`] does.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use praetor_api::catalog::{check_status, ServiceDefinition};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio::time::Instant;

mod files;
mod saved;
mod sync;
pub(crate) use sync::scaled;
#[cfg(test)]
mod tests;

pub use sync::{run_anti_entropy, sync_interval, NodeInfo};

/// Consul's default `check_update_interval`: how long a check's new output
/// may wait for the servers when its status did not change.
pub const CHECK_UPDATE_INTERVAL: Duration = Duration::from_secs(300);

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

/// One entry of the local state, by ID.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Entry {
    Service(String),
    Check(String),
}

/// The entries changed since a consumer last took them: every change adds
/// the entries it touched to every live feed; the receiver of
/// [`LocalState::subscribe`] says when to look.
pub struct Feed {
    changed: Arc<Mutex<BTreeSet<Entry>>>,
}

impl Feed {
    /// The entries changed since the last call (or since the feed was made).
    pub fn take(&self) -> BTreeSet<Entry> {
        std::mem::take(&mut *self.changed.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// The state behind the lock.
struct Inner {
    owned: Owned,
    /// Check IDs by their service's ID (`""` for the node's own checks).
    by_service: BTreeMap<String, BTreeSet<String>>,
    /// The entries the catalog may not have as the agent does, each with
    /// the change number that last marked it: a sync settles an entry only
    /// if no change marked it again while its write was in flight.
    dirty: BTreeMap<Entry, u64>,
    /// Change numbers, for `dirty`.
    changes: u64,
    /// Checks whose output changed while their status did not, with the
    /// time that output may go to the servers.
    held: BTreeMap<String, Instant>,
    /// The same, in the order they fall due (one interval for all, so
    /// appending keeps the order); an entry no longer in `held` is stale.
    held_order: VecDeque<(Instant, String)>,
    /// `check_update_interval`; zero syncs every output change at once.
    check_update_interval: Duration,
    /// The feeds of the consumers that follow changes.
    feeds: Vec<Weak<Mutex<BTreeSet<Entry>>>>,
}

impl Inner {
    /// Marks `entry` for the next sync.
    fn mark(&mut self, entry: Entry) {
        self.changes += 1;
        self.dirty.insert(entry, self.changes);
    }

    /// Tells every feed that `entry` changed.
    fn touched(&mut self, entry: &Entry) {
        self.feeds.retain(|f| match f.upgrade() {
            Some(f) => {
                f.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(entry.clone());
                true
            }
            None => false,
        });
    }

    /// Puts (or replaces) a check, keeping the index and the marks.
    fn put_check(&mut self, c: LocalCheck) {
        let id = c.id.clone();
        if let Some(old) = self.owned.checks.get(&id) {
            if old.service_id != c.service_id {
                let old = old.service_id.clone();
                self.unindex(&old, &id);
            }
        }
        self.by_service
            .entry(c.service_id.clone())
            .or_default()
            .insert(id.clone());
        self.owned.checks.insert(id.clone(), c);
        self.held.remove(&id);
        let entry = Entry::Check(id);
        self.touched(&entry);
        self.mark(entry);
    }

    /// Removes check `id` from the index of `service_id`.
    fn unindex(&mut self, service_id: &str, id: &str) {
        if let Some(ids) = self.by_service.get_mut(service_id) {
            ids.remove(id);
            if ids.is_empty() {
                self.by_service.remove(service_id);
            }
        }
    }

    /// Holds check `id`'s new output until `check_update_interval` from
    /// `now`; `false` when it is already held (its deadline stays).
    fn hold(&mut self, id: &str, now: Instant) -> bool {
        if self.held.contains_key(id) {
            return false;
        }
        let at = now + self.check_update_interval;
        self.held.insert(id.to_owned(), at);
        self.held_order.push_back((at, id.to_owned()));
        true
    }

    /// Marks the held checks whose time came by `now`.
    fn release_due(&mut self, now: Instant) {
        while let Some((at, _)) = self.held_order.front() {
            if *at > now {
                break;
            }
            let Some((at, id)) = self.held_order.pop_front() else {
                break;
            };
            if self.held.get(&id) == Some(&at) {
                self.held.remove(&id);
                if self.owned.checks.contains_key(&id) {
                    self.mark(Entry::Check(id));
                }
            }
        }
    }

    /// When the next held output falls due.
    fn next_release(&self) -> Option<Instant> {
        self.held_order.front().map(|(at, _)| *at)
    }
}

/// The agent's local state: one lock, short sections, never across an
/// await (a change saves the entry it changed under it, so saves of one
/// entry never overtake each other).
pub struct LocalState {
    inner: Mutex<Inner>,
    /// `data_dir/local`: one file per service (`services/`) and per check
    /// (`checks/`), so a change writes only what it changed.
    dir: Option<PathBuf>,
    /// Wakes anti-entropy: something is to be synced.
    changed: Notify,
    /// Bumped on every change, for the check runners' supervisor.
    version: tokio::sync::watch::Sender<u64>,
    /// Entries saved, compared or planned so far: the work done, which a
    /// test checks does not grow with the number of entries.
    work: AtomicU64,
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
    /// Nothing is marked for sync: anti-entropy starts with a full
    /// comparison with the catalog.
    pub fn load(data_dir: Option<&std::path::Path>) -> Arc<LocalState> {
        let dir = data_dir.map(|d| d.join("local"));
        let owned = dir.as_deref().map(files::load_dir).unwrap_or_default();
        let mut by_service: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for c in owned.checks.values() {
            by_service
                .entry(c.service_id.clone())
                .or_default()
                .insert(c.id.clone());
        }
        Arc::new(LocalState {
            inner: Mutex::new(Inner {
                owned,
                by_service,
                dirty: BTreeMap::new(),
                changes: 0,
                held: BTreeMap::new(),
                held_order: VecDeque::new(),
                check_update_interval: CHECK_UPDATE_INTERVAL,
                feeds: Vec::new(),
            }),
            dir,
            changed: Notify::new(),
            version: tokio::sync::watch::channel(0).0,
            work: AtomicU64::new(0),
        })
    }

    /// Sets `check_update_interval` (Consul's agent setting, 5 minutes by
    /// default): a check whose output changes but whose status does not
    /// is synced to the servers at most that often; a status change is
    /// synced at once. Zero syncs every output change at once.
    pub fn set_check_update_interval(&self, interval: Duration) {
        self.lock().check_update_interval = interval;
    }

    /// A receiver that changes whenever the owned services or checks do.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.version.subscribe()
    }

    /// A feed of the entries that change from now on.
    pub fn feed(&self) -> Feed {
        let changed = Arc::new(Mutex::new(BTreeSet::new()));
        self.lock().feeds.push(Arc::downgrade(&changed));
        Feed { changed }
    }

    /// A copy of what the agent owns (for answers that list it all).
    pub fn owned(&self) -> Owned {
        self.lock().owned.clone()
    }

    /// One service, without copying the rest of the state.
    pub fn service(&self, id: &str) -> Option<ServiceDefinition> {
        self.lock().owned.services.get(id).cloned()
    }

    /// A check's status and output, without copying the rest of the state.
    pub fn check_state(&self, id: &str) -> Option<(String, String)> {
        self.lock()
            .owned
            .checks
            .get(id)
            .map(|c| (c.status.clone(), c.output.clone()))
    }

    /// One check, without copying the rest of the state.
    pub fn check(&self, id: &str) -> Option<LocalCheck> {
        self.lock().owned.checks.get(id).cloned()
    }

    /// Whether service `service_id` is registered here, and the checks of
    /// the given services (`""`: the node's own checks), by ID: what an
    /// alias check of that service looks at.
    pub fn checks_of(&self, service_id: &str, services: &[&str]) -> (bool, Vec<LocalCheck>) {
        let inner = self.lock();
        let mut ids: BTreeSet<&String> = BTreeSet::new();
        for s in services {
            ids.extend(inner.by_service.get(*s).into_iter().flatten());
        }
        let checks = ids
            .into_iter()
            .filter_map(|id| inner.owned.checks.get(id).cloned())
            .collect();
        (inner.owned.services.contains_key(service_id), checks)
    }

    /// The work done so far: entries saved to the data dir, compared with
    /// the catalog or planned into a write. Grows with what changes, never
    /// with what the agent owns.
    pub fn work_done(&self) -> u64 {
        self.work.load(Ordering::Relaxed)
    }

    fn count(&self, entries: usize) {
        self.work.fetch_add(entries as u64, Ordering::Relaxed);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Saves entry `id` of `kind` (or removes it: `None`) in the data dir.
    fn save<T: Serialize>(
        &self,
        kind: &str,
        id: &str,
        entry: Option<&T>,
    ) -> Result<(), LocalError> {
        self.count(1);
        match &self.dir {
            Some(dir) => files::save(dir, kind, id, entry),
            None => Ok(()),
        }
    }

    /// After a change: wakes anti-entropy (when `sync`) and the followers.
    fn changed(&self, sync: bool) {
        if sync {
            self.changed.notify_one();
        }
        self.version.send_modify(|v| *v += 1);
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
        let id = if svc.id.is_empty() {
            svc.service.clone()
        } else {
            svc.id.clone()
        };
        let svc = ServiceDefinition {
            id: id.clone(),
            ..svc
        };
        let checks: Vec<LocalCheck> = checks
            .into_iter()
            .map(|mut c| {
                c.service_id = id.clone();
                c
            })
            .collect();
        {
            let mut inner = self.lock();
            self.save(files::SERVICES, &id, Some(&svc))?;
            for c in &checks {
                self.save(files::CHECKS, &c.id, Some(c))?;
            }
            inner.owned.services.insert(id.clone(), svc);
            let entry = Entry::Service(id);
            inner.touched(&entry);
            inner.mark(entry);
            for c in checks {
                inner.put_check(c);
            }
        }
        self.changed(true);
        Ok(())
    }

    /// Removes a service and its checks.
    ///
    /// # Errors
    /// `UnknownService`; `Save`.
    pub fn remove_service(&self, id: &str) -> Result<(), LocalError> {
        {
            let mut inner = self.lock();
            if !inner.owned.services.contains_key(id) {
                return Err(LocalError::UnknownService(id.to_owned()));
            }
            let checks: Vec<String> = inner
                .by_service
                .get(id)
                .map(|ids| ids.iter().cloned().collect())
                .unwrap_or_default();
            self.save::<ServiceDefinition>(files::SERVICES, id, None)?;
            for c in &checks {
                self.save::<LocalCheck>(files::CHECKS, c, None)?;
            }
            inner.owned.services.remove(id);
            inner.by_service.remove(id);
            // The catalog removes a service's checks with it: only the
            // service is synced.
            for c in checks {
                inner.owned.checks.remove(&c);
                inner.held.remove(&c);
                let entry = Entry::Check(c);
                inner.dirty.remove(&entry);
                inner.touched(&entry);
            }
            let entry = Entry::Service(id.to_owned());
            inner.touched(&entry);
            inner.mark(entry);
        }
        self.changed(true);
        Ok(())
    }

    /// Registers (or replaces) a check.
    ///
    /// # Errors
    /// `UnknownService` when it names a service this agent does not have;
    /// `Save`.
    pub fn add_check(&self, check: LocalCheck) -> Result<(), LocalError> {
        {
            let mut inner = self.lock();
            if !check.service_id.is_empty() && !inner.owned.services.contains_key(&check.service_id)
            {
                return Err(LocalError::UnknownService(check.service_id.clone()));
            }
            self.save(files::CHECKS, &check.id, Some(&check))?;
            inner.put_check(check);
        }
        self.changed(true);
        Ok(())
    }

    /// Removes a check.
    ///
    /// # Errors
    /// `UnknownCheck`; `Save`.
    pub fn remove_check(&self, id: &str) -> Result<(), LocalError> {
        {
            let mut inner = self.lock();
            let Some(service_id) = inner.owned.checks.get(id).map(|c| c.service_id.clone()) else {
                return Err(LocalError::UnknownCheck(id.to_owned()));
            };
            self.save::<LocalCheck>(files::CHECKS, id, None)?;
            inner.owned.checks.remove(id);
            inner.unindex(&service_id, id);
            inner.held.remove(id);
            let entry = Entry::Check(id.to_owned());
            inner.touched(&entry);
            inner.mark(entry);
        }
        self.changed(true);
        Ok(())
    }

    /// Sets a check's status and output (TTL updates, check results); the
    /// output is capped at [`MAX_OUTPUT`](crate::definition::MAX_OUTPUT)
    /// bytes as the check runners cap it. Nothing happens when both are
    /// unchanged. A new status goes to the servers at once; a new output
    /// with the same status waits up to `check_update_interval` (Consul's
    /// `UpdateCheck`), though the agent's own API shows it at once.
    ///
    /// # Errors
    /// `UnknownCheck`; `Invalid` for a status that is not one of Consul's;
    /// `Save`.
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
        let wake = {
            let mut inner = self.lock();
            let c = inner
                .owned
                .checks
                .get(id)
                .ok_or_else(|| LocalError::UnknownCheck(id.to_owned()))?;
            if c.status == status && c.output == output {
                return Ok(());
            }
            let status_changed = c.status != status;
            let mut next = c.clone();
            next.status = status.to_owned();
            next.output = output;
            self.save(files::CHECKS, id, Some(&next))?;
            inner.owned.checks.insert(id.to_owned(), next);
            let entry = Entry::Check(id.to_owned());
            inner.touched(&entry);
            if status_changed || inner.check_update_interval.is_zero() {
                inner.held.remove(id);
                inner.mark(entry);
                true
            } else {
                // Anti-entropy wakes to learn the new deadline.
                inner.hold(id, Instant::now())
            }
        };
        self.changed(wake);
        Ok(())
    }
}
