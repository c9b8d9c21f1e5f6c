//! Query parameters as Consul reads them (flags without values, like
//! `?recurse`), the common read options (`index`, `wait`, `stale`,
//! `consistent`, `dc`), the blocking-query loop and the read headers.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue};
use praetor_server::acl::Guarded;
use praetor_server::{Answered, Consistency, QueryOpts, ReadMeta};

use super::error::ApiError;
use super::extract::Caller;
use super::AppState;

/// Default wait of a blocking query (Consul: 5 minutes).
pub const DEFAULT_WAIT: Duration = Duration::from_secs(300);
/// Longest wait of a blocking query (Consul: 10 minutes).
pub const MAX_WAIT: Duration = Duration::from_secs(600);

/// Longest raw query string decoded, in bytes. Consul's clients send a
/// few short parameters; the longest legitimate value is a `?filter=`
/// (at most [`MAX_FILTER_LEN`](super::filter::MAX_FILTER_LEN) bytes
/// decoded, up to three times that percent-encoded), so 32 KiB leaves
/// ample room while keeping the work per request small (and under the
/// 64 KiB an HTTP request line can have).
pub const MAX_QUERY_LEN: usize = 32 * 1024;
/// Most parameters decoded from one query string (Consul's endpoints read
/// fewer than ten).
pub const MAX_PARAMS: usize = 128;

/// Why a query string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// Longer than [`MAX_QUERY_LEN`].
    #[error("query string is {len} bytes long; the limit is {limit}")]
    TooLong { len: usize, limit: usize },
    /// More than [`MAX_PARAMS`] parameters.
    #[error("query string has more than {limit} parameters")]
    TooManyParams { limit: usize },
}

/// The decoded query string, in order.
#[derive(Debug, Default)]
pub struct Params {
    pairs: Vec<(String, String)>,
    /// Set when the query string was over a limit; `pairs` is then empty.
    refused: Option<QueryError>,
}

impl Params {
    /// Decodes a raw query string (`None` when there is none), as
    /// `application/x-www-form-urlencoded` (`+` is a space, bad
    /// percent-escapes are kept as written, invalid UTF-8 is replaced).
    /// Over [`MAX_QUERY_LEN`] bytes or [`MAX_PARAMS`] parameters, nothing is
    /// decoded and [`Params::check`] reports why.
    pub fn parse(raw: Option<&str>) -> Params {
        let Some(raw) = raw else {
            return Params::default();
        };
        if raw.len() > MAX_QUERY_LEN {
            return Params::refused(QueryError::TooLong {
                len: raw.len(),
                limit: MAX_QUERY_LEN,
            });
        }
        let mut pairs = Vec::new();
        for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
            if pairs.len() == MAX_PARAMS {
                return Params::refused(QueryError::TooManyParams { limit: MAX_PARAMS });
            }
            pairs.push((k.into_owned(), v.into_owned()));
        }
        Params {
            pairs,
            refused: None,
        }
    }

    fn refused(why: QueryError) -> Params {
        Params {
            pairs: Vec::new(),
            refused: Some(why),
        }
    }

    /// The decoded parameters, in order.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// Whether the query string was within the limits.
    ///
    /// # Errors
    /// `BadRequest` naming the limit that was passed.
    pub fn check(&self) -> Result<(), ApiError> {
        match &self.refused {
            None => Ok(()),
            Some(why) => Err(ApiError::BadRequest(why.to_string())),
        }
    }

    /// `true` when the parameter is present, with or without a value.
    pub fn has(&self, name: &str) -> bool {
        self.pairs.iter().any(|(k, _)| k == name)
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
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeated parameter (`?tag=a&tag=b`), in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
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
    /// `?dc=` naming another datacenter: the read is served there
    /// (`None`: this agent's own).
    pub dc: Option<String>,
}

impl ReadOpts {
    /// Reads `index`, `wait`, `stale`, `consistent` and checks `dc`.
    ///
    /// # Errors
    /// 400 on a query string over the limits, malformed values or both
    /// `stale` and `consistent`; 500 "No path to datacenter" for another
    /// datacenter.
    pub fn from_params(p: &Params, state: &AppState) -> Result<ReadOpts, ApiError> {
        let dc = check_dc(p, state)?;
        Ok(ReadOpts {
            dc,
            ..ReadOpts::read(p)?
        })
    }

    /// The options as the server takes them.
    pub fn query_opts(&self) -> QueryOpts {
        QueryOpts {
            index: self.index,
            wait: self.wait,
            consistency: self.consistency,
        }
    }

