//! A cluster of `praetor agent` processes: servers and client agents, each on
//! its own loopback address with Consul's default ports, each configured by
//! one JSON config file in Consul's shape (comments and all), which servers
//! get through `-config-file` and clients through `-config-dir`. The cluster
//! forms on its own (`bootstrap_expect`, `retry_join`), as an operator's
//! would; the testkit only waits, with deadlines, for it to have done so.
//!
//! Nodes are named `s1…sN` (servers) and `c1…cM` (clients). The cluster
//! remembers which nodes the test took down (killed, stopped, paused, left)
//! and asks only the others; a failed wait shows what each agent saw and the
//! tail of every log. It never signals a process it did not start, and
//! heals every partition it made (see [`Partition`](crate::Partition)).
//!
//! By concern: [`topology`] (the [`Spec`], its nodes, starting and naming
//! them), [`config`] (each node's config file), [`client`] (HTTP, KV and
//! CLI calls through a node), [`formation`] (waits for a leader and for
//! members alive), [`lifecycle`] (kill, pause, restart, stop, shut down),
//! [`faults`] (partitions), [`diagnostics`] (log tails in failures).
//!
//! ```no_run
//! # async fn t() -> Result<(), praetor_testkit::KitError> {
//! use praetor_testkit::{secs, Cluster, Consistency, Spec};
//! let mut cluster = Cluster::start(Spec::servers(3).clients(1)).await?;
//! let old = cluster.wait_for_leader(secs(10)).await?;
//! cluster.put_acked("c1", "app/x", "1").await?;
//! cluster.kill9(&old)?;
//! let (new, took) = cluster.wait_for_new_leader(&old, std::time::Instant::now(), secs(10)).await?;
//! cluster.get("c1", "app/x", Consistency::Default).await?;
//! cluster.shutdown().await?;
//! # Ok(()) }
//! ```

pub mod client;
pub mod config;
pub mod diagnostics;
pub mod faults;
pub mod formation;
pub mod lifecycle;
pub mod topology;

use std::time::Duration;

use crate::{AgentProcess, Loopback};

pub use client::{Answer, Consistency, Member, Put};
pub use topology::{NodeState, Role, Spec};

/// How long a new cluster may take to elect a leader and see every member
/// alive (debug builds on a small, busy machine).
const FORM_WITHIN: Duration = Duration::from_secs(30);
/// How long a SIGTERM'd agent may take to exit.
const EXIT_WITHIN: Duration = Duration::from_secs(15);
/// Log lines per node in a failure message.
const TAIL_LINES: usize = 25;

/// One agent of a [`Cluster`].
pub struct Node {
    name: String,
    role: Role,
    agent: AgentProcess,
    state: NodeState,
    /// Holds the address for as long as the node may run.
    lo: Loopback,
}

/// A running cluster of agent processes.
pub struct Cluster {
    spec: Spec,
    nodes: Vec<Node>,
}
