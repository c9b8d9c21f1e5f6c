//! `/v1/kv/<key>`: Consul's KV endpoint (GET with `recurse`, `keys`,
//! `separator`, `raw`; PUT with `flags`, `cas`, `acquire` and `release`;
//! DELETE with `recurse` and `cas`). As in Consul, only a listing (`GET`
//! with `?recurse` or `?keys`, `DELETE` with `?recurse`) may name the empty
//! key; any other request for it is a 400 `Missing key name`. Writes
//! become Raft commands; reads are blocking queries.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, MethodRouter};
use axum::Json;
use praetor_api::KvPair;
use praetor_server::read::{KvGet, KvKeys, KvList};
use praetor_server::Answered;
use praetor_store::Command;

use super::error::ApiError;
use super::extract::{Caller, Value};
use super::query::{self, read_headers, Params, ReadOpts};
use super::AppState;

/// Longest key accepted, in bytes.
pub const MAX_KEY_LEN: usize = 4096;

/// GET, PUT and DELETE on a KV path; anything else is a 405.
pub fn routes() -> MethodRouter<Arc<AppState>> {
    get(get_kv).put(put_kv).delete(delete_kv)
}

/// The key named by the request path: everything after `/v1/kv/`,
/// percent-decoded.
///
/// # Errors
/// 400 when the key is not UTF-8, holds a NUL, or is too long.
pub fn key_from_path(path: &str, base: &str) -> Result<String, ApiError> {
    let raw = path.strip_prefix(base).unwrap_or("");
    let raw = raw.strip_prefix('/').unwrap_or(raw);
    let key = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| ApiError::BadRequest("Invalid key: not valid UTF-8".into()))?
        .into_owned();
    if key.contains('\0') {
        return Err(ApiError::BadRequest(
            "Invalid key: contains a NUL character".into(),
        ));
    }
    if key.len() > MAX_KEY_LEN {
        return Err(ApiError::BadRequest(format!(
            "Invalid key: {} bytes long; the limit is {MAX_KEY_LEN}",
            key.len()
        )));
    }
    Ok(key)
}

/// What a KV read answers.
enum Reply {
    Entries(Vec<KvPair>),
    Keys(Vec<String>),
    Raw(Vec<u8>),
    Missing,
}

async fn get_kv(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    uri: Uri,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let key = key_from_path(uri.path(), "/v1/kv")?;
    let p = Params::parse(q.as_deref());
    let opts = ReadOpts::from_params(&p, &state)?;
    let recurse = p.flag("recurse");
    let keys = p.flag("keys");
    let raw = p.flag("raw");
    let separator = p.get("separator").map(str::to_owned);
    // Consul lists with an empty key (`?recurse`, `?keys`) but refuses to
    // read one: `GET /v1/kv/` is a 400, not a 404 for a key named "".
    if key.is_empty() && !recurse && !keys {
        return Err(ApiError::BadRequest("Missing key name".into()));
    }
    let Answered {
        meta,
        index,
        answer,
        filtered,
    } = if keys {
        let read = KvKeys {
            prefix: key,
            separator,
        };
        query::run(&state, &caller, &opts, read).await?.map(|list| {
            if list.is_empty() {
                Reply::Missing
            } else {
                Reply::Keys(list)
            }
        })
    } else if recurse {
        let read = KvList { prefix: key };
        query::run(&state, &caller, &opts, read).await?.map(|list| {
            if list.is_empty() {
                Reply::Missing
            } else {
                Reply::Entries(list.iter().map(|(k, e)| e.to_pair(k)).collect())
            }
        })
    } else {
        let read = KvGet { key: key.clone() };
        query::run(&state, &caller, &opts, read)
            .await?
            .map(|found| match found {
                None => Reply::Missing,
                Some(e) if raw => Reply::Raw(e.value.to_vec()),
                Some(e) => Reply::Entries(vec![e.to_pair(&key)]),
            })
    };
    let headers = read_headers(&meta, index, filtered, opts.consistency);
    Ok(match answer {
        Reply::Entries(list) => (headers, Json(list)).into_response(),
        Reply::Keys(list) => (headers, Json(list)).into_response(),
        Reply::Raw(value) => (
            headers,
            [
                ("content-type", "text/plain"),
                ("x-content-type-options", "nosniff"),
            ],
            value,
        )
            .into_response(),
        Reply::Missing => (StatusCode::NOT_FOUND, headers).into_response(),
    })
}