    /// The options themselves, without the datacenter check.
    ///
    /// # Errors
    /// As [`ReadOpts::from_params`], but for `?dc=`.
    pub fn read(p: &Params) -> Result<ReadOpts, ApiError> {
        p.check()?;
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
            dc: None,
        })
    }
}

/// Refuses a query string over the limits; returns the datacenter
/// `?dc=` names when it is another than this agent's (`None`: this one),
/// to which the request is then forwarded (`federation.rs`). Whether that
/// datacenter exists is for the servers to say ("No path to datacenter").
///
/// # Errors
/// `BadRequest` ([`Params::check`], or a `dc` that is no datacenter name).
pub fn check_dc(p: &Params, state: &AppState) -> Result<Option<String>, ApiError> {
    p.check()?;
    target_dc(p.get("dc"), &state.config().datacenter)
}

/// The datacenter `dc` asks for, as [`check_dc`] decides it: `None` for
/// none, an empty one or this agent's `local` one.
///
/// # Errors
/// `BadRequest` for a value longer than [`MAX_DC_LEN`] or with characters
/// no datacenter name has (letters, digits, `-`, `_`, `.` only).
pub fn target_dc(dc: Option<&str>, local: &str) -> Result<Option<String>, ApiError> {
    match dc {
        None | Some("") => Ok(None),
        Some(dc) if dc == local => Ok(None),
        Some(dc)
            if dc.len() <= MAX_DC_LEN
                && dc
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')) =>
        {
            Ok(Some(dc.to_owned()))
        }
        Some(dc) => Err(ApiError::BadRequest(format!(
            "Invalid datacenter {:?}: use at most {MAX_DC_LEN} letters, digits, '-', '_' or '.'",
            dc.chars().take(MAX_DC_LEN + 1).collect::<String>()
        ))),
    }
}

/// The longest `?dc=` value accepted (a datacenter name is a DNS label
/// in Consul; 128 leaves room).
pub const MAX_DC_LEN: usize = 128;

/// Refuses `?dc=` naming another datacenter on an endpoint that only
/// acts on this agent's own (keyring, Raft peer changes).
///
/// # Errors
/// As [`check_dc`], and `BadRequest` naming the endpoint's limit.
pub fn only_local_dc(p: &Params, state: &AppState, what: &str) -> Result<(), ApiError> {
    match check_dc(p, state)? {
        None => Ok(()),
        Some(dc) => Err(ApiError::BadRequest(format!(
            "{what} acts on this agent's datacenter only; ask an agent of {dc}"
        ))),
    }
}

/// Proposes `cmd` for the caller in datacenter `dc` (`None`: this one),
/// where the caller's token is checked.
///
/// # Errors
/// As the backend's write, and "No path to datacenter".
pub async fn write(
    state: &AppState,
    caller: &Caller,
    dc: Option<&str>,
    cmd: praetor_store::Command,
) -> Result<(u64, praetor_store::Response), ApiError> {
    let hold = state.config().rpc_hold_timeout;
    Ok(state
        .backend
        .write_in(dc, hold, caller.token(), cmd)
        .await?)
}

/// Runs a read through the agent's backend: on this agent's server, or on
/// a server over RPC; in the datacenter `opts.dc` names, through a server
/// of that datacenter. The server runs the blocking wait (index 0 never
/// blocks; a shutdown ends the wait with the current answer).
///
/// # Errors
/// When no server can serve the read (no servers, no leader).
pub async fn run<R: Guarded>(
    state: &AppState,
    caller: &Caller,
    opts: &ReadOpts,
    read: R,
) -> Result<Answered<R::Answer>, ApiError> {
    let hold = state.config().rpc_hold_timeout;
    Ok(state
        .backend
        .read_in(
            opts.dc.as_deref(),
            hold,
            caller.token(),
            read,
            opts.query_opts(),
        )
        .await?)
}

/// Consul's read headers for an answer, with
/// `X-Consul-Results-Filtered-By-ACLs: true` when the token could not see
/// all of it.
pub fn headers_of<A>(r: &Answered<A>, consistency: Consistency) -> HeaderMap {
    read_headers(&r.meta, r.index, r.filtered, consistency)
}

/// Consul's read headers (`filtered`: the token could not see everything).
pub fn read_headers(
    meta: &ReadMeta,
    index: u64,
    filtered: bool,
    consistency: Consistency,
) -> HeaderMap {
    let mut h = HeaderMap::new();
    if filtered {
        h.insert(
            "X-Consul-Results-Filtered-By-ACLs",
            HeaderValue::from_static("true"),
        );
    }
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

#[cfg(test)]
mod tests;
