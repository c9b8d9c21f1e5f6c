//! What a cluster is made of: the [`Spec`] a test asks for, its nodes
//! (`s1…`, `c1…`, each on a loopback address of its own), starting them all
//! and waiting for them to form, and finding nodes by name, role, state or
//! address. Sends no request of its own beyond the formation wait.

use std::net::Ipv4Addr;
use std::time::Instant;

use super::config::config_text;
use super::{Cluster, Node, FORM_WITHIN};
use crate::{AgentProcess, KitError, Loopback};

/// Agents of a partitionable cluster run as uid `UID_BASE + x` for
/// 127.0.0.x: unique, because the address is held by this test alone.
const UID_BASE: u32 = 40_000;
/// Consul's default server RPC port, which `/v1/status/*` report.
const RPC_PORT: u16 = 8300;

#[derive(Debug, Clone)]
pub struct Spec {
    pub(super) servers: usize,
    pub(super) clients: usize,
    pub(super) datacenter: String,
    pub(super) partitionable: bool,
    pub(super) retry_interval: String,
    pub(super) dead_server_timeout: Option<String>,
    /// Only the first server bootstraps (`bootstrap_expect` 1); the others
    /// have 0 and join the cluster they find.
    pub(super) one_bootstraps: bool,
    pub(super) extra: Vec<(String, String)>,
    /// Top-level keys of one node's config file only: (node, key, JSON).
    pub(super) node_extra: Vec<(String, String, String)>,
    /// The ACL token the cluster's own requests carry (`X-Consul-Token`).
    pub(super) token: Option<String>,
}

impl Spec {
    /// `n` servers (`bootstrap_expect = n`) and no client yet.
    pub fn servers(n: usize) -> Spec {
        Spec {
            servers: n,
            clients: 0,
            datacenter: "dc1".into(),
            partitionable: false,
            retry_interval: "1s".into(),
            dead_server_timeout: None,
            one_bootstraps: false,
            extra: Vec::new(),
            node_extra: Vec::new(),
            token: None,
        }
    }

    /// `m` client agents, which join the servers.
    #[must_use]
    pub fn clients(mut self, m: usize) -> Spec {
        self.clients = m;
        self
    }

    /// The datacenter of every node (default `dc1`).
    #[must_use]
    pub fn datacenter(mut self, dc: &str) -> Spec {
        self.datacenter = dc.into();
        self
    }

    /// Runs every agent under a uid of its own, so that
    /// [`Cluster::partition`] can cut links between them (needs root).
    #[must_use]
    pub fn partitionable(mut self) -> Spec {
        self.partitionable = true;
        self
    }

    /// `autopilot { dead_server_timeout = … }` on every server.
    #[must_use]
    pub fn dead_server_timeout(mut self, duration: &str) -> Spec {
        self.dead_server_timeout = Some(duration.into());
        self
    }

    /// The common layout where one server has `bootstrap_expect = 1` and
    /// every other server 0: it never bootstraps, it joins what it finds.
    #[must_use]
    pub fn one_bootstraps(mut self) -> Spec {
        self.one_bootstraps = true;
        self
    }

    /// One more top-level key of every node's config file, `json` being its
    /// value as JSON text.
    #[must_use]
    pub fn config(mut self, key: &str, json: &str) -> Spec {
        self.extra.push((key.into(), json.into()));
        self
    }

    /// One more top-level key of node `name`'s config file only (a key
    /// [`config`](Self::config) does not also set: keys appear once).
    #[must_use]
    pub fn node_config(mut self, name: &str, key: &str, json: &str) -> Spec {
        self.node_extra.push((name.into(), key.into(), json.into()));
        self
    }

    /// The ACL token (`X-Consul-Token`) the cluster's own requests carry:
    /// its formation waits and every [`Cluster::request`] (use
    /// [`Cluster::request_as`] for another token or none). Needed when the
    /// agents run with `acl.default_policy = "deny"`.
    #[must_use]
    pub fn token(mut self, secret: &str) -> Spec {
        self.token = Some(secret.into());
        self
    }
}

/// A server or a client agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A server: votes in Raft, answers RPC.
    Server,
    /// A client agent: forwards to the servers.
    Client,
}

impl Role {
    /// `server` or `client`, as `praetor members` prints it.
    pub fn word(self) -> &'static str {
        match self {
            Role::Server => "server",
            Role::Client => "client",
        }
    }
}

/// What the test did to a node last, which decides whom the cluster asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeState {
    /// Running, as far as the test knows.
    Up,
    /// SIGSTOP'd: its process exists but answers nothing.
    Paused,
    /// Killed, stopped, or gone after `leave`.
    Down,
}

impl Node {
    /// `s1…`, `c1…`: its `node_name`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Server or client agent.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Its loopback address (bind and client address).
    pub fn ip(&self) -> Ipv4Addr {
        self.lo.ip()
    }

    /// `ip:8300`, how `/v1/status/peers` and Raft name a server.
    pub fn rpc_addr(&self) -> String {
        format!("{}:{RPC_PORT}", self.ip())
    }

    /// `ip:8500`, as `-http-addr` and `CONSUL_HTTP_ADDR` take it.
    pub fn http_addr(&self) -> String {
        self.agent.http_addr()
    }