async fn put_kv(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    uri: Uri,
    RawQuery(q): RawQuery,
    Value(value): Value,
) -> Result<Response, ApiError> {
    let key = key_from_path(uri.path(), "/v1/kv")?;
    let p = Params::parse(q.as_deref());
    let dc = query::check_dc(&p, &state)?;
    if key.is_empty() {
        return Err(ApiError::BadRequest("Missing key name".into()));
    }
    let flags = p.u64("flags")?.unwrap_or(0);
    let cas = p.u64("cas")?;
    let limit = state.config().limits.kv_max_value_size;
    if value.len() as u64 > limit {
        return Err(ApiError::TooLarge(format!(
            "Request body({} bytes) too large, max size: {limit} bytes (limits.kv_max_value_size)",
            value.len()
        )));
    }
    let session = |name: &str| match p.get(name) {
        Some("") => Err(ApiError::BadRequest(format!("?{name} needs a session ID"))),
        other => Ok(other.map(str::to_owned)),
    };
    let cmd = match (session("acquire")?, session("release")?) {
        (Some(_), Some(_)) => {
            return Err(ApiError::BadRequest(
                "Conflicting flags: ?acquire cannot be used with ?release".into(),
            ))
        }
        (Some(session), None) => Command::KvLock {
            key,
            value,
            flags,
            session,
        },
        (None, Some(session)) => Command::KvUnlock {
            key,
            value,
            flags,
            session,
        },
        (None, None) => Command::KvSet {
            key,
            value,
            flags,
            cas,
        },
    };
    apply(&state, &caller, dc.as_deref(), cmd).await
}

async fn delete_kv(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    uri: Uri,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let key = key_from_path(uri.path(), "/v1/kv")?;
    let p = Params::parse(q.as_deref());
    let dc = query::check_dc(&p, &state)?;
    let cas = p.u64("cas")?;
    let cmd = if p.flag("recurse") {
        if cas.is_some() {
            return Err(ApiError::BadRequest(
                "Conflicting flags: ?cas cannot be used with ?recurse".into(),
            ));
        }
        Command::KvDeleteTree { prefix: key }
    } else {
        if key.is_empty() {
            return Err(ApiError::BadRequest("Missing key name".into()));
        }
        Command::KvDelete { key, cas }
    };
    apply(&state, &caller, dc.as_deref(), cmd).await
}

/// Proposes a KV command (in datacenter `dc`, `None`: this one) and
/// answers `true`/`false` as Consul does.
async fn apply(
    state: &AppState,
    caller: &Caller,
    dc: Option<&str>,
    cmd: Command,
) -> Result<Response, ApiError> {
    let start = Instant::now();
    let (index, resp) = query::write(state, caller, dc, cmd).await?;
    if let praetor_store::Response::Refused(reason) = resp {
        return Err(ApiError::BadRequest(reason));
    }
    // Consul's timer; its Count is the number of KV writes.
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    state
        .metrics
        .record(|| metrics::histogram!("consul.kvs.apply").record(ms));
    Ok(([("X-Consul-Index", index.to_string())], Json(resp.ok())).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_the_decoded_rest_of_the_path() {
        assert_eq!(key_from_path("/v1/kv/app/db", "/v1/kv").unwrap(), "app/db");
        assert_eq!(
            key_from_path("/v1/kv/a%20b/c%2Fd", "/v1/kv").unwrap(),
            "a b/c/d"
        );
        assert_eq!(key_from_path("/v1/kv/", "/v1/kv").unwrap(), "");
        assert_eq!(key_from_path("/v1/kv", "/v1/kv").unwrap(), "");
        assert!(key_from_path("/v1/kv/a%00b", "/v1/kv").is_err());
        assert!(key_from_path("/v1/kv/%ff", "/v1/kv").is_err());
    }
}
