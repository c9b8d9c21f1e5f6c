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
use crate::{identity, AgentError};

/// A running agent.
pub struct Agent {
    state: Arc<AppState>,
    tasks: TaskTracker,
    stop: CancellationToken,
    http_addrs: Vec<SocketAddr>,
}

/// Starts an agent: its server (when it is one), then its HTTP listeners.
///
/// # Errors
/// When the data dir, the Raft storage or a listener cannot be used.
pub async fn start(cfg: RuntimeConfig, stop: CancellationToken) -> Result<Agent, AgentError> {
    let tasks = TaskTracker::new();
    let data_dir = if cfg.dev { None } else { cfg.data_dir.clone() };
    let node_id = identity::node_id(cfg.node_id.as_deref(), data_dir.as_deref())?;
    let mut rpc_listener = None;
    let server = if cfg.server {
        let advertise_ip = cfg
            .advertise_addr
            .unwrap_or(if cfg.bind_addr.is_unspecified() {
                cfg.client_addr.first().copied().unwrap_or(cfg.bind_addr)
            } else {
                cfg.bind_addr
            });
        let mut rpc_port = cfg.ports.server.unwrap_or(8300);
        if let Some(port) = cfg.ports.server {
            let addr = SocketAddr::new(cfg.bind_addr, port);
            let l = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|source| AgentError::Listen {
                    addr: addr.to_string(),
                    source,
                })?;
            rpc_port = l.local_addr().map_or(port, |a| a.port());
            rpc_listener = Some(l);
        }
        let server_cfg = ServerConfig {
            node_id: identity::raft_id(&node_id),
            rpc_addr: SocketAddr::new(advertise_ip, rpc_port).to_string(),
            data_dir: data_dir.clone(),
            snapshot_threshold: cfg.raft_snapshot_threshold,
            trailing_logs: cfg.raft_trailing_logs,
            history_limit: cfg.kv_history_limit,
            bootstrap: cfg.dev || cfg.bootstrap || cfg.bootstrap_expect == 1,
            leader_wait: Duration::from_secs(7),
            stop: stop.child_token(),
        };
        Some(Server::start(server_cfg).await?)
    } else {
        None
    };
    if let (Some(l), Some(server)) = (rpc_listener, &server) {
        tasks.spawn(praetor_server::rpc::serve(
            l,
            Arc::new(server.clone()),
            stop.child_token(),
        ));
    }

    let mut listeners = Vec::new();
    if let Some(port) = cfg.ports.http {
        for ip in &cfg.client_addr {
            let addr = SocketAddr::new(*ip, port);
            let l = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|source| AgentError::Listen {
                    addr: addr.to_string(),
                    source,
                })?;
            listeners.push(l);
        }
    }
    let http_addrs: Vec<SocketAddr> = listeners
        .iter()
        .filter_map(|l| l.local_addr().ok())
        .collect();
    let first = http_addrs
        .first()
        .copied()
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
    let backend = match server {
        Some(s) => Backend::Local(s),
        None => Backend::Remote(Remote::default()),
    };
    let state = Arc::new(AppState::new(
        cfg.clone(),
        node_id,
        backend,
        stop.clone(),
        first,
    ));
    let router = http::router(state.clone());
    for l in listeners {
        tasks.spawn(http::serve(l, router.clone(), stop.child_token()));
    }
    tracing::info!(node = %cfg.node_name, id = %node_id, dc = %cfg.datacenter, server = cfg.server, dev = cfg.dev, "agent started");
    Ok(Agent {
        state,
        tasks,
        stop,
        http_addrs,
    })
}

impl Agent {
    /// The addresses the HTTP API listens on.
    pub fn http_addrs(&self) -> &[SocketAddr] {
        &self.http_addrs
    }

    /// The server this agent hosts, if it is one.
    pub fn server(&self) -> Option<&Server> {
        self.state.server.as_ref()
    }

    /// Applies a reloaded configuration (what can change at run time:
    /// limits and the log level, which the caller applies to the subscriber).
    pub fn reload(&self, cfg: RuntimeConfig) {
        self.state.set_config(cfg);
        tracing::info!("configuration reloaded");
    }

    /// Stops every task and the server, waiting at most `deadline` for tasks.
    pub async fn shutdown(self, deadline: Duration) {
        self.stop.cancel();
        self.tasks.close();
        if tokio::time::timeout(deadline, self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("some tasks did not stop within {:?}", deadline);
        }
        if let Some(server) = &self.state.server {
            server.shutdown().await;
        }
        tracing::info!("agent stopped");
    }
}
