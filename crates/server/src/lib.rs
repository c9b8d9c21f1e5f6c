//! A Praetor server: the Raft log, the state machine around the pure store,
//! and the read and write paths with Consul's consistency modes. It knows
//! nothing of HTTP; the agent calls it.

pub mod acl;
pub mod autopilot_health;
pub mod coordinate_updates;
pub mod dc;
pub mod error;
pub mod export;
#[cfg(test)]
mod format_tests;
pub mod leader;
mod leadership;
pub mod metrics;
mod proposer;
pub mod raft;
pub mod read;
pub mod rpc;
pub mod transfer;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How long a server about to be added has to answer a ping.
const LEARNER_PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// The shortest a proposed write may take to commit before its outcome is
/// reported unknown (the default `rpc_hold_timeout`). Separate from
/// `leader_wait`, which only bounds the wait for a leader: a short
/// `performance.rpc_hold_timeout` must not fail writes on a healthy but
/// slow cluster.
pub const APPLY_TIMEOUT: Duration = Duration::from_secs(7);
/// How long a new learner has to catch up before it would be made a voter
/// (the caller's own bound on adding a server is 30 s).
const LEARNER_CATCH_UP: Duration = Duration::from_secs(20);

use openraft::error::{ClientWriteError, InitializeError, RaftError};
use openraft::raft::AppendEntriesResponse;
use openraft::{BasicNode, SnapshotPolicy};
use praetor_store::{Command, Response};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use error::ServerError;
pub use leadership::{PreVote, READ_LEASE};
pub use metrics::ServerMetrics;
pub use raft::state_machine::{Applied, Shared};
use raft::{log_store::LogStore, network::Peers, state_machine::StateMachine, Raft};
pub use read::{answer_of, Answered, QueryOpts, Read, WireAnswer, WireRead};
use rpc::RpcError;

/// How a read is served, as Consul's `?stale` and `?consistent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Consistency {
    /// Served by the leader from its own store.
    #[default]
    Default,
    /// Served by the leader after a quorum confirms it still leads.
    Consistent,
    /// Served by any server from its local copy.
    Stale,
}

/// What a read can tell the client about the cluster (Consul's headers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadMeta {
    /// `X-Consul-KnownLeader`.
    pub known_leader: bool,
    /// `X-Consul-LastContact`, in milliseconds (0 on the leader).
    pub last_contact_ms: u64,
}

/// How to start a server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The Raft id of this server (stable across restarts).
    pub node_id: u64,
    /// The address peers reach this server's RPC on.
    pub rpc_addr: String,
    /// Where the log, vote and snapshots live; `None` keeps them in memory.
    pub data_dir: Option<PathBuf>,
    /// Entries between snapshots (`raft_snapshot_threshold`).
    pub snapshot_threshold: u64,
    /// Entries kept behind a snapshot (`raft_trailing_logs`).
    pub trailing_logs: u64,
    /// KV changes kept for watches.
    pub history_limit: usize,
    /// Form a one-server cluster if none exists yet (`bootstrap_expect = 1`).
    pub bootstrap: bool,
    /// How long a write or default read waits for a leader before failing.
    pub leader_wait: Duration,
    /// How long a proposed write may take to commit before its outcome is
    /// reported unknown ([`APPLY_TIMEOUT`] unless a test wants it short).
    pub apply_timeout: Duration,
    /// Cancelled when the agent shuts down: blocking queries answer at once.
    pub stop: CancellationToken,
    /// Where the server's metrics go (the agent's recorder).
    pub metrics: ServerMetrics,
    /// What the server enforces on requests (`acl { … }`).
    pub acl: acl::AclConfig,
}

/// A server's view of the Raft cluster (`/v1/status/*`, `/v1/operator/raft/*`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RaftStatus {
    /// The answering server's id.
    pub id: u64,
    pub leader: Option<u64>,
    pub term: u64,
    /// The index of the configuration (the log entry that set it).
    pub config_index: u64,
    pub last_applied: u64,
    /// Every server in the configuration, voters and learners.
    pub members: Vec<RaftMember>,
}

/// One server in the Raft configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RaftMember {
    pub id: u64,
    /// Its RPC address.
    pub addr: String,
    pub voter: bool,
}

impl RaftStatus {
    /// The leader's RPC address, when one is known.
    pub fn leader_addr(&self) -> Option<&str> {
        let leader = self.leader?;
        self.members
            .iter()
            .find(|m| m.id == leader)
            .map(|m| m.addr.as_str())
    }
}

