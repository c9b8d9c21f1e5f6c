//! The client's errors.

/// What went wrong talking to an agent.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("error connecting to agent at {addr}: {reason}")]
    Connect { addr: String, reason: String },
    #[error("unexpected response code {status}: {body}")]
    Http { status: u16, body: String },
    /// The client's configuration cannot work (a bad variable, an unknown
    /// address scheme).
    #[error("{0}")]
    Config(String),
    /// The TLS settings cannot be used (a file that cannot be read, a
    /// certificate without its key); the message names the file.
    #[error("setting up TLS: {0}")]
    Tls(String),
    #[error("decoding the agent's answer: {0}")]
    Decode(String),
    #[error("the history no longer holds that index: the oldest kept is {oldest_index} (current {current_index})")]
    Compacted {
        oldest_index: u64,
        current_index: u64,
    },
}

/// The innermost cause of a transport error, e.g. "connection refused".
pub(crate) fn reason(e: &reqwest::Error) -> String {
    let mut source: &dyn std::error::Error = e;
    while let Some(s) = source.source() {
        source = s;
    }
    source.to_string()
}
