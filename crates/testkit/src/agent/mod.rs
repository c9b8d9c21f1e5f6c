//! One `praetor agent` process on a test's loopback address: started with
//! given flags and config files (written into its own temp dir, which also
//! holds its data dir and logs), stopped and paused by PID, restarted with the
//! same flags on the same data dir.
//!
//! Signals go only to the PID of a child this value spawned and has not
//! reaped yet, so they can never reach a recycled PID; nothing is ever killed
//! by name. Dropping a running agent kills it (SIGKILL) and, unless the test
//! shut it down, prints the tail of its log, which is how a failed test shows
//! what the agent was doing.
//!
//! By concern: [`builder`] (what to start: flags, config files, the user to
//! run as), [`process`] (spawning, signals, exits, restarts, readiness,
//! shutdown), [`signal`] (the signals and how they are sent), [`log`] (what
//! the agent wrote, for waits and failure messages).

pub mod builder;
pub mod log;
pub mod process;
pub mod signal;

use std::fmt;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

use tempfile::TempDir;

pub use builder::AgentBuilder;
pub(crate) use log::tail;
pub(crate) use process::scrub_env;
pub(crate) use signal::send;
pub use signal::Signal;

/// How long an agent may take to serve HTTP (and, for a server, know a
/// leader) after it is spawned.
const READY_WITHIN: Duration = Duration::from_secs(20);
/// How long a SIGTERM'd agent may take to exit.
const SHUTDOWN_WITHIN: Duration = Duration::from_secs(15);
/// Lines of log printed when a test leaves an agent behind or it fails.
const TAIL_LINES: usize = 60;

/// A running (or stopped) `praetor agent` process.
pub struct AgentProcess {
    name: String,
    ip: Ipv4Addr,
    http_port: u16,
    args: Vec<String>,
    wait_leader: bool,
    uid: Option<u32>,
    bin: PathBuf,
    /// `None` only after `PRAETOR_TESTKIT_KEEP` kept it on drop.
    dir: Option<TempDir>,
    /// The latest process; `None` once reaped (or never spawned).
    child: Option<Child>,
    /// How the latest process exited, once reaped.
    exited: Option<ExitStatus>,
    pid: u32,
    spawned_at: Instant,
    spawns: u32,
    http: reqwest::Client,
    shut_down: bool,
}

impl fmt::Debug for AgentProcess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentProcess")
            .field("name", &self.name)
            .field("pid", &self.pid)
            .field("args", &self.args)
            .finish()
    }
}

impl AgentProcess {
    /// The agent's name in errors and logs.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its loopback address.
    pub fn ip(&self) -> Ipv4Addr {
        self.ip
    }

    /// `http://IP:PORT`.
    pub fn http_url(&self) -> String {
        format!("http://{}", self.http_addr())
    }

    /// `IP:PORT`, as `-http-addr=` and `CONSUL_HTTP_ADDR` take it.
    pub fn http_addr(&self) -> String {
        format!("{}:{}", self.ip, self.http_port)
    }

    /// `http_url()` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.http_url())
    }

    /// An HTTP client without proxies, 2 s to connect, 10 s per request.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The agent's temp dir.
    pub fn dir(&self) -> &Path {
        self.dir
            .as_ref()
            .map_or(Path::new("/nonexistent"), TempDir::path)
    }

    /// `<dir>/data`.
    pub fn data_dir(&self) -> PathBuf {
        self.dir().join("data")
    }

    /// Where [`AgentBuilder::config_file`] wrote `name`.
    pub fn config_file_path(&self, name: &str) -> PathBuf {
        self.dir().join("config").join(name)
    }

    /// Where [`AgentBuilder::config_dir_file`] wrote `name`.
    pub fn config_dir_path(&self, name: &str) -> PathBuf {
        self.dir().join("config.d").join(name)
    }

    /// The user it runs as, when [`AgentBuilder::uid`] set one.
    pub fn uid(&self) -> Option<u32> {
        self.uid
    }

    /// The PID of the latest process (it may have exited since).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// When the latest process was spawned.
    pub fn spawned_at(&self) -> Instant {
        self.spawned_at
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        let was_running = self.is_running();
        if was_running {
            let _ = send(self.pid, Signal::Kill);
            if let Some(mut child) = self.child.take() {
                let _ = child.wait();
            }
        }
        if !self.shut_down && (was_running || std::thread::panicking()) {
            eprintln!(
                "--- praetor-testkit: agent {} (pid {}, {}) was not shut down by the test; last lines of its log:\n{}",
                self.name,
                self.pid,
                self.dir().display(),
                self.log_tail(TAIL_LINES)
            );
        }
        if std::env::var_os("PRAETOR_TESTKIT_KEEP").is_some() {
            if let Some(dir) = self.dir.take() {
                eprintln!("praetor-testkit: kept {}", dir.keep().display());
            }
        }
    }
}
