//! A configured watch's plan, read through the agent's backend: which typed
//! read each watch type makes, the JSON its handler gets (exactly what the
//! HTTP endpoint Consul's watch type names would answer: a missing key or
//! an empty prefix is `null`, events are those this agent acts on), and
//! the loop of blocking reads that hands over each result that differs
//! from the last. The same plan over HTTP is `praetor_client::watch`, which
//! `praetor watch` uses; the two must hand over the same values.
//!
//! Never writes, and never calls the agent's own HTTP API.

use std::time::Duration;

use praetor_client::watch::{Backoff, Handover, WatchSpec};
use praetor_server::read::{
    CatalogNodes, CatalogServices, ChecksInState, Events, HealthService, KvGet, KvList,
    ServiceChecks,
};
use praetor_server::{Answered, Consistency, QueryOpts};
use serde::Serialize;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::http::error::ApiError;
use crate::http::{catalog, event, AppState};

/// A blocking read's wait: what `praetor_client` asks by default (Consul's
/// default wait, 5 minutes).
const WAIT: Duration = Duration::from_secs(300);

/// What a watch reads, from its type and options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum View {
    /// `key`: the key's entry, as a list of one (`/v1/kv/<key>`).
    Key(String),
    /// `keyprefix`: the entries under a prefix (`/v1/kv/<prefix>?recurse`).
    KeyPrefix(String),
    /// `services`: service names with their tags.
    Services,
    /// `nodes`: every catalog node.
    Nodes,
    /// `service`: a service's instances with their checks.
    Service {
        name: String,
        tag: Option<String>,
        passing: bool,
    },
    /// `checks` with `service`: that service's checks.
    ServiceChecks(String),
    /// `checks` with `state` (or neither: `any`): checks in a state.
    ChecksInState(String),
    /// `event`: the user events this agent acts on, by name if given.
    Events(Option<String>),
}

impl View {
    /// The view of `spec`.
    ///
    /// # Errors
    /// As `WatchSpec::endpoint`: an unknown type or a missing option.
    pub(super) fn of(spec: &WatchSpec) -> Result<View, String> {
        // The same checks and wording as the HTTP plan.
        spec.endpoint().map_err(|e| e.to_string())?;
        let given = |v: &Option<String>| v.clone().unwrap_or_default();
        Ok(match spec.kind.as_str() {
            "key" => View::Key(given(&spec.key)),
            "keyprefix" => View::KeyPrefix(given(&spec.prefix)),
            "services" => View::Services,
            "nodes" => View::Nodes,
            "service" => View::Service {
                name: given(&spec.service),
                tag: spec.tag.clone(),
                passing: spec.passingonly,
            },
            "checks" => match (&spec.service, &spec.state) {
                (Some(s), _) => View::ServiceChecks(s.clone()),
                (None, Some(st)) => View::ChecksInState(st.clone()),
                (None, None) => View::ChecksInState("any".into()),
            },
            "event" => View::Events(spec.name.clone().filter(|n| !n.is_empty())),
            other => return Err(format!("Unsupported watch type: {other:?}")),
        })
    }

    /// Reads the view once (blocking while its index is at most `index`,
    /// when not 0): the JSON the HTTP endpoint would answer and its
    /// `X-Consul-Index`.
    ///
    /// # Errors
    /// When no server can answer, or the view's options are refused (an
    /// unknown check state), as the endpoint would.
    pub(super) async fn read(
        &self,
        state: &AppState,
        index: u64,
    ) -> Result<(Value, u64), ApiError> {
        let opts = QueryOpts {
            index,
            wait: WAIT,
            consistency: Consistency::Default,
        };
        match self {
            View::Key(key) => {
                let r = read(state, KvGet { key: key.clone() }, opts).await?;
                json(r.map(|found| found.map(|e| vec![e.to_pair(key)])))
            }
            View::KeyPrefix(prefix) => {
                let read_list = KvList {
                    prefix: prefix.clone(),
                };
                let r = read(state, read_list, opts).await?;
                json(r.map(|list| {
                    let pairs: Vec<_> = list.iter().map(|(k, e)| e.to_pair(k)).collect();
                    (!pairs.is_empty()).then_some(pairs)
                }))
            }
            View::Services => json(read(state, CatalogServices, opts).await?),
            View::Nodes => json(read(state, CatalogNodes, opts).await?),
            View::Service { name, tag, passing } => {
                let health = HealthService {
                    name: name.clone(),
                    tag: tag.clone(),
                    passing: *passing,
                };
                json(read(state, health, opts).await?)
            }
            View::ServiceChecks(name) => {
                let checks = ServiceChecks { name: name.clone() };
                json(read(state, checks, opts).await?)
            }
            View::ChecksInState(wanted) => {
                catalog::check_state(wanted)?;
                let checks = ChecksInState {
                    state: wanted.clone(),
                };
                json(read(state, checks, opts).await?)
            }
            View::Events(name) => {
                let r = read(state, Events { name: name.clone() }, opts).await?;
                json(r.map(|list| event::delivered(state, list)))
            }
        }
    }

    /// Runs the plan until `stop`: calls `on_change(result, index)` with
    /// the first result and with every later one that differs (an event
    /// watch hands over only events not handed over yet), as
    /// `praetor_client::watch::Plan` does over HTTP. A failed read is
    /// logged and retried after a back-off ([`Backoff`]: 1 s doubling to
    /// 30 s), as Consul's watch retries; the watch never ends on its own.
    ///
    /// A blocking read on this agent's own server can complete without
    /// ever waiting (a stopping server answers at once), so the loop checks
    /// `stop` itself and yields after a read that brought nothing new:
    /// it never holds a runtime thread.
    pub(super) async fn run(
        &self,
        state: &AppState,
        stop: &CancellationToken,
        kind: &str,
        mut on_change: impl FnMut(Value, u64),
    ) {
        let mut handover = Handover::asked(None, matches!(self, View::Events(_)));
        let mut backoff = Backoff::default();
        while !stop.is_cancelled() {
            let asked = handover.next_index();
            let read = tokio::select! {
                r = self.read(state, asked.unwrap_or(0)) => r,
                () = stop.cancelled() => return,
            };
            match read {
                Ok((result, index)) => {
                    backoff.succeeded();
                    if asked == Some(index) {
                        tokio::task::yield_now().await;
                    }
                    if let (Some(result), _) = handover.take(result, index) {
                        on_change(result, index);
                    }
                }
                Err(e) => {
                    handover.resume();
                    let retry = backoff.failed();
                    tracing::warn!(watch = %kind, error = %e, retry = ?retry,
                        "watch read failed; retrying");
                    tokio::select! {
                        () = tokio::time::sleep(retry) => {}
                        () = stop.cancelled() => return,
                    }
                }
            }
        }
    }
}

/// One typed read through the backend.
/// With the agent's token (Consul's watches in the agent config use it).
async fn read<R: praetor_server::acl::Guarded>(
    state: &AppState,
    r: R,
    opts: QueryOpts,
) -> Result<Answered<R::Answer>, ApiError> {
    Ok(state
        .backend
        .read(&state.acl.agent_token(), r, opts)
        .await?)
}

/// The answer as the endpoint's JSON body (`None`: a 404, `null` to the
/// handler) and its `X-Consul-Index` (at least 1).
fn json<T: Serialize>(r: Answered<T>) -> Result<(Value, u64), ApiError> {
    let body = serde_json::to_value(r.answer).map_err(|e| ApiError::Failed(e.to_string()))?;
    Ok((body, r.index.max(1)))
}
