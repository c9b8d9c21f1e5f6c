//! One in-process server with its RPC listener on an ephemeral loopback
//! port, shared by the integration tests (each test file is its own crate
//! and uses what it needs).

use std::sync::Arc;
use std::time::Duration;

use praetor_server::{rpc, Server, ServerConfig};
use praetor_store::Command;
use tokio_util::sync::CancellationToken;

/// A started server, what stops it, and its RPC address.
pub struct Started {
    pub server: Server,
    pub stop: CancellationToken,
    pub addr: String,
}

/// Starts server `id` (bootstrapping a one-server cluster when
/// `bootstrap`) serving RPC on 127.0.0.1; `tune` changes the test
/// defaults (snapshots every 1000 entries, 100 trailing, a 5 s leader
/// wait, the global metrics) before it starts.
pub async fn start(id: u64, bootstrap: bool, tune: impl FnOnce(&mut ServerConfig)) -> Started {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let stop = CancellationToken::new();
    let mut cfg = ServerConfig {
        node_id: id,
        rpc_addr: addr.clone(),
        data_dir: None,
        snapshot_threshold: 1000,
        trailing_logs: 100,
        history_limit: 1000,
        bootstrap,
        leader_wait: Duration::from_secs(5),
        apply_timeout: praetor_server::APPLY_TIMEOUT,
        stop: stop.clone(),
        metrics: praetor_server::ServerMetrics::global(),
        acl: praetor_server::acl::AclConfig::default(),
    };
    tune(&mut cfg);
    let server = Server::start(cfg).await.unwrap();
    tokio::spawn(rpc::serve(listener, Arc::new(server.clone()), stop.clone()));
    Started { server, stop, addr }
}

/// `Command::KvSet` of `k` to `v`, without flags or CAS.
pub fn set(k: &str, v: &str) -> Command {
    Command::KvSet {
        key: k.into(),
        value: v.as_bytes().to_vec().into(),
        flags: 0,
        cas: None,
    }
}
