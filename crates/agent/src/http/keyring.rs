//! `/v1/operator/keyring`: the gossip encryption keyring across the pool,
//! as Consul's — `GET` lists the keys every member holds, `POST` installs a
//! key, `PUT` makes it primary, `DELETE` removes it (body `{"Key": …}`).
//! Owns the request checks and Consul's answer shapes; the operation itself
//! is the gossip crate's key query. A request refused here (bad body or
//! key, encryption off, removing the primary key, using a key not
//! installed) changes nothing anywhere.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use axum::Json;
use praetor_acl::{Access, Global};
use praetor_api::operator::{KeyringRequest, KeyringResponse};
use praetor_gossip::{GossipError, KeyOp, KeyResponse};

use super::error::ApiError;
use super::extract::{Body, Caller};
use super::query::{only_local_dc, Params};
use super::AppState;

/// How long a keyring operation waits for the members' answers.
const KEYRING_TIMEOUT: Duration = Duration::from_secs(5);

/// Consul's largest relay factor.
const MAX_RELAY_FACTOR: u8 = 5;

/// `GET /v1/operator/keyring`: every key and primary key with how many
/// members hold it (ACL `keyring:read`).
pub async fn list(
    state: State<Arc<AppState>>,
    caller: Caller,
    q: RawQuery,
) -> Result<Response, ApiError> {
    handle(state, caller, q, Method::GET, None).await
}

/// `POST /v1/operator/keyring`: installs a key on every member (ACL
/// `keyring:write`).
pub async fn install(
    state: State<Arc<AppState>>,
    caller: Caller,
    q: RawQuery,
    body: Body,
) -> Result<Response, ApiError> {
    handle(state, caller, q, Method::POST, Some(body)).await
}

/// `PUT /v1/operator/keyring`: makes an installed key primary everywhere.
pub async fn use_key(
    state: State<Arc<AppState>>,
    caller: Caller,
    q: RawQuery,
    body: Body,
) -> Result<Response, ApiError> {
    handle(state, caller, q, Method::PUT, Some(body)).await
}

/// `DELETE /v1/operator/keyring`: removes a key that is not primary.
pub async fn remove(
    state: State<Arc<AppState>>,
    caller: Caller,
    q: RawQuery,
    body: Body,
) -> Result<Response, ApiError> {
    handle(state, caller, q, Method::DELETE, Some(body)).await
}

async fn handle(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    RawQuery(q): RawQuery,
    method: Method,
    body: Option<Body>,
) -> Result<Response, ApiError> {
    let p = Params::parse(q.as_deref());
    only_local_dc(&p, &state, "the keyring endpoint")?;
    // Consul's order: the body, then the relay factor and local-only.
    let key = match body {
        Some(Body(bytes)) => {
            let req: KeyringRequest = super::json_body(&bytes)?;
            Some(req.key)
        }
        None => None,
    };
    if let Some(raw) = p.get("relay-factor") {
        let n: i64 = raw
            .parse()
            .map_err(|e| ApiError::BadRequest(format!("Error parsing relay factor: {e}")))?;
        if !(0..=i64::from(MAX_RELAY_FACTOR)).contains(&n) {
            return Err(ApiError::BadRequest(
                "Invalid relay-factor: Relay factor must be in range: [0, 5]".into(),
            ));
        }
    }
    if let Some(raw) = p.get("local-only") {
        let local = parse_bool(raw)
            .ok_or_else(|| ApiError::BadRequest(format!("Error parsing local-only: {raw:?}")))?;
        if local && method != Method::GET {
            return Err(ApiError::BadRequest(
                "Invalid use of local-only: local-only can only be set for list requests".into(),
            ));
        }
    }
    let access = if method == Method::GET {
        Access::Read
    } else {
        Access::Write
    };
    state
        .authorize(&caller)
        .await?
        .require_global(Global::Keyring, access)?;
    let cfg = state.config();
    if !cfg.server {
        return Err(ApiError::Failed(
            "keyring operations must run against a server node".into(),
        ));
    }
    let key = key.unwrap_or_default();
    let op = match method {
        Method::POST => KeyOp::Install(key),
        Method::PUT => KeyOp::Use(key),
        Method::DELETE => KeyOp::Remove(key),
        _ => KeyOp::List,
    };
    let listing = op == KeyOp::List;
    let found = state
        .gossip
        .key_operation(op, KEYRING_TIMEOUT)
        .await
        .map_err(refused)?;
    let pool = describe(&cfg.datacenter, found);
    if let Some(error) = pool_error(&pool) {
        return Err(ApiError::Failed(error));
    }
    if listing {
        Ok(Json(vec![pool]).into_response())
    } else {
        Ok(().into_response())
    }
}

/// Go's `strconv.ParseBool`.
fn parse_bool(raw: &str) -> Option<bool> {
    match raw {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// A refusal before anything changed is the request's fault (400); any
/// other failure is the agent's (500).
fn refused(e: GossipError) -> ApiError {
    match e {
        GossipError::InvalidKey(_)
        | GossipError::KeyNotInstalled
        | GossipError::RemovePrimaryKey
        | GossipError::NoKeyring
        | GossipError::KeyringEmpty => ApiError::BadRequest(e.to_string()),
        other => ApiError::Failed(other.to_string()),
    }
}

/// The LAN pool's answer in Consul's shape.
fn describe(datacenter: &str, r: KeyResponse) -> KeyringResponse {
    KeyringResponse {
        wan: false,
        datacenter: datacenter.to_owned(),
        segment: String::new(),
        messages: r.messages,
        keys: r.keys,
        primary_keys: r.primary_keys,
        num_nodes: r.num_nodes,
        num_resp: r.num_resp,
        num_err: r.num_err,
    }
}

/// Consul's `keyringErrorsOrNil`, on one line: the pool, Serf's verdict,
/// then each member's message.
fn pool_error(pool: &KeyringResponse) -> Option<String> {
    let verdict = if pool.num_err != 0 {
        format!("{}/{} nodes reported failure", pool.num_err, pool.num_nodes)
    } else if pool.num_resp != pool.num_nodes {
        format!(
            "{}/{} nodes reported success",
            pool.num_resp, pool.num_nodes
        )
    } else {
        return None;
    };
    let mut line = format!("{} (LAN) error: {verdict}", pool.datacenter);
    for (node, message) in &pool.messages {
        line.push_str(&format!("; {node}: {}", one_line(message)));
    }
    Some(line)
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pool_with_failures_or_silent_members_is_one_line_in_consuls_words() {
        let mut pool = KeyringResponse {
            datacenter: "dc1".into(),
            num_nodes: 3,
            num_resp: 3,
            ..Default::default()
        };
        assert_eq!(pool_error(&pool), None);
        pool.num_err = 1;
        pool.messages
            .insert("n2".into(), "Requested key is not\nin the keyring".into());
        assert_eq!(
            pool_error(&pool).unwrap(),
            "dc1 (LAN) error: 1/3 nodes reported failure; n2: Requested key is not in the keyring"
        );
        pool.num_err = 0;
        pool.num_resp = 2;
        pool.messages.clear();
        assert_eq!(
            pool_error(&pool).unwrap(),
            "dc1 (LAN) error: 2/3 nodes reported success"
        );
    }
}
