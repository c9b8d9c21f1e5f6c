//! Reads as they travel between agents and servers. A `Query` names what to
//! read; `Server::query` answers it with Consul's consistency modes and
//! blocking-query rules, on this server when it may answer and on the leader
//! (over RPC) when it may not. A client agent sends the same `Query` to a
//! server, so the blocking wait runs next to the store, as in Consul.

use std::time::Duration;

use praetor_store::{Change, Entry, HistoryError, Store};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::{Consistency, ReadMeta};

/// What to read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Query {
    /// One key (`GET /v1/kv/<key>`).
    KvGet { key: String },
    /// Every key under a prefix (`?recurse`).
    KvList { prefix: String },
    /// Key names under a prefix, cut at a separator (`?keys`).
    KvKeys {
        prefix: String,
        separator: Option<String>,
    },
    /// Every catalog node (`/v1/catalog/nodes`).
    CatalogNodes,
    /// One catalog node with its services (`/v1/catalog/node/<name>`,
    /// `/v1/catalog/node-services/<name>`).
    CatalogNode { name: String },
    /// Service names with their tags (`/v1/catalog/services`).
    CatalogServices,
    /// A service's instances (`/v1/catalog/service/<name>`).
    ServiceNodes { name: String, tag: Option<String> },
    /// A service's instances with their checks (`/v1/health/service/<name>`).
    HealthService {
        name: String,
        tag: Option<String>,
        passing: bool,
    },
    /// A service's checks (`/v1/health/checks/<name>`).
    ServiceChecks { name: String },
    /// Checks in a state, or `any` (`/v1/health/state/<state>`).
    ChecksInState { state: String },
    /// A node's checks (`/v1/health/node/<name>`).
    NodeChecks { name: String },
    /// Recent user events (`/v1/event/list?name=`).
    Events { name: Option<String> },
    /// The whole store, encoded (`GET /v1/snapshot`).
    Snapshot,
    /// The KV changes under `prefix` from index `from` on, at most `max`
    /// (Praetor's watch stream). Blocks until there is at least one.
    KvChanges {
        prefix: String,
        from: u64,
        max: usize,
    },
    /// The kept versions of one key, newest first, at most `max`, with its
    /// live entry (`/v1/history/kv/<key>`).
    KvHistory { key: String, max: usize },
    /// Every service with its instance and check counts
    /// (`/v1/internal/ui/services`).
    ServiceSummaries,
    /// Every session (`/v1/session/list`).
    Sessions,
    /// One session (`/v1/session/info/<id>`).
    Session { id: String },
    /// A node's sessions (`/v1/session/node/<node>`).
    NodeSessions { node: String },
    /// A transaction whose every operation reads (`PUT /v1/txn`).
    Txn(Vec<praetor_store::txn::TxnOp>),
}

/// The answer to a `Query`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Answer {
    /// Entries with their keys, in key order (empty: nothing there).
    Kv(Vec<(String, Entry)>),
    /// Key names.
    Keys(Vec<String>),
    /// Changes, oldest first, the index to continue from, and the store's
    /// last index.
    Changes {
        changes: Vec<Change>,
        next: u64,
        current: u64,
    },
    /// Catalog nodes.
    Nodes(Vec<praetor_api::catalog::Node>),
    /// Health checks.
    Checks(Vec<praetor_api::catalog::HealthCheck>),
    /// A node (if it exists) and its service instances.
    NodeServices(
        Option<praetor_api::catalog::Node>,
        Vec<praetor_api::catalog::NodeService>,
    ),
    /// Service names with their tags.
    Services(std::collections::BTreeMap<String, Vec<String>>),
    /// Service instances flattened with their nodes.
    CatalogServices(Vec<praetor_api::catalog::CatalogService>),
    /// Service instances with their nodes and checks.
    ServiceEntries(Vec<praetor_api::catalog::ServiceEntry>),
    /// User events, oldest first.
    Events(Vec<praetor_api::event::UserEvent>),
    /// An encoded store (`Store::encode_snapshot`).
    Snapshot(Vec<u8>),
    /// The changes asked for are no longer kept.
    Compacted { oldest: u64, current: u64 },
    /// A key's kept changes, newest first, and its live entry.
    History {
        changes: Vec<Change>,
        live: Option<Entry>,
    },
    /// Service summaries, by name.
    ServiceSummaries(Vec<praetor_api::catalog::ServiceSummary>),
    /// Sessions.
    Sessions(Vec<praetor_api::session::SessionEntry>),
    /// The outcome of a read-only transaction.
    Txn(praetor_store::txn::TxnOutcome),
}

/// How to run a query: the blocking index and wait, and the consistency mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryOpts {
    /// Return only when the answer's index is above this (0: at once).
    pub index: u64,
    /// Longest wait for a change (a small random jitter is added).
    pub wait: Duration,
    pub consistency: Consistency,
}

/// A query's answer with what the client must know about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryResult {
    pub meta: ReadMeta,
    /// `X-Consul-Index`: the index the answer reflects.
    pub index: u64,
    pub answer: Answer,
}

