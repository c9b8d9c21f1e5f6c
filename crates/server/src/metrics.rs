//! The server's metrics under Consul's names (`consul.raft.*`, `consul.rpc.*`),
//! recorded through the `metrics` facade into the recorder the agent hands in
//! (`ServerMetrics::new`), so several servers in one process each report
//! their own. The handles are registered once, at start; recording is an
//! atomic add in the recorder. This module never installs a recorder and
//! never renders anything: that is the agent's.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use metrics::{counter, histogram, Counter, Histogram, Recorder};
use openraft::ServerState;
use tokio_util::sync::CancellationToken;

use crate::rpc::Request;
use crate::Server;

/// How often the leader samples `consul.raft.leader.lastContact` (hashicorp
/// raft samples it each time it checks its lease).
const CONTACT_SAMPLE: Duration = Duration::from_millis(500);
/// Apply batches remembered for `consul.raft.commitTime`: more than the
/// proposals in flight at once, so a proposal finds its batch.
const APPLIED_KEPT: usize = 64;

/// The server's metric handles; clones share them.
#[derive(Clone, Debug)]
pub struct ServerMetrics {
    inner: Arc<Handles>,
}

#[derive(Debug)]
struct Handles {
    /// `consul.raft.commitTime`: proposal to commit, on the leader (ms).
    commit_time: Histogram,
    /// `consul.raft.apply`: writes proposed by the leader.
    apply: Counter,
    /// `consul.raft.fsm.apply`: applying one entry to the store (ms).
    fsm_apply: Histogram,
    /// `consul.raft.leader.lastContact` (ms).
    last_contact: Histogram,
    state_leader: Counter,
    state_candidate: Counter,
    state_follower: Counter,
    /// `consul.raft.logstore.fsync`: one group commit of the log, fsync included (ms).
    fsync: Histogram,
    /// `consul.raft.logstore.logsPerBatch`: entries in one group commit.
    logs_per_batch: Histogram,
    /// `consul.rpc.request`: RPC calls served (Raft's own traffic aside).
    rpc_request: Counter,
    /// `consul.rpc.query`: reads this server was asked to serve.
    rpc_query: Counter,
    /// `consul.rpc.server.call{method}` (ms), one handle per call kind.
    rpc_call: [Histogram; RPC_METHODS.len()],
    /// `consul.raft.rpc.appendEntries`, `.requestVote`, `.installSnapshot` (ms).
    raft_append: Histogram,
    raft_vote: Histogram,
    raft_snapshot: Histogram,
    /// Apply batches: (last index, when its apply started), newest last.
    applied: Mutex<VecDeque<(u64, Instant)>>,
}

/// The `method` label of `consul.rpc.server.call`, by call kind.
const RPC_METHODS: [&str; 12] = [
    "Write",
    "Query",
    "Status",
    "RemovePeer",
    "Ping",
    "PreVote",
    "TimeoutNow",
    "TransferLeader",
    "AutopilotHealth",
    "CrossDc",
    "Datacenters",
    "CoordinateDatacenters",
];

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

impl ServerMetrics {
    /// Handles that record into `recorder`.
    pub fn new(recorder: &dyn Recorder) -> Self {
        metrics::with_local_recorder(recorder, Self::register)
    }

    /// Handles that record into the process's global recorder (none
    /// installed: they record nothing). For servers started without an agent.
    pub fn global() -> Self {
        Self::register()
    }

    fn register() -> Self {
        let call = |m: &'static str| histogram!("consul.rpc.server.call", "method" => m);
        ServerMetrics {
            inner: Arc::new(Handles {
                commit_time: histogram!("consul.raft.commitTime"),
                apply: counter!("consul.raft.apply"),
                fsm_apply: histogram!("consul.raft.fsm.apply"),
                last_contact: histogram!("consul.raft.leader.lastContact"),
                state_leader: counter!("consul.raft.state.leader"),
                state_candidate: counter!("consul.raft.state.candidate"),
                state_follower: counter!("consul.raft.state.follower"),
                fsync: histogram!("consul.raft.logstore.fsync"),
                logs_per_batch: histogram!("consul.raft.logstore.logsPerBatch"),
                rpc_request: counter!("consul.rpc.request"),
                rpc_query: counter!("consul.rpc.query"),
                rpc_call: RPC_METHODS.map(call),
                raft_append: histogram!("consul.raft.rpc.appendEntries"),
                raft_vote: histogram!("consul.raft.rpc.requestVote"),
                raft_snapshot: histogram!("consul.raft.rpc.installSnapshot"),
                applied: Mutex::new(VecDeque::with_capacity(APPLIED_KEPT)),
            }),
        }
    }

    /// One group commit of the log took `took` (fsync included) for
    /// `entries` entries.
    pub(crate) fn log_committed(&self, took: Duration, entries: usize) {
        self.inner.fsync.record(ms(took));
        self.inner.logs_per_batch.record(entries as f64);
    }

    /// The state machine started applying the entries up to `last` at `at`.
    pub(crate) fn applying(&self, last: u64, at: Instant) {
        let mut q = self.inner.applied.lock().unwrap_or_else(|p| p.into_inner());
        if q.len() == APPLIED_KEPT {
            q.pop_front();
        }
        q.push_back((last, at));
    }

