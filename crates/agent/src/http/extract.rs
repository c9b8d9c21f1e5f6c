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

/// A request body the agent keeps as a value (a KV value): read under the
/// route's body limit into one buffer of exactly its length. That is the
/// one copy of a value before the Raft log encodes its command; from here
/// the command, the log's memory, the store and its history share this
/// buffer. Kept as it arrives, a body is one or more views into the
/// connection's read buffer: holding one would pin all of that buffer
/// (and the requests around it) for as long as the key lives, and joining
/// several would copy them once more.
#[derive(Debug)]
pub struct Value(pub Bytes);

impl<S> FromRequest<S> for Value
where
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, _: &S) -> Result<Self, Self::Rejection> {
        use axum::RequestExt as _;
        use futures::StreamExt as _;

        let mut frames = req.into_limited_body().into_data_stream();
        let mut held = Vec::new();
        let mut len = 0usize;
        while let Some(frame) = frames.next().await {
            let frame = frame.map_err(unreadable)?;
            len += frame.len();
            held.push(frame);
        }
        let mut value = bytes::BytesMut::with_capacity(len);
        for frame in held {
            value.extend_from_slice(&frame);
        }
        Ok(Value(value.freeze()))
    }
}

/// A body that could not be read, as axum's `Bytes` extractor answers it:
/// 413 over the route's limit, else 400.
fn unreadable(e: axum::Error) -> ApiError {
    let inner = e.into_inner();
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(inner.as_ref());
    let mut too_large = false;
    while let Some(err) = source {
        too_large |= err.is::<http_body_util::LengthLimitError>();
        source = err.source();
    }
    let status = if too_large {
        axum::http::StatusCode::PAYLOAD_TOO_LARGE
    } else {
        axum::http::StatusCode::BAD_REQUEST
    };
    ApiError::Rejected {
        status,
        reason: one_line(&format!("Failed to buffer the request body: {inner}")),
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

    /// A request whose body arrives as `frames`, under a body limit of
    /// `limit` bytes.
    fn request(frames: Vec<Bytes>, limit: usize) -> Request {
        let stream = futures::stream::iter(frames.into_iter().map(Ok::<_, std::io::Error>));
        let mut req = Request::new(axum::body::Body::from_stream(stream));
        axum::extract::DefaultBodyLimit::max(limit).apply(&mut req);
        req
    }

    #[tokio::test]
    async fn a_value_is_one_buffer_of_its_own_however_its_body_arrived() {
        // The connection's read buffer: the request's bytes are views of it.
        let connection = Bytes::from(b"PUT ...\r\n\r\nhello, world; more requests".to_vec());
        let cases: [(&str, Vec<Bytes>); 3] = [
            ("one frame", vec![connection.slice(13..25)]),
            (
                "three frames",
                vec![
                    connection.slice(13..16),
                    connection.slice(16..20),
                    connection.slice(20..25),
                ],
            ),
            ("empty", vec![]),
        ];
        for (what, frames) in cases {
            let expected: Vec<u8> = frames.iter().flat_map(|f| f.to_vec()).collect();
            let Value(value) = Value::from_request(request(frames, 1024), &())
                .await
                .unwrap_or_else(|e| panic!("{what}: {e:?}"));
            assert_eq!(&value[..], &expected[..], "{what}");
            let range = connection.as_ptr_range();
            assert!(
                value.is_empty() || !range.contains(&value.as_ptr()),
                "{what}: the value is a view into the connection's buffer"
            );
            if value.is_empty() {
                continue;
            }
            // Nothing else holds the value's buffer, and it is exactly
            // its length: one copy, no slack.
            let owned = value
                .try_into_mut()
                .unwrap_or_else(|_| panic!("{what}: the buffer is shared"));
            assert_eq!(owned.capacity(), expected.len(), "{what}");
        }
    }

    #[tokio::test]
    async fn a_value_over_the_body_limit_is_413_and_a_broken_body_400() {
        let frames = vec![Bytes::from(vec![1u8; 600]), Bytes::from(vec![2u8; 600])];
        let e = Value::from_request(request(frames, 1000), &())
            .await
            .unwrap_err();
        assert!(
            matches!(&e, ApiError::Rejected { status, reason }
                if *status == axum::http::StatusCode::PAYLOAD_TOO_LARGE
                    && reason.contains("length limit exceeded") && !reason.contains('\n')),
            "{e:?}"
        );

        let broken = futures::stream::iter([
            Ok(Bytes::from_static(b"abc")),
            Err(std::io::Error::other("connection reset")),
        ]);
        let mut req = Request::new(axum::body::Body::from_stream(broken));
        axum::extract::DefaultBodyLimit::max(1000).apply(&mut req);
        let e = Value::from_request(req, &()).await.unwrap_err();
        assert!(
            matches!(&e, ApiError::Rejected { status, reason }
                if *status == axum::http::StatusCode::BAD_REQUEST
                    && reason.contains("connection reset")),
            "{e:?}"
        );
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
