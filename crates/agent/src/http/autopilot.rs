//! Consul's autopilot and usage operator endpoints, and leadership
//! transfer: `GET`/`PUT /v1/operator/autopilot/configuration` (CAS with
//! `?cas=`), `GET /v1/operator/autopilot/health` (429 when unhealthy),
//! `GET /v1/operator/autopilot/state`, `POST
//! /v1/operator/raft/transfer-leader` (`?id=`) and `GET
//! /v1/operator/usage`. The configuration is a Raft command; health and
//! transfers are the leader's (`praetor_server::autopilot_health`,
//! `praetor_server::transfer`). `operator:read` to read, `operator:write`
//! to change, as in Consul.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use praetor_acl::{Access, Global};
use praetor_api::autopilot::{
    AutopilotConfiguration, AutopilotServer, AutopilotState, Millis, OperatorHealthReply,
    ServerHealth, ServiceUsage, TransferLeaderResponse, UsageResponse,
};
use praetor_server::autopilot_health::RaftHealth;
use praetor_server::read::{self, Usage};
use praetor_server::Consistency;
use praetor_store::Command;

use super::error::ApiError;
use super::extract::{Body, Caller};
use super::query::{self, check_dc, Params, ReadOpts};
use super::AppState;
use crate::identity;

/// The routes of this module.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route(
            "/v1/operator/autopilot/configuration",
            get(get_configuration).put(put_configuration),
        )
        .route("/v1/operator/autopilot/health", get(health))
        .route("/v1/operator/autopilot/state", get(state))
        .route("/v1/operator/raft/transfer-leader", post(transfer_leader))
        .route("/v1/operator/usage", get(usage))
}

/// The stored configuration, or (none stored yet) the one the servers act
/// on: this agent's `autopilot` block with Consul's defaults.
async fn get_configuration(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> Result<Json<AutopilotConfiguration>, ApiError> {
    let p = Params::parse(q.as_deref());
    let opts = ReadOpts::from_params(&p, &state)?;
    let r = query::run(&state, &caller, &opts, read::AutopilotConfiguration).await?;
    let stored = r.answer.unwrap_or_else(|| {
        crate::cluster::leader_config(&state.config())
            .autopilot
            .to_stored()
    });
    Ok(Json(AutopilotConfiguration {
        cleanup_dead_servers: stored.cleanup_dead_servers,
        last_contact_threshold: Millis(stored.last_contact_threshold_ms),
        max_trailing_logs: stored.max_trailing_logs,
        min_quorum: stored.min_quorum,
        server_stabilization_time: Millis(stored.server_stabilization_time_ms),
        redundancy_zone_tag: stored.redundancy_zone_tag,
        disable_upgrade_migration: stored.disable_upgrade_migration,
        upgrade_version_tag: stored.upgrade_version_tag,
        create_index: stored.create_index,
        modify_index: stored.modify_index,
    }))
}

/// Stores a configuration; with `?cas=<ModifyIndex>` only if it is
/// unchanged since, answering `true` or `false` as Consul does.
async fn put_configuration(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    RawQuery(q): RawQuery,
    Body(body): Body,
) -> Result<Json<bool>, ApiError> {
    let p = Params::parse(q.as_deref());
    let dc = check_dc(&p, &state)?;
    let cas = match p.get("cas") {
        Some(v) => Some(
            v.parse::<u64>()
                .map_err(|e| ApiError::BadRequest(format!("Error parsing cas value: {e}")))?,
        ),
        None => None,
    };
    let conf: AutopilotConfiguration = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("Error parsing autopilot config: {e}")))?;
    let config = praetor_store::autopilot::AutopilotConfig {
        cleanup_dead_servers: conf.cleanup_dead_servers,
        last_contact_threshold_ms: conf.last_contact_threshold.0,
        max_trailing_logs: conf.max_trailing_logs,
        min_quorum: conf.min_quorum,
        server_stabilization_time_ms: conf.server_stabilization_time.0,
        redundancy_zone_tag: conf.redundancy_zone_tag,
        disable_upgrade_migration: conf.disable_upgrade_migration,
        upgrade_version_tag: conf.upgrade_version_tag,
        create_index: 0,
        modify_index: 0,
    };
    let (_, answer) = query::write(
        &state,
        &caller,
        dc.as_deref(),
        Command::AutopilotSetConfig { config, cas },
    )
    .await?;
    Ok(Json(cas.is_none() || answer.ok()))
}

/// The leader's report, after checking `operator:read`.
async fn leader_report(
    state: &AppState,
    caller: &Caller,
    q: Option<&str>,
) -> Result<RaftHealth, ApiError> {
    let dc = check_dc(&Params::parse(q), state)?;
    state
        .authorize(caller)
        .await?
        .require_global(Global::Operator, Access::Read)?;
    let hold = state.config().rpc_hold_timeout;
    Ok(state
        .backend
        .autopilot_health_in(dc.as_deref(), hold)
        .await?)
}

