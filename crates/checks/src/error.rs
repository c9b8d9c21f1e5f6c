//! The one error type of this crate: what a caller can get wrong when it
//! defines a check or feeds a runner. A failing check is never an error; it
//! is a `critical` status with the reason as output.

use crate::definition::CheckId;

/// Why a check could not be started or a runner refused an input.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The definition cannot be run; nothing was started.
    #[error("check {id:?} is invalid: {reason}")]
    InvalidDefinition {
        /// The check's ID.
        id: CheckId,
        /// What is wrong with it, in one line.
        reason: String,
    },
    /// The input is for another kind of check (a TTL status for an HTTP
    /// check, say); nothing changed.
    #[error("check {id:?} is a {kind} check; only {expected} checks take this update")]
    WrongKind {
        /// The check's ID.
        id: CheckId,
        /// The check's kind.
        kind: &'static str,
        /// The kind the input is for.
        expected: &'static str,
    },
    /// The runner has stopped (its stop token was cancelled or nobody reads
    /// its updates any more); nothing changed.
    #[error("check {id:?} is no longer running")]
    Stopped {
        /// The check's ID.
        id: CheckId,
    },
    /// The TLS client configuration for an HTTPS or gRPC-over-TLS check
    /// could not be built.
    #[error("building the TLS client for check {id:?}: {source}")]
    Tls {
        /// The check's ID.
        id: CheckId,
        /// What rustls said.
        #[source]
        source: rustls::Error,
    },
    /// A status word other than `passing`, `warning` or `critical`.
    #[error("{given:?} is not a check status; expected passing, warning or critical")]
    UnknownStatus {
        /// The word that was given.
        given: String,
    },
}
