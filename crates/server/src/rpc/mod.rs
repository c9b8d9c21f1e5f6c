//! Server RPC on port 8300: persistent TCP connections that multiplex many
//! calls, each a length-delimited frame holding a postcard-encoded
//! `(call id, message)`. Every call has a timeout; a broken connection fails
//! its calls at once and the next call reconnects.
//!
//! Owns the wire: the handshake (`handshake`), the frame limits, and which
//! commands a peer may send (`admit`). What a stranger can make a server
//! hold is bounded (`Limits`): a connection that does not open with the
//! handshake is closed, frames are capped at `MAX_FRAME`, and connections,
//! calls in flight and bytes held are capped per connection, per peer and
//! in all. With `tls.internal_rpc` configured, connections are TLS with
//! certificates checked against the CA, and Raft calls need a server's
//! certificate (`tls`); without it, port 8300 must stay on a trusted
//! network, as Consul's does without TLS.

pub mod client;
pub mod dial;
mod handshake;
mod limits;
pub mod server;
pub mod tls;

use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use praetor_store::{Command, Response};
use serde::{Deserialize, Serialize};

use crate::raft::TypeConfig;
use crate::read::{Answered, QueryOpts, WireAnswer, WireRead};
use crate::{RaftStatus, ServerError};

pub use client::{RpcClient, RpcError};
pub use dial::{Dial, Dialer};
pub use handshake::{MAGIC, VERSION};
pub use limits::Limits;
pub use server::{serve, serve_tls, serve_with, Handler};
pub use tls::{PeerRole, RpcStream, RpcTls};

/// The largest encoded command a log entry may hold: a whole-state
/// `Command::Restore` of up to 200 MiB, which older builds proposed and
/// logs may still hold, with room for the command around it (restores are
/// now proposed in pieces of at most `praetor_store::restore::MAX_CHUNK`).
/// A larger command could not be replicated.
pub const MAX_ENTRY: usize = 201 * 1024 * 1024;

/// Largest frame sent or accepted, in bytes: one `MAX_ENTRY` entry in an
/// AppendEntries (or a forwarded write), with slack for a batch formed
/// around it. Our senders never produce a larger one: an AppendEntries
/// that would be is split (`raft::network`), and a reply that would be is
/// replaced by an error.
pub const MAX_FRAME: usize = MAX_ENTRY + 15 * 1024 * 1024;

// A frame's length travels in 4 bytes, and a batch of small writes
// (the proposer's 4 MiB) fits around the largest entry.
const _: () = assert!(MAX_ENTRY + 4 * 1024 * 1024 < MAX_FRAME && MAX_FRAME < u32::MAX as usize);

/// A call from one server (or client agent) to a server.
// Large variants, but a request lives only while it is sent or handled.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Serialize, Deserialize)]
pub enum Request {
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<u64>),
    InstallSnapshot(InstallSnapshotRequest<TypeConfig>),
    /// A write forwarded to the leader, with the caller's token.
    Write(Command, crate::acl::Token),
    /// A read from a client agent, or forwarded to the leader, with the
    /// caller's token.
    Query(WireRead, QueryOpts, crate::acl::Token),
    /// The answering server's view of the Raft cluster.
    Status,
    /// Remove a server from the Raft configuration (on the leader).
    RemovePeer(u64),
    /// Liveness and identity check.
    Ping,
    /// Would the receiver vote for this candidate? (Changes nothing.)
    PreVote(crate::PreVote),
    /// Stand for election now (from the leader handing over, `transfer.rs`).
    TimeoutNow(crate::transfer::TimeoutNow),
    /// Hand leadership to this server, or to any other (on the leader).
    TransferLeader(Option<u64>),
    /// The leader's view of its servers' health (`autopilot_health.rs`).
    AutopilotHealth,
    /// A write a server forwards to the server it believes leads, with the
    /// caller's token: proposed there, or answered `NotLeader` (nothing
    /// proposed) when it no longer leads, never forwarded again, so a write
    /// crosses at most one hop between servers (the forwarding server tries
    /// the new leader itself). A client agent sends `Write`, which any
    /// server takes.
    Propose(Command, crate::acl::Token),
    /// A piece of the replicated state as `GET /v1/snapshot` saves it
    /// (`export.rs`), with the caller's token; forwarded to the leader
    /// like a read of the same consistency.
    SnapshotExport(crate::export::ExportRequest, crate::acl::Token),
    /// A call for another datacenter (`?dc=`), from a client agent to a
    /// server of its own datacenter, which sends the inner call to a
    /// server of the named one over the WAN (`dc::DcCall`). A server that
    /// receives it for its own datacenter serves the call itself.
    CrossDc(String, DcCall),
    /// Every datacenter the answering server knows from its WAN pool,
    /// nearest first (`/v1/catalog/datacenters` on a client agent).
    Datacenters,
    /// The WAN coordinates of every datacenter's servers, as the
    /// answering server's WAN pool holds them (`/v1/coordinate/
    /// datacenters` on a client agent).
    CoordinateDatacenters,
}

