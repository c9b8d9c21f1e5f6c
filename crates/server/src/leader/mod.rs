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

/// Consul's `autopilot` block (the parts Praetor acts on).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AutopilotConfig {
    /// Remove failed servers from Raft (`cleanup_dead_servers`).
    pub cleanup_dead_servers: bool,
    /// Never shrink the voters below this many by cleanup (`min_quorum`).
    pub min_quorum: u32,
    /// How long a server must have been failed before cleanup removes it
    /// (Praetor's `dead_server_timeout`).
    pub dead_server_timeout: Duration,
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