    /// One entry took `took` to apply to the store.
    pub(crate) fn fsm_applied(&self, took: Duration) {
        self.inner.fsm_apply.record(ms(took));
    }

    /// The leader proposed `writes` writes at `proposed`, and they were
    /// applied at `index`: their commit time is from the proposal until
    /// the state machine began applying `index` (openraft hands an entry to
    /// the state machine once committed). Without that record (older than
    /// the ones kept), it is the whole wait, which includes the apply.
    pub(crate) fn proposal_committed(&self, writes: usize, proposed: Instant, index: u64) {
        let committed = {
            let q = self.inner.applied.lock().unwrap_or_else(|p| p.into_inner());
            q.iter()
                .find(|(last, at)| *last >= index && *at >= proposed)
                .map(|(_, at)| *at)
        };
        let took = committed.map_or_else(|| proposed.elapsed(), |at| at - proposed);
        self.inner.commit_time.record(ms(took));
        self.inner.apply.increment(writes as u64);
    }

    /// A read reached this server (`consul.rpc.query`).
    pub(crate) fn query_received(&self) {
        self.inner.rpc_query.increment(1);
    }

    /// Counts an RPC call and times it until the returned guard drops.
    pub(crate) fn rpc_call(&self, req: &Request) -> CallTimer<'_> {
        let h = &self.inner;
        let histogram = match req {
            Request::AppendEntries(_) => &h.raft_append,
            Request::Vote(_) => &h.raft_vote,
            Request::InstallSnapshot(_) => &h.raft_snapshot,
            other => {
                h.rpc_request.increment(1);
                let i = match other {
                    Request::Write(..) | Request::Propose(..) => 0,
                    Request::Query(..) | Request::SnapshotExport(..) => 1,
                    Request::Status => 2,
                    Request::RemovePeer(_) => 3,
                    Request::Ping => 4,
                    Request::TimeoutNow(_) => 6,
                    Request::TransferLeader(_) => 7,
                    Request::AutopilotHealth => 8,
                    Request::CrossDc(..) => 9,
                    Request::Datacenters => 10,
                    Request::CoordinateDatacenters => 11,
                    _ => 5,
                };
                &h.rpc_call[i]
            }
        };
        CallTimer {
            histogram,
            started: Instant::now(),
        }
    }

    fn state_entered(&self, state: ServerState) {
        match state {
            ServerState::Leader => self.inner.state_leader.increment(1),
            ServerState::Candidate => self.inner.state_candidate.increment(1),
            ServerState::Follower => self.inner.state_follower.increment(1),
            ServerState::Learner | ServerState::Shutdown => {}
        }
    }
}

/// Records the time of one RPC call when dropped.
pub(crate) struct CallTimer<'a> {
    histogram: &'a Histogram,
    started: Instant,
}

impl Drop for CallTimer<'_> {
    fn drop(&mut self) {
        self.histogram.record(ms(self.started.elapsed()));
    }
}

/// Follows Raft for its metrics until `stop`: counts each change of
/// state (`consul.raft.state.*`), and samples `consul.raft.leader.lastContact`
/// every half second — on the leader, per follower, the time since it last
/// acknowledged this leader (hashicorp raft's lease check); on a follower
/// that knows a leader, the time since the leader last reached it.
///
/// The state is read when this is called, not when the task first runs, so
/// an election that happens meanwhile is still counted.
pub(crate) fn run_raft_metrics(
    server: Server,
    stop: CancellationToken,
) -> impl std::future::Future<Output = ()> {
    let rx = server.raft.metrics();
    let state = rx.borrow().state;
    follow_raft(server, rx, state, stop)
}

async fn follow_raft(
    server: Server,
    mut rx: tokio::sync::watch::Receiver<crate::leadership::Metrics>,
    mut state: ServerState,
    stop: CancellationToken,
) {
    let metrics = server.metrics.clone();
    let mut tick = tokio::time::interval(CONTACT_SAMPLE);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            changed = rx.changed() => {
                if changed.is_err() {
                    return;
                }
                let now = rx.borrow_and_update().state;
                if now != state {
                    metrics.state_entered(now);
                    state = now;
                }
            }
            _ = tick.tick() => {
                for took in last_contacts(&server) {
                    metrics.inner.last_contact.record(ms(took));
                }
            }
        }
    }
}

/// The lastContact samples for this moment (see `run_raft_metrics`).
fn last_contacts(server: &Server) -> Vec<Duration> {
    let m = server.raft.metrics();
    let m = m.borrow();
    match (m.state, m.current_leader) {
        (ServerState::Leader, _) => {
            let acks = server.peers.acks();
            m.membership_config
                .membership()
                .voter_ids()
                .filter(|v| *v != server.id)
                .filter_map(|v| acks.accepted(v, m.current_term).map(|at| at.elapsed()))
                .collect()
        }
        (_, Some(_)) => vec![server.leadership.since_leader_contact()],
        (_, None) => Vec::new(),
    }
}