/// What a request for another datacenter may ask (protocol 6): the calls
/// a datacenter's servers answer for any caller, each as its own
/// `Request` does. Never a Raft call, a peer removal or a leadership
/// transfer: those stay within a datacenter. New kinds go at the end.
// A write is as large as `Request::Write`; a call lives only while sent.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum DcCall {
    /// A write, checked against the token in the target datacenter.
    Write(Command, crate::acl::Token),
    /// A read (blocking when `QueryOpts::index` is set), served with its
    /// consistency by the target datacenter.
    Query(WireRead, QueryOpts, crate::acl::Token),
    /// The target server's view of its Raft cluster.
    Status,
    /// The target leader's view of its servers' health.
    AutopilotHealth,
}

impl DcCall {
    /// The plain request a server of the target datacenter serves.
    #[must_use]
    pub fn into_request(self) -> Request {
        match self {
            DcCall::Write(cmd, token) => Request::Write(cmd, token),
            DcCall::Query(read, opts, token) => Request::Query(read, opts, token),
            DcCall::Status => Request::Status,
            DcCall::AutopilotHealth => Request::AutopilotHealth,
        }
    }

    /// Whether it may change state (a write is never retried once sent).
    #[must_use]
    pub fn idempotent(&self) -> bool {
        !matches!(self, DcCall::Write(..))
    }
}

/// The answer to a `Request`, variant for variant.
#[derive(Debug, Serialize, Deserialize)]
pub enum Reply {
    AppendEntries(Result<AppendEntriesResponse<u64>, RaftError<u64>>),
    Vote(Result<VoteResponse<u64>, RaftError<u64>>),
    InstallSnapshot(Result<InstallSnapshotResponse<u64>, RaftError<u64, InstallSnapshotError>>),
    /// The index the write was applied at and its response, or why not.
    Write(Result<(u64, Response), WireError>),
    Query(Result<Answered<WireAnswer>, WireError>),
    Status(RaftStatus),
    /// An operation without an answer succeeded, or why not.
    Done(Result<(), WireError>),
    /// The answering server's Raft id.
    Pong(u64),
    /// The request could not be handled at all.
    Error(String),
    /// The answer to a pre-vote.
    PreVote(bool),
    /// The new leader's Raft id, or why leadership was not transferred.
    Transferred(Result<u64, WireError>),
    /// The leader's view of its servers' health, or why not.
    AutopilotHealth(Result<crate::autopilot_health::RaftHealth, WireError>),
    /// A piece of a state export, or why not.
    SnapshotExport(Result<crate::export::ExportPiece, WireError>),
    /// The datacenters a server knows, nearest first (protocol 6).
    Datacenters(Vec<String>),
    /// Each datacenter's servers and their WAN coordinates (protocol 6).
    CoordinateDatacenters(Vec<praetor_api::coordinate::CoordinateDatacenterMap>),
}

