//! The catalog reads behind DNS answers, kept warm by blocking queries:
//! the first lookup of a service (or node) that exists reads it through the
//! backend and starts a watcher that holds a blocking query on it, so later
//! lookups are answered from memory and a change (a check going critical)
//! reaches the next answer as soon as the blocking query returns. A watcher
//! stops after a few minutes without lookups, or once its name no longer
//! exists. While a watcher cannot reach the servers, lookups read through
//! the backend again, so an answer is never older than what a direct read
//! would give. Never writes.
//!
//! Names that do not exist are never watched: each lookup of one is a
//! direct read (as every lookup is in Consul), so a flood of random names
//! costs reads bounded by the DNS server's in-flight limit and cannot fill
//! the [`MAX_WATCHED`] watchers that real names need. (Filling them would
//! take registering that many services.)

use std::collections::HashMap;
use std::fmt::Debug;
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use praetor_api::catalog::{Node, NodeService, ServiceEntry};
use praetor_server::acl::Guarded;
use praetor_server::read::{CatalogNode, CatalogNodes, HealthService};
use praetor_server::{Answered, Consistency, QueryOpts, Read, ServerError};
use rand::Rng;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::backend::Backend;

/// How long a watcher's blocking query waits for a change.
const WATCH_WAIT: Duration = Duration::from_secs(60);
/// A watcher with no lookup for this long stops.
const IDLE: Duration = Duration::from_secs(300);
/// Most names watched at once; lookups of others read directly.
pub const MAX_WATCHED: usize = 4096;
/// Pause after a failed blocking query (plus up to as much jitter).
const RETRY_PAUSE: Duration = Duration::from_millis(500);

/// What a DNS answer reads: a name, the read behind it, and whether its
/// answer shows the name exists (only those are watched).
pub trait Key: Clone + Eq + Hash + Debug + Send + Sync + 'static {
    /// The catalog read behind this key.
    type Read: Guarded;
    /// That read.
    fn read(&self) -> Self::Read;
    /// Whether `answer` shows the name exists.
    fn exists(answer: &Found<Self>) -> bool;
    /// The cache's table of watchers for this kind of key.
    fn table<R>(cache: &Cache<R>) -> &Table<Self>;
}

/// What a key's read answers.
pub type Found<K> = <<K as Key>::Read as Read>::Answer;

/// The watchers of one kind of key.
pub type Table<K> = Mutex<HashMap<K, Arc<Watched<Found<K>>>>>;

/// A service name: `/v1/health/service/<name>`, every instance with its
/// checks. Exists with at least one instance.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServiceKey(pub String);

impl Key for ServiceKey {
    type Read = HealthService;

    fn read(&self) -> HealthService {
        HealthService {
            name: self.0.clone(),
            tag: None,
            passing: false,
        }
    }

    fn exists(answer: &Vec<ServiceEntry>) -> bool {
        !answer.is_empty()
    }

    fn table<R>(cache: &Cache<R>) -> &Table<Self> {
        &cache.services
    }
}

/// A node name: `/v1/catalog/node/<name>`. Exists when in the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NodeKey(pub String);

impl Key for NodeKey {
    type Read = CatalogNode;

    fn read(&self) -> CatalogNode {
        CatalogNode {
            name: self.0.clone(),
        }
    }

    fn exists(answer: &(Option<Node>, Vec<NodeService>)) -> bool {
        answer.0.is_some()
    }

    fn table<R>(cache: &Cache<R>) -> &Table<Self> {
        &cache.nodes
    }
}

/// Every node, `/v1/catalog/nodes` (reverse lookups). Always exists.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NodesKey;

impl Key for NodesKey {
    type Read = CatalogNodes;

    fn read(&self) -> CatalogNodes {
        CatalogNodes
    }

    fn exists(_: &Vec<Node>) -> bool {
        true
    }

    fn table<R>(cache: &Cache<R>) -> &Table<Self> {
        &cache.all_nodes
    }
}

