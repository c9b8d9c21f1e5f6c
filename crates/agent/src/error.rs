//! Why an agent could not start.

/// What went wrong starting or running an agent.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("starting the server")]
    Server(#[from] praetor_server::ServerError),
    #[error("listening for HTTP on {addr}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error("reading the node id in {path}")]
    NodeId {
        path: String,
        source: std::io::Error,
    },
    #[error("invalid service or check definition in the configuration: {0}")]
    Definition(String),
    #[error("starting gossip")]
    Gossip(#[source] praetor_gossip::GossipError),
    /// A TLS file or setting that cannot be used (the message names it).
    #[error("setting up TLS: {0}")]
    Tls(#[from] praetor_tls::TlsError),
    /// A `template` block or its template that cannot be used.
    #[error("invalid template in the configuration: {0}")]
    Template(String),
    #[error("the node id in {path} is not a UUID: {value:?}")]
    BadNodeId { path: String, value: String },
}