/// Consul's `OperatorHealthReply`; 429 when the cluster is unhealthy.
async fn health(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let report = leader_report(&state, &caller, q.as_deref()).await?;
    let status = if report.healthy {
        StatusCode::OK
    } else {
        StatusCode::TOO_MANY_REQUESTS
    };
    let reply = OperatorHealthReply {
        healthy: report.healthy,
        failure_tolerance: report.failure_tolerance,
        servers: report
            .servers
            .into_iter()
            .map(|s| ServerHealth {
                id: s.id,
                name: s.name,
                address: s.address,
                serf_status: s.serf_status,
                version: s.version,
                leader: s.leader,
                last_contact: Millis(s.last_contact_ms.unwrap_or(0)),
                last_term: s.last_term,
                last_index: s.last_index,
                healthy: s.healthy,
                voter: s.voter,
                stable_since: praetor_api::acl::format_time(s.stable_since_ms / 1000 * 1000),
            })
            .collect(),
    };
    Ok((status, Json(reply)).into_response())
}

/// Consul's `AutopilotState` (1.9+).
async fn state(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> Result<Json<AutopilotState>, ApiError> {
    let report = leader_report(&state, &caller, q.as_deref()).await?;
    let voters: Vec<String> = report
        .servers
        .iter()
        .filter(|s| s.voter)
        .map(|s| s.id.clone())
        .collect();
    let servers = report
        .servers
        .into_iter()
        .map(|s| {
            let status = match (s.leader, s.voter) {
                (true, _) => "leader",
                (false, true) => "voter",
                (false, false) => "non-voter",
            };
            (
                s.id.clone(),
                AutopilotServer {
                    id: s.id,
                    name: s.name,
                    address: s.address,
                    node_status: s.serf_status,
                    version: s.version,
                    last_contact: Millis(s.last_contact_ms.unwrap_or(0)),
                    last_term: s.last_term,
                    last_index: s.last_index,
                    healthy: s.healthy,
                    stable_since: praetor_api::acl::format_time(s.stable_since_ms / 1000 * 1000),
                    read_replica: false,
                    status: status.to_owned(),
                    meta: BTreeMap::new(),
                    node_type: "voter".to_owned(),
                },
            )
        })
        .collect();
    Ok(Json(AutopilotState {
        healthy: report.healthy,
        failure_tolerance: report.failure_tolerance,
        optimistic_failure_tolerance: report.failure_tolerance,
        servers,
        leader: report.leader,
        voters,
    }))
}

/// Hands leadership to the server `?id=` names (node ID or Raft id), or to
/// any other voter; `{"Success":true}` once it leads.
async fn transfer_leader(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> Result<Json<TransferLeaderResponse>, ApiError> {
    let p = Params::parse(q.as_deref());
    query::only_local_dc(&p, &state, "transferring leadership")?;
    state
        .authorize(&caller)
        .await?
        .require_global(Global::Operator, Access::Write)?;
    let target = match p.get("id").filter(|id| !id.is_empty()) {
        Some(id) => Some(raft_id_of(id).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "Invalid id {id:?}: expected a node ID or a Raft id"
            ))
        })?),
        None => None,
    };
    state.backend.transfer_leader(target).await?;
    Ok(Json(TransferLeaderResponse { success: true }))
}

/// The Raft id a server is named by: its node UUID or the number itself.
fn raft_id_of(id: &str) -> Option<u64> {
    match uuid::Uuid::parse_str(id) {
        Ok(u) => Some(identity::raft_id(&u)),
        Err(_) => id.parse().ok(),
    }
}

/// Consul's usage counts for this datacenter, with the read's meta.
async fn usage(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let p = Params::parse(q.as_deref());
    let opts = ReadOpts::from_params(&p, &state)?;
    let r = query::run(&state, &caller, &opts, Usage).await?;
    let headers = query::headers_of(&r, opts.consistency);
    let counts = r.answer;
    let connect = [
        "connect-native",
        "connect-proxy",
        "ingress-gateway",
        "mesh-gateway",
        "terminating-gateway",
    ]
    .into_iter()
    .map(|k| (k.to_owned(), 0))
    .collect();
    let body = UsageResponse {
        usage: BTreeMap::from([(
            state.config().datacenter.clone(),
            ServiceUsage {
                services: counts.services,
                service_instances: counts.service_instances,
                connect_service_instances: connect,
                billable_service_instances: counts.billable_service_instances,
                nodes: counts.nodes,
            },
        )]),
        index: r.index,
        last_contact: r.meta.last_contact_ms,
        known_leader: r.meta.known_leader,
        consistency_level: match opts.consistency {
            Consistency::Stale => "stale",
            Consistency::Consistent => "consistent",
            Consistency::Default => "leader",
        }
        .to_owned(),
        not_modified: false,
        backend: 0,
        results_filtered_by_acls: r.filtered,
    };
    Ok((headers, Json(body)).into_response())
}
