//! `/v1/acl/*`: Consul's ACL API — bootstrap, tokens, policies and roles —
//! and `PUT /v1/agent/token/<type>`. Every change is a Raft command the
//! leader checks against the caller's token (`acl:write`); reads need
//! `acl:read` (a token may always read itself). Names of linked policies
//! and roles are resolved to IDs here, before the command is proposed; the
//! store refuses links to objects that do not exist. With ACLs disabled
//! every endpoint answers 401 "ACL support disabled", as Consul's.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use praetor_api::acl::{
    format_time, parse_time, AclPolicy, AclRole, AclToken, AgentTokenRequest, BootstrapRequest,
    Link, NodeIdentity, PolicyRequest, RoleRequest, ServiceIdentity, TokenRequest,
};
use praetor_server::acl::{now_ms, record_hash, AclError, Token};
use praetor_server::read::{
    AclPolicyList, AclPolicyRead, AclRoleAnswer, AclRoleList, AclRoleRead, AclTokenAnswer,
    AclTokenList, AclTokenRead,
};
use praetor_server::Answered;
use praetor_store::acl::{self as model, AclCommand};
use praetor_store::{Command, Response as Applied};

use super::error::ApiError;
use super::extract::{Body, Caller, Path};
use super::query::{self, Params, ReadOpts};
use super::AppState;

/// Longest rules text a policy may have (the rule parser's own bound).
const MAX_RULES: usize = 128 * 1024;
/// Most links, identities or datacenters one object may carry.
const MAX_LINKS: usize = 256;

/// The ACL routes.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/v1/acl/bootstrap", put(bootstrap))
        .route("/v1/acl/token", put(token_create))
        .route("/v1/acl/token/self", get(token_self))
        .route(
            "/v1/acl/token/{id}",
            get(token_read).put(token_update).delete(token_delete),
        )
        .route("/v1/acl/token/{id}/clone", put(token_clone))
        .route("/v1/acl/tokens", get(token_list))
        .route("/v1/acl/policy", put(policy_create))
        .route(
            "/v1/acl/policy/{id}",
            get(policy_read).put(policy_update).delete(policy_delete),
        )
        .route("/v1/acl/policy/name/{name}", get(policy_read_by_name))
        .route("/v1/acl/policies", get(policy_list))
        .route("/v1/acl/role", put(role_create))
        .route(
            "/v1/acl/role/{id}",
            get(role_read).put(role_update).delete(role_delete),
        )
        .route("/v1/acl/role/name/{name}", get(role_read_by_name))
        .route("/v1/acl/roles", get(role_list))
        .route("/v1/agent/token/{kind}", put(agent_token))
}

fn enabled(state: &AppState) -> Result<(), ApiError> {
    if state.acl.enabled() {
        Ok(())
    } else {
        Err(AclError::Disabled.into())
    }
}

fn invalid(why: impl Into<String>) -> ApiError {
    AclError::Invalid(why.into()).into()
}

fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Proposes an ACL command; a refusal is a 400 with the store's reason.
async fn propose(state: &AppState, caller: &Caller, cmd: AclCommand) -> Result<u64, ApiError> {
    let (index, resp) = state
        .backend
        .write(caller.token(), Command::Acl(cmd))
        .await?;
    match resp {
        Applied::Refused(reason) => Err(invalid(reason)),
        _ => Ok(index),
    }
}

/// Proposes a delete and answers `true`, as Consul's ACL deletes do.
async fn deleted(state: &AppState, caller: &Caller, cmd: AclCommand) -> Result<Response, ApiError> {
    enabled(state)?;
    propose(state, caller, cmd).await?;
    Ok(Json(true).into_response())
}

/// A read at least as new as `index` (after a write), on the leader.
async fn read_after<R: praetor_server::acl::Guarded>(
    state: &AppState,
    caller: &Caller,
    read: R,
) -> Result<Answered<R::Answer>, ApiError> {
    let opts = ReadOpts::read(&Params::default())?;
    query::run(state, caller, &opts, read).await
}

async fn read_with<R: praetor_server::acl::Guarded>(
    state: &AppState,
    caller: &Caller,
    q: Option<&str>,
    read: R,
) -> Result<(axum::http::HeaderMap, R::Answer), ApiError> {
    let p = Params::parse(q);
    let opts = ReadOpts::from_params(&p, state)?;
    let r = query::run(state, caller, &opts, read).await?;
    Ok((query::headers_of(&r, opts.consistency), r.answer))
}

