//! Reads: what can be asked of the store, each with the one answer type it
//! gets, and how a read is served with Consul's consistency modes and
//! blocking-query rules (`blocking`).
//!
//! Every read is a struct implementing [`Read`], whose associated `Answer`
//! ties the answer's type to the question, and whose `eval` computes it
//! from the store, purely. A client agent sends reads to a server (and a
//! follower to the leader) over RPC as a [`WireRead`], answered by a
//! [`WireAnswer`], variant for variant; [`answer_of`] is the one place that
//! turns a wire answer back into the read's own, and a mismatch there is a
//! [`ServerError::UnexpectedAnswer`]. Callers never see the wire enums.
//!
//! Each read also names what its answer depends on (`Read::interests`),
//! so a blocking query sleeps until a write touches one of those (`wake`),
//! and, where it can, the index its answer would report
//! (`Read::index`), so a woken query builds its answer only when that
//! index moved.
//!
//! This module never performs I/O and never changes the store; serving a
//! read (leases, forwarding, the blocking wait) lives in `blocking`.

mod answers;
mod blocking;
#[cfg(test)]
mod tests;
mod wake;

pub use answers::Answers;
pub use wake::{Waiter, Wakers};

use std::collections::BTreeMap;
use std::time::Duration;

use praetor_api::catalog::{
    CatalogService, HealthCheck, Node, NodeService, ServiceEntry, ServiceSummary,
};
use praetor_api::event::UserEvent;
use praetor_api::session::SessionEntry;
use praetor_store::txn::{TxnOp, TxnOutcome};
use praetor_store::{Change, Entry, HistoryError, Interest, Store, Table};
use serde::{Deserialize, Serialize};

use crate::{Consistency, ReadMeta, ServerError};

/// A question to the store whose answer has one type, `Answer`.
pub trait Read: Clone + Into<WireRead> + Send + Sync + 'static {
    /// What this read answers.
    type Answer: Clone + Send + Sync + 'static;

    /// Evaluates the read against `store`: the index a blocking query
    /// compares (the last change that could alter this answer) and the
    /// answer. Pure.
    fn eval(&self, store: &Store) -> (u64, Self::Answer);

    /// What the answer depends on: a blocking query on this read wakes
    /// only for writes that touched one of these. Never leave one out;
    /// naming too much only wakes the query more often. By default, any
    /// change.
    fn interests(&self) -> Vec<Interest> {
        vec![Interest::Everything]
    }

    /// The index `eval` would report, when it can be found without
    /// building the answer (`None`: build it to know).
    fn index(&self, _store: &Store) -> Option<u64> {
        None
    }

    /// For a KV watch stream: the index it resumes from, whose leaving the
    /// history changes its answer (to "compacted").
    fn resumes_from(&self) -> Option<u64> {
        None
    }

    /// This read's answer out of a wire answer. Use [`answer_of`], which
    /// reports a mismatch.
    ///
    /// # Errors
    /// The name of the read the wire answer answers, when not this one.
    fn from_wire(answer: WireAnswer) -> Result<Self::Answer, &'static str>;
}

/// How to run a read: the blocking index and wait, and the consistency mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryOpts {
    /// Return only when the answer's index is above this (0: at once).
    pub index: u64,
    /// Longest wait for a change (a small random jitter is added).
    pub wait: Duration,
    pub consistency: Consistency,
}

/// A read's answer with what the client must know about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answered<A> {
    pub meta: ReadMeta,
    /// `X-Consul-Index`: the index the answer reflects.
    pub index: u64,
    pub answer: A,
    /// `X-Consul-Results-Filtered-By-ACLs`: the token could not see all of it.
    pub filtered: bool,
}

impl<A> Answered<A> {
    /// The same meta and index around another answer.
    pub fn map<B>(self, f: impl FnOnce(A) -> B) -> Answered<B> {
        Answered {
            meta: self.meta,
            index: self.index,
            answer: f(self.answer),
            filtered: self.filtered,
        }
    }
}

