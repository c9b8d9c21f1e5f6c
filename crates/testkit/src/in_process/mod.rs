//! In-process servers: `praetor_server::Server`s running as tasks of the
//! test, each with its RPC on a loopback port of its own, talking Raft to
//! each other through [`Links`] the test can cut. Partition scenarios at
//! the server layer run here without root and in seconds; what clients,
//! the HTTP API and gossip see needs the agent processes of
//! [`Cluster`](crate::Cluster), whose partitions are packet filter rules.
//!
//! Servers are named `s1…sN` (Raft ids 1…N), as in [`Cluster`](crate::Cluster);
//! `s1` bootstraps and adds the others as voters. The test's calls on a
//! [`Server`] never cross a link. Every test ends with
//! [`shutdown`](InProcess::shutdown), which stops each server within a
//! deadline. Nothing here sleeps without a condition.
//!
//! ```no_run
//! # async fn t() -> Result<(), praetor_testkit::KitError> {
//! use praetor_testkit::{secs, InProcess};
//! let cluster = InProcess::start(3).await?;
//! let old = cluster.wait_for_leader(secs(10)).await?;
//! cluster.isolate(&old)?;
//! let new = cluster.wait_for_new_leader(&old, secs(10)).await?;
//! cluster.heal();
//! cluster.shutdown().await?;
//! # Ok(()) }
//! ```

mod links;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use praetor_server::{rpc, Server, ServerConfig};
use praetor_store::Command;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::{check, wait_until, KitError};

pub use links::Links;

/// How long a write or default read waits for a leader, unless the test
/// says otherwise: long enough to ride out an election, short enough that
/// a refusal comes quickly on a cut-off server.
pub const LEADER_WAIT: Duration = Duration::from_millis(1500);
/// How long starting a cluster may take to elect `s1` and add the others.
const FORM_WITHIN: Duration = Duration::from_secs(20);
/// How long one server may take to stop.
const STOP_WITHIN: Duration = Duration::from_secs(10);

/// One in-process server.
pub struct ServerNode {
    name: String,
    server: Server,
    addr: String,
    stop: CancellationToken,
    rpc: JoinHandle<()>,
}

impl ServerNode {
    /// `s1…`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The server.
    pub fn server(&self) -> &Server {
        &self.server
    }

    /// Its RPC address (`127.0.0.1:port`), as Raft names it.
    pub fn addr(&self) -> &str {
        &self.addr
    }
}

/// A cluster of in-process servers whose links a test can cut.
pub struct InProcess {
    nodes: Vec<ServerNode>,
    links: Links,
}

impl InProcess {
    /// `n` servers, each waiting [`LEADER_WAIT`] for a leader; waits until
    /// every one names `s1` its leader.
    ///
    /// # Errors
    /// A server cannot start or be added, or the cluster does not form in
    /// time.
    pub async fn start(n: usize) -> Result<InProcess, KitError> {
        InProcess::start_with(n, LEADER_WAIT).await
    }

    /// [`start`](Self::start) with every server waiting `leader_wait` for a
    /// leader before it refuses a write or default read.
    ///
    /// # Errors
    /// As [`start`](Self::start).
    pub async fn start_with(n: usize, leader_wait: Duration) -> Result<InProcess, KitError> {
        let links = Links::default();
        let mut cluster = InProcess {
            nodes: Vec::new(),
            links,
        };
        for i in 1..=n {
            let node = cluster.spawn(i, leader_wait).await?;
            cluster.nodes.push(node);
            if i == 1 {
                let s1 = &cluster.nodes[0].server;
                wait_until(FORM_WITHIN, "s1 to lead its one-server cluster", || {
                    check(s1.is_leader(), || format!("s1 names {:?}", s1.leader()))
                })
                .await?;
                continue;
            }
            let (s1, new) = (&cluster.nodes[0], &cluster.nodes[i - 1]);
            let id = new_id(i);
            tokio::time::timeout(FORM_WITHIN, s1.server.add_voter(id, &new.addr))
                .await
                .map_err(|_| KitError::Timeout {
                    reason: format!("s1 to add {} as a voter", new.name),
                    within: FORM_WITHIN,
                    last: "add_voter did not return".into(),
                })?
                .map_err(|e| failed(&new.name, "joining", &e))?;
        }
        let leader = cluster.wait_for_leader(FORM_WITHIN).await?;
        tracing::info!(servers = n, %leader, "in-process cluster formed");
        Ok(cluster)
    }

