//! Who may act as the leader right now, as clients must see it, on top of
//! what openraft reports:
//!
//! - **The read lease.** A leader serves default reads, names itself in
//!   `/v1/status/leader` and reports `X-Consul-KnownLeader: true` only while
//!   a quorum accepted it within `READ_LEASE` (Consul's
//!   `leader_lease_timeout`), and only once it has applied an entry of its
//!   own term (before that, entries its predecessor committed may still be
//!   unapplied here). The acceptance time is when the accepted AppendEntries
//!   was *sent*, stamped by the Raft network as it leaves (`Acks`), while
//!   followers refuse votes for `VOTE_LEASE` after *receiving* one: so no
//!   other leader can be elected while the lease holds, and a leader that
//!   was paused (SIGSTOP, a long GC-like stall) sees its old
//!   acknowledgements as old the moment it runs again. (openraft's own
//!   `millis_since_quorum_ack` is a number computed when metrics were last
//!   published; read after a pause it looks fresh.)
//! - **Pre-vote** (etcd's `PreVote`, Raft thesis §9.6). openraft 0.9 has
//!   none: a follower cut off for a few seconds keeps raising its term, and
//!   when it returns its higher term deposes a healthy leader. So openraft's
//!   own election timer is off (`enable_elect = false`) and `run_elections`
//!   drives elections: a voter that has not heard from a leader for an
//!   election timeout first asks the other voters whether they would vote
//!   for it (`PreVote`, which changes no state anywhere); only with a
//!   majority's yes does it start a real election through openraft. A voter
//!   says yes only if it has not heard from a leader within `VOTE_LEASE`
//!   (a leader: if a quorum has not acknowledged it within it) and the
//!   candidate's log is at least as up to date as its own.
//! - **Handing leadership over** (`transfer.rs`): while a transfer is in
//!   progress the leader gives up its lease at once (`leads` is false), so
//!   nothing it served under the lease can overlap the new leader's term.
//! - **Fatal states.** When openraft stops on a storage error or a panic,
//!   `failed()` fires, so the agent shuts down instead of answering 500s.
//!
//! This module never proposes or applies anything; elections themselves are
//! openraft's.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openraft::error::Fatal;
use openraft::ServerState;
use rand::Rng;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::raft::network::Acks;
use crate::raft::{LogId, Raft};
use crate::rpc::{Reply, Request};
use crate::Server;

/// How long after a quorum acknowledgement the leader may act alone
/// (Consul's `leader_lease_timeout` default).
pub const READ_LEASE: Duration = Duration::from_millis(500);
/// How long a voter refuses to help elect another server after hearing from
/// a leader: openraft's follower-side lease (`election_timeout_max`).
pub const VOTE_LEASE: Duration = Duration::from_millis(ELECTION_TIMEOUT_MAX);
/// After this much silence a follower no longer names a leader.
pub const LEADER_SILENCE: Duration = Duration::from_millis(2 * ELECTION_TIMEOUT_MAX);
/// openraft's `election_timeout_min`, in milliseconds.
pub const ELECTION_TIMEOUT_MIN: u64 = 300;
/// openraft's `election_timeout_max`, in milliseconds.
pub const ELECTION_TIMEOUT_MAX: u64 = 600;
/// How often the election driver looks at the state.
const ELECTION_TICK: Duration = Duration::from_millis(50);
/// How long a pre-vote waits for each voter.
const PRE_VOTE_TIMEOUT: Duration = Duration::from_millis(300);

/// openraft's metrics, as this module reads them.
pub(crate) type Metrics = openraft::RaftMetrics<u64, openraft::BasicNode>;

/// "Never happened", in a stamp.
const NEVER: u64 = u64::MAX;

/// A pre-vote: "would you vote for `candidate` in `term`?" Answered
/// without changing any state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreVote {
    pub candidate: u64,
    /// The term the candidate would stand in (its current term + 1).
    pub term: u64,
    /// The candidate's last log id.
    pub last_log: Option<LogId>,
}