// ------------------------------------------------------------- shapes

fn links(pairs: &[(String, String)]) -> Vec<Link> {
    pairs
        .iter()
        .map(|(id, name)| Link {
            id: id.clone(),
            name: name.clone(),
        })
        .collect()
}

fn service_ids(list: &[model::ServiceIdentity]) -> Vec<ServiceIdentity> {
    list.iter()
        .map(|s| ServiceIdentity {
            service_name: s.service_name.clone(),
            datacenters: s.datacenters.clone(),
        })
        .collect()
}

fn node_ids(list: &[model::NodeIdentity]) -> Vec<NodeIdentity> {
    list.iter()
        .map(|n| NodeIdentity {
            node_name: n.node_name.clone(),
            datacenter: n.datacenter.clone(),
        })
        .collect()
}

fn token_json(a: &AclTokenAnswer) -> AclToken {
    let t = &a.token;
    AclToken {
        accessor_id: t.accessor_id.clone(),
        secret_id: t.secret_id.clone(),
        description: t.description.clone(),
        policies: links(&a.policies),
        roles: links(&a.roles),
        service_identities: service_ids(&t.service_identities),
        node_identities: node_ids(&t.node_identities),
        local: t.local,
        expiration_time: t.expiration_ms.map(format_time),
        create_time: format_time(t.create_ms),
        hash: t.hash.clone(),
        create_index: t.create_index,
        modify_index: t.modify_index,
    }
}

fn policy_json(p: &model::Policy, with_rules: bool) -> AclPolicy {
    AclPolicy {
        id: p.id.clone(),
        name: p.name.clone(),
        description: p.description.clone(),
        rules: with_rules.then(|| p.rules.clone()),
        datacenters: p.datacenters.clone(),
        hash: p.hash.clone(),
        create_index: p.create_index,
        modify_index: p.modify_index,
    }
}

fn role_json(a: &AclRoleAnswer) -> AclRole {
    let r = &a.role;
    AclRole {
        id: r.id.clone(),
        name: r.name.clone(),
        description: r.description.clone(),
        policies: links(&a.policies),
        service_identities: service_ids(&r.service_identities),
        node_identities: node_ids(&r.node_identities),
        hash: r.hash.clone(),
        create_index: r.create_index,
        modify_index: r.modify_index,
    }
}

// ------------------------------------------------------- input checks

fn bounded<T>(what: &str, list: &[T]) -> Result<(), ApiError> {
    if list.len() > MAX_LINKS {
        return Err(invalid(format!(
            "too many {what}: {} (the limit is {MAX_LINKS})",
            list.len()
        )));
    }
    Ok(())
}

