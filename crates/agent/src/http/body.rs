//! Request bodies in flight: large bodies draw on one budget of bytes, and
//! every body must arrive within a deadline, so a crowd of large, chunked or
//! trickling uploads cannot take the agent's memory, CPU and connection
//! tasks from its other clients. Small bodies (every KV write of a usual
//! size) are never held back. Never reads or keeps a body itself.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use futures::StreamExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Bodies declared at most this large skip the budget.
pub const SMALL_BODY: u64 = 64 * 1024;
/// Bytes of large bodies being read at once, over every connection.
pub const BODY_BUDGET: u64 = 64 * 1024 * 1024;
/// How long a body may take to arrive once its request head has.
pub const BODY_DEADLINE: Duration = Duration::from_secs(60);

/// The budget large bodies draw on, counted in KiB.
#[derive(Debug)]
pub struct BodyBudget {
    kib: Arc<Semaphore>,
}

impl Default for BodyBudget {
    fn default() -> Self {
        BodyBudget::new(BODY_BUDGET)
    }
}

impl BodyBudget {
    /// A budget of `bytes`.
    pub fn new(bytes: u64) -> Self {
        BodyBudget {
            kib: Arc::new(Semaphore::new(kib(bytes) as usize)),
        }
    }

    /// Room for a body of up to `bytes`, held until the permit drops;
    /// `None` when the budget is spent (the caller refuses the request
    /// without reading its body).
    pub fn try_reserve(&self, bytes: u64) -> Option<OwnedSemaphorePermit> {
        let want = u32::try_from(kib(bytes)).unwrap_or(u32::MAX);
        self.kib.clone().try_acquire_many_owned(want).ok()
    }
}

fn kib(bytes: u64) -> u64 {
    bytes.div_ceil(1024).max(1)
}

/// The error a body read gets once its deadline has passed.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within {0:?}")]
pub struct BodyTimedOut(Duration);

/// `body`, whose reads fail once `within` has passed.
pub fn with_deadline(body: Body, within: Duration) -> Body {
    let deadline = tokio::time::Instant::now() + within;
    let stream = futures::stream::unfold(Some(body.into_data_stream()), move |state| async move {
        let mut stream = state?;
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(Some(chunk)) => Some((chunk, Some(stream))),
            Ok(None) => None,
            Err(_) => Some((Err(axum::Error::new(BodyTimedOut(within))), None)),
        }
    });
    Body::from_stream(stream)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Bytes;

    #[test]
    fn large_bodies_share_the_budget_and_give_it_back() {
        let budget = BodyBudget::new(1024 * 1024);
        let a = budget.try_reserve(600 * 1024).expect("room for the first");
        assert!(
            budget.try_reserve(600 * 1024).is_none(),
            "no room for a second"
        );
        drop(a);
        assert!(
            budget.try_reserve(600 * 1024).is_some(),
            "room again once it is read"
        );
    }

    #[tokio::test]
    async fn a_body_that_trickles_past_its_deadline_fails_and_a_prompt_one_arrives() {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
        let slow = Body::from_stream(tokio_stream_from(rx));
        let body = with_deadline(slow, Duration::from_millis(100));
        tx.send(Ok(Bytes::from_static(b"a"))).await.unwrap();
        // The sender stays open and silent: only the deadline ends the read.
        let r = tokio::time::timeout(
            Duration::from_secs(10),
            axum::body::to_bytes(body, usize::MAX),
        )
        .await
        .expect("the deadline ends the read");
        assert!(
            r.is_err(),
            "a body still open after its deadline is an error"
        );
        drop(tx);

        let prompt = with_deadline(Body::from("value"), Duration::from_secs(1));
        let bytes = axum::body::to_bytes(prompt, usize::MAX).await.unwrap();
        assert_eq!(&bytes[..], b"value");
    }

    fn tokio_stream_from<T: Send + 'static>(
        mut rx: tokio::sync::mpsc::Receiver<T>,
    ) -> impl futures::Stream<Item = T> {
        futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
    }
}