impl Query {
    /// Evaluates the query against `store`: the index a blocking query
    /// compares (the last change that could alter this answer) and the answer.
    pub fn eval(&self, store: &Store) -> (u64, Answer) {
        let kv = store.kv();
        match self {
            Query::KvGet { key } => {
                let found = kv.get(key).map(|e| vec![(key.clone(), e.clone())]);
                (kv.key_index(key), Answer::Kv(found.unwrap_or_default()))
            }
            Query::KvList { prefix } => {
                let list = kv
                    .list(prefix)
                    .map(|(k, e)| (k.clone(), e.clone()))
                    .collect();
                (kv.prefix_index(prefix), Answer::Kv(list))
            }
            Query::KvKeys { prefix, separator } => {
                let list = kv.keys(prefix, separator.as_deref());
                (kv.prefix_index(prefix), Answer::Keys(list))
            }
            Query::CatalogNodes => {
                let (index, nodes) = store.catalog().nodes();
                (index, Answer::Nodes(nodes))
            }
            Query::CatalogNode { name } => {
                let c = store.catalog();
                let (index, services) = c.node_services(name);
                (index, Answer::NodeServices(c.node(name).1, services))
            }
            Query::CatalogServices => {
                let (index, services) = store.catalog().services();
                (index, Answer::Services(services))
            }
            Query::ServiceNodes { name, tag } => {
                let (index, list) = store.catalog().service_nodes(name, tag.as_deref());
                (index, Answer::CatalogServices(list))
            }
            Query::HealthService { name, tag, passing } => {
                let (index, list) = store
                    .catalog()
                    .health_service(name, tag.as_deref(), *passing);
                (index, Answer::ServiceEntries(list))
            }
            Query::ServiceChecks { name } => {
                let (index, list) = store.catalog().service_checks(name);
                (index, Answer::Checks(list))
            }
            Query::ChecksInState { state } => {
                let (index, list) = store.catalog().checks_in_state(state);
                (index, Answer::Checks(list))
            }
            Query::NodeChecks { name } => {
                let (index, checks) = store.catalog().node_checks(name);
                (index, Answer::Checks(checks))
            }
            Query::Events { name } => {
                let (index, list) = store.events().list(name.as_deref());
                (index, Answer::Events(list))
            }
            Query::Snapshot => {
                // Encoding a well-formed store does not fail; an empty
                // answer would be refused by any restore.
                let data = store.encode_state().unwrap_or_default();
                (store.last_index(), Answer::Snapshot(data))
            }
            Query::Sessions => {
                let (index, list) = store.sessions().list();
                (index, Answer::Sessions(list))
            }
            Query::Session { id } => {
                let found = store.sessions().info(id);
                (
                    store.sessions().table_index(),
                    Answer::Sessions(found.into_iter().collect()),
                )
            }
            Query::NodeSessions { node } => {
                let (index, list) = store.sessions().of_node(node);
                (index, Answer::Sessions(list))
            }
            Query::Txn(ops) => (
                store.last_index().max(1),
                Answer::Txn(praetor_store::txn::read(store, ops)),
            ),
            Query::KvChanges { prefix, from, max } => {
                let current = store.last_index();
                match store.history().since(prefix, *from, usize::MAX) {
                    Ok(mut list) => {
                        // Cut after `max`, but never between two changes of
                        // one index: the reader continues after that index.
                        let cut = list.len() > *max;
                        if cut {
                            let last = list[max.saturating_sub(1)].index;
                            let keep = list.partition_point(|c| c.index <= last);
                            list.truncate(keep.max(1));
                        }
                        let last = list.last().map(|c| c.index);
                        // With changes, the index is the last one's, above
                        // `from - 1`, so the query returns; without, it stays
                        // at `from - 1` and the query waits.
                        let index = last.unwrap_or(from.saturating_sub(1));
                        let next = match last {
                            Some(i) if cut => i + 1,
                            _ => (current + 1).max(*from),
                        };
                        let changes = list.into_iter().cloned().collect();
                        (
                            index,
                            Answer::Changes {
                                changes,
                                next,
                                current,
                            },
                        )
                    }
                    Err(HistoryError::Compacted { oldest, .. }) => {
                        (u64::MAX, Answer::Compacted { oldest, current })
                    }
                }
            }
            Query::KvHistory { key, max } => {
                let changes = store
                    .history()
                    .of_key(key, *max)
                    .into_iter()
                    .cloned()
                    .collect();
                let live = kv.get(key).cloned();
                (kv.key_index(key), Answer::History { changes, live })
            }
            Query::ServiceSummaries => {
                let (index, list) = store.catalog().service_summaries();
                (index, Answer::ServiceSummaries(list))
            }
        }
    }
}

/// The wait with its jitter (up to 1/16 of it, as Consul adds).
pub(crate) fn jittered(wait: Duration) -> Duration {
    let jitter = wait.as_millis() as u64 / 16;
    let jitter = if jitter > 0 {
        rand::thread_rng().gen_range(0..=jitter)
    } else {
        0
    };
    wait + Duration::from_millis(jitter)
}