/// The IDs of `links`, names looked up (with the caller's token).
async fn policy_ids(
    state: &AppState,
    caller: &Caller,
    list: &[Link],
) -> Result<Vec<String>, ApiError> {
    bounded("policies", list)?;
    let mut ids = Vec::with_capacity(list.len());
    for l in list {
        let id = if !l.id.is_empty() {
            l.id.clone()
        } else if !l.name.is_empty() {
            let found = read_after(state, caller, AclPolicyRead::ByName(l.name.clone())).await?;
            found
                .answer
                .map(|p| p.id)
                .ok_or_else(|| invalid(format!("cannot find policy {:?}", l.name)))?
        } else {
            return Err(invalid("a policy link needs an ID or a Name"));
        };
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    Ok(ids)
}

async fn role_ids(
    state: &AppState,
    caller: &Caller,
    list: &[Link],
) -> Result<Vec<String>, ApiError> {
    bounded("roles", list)?;
    let mut ids = Vec::with_capacity(list.len());
    for l in list {
        let id = if !l.id.is_empty() {
            l.id.clone()
        } else if !l.name.is_empty() {
            let found = read_after(state, caller, AclRoleRead::ByName(l.name.clone())).await?;
            found
                .answer
                .map(|r| r.role.id)
                .ok_or_else(|| invalid(format!("cannot find role {:?}", l.name)))?
        } else {
            return Err(invalid("a role link needs an ID or a Name"));
        };
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    Ok(ids)
}

fn identities(
    services: &[ServiceIdentity],
    nodes: &[NodeIdentity],
) -> Result<(Vec<model::ServiceIdentity>, Vec<model::NodeIdentity>), ApiError> {
    bounded("service identities", services)?;
    bounded("node identities", nodes)?;
    let mut s = Vec::new();
    for id in services {
        if !praetor_acl::is_valid_service_identity_name(&id.service_name) {
            return Err(invalid(format!(
                "Service identity {:?} has an invalid name. Only lowercase alphanumeric characters, '-' and '_' are allowed",
                id.service_name
            )));
        }
        s.push(model::ServiceIdentity {
            service_name: id.service_name.clone(),
            datacenters: id.datacenters.clone(),
        });
    }
    let mut n = Vec::new();
    for id in nodes {
        if id.node_name.is_empty() || id.datacenter.is_empty() {
            return Err(invalid(
                "Node identity is missing the node name or datacenter",
            ));
        }
        n.push(model::NodeIdentity {
            node_name: id.node_name.clone(),
            datacenter: id.datacenter.clone(),
        });
    }
    Ok((s, n))
}

/// An optional JSON body: none, blank or `null` is the default.
fn body<T: serde::de::DeserializeOwned + Default>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.trim_ascii().is_empty() || bytes.trim_ascii() == b"null" {
        return Ok(T::default());
    }
    super::json_body(bytes)
}

// ---------------------------------------------------------- bootstrap

async fn bootstrap(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Body(bytes): Body,
) -> Result<Response, ApiError> {
    enabled(&state)?;
    let req: BootstrapRequest = body(&bytes)?;
    let secret = if req.bootstrap_secret.is_empty() {
        uuid()
    } else {
        check_id("BootstrapSecret", &req.bootstrap_secret)?;
        req.bootstrap_secret
    };
    let accessor = uuid();
    let token = model::Token {
        hash: record_hash(&[&accessor, model::GLOBAL_MANAGEMENT_ID]),
        accessor_id: accessor.clone(),
        secret_id: secret.clone(),
        description: "Bootstrap Token (Global Management)".into(),
        policies: vec![model::GLOBAL_MANAGEMENT_ID.into()],
        create_ms: now_ms(),
        ..model::Token::default()
    };
    let (_, resp) = state
        .backend
        .write(
            caller.token(),
            Command::Acl(AclCommand::Bootstrap { token }),
        )
        .await?;
    if let Applied::Refused(reason) = resp {
        return Err(AclError::Denied(format!("Permission denied: {reason}")).into());
    }
    // Read back with the new token itself: the caller usually has none.
    token_reply(&state, &Caller(Token::new(secret)), accessor).await
}

// -------------------------------------------------------------- tokens

async fn token_reply(
    state: &AppState,
    caller: &Caller,
    accessor: String,
) -> Result<Response, ApiError> {
    let r = read_after(state, caller, AclTokenRead::ByAccessor(accessor)).await?;
    let token = r.answer.ok_or(AclError::NotFound)?;
    Ok(Json(token_json(&token)).into_response())
}

/// A token from a create or update body.
async fn token_from(
    state: &AppState,
    caller: &Caller,
    req: TokenRequest,
) -> Result<model::Token, ApiError> {
    let (services, nodes) = identities(&req.service_identities, &req.node_identities)?;
    let policies = policy_ids(state, caller, &req.policies).await?;
    let roles = role_ids(state, caller, &req.roles).await?;
    check_description(&req.description)?;
    Ok(model::Token {
        hash: record_hash(&[
            &req.description,
            &policies.join(","),
            &roles.join(","),
            &format!("{services:?}{nodes:?}"),
        ]),
        accessor_id: req.accessor_id,
        secret_id: req.secret_id,
        description: req.description,
        policies,
        roles,
        service_identities: services,
        node_identities: nodes,
        local: req.local,
        ..model::Token::default()
    })
}

/// Longest description a token, policy or role may have.
const MAX_DESCRIPTION: usize = 4096;

fn check_description(d: &str) -> Result<(), ApiError> {
    if d.len() > MAX_DESCRIPTION {
        return Err(invalid(format!(
            "Description is too long (the limit is {MAX_DESCRIPTION} bytes)"
        )));
    }
    Ok(())
}

fn check_id(what: &str, id: &str) -> Result<(), ApiError> {
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(invalid(format!("Invalid {what}: {id:?} is not a UUID")));
    }
    Ok(())
}