/// Time stamps of leadership events, in milliseconds after `base`.
#[derive(Debug)]
pub(crate) struct Leadership {
    base: Instant,
    /// What peers acknowledged of this server's leadership, stamped by the
    /// Raft network when each AppendEntries was sent.
    acks: Arc<Acks>,
    /// The last append or snapshot accepted from a leader.
    leader_contact: AtomicU64,
    /// The last event that restarts the election timer: leader contact, a
    /// vote granted, or an election attempt of our own.
    election_reset: AtomicU64,
    /// `true` while this server leads with its lease.
    leading: watch::Sender<bool>,
    /// The last term in which this server, as leader, finished its first
    /// round of leader duties (Consul's `establishLeadership`): until then
    /// it holds clients' requests (`Server::wait_established`).
    established: watch::Sender<u64>,
    /// Whether leader duties run on this server at all (a server without
    /// them, as in unit tests, holds nothing).
    duties: std::sync::atomic::AtomicBool,
    /// `true` while this leader hands its leadership over: it does not
    /// lead with its lease, whatever the acknowledgements say.
    transferring: std::sync::atomic::AtomicBool,
    failed: CancellationToken,
    failure: Mutex<Option<String>>,
}

impl Leadership {
    pub(crate) fn new(acks: Arc<Acks>) -> Self {
        Leadership {
            base: Instant::now(),
            acks,
            leader_contact: AtomicU64::new(NEVER),
            election_reset: AtomicU64::new(0),
            leading: watch::channel(false).0,
            established: watch::channel(0).0,
            duties: std::sync::atomic::AtomicBool::new(false),
            transferring: std::sync::atomic::AtomicBool::new(false),
            failed: CancellationToken::new(),
            failure: Mutex::new(None),
        }
    }

    fn now_ms(&self) -> u64 {
        self.base.elapsed().as_millis() as u64
    }

    /// Time since a stamp; since start for `NEVER`.
    fn since(&self, stamp: &AtomicU64) -> Duration {
        let now = self.now_ms();
        match stamp.load(Ordering::Relaxed) {
            NEVER => Duration::from_millis(now),
            at => Duration::from_millis(now.saturating_sub(at)),
        }
    }

    /// A leader accepted our view of the log (an append or a snapshot).
    pub(crate) fn heard_from_leader(&self) {
        let now = self.now_ms();
        self.leader_contact.store(now, Ordering::Relaxed);
        self.election_reset.store(now, Ordering::Relaxed);
    }

    /// We granted a vote or started an election: the election timer restarts.
    pub(crate) fn reset_election_timer(&self) {
        self.election_reset.store(self.now_ms(), Ordering::Relaxed);
    }

    /// Time since a leader last reached this server.
    pub(crate) fn since_leader_contact(&self) -> Duration {
        self.since(&self.leader_contact)
    }

    fn since_election_reset(&self) -> Duration {
        self.since(&self.election_reset)
    }

    /// When a quorum of voters (this server counting as now) last
    /// accepted this server as leader in its current term; `None` when it
    /// does not lead, or no quorum has yet.
    fn quorum_acked(&self, m: &Metrics, me: u64) -> Option<Instant> {
        if m.state != ServerState::Leader || m.current_leader != Some(me) {
            return None;
        }
        let now = Instant::now();
        let voters: Vec<u64> = m.membership_config.membership().voter_ids().collect();
        let mut acked: Vec<Instant> = voters
            .iter()
            .filter_map(|&v| {
                if v == me {
                    Some(now)
                } else {
                    self.acks.accepted(v, m.current_term)
                }
            })
            .collect();
        let quorum = voters.len() / 2 + 1;
        if acked.len() < quorum {
            return None;
        }
        acked.sort_unstable_by(|a, b| b.cmp(a));
        acked.get(quorum - 1).copied()
    }

    /// Time since a quorum last acknowledged this server as leader; `None`
    /// when it does not lead.
    pub(crate) fn since_quorum_ack(&self, m: &Metrics, me: u64) -> Option<Duration> {
        self.quorum_acked(m, me).map(|t| t.elapsed())
    }

