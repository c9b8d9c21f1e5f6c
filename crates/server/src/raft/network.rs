//! The Raft network over server RPC (`crate::rpc`): one persistent,
//! multiplexed connection per peer address, shared by every Raft stream to
//! that peer; each call bounded by openraft's TTL for it. An AppendEntries
//! too large for one frame is answered `PayloadTooLarge` with fewer
//! entries to send, so replication never sends a frame peers refuse.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openraft::error::{
    InstallSnapshotError, NetworkError, PayloadTooLarge, RPCError, RaftError, RemoteError,
    Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::BasicNode;

use super::TypeConfig;
use crate::rpc::{Dialer, Reply, Request, RpcClient, RpcError};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The connections to peers, by address; cloned into every Raft stream.
#[derive(Clone, Default)]
pub struct Peers {
    clients: Arc<Mutex<HashMap<String, Arc<RpcClient>>>>,
    acks: Arc<Acks>,
    dialer: Dialer,
    /// Where the clients' connection tasks run, and what ends them.
    tasks: Option<(TaskTracker, CancellationToken)>,
    /// One AppendEntries with entries in flight per peer address (`gate`).
    gates: Arc<Mutex<HashMap<String, Arc<Semaphore>>>>,
}

/// When each peer last accepted this server as its leader: the time the
/// accepted AppendEntries was *sent* (the peer refuses votes for a while
/// after *receiving* it), with the term it carried. The leader's read lease
/// is computed from these (`crate::leadership`), stamped here, where the
/// request leaves, so no delay between an acknowledgement and its reading
/// can make an old one look fresh.
#[derive(Debug, Default)]
pub struct Acks {
    by_peer: Mutex<HashMap<u64, (std::time::Instant, u64)>>,
}

impl Acks {
    fn record(&self, peer: u64, sent: std::time::Instant, term: u64) {
        let mut map = self.by_peer.lock().unwrap_or_else(|p| p.into_inner());
        let slot = map.entry(peer).or_insert((sent, term));
        if (term, sent) > (slot.1, slot.0) {
            *slot = (sent, term);
        }
    }

    /// When `peer` last accepted a leader of `term`, if it did.
    pub fn accepted(&self, peer: u64, term: u64) -> Option<std::time::Instant> {
        let map = self.by_peer.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&peer)
            .filter(|(_, t)| *t == term)
            .map(|(at, _)| *at)
    }
}

impl Peers {
    /// Peers reached through `dialer` instead of a plain TCP connect.
    pub fn with_dialer(dialer: Dialer) -> Self {
        Peers {
            dialer,
            ..Peers::default()
        }
    }

    /// These peers with their connection tasks on `tasks`, ended by `stop`.
    pub fn on(mut self, tasks: TaskTracker, stop: CancellationToken) -> Self {
        self.tasks = Some((tasks, stop));
        self
    }

    /// What peers acknowledged of this server's leadership.
    pub fn acks(&self) -> &Arc<Acks> {
        &self.acks
    }

    /// The client for `addr` (`ip:port`), created on first use.
    ///
    /// # Errors
    /// When `addr` is not a socket address.
    pub fn client(&self, addr: &str) -> Result<Arc<RpcClient>, RpcError> {
        let mut map = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = map.get(addr) {
            return Ok(c.clone());
        }
        let sock: SocketAddr = addr.parse().map_err(|_| RpcError::Connect {
            addr: addr.to_owned(),
            reason: "not an ip:port address".into(),
        })?;
        let mut c = RpcClient::with_dialer(sock, self.dialer.clone());
        if let Some((tasks, stop)) = &self.tasks {
            c = c.on(tasks.clone(), stop.clone());
        }
        let c = Arc::new(c);
        map.insert(addr.to_owned(), c.clone());
        Ok(c)
    }

    /// The gate AppendEntries with entries pass to reach `addr`: one at a
    /// time, held until the peer answered (or `ENTRIES_IN_FLIGHT`), even
    /// when openraft stopped waiting. openraft resends an AppendEntries
    /// that is not answered within a heartbeat interval at once; without
    /// the gate a peer slower than that would be sent the same entries
    /// again and again, each queued behind the last on the connection,
    /// and heartbeats behind them all.
    fn gate(&self, addr: &str) -> Arc<Semaphore> {
        let mut map = self.gates.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(addr.to_owned())
            .or_insert_with(|| Arc::new(Semaphore::new(1)))
            .clone()
    }

