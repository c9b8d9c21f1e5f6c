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
        let mut last: Option<Value> = None;
        let mut last_event: Option<u64> = None;
        loop {
            let (body, meta) = client.read::<Value>(&path, &opts, &extra).await?;
            // A missing key reads as null, as Consul's watch hands it over.
            let mut result = body.unwrap_or(Value::Null);
            let index = meta.last_index;
            // An index that went back (a restore) starts over, as Consul's watch.
            let next = if opts.index.is_some_and(|i| index < i) {
                0
            } else {
                index
            };
            let changed = last.as_ref() != Some(&result);
            if changed {
                last = Some(result.clone());
            }
            if self.kind == "event" {
                if let (Value::Array(events), Some(seen)) = (&mut result, last_event) {
                    events.retain(|e| e["LTime"].as_u64().is_some_and(|t| t > seen));
                }
                if let Some(t) = result
                    .as_array()
                    .and_then(|l| l.last())
                    .and_then(|e| e["LTime"].as_u64())
                {
                    last_event = Some(t);
                }
                let empty_after_first =
                    result.as_array().is_some_and(Vec::is_empty) && opts.index.is_some();
                if changed && !empty_after_first && !on_change(result, index) {
                    return Ok(());
                }
            } else if changed && !on_change(result, index) {
                return Ok(());
            }
            opts = QueryOptions {
                index: Some(next),
                ..opts
            };
        }
    }
}