    /// `true` while this server leads with its lease: a quorum accepted it
    /// within `READ_LEASE`, and it has applied an entry of its own term (so
    /// it has applied everything its predecessors committed, Raft §8).
    pub(crate) fn leads(&self, m: &Metrics, me: u64) -> bool {
        if self.transferring() {
            return false;
        }
        let own_term_applied = m
            .last_applied
            .is_some_and(|l| l.leader_id.term == m.current_term);
        own_term_applied && self.since_quorum_ack(m, me).is_some_and(|d| d < READ_LEASE)
    }

    /// `true` while a leadership transfer of this server's is in progress.
    pub(crate) fn transferring(&self) -> bool {
        self.transferring.load(Ordering::SeqCst)
    }

    /// Starts a leadership transfer: from now on this server does not lead
    /// with its lease (published at once). `false` when one is already in
    /// progress.
    pub(crate) fn begin_transfer(&self) -> bool {
        let started = self
            .transferring
            .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok();
        if started {
            self.leading.send_replace(false);
        }
        started
    }

    /// Ends a leadership transfer; the lease is published again at the
    /// next metrics change (`run_watch`).
    pub(crate) fn end_transfer(&self, m: &Metrics, me: u64) {
        self.transferring.store(false, Ordering::SeqCst);
        self.publish_leading(m, me);
    }

    /// A receiver of "this server leads with its lease".
    pub(crate) fn subscribe(&self) -> watch::Receiver<bool> {
        self.leading.subscribe()
    }

    /// Records that the leader duties finished a round in `term`.
    pub(crate) fn establish(&self, term: u64) {
        self.established.send_if_modified(|t| {
            let newer = term > *t;
            if newer {
                *t = term;
            }
            newer
        });
    }

    /// A receiver of the last term in which leadership was established;
    /// `None` when no leader duties run here (nothing to wait for).
    pub(crate) fn established(&self) -> Option<watch::Receiver<u64>> {
        self.duties
            .load(Ordering::Relaxed)
            .then(|| self.established.subscribe())
    }

    /// Leader duties run on this server from now on.
    pub(crate) fn duties_started(&self) {
        self.duties.store(true, Ordering::Relaxed);
    }

    /// Cancelled once Raft has stopped for good on a fatal error.
    pub(crate) fn failed(&self) -> &CancellationToken {
        &self.failed
    }

    /// Why Raft stopped, once `failed` fired.
    pub(crate) fn failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn fail(&self, reason: String) {
        *self.failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(reason);
        self.failed.cancel();
    }

    /// Publishes whether this server leads with its lease; returns when
    /// the lease runs out if no acknowledgement comes first.
    fn publish_leading(&self, m: &Metrics, me: u64) -> Option<tokio::time::Instant> {
        let leads = self.leads(m, me);
        self.leading.send_if_modified(|v| {
            let changed = *v != leads;
            *v = leads;
            changed
        });
        let acked = self.quorum_acked(m, me).filter(|_| leads)?;
        Some(tokio::time::Instant::from_std(acked + READ_LEASE))
    }
}