/// Where the cache reads: the agent's [`Backend`] with the DNS token
/// ([`DnsReader`]), or a test's stand-in.
pub trait Reader: Send + Sync + 'static {
    /// One read, as [`Backend::read`].
    fn read<Q: Guarded>(
        &self,
        q: Q,
        opts: QueryOpts,
    ) -> impl Future<Output = Result<Answered<Q::Answer>, ServerError>> + Send;
}

/// The agent's backend, read with the agent's DNS token (`acl.tokens.dns`,
/// else `default`): DNS answers show only what that token may read.
pub struct DnsReader {
    pub backend: Arc<Backend>,
    pub acl: Arc<crate::acl::AgentAcl>,
}

impl Reader for DnsReader {
    async fn read<Q: Guarded>(
        &self,
        q: Q,
        opts: QueryOpts,
    ) -> Result<Answered<Q::Answer>, ServerError> {
        let token = self.acl.dns_token();
        self.backend.read(&token, q, opts).await
    }
}

/// How reads are made: Consul's `dns_config.allow_stale` and `max_stale`.
#[derive(Debug, Clone, Copy)]
pub struct ReadPolicy {
    pub allow_stale: bool,
    pub max_stale: Duration,
}

/// One watched name's latest answer.
pub struct Watched<A> {
    /// The latest answer and when it arrived.
    current: RwLock<(Instant, Arc<Answered<A>>)>,
    /// The watcher's last blocking query succeeded.
    live: AtomicBool,
    /// Milliseconds since the cache started, at the last lookup.
    used: AtomicU64,
}

/// The reads DNS answers come from, by [`Key`].
pub struct Cache<R = DnsReader> {
    backend: Arc<R>,
    services: Table<ServiceKey>,
    nodes: Table<NodeKey>,
    all_nodes: Table<NodesKey>,
    /// Watchers in all the tables (at most [`MAX_WATCHED`]).
    watching: AtomicUsize,
    started: Instant,
    tasks: TaskTracker,
    stop: CancellationToken,
}

impl<R: Reader> Cache<R> {
    /// A cache reading through `backend`; watchers run on `tasks` until
    /// `stop`.
    pub fn new(backend: Arc<R>, tasks: TaskTracker, stop: CancellationToken) -> Arc<Cache<R>> {
        Arc::new(Cache {
            backend,
            services: Table::default(),
            nodes: Table::default(),
            all_nodes: Table::default(),
            watching: AtomicUsize::new(0),
            started: Instant::now(),
            tasks,
            stop,
        })
    }

    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// The current answer for `key`: from its watcher when that is live,
    /// else read through the backend (which starts a watcher when the name
    /// exists and there is room). A stale read from a server that lost the leader for longer
    /// than `max_stale` is made again on the leader, as Consul does.
    ///
    /// # Errors
    /// When no server can answer.
    pub async fn get<K: Key>(
        self: &Arc<Self>,
        key: &K,
        policy: ReadPolicy,
    ) -> Result<Arc<Answered<Found<K>>>, ServerError> {
        let watched = self.lookup(key);
        if let Some(w) = &watched {
            w.used.store(self.now_ms(), Ordering::Relaxed);
            if w.live.load(Ordering::Acquire) {
                let (at, r) = w.current.read().unwrap_or_else(|p| p.into_inner()).clone();
                if fresh(&r, at.elapsed(), policy) {
                    return Ok(r);
                }
            }
        }
        let read = Arc::new(self.read(key, policy).await?);
        if watched.is_none() && fresh(&read, Duration::ZERO, policy) && K::exists(&read.answer) {
            self.watch(key, read.clone(), policy);
        }
        Ok(read)
    }

    fn lookup<K: Key>(&self, key: &K) -> Option<Arc<Watched<Found<K>>>> {
        K::table(self)
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned()
    }

