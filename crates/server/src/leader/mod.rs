//! What the leader does, driven by cluster membership (the `Membership`
//! interface below, which the agent implements over gossip):
//!
//! - **bootstrap** (`bootstrap`): before there is a cluster, every server
//!   initializes Raft once it sees `bootstrap_expect` alive servers, with
//!   that same list;
//! - **autopilot** (`autopilot`): the Raft voters follow the alive servers;
//! - **catalog reconciliation** (`catalog`): the catalog's nodes follow the
//!   members, each with its `serfHealth` check;
//! - **ACL start-up** (`acl_init`): the built-in policy and tokens exist;
//! - **session TTLs** (`session_ttl`): sessions that were not renewed in
//!   time expire through the log;
//! - **handing over before leaving** (`Server::leave_raft`).
//!
//! Two tasks run them (`run_leader_duties` and `run_session_ttl`), on the
//! server's own task tracker, and stop with the server. This module never
//! learns how membership is kept, and changes the store only through the
//! log.

mod acl_init;
mod autopilot;
mod bootstrap;
mod catalog;
mod membership;
pub mod session_ttl;
#[cfg(test)]
mod tests;

use std::time::Duration;

use futures::StreamExt;
use tokio_util::sync::CancellationToken;

pub use catalog::SERVER_SERVICE;
pub use membership::{
    alive_servers, AliveServer, MemberChanges, MemberRole, MemberStatus, MemberView, Membership,
};

use crate::Server;

/// How often the leader reconciles even without a membership change.
pub const RECONCILE_EVERY: Duration = Duration::from_secs(1);
/// How long a server waits for a peer to say whether it has Raft state.
const PEER_STATUS_TIMEOUT: Duration = Duration::from_secs(2);
/// How long adding a server (catching up as a learner) may take.
const ADD_SERVER_TIMEOUT: Duration = Duration::from_secs(30);

/// Consul's `autopilot` block (the parts Praetor acts on): from the
/// agent's configuration until an operator stores one through `PUT
/// /v1/operator/autopilot/configuration` (`praetor_store::autopilot`),
/// which then wins on every server (`autopilot_settings`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AutopilotConfig {
    /// Remove failed servers from Raft (`cleanup_dead_servers`).
    pub cleanup_dead_servers: bool,
    /// Never shrink the voters below this many by cleanup (`min_quorum`).
    pub min_quorum: u32,
    /// How long a server must have been failed before cleanup removes it
    /// (Praetor's `dead_server_timeout`; not part of the stored
    /// configuration, so always the agent's).
    pub dead_server_timeout: Duration,
    /// A server not heard from by the leader for longer is unhealthy
    /// (`last_contact_threshold`; Consul's 200ms).
    pub last_contact_threshold: Duration,
    /// A server trailing the leader's log by more entries is unhealthy
    /// (`max_trailing_logs`; Consul's 250).
    pub max_trailing_logs: u64,
    /// How long a new server must have been alive before it is added to
    /// the voters (`server_stabilization_time`; Consul's 10s).
    pub server_stabilization_time: Duration,
}

impl AutopilotConfig {
    /// Consul's defaults, with `dead_server_timeout` as given.
    pub fn consul_defaults(dead_server_timeout: Duration) -> Self {
        AutopilotConfig {
            cleanup_dead_servers: true,
            min_quorum: 0,
            dead_server_timeout,
            last_contact_threshold: Duration::from_millis(200),
            max_trailing_logs: 250,
            server_stabilization_time: Duration::from_secs(10),
        }
    }

    /// These settings as the store keeps them (indexes 0: not stored).
    pub fn to_stored(&self) -> praetor_store::autopilot::AutopilotConfig {
        praetor_store::autopilot::AutopilotConfig {
            cleanup_dead_servers: self.cleanup_dead_servers,
            last_contact_threshold_ms: self.last_contact_threshold.as_millis() as u64,
            max_trailing_logs: self.max_trailing_logs,
            min_quorum: u64::from(self.min_quorum),
            server_stabilization_time_ms: self.server_stabilization_time.as_millis() as u64,
            ..Default::default()
        }
    }

    /// The settings a stored configuration gives, keeping this one's
    /// `dead_server_timeout`.
    pub fn with_stored(&self, stored: &praetor_store::autopilot::AutopilotConfig) -> Self {
        AutopilotConfig {
            cleanup_dead_servers: stored.cleanup_dead_servers,
            min_quorum: u32::try_from(stored.min_quorum).unwrap_or(u32::MAX),
            dead_server_timeout: self.dead_server_timeout,
            last_contact_threshold: Duration::from_millis(stored.last_contact_threshold_ms),
            max_trailing_logs: stored.max_trailing_logs,
            server_stabilization_time: Duration::from_millis(stored.server_stabilization_time_ms),
        }
    }
}

