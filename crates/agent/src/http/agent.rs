//! `/v1/agent/members`, membership changes and `/v1/agent/metrics`, in
//! Consul's shapes (`/v1/agent/self` is `agent_self`'s).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use praetor_acl::{Access, Global, Resource};
use praetor_api::agent::{member_status, Member};

use super::error::ApiError;
use super::extract::{Caller, Path};
use super::query::Params;
use super::AppState;
use crate::metrics::rss_bytes;

pub use super::agent_self::agent_self;

/// The address this agent advertises to others.
pub fn advertise_ip(state: &AppState) -> IpAddr {
    let cfg = state.config();
    cfg.advertise_addr
        .or_else(|| (!cfg.bind_addr.is_unspecified()).then_some(cfg.bind_addr))
        .unwrap_or_else(|| state.http_addr.ip())
}

/// A gossip member in Consul's shape (Serf's tags as Consul sets them).
pub fn to_api_member(m: &praetor_gossip::Member) -> Member {
    let t = &m.tags;
    let mut tags = BTreeMap::new();
    tags.insert("role".into(), t.role.serf_tag().to_owned());
    tags.insert("dc".into(), t.datacenter.clone());
    tags.insert("id".into(), t.node_id.clone());
    tags.insert("build".into(), format!("{}:praetor", t.build));
    tags.insert("vsn".into(), t.protocol.to_string());
    tags.insert("vsn_min".into(), "2".into());
    tags.insert("vsn_max".into(), "3".into());
    tags.insert("segment".into(), String::new());
    if let Some(rpc) = t.rpc_addr {
        tags.insert("port".into(), rpc.port().to_string());
        tags.insert("raft_vsn".into(), praetor_api::RAFT_PROTOCOL.to_string());
        tags.insert("expect".into(), t.bootstrap_expect.to_string());
    }
    Member {
        name: m.name.clone(),
        addr: m.addr.ip().to_string(),
        port: m.addr.port(),
        tags,
        status: match m.status {
            praetor_gossip::MemberStatus::Alive => member_status::ALIVE,
            praetor_gossip::MemberStatus::Leaving => member_status::LEAVING,
            praetor_gossip::MemberStatus::Left => member_status::LEFT,
            praetor_gossip::MemberStatus::Failed => member_status::FAILED,
        },
        protocol_min: 1,
        protocol_max: 5,
        protocol_cur: 2,
        delegate_min: 2,
        delegate_max: 5,
        delegate_cur: 4,
    }
}

/// `GET /v1/agent/members`: the gossip members this agent sees, itself
/// included, failed and left ones until they are reaped; with `?wan`,
/// the WAN pool's servers of every datacenter (none on a client agent,
/// which is in no WAN pool, as Consul's answers).
/// Only the members whose node the token may read.
pub async fn members(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let p = Params::parse(q.as_deref());
    p.check()?;
    let authz = state.authorize(&caller).await?;
    let pool = if p.flag("wan") {
        state.wan.as_ref().map(praetor_gossip::Gossip::members)
    } else {
        Some(state.gossip.members())
    };
    let mut list: Vec<Member> = pool.unwrap_or_default().iter().map(to_api_member).collect();
    let before = list.len();
    list.retain(|m| authz.allows(Resource::Node, &m.name, Access::Read));
    list.sort_by(|a, b| a.name.cmp(&b.name));
    let mut headers = axum::http::HeaderMap::new();
    if list.len() != before {
        headers.insert(
            "X-Consul-Results-Filtered-By-ACLs",
            axum::http::HeaderValue::from_static("true"),
        );
    }
    Ok((headers, Json(list)).into_response())
}

