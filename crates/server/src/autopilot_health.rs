//! The leader's view of its servers' health, as Consul's autopilot
//! reports it (`/v1/operator/autopilot/health` and `/state`): for every
//! server of the Raft configuration, its gossip status, when the leader
//! last heard from it, how far its log is, and whether that is healthy by
//! the autopilot settings in force (`Server::autopilot_settings`); the
//! cluster is healthy when every server is, and its failure tolerance is
//! how many healthy voters it can lose and keep a quorum.
//!
//! Computed only on the leader (others forward), from openraft's
//! replication metrics, the Raft network's acknowledgements and the
//! membership the leader duties were given. Keeps, per server, when its
//! health last changed (`StableSince`). Changes nothing in the cluster.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::leader::{AutopilotConfig, MemberStatus, Membership};
use crate::rpc::{Reply, Request};
use crate::{Server, ServerError};

/// One server's health, as the leader sees it (Consul's `ServerHealth`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerHealth {
    /// Its node ID (a UUID) when gossip knows it, else its Raft id.
    pub id: String,
    /// Its Raft id.
    pub raft_id: u64,
    /// Its node name (empty when gossip does not know it).
    pub name: String,
    /// Its RPC address.
    pub address: String,
    /// `alive`, `leaving`, `left`, `failed`, or `none` when not in gossip.
    pub serf_status: String,
    pub version: String,
    pub leader: bool,
    /// Since the leader last heard from it (0 for the leader), in ms;
    /// `None` when never in this term.
    pub last_contact_ms: Option<u64>,
    /// The term of the last entry it holds.
    pub last_term: u64,
    /// The index of the last entry it holds.
    pub last_index: u64,
    pub healthy: bool,
    pub voter: bool,
    /// When `healthy` last changed, in ms since the Unix epoch.
    pub stable_since_ms: u64,
}

/// The leader's report (Consul's `OperatorHealthReply` and
/// `AutopilotState`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RaftHealth {
    /// Every server is healthy.
    pub healthy: bool,
    /// Healthy voters beyond a quorum.
    pub failure_tolerance: u64,
    /// The leader's `id`.
    pub leader: String,
    pub servers: Vec<ServerHealth>,
}

/// What the health report needs besides Raft: the membership and the
/// agent's autopilot settings (given with the leader duties), and when
/// each server's health last changed.
#[derive(Default)]
pub(crate) struct HealthState {
    given: OnceLock<(Arc<dyn Membership>, AutopilotConfig)>,
    /// By Raft id: (healthy, since when).
    stable: Mutex<HashMap<u64, (bool, SystemTime)>>,
}

impl HealthState {
    pub(crate) fn give(&self, membership: Arc<dyn Membership>, defaults: AutopilotConfig) {
        let _ = self.given.set((membership, defaults));
    }
}

fn epoch_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Server {
    /// The leader's health report, from whichever server leads (forwarded
    /// there).
    ///
    /// # Errors
    /// `NoLeader` when no leader is known within the leader wait; a
    /// forwarding error when it cannot be reached.
    pub async fn autopilot_health(&self) -> Result<RaftHealth, ServerError> {
        let deadline = tokio::time::Instant::now() + self.leader_wait;
        let Some(leader) = self.wait_for_leader(deadline).await else {
            return Err(ServerError::NoLeader);
        };
        if leader == self.id {
            return Ok(self.local_health());
        }
        match self
            .call_leader(leader, Request::AutopilotHealth, self.leader_wait)
            .await
        {
            Ok(Reply::AutopilotHealth(r)) => r.map_err(ServerError::from),
            Ok(other) => Err(ServerError::Forward(format!("unexpected reply {other:?}"))),
            Err(e) => Err(ServerError::Forward(e.to_string())),
        }
    }

    /// This leader's report.
    fn local_health(&self) -> RaftHealth {
        let (members, settings) = match self.health.given.get() {
            Some((membership, defaults)) => {
                (membership.members(), self.autopilot_settings(defaults))
            }
            None => (
                Vec::new(),
                self.autopilot_settings(&AutopilotConfig::consul_defaults(Duration::ZERO)),
            ),
        };
        let m = self.raft.metrics().borrow().clone();
        let own_last = self.raft.data_metrics().borrow().last_log;
        let term = m.current_term;
        let leader_index = own_last.map_or(0, |l| l.index);
        let membership = m.membership_config.membership();
        let voters: Vec<u64> = membership.voter_ids().collect();
        let now = SystemTime::now();
        let mut stable = self.health.stable.lock().unwrap_or_else(|p| p.into_inner());
        let mut servers = Vec::new();
        for (id, node) in membership.nodes() {
            let member = members.iter().find(|v| v.raft_id == Some(*id));
            let is_leader = *id == self.id;
            let (last_contact_ms, last) = if is_leader {
                (Some(0), own_last)
            } else {
                let contact = self
                    .peers
                    .acks()
                    .accepted(*id, term)
                    .map(|at| at.elapsed().as_millis() as u64);
                let matched = m
                    .replication
                    .as_ref()
                    .and_then(|r| r.get(id))
                    .and_then(|l| *l);
                (contact, matched)
            };
            let last_term = last.map_or(0, |l| l.leader_id.term);
            let last_index = last.map_or(0, |l| l.index);
            let serf_status = match member.map(|v| v.status) {
                Some(MemberStatus::Alive) => "alive",
                Some(MemberStatus::Leaving) => "leaving",
                Some(MemberStatus::Left) => "left",
                Some(MemberStatus::Failed) => "failed",
                None => "none",
            };
            let healthy = serf_status == "alive"
                && last_contact_ms.is_some_and(|c| {
                    is_leader || c < settings.last_contact_threshold.as_millis() as u64
                })
                && last_term == term
                && last_index + settings.max_trailing_logs >= leader_index;
            let entry = stable.entry(*id).or_insert((healthy, now));
            if entry.0 != healthy {
                *entry = (healthy, now);
            }
            servers.push(ServerHealth {
                id: member.map_or_else(|| id.to_string(), |v| v.node_id.clone()),
                raft_id: *id,
                name: member.map(|v| v.name.clone()).unwrap_or_default(),
                address: node.addr.clone(),
                serf_status: serf_status.to_owned(),
                version: praetor_api::VERSION.to_owned(),
                leader: is_leader,
                last_contact_ms,
                last_term,
                last_index,
                healthy,
                voter: voters.contains(id),
                stable_since_ms: epoch_ms(entry.1),
            });
        }
        stable.retain(|id, _| membership.nodes().any(|(n, _)| n == id));
        let healthy_voters = servers.iter().filter(|s| s.voter && s.healthy).count();
        let quorum = voters.len() / 2 + 1;
        RaftHealth {
            healthy: servers.iter().all(|s| s.healthy),
            failure_tolerance: healthy_voters.saturating_sub(quorum) as u64,
            leader: servers
                .iter()
                .find(|s| s.leader)
                .map(|s| s.id.clone())
                .unwrap_or_default(),
            servers,
        }
    }
}