/// A running server.
#[derive(Clone)]
pub struct Server {
    id: u64,
    raft: Raft,
    log: LogStore,
    peers: Peers,
    proposer: proposer::Proposer,
    shared: Arc<Shared>,
    leader_wait: Duration,
    apply_timeout: Duration,
    stop: CancellationToken,
    leadership: Arc<leadership::Leadership>,
    /// The server's own tasks (proposer, proposals, leadership watch,
    /// elections): `shutdown` waits for them before it closes the log.
    tasks: TaskTracker,
    /// Blocking queries waiting on this server now.
    open_queries: Arc<std::sync::atomic::AtomicUsize>,
    metrics: ServerMetrics,
    /// ACL settings and compiled tokens.
    acl: Arc<acl::Acl>,
    /// What the leader's health report needs (`autopilot_health`).
    health: Arc<autopilot_health::HealthState>,
    /// State exports being read piece by piece (`GET /v1/snapshot`).
    exports: Arc<export::Exports>,
    /// This server's datacenter.
    datacenter: Arc<str>,
    /// Where calls for other datacenters go (`dc.rs`), once installed.
    dc_router: dc::RouterSlot,
    /// Coordinate updates waiting for the leader's next batch.
    coordinates: Arc<coordinate_updates::CoordinateQueue>,
}

impl rpc::Handler for Server {
    async fn handle(&self, req: rpc::Request) -> rpc::Reply {
        let _timer = self.metrics.rpc_call(&req);
        self.handle_rpc(req).await
    }
}

impl Server {
    /// Opens storage, starts Raft and, when asked and the log is empty,
    /// bootstraps a one-server cluster.
    ///
    /// # Errors
    /// `Storage` when the data dir cannot be used, `Config` or `Stopped` when Raft refuses to start.
    pub async fn start(cfg: ServerConfig) -> Result<Server, ServerError> {
        Server::start_with_dialer(cfg, rpc::Dialer::default()).await
    }

    /// [`start`](Self::start), connecting to peers through `dialer` (tests:
    /// links they can cut) instead of a plain TCP connect.
    ///
    /// # Errors
    /// As [`start`](Self::start).
    pub async fn start_with_dialer(
        cfg: ServerConfig,
        dialer: rpc::Dialer,
    ) -> Result<Server, ServerError> {
        let storage_err = |path: &PathBuf| {
            let path = path.display().to_string();
            move |source| ServerError::Storage { path, source }
        };
        let (log, snapshot_dir) = match &cfg.data_dir {
            Some(dir) => {
                let raft_dir = dir.join("raft");
                std::fs::create_dir_all(&raft_dir).map_err(storage_err(&raft_dir))?;
                let db = raft_dir.join("raft.db");
                (
                    LogStore::open_with(&db, cfg.metrics.clone()).map_err(storage_err(&db))?,
                    Some(raft_dir.join("snapshots")),
                )
            }
            None => (LogStore::in_memory(), None),
        };
        let (mut sm, shared) = StateMachine::open(snapshot_dir.as_deref(), cfg.history_limit)
            .map_err(storage_err(&snapshot_dir.clone().unwrap_or_default()))?;
        sm.report_applied_to(log.applied_marker());
        sm.record_metrics_to(cfg.metrics.clone());
        let config = openraft::Config {
            cluster_name: "praetor".into(),
            heartbeat_interval: 100,
            election_timeout_min: leadership::ELECTION_TIMEOUT_MIN,
            election_timeout_max: leadership::ELECTION_TIMEOUT_MAX,
            // Elections are driven by `leadership::run_elections`, with a
            // pre-vote round openraft 0.9 lacks.
            enable_elect: false,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(cfg.snapshot_threshold.max(1)),
            max_in_snapshot_log_to_keep: cfg.trailing_logs,
            max_payload_entries: 1024,
            ..Default::default()
        }
        .validate()
        .map_err(|e| ServerError::Config(e.to_string()))?;
        // Connections to peers are tasks of this server: they end with its
        // stop token, and `shutdown` waits for them.
        let tasks = TaskTracker::new();
        let peers = Peers::with_dialer(dialer).on(tasks.clone(), cfg.stop.clone());
        let raft = Raft::new(
            cfg.node_id,
            Arc::new(config),
            peers.clone(),
            log.clone(),
            sm,
        )
        .await
        .map_err(|e| ServerError::Stopped(e.to_string()))?;
        let proposer =
            proposer::Proposer::spawn(raft.clone(), &tasks, cfg.stop.clone(), cfg.metrics.clone());
        let leadership = Arc::new(leadership::Leadership::new(peers.acks().clone()));
        let server = Server {
            id: cfg.node_id,
            raft,
            log,
            peers,
            proposer,
            shared,
            leader_wait: cfg.leader_wait,
            apply_timeout: cfg.apply_timeout,
            stop: cfg.stop,
            leadership,
            tasks,
            open_queries: Arc::default(),
            metrics: cfg.metrics,
            datacenter: cfg.acl.datacenter.as_str().into(),
            acl: Arc::new(acl::Acl::new(cfg.acl)),
            health: Arc::default(),
            exports: Arc::new(export::Exports::new(
                cfg.data_dir.clone().unwrap_or_else(std::env::temp_dir),
            )),
            dc_router: dc::RouterSlot::default(),
            coordinates: Arc::default(),
        };
        server.tasks.spawn(leadership::run_watch(
            server.raft.clone(),
            server.id,
            server.leadership.clone(),
        ));
        server.tasks.spawn(metrics::run_raft_metrics(
            server.clone(),
            server.stop.clone(),
        ));
        server.tasks.spawn(leadership::run_elections(
            server.clone(),
            server.stop.clone(),
        ));
        server.tasks.spawn(coordinate_updates::run_coordinate_flush(
            server.clone(),
            server.stop.clone(),
        ));
        if cfg.bootstrap {
            server
                .bootstrap(BTreeMap::from([(cfg.node_id, cfg.rpc_addr.clone())]))
                .await?;
        }
        Ok(server)
    }