    /// One read through the backend, again on the leader when too stale.
    async fn read<K: Key>(
        &self,
        key: &K,
        policy: ReadPolicy,
    ) -> Result<Answered<Found<K>>, ServerError> {
        let opts = |consistency| QueryOpts {
            index: 0,
            wait: Duration::ZERO,
            consistency,
        };
        let first = if policy.allow_stale {
            Consistency::Stale
        } else {
            Consistency::Default
        };
        let r = self.backend.read(key.read(), opts(first)).await?;
        if fresh(&r, Duration::ZERO, policy) {
            return Ok(r);
        }
        tracing::warn!(
            ?key,
            last_contact_ms = r.meta.last_contact_ms,
            "dns read too stale; asking the leader"
        );
        self.backend
            .read(key.read(), opts(Consistency::Default))
            .await
    }

    /// Starts a watcher for `key` from `first`, unless one exists or the
    /// cache is full.
    fn watch<K: Key>(
        self: &Arc<Self>,
        key: &K,
        first: Arc<Answered<Found<K>>>,
        policy: ReadPolicy,
    ) {
        let w = {
            let mut map = K::table(self).lock().unwrap_or_else(|p| p.into_inner());
            if map.contains_key(key) {
                return;
            }
            let room = self
                .watching
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                    (n < MAX_WATCHED).then_some(n + 1)
                });
            if room.is_err() {
                return;
            }
            let w = Arc::new(Watched {
                current: RwLock::new((Instant::now(), first)),
                live: AtomicBool::new(true),
                used: AtomicU64::new(self.now_ms()),
            });
            map.insert(key.clone(), w.clone());
            w
        };
        self.tasks
            .spawn(self.clone().run_watch(key.clone(), w, policy));
    }

    /// Holds a blocking query on `key` and publishes each answer, until the
    /// agent stops, nobody has looked the key up for [`IDLE`], or the name
    /// no longer exists (its last answer is still the one lookups get until
    /// the watcher is gone; the next reads directly).
    async fn run_watch<K: Key>(
        self: Arc<Self>,
        key: K,
        w: Arc<Watched<Found<K>>>,
        policy: ReadPolicy,
    ) {
        let consistency = if policy.allow_stale {
            Consistency::Stale
        } else {
            Consistency::Default
        };
        let read = key.read();
        // Short enough that a stale answer is refreshed (with its server's
        // last contact) well within `max_stale`.
        let wait = WATCH_WAIT
            .min(policy.max_stale / 2)
            .max(Duration::from_secs(1));
        loop {
            let index = w.current.read().unwrap_or_else(|p| p.into_inner()).1.index;
            let opts = QueryOpts {
                index,
                wait,
                consistency,
            };
            let result = tokio::select! {
                () = self.stop.cancelled() => break,
                r = self.backend.read(read.clone(), opts) => r,
            };
            match result {
                Ok(r) => {
                    let gone = !K::exists(&r.answer);
                    *w.current.write().unwrap_or_else(|p| p.into_inner()) =
                        (Instant::now(), Arc::new(r));
                    w.live.store(true, Ordering::Release);
                    if gone {
                        break;
                    }
                }
                Err(e) => {
                    w.live.store(false, Ordering::Release);
                    tracing::debug!(?key, error = %e, "dns watch failed; retrying");
                    let jitter = rand::thread_rng().gen_range(0..=RETRY_PAUSE.as_millis() as u64);
                    let pause = RETRY_PAUSE + Duration::from_millis(jitter);
                    tokio::select! {
                        () = self.stop.cancelled() => break,
                        () = tokio::time::sleep(pause) => {}
                    }
                }
            }
            let idle = self.now_ms().saturating_sub(w.used.load(Ordering::Relaxed));
            if idle > IDLE.as_millis() as u64 {
                break;
            }
        }
        let removed = K::table(&self)
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&key);
        if removed.is_some() {
            self.watching.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// How many keys are watched now.
    pub fn watched(&self) -> usize {
        self.watching.load(Ordering::Relaxed)
    }
}

/// Whether an answer read `age` ago may be used under `policy`: a stale
/// read only while its server had heard from the leader within
/// `max_stale`, counting the time since.
fn fresh<A>(r: &Answered<A>, age: Duration, policy: ReadPolicy) -> bool {
    !policy.allow_stale || Duration::from_millis(r.meta.last_contact_ms) + age <= policy.max_stale
}

#[cfg(test)]
mod tests;
