//! Why an agent could not start.

/// What went wrong starting or running an agent.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("starting the server: {0}")]
    Server(#[from] praetor_server::ServerError),
    #[error("listening for HTTP on {addr}: {source}")]
    Listen { addr: String, source: std::io::Error },
    #[error("reading the node id in {path}: {source}")]
    NodeId { path: String, source: std::io::Error },
    #[error("the node id in {path} is not a UUID: {value:?}")]
    BadNodeId { path: String, value: String },
}
