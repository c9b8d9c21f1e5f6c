//! Consul's metrics stream (`GET /v1/agent/metrics/stream`): the summary of
//! each interval, in the JSON of `/v1/agent/metrics`, as the interval ends.
//! The stream is lazy: it renders a summary only when its reader has taken
//! the previous one, so a slow reader holds nothing but its place and
//! skips the intervals it was too slow for (as Consul's `Stream`, which
//! waits for the interval in progress after each write). Holds the sink's
//! lock only while rendering; never waits on anything but the clock and
//! `stop`.

use std::convert::Infallible;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use futures::Stream;
use tokio_util::sync::CancellationToken;

use super::{IntervalSink, Metrics};

impl Metrics {
    /// One JSON line per interval, from the end of the interval in
    /// progress, until `stop` is cancelled or the stream is dropped (its
    /// reader went away). `refresh` runs before each summary (to set the
    /// gauges read at that moment).
    pub fn stream(
        &self,
        refresh: impl Fn() + Send + Sync + 'static,
        stop: CancellationToken,
    ) -> impl Stream<Item = Result<Bytes, Infallible>> + Send + 'static {
        let shared = self.recorder.shared.clone();
        let first = shared.sink.number(Instant::now());
        let refresh = std::sync::Arc::new(refresh);
        futures::stream::unfold(first, move |number| {
            let shared = shared.clone();
            let stop = stop.clone();
            let refresh = refresh.clone();
            async move {
                let end = shared.sink.end_of(number, Instant::now());
                tokio::select! {
                    () = tokio::time::sleep_until(end.into()) => {}
                    () = stop.cancelled() => return None,
                }
                refresh();
                let summary = shared.sink.summary(number, Instant::now());
                // serde_json never fails on a Value.
                let mut line = serde_json::to_vec(&summary).unwrap_or_default();
                line.push(b'\n');
                // Next: the interval in progress when the reader asks.
                let next = shared.sink.number(Instant::now()).max(number + 1);
                Some((Ok(Bytes::from(line)), next))
            }
        })
    }
}

impl IntervalSink {
    /// When interval `number` ends, on the clock of `now`.
    fn end_of(&self, number: u64, now: Instant) -> Instant {
        let left = self.at(number + 1).saturating_sub(self.clock(now));
        now + left.min(Duration::from_secs(24 * 3600))
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt as _;

    use super::*;

    #[tokio::test]
    async fn each_interval_is_sent_once_it_ends_with_what_it_counted() {
        let interval = Duration::from_millis(200);
        let m = Metrics::new(interval);
        let stop = CancellationToken::new();
        let refreshed = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = refreshed.clone();
        let stream = m.stream(
            move || {
                seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            },
            stop.clone(),
        );
        let mut stream = Box::pin(stream);
        m.record(|| metrics::counter!("test.stream.hits").increment(3));
        let started = Instant::now();
        let first = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .expect("a line within the interval")
            .expect("the stream goes on")
            .unwrap();
        assert!(started.elapsed() <= interval + Duration::from_millis(150));
        assert_eq!(first.last(), Some(&b'\n'));
        let v: serde_json::Value = serde_json::from_slice(&first).unwrap();
        for key in ["Timestamp", "Gauges", "Points", "Counters", "Samples"] {
            assert!(v.get(key).is_some(), "{key} in {v}");
        }
        // The counter was recorded in the interval just sent, unless the
        // interval ended between the stream's start and the increment.
        let counted = |v: &serde_json::Value| {
            v["Counters"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c["Name"] == "test.stream.hits" && c["Sum"] == 3.0)
        };
        let second = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .expect("a second line one interval later")
            .expect("the stream goes on")
            .unwrap();
        let v2: serde_json::Value = serde_json::from_slice(&second).unwrap();
        assert!(counted(&v) || counted(&v2), "{v}\n{v2}");
        assert_ne!(v["Timestamp"], serde_json::Value::Null);
        assert_eq!(
            refreshed.load(std::sync::atomic::Ordering::Relaxed),
            2,
            "the gauges are refreshed before each line"
        );
        stop.cancel();
        let end = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .expect("the stream ends at once when the agent stops");
        assert!(end.is_none());
    }
}