/// Turns the wire answer a server sent for `R` into `R`'s answer: the one
/// place a read's answer crosses back from the wire.
///
/// # Errors
/// `UnexpectedAnswer` when the server answered another read (a protocol
/// error: a peer of another build, or a bug).
pub fn answer_of<R: Read>(
    asked: &R,
    wire: Answered<WireAnswer>,
) -> Result<Answered<R::Answer>, ServerError> {
    let Answered {
        meta,
        index,
        answer,
        filtered,
    } = wire;
    match R::from_wire(answer) {
        Ok(answer) => Ok(Answered {
            meta,
            index,
            answer,
            filtered,
        }),
        Err(got) => Err(ServerError::UnexpectedAnswer {
            asked: asked.clone().into().kind(),
            got,
        }),
    }
}

/// Declares the wire enums, one variant per read, each answer variant
/// holding that read's `Answer`; and `Read::from_wire` for every read.
macro_rules! wire {
    ($($read:ident),* $(,)?) => {
        /// A read as it travels between agents and servers over RPC: one
        /// variant per [`Read`].
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        pub enum WireRead {
            $(
                #[doc = concat!("A [`", stringify!($read), "`].")]
                $read($read),
            )*
        }

        /// A read's answer as it travels back, variant for variant with
        /// [`WireRead`].
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        pub enum WireAnswer {
            $(
                #[doc = concat!("What a [`", stringify!($read), "`] answers.")]
                $read(<$read as Read>::Answer),
            )*
        }

        $(
            impl From<$read> for WireRead {
                fn from(r: $read) -> Self {
                    WireRead::$read(r)
                }
            }
        )*

        impl WireRead {
            /// The read's name, for logs and errors.
            pub fn kind(&self) -> &'static str {
                match self {
                    $(WireRead::$read(_) => stringify!($read),)*
                }
            }
        }

        impl WireAnswer {
            /// The name of the read this answers, for logs and errors.
            pub fn kind(&self) -> &'static str {
                match self {
                    $(WireAnswer::$read(_) => stringify!($read),)*
                }
            }
        }

        /// A wire read is served as it is (a server answering a client
        /// agent, a follower forwarding to the leader); its answer is
        /// checked by whoever asked the typed read.
        impl Read for WireRead {
            type Answer = WireAnswer;

            fn eval(&self, store: &Store) -> (u64, WireAnswer) {
                match self {
                    $(WireRead::$read(r) => {
                        let (index, answer) = r.eval(store);
                        (index, WireAnswer::$read(answer))
                    })*
                }
            }

            fn interests(&self) -> Vec<Interest> {
                match self {
                    $(WireRead::$read(r) => r.interests(),)*
                }
            }

            fn index(&self, store: &Store) -> Option<u64> {
                match self {
                    $(WireRead::$read(r) => r.index(store),)*
                }
            }

            fn resumes_from(&self) -> Option<u64> {
                match self {
                    $(WireRead::$read(r) => r.resumes_from(),)*
                }
            }

            fn from_wire(answer: WireAnswer) -> Result<WireAnswer, &'static str> {
                Ok(answer)
            }
        }

        /// A wire read is checked as the typed read it carries.
        impl crate::acl::Guarded for WireRead {
            fn authorize(
                &self,
                authz: &crate::acl::Authz,
                store: &Store,
            ) -> Result<(), crate::acl::AclError> {
                match self {
                    $(WireRead::$read(r) => r.authorize(authz, store),)*
                }
            }

            fn filter(&self, authz: &crate::acl::Authz, answer: &mut WireAnswer) -> bool {
                match (self, answer) {
                    $((WireRead::$read(r), WireAnswer::$read(a)) => r.filter(authz, a),)*
                    // A mismatch cannot come out of `eval`; nothing to hide.
                    _ => false,
                }
            }
        }
    };
}

/// `Read::from_wire` for a read whose wire variant has its own name.
macro_rules! from_wire {
    ($read:ident) => {
        fn from_wire(answer: WireAnswer) -> Result<Self::Answer, &'static str> {
            match answer {
                WireAnswer::$read(a) => Ok(a),
                other => Err(other.kind()),
            }
        }
    };
}

