//! Starting an agent: every long-lived task is spawned here, so this file is
//! the task tree. Shutdown cancels the token, closes the tracker and waits
//! under a deadline.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use praetor_server::{Server, ServerConfig};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::backend::{Backend, Remote};
use crate::config::RuntimeConfig;
use crate::http::{self, AppState};
use crate::local::{self, LocalState};
use crate::{cluster, federation, identity, AgentError};
use praetor_gossip::{EncryptionConfig, Gossip, GossipConfig, Role, Tags};

/// A running agent.
pub struct Agent {
    state: Arc<AppState>,
    tasks: TaskTracker,
    stop: CancellationToken,
    http_addrs: Vec<SocketAddr>,
    https_addrs: Vec<SocketAddr>,
    dns_addrs: Vec<SocketAddr>,
    tls: AgentTls,
    /// Cancelled when the hosted server's Raft stopped on a fatal error.
    failed: CancellationToken,
}

/// Binds a TCP listener, naming the address on failure.
async fn listen(addr: SocketAddr) -> Result<tokio::net::TcpListener, AgentError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| AgentError::Listen {
            addr: addr.to_string(),
            source,
        })
}

/// Registers the services and checks the config files define (`service`,
/// `services`, `check`, `checks`, in Consul's snake_case keys).
fn register_from_config(cfg: &RuntimeConfig, local: &LocalState) -> Result<(), AgentError> {
    use crate::definition::{check_from_body, decode, service_from_body};
    let list = |key: &str| -> Vec<serde_json::Value> {
        match cfg.raw.get(key) {
            Some(serde_json::Value::Array(items)) => items.clone(),
            Some(one @ serde_json::Value::Object(_)) => vec![one.clone()],
            _ => Vec::new(),
        }
    };
    let bad = |key: &str, e: String| AgentError::Definition(format!("{key}: {e}"));
    let scripts = cfg.enable_script_checks || cfg.enable_local_script_checks;
    for key in ["service", "services"] {
        for def in list(key) {
            let (svc, checks) = decode(def)
                .and_then(|body| service_from_body(body, scripts))
                .map_err(|e| bad(key, e.to_string()))?;
            local
                .add_service(svc, checks)
                .map_err(|e| bad(key, format!("{e:#}")))?;
        }
    }
    for key in ["check", "checks"] {
        for def in list(key) {
            let check = decode(def)
                .and_then(|body| check_from_body(body, scripts))
                .map_err(|e| bad(key, e.to_string()))?;
            local
                .add_check(check)
                .map_err(|e| bad(key, format!("{e:#}")))?;
        }
    }
    Ok(())
}

/// The checks `start` makes of a loaded configuration before it starts
/// anything, made without starting anything (`praetor validate`): the
/// gossip key, the TLS files, the service and check definitions, the
/// watches. Reads files; writes nothing, binds nothing, spawns nothing.
///
/// # Errors
/// The first problem `start` would stop at, as it would word it.
pub fn validate(cfg: &RuntimeConfig) -> Result<(), AgentError> {
    praetor_gossip::setup_keyring(cfg.encrypt.as_deref(), None).map_err(AgentError::Gossip)?;
    AgentTls::load(cfg)?;
    register_from_config(cfg, &LocalState::load(None))?;
    crate::watches::from_config(&cfg.raw)?;
    crate::templates::from_config(&cfg.raw)?;
    Ok(())
}

/// Gossip encryption as Consul sets it up: the keyring file
/// `<data_dir>/serf/local.keyring` wins when it exists (with a warning if it
/// lacks `encrypt`), is created from `encrypt` when it does not, and is not
/// used with `disable_keyring_file` or without a data dir (dev mode), where
/// the keyring is `encrypt` alone. `None`: gossip is plain text.
fn gossip_encryption(
    cfg: &RuntimeConfig,
    data_dir: Option<&std::path::Path>,
) -> Result<Option<EncryptionConfig>, AgentError> {
    keyring_encryption(cfg, data_dir, praetor_gossip::KEYRING_FILE)
}