    /// Uses `client` for `addr` from now on (tests: a client with a small
    /// frame limit).
    #[cfg(test)]
    fn insert(&self, addr: &str, client: RpcClient) {
        let mut map = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        map.insert(addr.to_owned(), Arc::new(client));
    }
}

/// How long an AppendEntries with entries holds its peer's gate at most
/// while the peer has not answered.
const ENTRIES_IN_FLIGHT: Duration = Duration::from_secs(10);

/// One Raft stream's view of a peer.
pub struct PeerConn {
    target: u64,
    addr: String,
    peers: Peers,
}

impl RaftNetworkFactory<TypeConfig> for Peers {
    type Network = PeerConn;

    async fn new_client(&mut self, target: u64, node: &BasicNode) -> Self::Network {
        PeerConn {
            target,
            addr: node.addr.clone(),
            peers: self.clone(),
        }
    }
}

impl PeerConn {
    /// Sends an AppendEntries that carries entries through the peer's gate
    /// (`Peers::gate`): the call goes on in a task of its own, holding
    /// the gate until the answer, however long the caller waits.
    async fn send_entries(&self, req: Request) -> Result<Reply, RpcError> {
        let client = self.peers.client(&self.addr)?;
        let gate = self.peers.gate(&self.addr);
        let Ok(permit) = gate.acquire_owned().await else {
            return Err(RpcError::Lost {
                addr: self.addr.clone(),
                reason: "the peer's gate closed".into(),
            });
        };
        let call = async move {
            let reply = client.call(req, ENTRIES_IN_FLIGHT).await;
            drop(permit);
            reply
        };
        let task = match &self.peers.tasks {
            Some((tasks, _)) => tasks.spawn(call),
            None => tokio::spawn(call),
        };
        task.await.map_err(|e| RpcError::Lost {
            addr: self.addr.clone(),
            reason: format!("the call's task ended: {e}"),
        })?
    }

    /// Sends `req` to the peer, waiting at most `ttl`.
    async fn send(&self, req: Request, ttl: Duration) -> Result<Reply, RpcError> {
        self.peers.client(&self.addr)?.call(req, ttl).await
    }

    async fn call<E: std::error::Error>(
        &self,
        req: Request,
        ttl: Duration,
    ) -> Result<Reply, RPCError<u64, BasicNode, E>> {
        self.send(req, ttl).await.map_err(|e| rpc_error(&e))
    }

    fn unexpected<E: std::error::Error>(&self, reply: &Reply) -> RPCError<u64, BasicNode, E> {
        let e = std::io::Error::other(format!(
            "server {} answered out of turn with {}",
            self.target,
            reply.kind()
        ));
        RPCError::Network(NetworkError::new(&e))
    }
}

/// An RPC failure as openraft wants it: `Unreachable` when nothing was
/// sent (openraft backs off), `Network` when the call may have arrived.
fn rpc_error<E: std::error::Error>(e: &RpcError) -> RPCError<u64, BasicNode, E> {
    match e {
        RpcError::Connect { .. } | RpcError::TooLarge { .. } => {
            RPCError::Unreachable(Unreachable::new(e))
        }
        RpcError::Timeout { .. } | RpcError::Lost { .. } => RPCError::Network(NetworkError::new(e)),
    }
}

/// What to answer when an AppendEntries of `entries` entries encoded to
/// `size` bytes, above the frame `limit`: `PayloadTooLarge` with a number
/// of entries that should fit, so openraft retries with fewer at once. A
/// single entry that does not fit cannot be sent at all (the leader never
/// proposes one: `rpc::MAX_ENTRY`); that is `Unreachable`, so openraft
/// backs off instead of retrying in a loop.
fn too_large<E: std::error::Error>(
    target: u64,
    entries: u64,
    size: usize,
    limit: usize,
    e: &RpcError,
) -> RPCError<u64, BasicNode, E> {
    if entries <= 1 {
        tracing::error!(
            target,
            size,
            limit,
            "a single log entry is too large for an rpc frame; the peer cannot be replicated to"
        );
        return RPCError::Unreachable(Unreachable::new(e));
    }
    // Entries in proportion to what fits, halved for entries of uneven
    // size; at least one and fewer than now.
    let fit = (entries as u128 * limit as u128 / (size as u128).max(1) / 2) as u64;
    let hint = fit.clamp(1, entries - 1);
    tracing::debug!(
        target,
        entries,
        size,
        limit,
        hint,
        "append-entries split to fit a frame"
    );
    RPCError::PayloadTooLarge(PayloadTooLarge::new_entries_hint(hint).with_source_error(e))
}