mod acl;
mod coordinate;
mod operator;
mod query;
pub use acl::{
    AclPolicyList, AclPolicyRead, AclResolve, AclRoleAnswer, AclRoleList, AclRoleRead,
    AclTokenAnswer, AclTokenList, AclTokenRead,
};
pub use coordinate::{CoordinateNode, CoordinateNodes};
pub use operator::{AutopilotConfiguration, Usage, UsageCounts};
pub use query::{
    keeps as query_keeps, QueryGet, QueryList, QueryResolve, QueryRun, REDACTED_TOKEN,
};

wire!(
    KvGet,
    KvList,
    KvKeys,
    CatalogNodes,
    CatalogNode,
    CatalogServices,
    ServiceNodes,
    HealthService,
    ServiceChecks,
    ChecksInState,
    NodeChecks,
    Events,
    Snapshot,
    KvChanges,
    KvHistory,
    ServiceSummaries,
    Sessions,
    SessionInfo,
    NodeSessions,
    TxnRead,
    AclTokenRead,
    AclTokenList,
    AclPolicyRead,
    AclPolicyList,
    AclRoleRead,
    AclRoleList,
    AclResolve,
    ServiceInstances,
    AutopilotConfiguration,
    Usage,
    QueryList,
    QueryGet,
    QueryResolve,
    QueryRun,
    CoordinateNodes,
    CoordinateNode,
);

/// One key (`GET /v1/kv/<key>`): its entry, if any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvGet {
    pub key: String,
}

impl Read for KvGet {
    type Answer = Option<Entry>;

    fn eval(&self, store: &Store) -> (u64, Option<Entry>) {
        let kv = store.kv();
        (kv.key_index(&self.key), kv.get(&self.key).cloned())
    }

    fn interests(&self) -> Vec<Interest> {
        vec![Interest::KvKey(self.key.clone())]
    }

    fn index(&self, store: &Store) -> Option<u64> {
        Some(store.kv().key_index(&self.key))
    }

    from_wire!(KvGet);
}

/// Every key under a prefix (`?recurse`), in key order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvList {
    pub prefix: String,
}

impl Read for KvList {
    type Answer = Vec<(String, Entry)>;

    fn eval(&self, store: &Store) -> (u64, Self::Answer) {
        let kv = store.kv();
        let list = kv
            .list(&self.prefix)
            .map(|(k, e)| (k.clone(), e.clone()))
            .collect();
        (store.kv_prefix_index(&self.prefix), list)
    }

    fn interests(&self) -> Vec<Interest> {
        vec![Interest::KvPrefix(self.prefix.clone())]
    }

    fn index(&self, store: &Store) -> Option<u64> {
        Some(store.kv_prefix_index(&self.prefix))
    }

    from_wire!(KvList);
}

/// Key names under a prefix, cut at a separator (`?keys`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvKeys {
    pub prefix: String,
    pub separator: Option<String>,
}

impl Read for KvKeys {
    type Answer = Vec<String>;

    fn eval(&self, store: &Store) -> (u64, Vec<String>) {
        let kv = store.kv();
        let list = kv.keys(&self.prefix, self.separator.as_deref());
        (store.kv_prefix_index(&self.prefix), list)
    }

    fn interests(&self) -> Vec<Interest> {
        vec![Interest::KvPrefix(self.prefix.clone())]
    }

    fn index(&self, store: &Store) -> Option<u64> {
        Some(store.kv_prefix_index(&self.prefix))
    }

    from_wire!(KvKeys);
}

/// Every catalog node (`/v1/catalog/nodes`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogNodes;

impl Read for CatalogNodes {
    type Answer = Vec<Node>;

    fn eval(&self, store: &Store) -> (u64, Vec<Node>) {
        store.catalog().nodes()
    }

    fn interests(&self) -> Vec<Interest> {
        vec![Interest::Table(Table::Nodes)]
    }

    fn index(&self, store: &Store) -> Option<u64> {
        Some(store.table_index(Table::Nodes).max(1))
    }