    /// Starts server `i` on a fresh loopback port, dialling through the links.
    async fn spawn(&self, i: usize, leader_wait: Duration) -> Result<ServerNode, KitError> {
        let name = format!("s{i}");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| failed(&name, "binding its RPC listener", &e))?;
        let local = listener
            .local_addr()
            .map_err(|e| failed(&name, "binding its RPC listener", &e))?;
        self.links.register(&name, local);
        let stop = CancellationToken::new();
        let cfg = ServerConfig {
            node_id: new_id(i),
            rpc_addr: local.to_string(),
            data_dir: None,
            snapshot_threshold: 100,
            trailing_logs: 20,
            history_limit: 1000,
            bootstrap: i == 1,
            leader_wait,
            // A cut-off leader's writes end as soon as they did before.
            apply_timeout: leader_wait,
            stop: stop.clone(),
            metrics: praetor_server::ServerMetrics::global(),
            acl: praetor_server::acl::AclConfig::default(),
        };
        let server = Server::start_with_dialer(cfg, self.links.dialer(&name))
            .await
            .map_err(|e| failed(&name, "starting", &e))?;
        let rpc = tokio::spawn(rpc::serve(listener, Arc::new(server.clone()), stop.clone()));
        Ok(ServerNode {
            name,
            server,
            addr: local.to_string(),
            stop,
            rpc,
        })
    }

    /// Every server, `s1` first.
    pub fn nodes(&self) -> &[ServerNode] {
        &self.nodes
    }

    /// The names of every server.
    pub fn names(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.name.clone()).collect()
    }

    /// The server called `name`.
    ///
    /// # Errors
    /// `NoSuchNode`.
    pub fn server(&self, name: &str) -> Result<&Server, KitError> {
        self.nodes
            .iter()
            .find(|n| n.name == name)
            .map(|n| &n.server)
            .ok_or_else(|| KitError::NoSuchNode(name.into()))
    }

    /// The links between the servers.
    pub fn links(&self) -> &Links {
        &self.links
    }

    /// The leader `name` names (as `Server::leader` has it: a leader
    /// without its lease names none), as a server name.
    ///
    /// # Errors
    /// `NoSuchNode`.
    pub fn leader_seen_by(&self, name: &str) -> Result<Option<String>, KitError> {
        let id = self.server(name)?.leader();
        Ok(id.map(|id| {
            self.nodes
                .iter()
                .find(|n| n.server.id() == id)
                .map_or_else(|| format!("(id {id})"), |n| n.name.clone())
        }))
    }

    /// What each server names as leader, for failure messages.
    fn leaders_named(&self) -> BTreeMap<String, String> {
        self.nodes
            .iter()
            .map(|n| {
                let seen = self.leader_seen_by(&n.name).ok().flatten();
                (n.name.clone(), seen.unwrap_or_else(|| "(none)".into()))
            })
            .collect()
    }

    /// Waits until every server names the same leader; returns its name.
    ///
    /// # Errors
    /// `Timeout` showing what each server named and which links are cut.
    pub async fn wait_for_leader(&self, within: Duration) -> Result<String, KitError> {
        wait_until(within, "every server to name the same leader", || {
            let named = self.leaders_named();
            let first = named.values().next().cloned().unwrap_or_default();
            let agreed = first != "(none)" && named.values().all(|l| *l == first);
            if agreed {
                Ok(first)
            } else {
                Err(format!(
                    "leaders named: {named:?}; {}",
                    self.links.describe()
                ))
            }
        })
        .await
    }

    /// Waits until a server other than `old` leads with its lease; returns
    /// its name.
    ///
    /// # Errors
    /// `Timeout` showing what each server named and which links are cut.
    pub async fn wait_for_new_leader(
        &self,
        old: &str,
        within: Duration,
    ) -> Result<String, KitError> {
        let reason = format!("a server other than {old} to lead");
        wait_until(within, &reason, || {
            let new = self
                .nodes
                .iter()
                .find(|n| n.name != old && n.server.is_leader())
                .map(|n| n.name.clone());
            new.ok_or_else(|| {
                format!(
                    "leaders named: {:?}; {}",
                    self.leaders_named(),
                    self.links.describe()
                )
            })
        })
        .await
    }

    /// Cuts every link between `side_a` and `side_b` until healed.
    ///
    /// # Errors
    /// `NoSuchNode`.
    pub fn partition(&self, side_a: &[&str], side_b: &[&str]) -> Result<(), KitError> {
        for name in side_a.iter().chain(side_b) {
            self.server(name)?;
        }
        for a in side_a {
            for b in side_b {
                self.links.cut(a, b);
            }
        }
        tracing::info!(a = ?side_a, b = ?side_b, "partitioned");
        Ok(())
    }

    /// Cuts `name` off from every other server.
    ///
    /// # Errors
    /// `NoSuchNode`.
    pub fn isolate(&self, name: &str) -> Result<(), KitError> {
        let others = self.names();
        let others: Vec<&str> = others
            .iter()
            .map(String::as_str)
            .filter(|n| *n != name)
            .collect();
        self.partition(&[name], &others)
    }

    /// Restores every link.
    pub fn heal(&self) {
        self.links.heal_all();
    }

    /// `key`'s value in `name`'s own copy of the store (a stale read that
    /// never leaves the server).
    ///
    /// # Errors
    /// `NoSuchNode`.
    pub fn kv_local(&self, name: &str, key: &str) -> Result<Option<String>, KitError> {
        let server = self.server(name)?;
        let state = server.shared().read();
        Ok(state
            .store
            .kv()
            .get(key)
            .map(|e| String::from_utf8_lossy(&e.value).into_owned()))
    }

    /// Closes every link's connections and stops every server (RPC
    /// listener and Raft), each within 10 s. Every in-process test ends
    /// with this.
    ///
    /// # Errors
    /// `UncleanShutdown` naming the first server that did not stop in time.
    pub async fn shutdown(self) -> Result<(), KitError> {
        self.links.heal_all();
        for node in &self.nodes {
            node.stop.cancel();
        }
        let mut first_error = None;
        for node in self.nodes {
            let stopped = tokio::time::timeout(STOP_WITHIN, async {
                node.server.shutdown().await;
                let _ = node.rpc.await;
            })
            .await;
            if stopped.is_err() && first_error.is_none() {
                first_error = Some(KitError::UncleanShutdown {
                    name: node.name.clone(),
                    why: format!("it did not stop within {STOP_WITHIN:?}"),
                    log: String::new(),
                });
            }
        }
        self.links.close_all();
        first_error.map_or(Ok(()), Err)
    }
}

/// The command that sets `key` to `value` (what `PUT /v1/kv/<key>` proposes).
pub fn kv_set(key: &str, value: &str) -> Command {
    Command::KvSet {
        key: key.into(),
        value: value.as_bytes().to_vec().into(),
        flags: 0,
        cas: None,
    }
}

/// Server `i`'s Raft id.
fn new_id(i: usize) -> u64 {
    i as u64
}

/// An error of server `name` while `doing` something.
fn failed(name: &str, doing: &'static str, e: &dyn std::fmt::Display) -> KitError {
    KitError::Server {
        name: name.into(),
        doing,
        detail: e.to_string(),
    }
}