/// The WAN pool's encryption: as the LAN pool's, from `encrypt` and its
/// own keyring file (`serf/remote.keyring`, as Consul's).
fn wan_encryption(
    cfg: &RuntimeConfig,
    data_dir: Option<&std::path::Path>,
) -> Result<Option<EncryptionConfig>, AgentError> {
    keyring_encryption(cfg, data_dir, WAN_KEYRING_FILE)
}

/// The WAN pool's keyring file under the data dir.
const WAN_KEYRING_FILE: &str = "serf/remote.keyring";

fn keyring_encryption(
    cfg: &RuntimeConfig,
    data_dir: Option<&std::path::Path>,
    keyring_file: &str,
) -> Result<Option<EncryptionConfig>, AgentError> {
    let file = if cfg.disable_keyring_file {
        None
    } else {
        data_dir.map(|d| d.join(keyring_file))
    };
    let setup = praetor_gossip::setup_keyring(cfg.encrypt.as_deref(), file.as_deref())
        .map_err(AgentError::Gossip)?;
    if let Some(warning) = &setup.warning {
        tracing::warn!("{warning}");
    }
    Ok(setup.keyring.map(|keyring| EncryptionConfig {
        keyring,
        verify_incoming: cfg.encrypt_verify_incoming,
        verify_outgoing: cfg.encrypt_verify_outgoing,
        keyring_file: setup.file,
    }))
}

/// Starts a server's WAN pool on `port` (its LAN tags, named
/// `<node>.<dc>`, its RPC address as other datacenters reach it), the
/// routes to other datacenters' servers (installed in `server`), and the
/// WAN joins and reconnects, and the flood join of this datacenter's
/// other servers.
#[allow(clippy::too_many_arguments)]
async fn start_wan(
    cfg: &RuntimeConfig,
    server: &Server,
    lan: &Gossip,
    advertise_ip: std::net::IpAddr,
    port: u16,
    dialer: &praetor_server::rpc::Dialer,
    tasks: &TaskTracker,
    stop: &CancellationToken,
) -> Result<Gossip, AgentError> {
    let mut wan_cfg = federation::wan_gossip_config(cfg, advertise_ip, lan.local().tags, port);
    let data_dir = if cfg.dev {
        None
    } else {
        cfg.data_dir.as_deref()
    };
    wan_cfg.encryption = wan_encryption(cfg, data_dir)?;
    let wan = Gossip::start(wan_cfg, stop.child_token())
        .await
        .map_err(AgentError::Gossip)?;
    let routes = federation::WanRoutes::new(
        wan.clone(),
        &cfg.datacenter,
        dialer.clone(),
        cfg.rpc_hold_timeout,
        tasks.clone(),
        stop.child_token(),
    );
    server.install_dc_router(routes.clone());
    tasks.spawn(federation::run_wan_routes(routes, stop.child_token()));
    let joins: Vec<String> = cfg
        .wan
        .start_join
        .iter()
        .chain(&cfg.wan.retry_join)
        .cloned()
        .collect();
    tasks.spawn(cluster::run_retry_join(
        wan.clone(),
        joins,
        cfg.wan.retry_interval,
        cfg.wan.retry_max,
        stop.child_token(),
    ));
    tasks.spawn(cluster::run_reconnect(wan.clone(), stop.child_token()));
    tasks.spawn(federation::run_flood_join(
        lan.clone(),
        wan.clone(),
        cfg.datacenter.clone(),
        port,
        stop.child_token(),
    ));
    Ok(wan)
}