/// Follows openraft's metrics: stamps quorum acknowledgements, publishes
/// whether this server leads with its lease (also when the lease merely
/// runs out), and fires `failed` when Raft stops on a fatal error.
pub(crate) async fn run_watch(raft: Raft, id: u64, lead: Arc<Leadership>) {
    let mut rx = raft.metrics();
    loop {
        let expiry = {
            let m = rx.borrow_and_update();
            match &m.running_state {
                Err(Fatal::Stopped) => return,
                Err(e) => {
                    tracing::error!(error = %e, "raft stopped on a fatal error; this server must stop");
                    lead.leading.send_replace(false);
                    lead.fail(e.to_string());
                    return;
                }
                Ok(()) => {}
            }
            lead.publish_leading(&m, id)
        };
        tokio::select! {
            changed = rx.changed() => if changed.is_err() { return },
            () = async {
                match expiry {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            } => {}
        }
    }
}

fn random_ms(lo: u64, hi: u64) -> Duration {
    Duration::from_millis(rand::thread_rng().gen_range(lo..=hi))
}

/// The election timeout of a follower that had a leader: openraft's own
/// (`leader_lease + election_timeout`), so a new leader is not sought while
/// voters would still refuse.
fn follower_timeout() -> Duration {
    random_ms(
        ELECTION_TIMEOUT_MAX + ELECTION_TIMEOUT_MIN,
        2 * ELECTION_TIMEOUT_MAX,
    )
}

/// Drives elections with a pre-vote round first (see the module doc).
pub(crate) async fn run_elections(server: Server, stop: CancellationToken) {
    let lead = server.leadership.clone();
    let mut timeout = follower_timeout();
    let mut tick = tokio::time::interval(ELECTION_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = lead.failed().cancelled() => return,
            _ = tick.tick() => {}
        }
        let (state, term, voters) = {
            let m = server.raft.metrics();
            let m = m.borrow();
            let membership = m.membership_config.membership();
            let voters: Vec<(u64, String)> = membership
                .voter_ids()
                .filter_map(|id| membership.get_node(&id).map(|n| (id, n.addr.clone())))
                .collect();
            (m.state, m.current_term, voters)
        };
        if state == ServerState::Leader {
            timeout = follower_timeout();
            continue;
        }
        if !voters.iter().any(|(id, _)| *id == server.id) {
            continue;
        }
        if voters.len() == 1 {
            // The only voter needs nobody's consent; elect at once (openraft
            // does the same when its timer is on), but not while a campaign
            // of ours is still running.
            if state != ServerState::Candidate
                || lead.since_election_reset() > Duration::from_millis(ELECTION_TIMEOUT_MAX)
            {
                lead.reset_election_timer();
                let _ = server.raft.trigger().elect().await;
            }
            continue;
        }
        if lead.since_leader_contact() < lead.since_election_reset() {
            // A leader spoke since our last attempt.
            timeout = timeout.max(follower_timeout());
        }
        if lead.since_election_reset() < timeout {
            continue;
        }
        lead.reset_election_timer();
        timeout = random_ms(ELECTION_TIMEOUT_MIN, ELECTION_TIMEOUT_MAX);
        let last_log = server.raft.data_metrics().borrow().last_log;
        let req = PreVote {
            candidate: server.id,
            term: term + 1,
            last_log,
        };
        if pre_vote(&server, &voters, &req).await {
            tracing::info!(term = req.term, "pre-vote won; starting an election");
            lead.reset_election_timer();
            let _ = server.raft.trigger().elect().await;
        } else {
            tracing::debug!(term = req.term, "pre-vote lost; not starting an election");
        }
    }
}

/// Asks every other voter for a pre-vote; `true` with a majority (counting
/// our own).
async fn pre_vote(server: &Server, voters: &[(u64, String)], req: &PreVote) -> bool {
    let asks = voters
        .iter()
        .filter(|(id, _)| *id != server.id)
        .map(|(_, addr)| async move {
            let Ok(client) = server.peers.client(addr) else {
                return false;
            };
            matches!(
                client
                    .call(Request::PreVote(req.clone()), PRE_VOTE_TIMEOUT)
                    .await,
                Ok(Reply::PreVote(true))
            )
        });
    let granted = 1 + futures::future::join_all(asks)
        .await
        .into_iter()
        .filter(|g| *g)
        .count();
    granted * 2 > voters.len()
}

impl Server {
    /// Answers a pre-vote (see the module doc); changes nothing.
    pub(crate) fn answer_pre_vote(&self, req: &PreVote) -> bool {
        let lead = &self.leadership;
        let (in_lease, term) = {
            let m = self.raft.metrics();
            let m = m.borrow();
            let in_lease = if m.state == ServerState::Leader {
                lead.since_quorum_ack(&m, self.id)
                    .is_some_and(|d| d < VOTE_LEASE)
            } else {
                lead.since_leader_contact() < VOTE_LEASE
            };
            (in_lease, m.current_term)
        };
        if in_lease || req.term <= term {
            return false;
        }
        let mine = self.raft.data_metrics().borrow().last_log;
        req.last_log >= mine
    }
}
