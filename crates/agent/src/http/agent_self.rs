//! `GET /v1/agent/self` and `GET /v1/agent/version`: what this agent says
//! about itself, with every top-level key Consul's `/v1/agent/self` has
//! (`Config`, `DebugConfig`, `Coord`, `Member`, `Stats`, `Meta`, `xDS`).
//! Reads the agent's state; never changes it.

mod debug_config;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use praetor_acl::Access;
use praetor_api::agent::{AgentSelf, GrpcPorts, SelfConfig, VersionInfo, XdsSelf};
use praetor_gossip::MemberStatus;

use super::error::ApiError;
use super::extract::Caller;
use super::AppState;
use crate::config::RuntimeConfig;

pub use debug_config::{debug_config, sanitize};

/// Consul's node meta key naming the node's network segment (always the
/// default segment, `""`, in Praetor as in Consul's community edition).
pub const META_SEGMENT_KEY: &str = "consul-network-segment";

/// `GET /v1/agent/self` (needs `agent:read` on this node, as Consul's).
/// `Config.Version` is the Consul API level Praetor follows
/// ([`praetor_api::CONSUL_API_VERSION`]), `Config.PraetorVersion` its own.
pub async fn agent_self(
    State(state): State<Arc<AppState>>,
    caller: Caller,
) -> Result<Json<AgentSelf>, ApiError> {
    state.require_agent(&caller, Access::Read).await?;
    let cfg = state.config();
    let node_id = state.node_id.to_string();
    Ok(Json(AgentSelf {
        config: SelfConfig {
            datacenter: cfg.datacenter.clone(),
            primary_datacenter: cfg.primary_datacenter.clone(),
            node_name: cfg.node_name.clone(),
            node_id: node_id.clone(),
            server: cfg.server,
            revision: crate::version::REVISION.into(),
            version: praetor_api::CONSUL_API_VERSION.into(),
            build_date: crate::version::BUILD_DATE.into(),
            praetor_version: praetor_api::VERSION.into(),
        },
        debug_config: debug_config(&cfg, &node_id),
        // The agent's LAN coordinate, from its gossip round trips.
        coord: Some(state.gossip.coordinate()),
        member: super::agent::to_api_member(&state.gossip.local()),
        stats: stats(&state),
        meta: node_meta(&cfg),
        // No xDS server: no proxy versions, no gRPC port (-1, as Consul
        // shows a disabled port).
        xds: Some(XdsSelf {
            supported_proxies: BTreeMap::from([("envoy".to_owned(), Vec::new())]),
            port: -1,
            ports: GrpcPorts {
                plaintext: -1,
                tls: -1,
            },
        }),
    }))
}

/// `GET /v1/agent/version`: the build, as Consul's (no ACL needed, as in
/// Consul).
pub async fn version() -> Json<VersionInfo> {
    Json(crate::version::info())
}

/// The node's metadata as Consul's agent keeps it: `node_meta` from the
/// configuration, and the network segment.
pub fn node_meta(cfg: &RuntimeConfig) -> BTreeMap<String, String> {
    let mut meta: BTreeMap<String, String> = cfg
        .raw
        .get("node_meta")
        .and_then(serde_json::Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            let v = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
            (k.clone(), v)
        })
        .collect();
    meta.insert(META_SEGMENT_KEY.to_owned(), String::new());
    meta
}