/// Starts an agent: its server (when it is one), gossip, the cluster
/// duties, then its HTTP listeners.
///
/// # Errors
/// When the data dir, the Raft storage or a listener cannot be used.
pub async fn start(cfg: RuntimeConfig, stop: CancellationToken) -> Result<Agent, AgentError> {
    let fds = http::listener::raise_fd_limit();
    tracing::debug!(open_files = ?fds, "open-file limit");
    let tasks = TaskTracker::new();
    let data_dir = if cfg.dev { None } else { cfg.data_dir.clone() };
    let node_id = identity::node_id(cfg.node_id.as_deref(), data_dir.as_deref())?;
    // Before anything starts: a bad key or keyring file stops the agent here.
    let encryption = gossip_encryption(&cfg, data_dir.as_deref())?;
    let advertise_ip = cfg
        .advertise_addr
        .unwrap_or(if cfg.bind_addr.is_unspecified() {
            cfg.client_addr.first().copied().unwrap_or(cfg.bind_addr)
        } else {
            cfg.bind_addr
        });
    let mut rpc_addr = None;
    let tls = AgentTls::load(&cfg)?;
    let dialer = praetor_server::rpc::Dialer::default().with_tls(tls.rpc.clone());
    // One recorder per agent: the server records into it, HTTP reads it.
    let metrics = crate::metrics::Metrics::default();
    let server = if cfg.server {
        let port = cfg.ports.server.unwrap_or(8300);
        let l = listen(SocketAddr::new(cfg.bind_addr, port)).await?;
        let addr = SocketAddr::new(advertise_ip, l.local_addr().map_or(port, |a| a.port()));
        rpc_addr = Some(addr);
        let server_cfg = ServerConfig {
            node_id: identity::raft_id(&node_id),
            rpc_addr: addr.to_string(),
            data_dir: data_dir.clone(),
            snapshot_threshold: cfg.raft_snapshot_threshold,
            trailing_logs: cfg.raft_trailing_logs,
            history_limit: cfg.kv_history_limit,
            bootstrap: cfg.dev || cfg.bootstrap || cfg.bootstrap_expect == 1,
            leader_wait: cfg.rpc_hold_timeout,
            apply_timeout: cfg.rpc_hold_timeout.max(praetor_server::APPLY_TIMEOUT),
            stop: stop.child_token(),
            metrics: metrics.server_metrics(),
            acl: praetor_server::acl::AclConfig {
                enabled: cfg.acl.enabled,
                default_allow: cfg.acl.default_allow,
                key_list_policy: cfg.acl.enable_key_list_policy,
                initial_management: cfg.acl.tokens.initial_management.clone(),
                datacenter: cfg.datacenter.clone(),
            },
        };
        let server = Server::start_with_dialer(server_cfg, dialer.clone()).await?;
        let rpc_limits = praetor_server::rpc::Limits {
            handshake_timeout: cfg.limits.rpc_handshake_timeout,
            max_conns_per_ip: match cfg.limits.rpc_max_conns_per_client {
                0 => usize::MAX,
                n => n as usize,
            },
            ..Default::default()
        };
        tasks.spawn(praetor_server::rpc::serve_tls(
            l,
            Arc::new(server.clone()),
            rpc_limits,
            tls.rpc.clone(),
            stop.child_token(),
        ));
        Some(server)
    } else {
        None
    };

    let serf_port = cfg.ports.serf_lan.unwrap_or_else(|| {
        tracing::warn!("ports.serf_lan cannot be disabled; using 8301");
        8301
    });
    let tags = Tags {
        role: if cfg.server {
            Role::Server
        } else {
            Role::Client
        },
        datacenter: cfg.datacenter.clone(),
        node_id: node_id.to_string(),
        rpc_addr,
        raft_id: server.as_ref().map(Server::id),
        bootstrap_expect: if cfg.dev { 1 } else { cfg.bootstrap_expect },
        build: praetor_api::VERSION.to_owned(),
        protocol: 2,
    };
    let mut gossip_cfg = GossipConfig::new(
        cfg.node_name.clone(),
        SocketAddr::new(cfg.bind_addr, serf_port),
        tags,
    );
    gossip_cfg.advertise = SocketAddr::new(advertise_ip, serf_port);
    gossip_cfg.reconnect_timeout = cfg.reconnect_timeout;
    gossip_cfg.encryption = encryption;
    gossip_cfg.coordinates = !cfg.disable_coordinates;
    let gossip = Gossip::start(gossip_cfg, stop.child_token())
        .await
        .map_err(AgentError::Gossip)?;
    let joins: Vec<String> = cfg
        .start_join
        .iter()
        .chain(&cfg.retry_join)
        .cloned()
        .collect();
    tasks.spawn(cluster::run_retry_join(
        gossip.clone(),
        joins,
        cfg.retry_interval,
        cfg.retry_max,
        stop.child_token(),
    ));
    tasks.spawn(cluster::run_reconnect(gossip.clone(), stop.child_token()));
    let wan = match (&server, cfg.ports.serf_wan) {
        (Some(s), Some(port)) => {
            Some(start_wan(&cfg, s, &gossip, advertise_ip, port, &dialer, &tasks, &stop).await?)
        }
        _ => None,
    };
    let backend = match server {
        Some(s) => {
            // On the server's own tracker: they stop with it.
            s.spawn_leader_duties(
                cluster::GossipMembership(gossip.clone()),
                cluster::leader_config(&cfg),
            );
            Backend::Local(s)
        }
        None => {
            let remote = Arc::new(
                Remote::new(dialer, tasks.clone(), stop.child_token())
                    .hold_for(cfg.rpc_hold_timeout),
            );
            tasks.spawn(cluster::run_server_list(
                gossip.clone(),
                remote.clone(),
                cfg.datacenter.clone(),
                stop.child_token(),
            ));
            Backend::Remote(remote)
        }
    };

    let mut listeners = Vec::new();
    if let Some(port) = cfg.ports.http {
        for ip in &cfg.client_addr {
            listeners.push((listen(SocketAddr::new(*ip, port)).await?, None));
        }
    }
    if let (Some(port), Some(https)) = (cfg.ports.https, &tls.https) {
        for ip in &cfg.client_addr {
            listeners.push((
                listen(SocketAddr::new(*ip, port)).await?,
                Some(https.clone()),
            ));
        }
    }
    let http_addrs: Vec<SocketAddr> = listeners
        .iter()
        .filter(|(_, tls)| tls.is_none())
        .filter_map(|(l, _)| l.local_addr().ok())
        .collect();
    let https_addrs: Vec<SocketAddr> = listeners
        .iter()
        .filter(|(_, tls)| tls.is_some())
        .filter_map(|(l, _)| l.local_addr().ok())
        .collect();
    let first = http_addrs
        .first()
        .or(https_addrs.first())
        .copied()
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
    let backend = Arc::new(backend);
    let local = LocalState::load(data_dir.as_deref());
    local.set_check_update_interval(cfg.check_update_interval);
    register_from_config(&cfg, &local)?;
    let watches = crate::watches::from_config(&cfg.raw)?;
    let templates = crate::templates::from_config(&cfg.raw)?;
    let mut dns_sockets = Vec::new();
    if let Some(port) = cfg.ports.dns {
        for ip in &cfg.client_addr {
            dns_sockets.push(crate::dns::bind(SocketAddr::new(*ip, port)).await?);
        }
    }
    let dns_addrs: Vec<SocketAddr> = dns_sockets
        .iter()
        .filter_map(|(udp, _)| udp.local_addr().ok())
        .collect();
    tasks.spawn(crate::checks::reap::run_reaper(
        local.clone(),
        stop.child_token(),
    ));
    let mut state = AppState::new(
        cfg.clone(),
        node_id,
        backend,
        local,
        gossip.clone(),
        stop.clone(),
        first,
    );
    state.metrics = metrics;
    state.wan = wan;
    let state = Arc::new(state);
    tasks.spawn(local::run_anti_entropy(
        state.local.clone(),
        state.backend.clone(),
        state.acl.clone(),
        local::NodeInfo {
            name: cfg.node_name.clone(),
            id: node_id.to_string(),
            address: advertise_ip.to_string(),
            datacenter: cfg.datacenter.clone(),
        },
        {
            let gossip = gossip.clone();
            move || gossip.members().len()
        },
        stop.child_token(),
    ));
    if !cfg.disable_coordinates {
        tasks.spawn(crate::coordinate::run_coordinate_sync(
            gossip.clone(),
            state.backend.clone(),
            state.acl.clone(),
            cfg.node_name.clone(),
            stop.child_token(),
        ));
    }
    let router = http::router(state.clone());
    for w in watches {
        tasks.spawn(crate::watches::run(w, state.clone(), stop.child_token()));
    }
    if !templates.is_empty() {
        match crate::templates::agent_url(&http_addrs) {
            Some(url) => {
                tasks.spawn(crate::templates::run(
                    templates,
                    url,
                    cfg.clone(),
                    stop.child_token(),
                ));
            }
            None => tracing::error!(
                "template blocks need an HTTP listener (ports.http); they do not run"
            ),
        }
    }
    // Check runners go on the same tracker: shutdown waits for them too.
    tasks.spawn(crate::checks::run_supervisor(
        state.local.clone(),
        state.checks.clone(),
        state.backend.clone(),
        state.acl.clone(),
        tasks.clone(),
        stop.child_token(),
    ));
    for (l, tls) in listeners {
        tasks.spawn(http::serve(
            l,
            router.clone(),
            state.connections.clone(),
            tls,
            stop.child_token(),
        ));
    }
    if !dns_sockets.is_empty() {
        let dns = crate::dns::Dns::new(state.clone(), tasks.clone(), stop.child_token());
        for (udp, tcp) in dns_sockets {
            crate::dns::spawn(&dns, udp, tcp, &stop);
        }
    }
    tracing::info!(node = %cfg.node_name, id = %node_id, dc = %cfg.datacenter, server = cfg.server, dev = cfg.dev, "agent started");
    let failed = match state.backend.server() {
        Some(server) => server.failed(),
        None => CancellationToken::new(),
    };
    Ok(Agent {
        state,
        tasks,
        stop,
        http_addrs,
        https_addrs,
        dns_addrs,
        failed,
        tls,
    })
}

