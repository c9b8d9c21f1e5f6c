//! `PUT /v1/txn`: Consul's transactions. The body is decoded and checked
//! here (at most 128 operations, base64 values, value sizes, then each
//! operation's verb, key and session); a transaction that only reads is a
//! query (with `?stale`/`?consistent`), any other is one Raft command,
//! applied all or nothing. As Consul answers: 200 with `Results`; 409 with
//! `Errors` (`OpIndex`, `What`) when an operation failed or cannot run (an
//! unknown verb, a missing key), nothing applied; 400 on a body that does
//! not decode; 413 on too many operations or too large a value.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use praetor_api::catalog::{CheckDefinition, RegisterRequest};
use praetor_api::txn::{self as api, TxnError, TxnResponse, MAX_OPS};
use praetor_server::read::TxnRead;
use praetor_store::model::ServiceExtra;
use praetor_store::txn::{
    CatalogExtra, CatalogOp, CatalogTarget, CatalogVerb, KvOp, KvVerb, TxnOp, TxnOutcome, TxnResult,
};
use praetor_store::{Command, Response as Applied};
use serde::Deserialize;

use super::error::ApiError;
use super::extract::{Body, Caller};
use super::query::{self, Params, ReadOpts};
use super::AppState;
use crate::definition::{catalog_service, CatalogServiceBody};

fn bad(i: usize, why: impl std::fmt::Display) -> OpError {
    OpError::Request(ApiError::BadRequest(format!("Operation {i}: {why}")))
}

/// Why an operation was not taken: the request itself is wrong (400, 413:
/// the whole body is refused), or this operation cannot run (reported in
/// `Errors` with its index, as Consul reports it from its pre-checks).
enum OpError {
    Request(ApiError),
    Op(String),
}

/// The operation-level refusal of an operation.
fn refuse(why: impl Into<String>) -> OpError {
    OpError::Op(why.into())
}

