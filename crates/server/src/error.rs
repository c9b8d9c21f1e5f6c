//! The server's errors, in the kinds callers must tell apart: the request
//! cannot be served here and nothing changed (`NotLeader`, `NoLeader`: safe
//! to retry), a write's outcome is unknown (`OutcomeUnknown`: never retried),
//! or this server cannot go on (`Storage`, `Stopped`, `Config`), is
//! stopping (`ShuttingDown`), or refused a membership change.

/// What went wrong serving a request or starting the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// `?dc=` names a datacenter no known server belongs to, or whose
    /// servers are all gone from the WAN pool; Consul's wording.
    #[error("No path to datacenter")]
    NoPathToDatacenter(String),
    /// No leader was elected within the wait; Consul's wording.
    #[error("No cluster leader")]
    NoLeader,
    /// Another server leads; the request must go there.
    #[error("this server is not the leader (leader: {leader:?})")]
    NotLeader { leader: Option<u64> },
    /// A client agent knows no server to send the request to; Consul's wording.
    #[error("No known Consul servers")]
    NoServers,
    /// A Raft peer named by an operator is not in the configuration.
    #[error("address {0:?} was not found in the Raft configuration")]
    UnknownPeer(String),
    /// A write was proposed (or sent to the leader) and no answer came: it
    /// may or may not be applied. Never retried for writes; a client that
    /// must know reads the state back.
    #[error("the write may or may not have been applied: {0}")]
    OutcomeUnknown(String),
    /// The command is too large to be one log entry; nothing was proposed.
    #[error("{0}")]
    TooLarge(String),
    /// A server could not be reached, or the call to it was lost (Consul's
    /// wording).
    #[error("rpc error making call: {0}")]
    Forward(String),
    /// Another server failed the request and said why, in words already.
    #[error("{0}")]
    Remote(String),
    /// A server answered a read with another read's answer: a protocol
    /// error (a peer of another build, or a bug), never retried.
    #[error("the server answered a {asked} read with the answer to a {got} read")]
    UnexpectedAnswer {
        asked: &'static str,
        got: &'static str,
    },
    /// Opening or writing the log, vote or snapshots failed.
    #[error("opening raft storage in {path}")]
    Storage {
        path: String,
        source: std::io::Error,
    },
    /// The server is shutting down; the request was not taken.
    #[error("the server is shutting down")]
    ShuttingDown,
    /// Raft has stopped (shut down, or on a storage error or a panic): this
    /// server can serve nothing more.
    #[error("raft has stopped: {0}")]
    Stopped(String),
    /// Raft refused its configuration at start.
    #[error("invalid raft configuration: {0}")]
    Config(String),
    /// The caller's token is unknown or lacks a permission (`acl`).
    #[error(transparent)]
    Acl(#[from] crate::acl::AclError),
    /// Raft refused a change of its membership (bootstrap, add or remove a
    /// server), for the reason given.
    #[error("raft refused the membership change: {0}")]
    MembershipRefused(String),
    /// Leadership was not transferred (`transfer.rs`), for the reason
    /// given; the leader leads on.
    #[error("leadership transfer failed: {0}")]
    TransferFailed(String),
}