    from_wire!(CatalogNodes);
}

/// One catalog node with its services (`/v1/catalog/node/<name>`,
/// `/v1/catalog/node-services/<name>`): the node if it exists, and its
/// service instances.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogNode {
    pub name: String,
}

impl Read for CatalogNode {
    type Answer = (Option<Node>, Vec<NodeService>);

    fn eval(&self, store: &Store) -> (u64, Self::Answer) {
        let c = store.catalog();
        let (index, services) = c.node_services(&self.name);
        (index, (c.node(&self.name).1, services))
    }

    fn interests(&self) -> Vec<Interest> {
        vec![Interest::Node(self.name.clone())]
    }

    fn index(&self, store: &Store) -> Option<u64> {
        let t = store.catalog().table_indexes();
        Some(t.nodes.max(t.services).max(1))
    }

    from_wire!(CatalogNode);
}

/// Service names with their tags (`/v1/catalog/services`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogServices;

impl Read for CatalogServices {
    type Answer = BTreeMap<String, Vec<String>>;

    fn eval(&self, store: &Store) -> (u64, Self::Answer) {
        store.catalog().services()
    }

    fn interests(&self) -> Vec<Interest> {
        vec![Interest::Table(Table::Services)]
    }

    fn index(&self, store: &Store) -> Option<u64> {
        Some(store.table_index(Table::Services).max(1))
    }

    from_wire!(CatalogServices);
}

/// Every service instance flattened with its node, at the index of
/// [`CatalogServices`]: what `/v1/catalog/services?filter=` evaluates its
/// filter against (Consul's `Catalog.ListServices` with a filter).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceInstances;

impl Read for ServiceInstances {
    type Answer = Vec<CatalogService>;

    fn eval(&self, store: &Store) -> (u64, Self::Answer) {
        store.catalog().service_instances()
    }

    fn interests(&self) -> Vec<Interest> {
        vec![
            Interest::Table(Table::Services),
            Interest::Table(Table::Nodes),
        ]
    }

    fn index(&self, store: &Store) -> Option<u64> {
        Some(store.table_index(Table::Services).max(1))
    }

    from_wire!(ServiceInstances);
}

/// A service's instances flattened with their nodes
/// (`/v1/catalog/service/<name>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceNodes {
    pub name: String,
    pub tag: Option<String>,
}

impl Read for ServiceNodes {
    type Answer = Vec<CatalogService>;

    fn eval(&self, store: &Store) -> (u64, Self::Answer) {
        store
            .catalog()
            .service_nodes(&self.name, self.tag.as_deref())
    }

    fn interests(&self) -> Vec<Interest> {
        vec![Interest::Service(self.name.clone())]
    }

    fn index(&self, store: &Store) -> Option<u64> {
        Some(store.service_index(&self.name))
    }

    from_wire!(ServiceNodes);
}

/// A service's instances with their nodes and checks
/// (`/v1/health/service/<name>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthService {
    pub name: String,
    pub tag: Option<String>,
    /// Only instances whose checks all pass (`?passing`).
    pub passing: bool,
}

impl Read for HealthService {
    type Answer = Vec<ServiceEntry>;

    fn eval(&self, store: &Store) -> (u64, Self::Answer) {
        store
            .catalog()
            .health_service(&self.name, self.tag.as_deref(), self.passing)
    }

    fn interests(&self) -> Vec<Interest> {
        vec![Interest::Service(self.name.clone())]
    }

    fn index(&self, store: &Store) -> Option<u64> {
        let node_checks = store.catalog().table_indexes().node_checks;
        Some(store.service_index(&self.name).max(node_checks))
    }

    from_wire!(HealthService);
}

/// A service's checks (`/v1/health/checks/<name>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceChecks {
    pub name: String,
}

impl Read for ServiceChecks {
    type Answer = Vec<HealthCheck>;

    fn eval(&self, store: &Store) -> (u64, Self::Answer) {
        store.catalog().service_checks(&self.name)
    }

    fn interests(&self) -> Vec<Interest> {
        vec![Interest::Service(self.name.clone())]
    }

