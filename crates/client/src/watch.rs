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
        mut opts: QueryOptions,
        mut on_change: impl FnMut(Value, u64) -> bool,
    ) -> Result<(), WatchError> {
        let (path, extra) = self.endpoint()?;
        let mut handover = Handover::asked(opts.index, self.kind == "event");
        loop {
            let (body, meta) = client.read::<Value>(&path, &opts, &extra).await?;
            // A missing key reads as null, as Consul's watch hands it over.
            let result = body.unwrap_or(Value::Null);
            let index = meta.last_index;
            let (out, next) = handover.take(result, index);
            if let Some(result) = out {
                if !on_change(result, index) {
                    return Ok(());
                }
            }
            opts = QueryOptions {
                index: Some(next),
                ..opts
            };
        }
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