impl Server {
    /// The autopilot settings in force: the stored configuration when an
    /// operator wrote one, else `defaults` (the agent's configuration).
    pub fn autopilot_settings(&self, defaults: &AutopilotConfig) -> AutopilotConfig {
        let st = self.shared.read();
        match st.store.autopilot().config() {
            Some(stored) => defaults.with_stored(stored),
            None => defaults.clone(),
        }
    }
}

/// What the leader's duties need to know of this server's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaderConfig {
    /// This server's datacenter: only its members are reconciled.
    pub datacenter: String,
    /// `bootstrap_expect`: above 1, bootstrap waits for that many servers
    /// (1 bootstraps at start, in `Server::start`; 0 never bootstraps).
    pub bootstrap_expect: u32,
    /// Autopilot's settings.
    pub autopilot: AutopilotConfig,
}

impl Server {
    /// Starts the leader's duties on this server's task tracker: bootstrap
    /// once (with `bootstrap_expect` above 1), then, while this server leads,
    /// autopilot and catalog reconciliation after every membership change
    /// and at least every `RECONCILE_EVERY`; and the session TTL timers.
    /// They stop with the server (its
    /// stop token), and `shutdown` waits for them.
    pub fn spawn_leader_duties<M: Membership>(&self, membership: M, cfg: LeaderConfig) {
        self.leadership.duties_started();
        let membership = std::sync::Arc::new(membership);
        self.health.give(membership.clone(), cfg.autopilot.clone());
        self.tasks.spawn(run_leader_duties(
            self.clone(),
            membership,
            cfg,
            self.stop.clone(),
        ));
        self.tasks.spawn(session_ttl::run_session_ttl(
            self.clone(),
            self.stop.clone(),
        ));
    }

    /// Before this server leaves the cluster: when it leads and other voters
    /// remain, removes itself from the Raft configuration so they elect a
    /// new leader at once instead of waiting out an election timeout.
    pub async fn leave_raft(&self) {
        if self.is_leader() && self.voters().len() > 1 {
            tracing::info!("leaving: removing this server from the raft configuration");
            if let Err(e) = self.remove_voter(self.id()).await {
                tracing::warn!(error = %e, "could not remove this server from raft before leaving");
            }
        }
    }
}

/// A server's duties: bootstrap once, then, while leading, reconcile.
async fn run_leader_duties<M: Membership>(
    server: Server,
    membership: M,
    cfg: LeaderConfig,
    stop: CancellationToken,
) {
    let mut changes = membership.changes();
    let mut changes_open = true;
    let mut pilot = autopilot::Autopilot::new(&cfg.autopilot, &cfg.datacenter);
    let mut may_bootstrap = cfg.bootstrap_expect > 1;
    let mut bootstrap_ready = None;
    // Becoming leader starts a round at once, as Consul's leader reconciles
    // on establishing leadership (a new dev agent is in its catalog at once).
    let mut leading = server.leadership.subscribe();
    loop {
        // Each round may wait on Raft (a learner catching up, a write); a
        // shutdown must not wait for it.
        let round = async {
            if may_bootstrap && server.status().members.is_empty() {
                let members = membership.members();
                may_bootstrap = bootstrap::maybe_bootstrap(
                    &server,
                    &members,
                    &cfg.datacenter,
                    cfg.bootstrap_expect,
                    &mut bootstrap_ready,
                )
                .await;
            }
            if server.is_leader() {
                acl_init::ensure(&server).await;
                acl_init::reap_expired(&server).await;
                let members = membership.members();
                catalog::reconcile_catalog(&members, &server, &cfg.datacenter).await;
                // Clients' requests wait for this (`wait_established`);
                // autopilot may wait long on a learner catching up, so it
                // comes after.
                server.establish();
                pilot.reconcile(&members, &server).await;
            }
        };
        tokio::select! {
            () = round => {}
            () = stop.cancelled() => return,
        }
        tokio::select! {
            change = changes.next(), if changes_open => changes_open = change.is_some(),
            Ok(()) = leading.changed() => {}
            () = tokio::time::sleep(RECONCILE_EVERY) => {}
            () = stop.cancelled() => return,
        }
    }
}