fn kv_op(i: usize, op: api::TxnKvOp, max_value: u64) -> Result<TxnOp, OpError> {
    let value = match op.value.as_deref() {
        None | Some("") => Vec::new(),
        Some(v) => base64::engine::general_purpose::STANDARD
            .decode(v)
            .map_err(|e| bad(i, format!("Value is not valid base64: {e}")))?,
    };
    if value.len() as u64 > max_value {
        return Err(OpError::Request(ApiError::TooLarge(format!(
            "Value for key {:?} is too large ({} > {max_value} bytes)",
            op.key,
            value.len()
        ))));
    }
    let verb =
        KvVerb::parse(&op.verb).ok_or_else(|| refuse(format!("unknown KV verb {:?}", op.verb)))?;
    if op.key.is_empty() && !matches!(verb, KvVerb::GetTree | KvVerb::DeleteTree) {
        return Err(refuse("Must provide key"));
    }
    if matches!(verb, KvVerb::Lock | KvVerb::Unlock | KvVerb::CheckSession) && op.session.is_empty()
    {
        return Err(refuse("missing session"));
    }
    Ok(TxnOp::Kv(KvOp {
        verb,
        key: op.key,
        value: value.into(),
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
    /// The check's type (`ttl`, `http`, …), kept as the catalog shows it.
    #[serde(rename = "Type")]
    kind: String,
    modify_index: u64,
}

fn decode<T: serde::de::DeserializeOwned>(
    i: usize,
    v: serde_json::Value,
    what: &str,
) -> Result<T, OpError> {
    serde_json::from_value(v).map_err(|e| bad(i, format!("invalid {what}: {e}")))
}

/// A catalog verb; an unknown one is refused in Consul's words
/// (`unknown Node verb "x"`).
fn catalog_verb(what: &str, verb: &str) -> Result<CatalogVerb, OpError> {
    CatalogVerb::parse(verb).ok_or_else(|| refuse(format!("unknown {what} verb {verb:?}")))
}

fn catalog_op(i: usize, op: api::TxnOp, dc: &str) -> Result<TxnOp, OpError> {
    if let Some(n) = op.node {
        let b: NodeBody = decode(i, n.node, "Node")?;
        let verb = catalog_verb("Node", &n.verb)?;
        if b.node.is_empty() {
            return Err(refuse("Must provide node"));
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
        let b: CatalogServiceBody = decode(i, s.service, "Service")?;
        let verb = catalog_verb("Service", &s.verb)?;
        let (service, modify_index) =
            catalog_service(&s.node, b).map_err(|e| refuse(e.to_string()))?;
        let id = service.id.clone();
        let extra = CatalogExtra {
            service: ServiceExtra::of(&service),
            check_type: String::new(),
        };
        let register = RegisterRequest {
            node: s.node.clone(),
            skip_node_update: true,
            service: Some(service),
            ..RegisterRequest::default()
        };
        let op = CatalogOp {
            target: CatalogTarget::Service,
            verb,
            node: s.node,
            id,
            register: register.into(),
            index: modify_index,
        };
        return Ok(TxnOp::catalog(op, extra));
    }
    if let Some(c) = op.check {
        let b: CheckBody = decode(i, c.check, "Check")?;
        let verb = catalog_verb("Check", &c.verb)?;
        if b.node.is_empty() || b.check_id.is_empty() {
            return Err(refuse("Must provide node and CheckID"));
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
        let op = CatalogOp {
            target: CatalogTarget::Check,
            verb,
            node: b.node,
            id: b.check_id,
            register: register.into(),
            index: b.modify_index,
        };
        let extra = CatalogExtra {
            service: ServiceExtra::default(),
            check_type: b.kind,
        };
        return Ok(TxnOp::catalog(op, extra));
    }
    Err(refuse("no operation specified"))
}

/// A decoded transaction body: the operations to run, or why some of them
/// cannot (each failure with its operation's index, as Consul's `Errors`).
#[doc(hidden)]
#[derive(Debug)]
pub enum Decoded {
    Ops(Vec<TxnOp>),
    Refused(Vec<TxnError>),
}

/// Decodes and checks a transaction body: at most `MAX_OPS` operations,
/// values of at most `max_value` bytes, catalog operations defaulting to
/// datacenter `dc`. Pure, so it can be tested and fuzzed on its own.
///
/// # Errors
/// 400 for a body that does not decode (naming the operation at fault);
/// 413 for too many operations or too large a value. An operation that
/// decodes but cannot run is not an error: it is in `Decoded::Refused`.
#[doc(hidden)]
pub fn ops_from_body(body: &[u8], max_value: u64, dc: &str) -> Result<Decoded, ApiError> {
    let ops: Vec<api::TxnOp> = super::json_body(body)?;
    if ops.len() > MAX_OPS {
        return Err(ApiError::TooLarge(format!(
            "Transaction contains too many operations ({} > {MAX_OPS})",
            ops.len()
        )));
    }
    let mut decoded = Vec::with_capacity(ops.len());
    let mut refused = Vec::new();
    for (i, mut op) in ops.into_iter().enumerate() {
        let set = [
            op.kv.is_some(),
            op.node.is_some(),
            op.service.is_some(),
            op.check.is_some(),
        ];
        let one = if set.iter().filter(|s| **s).count() > 1 {
            Err(bad(i, "more than one of KV, Node, Service and Check"))
        } else {
            match op.kv.take() {
                Some(kv) => kv_op(i, kv, max_value),
                None => catalog_op(i, op, dc),
            }
        };
        match one {
            Ok(op) => decoded.push(op),
            Err(OpError::Request(e)) => return Err(e),
            Err(OpError::Op(what)) => refused.push(TxnError { op_index: i, what }),
        }
    }
    Ok(if refused.is_empty() {
        Decoded::Ops(decoded)
    } else {
        Decoded::Refused(refused)
    })
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
    let dc = query::check_dc(&p, &state)?;
    let decoded = {
        let cfg = state.config();
        let target = dc.as_deref().unwrap_or(&cfg.datacenter);
        ops_from_body(&body, cfg.limits.kv_max_value_size, target)?
    };
    let ops = match decoded {
        Decoded::Ops(ops) => ops,
        Decoded::Refused(errors) => {
            let body = TxnResponse {
                results: None,
                errors: Some(errors),
            };
            return Ok((StatusCode::CONFLICT, Json(body)).into_response());
        }
    };
    if !ops.is_empty() && ops.iter().all(TxnOp::reads_only) {
        let opts = ReadOpts::from_params(&p, &state)?;
        let opts = ReadOpts { index: 0, ..opts };
        let r = query::run(&state, &caller, &opts, TxnRead { ops }).await?;
        let headers = query::headers_of(&r, opts.consistency);
        let (status, body) = wire(r.answer);
        return Ok((status, headers, Json(body)).into_response());
    }
    let (index, resp) = query::write(&state, &caller, dc.as_deref(), Command::Txn(ops)).await?;
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
