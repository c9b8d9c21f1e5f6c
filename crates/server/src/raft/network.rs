//! The Raft network over server RPC (`crate::rpc`): one persistent,
//! multiplexed connection per peer address, shared by every Raft stream to
//! that peer; each call bounded by openraft's TTL for it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::BasicNode;

use super::TypeConfig;
use crate::rpc::{Reply, Request, RpcClient, RpcError};

/// The connections to peers, by address; cloned into every Raft stream.
#[derive(Clone, Default)]
pub struct Peers {
    clients: Arc<Mutex<HashMap<String, Arc<RpcClient>>>>,
}

impl Peers {
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
        let c = Arc::new(RpcClient::new(sock));
        map.insert(addr.to_owned(), c.clone());
        Ok(c)
    }
}

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
    async fn call<E: std::error::Error>(
        &self,
        req: Request,
        ttl: Duration,
    ) -> Result<Reply, RPCError<u64, BasicNode, E>> {
        let client = self
            .peers
            .client(&self.addr)
            .map_err(|e| RPCError::Unreachable(Unreachable::new(&e)))?;
        client.call(req, ttl).await.map_err(|e| match e {
            RpcError::Connect { .. } => RPCError::Unreachable(Unreachable::new(&e)),
            RpcError::Timeout { .. } | RpcError::Lost { .. } => {
                RPCError::Network(NetworkError::new(&e))
            }
        })
    }

    fn unexpected<E: std::error::Error>(&self, reply: &Reply) -> RPCError<u64, BasicNode, E> {
        let e = std::io::Error::other(format!(
            "server {} answered out of turn: {reply:?}",
            self.target
        ));
        RPCError::Network(NetworkError::new(&e))
    }
}

impl RaftNetwork<TypeConfig> for PeerConn {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        match self
            .call(Request::AppendEntries(rpc), option.hard_ttl())
            .await?
        {
            Reply::AppendEntries(r) => {
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
