//! The extractors handlers use for a path parameter and a request body:
//! axum's own, whose refusals (a body over `DefaultBodyLimit` or cut off
//! while read, a path segment that does not decode) become
//! [`ApiError::Rejected`] and so answer in the agent's one-line plain-text
//! style with axum's status. Never use `axum::extract::Path`, `Bytes` or
//! `Json` as a handler argument directly: their rejections bypass
//! `error.rs`.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// A path parameter (or tuple of them), as `axum::extract::Path`.
#[derive(Debug)]
pub struct Path<T>(pub T);

impl<S, T> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(t)| Path(t))
            .map_err(ApiError::from)
    }
}

/// The whole request body, read under the route's body limit.
#[derive(Debug)]
pub struct Body(pub Bytes);

impl<S> FromRequest<S> for Body
where
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Bytes::from_request(req, state)
            .await
            .map(Body)
            .map_err(ApiError::from)
    }
}

/// axum's reason folded onto one line.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::Rejected {
            status: r.status(),
            reason: one_line(&r.body_text()),
        }
    }
}

impl From<BytesRejection> for ApiError {
    fn from(r: BytesRejection) -> Self {
        ApiError::Rejected {
            status: r.status(),
            reason: one_line(&r.body_text()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_multi_line_reason_is_folded_onto_one_line() {
        assert_eq!(one_line("a\n  b\r\nc "), "a b c");
    }
}

/// The token a request carries, as Consul reads it: `X-Consul-Token`,
/// else `Authorization: Bearer <token>`, else `?token=`; without one, the
/// agent's `default` token (anonymous when unset). Every handler that
/// reaches the store or this agent's state takes it.
#[derive(Debug, Clone)]
pub struct Caller(pub praetor_server::acl::Token);

impl Caller {
    /// The token.
    pub fn token(&self) -> &praetor_server::acl::Token {
        &self.0
    }

    /// The secret the request itself carried, as [`Caller`] reads it.
    pub fn given(parts: &Parts) -> Option<String> {
        let header = |name| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
        };
        if let Some(t) = header("x-consul-token") {
            return Some(t.to_owned());
        }
        if let Some(auth) = header("authorization") {
            let mut words = auth.splitn(2, ' ');
            if let (Some(scheme), Some(t)) = (words.next(), words.next()) {
                if scheme.eq_ignore_ascii_case("bearer") && !t.trim().is_empty() {
                    return Some(t.trim().to_owned());
                }
            }
        }
        let query = parts.uri.query()?;
        super::query::Params::parse(Some(query))
            .get("token")
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
    }
}

impl FromRequestParts<std::sync::Arc<super::AppState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &std::sync::Arc<super::AppState>,
    ) -> Result<Self, Self::Rejection> {
        Ok(Caller(state.acl.caller(Caller::given(parts).as_deref())))
    }
}
