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