impl Reply {
    /// What kind of reply this is, in words, for an error message about a
    /// reply that was not the one expected (never a dump of its contents).
    pub fn kind(&self) -> String {
        match self {
            Reply::AppendEntries(_) => "an append-entries reply".into(),
            Reply::Vote(_) => "a vote".into(),
            Reply::InstallSnapshot(_) => "a snapshot reply".into(),
            Reply::Write(_) => "a write's result".into(),
            Reply::Query(_) => "a read's answer".into(),
            Reply::Status(_) => "its raft status".into(),
            Reply::Done(_) => "an operation's result".into(),
            Reply::Pong(_) => "a ping reply".into(),
            Reply::Error(why) => format!("the error {why:?}"),
            Reply::PreVote(_) => "a pre-vote answer".into(),
            Reply::Transferred(_) => "a leadership transfer's result".into(),
            Reply::AutopilotHealth(_) => "autopilot health".into(),
            Reply::SnapshotExport(_) => "a piece of a snapshot".into(),
            Reply::Datacenters(_) => "a list of datacenters".into(),
            Reply::CoordinateDatacenters(_) => "the datacenters' coordinates".into(),
        }
    }
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
    /// The caller's token is unknown or lacks a permission.
    Acl(crate::acl::AclError),
    /// No server of the named datacenter is known (protocol 6).
    NoPathToDatacenter(String),
}

impl From<ServerError> for WireError {
    fn from(e: ServerError) -> Self {
        match e {
            ServerError::NoLeader => WireError::NoLeader,
            ServerError::NotLeader { leader } => WireError::NotLeader(leader),
            ServerError::UnknownPeer(p) => WireError::UnknownPeer(p),
            ServerError::OutcomeUnknown(why) => WireError::OutcomeUnknown(why),
            ServerError::Acl(e) => WireError::Acl(e),
            ServerError::NoPathToDatacenter(dc) => WireError::NoPathToDatacenter(dc),
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
            WireError::Other(reason) => ServerError::Remote(reason),
            WireError::OutcomeUnknown(why) => ServerError::OutcomeUnknown(why),
            WireError::Acl(e) => ServerError::Acl(e),
            WireError::NoPathToDatacenter(dc) => ServerError::NoPathToDatacenter(dc),
        }
    }
}

/// Whether a write that arrived over RPC (`Request::Write`, `Propose`) may be
/// proposed: commands only the leader itself originates are refused —
/// `Timed` and `Batch` (its proposer wraps every entry in them; a forged
/// stamp would set the store's clock) and `SessionExpire` (its TTL timers
/// propose it, never forwarded) — and so is a command too large to be
/// replicated as one log entry (`MAX_ENTRY`). Everything else a client
/// agent or another server may forward: KV, catalog (including the
/// leader's `NodeHealth` and node deregistrations, forwarded when the
/// leadership just moved), sessions, events, transactions and `Restore`,
/// and a `Batch` of catalog registrations and deregistrations only (an
/// agent's anti-entropy: one entry for many differences).
///
/// # Errors
/// `WireError::Other` with a one-line reason; nothing was proposed.
pub fn admit(cmd: &Command) -> Result<(), WireError> {
    match cmd {
        Command::Batch(cmds) if cmds.iter().all(is_catalog_write) => check_entry_size(cmd),
        Command::Timed { .. } | Command::Batch(_) | Command::SessionExpire { .. } => {
            Err(WireError::Other(format!(
                "refused a {} command from an rpc peer: only the leader itself proposes it",
                internal_kind(cmd)
            )))
        }
        _ => check_entry_size(cmd),
    }
}

/// Whether `cmd` is a catalog registration or deregistration, which an
/// agent's anti-entropy sends several of in one `Batch`.
pub fn is_catalog_write(cmd: &Command) -> bool {
    matches!(
        cmd,
        Command::CatalogRegister(_)
            | Command::CatalogRegisterTyped { .. }
            | Command::CatalogDeregister(_)
    )
}

/// The name of an internal command's variant (`Command::kind` names what
/// a `Timed` wraps instead).
fn internal_kind(cmd: &Command) -> &'static str {
    match cmd {
        Command::Timed { .. } => "timed",
        Command::Batch(_) => "batch",
        other => other.kind(),
    }
}

/// Refuses a command whose encoding is larger than `MAX_ENTRY`: it could
/// not be replicated. The leader should check its own writes with it too.
///
/// # Errors
/// `WireError::Other` with the size and the limit.
pub fn check_entry_size(cmd: &Command) -> Result<(), WireError> {
    check_size(cmd, MAX_ENTRY)
}

