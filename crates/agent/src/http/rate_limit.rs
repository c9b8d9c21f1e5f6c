//! Consul's request rate limits (`limits.request_limits`): one token bucket
//! for reads and one for writes per agent, refilled at the configured rate
//! and holding ten seconds' worth of requests (Consul's burst multiplier).
//! Over the rate, enforcing mode refuses the request as Consul does — 429,
//! or 503 for a write on the leader, where no other server could take it —
//! and permissive mode serves it; both log it (at most once a second) and
//! count it in `consul.rpc.rate_limit.exceeded`. Owns the buckets; looks at
//! nothing of a request but its method and path.
//!
//! Consul limits the RPCs its servers receive; Praetor limits the HTTP
//! requests an agent receives that reach the replicated state. As in Consul,
//! the agent's own endpoints (`/v1/agent/*`), `/v1/status/*`,
//! `/v1/operator/*` and snapshots are not limited, nor is the web UI.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use tokio::time::Instant;

use super::error::ApiError;
use super::AppState;
use crate::config::{RateLimitMode, RequestLimits};

/// Seconds of requests a bucket holds when full (Consul's
/// `requestLimitsBurstMultiplier`).
const BURST_SECONDS: f64 = 10.0;
/// The least time between two "exceeded" log lines.
const LOG_EVERY: Duration = Duration::from_secs(1);

/// Paths under these prefixes are never limited.
const EXEMPT: &[&str] = &["/v1/agent/", "/v1/status/", "/v1/operator/", "/v1/snapshot"];

/// Which bucket a request draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Read,
    Write,
}

impl Kind {
    /// Consul's `limit_type` label.
    fn label(self) -> &'static str {
        match self {
            Kind::Read => "global/read",
            Kind::Write => "global/write",
        }
    }
}

/// The bucket `method` on `path` draws from; `None` when it is not limited.
pub fn classify(method: &Method, path: &str) -> Option<Kind> {
    if !path.starts_with("/v1/") || EXEMPT.iter().any(|p| path.starts_with(p)) {
        return None;
    }
    if method == Method::GET || method == Method::HEAD || method == Method::OPTIONS {
        Some(Kind::Read)
    } else {
        Some(Kind::Write)
    }
}

/// A token bucket.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// Tokens added per second; infinite: no limit.
    rate: f64,
    capacity: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    /// A full bucket for `rate` requests per second.
    fn new(rate: f64, now: Instant) -> Bucket {
        // Ten seconds' worth, but at least one request when any is allowed
        // (Consul's integer burst would allow none below 0.1/s).
        let capacity = if rate > 0.0 {
            (rate * BURST_SECONDS).max(1.0)
        } else {
            0.0
        };
        Bucket {
            rate,
            capacity,
            tokens: capacity,
            at: now,
        }
    }

    /// Takes a token if there is one.
    fn take(&mut self, now: Instant) -> bool {
        if self.rate.is_infinite() {
            return true;
        }
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.capacity);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[derive(Debug)]
struct Buckets {
    /// The settings the buckets were made for; other settings (a reload)
    /// make new, full buckets.
    limits: RequestLimits,
    read: Bucket,
    write: Bucket,
    last_log: Option<Instant>,
    /// Requests over the rate not logged since the last line.
    unlogged: u64,
}

/// What the limiter decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Within the rate, or not limited.
    Allowed,
    /// Over the rate, served anyway (permissive mode).
    ExceededAllowed,
    /// Over the rate and refused (enforcing mode).
    Refused,
}

/// The agent's request rate limiter.
#[derive(Debug)]
pub struct RequestLimiter {
    buckets: Mutex<Buckets>,
}

impl RequestLimiter {
    /// Full buckets for `limits`.
    pub fn new(limits: RequestLimits) -> RequestLimiter {
        let now = Instant::now();
        RequestLimiter {
            buckets: Mutex::new(Buckets {
                limits,
                read: Bucket::new(limits.read_rate, now),
                write: Bucket::new(limits.write_rate, now),
                last_log: None,
                unlogged: 0,
            }),
        }
    }

    /// Draws one request of `kind` under `limits` (the configuration in
    /// force, which replaces the buckets when it changed).
    pub fn check(&self, limits: &RequestLimits, kind: Kind, now: Instant) -> Verdict {
        if limits.mode == RateLimitMode::Disabled {
            return Verdict::Allowed;
        }
        let mut b = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if b.limits != *limits {
            b.limits = *limits;
            b.read = Bucket::new(limits.read_rate, now);
            b.write = Bucket::new(limits.write_rate, now);
        }
        let bucket = match kind {
            Kind::Read => &mut b.read,
            Kind::Write => &mut b.write,
        };
        if bucket.take(now) {
            return Verdict::Allowed;
        }
        let enforced = limits.mode == RateLimitMode::Enforcing;
        b.unlogged += 1;
        if b.last_log
            .is_none_or(|at| now.duration_since(at) >= LOG_EVERY)
        {
            let exceeded = std::mem::take(&mut b.unlogged);
            b.last_log = Some(now);
            tracing::warn!(
                limit_type = kind.label(),
                limit_enforced = enforced,
                mode = limits.mode.name(),
                requests = exceeded,
                "HTTP requests exceeded the allowed rate limit (limits.request_limits)"
            );
        }
        if enforced {
            Verdict::Refused
        } else {
            Verdict::ExceededAllowed
        }
    }
}

