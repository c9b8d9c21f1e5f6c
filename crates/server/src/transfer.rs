//! Handing leadership to another server (`POST
//! /v1/operator/raft/transfer-leader`, Raft thesis §3.10). openraft 0.9 has
//! no leadership transfer, and Praetor drives elections itself with a
//! pre-vote (`leadership.rs`), so this module does it in four steps on the
//! leader:
//!
//! 1. **Give up the lease.** The leader stops leading with its lease at
//!    once (`Leadership::begin_transfer`: no default reads, no leader name,
//!    no leader duties) and proposes nothing more (`Server::propose`
//!    refuses with `NotLeader`, so writers wait for the next leader and are
//!    forwarded there, within their usual leader wait).
//! 2. **Let the target catch up**: it must hold the leader's whole log
//!    (bounded by `CATCH_UP_TIMEOUT`).
//! 3. **Go quiet.** Heartbeats stop (openraft's runtime switch) until no
//!    voter has accepted an append for `VOTE_LEASE` and a margin
//!    (`wait_quiet`), so the other voters, which refuse votes for that long
//!    after hearing from a leader, will vote again.
//! 4. **TimeoutNow.** The target is told over the server RPC to stand for
//!    election at once, without waiting for its election timeout or a
//!    pre-vote. The leader then waits (bounded by `TRANSFER_TIMEOUT`) for a
//!    new leader; if none appears it resumes heartbeats and leads again. A
//!    transfer to a named server succeeds only if that server leads (another
//!    server's pre-vote may still win the race: an error says so).
//!
//! **Why no acknowledged write is lost.** A write is acknowledged only
//! once committed: a quorum holds it. A transfer changes only *when* an
//! election starts, never who may win: votes are still openraft's, and
//! Raft's election rule (a voter grants only to a candidate whose log is
//! at least as up to date as its own) means any new leader, the target or
//! another, holds every committed entry. Writes proposed during the
//! transfer are refused before they reach the log; one in flight when it
//! began is either committed (and kept) or answered as failed or unknown,
//! never as done.
//!
//! **Why the lease guarantee holds.** The lease (`leadership.rs`) promises
//! that no other leader exists while a leader serves under its lease. Step
//! 1 ends the old leader's lease before anything else, so nothing it
//! serves can overlap the next term. The target skips its own wait, which
//! only ever protected this same leader's lease; every other voter still
//! refuses votes for `VOTE_LEASE` after its last append, which is why step
//! 3 waits it out. If the transfer fails, the old leader leads with its
//! lease again only after fresh quorum acknowledgements in its own term
//! (acknowledgements are per term, and a transfer outlasts `READ_LEASE`).
//!
//! Never proposes or applies anything.

use std::time::Duration;

use openraft::ServerState;
use serde::{Deserialize, Serialize};

use crate::leadership::VOTE_LEASE;
use crate::rpc::{self, Reply, Request, WireError};
use crate::{Server, ServerError};

/// How long the target has to catch up with the leader's log.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the leader waits for the new leader after the TimeoutNow.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(5);
/// How much longer than `VOTE_LEASE` the leader stays quiet before the
/// TimeoutNow: the followers' leases run from when they received the last
/// append, a little after it was sent.
const QUIET_MARGIN: Duration = Duration::from_millis(150);
/// How long the TimeoutNow call may take.
const TIMEOUT_NOW_CALL: Duration = Duration::from_secs(1);

/// "Stand for election now": sent by the leader `leader` of term `term` to
/// the server it hands its leadership to (Raft's TimeoutNow).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeoutNow {
    pub leader: u64,
    pub term: u64,
}

