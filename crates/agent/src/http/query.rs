//! Query parameters as Consul reads them (flags without values, like
//! `?recurse`), the common read options (`index`, `wait`, `stale`,
//! `consistent`, `dc`), the blocking-query loop and the read headers.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue};
use praetor_server::{Consistency, Query, QueryOpts, QueryResult, ReadMeta};

use super::error::ApiError;
use super::AppState;

/// Default wait of a blocking query (Consul: 5 minutes).
pub const DEFAULT_WAIT: Duration = Duration::from_secs(300);
/// Longest wait of a blocking query (Consul: 10 minutes).
pub const MAX_WAIT: Duration = Duration::from_secs(600);

/// The decoded query string, in order.
#[derive(Debug, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Decodes a raw query string (`None` when there is none).
    pub fn parse(raw: Option<&str>) -> Params {
        Params(
            raw.map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
                .unwrap_or_default(),
        )
    }

    /// `true` when the parameter is present, with or without a value.
    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }

    /// A boolean flag as Consul reads it: present means true (`?recurse`,
    /// `?recurse=true`), except that an explicit `false` or `0` means false;
    /// Consul treats `?recurse=false` as recurse, which some clients (rs-consul)
    /// send on every read and delete, so Praetor honours the value.
    pub fn flag(&self, name: &str) -> bool {
        match self.get(name) {
            None => false,
            Some(v) => !matches!(v.to_ascii_lowercase().as_str(), "false" | "0"),
        }
    }

    /// The parameter's value (the first, when repeated).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A numeric parameter; a present but malformed value is a 400.
    ///
    /// # Errors
    /// `BadRequest` naming the parameter and the value.
    pub fn u64(&self, name: &str) -> Result<Option<u64>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v.parse::<u64>().map(Some).map_err(|_| {
                ApiError::BadRequest(format!(
                    "Invalid {name} value {v:?}: expected an unsigned integer"
                ))
            }),
        }
    }
}

/// Options every read takes.
#[derive(Debug, Clone)]
pub struct ReadOpts {
    pub index: u64,
    pub wait: Duration,
    pub consistency: Consistency,
}

impl ReadOpts {
    /// Reads `index`, `wait`, `stale`, `consistent` and checks `dc`.
    ///
    /// # Errors
    /// 400 on malformed values or both `stale` and `consistent`; 500
    /// "No path to datacenter" for another datacenter.
    pub fn from_params(p: &Params, state: &AppState) -> Result<ReadOpts, ApiError> {
        check_dc(p, state)?;
        let index = p.u64("index")?.unwrap_or(0);
        let wait = match p.get("wait") {
            None | Some("") => DEFAULT_WAIT,
            Some(w) => praetor_api::duration::parse(w)
                .map_err(|e| ApiError::BadRequest(format!("Invalid wait time {w:?}: {e}")))?
                .min(MAX_WAIT),
        };
        let consistency = match (p.flag("stale"), p.flag("consistent")) {
            (true, true) => {
                return Err(ApiError::BadRequest(
                    "Cannot specify ?stale with ?consistent, conflicting semantics.".into(),
                ))
            }
            (true, false) => Consistency::Stale,
            (false, true) => Consistency::Consistent,
            (false, false) => Consistency::Default,
        };
        Ok(ReadOpts {
            index,
            wait,
            consistency,
        })
    }
}

/// Refuses `?dc=` naming another datacenter, as Consul does.
///
/// # Errors
/// `NoPathToDatacenter`.
pub fn check_dc(p: &Params, state: &AppState) -> Result<(), ApiError> {
    match p.get("dc") {
        Some(dc) if !dc.is_empty() && dc != state.config().datacenter => {
            Err(ApiError::NoPathToDatacenter)
        }
        _ => Ok(()),
    }
}

/// Runs a read through the agent's backend: on this agent's server, or on
/// a server over RPC. The server runs the blocking wait (index 0 never
/// blocks; a shutdown ends the wait with the current answer).
///
/// # Errors
/// When no server can serve the read (no servers, no leader).
pub async fn run(state: &AppState, opts: &ReadOpts, q: Query) -> Result<QueryResult, ApiError> {
    let opts = QueryOpts {
        index: opts.index,
        wait: opts.wait,
        consistency: opts.consistency,
    };
    Ok(state.backend.query(q, opts).await?)
}

/// Consul's read headers.
pub fn read_headers(meta: &ReadMeta, index: u64, consistency: Consistency) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("X-Consul-Index", HeaderValue::from(index.max(1)));
    h.insert(
        "X-Consul-KnownLeader",
        HeaderValue::from_static(if meta.known_leader { "true" } else { "false" }),
    );
    h.insert(
        "X-Consul-LastContact",
        HeaderValue::from(meta.last_contact_ms),
    );
    let effective = match consistency {
        Consistency::Default => "leader",
        Consistency::Consistent => "consistent",
        Consistency::Stale => "stale",
    };
    h.insert(
        "X-Consul-Effective-Consistency",
        HeaderValue::from_static(effective),
    );
    h
}