async fn token_create(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Body(bytes): Body,
) -> Result<Response, ApiError> {
    enabled(&state)?;
    let req: TokenRequest = body(&bytes)?;
    let now = now_ms();
    let expiration = match (&req.expiration_time, &req.expiration_ttl) {
        (Some(_), Some(_)) => {
            return Err(invalid(
                "Expiration TTL and Expiration Time cannot both be set",
            ))
        }
        (Some(t), None) => Some(parse_time(t).map_err(invalid)?),
        (None, Some(ttl)) => {
            let d = ttl
                .to_duration()
                .map_err(|e| invalid(format!("Invalid ExpirationTTL {ttl:?}: {e}")))?;
            Some(now.saturating_add(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)))
        }
        (None, None) => None,
    };
    if expiration.is_some_and(|at| at <= now) {
        return Err(invalid("ExpirationTime cannot be in the past"));
    }
    let mut token = token_from(&state, &caller, req).await?;
    if token.accessor_id.is_empty() {
        token.accessor_id = uuid();
    } else {
        check_id("AccessorID", &token.accessor_id)?;
    }
    if token.secret_id.is_empty() {
        token.secret_id = uuid();
    } else {
        check_id("SecretID", &token.secret_id)?;
    }
    token.expiration_ms = expiration;
    token.create_ms = now;
    let accessor = token.accessor_id.clone();
    propose(
        &state,
        &caller,
        AclCommand::TokenSet {
            token,
            create: true,
        },
    )
    .await?;
    token_reply(&state, &caller, accessor).await
}

async fn token_read(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    enabled(&state)?;
    let (headers, answer) =
        read_with(&state, &caller, q.as_deref(), AclTokenRead::ByAccessor(id)).await?;
    let token = answer.ok_or(AclError::NotFound)?;
    Ok((headers, Json(token_json(&token))).into_response())
}

async fn token_self(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    enabled(&state)?;
    let secret = caller
        .token()
        .secret()
        .unwrap_or(praetor_acl::ANONYMOUS_TOKEN_SECRET)
        .to_owned();
    let (headers, answer) = read_with(
        &state,
        &caller,
        q.as_deref(),
        AclTokenRead::BySecret(secret),
    )
    .await?;
    let token = answer.ok_or(AclError::NotFound)?;
    Ok((headers, Json(token_json(&token))).into_response())
}

async fn token_update(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    Body(bytes): Body,
) -> Result<Response, ApiError> {
    enabled(&state)?;
    let mut req: TokenRequest = body(&bytes)?;
    if !req.accessor_id.is_empty() && req.accessor_id != id {
        return Err(invalid("Token Accessor ID in URL and payload do not match"));
    }
    req.accessor_id = id.clone();
    req.secret_id.clear();
    let token = token_from(&state, &caller, req).await?;
    propose(
        &state,
        &caller,
        AclCommand::TokenSet {
            token,
            create: false,
        },
    )
    .await?;
    token_reply(&state, &caller, id).await
}

async fn token_delete(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    deleted(&state, &caller, AclCommand::TokenDelete { accessor_id: id }).await
}

/// The body of a clone: only the new description.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct CloneRequest {
    description: Option<String>,
}

async fn token_clone(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    Body(bytes): Body,
) -> Result<Response, ApiError> {
    enabled(&state)?;
    let req: CloneRequest = body(&bytes)?;
    let original = read_after(&state, &caller, AclTokenRead::ByAccessor(id))
        .await?
        .answer
        .ok_or(AclError::NotFound)?
        .token;
    let accessor = uuid();
    let token = model::Token {
        accessor_id: accessor.clone(),
        secret_id: uuid(),
        description: req.description.unwrap_or(original.description.clone()),
        create_ms: now_ms(),
        create_index: 0,
        modify_index: 0,
        hash: record_hash(&[&accessor, &original.hash]),
        ..original
    };
    propose(
        &state,
        &caller,
        AclCommand::TokenSet {
            token,
            create: true,
        },
    )
    .await?;
    token_reply(&state, &caller, accessor).await
}

async fn token_list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    enabled(&state)?;
    let p = Params::parse(q.as_deref());
    let read = AclTokenList {
        policy: p.get("policy").filter(|v| !v.is_empty()).map(str::to_owned),
        role: p.get("role").filter(|v| !v.is_empty()).map(str::to_owned),
    };
    let (headers, list) = read_with(&state, &caller, q.as_deref(), read).await?;
    let list: Vec<AclToken> = list.iter().map(token_json).collect();
    Ok((headers, Json(list)).into_response())
}