impl Server {
    /// Moves leadership to server `target` (a voter), or without one to
    /// the most caught-up other voter, from whichever server leads now
    /// (forwarded there). Returns the new leader's Raft id.
    ///
    /// # Errors
    /// `UnknownPeer` when `target` is not in the configuration;
    /// `TransferFailed` when it is not a voter, there is no other voter, a
    /// transfer is in progress, or no new leader appeared in time (the old
    /// one then leads again); `NoLeader` as `write`.
    pub async fn transfer_leader(&self, target: Option<u64>) -> Result<u64, ServerError> {
        let deadline = tokio::time::Instant::now() + self.leader_wait;
        let Some(leader) = self.wait_for_leader(deadline).await else {
            return Err(ServerError::NoLeader);
        };
        if leader == self.id {
            return self.hand_over(target).await;
        }
        let timeout = self.leader_wait + TRANSFER_TIMEOUT + CATCH_UP_TIMEOUT;
        match self
            .call_leader(leader, Request::TransferLeader(target), timeout)
            .await
        {
            Ok(Reply::Transferred(r)) => r.map_err(ServerError::from),
            Ok(other) => Err(ServerError::Forward(format!("unexpected reply {other:?}"))),
            Err(e) => Err(ServerError::Forward(e.to_string())),
        }
    }

    /// The leader's side (see the module doc).
    async fn hand_over(&self, target: Option<u64>) -> Result<u64, ServerError> {
        let named = target.is_some();
        let (term, voters, matched) = {
            let m = self.raft.metrics();
            let m = m.borrow();
            let voters: Vec<u64> = m.membership_config.membership().voter_ids().collect();
            let matched: Vec<(u64, u64)> = m
                .replication
                .as_ref()
                .map(|r| {
                    r.iter()
                        .map(|(id, l)| (*id, l.as_ref().map_or(0, |l| l.index)))
                        .collect()
                })
                .unwrap_or_default();
            (m.current_term, voters, matched)
        };
        let target = match target {
            Some(id) if id == self.id => {
                return Err(ServerError::TransferFailed(
                    "cannot transfer leadership to the current leader".into(),
                ))
            }
            Some(id) if voters.contains(&id) => id,
            Some(id) if self.status().members.iter().any(|m| m.id == id) => {
                return Err(ServerError::TransferFailed(format!(
                    "server {id} is not a voter"
                )))
            }
            Some(id) => return Err(ServerError::UnknownPeer(id.to_string())),
            None => matched
                .iter()
                .filter(|(id, _)| *id != self.id && voters.contains(id))
                .max_by_key(|(_, index)| *index)
                .map(|(id, _)| *id)
                .ok_or_else(|| {
                    ServerError::TransferFailed(
                        "there is no other voter to transfer leadership to".into(),
                    )
                })?,
        };
        if !self.leadership.begin_transfer() {
            return Err(ServerError::TransferFailed(
                "a leadership transfer is already in progress".into(),
            ));
        }
        tracing::info!(target, term, "transferring leadership");
        let outcome = self.run_transfer(target, named, term, &voters).await;
        self.raft.runtime_config().heartbeat(true);
        {
            let m = self.raft.metrics();
            let m = m.borrow();
            self.leadership.end_transfer(&m, self.id);
        }
        match &outcome {
            Ok(leader) => tracing::info!(leader, "leadership transferred"),
            Err(e) => tracing::warn!(error = %e, "leadership transfer failed; leading again"),
        }
        outcome
    }

