//! Consul's watch plans: which endpoint a watch type reads, and the loop of
//! blocking queries that calls back each time the result changes. Shared by
//! `praetor watch` and the agent's configured `watches`.

use serde::Deserialize;
use serde_json::Value;

use crate::{Client, ClientError, QueryOptions};

/// What to watch, in Consul's terms (the CLI's flags, the config's keys).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct WatchSpec {
    #[serde(rename = "type")]
    pub kind: String,
    pub key: Option<String>,
    pub prefix: Option<String>,
    pub service: Option<String>,
    pub tag: Option<String>,
    pub passingonly: bool,
    pub state: Option<String>,
    pub name: Option<String>,
}

/// Why a watch cannot run.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("{0}")]
    Spec(String),
    #[error(transparent)]
    Client(#[from] ClientError),
}

/// An endpoint path and its extra query parameters.
pub type Endpoint = (String, Vec<(&'static str, String)>);

impl WatchSpec {
    /// The endpoint this watch reads and its extra parameters.
    ///
    /// # Errors
    /// `Spec` for an unknown type or a missing option, naming it.
    pub fn endpoint(&self) -> Result<Endpoint, WatchError> {
        let need = |v: &Option<String>, flag: &str| {
            v.clone().filter(|s| !s.is_empty()).ok_or_else(|| {
                WatchError::Spec(format!("Must specify -{flag} for a {} watch", self.kind))
            })
        };
        let enc = |s: &str| {
            percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
        };
        Ok(match self.kind.as_str() {
            "key" => (format!("/v1/kv/{}", need(&self.key, "key")?), vec![]),
            "keyprefix" => (
                format!("/v1/kv/{}", need(&self.prefix, "prefix")?),
                vec![("recurse", String::new())],
            ),
            "services" => ("/v1/catalog/services".into(), vec![]),
            "nodes" => ("/v1/catalog/nodes".into(), vec![]),
            "service" => {
                let mut extra = vec![];
                if let Some(t) = &self.tag {
                    extra.push(("tag", t.clone()));
                }
                if self.passingonly {
                    extra.push(("passing", String::new()));
                }
                (format!("/v1/health/service/{}", enc(&need(&self.service, "service")?)), extra)
            }
            "checks" => match (&self.service, &self.state) {
                (Some(s), None) => (format!("/v1/health/checks/{}", enc(s)), vec![]),
                (None, Some(st)) => (format!("/v1/health/state/{}", enc(st)), vec![]),
                (None, None) => ("/v1/health/state/any".into(), vec![]),
                (Some(_), Some(_)) => {
                    return Err(WatchError::Spec("Cannot specify both -service and -state for a checks watch".into()))
                }
            },
            "event" => {
                let extra = self.name.iter().map(|n| ("name", n.clone())).collect();
                ("/v1/event/list".into(), extra)
            }
            other => {
                return Err(WatchError::Spec(format!(
                    "Unsupported watch type: {other:?} (key, keyprefix, services, nodes, service, checks, event)"
                )))
            }
        })
    }

    /// The plan of this watch: its endpoint and the state of its chain of
    /// blocking reads, starting at `opts.index`.
    ///
    /// # Errors
    /// `Spec` for an unknown type or a missing option.
    pub fn plan(&self, opts: QueryOptions) -> Result<Plan, WatchError> {
        let (path, extra) = self.endpoint()?;
        Ok(Plan {
            handover: Handover::asked(opts.index, self.kind == "event"),
            path,
            extra: extra.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            opts,
        })
    }

    /// Runs the watch: calls `on_change(result, index)` with the first
    /// result and with every later one that differs (an event watch hands
    /// over only events not handed over yet), until `on_change` returns
    /// `false` or a read fails.
    ///
    /// # Errors
    /// `Spec` for a bad spec; `Client` when a read fails.
    pub async fn run(
        &self,
        client: &Client,
        opts: QueryOptions,
        mut on_change: impl FnMut(Value, u64) -> bool,
    ) -> Result<(), WatchError> {
        let mut plan = self.plan(opts)?;
        loop {
            let (result, index) = plan.next(client).await?;
            if !on_change(result, index) {
                return Ok(());
            }
        }
    }
}

/// A watch's chain of blocking reads over HTTP. A failed read leaves the
/// plan as it was, except that the next read does not block (the agent may
/// have restarted with other indexes): calling [`Plan::next`] again after a
/// pause resumes the watch, and a result the handler already has is not
/// handed over again.
#[derive(Debug, Clone)]
pub struct Plan {
    path: String,
    extra: Vec<(String, String)>,
    opts: QueryOptions,
    handover: Handover,
}

impl Plan {
    /// The plan of a chain of blocking reads of `path` with `extra`
    /// parameters (any endpoint that answers `X-Consul-Index`), starting
    /// at `opts.index`.
    pub fn new(path: String, extra: Vec<(String, String)>, opts: QueryOptions) -> Plan {
        Plan {
            handover: Handover::asked(opts.index, false),
            path,
            extra,
            opts,
        }
    }

    /// Reads until the result differs from the last one handed over (the
    /// first read's result always does) and returns it with its index.
    ///
    /// # Errors
    /// The failed read's error; the plan can be resumed.
    pub async fn next(&mut self, client: &Client) -> Result<(Value, u64), ClientError> {
        loop {
            let opts = QueryOptions {
                index: self.handover.next_index(),
                ..self.opts.clone()
            };
            let extra: Vec<(&str, String)> = self
                .extra
                .iter()
                .map(|(k, v)| (k.as_str(), v.clone()))
                .collect();
            let read = client.read::<Value>(&self.path, &opts, &extra).await;
            let (body, meta) = match read {
                Ok(read) => read,
                Err(e) => {
                    self.handover.resume();
                    return Err(e);
                }
            };
            // A missing key reads as null, as Consul's watch hands it over.
            let result = body.unwrap_or(Value::Null);
            let index = meta.last_index;
            if let (Some(result), _) = self.handover.take(result, index) {
                return Ok((result, index));
            }
        }
    }
}

/// The pause before a watch reads again after a failed read: 1 s after the
/// first failure, doubling with each further one up to 30 s, each less up
/// to a fifth at random so that watches started together do not retry
/// together. Consul's watch waits 5 s × failures² up to 180 s; Praetor
/// starts sooner, so a watch resumes within seconds of its agent's restart,
/// and caps lower, so it never sleeps through minutes of a working agent.
#[derive(Debug, Clone)]
pub struct Backoff {
    first: std::time::Duration,
    max: std::time::Duration,
    failures: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new(
            std::time::Duration::from_secs(1),
            std::time::Duration::from_secs(30),
        )
    }
}

impl Backoff {
    /// A back-off from `first` doubling to `max`.
    pub fn new(first: std::time::Duration, max: std::time::Duration) -> Self {
        Backoff {
            first,
            max,
            failures: 0,
        }
    }

    /// Counts a failure and returns how long to wait before the next read.
    pub fn failed(&mut self) -> std::time::Duration {
        let full = self
            .first
            .saturating_mul(1u32 << self.failures.min(16))
            .min(self.max);
        self.failures = self.failures.saturating_add(1);
        // Up to a fifth less, at random (std's per-process random hash keys).
        use std::hash::{BuildHasher as _, Hasher as _};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(self.failures);
        let fifth = full / 5;
        let nanos = u64::try_from(fifth.as_nanos()).unwrap_or(u64::MAX).max(1);
        full - std::time::Duration::from_nanos(h.finish() % nanos)
    }

    /// A read worked: the next failure waits `first` again.
    pub fn succeeded(&mut self) {
        self.failures = 0;
    }

    /// Failures since the last success.
    pub fn failures(&self) -> u32 {
        self.failures
    }
}

/// What a watch plan hands over, as Consul's watch does: the first result
/// and every later one that differs; for an event watch only the events not
/// handed over yet, and nothing for an empty list after the first read. The
/// one implementation, used by `WatchSpec::run` over HTTP and by the agent's
/// configured watches through its backend.
#[derive(Debug, Clone, Default)]
pub struct Handover {
    events: bool,
    last: Option<Value>,
    last_event: Option<u64>,
    asked: Option<u64>,
}

impl Handover {
    /// A plan whose first read asks from `index` (`None`: a first read
    /// that does not block); `events` for an event watch.
    pub fn asked(index: Option<u64>, events: bool) -> Self {
        Handover {
            events,
            asked: index,
            ..Handover::default()
        }
    }

    /// The index the next read asks from, `None` before the first.
    pub fn next_index(&self) -> Option<u64> {
        self.asked
    }

    /// After a failed read: the next read does not block (the agent may
    /// have restarted, or the index be gone), while the last result is
    /// kept, so the same result is not handed over twice.
    pub fn resume(&mut self) {
        if self.asked.is_some() {
            self.asked = Some(0);
        }
    }

    /// Takes a read's `result` at `index`: what to hand over (if anything)
    /// and the index to ask from next. An index that went back (a restore)
    /// starts over from 0, as Consul's watch does.
    pub fn take(&mut self, mut result: Value, index: u64) -> (Option<Value>, u64) {
        let next = if self.asked.is_some_and(|i| index < i) {
            0
        } else {
            index
        };
        let changed = self.last.as_ref() != Some(&result);
        if changed {
            self.last = Some(result.clone());
        }
        let out = if self.events {
            if let (Value::Array(events), Some(seen)) = (&mut result, self.last_event) {
                events.retain(|e| e["LTime"].as_u64().is_some_and(|t| t > seen));
            }
            if let Some(t) = result
                .as_array()
                .and_then(|l| l.last())
                .and_then(|e| e["LTime"].as_u64())
            {
                self.last_event = Some(t);
            }
            let empty_after_first =
                result.as_array().is_some_and(Vec::is_empty) && self.asked.is_some();
            (changed && !empty_after_first).then_some(result)
        } else {
            changed.then_some(result)
        };
        self.asked = Some(next);
        (out, next)
    }
}

#[cfg(test)]
mod handover_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_result_is_handed_over_first_and_then_only_when_it_differs() {
        let mut h = Handover::asked(None, false);
        assert_eq!(h.take(json!([1]), 5), (Some(json!([1])), 5));
        assert_eq!(h.take(json!([1]), 6), (None, 6));
        assert_eq!(h.take(json!([2]), 7), (Some(json!([2])), 7));
        // A restore: the index went back, so the next read starts over.
        assert_eq!(h.take(json!([2]), 3), (None, 0));
    }

    #[test]
    fn after_a_failed_read_the_next_does_not_block_and_the_same_result_is_not_handed_over_again() {
        let mut h = Handover::asked(None, false);
        assert_eq!(h.take(json!([1]), 5), (Some(json!([1])), 5));
        h.resume();
        assert_eq!(h.next_index(), Some(0));
        assert_eq!(h.take(json!([1]), 5), (None, 5));
        assert_eq!(h.take(json!([2]), 6), (Some(json!([2])), 6));
        // Before any read, a resumed plan still makes its first read.
        let mut fresh = Handover::asked(None, false);
        fresh.resume();
        assert_eq!(fresh.next_index(), None);
    }

    #[test]
    fn back_off_doubles_from_one_second_to_thirty_and_starts_over_after_a_success() {
        let mut b = Backoff::default();
        let full = [1, 2, 4, 8, 16, 30, 30, 30];
        for secs in full {
            let d = b.failed();
            let top = std::time::Duration::from_secs(secs);
            assert!(d <= top && d >= top * 4 / 5, "{d:?} for {secs}s");
        }
        assert_eq!(b.failures(), 8);
        b.succeeded();
        assert!(b.failed() <= std::time::Duration::from_secs(1));
        // Any number of failures stays bounded.
        for _ in 0..100 {
            assert!(b.failed() <= std::time::Duration::from_secs(30));
        }
    }

    #[test]
    fn an_event_watch_hands_over_only_events_not_handed_over_yet() {
        let mut h = Handover::asked(None, true);
        let e = |t: u64| json!({"ID": t.to_string(), "LTime": t});
        assert_eq!(
            h.take(json!([e(1), e(2)]), 2),
            (Some(json!([e(1), e(2)])), 2)
        );
        assert_eq!(
            h.take(json!([e(1), e(2), e(3)]), 3),
            (Some(json!([e(3)])), 3)
        );
        // Nothing new: nothing handed over, not even an empty list.
        assert_eq!(h.take(json!([e(1), e(2), e(3)]), 4), (None, 4));
        let mut fresh = Handover::asked(None, true);
        assert_eq!(fresh.take(json!([]), 1), (Some(json!([])), 1));
        assert_eq!(fresh.take(json!([]), 2), (None, 2));
    }
}
