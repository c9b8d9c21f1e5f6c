//! `/v1/session/*`: Consul's session endpoints. Create, destroy and renew
//! are Raft commands (the ID is chosen here, so the command is
//! deterministic); info, node and list are blocking queries on the sessions
//! table. Validation that needs no state (TTL range, Behavior, LockDelay)
//! happens here; the store checks the node and the checks.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use praetor_api::catalog::SERF_CHECK_ID;
use praetor_api::session::{
    behavior, ServiceCheck, SessionCreated, SessionEntry, DEFAULT_LOCK_DELAY_MS, MAX_LOCK_DELAY_MS,
    TTL_MAX_SECS, TTL_MIN_SECS,
};
use praetor_server::acl::Guarded;
use praetor_server::read::{NodeSessions, SessionInfo, Sessions};
use praetor_store::{Command, Response as Applied};
use serde::Deserialize;

use super::error::ApiError;
use super::extract::{Body, Caller, Path};
use super::query::{self, Params, ReadOpts};
use super::AppState;

/// The body of `PUT /v1/session/create`, every field optional.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct CreateBody {
    name: String,
    node: String,
    /// Consul's older name for node checks.
    checks: Option<Vec<String>>,
    node_checks: Option<Vec<String>>,
    service_checks: Option<Vec<ServiceCheck>>,
    lock_delay: Option<serde_json::Value>,
    behavior: String,
    #[serde(rename = "TTL")]
    ttl: String,
}

/// Consul's `LockDelay`: a duration string, or a number read as seconds
/// below 1000 and as nanoseconds from 1000 on; at most 60 s. In ms.
fn lock_delay_ms(v: Option<&serde_json::Value>) -> Result<u64, ApiError> {
    let ms = match v {
        None | Some(serde_json::Value::Null) => DEFAULT_LOCK_DELAY_MS,
        Some(serde_json::Value::String(s)) => praetor_api::duration::parse(s)
            .map_err(|e| ApiError::BadRequest(format!("Invalid LockDelay {s:?}: {e}")))?
            .as_millis() as u64,
        Some(serde_json::Value::Number(n)) => match n.as_f64() {
            Some(x) if (0.0..1000.0).contains(&x) => (x * 1000.0) as u64,
            Some(x) if x >= 0.0 => (x / 1_000_000.0) as u64,
            _ => return Err(ApiError::BadRequest(format!("Invalid LockDelay {n}"))),
        },
        Some(other) => return Err(ApiError::BadRequest(format!("Invalid LockDelay {other}"))),
    };
    Ok(ms.min(MAX_LOCK_DELAY_MS))
}

/// Checks a session TTL as Consul does: empty or zero (no TTL), or between
/// 10 s and 24 h.
fn check_ttl(ttl: &str) -> Result<(), ApiError> {
    if ttl.is_empty() {
        return Ok(());
    }
    let d = praetor_api::duration::parse(ttl)
        .map_err(|e| ApiError::BadRequest(format!("Invalid Session TTL '{ttl}': {e}")))?;
    let (min, max) = (
        Duration::from_secs(TTL_MIN_SECS),
        Duration::from_secs(TTL_MAX_SECS),
    );
    if !d.is_zero() && (d < min || d > max) {
        return Err(ApiError::BadRequest(format!(
            "Invalid Session TTL '{ttl}', must be between [10s=24h0m0s]"
        )));
    }
    Ok(())
}

/// Builds the session a create request asks for (not yet validated
/// against the catalog).
fn session_from_body(body: CreateBody, node: &str) -> Result<SessionEntry, ApiError> {
    let behavior = match body.behavior.as_str() {
        "" | behavior::RELEASE => behavior::RELEASE,
        behavior::DELETE => behavior::DELETE,
        other => {
            return Err(ApiError::BadRequest(format!(
                "Invalid Behavior setting '{other}'"
            )))
        }
    };
    check_ttl(&body.ttl)?;
    let lock_delay = lock_delay_ms(body.lock_delay.as_ref())?;
    let mut node_checks = body.node_checks;
    if let Some(legacy) = body.checks {
        node_checks.get_or_insert_with(Vec::new).extend(legacy);
    }
    if node_checks.is_none() && body.service_checks.is_none() {
        node_checks = Some(vec![SERF_CHECK_ID.to_owned()]);
    }
    Ok(SessionEntry {
        id: uuid::Uuid::new_v4().to_string(),
        name: body.name,
        node: if body.node.is_empty() {
            node.to_owned()
        } else {
            body.node
        },
        node_checks: node_checks.filter(|c| !c.is_empty()),
        service_checks: body.service_checks.filter(|c| !c.is_empty()),
        lock_delay: lock_delay * 1_000_000,
        behavior: behavior.to_owned(),
        ttl: body.ttl,
        create_index: 0,
        modify_index: 0,
    })
}