    async fn run_transfer(
        &self,
        target: u64,
        named: bool,
        term: u64,
        voters: &[u64],
    ) -> Result<u64, ServerError> {
        let caught_up = self
            .raft
            .wait(Some(CATCH_UP_TIMEOUT))
            .metrics(
                |m| {
                    let last = m.last_log_index.unwrap_or(0);
                    m.replication
                        .as_ref()
                        .and_then(|r| r.get(&target))
                        .and_then(Option::as_ref)
                        .is_some_and(|l| l.index >= last)
                },
                "the transfer target to catch up",
            )
            .await;
        if caught_up.is_err() {
            return Err(ServerError::TransferFailed(format!(
                "server {target} did not catch up with the leader's log within {CATCH_UP_TIMEOUT:?}"
            )));
        }
        self.raft.runtime_config().heartbeat(false);
        self.wait_quiet(term, voters).await?;
        let addr = self
            .voters()
            .into_iter()
            .find(|(id, _)| *id == target)
            .map(|(_, a)| a)
            .ok_or_else(|| ServerError::UnknownPeer(target.to_string()))?;
        let req = Request::TimeoutNow(TimeoutNow {
            leader: self.id,
            term,
        });
        let sent = match self.peers.client(&addr) {
            Ok(client) => client.call(req, TIMEOUT_NOW_CALL).await,
            Err(e) => Err(e),
        };
        match sent {
            Ok(Reply::Done(Ok(()))) => {}
            Ok(Reply::Done(Err(e))) => {
                return Err(ServerError::TransferFailed(format!(
                    "server {target} refused to stand for election: {}",
                    ServerError::from(e)
                )))
            }
            Ok(other) => {
                return Err(ServerError::TransferFailed(format!(
                    "server {target} answered out of turn: {other:?}"
                )))
            }
            Err(e) => {
                return Err(ServerError::TransferFailed(format!(
                    "server {target} could not be told to stand for election: {e}"
                )))
            }
        }
        let me = self.id;
        let elected = self
            .raft
            .wait(Some(TRANSFER_TIMEOUT))
            .metrics(
                |m| m.current_term > term && m.current_leader.is_some_and(|l| l != me),
                "a new leader after the transfer",
            )
            .await;
        match elected.ok().and_then(|m| m.current_leader) {
            Some(l) if l == target || !named => Ok(l),
            Some(l) => Err(ServerError::TransferFailed(format!(
                "server {l} was elected instead of server {target}"
            ))),
            None => Err(ServerError::TransferFailed(format!(
                "no new leader within {TRANSFER_TIMEOUT:?}"
            ))),
        }
    }

    /// Waits until no other voter has accepted an append sent within
    /// `VOTE_LEASE` (with a margin for the network): from then on they
    /// grant votes again. Heartbeats are off, but an append already in
    /// flight may still land, so this follows the acknowledgements rather
    /// than a fixed sleep.
    async fn wait_quiet(&self, term: u64, voters: &[u64]) -> Result<(), ServerError> {
        let quiet = VOTE_LEASE + QUIET_MARGIN;
        let deadline = tokio::time::Instant::now() + quiet + CATCH_UP_TIMEOUT;
        loop {
            let since_last = voters
                .iter()
                .filter(|v| **v != self.id)
                .filter_map(|v| self.peers.acks().accepted(*v, term))
                .map(|at| at.elapsed())
                .min()
                .unwrap_or(quiet);
            if since_last >= quiet {
                return Ok(());
            }
            let next = tokio::time::Instant::now() + (quiet - since_last);
            if next > deadline {
                return Err(ServerError::TransferFailed(
                    "the followers kept receiving appends; they would refuse the vote".into(),
                ));
            }
            tokio::time::sleep_until(next).await;
        }
    }

    /// The target's side: stands for election at once when the leader of
    /// the current term asks (a stale or stray TimeoutNow is refused and
    /// changes nothing).
    pub(crate) async fn answer_timeout_now(&self, req: &TimeoutNow) -> Result<(), WireError> {
        let (fits, state) = {
            let m = self.raft.metrics();
            let m = m.borrow();
            let voter = m
                .membership_config
                .membership()
                .voter_ids()
                .any(|v| v == self.id);
            (
                voter && m.current_term == req.term && m.current_leader == Some(req.leader),
                m.state,
            )
        };
        if !fits || state == ServerState::Leader {
            return Err(WireError::Other(format!(
                "not standing for election: no voter following server {} in term {}",
                req.leader, req.term
            )));
        }
        tracing::info!(
            leader = req.leader,
            term = req.term,
            "asked to take over leadership; starting an election"
        );
        self.leadership.reset_election_timer();
        self.raft
            .trigger()
            .elect()
            .await
            .map_err(|e| WireError::Other(e.to_string()))
    }
}

/// `rpc::Reply` for a forwarded transfer.
pub(crate) fn transferred(r: Result<u64, ServerError>) -> Reply {
    Reply::Transferred(r.map_err(rpc::WireError::from))
}
