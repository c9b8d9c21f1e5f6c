//! Query parameters as Consul reads them (flags without values, like
//! `?recurse`), the common read options (`index`, `wait`, `stale`,
//! `consistent`, `dc`), the blocking-query loop and the read headers.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue};
use praetor_server::{Consistency, ReadMeta};
use praetor_store::Store;
use rand::Rng;

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

/// Serves a read: checks consistency, then evaluates `f` against the store,
/// and while the answer's index is not past `opts.index`, waits for the store
/// to change (until the wait, plus up to 1/16 of it as jitter, runs out).
/// Index 0 never blocks. Returns the answer's index and the answer.
///
/// # Errors
/// When the server cannot serve the read (no servers, no leader).
pub async fn blocking<T>(
    state: &AppState,
    opts: &ReadOpts,
    mut f: impl FnMut(&Store) -> (u64, T),
) -> Result<(ReadMeta, u64, T), ApiError> {
    let server = state.server()?;
    let meta = server.read(opts.consistency).await?;
    let mut rx = server.subscribe();
    let eval = |f: &mut dyn FnMut(&Store) -> (u64, T)| {
        let st = server.shared().read();
        f(&st.store)
    };
    let (mut index, mut answer) = eval(&mut f);
    if opts.index == 0 || index > opts.index {
        return Ok((meta, index, answer));
    }
    let jitter = opts.wait.as_millis() as u64 / 16;
    let jitter = if jitter > 0 {
        rand::thread_rng().gen_range(0..=jitter)
    } else {
        0
    };
    let deadline = tokio::time::Instant::now() + opts.wait + Duration::from_millis(jitter);
    // `rx` was subscribed before the first evaluation, so a change made
    // since then is still unseen and `changed()` returns at once.
    // A shutdown ends the wait too: the client gets the current answer, as
    // on a timeout, instead of holding the agent's exit for the deadline.
    loop {
        tokio::select! {
            changed = tokio::time::timeout_at(deadline, rx.changed()) => match changed {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => break,
            },
            () = state.stop.cancelled() => break,
        }
        (index, answer) = eval(&mut f);
        if index > opts.index {
            break;
        }
    }
    Ok((meta, index, answer))
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
