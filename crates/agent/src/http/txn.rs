//! `PUT /v1/txn`: Consul's transactions. The body is decoded and checked
//! here (at most 64 operations, known verbs, base64 values, value sizes);
//! a transaction that only reads is a query (with `?stale`/`?consistent`),
//! any other is one Raft command, applied all or nothing. 200 with
//! `Results`, 409 with `Errors` when an operation failed, 400 on a
//! malformed body, 413 on too many operations or too large a value.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use praetor_api::catalog::{CheckDefinition, RegisterRequest};
use praetor_api::txn::{self as api, TxnError, TxnResponse, MAX_OPS};
use praetor_server::read::TxnRead;
use praetor_store::txn::{
    CatalogOp, CatalogTarget, CatalogVerb, KvOp, KvVerb, TxnOp, TxnOutcome, TxnResult,
};
use praetor_store::{Command, Response as Applied};
use serde::Deserialize;

use super::error::ApiError;
use super::extract::{Body, Caller};
use super::query::{self, Params, ReadOpts};
use super::AppState;
use crate::definition::{catalog_service, CatalogServiceBody};

fn bad(i: usize, why: impl std::fmt::Display) -> ApiError {
    ApiError::BadRequest(format!("Operation {i}: {why}"))
}

fn kv_op(i: usize, op: api::TxnKvOp, max_value: u64) -> Result<TxnOp, ApiError> {
    let verb =
        KvVerb::parse(&op.verb).ok_or_else(|| bad(i, format!("unknown KV verb {:?}", op.verb)))?;
    let value = match op.value.as_deref() {
        None | Some("") => Vec::new(),
        Some(v) => base64::engine::general_purpose::STANDARD
            .decode(v)
            .map_err(|e| bad(i, format!("Value is not valid base64: {e}")))?,
    };
    if value.len() as u64 > max_value {
        return Err(ApiError::TooLarge(format!(
            "Operation {i}: value for key {:?} is {} bytes; the limit is {max_value} (limits.kv_max_value_size)",
            op.key,
            value.len()
        )));
    }
    if op.key.is_empty() && !matches!(verb, KvVerb::GetTree | KvVerb::DeleteTree) {
        return Err(bad(i, "Missing key name"));
    }
    if matches!(verb, KvVerb::Lock | KvVerb::Unlock | KvVerb::CheckSession) && op.session.is_empty()
    {
        return Err(bad(i, format!("the {} verb needs a Session", op.verb)));
    }
    Ok(TxnOp::Kv(KvOp {
        verb,
        key: op.key,
        value,
        flags: op.flags,
        index: op.index,
        session: op.session,
    }))
}

/// A node as a txn operation carries it.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct NodeBody {
    #[serde(rename = "ID")]
    id: String,
    node: String,
    address: String,
    datacenter: String,
    tagged_addresses: std::collections::BTreeMap<String, String>,
    meta: std::collections::BTreeMap<String, String>,
    modify_index: u64,
}

/// A check as a txn operation carries it.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct CheckBody {
    node: String,
    #[serde(rename = "CheckID")]
    check_id: String,
    name: String,
    status: String,
    notes: String,
    output: String,
    #[serde(rename = "ServiceID")]
    service_id: String,
    modify_index: u64,
}

fn decode<T: serde::de::DeserializeOwned>(
    i: usize,
    v: serde_json::Value,
    what: &str,
) -> Result<T, ApiError> {
    serde_json::from_value(v).map_err(|e| bad(i, format!("invalid {what}: {e}")))
}

fn catalog_verb(i: usize, verb: &str) -> Result<CatalogVerb, ApiError> {
    CatalogVerb::parse(verb).ok_or_else(|| bad(i, format!("unknown verb {verb:?}")))
}

