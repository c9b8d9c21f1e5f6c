//! What can go wrong while driving the binary. Tests mostly print these, but
//! the variants keep "the process died" apart from "a condition never held",
//! and each carries what the reader needs to see why (the log tail, the last
//! state seen).

use std::path::PathBuf;
use std::time::Duration;

/// A failure of the testkit or of the process it drives.
#[derive(Debug, thiserror::Error)]
pub enum KitError {
    /// `cargo build -p praetor` failed or its binary is missing.
    #[error("building the praetor binary: {0}")]
    Build(String),
    /// Every address in 127.0.0.2-127.0.0.250 is taken by another test.
    #[error("no free loopback address in 127.0.0.2-127.0.0.250 ({busy} busy)")]
    NoLoopback { busy: usize },
    /// A file or process operation failed.
    #[error("{what} ({path})", path = path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A condition did not hold before the deadline.
    #[error("timed out after {within:?} waiting for {reason}; last seen: {last}")]
    Timeout {
        reason: String,
        within: Duration,
        last: String,
    },
    /// The agent exited while it was expected to run.
    #[error("agent {name} exited ({status}) while {doing}\n--- last lines of its log ---\n{log}")]
    Exited {
        name: String,
        status: String,
        doing: &'static str,
        log: String,
    },
    /// An operation that needs a stopped agent found it running.
    #[error("agent {name} is still running (pid {pid}); {doing} needs it stopped")]
    StillRunning {
        name: String,
        pid: u32,
        doing: &'static str,
    },
    /// An operation that needs a running agent found it stopped.
    #[error("agent {name} is not running; cannot {doing}")]
    NotRunning { name: String, doing: &'static str },
    /// The agent stopped, but not as a clean shutdown should.
    #[error("agent {name} did not shut down cleanly: {why}\n--- last lines of its log ---\n{log}")]
    UncleanShutdown {
        name: String,
        why: String,
        log: String,
    },
    /// An HTTP request to an agent got no answer, or not the one expected.
    #[error("{request} on agent {name}: {detail}")]
    Request {
        name: String,
        request: String,
        detail: String,
    },
    /// A cluster has no node by this name.
    #[error("no node named {0:?} in this cluster")]
    NoSuchNode(String),
    /// An in-process server failed to start, join or stop.
    #[error("server {name}: {doing}: {detail}")]
    Server {
        name: String,
        doing: &'static str,
        detail: String,
    },
    /// Cutting or healing network links failed (or cannot be done here).
    #[error("network partition: {0}")]
    Partition(String),
    /// The browser (chromedriver and Chromium) could not be started or
    /// refused a WebDriver command.
    #[error("browser: {doing}: {detail}")]
    Browser { doing: String, detail: String },
    /// `kill(2)` failed.
    #[error("sending {signal:?} to pid {pid}")]
    Signal {
        signal: crate::Signal,
        pid: u32,
        #[source]
        source: std::io::Error,
    },
}

impl KitError {
    pub(crate) fn io(
        what: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> KitError {
        let path = path.into();
        move |source| KitError::Io { what, path, source }
    }
}