    /// Forms a new cluster of `voters` (Raft id → RPC address) if this
    /// server has no Raft state yet; every server of a new cluster may call
    /// it with the same voters. A server that already has state resumes.
    ///
    /// # Errors
    /// `MembershipRefused` when Raft refuses.
    pub async fn bootstrap(&self, voters: BTreeMap<u64, String>) -> Result<(), ServerError> {
        let members: BTreeMap<u64, BasicNode> = voters
            .into_iter()
            .map(|(id, addr)| (id, BasicNode { addr }))
            .collect();
        // A server that already voted (another server of the new cluster
        // initialized first and asked for its vote) or holds a log has
        // nothing to form: openraft would refuse, logging an error.
        let started = {
            let m = self.raft.metrics().borrow().clone();
            m.last_log_index.is_some() || m.vote != openraft::Vote::default()
        };
        if started {
            tracing::info!(id = self.id, "cluster already bootstrapped; resuming");
            return Ok(());
        }
        match self.raft.initialize(members).await {
            Ok(()) => tracing::info!(id = self.id, "bootstrapped a new cluster"),
            Err(RaftError::APIError(InitializeError::NotAllowed(_))) => {
                tracing::info!(id = self.id, "cluster already bootstrapped; resuming")
            }
            Err(e) => return Err(ServerError::MembershipRefused(e.to_string())),
        }
        Ok(())
    }

    /// The coordinate updates waiting for the leader's next batch.
    pub fn coordinate_queue(&self) -> &coordinate_updates::CoordinateQueue {
        &self.coordinates
    }