/// Middleware: refuses or notes requests over `limits.request_limits`.
pub(super) async fn limit_rate(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    if let Some(kind) = classify(req.method(), req.uri().path()) {
        let limits = state.config().limits.request_limits;
        match state.rate_limiter.check(&limits, kind, Instant::now()) {
            Verdict::Allowed => {}
            Verdict::ExceededAllowed => {
                state
                    .metrics
                    .record(|| metrics::counter!("consul.rpc.rate_limit.exceeded").increment(1));
            }
            Verdict::Refused => {
                state
                    .metrics
                    .record(|| metrics::counter!("consul.rpc.rate_limit.exceeded").increment(1));
                // Consul: only the leader can take a write, so "try
                // elsewhere" would be wrong there.
                let on_leader = state.backend.server().is_some_and(|s| s.is_leader());
                let refusal = if kind == Kind::Write && on_leader {
                    ApiError::RateLimitedOnLeader
                } else {
                    ApiError::RateLimited
                };
                return refusal.into_response();
            }
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(mode: RateLimitMode, read: f64, write: f64) -> RequestLimits {
        RequestLimits {
            mode,
            read_rate: read,
            write_rate: write,
        }
    }

    #[test]
    fn reads_and_writes_are_told_apart_and_agent_status_operator_paths_are_exempt() {
        assert_eq!(classify(&Method::GET, "/v1/kv/a"), Some(Kind::Read));
        assert_eq!(
            classify(&Method::HEAD, "/v1/catalog/nodes"),
            Some(Kind::Read)
        );
        assert_eq!(classify(&Method::PUT, "/v1/kv/a"), Some(Kind::Write));
        assert_eq!(classify(&Method::DELETE, "/v1/kv/a"), Some(Kind::Write));
        assert_eq!(classify(&Method::PUT, "/v1/txn"), Some(Kind::Write));
        for path in [
            "/v1/agent/self",
            "/v1/agent/service/register",
            "/v1/status/leader",
            "/v1/operator/raft/configuration",
            "/v1/snapshot",
            "/ui/",
            "/",
        ] {
            assert_eq!(classify(&Method::GET, path), None, "{path}");
            assert_eq!(classify(&Method::PUT, path), None, "{path}");
        }
    }

    #[test]
    fn a_bucket_holds_ten_seconds_of_requests_and_refills_at_the_rate() {
        let now = Instant::now();
        let l = limits(RateLimitMode::Enforcing, 2.0, 1.0);
        let limiter = RequestLimiter::new(l);
        for i in 0..20 {
            assert_eq!(
                limiter.check(&l, Kind::Read, now),
                Verdict::Allowed,
                "read {i}"
            );
        }
        assert_eq!(limiter.check(&l, Kind::Read, now), Verdict::Refused);
        // Writes have their own bucket.
        assert_eq!(limiter.check(&l, Kind::Write, now), Verdict::Allowed);
        // Half a second later one more read is allowed, and then none.
        let later = now + Duration::from_millis(500);
        assert_eq!(limiter.check(&l, Kind::Read, later), Verdict::Allowed);
        assert_eq!(limiter.check(&l, Kind::Read, later), Verdict::Refused);
    }

    #[test]
    fn permissive_mode_serves_what_enforcing_mode_refuses() {
        let now = Instant::now();
        let l = limits(RateLimitMode::Permissive, 0.1, 0.1);
        let limiter = RequestLimiter::new(l);
        assert_eq!(limiter.check(&l, Kind::Write, now), Verdict::Allowed);
        assert_eq!(
            limiter.check(&l, Kind::Write, now),
            Verdict::ExceededAllowed
        );
        let enforcing = limits(RateLimitMode::Enforcing, 0.1, 0.1);
        // New settings make new buckets: one write, then refusals.
        assert_eq!(
            limiter.check(&enforcing, Kind::Write, now),
            Verdict::Allowed
        );
        assert_eq!(
            limiter.check(&enforcing, Kind::Write, now),
            Verdict::Refused
        );
    }

    #[test]
    fn disabled_mode_and_unlimited_rates_allow_everything() {
        let now = Instant::now();
        let off = limits(RateLimitMode::Disabled, 0.0, 0.0);
        let unlimited = limits(RateLimitMode::Enforcing, f64::INFINITY, f64::INFINITY);
        let limiter = RequestLimiter::new(off);
        for _ in 0..1000 {
            assert_eq!(limiter.check(&off, Kind::Read, now), Verdict::Allowed);
            assert_eq!(
                limiter.check(&unlimited, Kind::Write, now),
                Verdict::Allowed
            );
        }
    }

    #[test]
    fn a_zero_rate_allows_nothing_in_enforcing_mode() {
        let now = Instant::now();
        let l = limits(RateLimitMode::Enforcing, 0.0, f64::INFINITY);
        let limiter = RequestLimiter::new(l);
        assert_eq!(limiter.check(&l, Kind::Read, now), Verdict::Refused);
        assert_eq!(
            limiter.check(&l, Kind::Read, now + Duration::from_secs(60)),
            Verdict::Refused
        );
        assert_eq!(limiter.check(&l, Kind::Write, now), Verdict::Allowed);
    }
}