fn catalog_op(i: usize, op: api::TxnOp, dc: &str) -> Result<TxnOp, ApiError> {
    if let Some(n) = op.node {
        let verb = catalog_verb(i, &n.verb)?;
        let b: NodeBody = decode(i, n.node, "Node")?;
        if b.node.is_empty() {
            return Err(bad(i, "Missing node name"));
        }
        let register = RegisterRequest {
            id: b.id,
            node: b.node.clone(),
            address: b.address,
            datacenter: if b.datacenter.is_empty() {
                dc.to_owned()
            } else {
                b.datacenter
            },
            tagged_addresses: b.tagged_addresses,
            node_meta: b.meta,
            ..RegisterRequest::default()
        };
        return Ok(TxnOp::Catalog(Box::new(CatalogOp {
            target: CatalogTarget::Node,
            verb,
            node: b.node,
            id: String::new(),
            register: register.into(),
            index: b.modify_index,
        })));
    }
    if let Some(s) = op.service {
        let verb = catalog_verb(i, &s.verb)?;
        let b: CatalogServiceBody = decode(i, s.service, "Service")?;
        let (service, modify_index) = catalog_service(&s.node, b).map_err(|e| bad(i, e))?;
        let id = service.id.clone();
        let register = RegisterRequest {
            node: s.node.clone(),
            skip_node_update: true,
            service: Some(service),
            ..RegisterRequest::default()
        };
        return Ok(TxnOp::Catalog(Box::new(CatalogOp {
            target: CatalogTarget::Service,
            verb,
            node: s.node,
            id,
            register: register.into(),
            index: modify_index,
        })));
    }
    if let Some(c) = op.check {
        let verb = catalog_verb(i, &c.verb)?;
        let b: CheckBody = decode(i, c.check, "Check")?;
        if b.node.is_empty() || b.check_id.is_empty() {
            return Err(bad(i, "Missing node name or CheckID"));
        }
        let register = RegisterRequest {
            node: b.node.clone(),
            skip_node_update: true,
            check: Some(CheckDefinition {
                node: b.node.clone(),
                check_id: b.check_id.clone(),
                name: b.name,
                notes: b.notes,
                status: b.status,
                output: b.output,
                service_id: b.service_id,
            }),
            ..RegisterRequest::default()
        };
        return Ok(TxnOp::Catalog(Box::new(CatalogOp {
            target: CatalogTarget::Check,
            verb,
            node: b.node,
            id: b.check_id,
            register: register.into(),
            index: b.modify_index,
        })));
    }
    Err(bad(i, "no KV, Node, Service or Check operation"))
}

/// Decodes and checks a transaction body: at most `MAX_OPS` operations,
/// values of at most `max_value` bytes, catalog operations defaulting to
/// datacenter `dc`. Pure, so it can be tested and fuzzed on its own.
///
/// # Errors
/// 400 naming the operation at fault; 413 for too many operations or too
/// large a value.
#[doc(hidden)]
pub fn ops_from_body(body: &[u8], max_value: u64, dc: &str) -> Result<Vec<TxnOp>, ApiError> {
    let ops: Vec<api::TxnOp> = super::json_body(body)?;
    if ops.len() > MAX_OPS {
        return Err(ApiError::TooLarge(format!(
            "Transaction contains too many operations ({} > {MAX_OPS})",
            ops.len()
        )));
    }
    ops.into_iter()
        .enumerate()
        .map(|(i, mut op)| {
            let set = [
                op.kv.is_some(),
                op.node.is_some(),
                op.service.is_some(),
                op.check.is_some(),
            ];
            if set.iter().filter(|s| **s).count() > 1 {
                return Err(bad(i, "more than one of KV, Node, Service and Check"));
            }
            match op.kv.take() {
                Some(kv) => kv_op(i, kv, max_value),
                None => catalog_op(i, op, dc),
            }
        })
        .collect()
}

fn wire(outcome: TxnOutcome) -> (StatusCode, TxnResponse) {
    if !outcome.ok() {
        let errors = outcome
            .errors
            .into_iter()
            .map(|(op_index, what)| TxnError { op_index, what })
            .collect();
        return (
            StatusCode::CONFLICT,
            TxnResponse {
                results: None,
                errors: Some(errors),
            },
        );
    }
    let results = outcome
        .results
        .into_iter()
        .map(|r| match r {
            TxnResult::Kv(key, e) => api::TxnResult::Kv(e.to_pair(&key)),
            TxnResult::Node(n) => api::TxnResult::Node(n),
            TxnResult::Service(s) => api::TxnResult::Service(s),
            TxnResult::Check(c) => api::TxnResult::Check(c),
        })
        .collect();
    (
        StatusCode::OK,
        TxnResponse {
            results: Some(results),
            errors: None,
        },
    )
}

/// `PUT /v1/txn`.
pub async fn txn(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    RawQuery(q): RawQuery,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let p = Params::parse(q.as_deref());
    query::check_dc(&p, &state)?;
    let ops = {
        let cfg = state.config();
        ops_from_body(&body, cfg.limits.kv_max_value_size, &cfg.datacenter)?
    };
    if !ops.is_empty() && ops.iter().all(TxnOp::reads_only) {
        let opts = ReadOpts::from_params(&p, &state)?;
        let opts = ReadOpts { index: 0, ..opts };
        let r = query::run(&state, &caller, &opts, TxnRead { ops }).await?;
        let headers = query::headers_of(&r, opts.consistency);
        let (status, body) = wire(r.answer);
        return Ok((status, headers, Json(body)).into_response());
    }
    let (index, resp) = state
        .backend
        .write(caller.token(), Command::Txn(ops))
        .await?;
    let outcome = match resp {
        Applied::Txn(o) => o,
        Applied::Refused(reason) => return Err(ApiError::BadRequest(reason)),
        other => {
            return Err(ApiError::Failed(format!(
                "unexpected answer to a txn: {other:?}"
            )))
        }
    };
    let (status, body) = wire(outcome);
    Ok((status, [("X-Consul-Index", index.to_string())], Json(body)).into_response())
}