/// `PUT /v1/agent/join/<address>`: joins the gossip pool through
/// `address`; with `?wan`, the WAN pool (servers only: a client agent
/// answers 500 "Must be a server to join WAN cluster", as Consul's).
pub async fn join(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(addr): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<(), ApiError> {
    let p = Params::parse(q.as_deref());
    p.check()?;
    state.require_agent(&caller, Access::Write).await?;
    let pool = if p.flag("wan") {
        state
            .wan
            .as_ref()
            .ok_or_else(|| ApiError::Failed("Must be a server to join WAN cluster".into()))?
    } else {
        &state.gossip
    };
    pool.join(&[addr])
        .await
        .map_err(|e| ApiError::Failed(e.to_string()))?;
    Ok(())
}

/// `PUT /v1/agent/leave`: leaves the pool gracefully (others see `left`),
/// then the agent shuts down, as Consul's.
pub async fn leave(State(state): State<Arc<AppState>>, caller: Caller) -> Result<(), ApiError> {
    state.require_agent(&caller, Access::Write).await?;
    crate::cluster::leave(&state).await;
    state.leave_requested.cancel();
    Ok(())
}

/// How long `PUT /v1/agent/reload` waits for the reload to be done.
const RELOAD_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// `PUT /v1/agent/reload`: loads the config files again, as SIGHUP does
/// (limits, log level, ACL tokens, TLS certificates and keys); 200 when
/// applied, 500 with the reason when the new configuration was not.
pub async fn reload(State(state): State<Arc<AppState>>, caller: Caller) -> Result<(), ApiError> {
    state.require_agent(&caller, Access::Write).await?;
    let unavailable = || {
        ApiError::Failed("this agent cannot reload: it was not started from config files".into())
    };
    let untaken = state
        .reload_requests
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .is_some();
    if untaken {
        return Err(unavailable());
    }
    let (done, answer) = tokio::sync::oneshot::channel();
    tokio::time::timeout(RELOAD_WAIT, state.reloads.send(done))
        .await
        .map_err(|_| ApiError::Failed("another reload is still running".into()))?
        .map_err(|_| unavailable())?;
    match tokio::time::timeout(RELOAD_WAIT, answer).await {
        Ok(Ok(Ok(()))) => Ok(()),
        Ok(Ok(Err(why))) => Err(ApiError::Failed(format!(
            "Failed reloading the configuration: {why}"
        ))),
        Ok(Err(_)) => Err(unavailable()),
        Err(_) => Err(ApiError::Failed(format!(
            "the reload did not finish within {RELOAD_WAIT:?}"
        ))),
    }
}

/// `PUT /v1/agent/force-leave/<node>[?prune]`: as Consul's, a failed
/// member becomes left and an alive one leaving (until it refutes);
/// `?prune` also removes a member that is not alive from the member list.
pub async fn force_leave(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(node): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<(), ApiError> {
    state
        .authorize(&caller)
        .await?
        .require_global(Global::Operator, Access::Write)?;
    let prune = Params::parse(q.as_deref()).flag("prune");
    match state.gossip.force_leave(&node, prune).await {
        Ok(()) => Ok(()),
        Err(e @ praetor_gossip::GossipError::UnknownMember { .. }) => {
            Err(ApiError::BadRequest(e.to_string()))
        }
        Err(e) => Err(ApiError::Failed(e.to_string())),
    }
}

/// Sets the gauges read now (runtime, Raft, KV, blocking queries), so
/// both forms show their current values.
pub(super) fn publish_gauges(state: &AppState) {
    let mut g = vec![
        ("consul.runtime.alloc_bytes", rss_bytes() as f64),
        (
            "consul.runtime.uptime_seconds",
            state.started.elapsed().as_secs_f64(),
        ),
    ];
    if let Some(server) = state.backend.server() {
        let m = server.raft().metrics().borrow().clone();
        let keys = server.shared().read().store.kv().len();
        g.extend([
            (
                "consul.raft.last_index",
                m.last_log_index.unwrap_or(0) as f64,
            ),
            (
                "consul.raft.applied_index",
                m.last_applied.map_or(0, |l| l.index) as f64,
            ),
            ("consul.raft.term", m.current_term as f64),
            // Consul's gauge of blocking queries the server is holding now.
            (
                "consul.rpc.queries_blocking",
                server.open_blocking_queries() as f64,
            ),
            (
                "consul.server.isLeader",
                if server.is_leader() { 1.0 } else { 0.0 },
            ),
            ("consul.kvs.keys", keys as f64),
        ]);
    }
    state.metrics.record(|| {
        for (name, v) in g {
            metrics::gauge!(name).set(v);
        }
    });
}

/// `GET /v1/agent/metrics`, JSON or (`?format=prometheus`) Prometheus text.
pub async fn metrics(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    state.require_agent(&caller, Access::Read).await?;
    let p = Params::parse(q.as_deref());
    let format = p.get("format");
    if matches!(format, None | Some("" | "prometheus")) {
        publish_gauges(&state);
    }
    match format {
        Some("prometheus") => Ok((
            [("content-type", "text/plain; version=0.0.4; charset=utf-8")],
            state.metrics.to_prometheus(),
        )
            .into_response()),
        None | Some("") => Ok(Json(state.metrics.to_json()).into_response()),
        Some(other) => Err(ApiError::BadRequest(format!(
            "Invalid format {other:?}: expected \"prometheus\" or nothing"
        ))),
    }
}
