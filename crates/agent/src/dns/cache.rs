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
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use praetor_server::{Answer, Consistency, Query, QueryOpts, QueryResult, ServerError};
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

/// What a DNS answer reads.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    /// `/v1/health/service/<name>`: every instance with its checks.
    Service(String),
    /// `/v1/catalog/node/<name>`.
    Node(String),
    /// `/v1/catalog/nodes` (reverse lookups).
    Nodes,
}

impl Key {
    fn query(&self) -> Query {
        match self {
            Key::Service(name) => Query::HealthService {
                name: name.clone(),
                tag: None,
                passing: false,
            },
            Key::Node(name) => Query::CatalogNode { name: name.clone() },
            Key::Nodes => Query::CatalogNodes,
        }
    }
}

/// Whether `answer` (read for `key`) shows the name exists: a service with
/// at least one instance, a node in the catalog. Only those are watched.
fn exists(key: &Key, answer: &Answer) -> bool {
    match (key, answer) {
        (Key::Service(_), Answer::ServiceEntries(entries)) => !entries.is_empty(),
        (Key::Node(_), Answer::NodeServices(node, _)) => node.is_some(),
        (Key::Nodes, _) => true,
        _ => false,
    }
}

/// Where the cache reads: the agent's [`Backend`], or a test's stand-in.
pub trait Reader: Send + Sync + 'static {
    /// One read, as [`Backend::query`].
    fn query(
        &self,
        q: Query,
        opts: QueryOpts,
    ) -> impl Future<Output = Result<QueryResult, ServerError>> + Send;
}

impl Reader for Backend {
    fn query(
        &self,
        q: Query,
        opts: QueryOpts,
    ) -> impl Future<Output = Result<QueryResult, ServerError>> + Send {
        Backend::query(self, q, opts)
    }
}

/// How reads are made: Consul's `dns_config.allow_stale` and `max_stale`.
#[derive(Debug, Clone, Copy)]
pub struct ReadPolicy {
    pub allow_stale: bool,
    pub max_stale: Duration,
}

struct Watched {
    /// The latest answer and when it arrived.
    current: RwLock<(Instant, Arc<QueryResult>)>,
    /// The watcher's last blocking query succeeded.
    live: AtomicBool,
    /// Milliseconds since the cache started, at the last lookup.
    used: AtomicU64,
}

/// The reads DNS answers come from, by [`Key`].
pub struct Cache<R = Backend> {
    backend: Arc<R>,
    watched: Mutex<HashMap<Key, Arc<Watched>>>,
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
            watched: Mutex::new(HashMap::new()),
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
    pub async fn get(
        self: &Arc<Self>,
        key: &Key,
        policy: ReadPolicy,
    ) -> Result<Arc<QueryResult>, ServerError> {
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
        if watched.is_none() && fresh(&read, Duration::ZERO, policy) && exists(key, &read.answer) {
            self.watch(key, read.clone(), policy);
        }
        Ok(read)
    }

    fn lookup(&self, key: &Key) -> Option<Arc<Watched>> {
        self.watched
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned()
    }

    /// One read through the backend, again on the leader when too stale.
    async fn read(&self, key: &Key, policy: ReadPolicy) -> Result<QueryResult, ServerError> {
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
        let r = self.backend.query(key.query(), opts(first)).await?;
        if fresh(&r, Duration::ZERO, policy) {
            return Ok(r);
        }
        tracing::warn!(
            ?key,
            last_contact_ms = r.meta.last_contact_ms,
            "dns read too stale; asking the leader"
        );
        self.backend
            .query(key.query(), opts(Consistency::Default))
            .await
    }

    /// Starts a watcher for `key` from `first`, unless one exists or the
    /// cache is full.
    fn watch(self: &Arc<Self>, key: &Key, first: Arc<QueryResult>, policy: ReadPolicy) {
        let w = {
            let mut map = self.watched.lock().unwrap_or_else(|p| p.into_inner());
            if map.len() >= MAX_WATCHED || map.contains_key(key) {
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
    async fn run_watch(self: Arc<Self>, key: Key, w: Arc<Watched>, policy: ReadPolicy) {
        let consistency = if policy.allow_stale {
            Consistency::Stale
        } else {
            Consistency::Default
        };
        let query = key.query();
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
                r = self.backend.query(query.clone(), opts) => r,
            };
            match result {
                Ok(r) => {
                    let gone = !exists(&key, &r.answer);
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
        self.watched
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&key);
    }

    /// How many keys are watched now.
    pub fn watched(&self) -> usize {
        self.watched.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// Whether an answer read `age` ago may be used under `policy`: a stale
/// read only while its server had heard from the leader within
/// `max_stale`, counting the time since.
fn fresh(r: &QueryResult, age: Duration, policy: ReadPolicy) -> bool {
    !policy.allow_stale || Duration::from_millis(r.meta.last_contact_ms) + age <= policy.max_stale
}

#[cfg(test)]
mod tests;