impl Agent {
    /// The addresses the HTTP API listens on.
    pub fn http_addrs(&self) -> &[SocketAddr] {
        &self.http_addrs
    }

    /// The addresses the HTTPS API listens on.
    pub fn https_addrs(&self) -> &[SocketAddr] {
        &self.https_addrs
    }

    /// The addresses the DNS interface listens on (UDP and TCP, same port).
    pub fn dns_addrs(&self) -> &[SocketAddr] {
        &self.dns_addrs
    }

    /// This agent's gossip membership.
    pub fn gossip(&self) -> &Gossip {
        &self.state.gossip
    }

    /// The server this agent hosts, if it is one.
    pub fn server(&self) -> Option<&Server> {
        self.state.backend.server()
    }

    /// Applies a reloaded configuration (what can change at run time:
    /// limits, TLS certificates and keys, and the log level, which the
    /// caller applies to the subscriber).
    ///
    /// # Errors
    /// A TLS file that cannot be used: nothing was changed, the previous
    /// certificates stay in use.
    pub fn reload(&self, cfg: RuntimeConfig) -> Result<(), AgentError> {
        self.tls.reload(&cfg)?;
        let old = self.state.config();
        if (
            &old.encrypt,
            old.encrypt_verify_incoming,
            old.encrypt_verify_outgoing,
        ) != (
            &cfg.encrypt,
            cfg.encrypt_verify_incoming,
            cfg.encrypt_verify_outgoing,
        ) {
            // As in Consul: the keyring changes through `praetor keyring`.
            tracing::warn!(
                "encrypt and encrypt_verify_* take effect at the next start; \
                 rotate gossip keys with praetor keyring"
            );
        }
        self.state.set_config(cfg);
        tracing::info!("configuration reloaded");
        Ok(())
    }