/// `PUT /v1/session/create`: answers `{"ID": …}`.
pub async fn create(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    RawQuery(q): RawQuery,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let dc = query::check_dc(&Params::parse(q.as_deref()), &state)?;
    let body: CreateBody = if body.iter().all(u8::is_ascii_whitespace) {
        CreateBody::default()
    } else {
        super::json_body(&body)?
    };
    let entry = session_from_body(body, &state.config().node_name)?;
    let id = entry.id.clone();
    let (index, resp) = query::write(
        &state,
        &caller,
        dc.as_deref(),
        Command::SessionCreate(Box::new(entry.into())),
    )
    .await?;
    if let Applied::Refused(reason) = resp {
        return Err(ApiError::BadRequest(reason));
    }
    Ok((
        [("X-Consul-Index", index.to_string())],
        Json(SessionCreated { id }),
    )
        .into_response())
}

/// `PUT /v1/session/destroy/<id>`: answers `true`.
pub async fn destroy(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let dc = query::check_dc(&Params::parse(q.as_deref()), &state)?;
    if id.is_empty() {
        return Err(ApiError::BadRequest("Missing session".into()));
    }
    let (index, _) = query::write(
        &state,
        &caller,
        dc.as_deref(),
        Command::SessionDestroy { id },
    )
    .await?;
    Ok(([("X-Consul-Index", index.to_string())], Json(true)).into_response())
}

/// `PUT /v1/session/renew/<id>`: the session (a one-element list), or 404
/// when it no longer exists. The leader restarts its TTL timer.
pub async fn renew(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let p = Params::parse(q.as_deref());
    let dc = query::check_dc(&p, &state)?;
    let (_, resp) = query::write(
        &state,
        &caller,
        dc.as_deref(),
        Command::SessionRenew { id: id.clone() },
    )
    .await?;
    if !resp.ok() {
        return Err(ApiError::NotFound(format!("Session id '{id}' not found")));
    }
    let opts = ReadOpts {
        dc,
        ..ReadOpts::from_params(&Params::default(), &state)?
    };
    read(&state, &caller, opts, SessionInfo { id }).await
}

/// Runs a session read and answers its sessions as a list (Consul answers
/// one session as a list of one, or an empty list).
async fn read<R>(
    state: &AppState,
    caller: &Caller,
    opts: ReadOpts,
    read: R,
) -> Result<Response, ApiError>
where
    R: Guarded,
    R::Answer: IntoIterator<Item = SessionEntry>,
{
    let r = query::run(state, caller, &opts, read).await?;
    let headers = query::headers_of(&r, opts.consistency);
    let list: Vec<SessionEntry> = r.answer.into_iter().collect();
    Ok((headers, Json(list)).into_response())
}

/// `GET /v1/session/info/<id>`: a list with the session, or empty.
pub async fn info(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let opts = ReadOpts::from_params(&Params::parse(q.as_deref()), &state)?;
    read(&state, &caller, opts, SessionInfo { id }).await
}

/// `GET /v1/session/node/<node>`: the node's sessions.
pub async fn node(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(node): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let opts = ReadOpts::from_params(&Params::parse(q.as_deref()), &state)?;
    read(&state, &caller, opts, NodeSessions { node }).await
}

/// `GET /v1/session/list`: every session.
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let opts = ReadOpts::from_params(&Params::parse(q.as_deref()), &state)?;
    read(&state, &caller, opts, Sessions).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_delay_reads_strings_seconds_and_nanoseconds() {
        let ms = |v: serde_json::Value| lock_delay_ms(Some(&v)).unwrap();
        assert_eq!(lock_delay_ms(None).unwrap(), 15_000);
        assert_eq!(ms(serde_json::json!("2s")), 2_000);
        assert_eq!(ms(serde_json::json!(5)), 5_000);
        assert_eq!(ms(serde_json::json!(3_000_000_000u64)), 3_000);
        assert_eq!(ms(serde_json::json!("10m")), 60_000);
        assert!(lock_delay_ms(Some(&serde_json::json!("soon"))).is_err());
    }

    #[test]
    fn ttl_must_be_empty_zero_or_between_10s_and_24h() {
        assert!(check_ttl("").is_ok());
        assert!(check_ttl("0s").is_ok());
        assert!(check_ttl("10s").is_ok());
        assert!(check_ttl("24h").is_ok());
        assert!(check_ttl("9s").is_err());
        assert!(check_ttl("25h").is_err());
        assert!(check_ttl("ten").is_err());
    }
}
