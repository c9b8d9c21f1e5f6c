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
//! heals every partition it made (see [`Partition`]).
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

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::Value;

use crate::partition::{Cut, Partition};
use crate::{wait_for, AgentProcess, Cli, KitError, Loopback, Signal};

/// How long a new cluster may take to elect a leader and see every member
/// alive (debug builds on a small, busy machine).
const FORM_WITHIN: Duration = Duration::from_secs(30);
/// How long a SIGTERM'd agent may take to exit.
const EXIT_WITHIN: Duration = Duration::from_secs(15);
/// Log lines per node in a failure message.
const TAIL_LINES: usize = 25;
/// Agents of a partitionable cluster run as uid `UID_BASE + x` for
/// 127.0.0.x: unique, because the address is held by this test alone.
const UID_BASE: u32 = 40_000;
/// Consul's default server RPC port, which `/v1/status/*` report.
const RPC_PORT: u16 = 8300;

/// What cluster to start.
#[derive(Debug, Clone)]
pub struct Spec {
    servers: usize,
    clients: usize,
    datacenter: String,
    partitionable: bool,
    retry_interval: String,
    dead_server_timeout: Option<String>,
    /// Only the first server bootstraps (`bootstrap_expect` 1); the others
    /// have 0 and join the cluster they find.
    one_bootstraps: bool,
    extra: Vec<(String, String)>,
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
}

/// A server or a client agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Server,
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
    Up,
    /// SIGSTOP'd: its process exists but answers nothing.
    Paused,
    /// Killed, stopped, or gone after `leave`.
    Down,
}

/// One agent of a [`Cluster`].
pub struct Node {
    name: String,
    role: Role,
    agent: AgentProcess,
    state: NodeState,
    /// Holds the address for as long as the node may run.
    lo: Loopback,
}

impl Node {
    /// `s1…`, `c1…`: its `node_name`.
    pub fn name(&self) -> &str {
        &self.name
    }

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

    pub fn state(&self) -> NodeState {
        self.state
    }

    /// The process (log, PID, data dir, HTTP client).
    pub fn agent(&self) -> &AgentProcess {
        &self.agent
    }
}

/// One gossip member as an agent's `/v1/agent/members` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    pub addr: String,
    pub port: u16,
    /// `alive`, `leaving`, `left`, `failed` or `none` (Consul's codes 1-4, 0).
    pub status: String,
    pub tags: BTreeMap<String, String>,
}

impl Member {
    /// Whether its `role` tag says server (`consul`), as Consul's does.
    pub fn is_server(&self) -> bool {
        self.tags.get("role").is_some_and(|r| r == "consul")
    }
}

/// Read consistency modes, as Consul's query parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consistency {
    /// No parameter: the leader answers.
    Default,
    /// `?stale`: the agent's server answers from its own state.
    Stale,
    /// `?consistent`: the leader answers after confirming it still leads.
    Consistent,
}

impl Consistency {
    fn param(self) -> &'static str {
        match self {
            Consistency::Default => "",
            Consistency::Stale => "&stale",
            Consistency::Consistent => "&consistent",
        }
    }
}

/// How a KV write went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Put {
    /// `200 true`, with the `X-Consul-Index` answered.
    Acked { index: u64 },
    /// Any other answer.
    Refused { status: u16, body: String },
    /// No answer at all (connection refused, timeout).
    NoAnswer { error: String },
}

impl Put {
    pub fn is_acked(&self) -> bool {
        matches!(self, Put::Acked { .. })
    }
}

/// An HTTP answer: status, body and `X-Consul-Index`.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: String,
    pub index: Option<u64>,
}

/// A running cluster of agent processes.
pub struct Cluster {
    spec: Spec,
    nodes: Vec<Node>,
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