// ------------------------------------------------------------ policies

fn policy_from(req: PolicyRequest, id: String) -> Result<model::Policy, ApiError> {
    if req.name.is_empty() {
        return Err(invalid("Invalid Policy: no name set"));
    }
    check_description(&req.description)?;
    if !praetor_acl::is_valid_policy_name(&req.name) {
        return Err(invalid(format!(
            "Invalid Policy: invalid Name {:?}. Only alphanumeric characters, '-' and '_' are allowed",
            req.name
        )));
    }
    if req.rules.len() > MAX_RULES {
        return Err(invalid(format!(
            "Invalid Policy: rules are {} bytes; the limit is {MAX_RULES}",
            req.rules.len()
        )));
    }
    bounded("datacenters", &req.datacenters)?;
    praetor_acl::Policy::parse(&req.rules).map_err(|e| invalid(format!("Invalid Policy: {e}")))?;
    Ok(model::Policy {
        hash: record_hash(&[
            &req.name,
            &req.description,
            &req.rules,
            &req.datacenters.join(","),
        ]),
        id,
        name: req.name,
        description: req.description,
        rules: req.rules,
        datacenters: req.datacenters,
        ..model::Policy::default()
    })
}

async fn policy_reply(state: &AppState, caller: &Caller, id: String) -> Result<Response, ApiError> {
    let r = read_after(state, caller, AclPolicyRead::ById(id)).await?;
    let p = r.answer.ok_or(AclError::NotFound)?;
    Ok(Json(policy_json(&p, true)).into_response())
}

async fn policy_create(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Body(bytes): Body,
) -> Result<Response, ApiError> {
    enabled(&state)?;
    let req: PolicyRequest = body(&bytes)?;
    if !req.id.is_empty() {
        return Err(invalid("Policy ID cannot be set on create"));
    }
    let policy = policy_from(req, uuid())?;
    let id = policy.id.clone();
    propose(
        &state,
        &caller,
        AclCommand::PolicySet {
            policy,
            create: true,
        },
    )
    .await?;
    policy_reply(&state, &caller, id).await
}

async fn policy_update(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    Body(bytes): Body,
) -> Result<Response, ApiError> {
    enabled(&state)?;
    let req: PolicyRequest = body(&bytes)?;
    if !req.id.is_empty() && req.id != id {
        return Err(invalid("Policy ID in URL and payload do not match"));
    }
    let policy = policy_from(req, id.clone())?;
    propose(
        &state,
        &caller,
        AclCommand::PolicySet {
            policy,
            create: false,
        },
    )
    .await?;
    policy_reply(&state, &caller, id).await
}

async fn policy_delete(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    deleted(&state, &caller, AclCommand::PolicyDelete { id }).await
}

async fn policy_read(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    policy_answer(&state, &caller, q.as_deref(), AclPolicyRead::ById(id)).await
}

/// One policy with its rules, or 403 "ACL not found", as Consul answers.
async fn policy_answer(
    state: &AppState,
    caller: &Caller,
    q: Option<&str>,
    read: AclPolicyRead,
) -> Result<Response, ApiError> {
    enabled(state)?;
    let (headers, p) = read_with(state, caller, q, read).await?;
    let p = p.ok_or(AclError::NotFound)?;
    Ok((headers, Json(policy_json(&p, true))).into_response())
}

async fn policy_read_by_name(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    policy_answer(&state, &caller, q.as_deref(), AclPolicyRead::ByName(name)).await
}

async fn policy_list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    enabled(&state)?;
    let (headers, list) = read_with(&state, &caller, q.as_deref(), AclPolicyList).await?;
    let list: Vec<AclPolicy> = list.iter().map(|p| policy_json(p, false)).collect();
    Ok((headers, Json(list)).into_response())
}

// --------------------------------------------------------------- roles