    fn index(&self, store: &Store) -> Option<u64> {
        Some(store.service_index(&self.name))
    }

    from_wire!(ServiceChecks);
}

/// Checks in a state, or `any` (`/v1/health/state/<state>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChecksInState {
    pub state: String,
}

impl Read for ChecksInState {
    type Answer = Vec<HealthCheck>;

    fn eval(&self, store: &Store) -> (u64, Self::Answer) {
        store.catalog().checks_in_state(&self.state)
    }

    fn interests(&self) -> Vec<Interest> {
        vec![Interest::Table(Table::Checks)]
    }

    fn index(&self, store: &Store) -> Option<u64> {
        Some(store.table_index(Table::Checks).max(1))
    }

    from_wire!(ChecksInState);
}

/// A node's checks (`/v1/health/node/<name>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeChecks {
    pub name: String,
}

impl Read for NodeChecks {
    type Answer = Vec<HealthCheck>;

    fn eval(&self, store: &Store) -> (u64, Self::Answer) {
        store.catalog().node_checks(&self.name)
    }

    fn interests(&self) -> Vec<Interest> {
        vec![Interest::Node(self.name.clone())]
    }

    fn index(&self, store: &Store) -> Option<u64> {
        Some(store.table_index(Table::Checks).max(1))
    }

    from_wire!(NodeChecks);
}

/// Recent user events, oldest first (`/v1/event/list?name=`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Events {
    pub name: Option<String>,
}

impl Read for Events {
    type Answer = Vec<UserEvent>;

    fn eval(&self, store: &Store) -> (u64, Self::Answer) {
        store.events().list(self.name.as_deref())
    }

    fn interests(&self) -> Vec<Interest> {
        vec![Interest::Table(Table::Events)]
    }

    fn index(&self, store: &Store) -> Option<u64> {
        Some(store.table_index(Table::Events).max(1))
    }

    from_wire!(Events);
}

/// The whole store, encoded (`GET /v1/snapshot`, `Store::encode_state`).
/// An empty answer means encoding failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot;

impl Read for Snapshot {
    type Answer = Vec<u8>;

    fn eval(&self, store: &Store) -> (u64, Vec<u8>) {
        // Encoding a well-formed store does not fail; an empty answer
        // would be refused by any restore.
        let data = store.encode_state().unwrap_or_default();
        (store.last_index(), data)
    }

    from_wire!(Snapshot);
}

/// The KV changes under `prefix` from index `from` on, at most `max` but
/// never cutting between two changes of one index (Praetor's watch
/// stream). Blocks until there is at least one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvChanges {
    pub prefix: String,
    pub from: u64,
    pub max: usize,
}

/// What a [`KvChanges`] read answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChangesSince {
    /// Changes, oldest first, the index to continue from, and the store's
    /// last index.
    Changes {
        changes: Vec<Change>,
        next: u64,
        current: u64,
    },
    /// The changes asked for are no longer kept.
    Compacted { oldest: u64, current: u64 },
}

impl Read for KvChanges {
    type Answer = ChangesSince;

    fn eval(&self, store: &Store) -> (u64, ChangesSince) {
        let (from, max) = (self.from, self.max);
        let current = store.last_index();
        match store.history().since(&self.prefix, from, usize::MAX) {
            Ok(mut list) => {
                // Cut after `max`, but never between two changes of one
                // index: the reader continues after that index.
                let cut = list.len() > max;
                if cut {
                    let last = list[max.saturating_sub(1)].index;
                    let keep = list.partition_point(|c| c.index <= last);
                    list.truncate(keep.max(1));
                }
                let last = list.last().map(|c| c.index);
                // With changes, the index is the last one's, above
                // `from - 1`, so the query returns; without, it stays at
                // `from - 1` and the query waits.
                let index = last.unwrap_or(from.saturating_sub(1));
                let next = match last {
                    Some(i) if cut => i + 1,
                    _ => (current + 1).max(from),
                };
                let changes = list.into_iter().cloned().collect();
                (
                    index,
                    ChangesSince::Changes {
                        changes,
                        next,
                        current,
                    },
                )
            }
            Err(HistoryError::Compacted { oldest, .. }) => {
                (u64::MAX, ChangesSince::Compacted { oldest, current })
            }
        }
    }