    /// The reloads asked for through `PUT /v1/agent/reload`, for the one
    /// caller that can load the config files again (the `agent` command);
    /// `None` once taken. Each is answered with how it went. Without a
    /// taker the endpoint answers that this agent cannot reload.
    pub fn reload_requests(
        &self,
    ) -> Option<tokio::sync::mpsc::Receiver<crate::http::ReloadRequest>> {
        self.state
            .reload_requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }

    /// Cancelled when this agent's server can go on no longer (its Raft log
    /// could not be written, or Raft stopped on another fatal error); the
    /// caller shuts the agent down and exits with a failure, so gossip
    /// marks the node failed and autopilot replaces it. `failure` says why.
    pub fn failed(&self) -> CancellationToken {
        self.failed.clone()
    }

    /// Why the server stopped, once `failed` fired.
    pub fn failure(&self) -> Option<String> {
        self.state.backend.server().and_then(Server::failure)
    }

    /// Cancelled once the agent has left the cluster through
    /// `PUT /v1/agent/leave`; the caller then shuts it down.
    pub fn left(&self) -> CancellationToken {
        self.state.leave_requested.clone()
    }

    /// Stops every task and the server, waiting at most `deadline` for
    /// tasks. With `leave`, first leaves the cluster gracefully (others see
    /// this node as `left`, not `failed`).
    pub async fn shutdown(self, deadline: Duration, leave: bool) {
        if leave && !self.state.leave_requested.is_cancelled() {
            cluster::leave(&self.state).await;
        }
        self.stop.cancel();
        self.tasks.close();
        if tokio::time::timeout(deadline, self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("some tasks did not stop within {:?}", deadline);
        }
        if let Some(server) = self.state.backend.server() {
            server.shutdown().await;
        }
        tracing::info!("agent stopped");
    }
}

