//! Consul's prepared-query endpoints: `POST /v1/query` (answers `{"ID"}`),
//! `GET /v1/query`, `GET`/`PUT`/`DELETE /v1/query/<id>`,
//! `GET /v1/query/<id-or-name>/execute` (`?near=`, `?limit=`; `?connect`
//! refused: no service mesh) and `GET /v1/query/<id-or-name>/explain`.
//! Definitions are checked and converted in `crate::prepared_query`;
//! writes are `Command::PreparedQuery`, reads `praetor_server::read`'s
//! query reads, so ACLs are decided on the servers. `?dc=` naming another
//! datacenter sends each of them to that datacenter's servers.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use praetor_api::query::{CreatedQuery, PreparedQueryDefinition, PreparedQueryExplainResponse};
use praetor_server::read::{QueryGet, QueryList};
use praetor_store::query::{QueryCommand, NOT_FOUND};
use praetor_store::{Command, Response as Applied};

use super::error::ApiError;
use super::extract::{Body, Caller};
use super::query::{self, check_dc, Params, ReadOpts};
use super::AppState;
use crate::prepared_query::{self as pq, ExecuteOpts};

/// The routes of this module.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/v1/query", get(list).post(create))
        .route("/v1/query/", get(list).post(create))
        .route("/v1/query/{id}", get(read).put(update).delete(delete))
        .route("/v1/query/{id}/execute", get(execute))
        .route("/v1/query/{id}/explain", get(explain))
}

/// The definition in a request body.
fn definition(body: &[u8]) -> Result<PreparedQueryDefinition, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::BadRequest(
            "Request decode failed: the body must be a prepared query definition".into(),
        ));
    }
    super::json_body(body)
}

/// Proposes `cmd` in datacenter `dc` (`None`: this one) and answers its
/// index, or the store's refusal.
async fn propose(
    state: &AppState,
    caller: &Caller,
    dc: Option<&str>,
    cmd: QueryCommand,
) -> Result<u64, ApiError> {
    let (index, resp) = query::write(state, caller, dc, Command::PreparedQuery(cmd)).await?;
    match resp {
        Applied::Refused(reason) if reason.starts_with("Cannot modify non-existent") => {
            Err(ApiError::NotFound(reason))
        }
        Applied::Refused(reason) => Err(ApiError::BadRequest(reason)),
        _ => Ok(index),
    }
}

/// `POST /v1/query`: stores a new query with a fresh ID.
async fn create(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    RawQuery(q): RawQuery,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let dc = check_dc(&Params::parse(q.as_deref()), &state)?;
    let id = uuid::Uuid::new_v4().to_string();
    let record = pq::to_record(definition(&body)?, id.clone())?;
    let index = propose(&state, &caller, dc.as_deref(), QueryCommand::Create(record)).await?;
    Ok((
        [("X-Consul-Index", index.to_string())],
        Json(CreatedQuery { id }),
    )
        .into_response())
}

/// `PUT /v1/query/<id>`: replaces the query (the path's ID wins).
async fn update(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let dc = check_dc(&Params::parse(q.as_deref()), &state)?;
    let record = pq::to_record(definition(&body)?, id)?;
    let index = propose(&state, &caller, dc.as_deref(), QueryCommand::Update(record)).await?;
    Ok(([("X-Consul-Index", index.to_string())], "").into_response())
}

/// `DELETE /v1/query/<id>`.
async fn delete(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let dc = check_dc(&Params::parse(q.as_deref()), &state)?;
    let (index, resp) = query::write(
        &state,
        &caller,
        dc.as_deref(),
        Command::PreparedQuery(QueryCommand::Delete { id: id.clone() }),
    )
    .await?;
    if !resp.ok() {
        return Err(ApiError::NotFound(format!(
            "Cannot delete non-existent prepared query: '{id}'"
        )));
    }
    Ok(([("X-Consul-Index", index.to_string())], "").into_response())
}

/// `GET /v1/query`: every query the token may read (blocking).
async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let opts = ReadOpts::from_params(&Params::parse(q.as_deref()), &state)?;
    let r = query::run(&state, &caller, &opts, QueryList).await?;
    let headers = query::headers_of(&r, opts.consistency);
    let list: Vec<PreparedQueryDefinition> = r.answer.into_iter().map(pq::to_definition).collect();
    Ok((headers, Json(list)).into_response())
}

/// `GET /v1/query/<id>`: a list of the one query, or 404.
async fn read(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let opts = ReadOpts::from_params(&Params::parse(q.as_deref()), &state)?;
    let r = query::run(&state, &caller, &opts, QueryGet { id }).await?;
    let headers = query::headers_of(&r, opts.consistency);
    let q = r
        .answer
        .ok_or_else(|| ApiError::NotFound(NOT_FOUND.into()))?;
    Ok((headers, Json(vec![pq::to_definition(*q)])).into_response())
}

/// `GET /v1/query/<id-or-name>/execute`.
async fn execute(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let p = Params::parse(q.as_deref());
    let read = ReadOpts::from_params(&p, &state)?;
    if p.has("connect") && p.get("connect") != Some("false") {
        return Err(ApiError::BadRequest(
            "Connect is not supported: Praetor has no service mesh".into(),
        ));
    }
    let limit = match p.get("limit") {
        None | Some("") => 0,
        Some(l) => l
            .parse::<usize>()
            .map_err(|_| ApiError::BadRequest(format!("Bad limit {l:?}: not a number >= 0")))?,
    };
    let opts = ExecuteOpts {
        near: p.get("near").filter(|n| !n.is_empty()).map(str::to_owned),
        limit,
        consistency: read.consistency,
        dc: read.dc.clone(),
    };
    let r = pq::execute(&state, caller.token(), &name, &opts).await?;
    let headers = query::headers_of(&r, read.consistency);
    Ok((headers, Json(r.answer)).into_response())
}

/// `GET /v1/query/<id-or-name>/explain`: the query as rendered for the
/// name (needs read on the query).
async fn explain(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let read = ReadOpts::from_params(&Params::parse(q.as_deref()), &state)?;
    let r = pq::resolve(
        &state,
        caller.token(),
        &name,
        true,
        read.consistency,
        read.dc.as_deref(),
    )
    .await?;
    let headers = query::headers_of(&r, read.consistency);
    Ok((
        headers,
        Json(PreparedQueryExplainResponse {
            query: pq::to_definition(r.answer),
        }),
    )
        .into_response())
}