    fn interests(&self) -> Vec<Interest> {
        vec![Interest::KvPrefix(self.prefix.clone())]
    }

    fn resumes_from(&self) -> Option<u64> {
        Some(self.from)
    }

    from_wire!(KvChanges);
}

/// The kept versions of one key, newest first, at most `max`, with its live
/// entry (`/v1/history/kv/<key>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvHistory {
    pub key: String,
    pub max: usize,
}

/// What a [`KvHistory`] read answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyHistory {
    /// The key's kept changes, newest first.
    pub changes: Vec<Change>,
    /// Its live entry.
    pub live: Option<Entry>,
}

impl Read for KvHistory {
    type Answer = KeyHistory;

    fn eval(&self, store: &Store) -> (u64, KeyHistory) {
        let kv = store.kv();
        let changes = store
            .history()
            .of_key(&self.key, self.max)
            .into_iter()
            .cloned()
            .collect();
        let live = kv.get(&self.key).cloned();
        (kv.key_index(&self.key), KeyHistory { changes, live })
    }

    fn interests(&self) -> Vec<Interest> {
        vec![Interest::KvKey(self.key.clone())]
    }

    fn index(&self, store: &Store) -> Option<u64> {
        Some(store.kv().key_index(&self.key))
    }

    from_wire!(KvHistory);
}

/// Every service with its instance and check counts
/// (`/v1/internal/ui/services`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceSummaries;

impl Read for ServiceSummaries {
    type Answer = Vec<ServiceSummary>;

    fn eval(&self, store: &Store) -> (u64, Self::Answer) {
        store.catalog().service_summaries()
    }

    fn interests(&self) -> Vec<Interest> {
        vec![
            Interest::Table(Table::Nodes),
            Interest::Table(Table::Services),
            Interest::Table(Table::Checks),
        ]
    }

    fn index(&self, store: &Store) -> Option<u64> {
        let t = store.catalog().table_indexes();
        Some(t.nodes.max(t.services).max(t.checks).max(1))
    }

    from_wire!(ServiceSummaries);
}

/// Every session (`/v1/session/list`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sessions;

impl Read for Sessions {
    type Answer = Vec<SessionEntry>;

    fn eval(&self, store: &Store) -> (u64, Self::Answer) {
        store.sessions().list()
    }

    fn interests(&self) -> Vec<Interest> {
        vec![Interest::Table(Table::Sessions)]
    }

    from_wire!(Sessions);
}

/// One session (`/v1/session/info/<id>`), if it exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub id: String,
}

impl Read for SessionInfo {
    type Answer = Option<SessionEntry>;

    fn eval(&self, store: &Store) -> (u64, Self::Answer) {
        let sessions = store.sessions();
        (sessions.table_index(), sessions.info(&self.id))
    }

    fn interests(&self) -> Vec<Interest> {
        vec![Interest::Table(Table::Sessions)]
    }

    from_wire!(SessionInfo);
}

/// A node's sessions (`/v1/session/node/<node>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeSessions {
    pub node: String,
}

impl Read for NodeSessions {
    type Answer = Vec<SessionEntry>;

    fn eval(&self, store: &Store) -> (u64, Self::Answer) {
        store.sessions().of_node(&self.node)
    }

    fn interests(&self) -> Vec<Interest> {
        vec![Interest::Table(Table::Sessions)]
    }

    from_wire!(NodeSessions);
}

/// A transaction whose every operation reads (`PUT /v1/txn`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnRead {
    pub ops: Vec<TxnOp>,
}

impl Read for TxnRead {
    type Answer = TxnOutcome;

    fn eval(&self, store: &Store) -> (u64, TxnOutcome) {
        (
            store.last_index().max(1),
            praetor_store::txn::read(store, &self.ops),
        )
    }

    from_wire!(TxnRead);
}
