//! Server RPC on port 8300: persistent TCP connections that multiplex many
//! calls, each a length-delimited frame holding a postcard-encoded
//! `(call id, message)`. Every call has a timeout; a broken connection fails
//! its calls at once and the next call reconnects.

pub mod client;
pub mod server;

use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use praetor_store::{Command, Response};
use serde::{Deserialize, Serialize};

use crate::query::{Query, QueryOpts, QueryResult};
use crate::raft::TypeConfig;
use crate::{RaftStatus, ServerError};

pub use client::{RpcClient, RpcError};
pub use server::{serve, Handler};

/// Largest frame accepted, in bytes: a restored snapshot travels in one
/// log entry (see `MAX_SNAPSHOT` in the agent).
pub const MAX_FRAME: usize = 256 * 1024 * 1024;

/// A call from one server (or client agent) to a server.
#[derive(Debug, Serialize, Deserialize)]
pub enum Request {
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<u64>),
    InstallSnapshot(InstallSnapshotRequest<TypeConfig>),
    /// A write forwarded to the leader.
    Write(Command),
    /// A read from a client agent, or forwarded to the leader.
    Query(Query, QueryOpts),
    /// The answering server's view of the Raft cluster.
    Status,
    /// Remove a server from the Raft configuration (on the leader).
    RemovePeer(u64),
    /// Liveness and identity check.
    Ping,
    /// Would the receiver vote for this candidate? (Changes nothing.)
    PreVote(crate::PreVote),
}

/// The answer to a `Request`, variant for variant.
#[derive(Debug, Serialize, Deserialize)]
pub enum Reply {
    AppendEntries(Result<AppendEntriesResponse<u64>, RaftError<u64>>),
    Vote(Result<VoteResponse<u64>, RaftError<u64>>),
    InstallSnapshot(Result<InstallSnapshotResponse<u64>, RaftError<u64, InstallSnapshotError>>),
    /// The index the write was applied at and its response, or why not.
    Write(Result<(u64, Response), WireError>),
    Query(Result<QueryResult, WireError>),
    Status(RaftStatus),
    /// An operation without an answer succeeded, or why not.
    Done(Result<(), WireError>),
    /// The answering server's Raft id.
    Pong(u64),
    /// The request could not be handled at all.
    Error(String),
    /// The answer to a pre-vote.
    PreVote(bool),
}

/// A `ServerError` as it crosses the wire: the kinds a caller acts on,
/// and the rest as text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum WireError {
    NoLeader,
    NotLeader(Option<u64>),
    UnknownPeer(String),
    Other(String),
    /// The write may or may not have been applied.
    OutcomeUnknown(String),
}

impl From<ServerError> for WireError {
    fn from(e: ServerError) -> Self {
        match e {
            ServerError::NoLeader => WireError::NoLeader,
            ServerError::NotLeader { leader } => WireError::NotLeader(leader),
            ServerError::UnknownPeer(p) => WireError::UnknownPeer(p),
            ServerError::OutcomeUnknown(why) => WireError::OutcomeUnknown(why),
            other => WireError::Other(other.to_string()),
        }
    }
}

impl From<WireError> for ServerError {
    fn from(e: WireError) -> Self {
        match e {
            WireError::NoLeader => ServerError::NoLeader,
            WireError::NotLeader(leader) => ServerError::NotLeader { leader },
            WireError::UnknownPeer(p) => ServerError::UnknownPeer(p),
            WireError::Other(reason) => ServerError::Forward(reason),
            WireError::OutcomeUnknown(why) => ServerError::OutcomeUnknown(why),
        }
    }
}

/// One frame on the wire.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Frame<T> {
    pub id: u64,
    pub body: T,
}

pub(crate) fn codec() -> tokio_util::codec::LengthDelimitedCodec {
    tokio_util::codec::LengthDelimitedCodec::builder()
        .max_frame_length(MAX_FRAME)
        .new_codec()
}