    /// What the test did to it last.
    pub fn state(&self) -> NodeState {
        self.state
    }

    /// The process (log, PID, data dir, HTTP client).
    pub fn agent(&self) -> &AgentProcess {
        &self.agent
    }
}

impl Cluster {
    /// Starts every node of `spec` at once and waits (30 s) until every
    /// agent names the same leader and sees every node alive.
    ///
    /// # Errors
    /// A node cannot be started, or the cluster does not form in time (the
    /// error shows what each agent saw and the tail of every log).
    pub async fn start(spec: Spec) -> Result<Cluster, KitError> {
        let started = Instant::now();
        let cluster = Cluster::spawn(spec).await?;
        let left = FORM_WITHIN.saturating_sub(started.elapsed());
        cluster.wait_formed(left).await?;
        tracing::info!(
            servers = cluster.spec.servers,
            clients = cluster.spec.clients,
            took = ?started.elapsed(),
            nodes = %cluster.describe(),
            "cluster formed"
        );
        Ok(cluster)
    }

    /// Starts every node of `spec` at once and returns as soon as each
    /// agent answers HTTP, before there is a leader: for a test of what a
    /// cluster does while it forms.
    ///
    /// # Errors
    /// A node cannot be started or does not answer in time.
    pub async fn spawn(spec: Spec) -> Result<Cluster, KitError> {
        // The first cluster of a test process builds the binary (cargo
        // build, minutes on a busy machine): not part of forming.
        if spec.partitionable {
            crate::praetor_bin_for_any_user()?;
        } else {
            crate::praetor_bin()?;
        }
        let names: Vec<(String, Role)> = (1..=spec.servers)
            .map(|i| (format!("s{i}"), Role::Server))
            .chain((1..=spec.clients).map(|i| (format!("c{i}"), Role::Client)))
            .collect();
        let mut los = Vec::new();
        for _ in &names {
            los.push(Loopback::allocate()?);
        }
        let server_ips: Vec<Ipv4Addr> = los[..spec.servers].iter().map(Loopback::ip).collect();
        let mut nodes = Vec::new();
        for ((name, role), lo) in names.into_iter().zip(los) {
            let join: Vec<Ipv4Addr> = server_ips
                .iter()
                .copied()
                .filter(|ip| *ip != lo.ip())
                .collect();
            let mut b = AgentProcess::builder(&lo)?.name(&name).no_leader_wait();
            let text = config_text(&spec, &name, role, lo.ip(), &b.data_dir(), &join);
            b = match role {
                Role::Server => b.config_file(&format!("{name}.json"), &text),
                Role::Client => b.config_dir_file(&format!("{name}.json"), &text),
            };
            if spec.partitionable {
                b = b.uid(UID_BASE + u32::from(lo.ip().octets()[3]));
            }
            let agent = b.spawn()?;
            nodes.push(Node {
                name,
                role,
                agent,
                state: NodeState::Up,
                lo,
            });
        }
        let mut cluster = Cluster { spec, nodes };
        for node in &mut cluster.nodes {
            node.agent.wait_ready().await?;
        }
        Ok(cluster)
    }

    /// `name role ip` of every node, for logs.
    pub fn describe(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("{}={}@{}", n.name, n.role.word(), n.ip()))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Every node, servers first.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The node called `name`.
    ///
    /// # Errors
    /// `NoSuchNode`.
    pub fn node(&self, name: &str) -> Result<&Node, KitError> {
        self.nodes
            .iter()
            .find(|n| n.name == name)
            .ok_or_else(|| KitError::NoSuchNode(name.into()))
    }

    pub(super) fn node_mut(&mut self, name: &str) -> Result<&mut Node, KitError> {
        self.nodes
            .iter_mut()
            .find(|n| n.name == name)
            .ok_or_else(|| KitError::NoSuchNode(name.into()))
    }

    /// Names of every node.
    pub fn names(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.name.clone()).collect()
    }

    /// Names of the servers.
    pub fn server_names(&self) -> Vec<String> {
        self.names_where(|n| n.role == Role::Server)
    }

    /// Names of the client agents.
    pub fn client_names(&self) -> Vec<String> {
        self.names_where(|n| n.role == Role::Client)
    }

    /// Names of the nodes the test has not taken down or paused.
    pub fn up_names(&self) -> Vec<String> {
        self.names_where(|n| n.state == NodeState::Up)
    }

    pub(super) fn names_where(&self, f: impl Fn(&Node) -> bool) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|n| f(n))
            .map(|n| n.name.clone())
            .collect()
    }

    pub(super) fn up_servers(&self) -> impl Iterator<Item = &Node> {
        self.nodes
            .iter()
            .filter(|n| n.role == Role::Server && n.state == NodeState::Up)
    }

    /// The node an `ip` or `ip:port` belongs to, if any.
    pub fn name_of(&self, addr: &str) -> Option<String> {
        let ip = addr.rsplit_once(':').map_or(addr, |(ip, _)| ip);
        self.nodes
            .iter()
            .find(|n| n.ip().to_string() == ip)
            .map(|n| n.name.clone())
    }
}