/// The agent's TLS: the HTTPS listener's config and server RPC's, both
/// replaced whole on reload.
pub(crate) struct AgentTls {
    https: Option<http::listener::Https>,
    rpc: Option<Arc<praetor_server::rpc::RpcTls>>,
}

impl AgentTls {
    /// Loads every file the TLS settings name; refuses the first that
    /// cannot be used. The gRPC interface's files are checked too,
    /// although Praetor has no gRPC port.
    fn load(cfg: &RuntimeConfig) -> Result<AgentTls, AgentError> {
        let https = match cfg.ports.https {
            Some(_) => Some(Arc::new(praetor_tls::Reloadable::new(https_config(cfg)?))),
            None => None,
        };
        let rpc =
            praetor_server::rpc::RpcTls::new(&cfg.tls.internal_rpc, &cfg.datacenter, &cfg.domain)?;
        if cfg.tls.grpc.is_configured() {
            praetor_tls::Material::load(&cfg.tls.grpc, "grpc")?;
        }
        Ok(AgentTls { https, rpc })
    }

    /// Loads the files again and swaps them in, all or nothing: the
    /// previous ones stay in use when any cannot be.
    fn reload(&self, cfg: &RuntimeConfig) -> Result<(), AgentError> {
        let https = match &self.https {
            Some(_) => Some(https_config(cfg)?),
            None => None,
        };
        if let Some(rpc) = &self.rpc {
            rpc.reload(&cfg.tls.internal_rpc)?;
        }
        if let (Some(slot), Some(new)) = (&self.https, https) {
            slot.set(new);
        }
        Ok(())
    }
}

/// The HTTPS listener's rustls config from `tls.https`.
fn https_config(cfg: &RuntimeConfig) -> Result<Arc<rustls::ServerConfig>, praetor_tls::TlsError> {
    let settings = &cfg.tls.https;
    let material = praetor_tls::Material::load(settings, "https")?;
    praetor_tls::server_config(settings, &material, "https", &[b"http/1.1"])
}