impl RaftNetwork<TypeConfig> for PeerConn {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        let entries = rpc.entries.len() as u64;
        let (sent, term) = (std::time::Instant::now(), rpc.vote.leader_id().get_term());
        let sending = if entries == 0 {
            self.send(Request::AppendEntries(rpc), option.hard_ttl())
                .await
        } else {
            self.send_entries(Request::AppendEntries(rpc)).await
        };
        let reply = match sending {
            Ok(reply) => reply,
            Err(e @ RpcError::TooLarge { size, limit, .. }) => {
                return Err(too_large(self.target, entries, size, limit, &e));
            }
            Err(e) => return Err(rpc_error(&e)),
        };
        match reply {
            Reply::AppendEntries(r) => {
                if let Ok(
                    AppendEntriesResponse::Success
                    | AppendEntriesResponse::PartialSuccess(_)
                    | AppendEntriesResponse::Conflict,
                ) = &r
                {
                    // The peer took us as its leader (a conflict is about
                    // the log, not the leadership).
                    self.peers.acks.record(self.target, sent, term);
                }
                r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            other => Err(self.unexpected(&other)),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<u64>,
        RPCError<u64, BasicNode, RaftError<u64, InstallSnapshotError>>,
    > {
        match self
            .call(Request::InstallSnapshot(rpc), option.hard_ttl())
            .await?
        {
            Reply::InstallSnapshot(r) => {
                r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            other => Err(self.unexpected(&other)),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<u64>,
        option: RPCOption,
    ) -> Result<VoteResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        match self.call(Request::Vote(rpc), option.hard_ttl()).await? {
            Reply::Vote(r) => {
                r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            other => Err(self.unexpected(&other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::{CommittedLeaderId, EntryPayload, LogId, Vote};
    use praetor_store::Command;

    fn append(entries: u64, value_len: usize) -> AppendEntriesRequest<TypeConfig> {
        AppendEntriesRequest {
            vote: Vote::new_committed(1, 1),
            prev_log_id: None,
            leader_commit: None,
            entries: (1..=entries)
                .map(|i| crate::raft::Entry {
                    log_id: LogId::new(CommittedLeaderId::new(1, 1), i),
                    payload: EntryPayload::Normal(Command::KvSet {
                        key: format!("k{i}"),
                        value: vec![7; value_len].into(),
                        flags: 0,
                        cas: None,
                    }),
                })
                .collect(),
        }
    }

    /// A connection to an address nothing listens on, through a client
    /// that refuses frames above `max_frame`.
    fn conn(max_frame: usize) -> PeerConn {
        let peers = Peers::default();
        let addr = "127.0.0.1:9";
        peers.insert(
            addr,
            RpcClient::with_max_frame(addr.parse().unwrap(), max_frame),
        );
        PeerConn {
            target: 2,
            addr: addr.to_owned(),
            peers,
        }
    }

    fn option() -> RPCOption {
        RPCOption::new(Duration::from_secs(1))
    }

    #[tokio::test]
    async fn an_append_too_large_for_a_frame_asks_for_fewer_entries() {
        let mut c = conn(64 * 1024);
        // 100 entries of 1 KiB: about 100 KiB, above the 64 KiB frame.
        let r = c.append_entries(append(100, 1024), option()).await;
        match r {
            Err(RPCError::PayloadTooLarge(p)) => {
                let hint = p.entries_hint();
                assert!((1..100).contains(&hint), "hint {hint}");
                assert!(hint * 1100 < 64 * 1024, "{hint} entries fit a frame");
            }
            other => panic!("expected PayloadTooLarge, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_single_entry_too_large_for_a_frame_is_unreachable_not_a_retry_loop() {
        let mut c = conn(1024);
        let r = c.append_entries(append(1, 4096), option()).await;
        assert!(matches!(r, Err(RPCError::Unreachable(_))), "{r:?}");
    }
}
