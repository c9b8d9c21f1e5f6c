//! The one place errors become HTTP answers: Consul's status codes and a
//! one-line plain-text reason (the one exception: a watch whose index is no
//! longer kept answers 410 with its JSON body, as before). Handlers never
//! set an error status themselves; an answer that happens to be a 404 (a
//! missing KV key, a key without history) is an answer, not an error, and
//! stays with its handler.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use praetor_api::kv::Compacted;
use praetor_server::acl::AclError;
use praetor_server::ServerError;

/// An error a handler answers with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed; nothing changed.
    #[error("{0}")]
    BadRequest(String),
    /// The body is larger than allowed; nothing changed.
    #[error("{0}")]
    TooLarge(String),
    /// The thing the request names does not exist (an unknown session to
    /// renew, an unknown service ID, an unknown endpoint); 404 with
    /// Consul's wording.
    #[error("{0}")]
    NotFound(String),
    /// A watch asked for changes older than the history kept: 410 with the
    /// JSON body (`Error`, `OldestIndex`, `CurrentIndex`) and
    /// `X-Consul-Index` set to the current index.
    #[error("{}", .0.error)]
    Gone(Compacted),
    /// axum refused to extract the request (a body over the limit or that
    /// failed while being read, a path parameter that does not decode); its
    /// status kept, its reason on one line.
    #[error("{reason}")]
    Rejected {
        /// axum's status for the rejection.
        status: StatusCode,
        /// axum's reason, folded onto one line.
        reason: String,
    },
    /// The method is not served on this path.
    #[error("method {0} not allowed")]
    MethodNotAllowed(String),
    /// `?dc=` names a datacenter this agent cannot reach (Consul's wording).
    #[error("No path to datacenter")]
    NoPathToDatacenter,
    /// The operation failed for a reason the agent reports as is (a join
    /// nobody answered, an unknown node to force out); 500 as in Consul.
    #[error("{0}")]
    Failed(String),
    /// The server could not serve it (no leader, not the leader, stopped),
    /// or the caller's token may not (`ServerError::Acl`: 403 "ACL not
    /// found" or "Permission denied: …", 401 with ACLs disabled).
    #[error(transparent)]
    Server(#[from] ServerError),
    /// Over `limits.request_limits` in enforcing mode; another server may
    /// take it (Consul's `ErrRetryElsewhere`, 429).
    #[error("rate limit exceeded, try again later or against a different server")]
    RateLimited,
    /// A write over `limits.request_limits` on the leader, which alone can
    /// take it (Consul's `ErrRetryLater`, 503).
    #[error(
        "rate limit exceeded for operation that can only be performed by the leader, try again later"
    )]
    RateLimitedOnLeader,
    /// The agent is reading as many large request bodies as it will at
    /// once; nothing was read or changed (503, try again).
    #[error("{0}")]
    Busy(String),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            ApiError::BadRequest(_) | ApiError::Server(ServerError::UnknownPeer(_)) => {
                StatusCode::BAD_REQUEST
            }
            ApiError::TooLarge(_) | ApiError::Server(ServerError::TooLarge(_)) => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            ApiError::Server(ServerError::Acl(e)) => match e {
                AclError::NotFound | AclError::Denied(_) => StatusCode::FORBIDDEN,
                AclError::Disabled => StatusCode::UNAUTHORIZED,
                AclError::Invalid(_) => StatusCode::BAD_REQUEST,
            },
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Gone(_) => StatusCode::GONE,
            ApiError::Rejected { status, .. } => *status,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ApiError::RateLimitedOnLeader | ApiError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::NoPathToDatacenter | ApiError::Failed(_) | ApiError::Server(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        if status.is_server_error() {
            tracing::warn!(error = %self, "request failed");
        } else {
            tracing::debug!(error = %self, "request refused");
        }
        if let ApiError::Gone(body) = self {
            let current = body.current_index.to_string();
            return (status, [("X-Consul-Index", current)], Json(body)).into_response();
        }
        (
            status,
            [("content-type", "text/plain; charset=utf-8")],
            format!("{self}\n"),
        )
            .into_response()
    }
}