async fn role_from(
    state: &AppState,
    caller: &Caller,
    req: RoleRequest,
    id: String,
) -> Result<model::Role, ApiError> {
    if req.name.is_empty() {
        return Err(invalid("Missing Role Name"));
    }
    check_description(&req.description)?;
    if !praetor_acl::is_valid_role_name(&req.name) {
        return Err(invalid(format!(
            "Invalid Role: invalid Name {:?}. Only alphanumeric characters, '-' and '_' are allowed",
            req.name
        )));
    }
    let (services, nodes) = identities(&req.service_identities, &req.node_identities)?;
    let policies = policy_ids(state, caller, &req.policies).await?;
    Ok(model::Role {
        hash: record_hash(&[
            &req.name,
            &req.description,
            &policies.join(","),
            &format!("{services:?}{nodes:?}"),
        ]),
        id,
        name: req.name,
        description: req.description,
        policies,
        service_identities: services,
        node_identities: nodes,
        ..model::Role::default()
    })
}

async fn role_reply(state: &AppState, caller: &Caller, id: String) -> Result<Response, ApiError> {
    let r = read_after(state, caller, AclRoleRead::ById(id)).await?;
    match r.answer {
        Some(role) => Ok(Json(role_json(&role)).into_response()),
        None => Ok(StatusCode::NOT_FOUND.into_response()),
    }
}

async fn role_create(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Body(bytes): Body,
) -> Result<Response, ApiError> {
    enabled(&state)?;
    let req: RoleRequest = body(&bytes)?;
    if !req.id.is_empty() {
        return Err(invalid("Role ID cannot be set on create"));
    }
    let role = role_from(&state, &caller, req, uuid()).await?;
    let id = role.id.clone();
    propose(&state, &caller, AclCommand::RoleSet { role, create: true }).await?;
    role_reply(&state, &caller, id).await
}

async fn role_update(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    Body(bytes): Body,
) -> Result<Response, ApiError> {
    enabled(&state)?;
    let req: RoleRequest = body(&bytes)?;
    if !req.id.is_empty() && req.id != id {
        return Err(invalid("Role ID in URL and payload do not match"));
    }
    let role = role_from(&state, &caller, req, id.clone()).await?;
    propose(
        &state,
        &caller,
        AclCommand::RoleSet {
            role,
            create: false,
        },
    )
    .await?;
    role_reply(&state, &caller, id).await
}

async fn role_delete(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    deleted(&state, &caller, AclCommand::RoleDelete { id }).await
}

/// Consul answers a missing role with an empty 404 (unlike tokens and
/// policies, which are "ACL not found").
async fn role_read(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    role_answer(&state, &caller, q.as_deref(), AclRoleRead::ById(id)).await
}

/// One role, or an empty 404.
async fn role_answer(
    state: &AppState,
    caller: &Caller,
    q: Option<&str>,
    read: AclRoleRead,
) -> Result<Response, ApiError> {
    enabled(state)?;
    let (headers, r) = read_with(state, caller, q, read).await?;
    Ok(match r {
        Some(role) => (headers, Json(role_json(&role))).into_response(),
        None => (StatusCode::NOT_FOUND, headers).into_response(),
    })
}

async fn role_read_by_name(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    role_answer(&state, &caller, q.as_deref(), AclRoleRead::ByName(name)).await
}

async fn role_list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    enabled(&state)?;
    let p = Params::parse(q.as_deref());
    let read = AclRoleList {
        policy: p.get("policy").filter(|v| !v.is_empty()).map(str::to_owned),
    };
    let (headers, list) = read_with(&state, &caller, q.as_deref(), read).await?;
    let list: Vec<AclRole> = list.iter().map(role_json).collect();
    Ok((headers, Json(list)).into_response())
}

// ---------------------------------------------------------- agent token

/// `PUT /v1/agent/token/<type>`: replaces one of this agent's tokens;
/// needs `acl:write`, as Consul documents.
async fn agent_token(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(kind): Path<String>,
    Body(bytes): Body,
) -> Result<Response, ApiError> {
    enabled(&state)?;
    let Some(kind) = crate::acl::TokenKind::parse(&kind) else {
        return Err(ApiError::NotFound(format!("Token {kind:?} is unknown")));
    };
    state
        .acl
        .authorize(&state.backend, caller.token())
        .await?
        .require_global(praetor_acl::Global::Acl, praetor_acl::Access::Write)?;
    let req: AgentTokenRequest = super::json_body(&bytes)?;
    if req.token.len() > 256 {
        return Err(invalid("Token is too long"));
    }
    state
        .acl
        .set_token(kind, &req.token)
        .map_err(|e| ApiError::Failed(format!("persisting the token: {e}")))?;
    tracing::info!(?kind, "agent ACL token updated");
    Ok(StatusCode::OK.into_response())
}
