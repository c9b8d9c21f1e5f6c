//! praetor-testkit: what the process-level suites need to drive the built
//! `praetor` binary as an operator would. It finds (and builds, once per test
//! process) the binary, hands each test its own loopback address so suites
//! run in parallel on Consul's default ports, starts agents with flags and
//! config files and signals them by PID, runs the CLI under a deadline, and
//! waits for conditions with a deadline and a reason. A [`Cluster`] is
//! several agents (servers and client agents) formed from Consul-shaped
//! config files, with faults to inject: SIGKILL, SIGSTOP, restarts, and
//! network partitions ([`Partition`]). An [`InProcess`] cluster runs
//! `praetor_server::Server`s as tasks instead, with [`Links`] between them
//! that a test cuts without root. For fault-injection runs it has a
//! recorded [`workload`], a [`nemesis`], a [`linearizability`] checker, the
//! [`fencing`] check, and the [`findings`] that combine them. Its waits are
//! `praetor-testwait`'s, with the cluster's diagnostics added.
//!
//! Only integration tests use it. It never signals a process it did not
//! start, never kills by name, and never sleeps without a condition.
//!
//! ```no_run
//! # async fn t() -> Result<(), praetor_testkit::KitError> {
//! use praetor_testkit::{AgentProcess, Loopback};
//! let lo = Loopback::allocate()?;
//! let mut agent = AgentProcess::server(&lo)?.start().await?;
//! agent.kill9()?;
//! agent.restart().await?;
//! agent.shutdown().await?;
//! # Ok(()) }
//! ```

pub mod agent;
pub mod binary;
pub mod browser;
pub mod cli;
pub mod cluster;
pub mod error;
pub mod fencing;
pub mod findings;
pub mod in_process;
pub mod linearizability;
pub mod loopback;
pub mod nemesis;
pub mod partition;
pub mod wait;
pub mod workload;

use std::time::Duration;

pub use agent::{AgentBuilder, AgentProcess, Signal};
pub use binary::{praetor_bin, praetor_bin_for_any_user};
pub use browser::Browser;
pub use cli::{Cli, CliChild, CliOutput};
pub use cluster::{Answer, Cluster, Consistency, Member, Node, NodeState, Put, Role, Spec};
pub use error::KitError;
pub use in_process::{kv_set, InProcess, Links};
pub use loopback::Loopback;
pub use partition::{Cut, Mechanism, Partition};
pub use wait::{check, wait_for, wait_for_blocking, wait_until};

/// A reqwest client builder for a test's own HTTP calls. It first installs
/// ring as the process's rustls provider: in a build that links
/// praetor-client, reqwest's TLS backend is rustls without a built-in
/// provider and panics when a client is built without one.
pub fn http_client_builder() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
}

/// `n` seconds.
pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// `n` milliseconds.
pub fn millis(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Installs a `tracing` subscriber that writes through the test harness's
/// capture (so a passing test stays quiet), at `info` unless `RUST_LOG` says
/// otherwise. Safe to call from every test.
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_ansi(false)
        .with_env_filter(filter)
        .with_target(false)
        .try_init();
}