    /// This server's Raft id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The shared state machine: the store, for reads.
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// A receiver whose value is the store's last applied index.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.shared.subscribe()
    }

    /// The Raft handle (metrics, membership).
    pub fn raft(&self) -> &Raft {
        &self.raft
    }

    /// The leader as clients may rely on it: this server only while it
    /// leads with its lease (a quorum acknowledged it within `READ_LEASE`),
    /// another server only while it was heard from recently. `None` during
    /// an election, on a leader cut off from its quorum (it stops naming
    /// itself after the lease, as Consul's leader steps down), and on a
    /// follower cut off from its leader.
    pub fn leader(&self) -> Option<u64> {
        let m = self.raft.metrics();
        let m = m.borrow();
        match m.current_leader {
            Some(l) if l == self.id => self.leadership.leads(&m, self.id).then_some(l),
            Some(l) => {
                (self.leadership.since_leader_contact() < leadership::LEADER_SILENCE).then_some(l)
            }
            None => None,
        }
    }

    /// `true` while this server leads with its lease.
    pub fn is_leader(&self) -> bool {
        self.leader() == Some(self.id)
    }

    /// Cancelled once Raft has stopped on a fatal error (a failed log
    /// write, a panic): this server can serve nothing more and must stop.
    pub fn failed(&self) -> CancellationToken {
        self.leadership.failed().clone()
    }

    /// Why Raft stopped, once `failed` has fired.
    pub fn failure(&self) -> Option<String> {
        self.leadership.failure()
    }

    /// On the leader, waits until its leader duties have run once in this
    /// term (its own node, the servers' `consul` service and the members
    /// are in the catalog), or `deadline`: a client's request is held
    /// meanwhile instead of meeting a catalog the new leader has not
    /// reconciled yet (a session for a node not registered yet), as
    /// Consul's leader serves nothing before `establishLeadership`. Returns
    /// at once on a follower and once established.
    async fn wait_established(&self, deadline: tokio::time::Instant) {
        let Some(mut rx) = self.leadership.established() else {
            return;
        };
        let term = self.raft.metrics().borrow().current_term;
        let wait = rx.wait_for(|t| *t >= term);
        if tokio::time::timeout_at(deadline, wait).await.is_err() {
            tracing::debug!(term, "leader duties not done in time; serving anyway");
        }
    }

    /// Marks leadership established for this term (the leader duties ran).
    pub(crate) fn establish(&self) {
        let term = self.raft.metrics().borrow().current_term;
        self.leadership.establish(term);
    }

    /// Waits until some leader is known (as `leader` says), or `deadline`.
    async fn wait_for_leader(&self, deadline: tokio::time::Instant) -> Option<u64> {
        let mut rx = self.raft.metrics();
        loop {
            if let Some(l) = self.leader() {
                return Some(l);
            }
            let now = tokio::time::Instant::now();
            if now >= deadline || self.leadership.failed().is_cancelled() {
                return None;
            }
            // Metrics change on every Raft event, heartbeats included; the
            // poll also catches a lease that comes back without one.
            let poll = deadline.min(now + Duration::from_millis(25));
            if let Ok(Err(_)) = tokio::time::timeout_at(poll, rx.changed()).await {
                tokio::time::sleep_until(poll).await;
            }
        }
    }

    /// Sends `req` to the leader `leader` and returns its reply.
    async fn call_leader(
        &self,
        leader: u64,
        req: rpc::Request,
        timeout: Duration,
    ) -> Result<rpc::Reply, RpcError> {
        let addr = self
            .voters()
            .into_iter()
            .find(|(id, _)| *id == leader)
            .map(|(_, a)| a)
            .ok_or_else(|| RpcError::Connect {
                addr: format!("server {leader}"),
                reason: "not in the raft configuration".into(),
            })?;
        self.peers.client(&addr)?.call(req, timeout).await
    }

    /// This server's connections to its peers (through its dialer, so TLS
    /// when configured).
    pub(crate) fn peers(&self) -> &Peers {
        &self.peers
    }

    /// Proposes `cmd` on the leader (this server, or the leader over RPC)
    /// and waits until it is committed. Returns the Raft index it was applied
    /// at and its response.
    ///
    /// # Errors
    /// `NoLeader` when no leader appeared within the leader wait, or the
    /// leader could not be reached: nothing was proposed, and the write may
    /// be tried again. `OutcomeUnknown` when the write was proposed (or sent
    /// to the leader) and no answer came in time: it may still be applied,
    /// so it must not be retried blindly.
    pub async fn write(&self, cmd: Command) -> Result<(u64, Response), ServerError> {
        self.write_with(None, cmd).await
    }

    /// Proposes `cmd` for the caller with `token`, as `write`: the leader
    /// checks the token's permissions against its state just before it
    /// proposes (a follower forwards the token with the command), and
    /// checks a new policy's rules.
    ///
    /// # Errors
    /// As `write`; `Acl` when the token is unknown or may not, and
    /// nothing was proposed.
    pub async fn write_as(
        &self,
        token: &acl::Token,
        cmd: Command,
    ) -> Result<(u64, Response), ServerError> {
        self.write_with(Some(token), cmd).await
    }

    /// Checks `cmd` against `token` on this server's state (the leader's).
    fn authorize_write(&self, token: &acl::Token, cmd: &Command) -> Result<(), ServerError> {
        if let Command::Acl(praetor_store::acl::AclCommand::PolicySet { policy, .. }) = cmd {
            praetor_acl::Policy::parse(&policy.rules)
                .map_err(|e| ServerError::Acl(acl::AclError::Invalid(e.to_string())))?;
        }
        let st = self.shared.read();
        let authz = self.acl.authorize(&st.store, token)?;
        Ok(acl::authorize_command(&authz, &st.store, cmd)?)
    }

    /// `write` (no token: the server's own) or `write_as`.
    async fn write_with(
        &self,
        token: Option<&acl::Token>,
        cmd: Command,
    ) -> Result<(u64, Response), ServerError> {
        // An entry too large to replicate would stall every follower.
        if let Err(rpc::WireError::Other(why)) = rpc::check_entry_size(&cmd) {
            return Err(ServerError::TooLarge(why));
        }
        let started = tokio::time::Instant::now();
        let deadline = started + self.leader_wait;
        let mut unreachable = None;
        loop {
            let Some(leader) = self.wait_for_leader(deadline).await else {
                return Err(match unreachable {
                    Some(e) => ServerError::Forward(e),
                    None => ServerError::NoLeader,
                });
            };
            let outcome = if leader == self.id {
                self.propose_as_leader(token, cmd.clone(), deadline).await
            } else {
                // The leader may itself wait for its first round, then for
                // the commit.
                let timeout = deadline.saturating_duration_since(tokio::time::Instant::now())
                    + self.apply_timeout;
                // The server's own writes carry no token: forwarded, they
                // are the anonymous token's. `Propose`: the leader proposes
                // it or answers `NotLeader`, never forwards it again; this
                // loop then finds the new leader within the deadline.
                let token = token.cloned().unwrap_or_default();
                match self
                    .call_leader(leader, rpc::Request::Propose(cmd.clone(), token), timeout)
                    .await
                {
                    Ok(rpc::Reply::Write(r)) => r.map_err(ServerError::from),
                    Ok(other) => Err(ServerError::OutcomeUnknown(format!(
                        "the leader answered a write with {}",
                        other.kind()
                    ))),
                    // Never sent: another try cannot apply it twice.
                    Err(e @ RpcError::Connect { .. }) => {
                        unreachable = Some(e.to_string());
                        Err(ServerError::NoLeader)
                    }
                    // Never sent, and never will be.
                    Err(e @ RpcError::TooLarge { .. }) => {
                        return Err(ServerError::TooLarge(e.to_string()))
                    }
                    Err(e) => Err(ServerError::OutcomeUnknown(format!(
                        "forwarding to the leader: {e}"
                    ))),
                }
            };
            match outcome {
                // Refused before anything was appended: safe to try again.
                Err(ServerError::NotLeader { .. } | ServerError::NoLeader)
                    if tokio::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(ServerError::NotLeader { .. }) => return Err(ServerError::NoLeader),
                other => return other,
            }
        }
    }

    /// Proposes `cmd` here, as the leader: with a `token`, once the leader
    /// duties of this term ran (or `deadline` passed), checked against the
    /// token's permissions just before it is proposed.
    async fn propose_as_leader(
        &self,
        token: Option<&acl::Token>,
        cmd: Command,
        deadline: tokio::time::Instant,
    ) -> Result<(u64, Response), ServerError> {
        if let Some(token) = token {
            self.wait_established(deadline).await;
            self.authorize_write(token, &cmd)?;
        }
        // Agents' coordinates wait for the leader's next batch
        // (`coordinate_updates`), answered at once as Consul's.
        if let Command::CoordinateBatchUpdate(updates) = &cmd {
            let dropped = self.coordinates.queue(updates);
            if dropped > 0 {
                tracing::warn!(dropped, "coordinate update queue full; updates dropped");
            }
            let index = self.shared.read().store.last_index();
            return Ok((index, Response::Applied(true)));
        }
        self.propose(cmd, tokio::time::Instant::now() + self.apply_timeout)
            .await
    }

    /// Proposes a write another server forwarded to this one as its leader
    /// (`Request::Propose`), for the caller with `token`. Only proposed
    /// here: a server that does not lead (with its lease) answers
    /// `NotLeader` and proposes nothing, so the forwarding server tries
    /// the new leader itself and a write crosses at most one hop between
    /// servers.
    ///
    /// # Errors
    /// `NotLeader` when this server does not lead; otherwise as `write_as`.
    pub async fn propose_forwarded(
        &self,
        token: &acl::Token,
        cmd: Command,
    ) -> Result<(u64, Response), ServerError> {
        let leader = self.leader();
        if leader != Some(self.id) {
            return Err(ServerError::NotLeader { leader });
        }
        let deadline = tokio::time::Instant::now() + self.leader_wait;
        self.propose_as_leader(Some(token), cmd, deadline).await
    }

    /// Proposes `cmd` on this server, which must be the leader.
    ///
    /// # Errors
    /// `NotLeader` when this server does not lead (with its lease);
    /// `OutcomeUnknown` as `write`.
    pub async fn write_local(&self, cmd: Command) -> Result<(u64, Response), ServerError> {
        if !self.is_leader() {
            return Err(ServerError::NotLeader {
                leader: self.leader(),
            });
        }
        self.propose(cmd, tokio::time::Instant::now() + self.apply_timeout)
            .await
    }

    /// Proposes `cmd` through the batching proposer, waiting for its commit
    /// until `deadline`.
    async fn propose(
        &self,
        cmd: Command,
        deadline: tokio::time::Instant,
    ) -> Result<(u64, Response), ServerError> {
        // Handing leadership over: nothing more is proposed here; the
        // writer waits for the next leader (`transfer.rs`).
        if self.leadership.transferring() {
            return Err(ServerError::NotLeader { leader: None });
        }
        let within = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout_at(deadline, self.proposer.propose(cmd)).await {
            Ok(r) => r,
            Err(_) => Err(ServerError::OutcomeUnknown(format!(
                "proposed, but not committed within {within:?}"
            ))),
        }
    }

    /// What `token` may do, by this server's copy of the ACL tables (for
    /// an agent's own endpoints; requests to the store are checked where
    /// they are served).
    ///
    /// # Errors
    /// `Acl(NotFound)` for an unknown or expired token.
    pub fn authorize(&self, token: &acl::Token) -> Result<Arc<acl::Authz>, ServerError> {
        let st = self.shared.read();
        Ok(self.acl.authorize(&st.store, token)?)
    }

    /// The ACL settings this server enforces.
    pub fn acl_config(&self) -> &acl::AclConfig {
        self.acl.config()
    }

    /// This server's view of the Raft cluster.
    pub fn status(&self) -> RaftStatus {
        let leader = self.leader();
        let m = self.raft.metrics();
        let m = m.borrow();
        let membership = m.membership_config.membership();
        let voters: std::collections::BTreeSet<u64> = membership.voter_ids().collect();
        RaftStatus {
            id: self.id,
            leader,
            term: m.current_term,
            config_index: m.membership_config.log_id().map_or(0, |l| l.index),
            last_applied: m.last_applied.map_or(0, |l| l.index),
            members: membership
                .nodes()
                .map(|(id, n)| RaftMember {
                    id: *id,
                    addr: n.addr.clone(),
                    voter: voters.contains(id),
                })
                .collect(),
        }
    }

    /// The voters of the current Raft configuration, as `(id, address)`.
    pub fn voters(&self) -> Vec<(u64, String)> {
        let m = self.raft.metrics();
        let m = m.borrow();
        let membership = m.membership_config.membership();
        membership
            .voter_ids()
            .filter_map(|id| membership.get_node(&id).map(|n| (id, n.addr.clone())))
            .collect()
    }

    /// Adds a server to the cluster: after it answered a ping as `id`
    /// (through TLS, when configured), first as a learner that catches up
    /// from the log (or a snapshot), then, once caught up, as a voter. Must
    /// run on the leader.
    ///
    /// # Errors
    /// `NotLeader`/`NoLeader` when this server does not lead; `MembershipRefused` when the
    /// membership change is refused.
    pub async fn add_voter(&self, id: u64, addr: &str) -> Result<(), ServerError> {
        // First prove the server answers as one: the connection goes
        // through this server's dialer, so under TLS the peer must show a
        // certificate of our CA naming a server of this datacenter. A
        // stranger is never even made a learner (whose replication would
        // fail, and be logged, over and over).
        match self
            .peers
            .client(addr)
            .map_err(|e| ServerError::MembershipRefused(e.to_string()))?
            .call(rpc::Request::Ping, LEARNER_PROBE_TIMEOUT)
            .await
        {
            Ok(rpc::Reply::Pong(answered)) if answered == id => {}
            Ok(rpc::Reply::Pong(other)) => {
                return Err(ServerError::MembershipRefused(format!(
                    "{addr} answers as server {other}, not {id}"
                )))
            }
            Ok(other) => {
                return Err(ServerError::MembershipRefused(format!(
                    "{addr} answered a ping with {}",
                    other.kind()
                )))
            }
            Err(e) => {
                return Err(ServerError::MembershipRefused(format!(
                    "{addr} cannot be reached as a server: {e}"
                )))
            }
        }
        let node = BasicNode {
            addr: addr.to_owned(),
        };
        let added = self.raft.add_learner(id, node, false).await;
        let membership_index = added.as_ref().map_or(0, |r| r.log_id.index);
        self.membership_result(added)?;
        // openraft's own "blocking" add waits only briefly and then returns
        // success either way: wait here until the learner holds the log up
        // to its own membership entry, and never make a voter of one that
        // does not.
        let caught_up = self
            .raft
            .wait(Some(LEARNER_CATCH_UP))
            .metrics(
                |m| {
                    m.replication
                        .as_ref()
                        .and_then(|r| r.get(&id))
                        .and_then(Option::as_ref)
                        .is_some_and(|matched| matched.index >= membership_index)
                },
                "the new learner to catch up",
            )
            .await;
        if caught_up.is_err() {
            return Err(ServerError::MembershipRefused(format!(
                "server {id} at {addr} did not catch up within {LEARNER_CATCH_UP:?}; it stays a learner and is not made a voter"
            )));
        }
        let ids: std::collections::BTreeSet<u64> = [id].into();
        self.membership_result(
            self.raft
                .change_membership(openraft::ChangeMembers::AddVoterIds(ids), false)
                .await,
        )?;
        tracing::info!(id, addr, "server added to the raft configuration");
        Ok(())
    }

    /// Removes a server from the Raft configuration. Must run on the leader.
    ///
    /// # Errors
    /// As `add_voter`.
    pub async fn remove_voter(&self, id: u64) -> Result<(), ServerError> {
        let voter = self.voters().iter().any(|(v, _)| *v == id);
        let ids: std::collections::BTreeSet<u64> = [id].into();
        let change = if voter {
            openraft::ChangeMembers::RemoveVoters(ids)
        } else {
            openraft::ChangeMembers::RemoveNodes(ids)
        };
        self.membership_result(self.raft.change_membership(change, false).await)?;
        // The change is committed; this server's view of the configuration
        // (`voters`, `status`) follows a moment later. Wait for it, so a
        // caller that lists the peers next does not still see the removed
        // one. Bounded: the change stands either way.
        let _ = self
            .raft
            .wait(Some(Duration::from_secs(5)))
            .metrics(
                |m| {
                    !m.membership_config
                        .membership()
                        .nodes()
                        .any(|(n, _)| *n == id)
                },
                "the removed server to leave this server's configuration",
            )
            .await;
        tracing::info!(id, "server removed from the raft configuration");
        Ok(())
    }

    /// Removes a server from the Raft configuration on whichever server
    /// leads (`DELETE /v1/operator/raft/peer`).
    ///
    /// # Errors
    /// `UnknownPeer` when `id` is not in the configuration; as `write`
    /// otherwise.
    pub async fn remove_peer(&self, id: u64) -> Result<(), ServerError> {
        if !self.status().members.iter().any(|m| m.id == id) {
            return Err(ServerError::UnknownPeer(id.to_string()));
        }
        let deadline = tokio::time::Instant::now() + self.leader_wait;
        loop {
            let Some(leader) = self.wait_for_leader(deadline).await else {
                return Err(ServerError::NoLeader);
            };
            let outcome = if leader == self.id {
                self.remove_voter(id).await
            } else {
                match self
                    .call_leader(leader, rpc::Request::RemovePeer(id), self.leader_wait)
                    .await
                {
                    Ok(rpc::Reply::Done(r)) => r.map_err(ServerError::from),
                    Ok(other) => Err(ServerError::Forward(format!(
                        "the leader answered with {}",
                        other.kind()
                    ))),
                    Err(e) => Err(ServerError::Forward(e.to_string())),
                }
            };
            match outcome {
                Err(ServerError::NotLeader { .. } | ServerError::NoLeader)
                    if tokio::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                other => return other,
            }
        }
    }

    fn membership_result<T>(
        &self,
        r: Result<T, RaftError<u64, ClientWriteError<u64, BasicNode>>>,
    ) -> Result<(), ServerError> {
        match r {
            Ok(_) => Ok(()),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => match f.leader_id {
                Some(l) if l != self.id => Err(ServerError::NotLeader { leader: Some(l) }),
                _ => Err(ServerError::NoLeader),
            },
            Err(e) => Err(ServerError::MembershipRefused(e.to_string())),
        }
    }

    /// Takes a snapshot now (and compacts the log behind it).
    ///
    /// # Errors
    /// When Raft has stopped.
    pub async fn snapshot(&self) -> Result<(), ServerError> {
        self.raft
            .trigger()
            .snapshot()
            .await
            .map_err(|e| ServerError::Stopped(e.to_string()))
    }

    /// Answers one RPC call from a peer or a client agent.
    pub async fn handle_rpc(&self, req: rpc::Request) -> rpc::Reply {
        use rpc::{Reply, Request};
        match req {
            Request::AppendEntries(r) => {
                let reply = self.raft.append_entries(r).await;
                if reply
                    .as_ref()
                    .is_ok_and(|r| !matches!(r, AppendEntriesResponse::HigherVote(_)))
                {
                    self.leadership.heard_from_leader();
                }
                Reply::AppendEntries(reply)
            }
            Request::Vote(r) => {
                let reply = self.raft.vote(r).await;
                if reply.as_ref().is_ok_and(|v| v.vote_granted) {
                    self.leadership.reset_election_timer();
                }
                Reply::Vote(reply)
            }
            Request::InstallSnapshot(r) => {
                let reply = self.raft.install_snapshot(r).await;
                if reply.is_ok() {
                    self.leadership.heard_from_leader();
                }
                Reply::InstallSnapshot(reply)
            }
            Request::PreVote(r) => Reply::PreVote(self.answer_pre_vote(&r)),
            // Peers may forward writes, never the leader's own wrappers
            // (`Timed`, `Batch`) or its timer's `SessionExpire`.
            Request::Write(cmd, token) => Reply::Write(match rpc::admit(&cmd) {
                Ok(()) => self.write_as(&token, cmd).await.map_err(Into::into),
                Err(refused) => Err(refused),
            }),
            // Forwarded by a server: proposed here or refused, never
            // forwarded again.
            Request::Propose(cmd, token) => Reply::Write(match rpc::admit(&cmd) {
                Ok(()) => self
                    .propose_forwarded(&token, cmd)
                    .await
                    .map_err(Into::into),
                Err(refused) => Err(refused),
            }),
            Request::Query(r, opts, token) => {
                Reply::Query(self.read(&token, &r, opts).await.map_err(Into::into))
            }
            Request::Status => Reply::Status(self.status()),
            Request::RemovePeer(id) => Reply::Done(self.remove_peer(id).await.map_err(Into::into)),
            Request::Ping => Reply::Pong(self.id),
            Request::TimeoutNow(r) => Reply::Done(self.answer_timeout_now(&r).await),
            Request::TransferLeader(target) => {
                transfer::transferred(self.transfer_leader(target).await)
            }
            Request::AutopilotHealth => {
                Reply::AutopilotHealth(self.autopilot_health().await.map_err(Into::into))
            }
            Request::SnapshotExport(req, token) => {
                Reply::SnapshotExport(self.snapshot_export(&token, req).await.map_err(Into::into))
            }
            Request::CrossDc(dc, call) => self.route_dc(dc, call).await,
            Request::Datacenters => Reply::Datacenters(self.datacenters()),
            Request::CoordinateDatacenters => Reply::CoordinateDatacenters(self.coordinate_maps()),
        }
    }

    /// Serves a call for datacenter `dc`: here when it is this server's
    /// own, else through the installed router (none installed: no path).
    async fn route_dc(&self, dc: String, call: rpc::DcCall) -> rpc::Reply {
        if *dc == *self.datacenter {
            return Box::pin(self.handle_rpc(call.into_request())).await;
        }
        match self.dc_router.get() {
            Some(router) => router.route(dc, call).await,
            None => dc::failed(&call, rpc::WireError::NoPathToDatacenter(dc)),
        }
    }

    /// Every datacenter this server knows (its WAN pool's, through the
    /// installed router), nearest first; only its own without a router.
    pub fn datacenters(&self) -> Vec<String> {
        match self.dc_router.get() {
            Some(router) => router.datacenters(),
            None => vec![self.datacenter.to_string()],
        }
    }

    /// The WAN coordinates of every datacenter's servers (its WAN pool's,
    /// through the installed router); without one (no WAN pool), only
    /// its own datacenter, with no coordinates.
    pub fn coordinate_maps(&self) -> Vec<praetor_api::coordinate::CoordinateDatacenterMap> {
        match self.dc_router.get() {
            Some(router) => router.coordinate_maps(),
            None => vec![praetor_api::coordinate::CoordinateDatacenterMap {
                datacenter: self.datacenter.to_string(),
                area_id: praetor_api::coordinate::WAN_AREA.into(),
                coordinates: Vec::new(),
            }],
        }
    }

    /// This server's datacenter.
    pub fn datacenter(&self) -> &str {
        &self.datacenter
    }

    /// Installs the router of calls for other datacenters (the agent's
    /// WAN pool); only the first install counts.
    pub fn install_dc_router(&self, router: Arc<dyn dc::DcRouter>) {
        if !self.dc_router.install(router) {
            tracing::warn!("a datacenter router was already installed; keeping it");
        }
    }

    /// Stops Raft (pending writes fail), waits (bounded) for the server's
    /// own tasks, and closes the log file. The stop token given at start
    /// must be cancelled first (the agent's shutdown does).
    pub async fn shutdown(&self) {
        if let Err(e) = self.raft.shutdown().await {
            tracing::warn!(error = %e, "raft did not stop cleanly");
        }
        self.tasks.close();
        if tokio::time::timeout(Duration::from_secs(5), self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("some server tasks did not stop within 5s");
        }
        let log = self.log.clone();
        let _ = tokio::task::spawn_blocking(move || log.close()).await;
    }
}