    fn node_mut(&mut self, name: &str) -> Result<&mut Node, KitError> {
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

    fn names_where(&self, f: impl Fn(&Node) -> bool) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|n| f(n))
            .map(|n| n.name.clone())
            .collect()
    }

    fn up_servers(&self) -> impl Iterator<Item = &Node> {
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

    // --- HTTP -------------------------------------------------------------

    /// `method path` on `via`'s HTTP API, with `body`, waiting at most
    /// `within` for the answer.
    ///
    /// # Errors
    /// `Request` when there is no answer; any status is an answer.
    pub async fn request(
        &self,
        via: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<&str>,
        within: Duration,
    ) -> Result<Answer, KitError> {
        let node = self.node(via)?;
        let mut req = node
            .agent
            .http()
            .request(method.clone(), node.agent.url(path))
            .timeout(within);
        if let Some(body) = body {
            req = req.body(body.to_owned());
        }
        let fail = |detail: String| KitError::Request {
            name: via.into(),
            request: format!("{method} {path}"),
            detail,
        };
        let r = req.send().await.map_err(|e| fail(error_chain(&e)))?;
        let status = r.status().as_u16();
        let index = r
            .headers()
            .get("x-consul-index")
            .and_then(|v| v.to_str().ok()?.parse().ok());
        let body = r.text().await.map_err(|e| fail(error_chain(&e)))?;
        Ok(Answer {
            status,
            body,
            index,
        })
    }

    /// `GET path` on `via`, expecting 200 and JSON.
    ///
    /// # Errors
    /// `Request` on no answer, another status, or a body that is not JSON.
    pub async fn get_json(&self, via: &str, path: &str) -> Result<Value, KitError> {
        let a = self
            .request(
                via,
                reqwest::Method::GET,
                path,
                None,
                Duration::from_secs(5),
            )
            .await?;
        let fail = |detail: String| KitError::Request {
            name: via.into(),
            request: format!("GET {path}"),
            detail,
        };
        if a.status != 200 {
            return Err(fail(format!("answered {}: {}", a.status, a.body.trim())));
        }
        serde_json::from_str(&a.body).map_err(|e| fail(format!("not JSON ({e}): {}", a.body)))
    }

    // --- membership and leadership ------------------------------------------

    /// The members `via` knows, from `/v1/agent/members`.
    ///
    /// # Errors
    /// `Request` when it does not answer with a member list.
    pub async fn members(&self, via: &str) -> Result<Vec<Member>, KitError> {
        let v = self.get_json(via, "/v1/agent/members").await?;
        let list = v.as_array().ok_or_else(|| KitError::Request {
            name: via.into(),
            request: "GET /v1/agent/members".into(),
            detail: format!("not a list: {v}"),
        })?;
        Ok(list.iter().map(parse_member).collect())
    }

    /// The leader `via` names on `/v1/status/leader`, as a node name when it
    /// is one of ours (else the address); `None` for `""`.
    ///
    /// # Errors
    /// `Request` when it does not answer with a string.
    pub async fn leader_seen_by(&self, via: &str) -> Result<Option<String>, KitError> {
        let a = self
            .request(
                via,
                reqwest::Method::GET,
                "/v1/status/leader",
                None,
                Duration::from_secs(2),
            )
            .await?;
        let addr: String = serde_json::from_str(&a.body)
            .ok()
            .filter(|_| a.status == 200)
            .ok_or_else(|| KitError::Request {
                name: via.into(),
                request: "GET /v1/status/leader".into(),
                detail: format!("answered {}: {}", a.status, a.body.trim()),
            })?;
        if addr.is_empty() {
            return Ok(None);
        }
        Ok(Some(self.name_of(&addr).unwrap_or(addr)))
    }

    /// Waits until every node that is up names the same leader, a server
    /// that is up; returns its name.
    ///
    /// # Errors
    /// `Timeout` showing what each node named.
    pub async fn wait_for_leader(&self, within: Duration) -> Result<String, KitError> {
        let up = self.up_names();
        let up = &up;
        wait_for(
            within,
            "every agent that is up to name the same leader, a server that is up",
            move || self.leader_agreed(up),
        )
        .await
        .map_err(|e| self.with_logs(e))
    }

    async fn leader_agreed(&self, up: &[String]) -> Result<String, String> {
        let mut seen = BTreeMap::new();
        for name in up {
            let said = match self.leader_seen_by(name).await {
                Ok(Some(l)) => l,
                Ok(None) => "(none)".into(),
                Err(e) => format!("(error: {e})"),
            };
            seen.insert(name.clone(), said);
        }
        let first = seen.values().next().cloned().unwrap_or_default();
        let agreed = seen.values().all(|l| *l == first);
        let leader_up = self.up_servers().any(|n| n.name == first);
        if agreed && leader_up {
            Ok(first)
        } else {
            Err(format!("leaders named: {seen:?}"))
        }
    }

    /// Polls every server that is up, every 25 ms, until one names a leader
    /// other than `old` that is up; returns it and the time since `since`
    /// (when the old leader was killed or cut off). The poll is fine-grained
    /// because this is what failover time is measured with.
    ///
    /// # Errors
    /// `Timeout` showing what each server named last.
    pub async fn wait_for_new_leader(
        &self,
        old: &str,
        since: Instant,
        within: Duration,
    ) -> Result<(String, Duration), KitError> {
        let deadline = Instant::now() + within;
        let mut last = BTreeMap::new();
        loop {
            for n in self.up_servers().filter(|n| n.name != old) {
                let a = self
                    .request(
                        &n.name,
                        reqwest::Method::GET,
                        "/v1/status/leader",
                        None,
                        Duration::from_millis(500),
                    )
                    .await;
                let named = a
                    .ok()
                    .filter(|a| a.status == 200)
                    .and_then(|a| serde_json::from_str::<String>(&a.body).ok())
                    .filter(|addr| !addr.is_empty());
                let took = since.elapsed();
                let leader = named.as_deref().and_then(|addr| self.name_of(addr));
                if let Some(l) =
                    leader.filter(|l| l != old && self.up_servers().any(|s| s.name == *l))
                {
                    return Ok((l, took));
                }
                last.insert(n.name.clone(), named.unwrap_or_else(|| "(none)".into()));
            }
            if Instant::now() >= deadline {
                return Err(self.with_logs(KitError::Timeout {
                    reason: format!("a server other than {old} to name a new leader"),
                    within,
                    last: format!("leaders named: {last:?}"),
                }));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Waits until every node that is up lists every node that is up as
    /// `alive`.
    ///
    /// # Errors
    /// `Timeout` showing each node's view of the others.
    pub async fn wait_all_alive(&self, within: Duration) -> Result<(), KitError> {
        let up = self.up_names();
        let reason = format!(
            "every agent that is up ({}) to see all of them alive",
            up.join(" ")
        );
        let up = &up;
        wait_for(within, &reason, move || async move {
            let mut wrong = Vec::new();
            for observer in up {
                match self.members(observer).await {
                    Ok(members) => {
                        let bad: Vec<String> = up
                            .iter()
                            .filter(|name| {
                                !members
                                    .iter()
                                    .any(|m| m.name == **name && m.status == "alive")
                            })
                            .cloned()
                            .collect();
                        if !bad.is_empty() {
                            wrong.push(format!(
                                "{observer} sees {} (missing or not alive: {})",
                                summary(&members),
                                bad.join(" ")
                            ));
                        }
                    }
                    Err(e) => wrong.push(format!("{observer}: {e}")),
                }
            }
            if wrong.is_empty() {
                Ok(())
            } else {
                Err(wrong.join("; "))
            }
        })
        .await
        .map_err(|e| self.with_logs(e))
    }

    /// Waits until every node in `observers` lists `member` with `status`;
    /// returns how long that took.
    ///
    /// # Errors
    /// `Timeout` showing each observer's view.
    pub async fn wait_member_status(
        &self,
        observers: &[String],
        member: &str,
        status: &str,
        within: Duration,
    ) -> Result<Duration, KitError> {
        let started = Instant::now();
        let reason = format!("{} to see {member} {status}", observers.join(" "));
        wait_for(within, &reason, move || async move {
            let mut wrong = Vec::new();
            for observer in observers {
                match self.members(observer).await {
                    Ok(members) => {
                        if !members
                            .iter()
                            .any(|m| m.name == member && m.status == status)
                        {
                            wrong.push(format!("{observer} sees {}", summary(&members)));
                        }
                    }
                    Err(e) => wrong.push(format!("{observer}: {e}")),
                }
            }
            if wrong.is_empty() {
                Ok(started.elapsed())
            } else {
                Err(wrong.join("; "))
            }
        })
        .await
        .map_err(|e| self.with_logs(e))
    }

    /// Waits for a leader everyone agrees on and every member alive.
    ///
    /// # Errors
    /// As [`wait_for_leader`](Self::wait_for_leader) and
    /// [`wait_all_alive`](Self::wait_all_alive).
    pub async fn wait_formed(&self, within: Duration) -> Result<String, KitError> {
        let started = Instant::now();
        self.wait_all_alive(within).await?;
        self.wait_for_leader(within.saturating_sub(started.elapsed()))
            .await
    }

    /// The RPC addresses `/v1/status/peers` lists on `via`.
    ///
    /// # Errors
    /// `Request` when it does not answer with a list of strings.
    pub async fn peers(&self, via: &str) -> Result<Vec<String>, KitError> {
        let v = self.get_json(via, "/v1/status/peers").await?;
        serde_json::from_value(v.clone()).map_err(|_| KitError::Request {
            name: via.into(),
            request: "GET /v1/status/peers".into(),
            detail: format!("not a list of strings: {v}"),
        })
    }

    /// `/v1/operator/raft/configuration` on `via`.
    ///
    /// # Errors
    /// `Request` when it does not answer 200 with JSON.
    pub async fn raft_configuration(&self, via: &str) -> Result<Value, KitError> {
        self.get_json(via, "/v1/operator/raft/configuration").await
    }

    // --- KV -----------------------------------------------------------------

    /// `PUT /v1/kv/<key>` through `via` (20 s for an answer: a server with no
    /// leader is expected to give up sooner).
    ///
    /// # Errors
    /// `NoSuchNode` only; every outcome of the write is a [`Put`].
    pub async fn put(&self, via: &str, key: &str, value: &str) -> Result<Put, KitError> {
        let path = format!("/v1/kv/{key}");
        let answer = self
            .request(
                via,
                reqwest::Method::PUT,
                &path,
                Some(value),
                Duration::from_secs(20),
            )
            .await;
        Ok(match answer {
            Ok(a) if a.status == 200 && a.body.trim() == "true" => Put::Acked {
                index: a.index.unwrap_or(0),
            },
            Ok(a) => Put::Refused {
                status: a.status,
                body: a.body,
            },
            Err(KitError::Request { detail, .. }) => Put::NoAnswer { error: detail },
            Err(e) => return Err(e),
        })
    }

    /// [`put`](Self::put) that must be acknowledged; returns its index.
    ///
    /// # Errors
    /// `Request` describing any other outcome.
    pub async fn put_acked(&self, via: &str, key: &str, value: &str) -> Result<u64, KitError> {
        match self.put(via, key, value).await? {
            Put::Acked { index } => Ok(index),
            other => Err(KitError::Request {
                name: via.into(),
                request: format!("PUT /v1/kv/{key}"),
                detail: format!("not acknowledged: {other:?}"),
            }),
        }
    }

    /// `GET /v1/kv/<key>?raw` through `via`: `Some(value)` on 200, `None` on
    /// 404.
    ///
    /// # Errors
    /// `Request` on no answer or another status.
    pub async fn get(
        &self,
        via: &str,
        key: &str,
        mode: Consistency,
    ) -> Result<Option<String>, KitError> {
        let path = format!("/v1/kv/{key}?raw{}", mode.param());
        let a = self
            .request(
                via,
                reqwest::Method::GET,
                &path,
                None,
                Duration::from_secs(10),
            )
            .await?;
        match a.status {
            200 => Ok(Some(a.body)),
            404 => Ok(None),
            other => Err(KitError::Request {
                name: via.into(),
                request: format!("GET {path}"),
                detail: format!("answered {other}: {}", a.body.trim()),
            }),
        }
    }

    /// Every key under `prefix` with its value, through `via`
    /// (`?recurse`); empty on 404.
    ///
    /// # Errors
    /// `Request` on no answer, another status, or an unreadable body.
    pub async fn kv_list(
        &self,
        via: &str,
        prefix: &str,
        mode: Consistency,
    ) -> Result<BTreeMap<String, String>, KitError> {
        let path = format!("/v1/kv/{prefix}?recurse{}", mode.param());
        let a = self
            .request(
                via,
                reqwest::Method::GET,
                &path,
                None,
                Duration::from_secs(10),
            )
            .await?;
        let fail = |detail: String| KitError::Request {
            name: via.into(),
            request: format!("GET {path}"),
            detail,
        };
        match a.status {
            404 => return Ok(BTreeMap::new()),
            200 => {}
            other => return Err(fail(format!("answered {other}: {}", a.body.trim()))),
        }
        let v: Value = serde_json::from_str(&a.body).map_err(|e| fail(format!("{e}")))?;
        let mut out = BTreeMap::new();
        for entry in v.as_array().into_iter().flatten() {
            let key = entry["Key"].as_str().unwrap_or_default().to_owned();
            let value = match entry["Value"].as_str() {
                Some(b64) => base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .map_err(|e| fail(format!("value of {key}: {e}")))?,
                None => String::new(),
            };
            out.insert(key, value);
        }
        Ok(out)
    }

    // --- processes ------------------------------------------------------------

    /// `praetor ARGS` with `CONSUL_HTTP_ADDR` pointing at `via`.
    ///
    /// # Errors
    /// `NoSuchNode`.
    pub fn cli(&self, via: &str, args: &[&str]) -> Result<Cli, KitError> {
        let addr = self.node(via)?.http_addr();
        Ok(Cli::new(args.iter().copied()).env("CONSUL_HTTP_ADDR", &addr))
    }

    /// SIGKILL by PID; the node is down until restarted.
    ///
    /// # Errors
    /// As [`AgentProcess::kill9`].
    pub fn kill9(&mut self, name: &str) -> Result<ExitStatus, KitError> {
        let node = self.node_mut(name)?;
        if node.state == NodeState::Paused {
            node.agent.signal(Signal::Cont)?;
        }
        let status = node.agent.kill9()?;
        node.state = NodeState::Down;
        tracing::info!(node = name, "killed (SIGKILL)");
        Ok(status)
    }

    /// SIGTERM by PID, then waits (15 s) for the exit; the node is down.
    ///
    /// # Errors
    /// As [`AgentProcess::signal`], or `Timeout`.
    pub async fn terminate(&mut self, name: &str) -> Result<ExitStatus, KitError> {
        let node = self.node_mut(name)?;
        node.agent.signal(Signal::Term)?;
        let status = node.agent.wait_exit_async(EXIT_WITHIN).await?;
        node.state = NodeState::Down;
        Ok(status)
    }

    /// Waits for a node to exit on its own (after `leave`); it is down.
    ///
    /// # Errors
    /// `Timeout` when it still runs after `within`.
    pub async fn wait_exit(
        &mut self,
        name: &str,
        within: Duration,
    ) -> Result<ExitStatus, KitError> {
        let node = self.node_mut(name)?;
        let status = node.agent.wait_exit_async(within).await?;
        node.state = NodeState::Down;
        Ok(status)
    }

    /// SIGSTOP: the process stays, frozen; the cluster stops asking it.
    ///
    /// # Errors
    /// As [`AgentProcess::signal`].
    pub fn pause(&mut self, name: &str) -> Result<(), KitError> {
        let node = self.node_mut(name)?;
        node.agent.signal(Signal::Stop)?;
        node.state = NodeState::Paused;
        Ok(())
    }

    /// SIGCONT after [`pause`](Self::pause).
    ///
    /// # Errors
    /// As [`AgentProcess::signal`].
    pub fn resume(&mut self, name: &str) -> Result<(), KitError> {
        let node = self.node_mut(name)?;
        node.agent.signal(Signal::Cont)?;
        node.state = NodeState::Up;
        Ok(())
    }

    /// Starts a down node again on its data dir and config file, and waits
    /// until it serves HTTP (not until it rejoined: wait for that).
    ///
    /// # Errors
    /// As [`AgentProcess::restart`].
    pub async fn restart(&mut self, name: &str) -> Result<Duration, KitError> {
        let node = self.node_mut(name)?;
        let took = node.agent.restart().await?;
        node.state = NodeState::Up;
        tracing::info!(node = name, "restarted");
        Ok(took)
    }

    /// SIGTERM to every node that is up, all at once, and waits for each to
    /// exit 0: the whole cluster stopped as an operator would.
    ///
    /// # Errors
    /// `UncleanShutdown` naming the first node that did not exit 0 in time.
    pub async fn stop_all(&mut self) -> Result<(), KitError> {
        for node in &mut self.nodes {
            if node.state == NodeState::Paused {
                node.agent.signal(Signal::Cont)?;
                node.state = NodeState::Up;
            }
            if node.state == NodeState::Up {
                node.agent.signal(Signal::Term)?;
            }
        }
        for node in &mut self.nodes {
            if node.state != NodeState::Up {
                continue;
            }
            let exited = node.agent.wait_exit_async(EXIT_WITHIN).await;
            node.state = NodeState::Down;
            match exited {
                Ok(status) if status.success() => {}
                Ok(status) => {
                    return Err(KitError::UncleanShutdown {
                        name: node.name.clone(),
                        why: format!("it exited with {status} on SIGTERM"),
                        log: node.agent.log_tail(TAIL_LINES),
                    })
                }
                Err(e) => {
                    return Err(KitError::UncleanShutdown {
                        name: node.name.clone(),
                        why: e.to_string(),
                        log: node.agent.log_tail(TAIL_LINES),
                    })
                }
            }
        }
        tracing::info!("every node stopped (SIGTERM)");
        Ok(())
    }

    /// Spawns every down node at once, then waits until each serves HTTP.
    ///
    /// # Errors
    /// As [`AgentProcess::respawn`] and [`AgentProcess::wait_ready`].
    pub async fn start_all(&mut self) -> Result<(), KitError> {
        let mut spawned = Vec::new();
        for (i, node) in self.nodes.iter_mut().enumerate() {
            if node.state == NodeState::Down {
                node.agent.respawn()?;
                node.state = NodeState::Up;
                spawned.push(i);
            }
        }
        for i in spawned {
            self.nodes[i].agent.wait_ready().await?;
        }
        tracing::info!("every node started again");
        Ok(())
    }

    /// Cuts every link between `side_a` and `side_b` (both directions) until
    /// the returned [`Partition`] is healed or dropped. Needs a
    /// [`Spec::partitionable`] cluster and root.
    ///
    /// # Errors
    /// `Partition` when the cluster is not partitionable or the rules
    /// cannot be installed; `NoSuchNode`.
    pub fn partition(&self, side_a: &[&str], side_b: &[&str]) -> Result<Partition, KitError> {
        if !self.spec.partitionable {
            return Err(KitError::Partition(
                "this cluster was not started with Spec::partitionable()".into(),
            ));
        }
        let uid_ip = |name: &str| -> Result<(u32, Ipv4Addr), KitError> {
            let n = self.node(name)?;
            let uid = n.agent.uid().ok_or_else(|| {
                KitError::Partition(format!("node {name} does not run under a uid of its own"))
            })?;
            Ok((uid, n.ip()))
        };
        let mut cuts = Vec::new();
        for a in side_a {
            for b in side_b {
                let ((ua, ia), (ub, ib)) = (uid_ip(a)?, uid_ip(b)?);
                cuts.push(Cut { uid: ua, to: ib });
                cuts.push(Cut { uid: ub, to: ia });
            }
        }
        let p = Partition::install(&cuts)?;
        tracing::info!(a = ?side_a, b = ?side_b, mechanism = ?p.mechanism(), "partitioned");
        Ok(p)
    }

    /// Cuts `name` off from every other node.
    ///
    /// # Errors
    /// As [`partition`](Self::partition).
    pub fn isolate(&self, name: &str) -> Result<Partition, KitError> {
        let others = self.names_where(|n| n.name != name);
        let others: Vec<&str> = others.iter().map(String::as_str).collect();
        self.partition(&[name], &others)
    }

    /// The last lines of every node's log, each under a header.
    pub fn log_tails(&self, lines: usize) -> String {
        let mut out = String::new();
        for n in &self.nodes {
            let _ = writeln!(
                out,
                "=== {} ({}, {}, pid {}, {:?}) ===\n{}",
                n.name,
                n.role.word(),
                n.ip(),
                n.agent.pid(),
                n.state,
                n.agent.log_tail(lines)
            );
        }
        out
    }

    /// A timeout's "last seen" followed by every node's log tail.
    fn with_logs(&self, e: KitError) -> KitError {
        match e {
            KitError::Timeout {
                reason,
                within,
                last,
            } => KitError::Timeout {
                reason,
                within,
                last: format!("{last}\n{}", self.log_tails(TAIL_LINES)),
            },
            other => other,
        }
    }

    /// SIGTERM to every node still up (paused ones are resumed first), all
    /// at once, each expected to exit 0 within 15 s with no task outliving
    /// its deadline. Every cluster test ends with this.
    ///
    /// # Errors
    /// The first node's `UncleanShutdown`, naming the others that failed.
    pub async fn shutdown(mut self) -> Result<(), KitError> {
        let mut tasks = tokio::task::JoinSet::new();
        let mut held = Vec::new();
        for node in std::mem::take(&mut self.nodes) {
            let Node {
                name,
                mut agent,
                state,
                lo,
                ..
            } = node;
            if state == NodeState::Paused {
                agent.signal(Signal::Cont)?;
            }
            if state != NodeState::Down {
                tasks.spawn(async move { (name, agent.shutdown().await) });
            }
            // The address stays ours until every agent has exited.
            held.push(lo);
        }
        let mut errors = Vec::new();
        while let Some(done) = tasks.join_next().await {
            match done {
                Ok((_, Ok(()))) => {}
                Ok((name, Err(e))) => errors.push((name, e)),
                Err(e) => errors.push((
                    "?".into(),
                    KitError::Partition(format!("a shutdown task failed: {e}")),
                )),
            }
        }
        drop(held);
        let others: Vec<String> = errors.iter().skip(1).map(|(n, _)| n.clone()).collect();
        match errors.into_iter().next() {
            None => Ok(()),
            Some((_, e)) if others.is_empty() => Err(e),
            Some((_, e)) => Err(KitError::UncleanShutdown {
                name: format!("{} more", others.len()),
                why: format!("{e}\n(also not clean: {})", others.join(" ")),
                log: String::new(),
            }),
        }
    }
}

/// One node's config file: JSON in Consul's shape, with comments.
fn config_text(
    spec: &Spec,
    name: &str,
    role: Role,
    ip: Ipv4Addr,
    data_dir: &Path,
    join: &[Ipv4Addr],
) -> String {
    let q = |s: &str| Value::from(s).to_string();
    let join: Vec<String> = join.iter().map(|ip| q(&ip.to_string())).collect();
    let mut t = String::new();
    let _ = writeln!(
        t,
        "{{\n  // {name}: a {} of a {}-server, {}-client cluster started by praetor-testkit",
        role.word(),
        spec.servers,
        spec.clients
    );
    let _ = writeln!(t, "  \"datacenter\": {},", q(&spec.datacenter));
    let _ = writeln!(t, "  \"node_name\": {},", q(name));
    match role {
        Role::Server => {
            let _ = writeln!(t, "  \"server\": true,");
            let _ = writeln!(
                t,
                "  // no server acts before this many have found each other"
            );
            let expect = match (spec.one_bootstraps, name == "s1") {
                (false, _) => spec.servers,
                (true, true) => 1,
                (true, false) => 0,
            };
            let _ = writeln!(t, "  \"bootstrap_expect\": {expect},");
        }
        Role::Client => {
            let _ = writeln!(
                t,
                "  \"server\": false, // a client agent: it forwards to servers"
            );
        }
    }
    let _ = writeln!(t, "  // every listener on this node's own loopback address");
    let _ = writeln!(t, "  \"bind_addr\": {},", q(&ip.to_string()));
    let _ = writeln!(t, "  \"client_addr\": {},", q(&ip.to_string()));
    let _ = writeln!(t, "  \"data_dir\": {},", q(&data_dir.to_string_lossy()));
    let _ = writeln!(t, "  // the servers, on the default gossip port (8301)");
    let _ = writeln!(t, "  \"retry_join\": [{}],", join.join(", "));
    let _ = writeln!(t, "  \"retry_interval\": {},", q(&spec.retry_interval));
    if let (Role::Server, Some(d)) = (role, &spec.dead_server_timeout) {
        let _ = writeln!(
            t,
            "  \"autopilot\": {{ \"dead_server_timeout\": {} }},",
            q(d)
        );
    }
    for (key, json) in &spec.extra {
        let _ = writeln!(t, "  {}: {json},", q(key));
    }
    let _ = writeln!(t, "  \"log_level\": \"debug\"\n}}");
    t
}

fn parse_member(m: &Value) -> Member {
    let status = match m["Status"].as_u64() {
        Some(1) => "alive",
        Some(2) => "leaving",
        Some(3) => "left",
        Some(4) => "failed",
        _ => "none",
    };
    Member {
        name: m["Name"].as_str().unwrap_or_default().to_owned(),
        addr: m["Addr"].as_str().unwrap_or_default().to_owned(),
        port: m["Port"]
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or(0),
        status: status.to_owned(),
        tags: m["Tags"]
            .as_object()
            .map(|t| {
                t.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// `s1:alive s2:failed …`
fn summary(members: &[Member]) -> String {
    let mut parts: Vec<String> = members
        .iter()
        .map(|m| format!("{}:{}", m.name, m.status))
        .collect();
    parts.sort();
    format!("[{}]", parts.join(" "))
}

/// An error and its causes on one line (reqwest hides the interesting part
/// in its sources).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let _ = write!(out, ": {s}");
        source = s.source();
    }
    out
}
