//! Autopilot, on the leader: keeps the Raft configuration equal to the
//! alive servers, as Consul's autopilot does. Alive servers missing from the
//! voters are added (each catches up as a learner before it votes); servers
//! that left are removed; with `cleanup_dead_servers`, servers failed for
//! longer than `dead_server_timeout` are removed when the remaining voters
//! keep `min_quorum` and a working majority; a stale Raft id whose address a
//! new server now uses is removed. Never removes the leader itself.
//!
//! The settings are read at every round (`Server::autopilot_settings`):
//! the configuration an operator stored through the log wins over the
//! agent's `autopilot` block, so every leader acts on the same one. A new
//! server is added only once it has been alive for
//! `server_stabilization_time` (Consul promotes after that long healthy).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::membership::{MemberRole, MemberStatus, MemberView};
use super::{AutopilotConfig, ADD_SERVER_TIMEOUT};
use crate::Server;

/// The leader's reconciliation of the Raft configuration with the members.
pub(super) struct Autopilot {
    /// The agent's settings, used until a configuration is stored.
    defaults: AutopilotConfig,
    datacenter: String,
    /// When each server not yet a voter was first seen alive, by Raft id.
    alive_since: HashMap<u64, Instant>,
    /// When each server was first seen failed, by Raft id.
    failed_since: HashMap<u64, Instant>,
    /// When adding each server last failed and was logged, by Raft id: a
    /// server that cannot be added (unreachable, or refused by TLS) is
    /// retried every round but logged once a minute.
    add_failure_logged: HashMap<u64, Instant>,
}

/// How often a server that cannot be added is logged.
const ADD_FAILURE_LOG_EVERY: Duration = Duration::from_secs(60);

impl Autopilot {
    pub(super) fn new(cfg: &AutopilotConfig, datacenter: &str) -> Self {
        Autopilot {
            defaults: cfg.clone(),
            datacenter: datacenter.to_owned(),
            alive_since: HashMap::new(),
            failed_since: HashMap::new(),
            add_failure_logged: HashMap::new(),
        }
    }

    /// Adds alive servers missing from the configuration (each catches up as
    /// a learner before it votes), removes servers that left, and removes
    /// servers failed for longer than the dead-server timeout when the
    /// remaining voters keep a working majority.
    pub(super) async fn reconcile(&mut self, members: &[MemberView], server: &Server) {
        let settings = server.autopilot_settings(&self.defaults);
        let status = server.status();
        let config: HashMap<u64, (String, bool)> = status
            .members
            .iter()
            .map(|m| (m.id, (m.addr.clone(), m.voter)))
            .collect();
        let servers: Vec<&MemberView> = members
            .iter()
            .filter(|m| m.role == MemberRole::Server && m.datacenter == self.datacenter)
            .collect();
        let now = Instant::now();
        self.add_failure_logged
            .retain(|id, _| servers.iter().any(|m| m.raft_id == Some(*id)));
        self.alive_since.retain(|id, _| {
            servers
                .iter()
                .any(|m| m.raft_id == Some(*id) && m.status == MemberStatus::Alive)
        });
        self.failed_since.retain(|id, _| {
            servers
                .iter()
                .any(|m| m.raft_id == Some(*id) && m.status == MemberStatus::Failed)
        });
        for m in &servers {
            let (Some(id), Some(addr)) = (m.raft_id, m.rpc_addr) else {
                continue;
            };
            match m.status {
                MemberStatus::Alive | MemberStatus::Leaving => {
                    let present = config.get(&id).is_some_and(|(_, voter)| *voter);
                    let stable = m.status == MemberStatus::Alive && {
                        let since = *self.alive_since.entry(id).or_insert(now);
                        now.duration_since(since) >= settings.server_stabilization_time
                    };
                    if !present && stable {
                        tracing::debug!(server = %m.name, id, %addr, "adding server to the raft configuration");
                        let failure = match tokio::time::timeout(
                            ADD_SERVER_TIMEOUT,
                            server.add_voter(id, &addr.to_string()),
                        )
                        .await
                        {
                            Ok(Ok(())) => {
                                self.add_failure_logged.remove(&id);
                                None
                            }
                            Ok(Err(e)) => Some(e.to_string()),
                            Err(_) => Some(format!("timed out after {ADD_SERVER_TIMEOUT:?}")),
                        };
                        if let Some(error) = failure {
                            let due = self
                                .add_failure_logged
                                .get(&id)
                                .is_none_or(|at| now.duration_since(*at) >= ADD_FAILURE_LOG_EVERY);
                            if due {
                                self.add_failure_logged.insert(id, now);
                                tracing::warn!(server = %m.name, %error, "could not add server to the raft configuration; will retry");
                            } else {
                                tracing::debug!(server = %m.name, %error, "could not add server to the raft configuration; will retry");
                            }
                        }
                    }
                }
                MemberStatus::Left => {
                    if config.contains_key(&id) && id != server.id() {
                        tracing::info!(server = %m.name, id, "removing server that left");
                        if let Err(e) = server.remove_voter(id).await {
                            tracing::warn!(server = %m.name, error = %e, "could not remove server");
                        }
                    }
                }
                MemberStatus::Failed => {
                    let since = *self.failed_since.entry(id).or_insert(now);
                    if settings.cleanup_dead_servers
                        && config.contains_key(&id)
                        && id != server.id()
                        && now.duration_since(since) >= settings.dead_server_timeout
                        && safe_to_remove(settings.min_quorum as usize, &config, members)
                    {
                        tracing::info!(server = %m.name, id, "removing server failed for longer than dead_server_timeout");
                        if let Err(e) = server.remove_voter(id).await {
                            tracing::warn!(server = %m.name, error = %e, "could not remove failed server");
                        }
                    }
                }
            }
        }
        // A server that came back with a new Raft id (its data dir wiped)
        // leaves its old id behind at the same address: remove it.
        for (id, (addr, _)) in &config {
            let known = servers.iter().any(|m| m.raft_id == Some(*id));
            let replaced = servers.iter().any(|m| {
                m.status == MemberStatus::Alive
                    && m.rpc_addr.is_some_and(|a| a.to_string() == *addr)
            });
            if !known && replaced && *id != server.id() {
                tracing::info!(id, %addr, "removing a stale raft id whose address a new server now uses");
                if let Err(e) = server.remove_voter(*id).await {
                    tracing::warn!(id, error = %e, "could not remove stale server");
                }
            }
        }
    }
}

/// Removing one voter keeps at least `min_quorum` voters and a majority of
/// the remaining voters alive.
fn safe_to_remove(
    min_quorum: usize,
    config: &HashMap<u64, (String, bool)>,
    members: &[MemberView],
) -> bool {
    {
        let voters: Vec<u64> = config
            .iter()
            .filter(|(_, (_, v))| *v)
            .map(|(id, _)| *id)
            .collect();
        let remaining = voters.len().saturating_sub(1);
        let alive = voters
            .iter()
            .filter(|id| {
                members
                    .iter()
                    .any(|m| m.raft_id == Some(**id) && m.status == MemberStatus::Alive)
            })
            .count();
        remaining >= min_quorum.max(1) && alive > remaining / 2
    }
}