fn check_size(cmd: &Command, limit: usize) -> Result<(), WireError> {
    match postcard::serialize_with_flavor(cmd, postcard::ser_flavors::Size::default()) {
        Ok(size) if size <= limit => Ok(()),
        Ok(size) => Err(WireError::Other(format!(
            "a {} command of {size} bytes is above the limit of {limit} bytes",
            cmd.kind()
        ))),
        Err(e) => Err(WireError::Other(format!(
            "encoding a {} command: {e}",
            cmd.kind()
        ))),
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

#[cfg(test)]
mod tests {
    use super::*;
    use praetor_api::catalog::DeregisterRequest;
    use praetor_store::catalog::NodeHealth;

    fn set(key: &str) -> Command {
        Command::KvSet {
            key: key.into(),
            value: b"v".to_vec().into(),
            flags: 0,
            cas: None,
        }
    }

    fn deregister() -> Command {
        Command::CatalogDeregister(
            DeregisterRequest {
                node: "n1".into(),
                service_id: "web1".into(),
                ..Default::default()
            }
            .into(),
        )
    }

    #[test]
    fn commands_only_the_leader_proposes_are_refused_from_peers() {
        let refused = [
            Command::Timed {
                at_ms: u64::MAX,
                cmd: Box::new(set("k")),
            },
            Command::Batch(vec![set("a"), set("b")]),
            Command::Batch(vec![deregister(), set("b")]),
            Command::SessionExpire {
                id: "s".into(),
                renewed: 1,
            },
        ];
        for cmd in &refused {
            match admit(cmd) {
                Err(WireError::Other(why)) => {
                    assert!(why.contains("only the leader itself"), "{why}");
                    assert!(why.contains(internal_kind(cmd)), "{why}");
                }
                other => panic!("{cmd:?} was not refused: {other:?}"),
            }
        }
    }

    #[test]
    fn commands_agents_and_servers_forward_are_admitted() {
        let admitted = [
            set("k"),
            Command::KvDeleteTree {
                prefix: "p/".into(),
            },
            Command::Restore(vec![1, 2, 3]),
            Command::NodeHealth(NodeHealth {
                node: "n1".into(),
                id: "id".into(),
                address: "10.0.0.1".into(),
                datacenter: "dc1".into(),
                status: "passing".into(),
                output: String::new(),
            }),
            Command::CatalogDeregister(
                DeregisterRequest {
                    node: "n1".into(),
                    ..Default::default()
                }
                .into(),
            ),
            Command::SessionDestroy { id: "s".into() },
            Command::SessionRenew { id: "s".into() },
            Command::Txn(Vec::new()),
            Command::Batch(vec![deregister(), deregister()]),
        ];
        for cmd in &admitted {
            assert_eq!(admit(cmd), Ok(()), "{cmd:?}");
        }
    }

    #[test]
    fn a_command_too_large_for_one_entry_is_refused_with_its_size() {
        let cmd = Command::Restore(vec![0; 1000]);
        assert_eq!(check_size(&cmd, 2000), Ok(()));
        match check_size(&cmd, 500) {
            Err(WireError::Other(why)) => {
                assert!(why.contains("restore command of 100"), "{why}");
                assert!(why.contains("limit of 500"), "{why}");
            }
            other => panic!("not refused: {other:?}"),
        }
    }

    #[test]
    fn the_limits_leave_room_for_a_restore_of_the_agents_largest_snapshot() {
        const MAX_SNAPSHOT: usize = 200 * 1024 * 1024;
        let restore = Command::Restore(vec![0; 1024]);
        let overhead = postcard::to_stdvec(&restore).unwrap().len() - 1024;
        // The variant and the length around the snapshot's bytes.
        assert!(MAX_SNAPSHOT + overhead + 8 <= MAX_ENTRY);
    }

    #[test]
    fn a_call_encoded_by_reference_decodes_as_a_frame() {
        let req = Request::Write(set("k"), crate::acl::Token::new("t"));
        let bytes = postcard::to_stdvec(&Frame { id: 42, body: &req }).unwrap();
        let back: Frame<Request> = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back.id, 42);
        assert!(matches!(back.body, Request::Write(Command::KvSet { key, .. }, _) if key == "k"));
    }

    #[test]
    fn the_handshake_bytes_are_pinned() {
        assert_eq!(&handshake::hello(), b"PRAETOR\x06");
    }
}