/// `Stats`: Consul's sections with the values Praetor has.
fn stats(state: &AppState) -> BTreeMap<String, BTreeMap<String, String>> {
    let cfg = state.config();
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let s = |pairs: &[(&str, String)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    };
    out.insert("agent".into(), agent_stats(state));
    out.insert(
        "build".into(),
        s(&[
            ("prerelease", String::new()),
            ("revision", crate::version::short_revision().into()),
            ("version", praetor_api::CONSUL_API_VERSION.into()),
            ("praetor_version", praetor_api::VERSION.into()),
        ]),
    );
    out.insert("runtime".into(), runtime_stats());
    let members = state.gossip.members();
    let count = |status: MemberStatus| {
        members
            .iter()
            .filter(|m| m.status == status)
            .count()
            .to_string()
    };
    // Consul's serf_lan stats, the ones Praetor keeps (`encrypted` is how
    // an operator checks gossip encryption: `praetor info`).
    out.insert(
        "serf_lan".into(),
        s(&[
            ("encrypted", state.gossip.encrypted().to_string()),
            ("members", members.len().to_string()),
            ("failed", count(MemberStatus::Failed)),
            ("left", count(MemberStatus::Left)),
        ]),
    );
    // A server's WAN pool, the same stats (Consul's serf_wan).
    if let Some(wan) = &state.wan {
        let wan_members = wan.members();
        let wan_count = |status: MemberStatus| {
            wan_members
                .iter()
                .filter(|m| m.status == status)
                .count()
                .to_string()
        };
        out.insert(
            "serf_wan".into(),
            s(&[
                ("encrypted", wan.encrypted().to_string()),
                ("members", wan_members.len().to_string()),
                ("failed", wan_count(MemberStatus::Failed)),
                ("left", wan_count(MemberStatus::Left)),
            ]),
        );
    }
    let Some(server) = state.backend.server() else {
        let known = members
            .iter()
            .filter(|m| m.tags.rpc_addr.is_some() && m.status == MemberStatus::Alive)
            .count();
        out.insert(
            "consul".into(),
            s(&[
                ("server", "false".into()),
                ("known_servers", known.to_string()),
            ]),
        );
        return out;
    };
    let m = server.raft().metrics().borrow().clone();
    out.insert(
        "consul".into(),
        s(&[
            ("server", "true".into()),
            ("leader", server.is_leader().to_string()),
            (
                "leader_addr",
                server
                    .leader()
                    .and_then(|id| server.voters().into_iter().find(|v| v.0 == id))
                    .map(|v| v.1)
                    .unwrap_or_default(),
            ),
            (
                "bootstrap",
                (cfg.dev || cfg.bootstrap || cfg.bootstrap_expect == 1).to_string(),
            ),
            ("known_datacenters", server.datacenters().len().to_string()),
        ]),
    );
    let applied = m.last_applied.map_or(0, |l| l.index).to_string();
    out.insert(
        "raft".into(),
        s(&[
            ("state", format!("{:?}", m.state)),
            ("term", m.current_term.to_string()),
            ("last_log_index", m.last_log_index.unwrap_or(0).to_string()),
            ("applied_index", applied.clone()),
            ("commit_index", applied),
            (
                "last_snapshot_index",
                m.snapshot.map_or(0, |l| l.index).to_string(),
            ),
            (
                "last_snapshot_term",
                m.snapshot.map_or(0, |l| l.leader_id.term).to_string(),
            ),
            (
                "latest_configuration_index",
                m.membership_config
                    .log_id()
                    .map_or(0, |l| l.index)
                    .to_string(),
            ),
            (
                "num_peers",
                server.voters().len().saturating_sub(1).to_string(),
            ),
            ("protocol_version", cfg.raft_protocol.to_string()),
            ("protocol_version_min", "0".into()),
            (
                "protocol_version_max",
                praetor_api::RAFT_PROTOCOL.to_string(),
            ),
        ]),
    );
    out
}

/// Consul's `agent` stats: the services and checks this agent owns, and
/// its script (`check_monitors`) and TTL (`check_ttls`) checks.
fn agent_stats(state: &AppState) -> BTreeMap<String, String> {
    let owned = state.local.owned();
    let kind = |name: &str| {
        owned
            .checks
            .values()
            .filter(|c| c.kind_name() == name)
            .count()
            .to_string()
    };
    BTreeMap::from([
        ("check_monitors".to_owned(), kind("script")),
        ("check_ttls".to_owned(), kind("ttl")),
        ("checks".to_owned(), owned.checks.len().to_string()),
        ("services".to_owned(), owned.services.len().to_string()),
    ])
}

/// Consul's `runtime` stats, for Praetor's runtime: tokio's workers
/// (`max_procs`) and live tasks (`goroutines`), and the compiler that
/// built it (`version`).
fn runtime_stats() -> BTreeMap<String, String> {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut out = BTreeMap::from([
        ("arch".to_owned(), std::env::consts::ARCH.to_owned()),
        ("os".to_owned(), std::env::consts::OS.to_owned()),
        ("cpu_count".to_owned(), cpus.to_string()),
        ("version".to_owned(), crate::version::RUSTC.to_owned()),
    ]);
    if let Ok(rt) = tokio::runtime::Handle::try_current() {
        let m = rt.metrics();
        out.insert("max_procs".into(), m.num_workers().to_string());
        out.insert("goroutines".into(), m.num_alive_tasks().to_string());
    }
    out
}
