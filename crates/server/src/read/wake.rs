//! Who waits on what: the blocking queries open on this server, listed
//! under the topics their answers depend on (a service name, a node, a KV
//! key or prefix, a table, the KV history's compaction), so that an
//! applied write wakes only the queries it can concern.
//!
//! A query registers before it first evaluates its answer and is removed
//! when its `Waiter` drops (answered, timed out, cancelled), so the lists
//! hold only open queries. A wake is a stored permit: one that comes
//! between registering and waiting is not lost. Never touches the store.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use praetor_store::{Interest, Table, Touched};
use tokio::sync::Notify;

type Slots = HashMap<u64, Arc<Notify>>;

/// The open queries by topic.
#[derive(Debug, Default)]
struct Lists {
    next_id: u64,
    everything: Slots,
    tables: HashMap<Table, Slots>,
    services: HashMap<String, Slots>,
    nodes: HashMap<String, Slots>,
    keys: HashMap<String, Slots>,
    prefixes: HashMap<String, Slots>,
    /// How many registered prefixes have each length, so a written key is
    /// matched against its prefixes of those lengths only.
    prefix_lens: BTreeMap<usize, usize>,
    /// KV watch streams by the index they resume from: woken when the
    /// history no longer holds it (their answer becomes "compacted").
    resumes: BTreeMap<(u64, u64), Arc<Notify>>,
}

fn add<K: Eq + Hash>(map: &mut HashMap<K, Slots>, k: K, id: u64, n: &Arc<Notify>) {
    map.entry(k).or_default().insert(id, n.clone());
}

fn remove<K, Q>(map: &mut HashMap<K, Slots>, k: &Q, id: u64)
where
    K: Eq + Hash + std::borrow::Borrow<Q>,
    Q: Eq + Hash + ?Sized,
{
    if let Some(slots) = map.get_mut(k) {
        slots.remove(&id);
        if slots.is_empty() {
            map.remove(k);
        }
    }
}

/// The registry of open blocking queries, and counts for tests and
/// metrics.
#[derive(Debug, Default)]
pub struct Wakers {
    lists: Mutex<Lists>,
    /// Queries woken by writes (each counted once per batch of writes).
    woken: AtomicU64,
    /// Answers built by blocking reads.
    built: AtomicU64,
}

/// One open query's registration; dropping it removes it.
#[derive(Debug)]
pub struct Waiter<'a> {
    wakers: &'a Wakers,
    id: u64,
    interests: Vec<Interest>,
    resumes_from: Option<u64>,
    notify: Arc<Notify>,
}

impl Waiter<'_> {
    /// Waits until a write touches one of this query's topics (at once if
    /// one did since the last wait or since registering).
    pub async fn changed(&self) {
        self.notify.notified().await;
    }
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        let mut l = self.wakers.lock();
        let id = self.id;
        for interest in &self.interests {
            match interest {
                Interest::Everything => {
                    l.everything.remove(&id);
                }
                Interest::Table(t) => remove(&mut l.tables, t, id),
                Interest::Service(s) => remove(&mut l.services, s.as_str(), id),
                Interest::Node(n) => remove(&mut l.nodes, n.as_str(), id),
                Interest::KvKey(k) => remove(&mut l.keys, k.as_str(), id),
                Interest::KvPrefix(p) => {
                    remove(&mut l.prefixes, p.as_str(), id);
                    if let Some(count) = l.prefix_lens.get_mut(&p.len()) {
                        *count -= 1;
                        if *count == 0 {
                            l.prefix_lens.remove(&p.len());
                        }
                    }
                }
            }
        }
        if let Some(from) = self.resumes_from {
            l.resumes.remove(&(from, id));
        }
    }
}

impl Wakers {
    fn lock(&self) -> MutexGuard<'_, Lists> {
        self.lists.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a query interested in `interests` (and, for a KV watch
    /// stream, in the history dropping index `resumes_from`).
    pub fn register(&self, interests: Vec<Interest>, resumes_from: Option<u64>) -> Waiter<'_> {
        let notify = Arc::new(Notify::new());
        let mut l = self.lock();
        let id = l.next_id;
        l.next_id += 1;
        for interest in &interests {
            match interest {
                Interest::Everything => {
                    l.everything.insert(id, notify.clone());
                }
                Interest::Table(t) => add(&mut l.tables, *t, id, &notify),
                Interest::Service(s) => add(&mut l.services, s.clone(), id, &notify),
                Interest::Node(n) => add(&mut l.nodes, n.clone(), id, &notify),
                Interest::KvKey(k) => add(&mut l.keys, k.clone(), id, &notify),
                Interest::KvPrefix(p) => {
                    add(&mut l.prefixes, p.clone(), id, &notify);
                    *l.prefix_lens.entry(p.len()).or_default() += 1;
                }
            }
        }
        if let Some(from) = resumes_from {
            l.resumes.insert((from, id), notify.clone());
        }
        drop(l);
        Waiter {
            wakers: self,
            id,
            interests,
            resumes_from,
            notify,
        }
    }

    /// Wakes the queries that applied writes touched, and those that wait
    /// on anything; `oldest` is the oldest index the KV history still
    /// holds. Called after every batch of applied entries.
    pub fn wake(&self, touched: &Touched, oldest: u64) {
        let l = self.lock();
        let mut woken: HashMap<u64, &Arc<Notify>> = HashMap::new();
        fn take<'a>(woken: &mut HashMap<u64, &'a Arc<Notify>>, slots: Option<&'a Slots>) {
            for (id, n) in slots.into_iter().flatten() {
                woken.insert(*id, n);
            }
        }
        take(&mut woken, Some(&l.everything));
        if touched.everything {
            let all = l
                .tables
                .values()
                .chain(l.services.values())
                .chain(l.nodes.values())
                .chain(l.keys.values())
                .chain(l.prefixes.values());
            for slots in all {
                take(&mut woken, Some(slots));
            }
            for ((_, id), n) in &l.resumes {
                woken.insert(*id, n);
            }
        } else {
            for t in &touched.tables {
                take(&mut woken, l.tables.get(t));
            }
            for s in &touched.services {
                take(&mut woken, l.services.get(s));
            }
            for n in &touched.nodes {
                take(&mut woken, l.nodes.get(n));
            }
            for k in &touched.keys {
                take(&mut woken, l.keys.get(k));
                for len in l.prefix_lens.keys().take_while(|len| **len <= k.len()) {
                    if let Some(p) = k.get(..*len) {
                        take(&mut woken, l.prefixes.get(p));
                    }
                }
            }
            for ((_, id), n) in l.resumes.range(..(oldest, 0)) {
                woken.insert(*id, n);
            }
        }
        for n in woken.values() {
            n.notify_one();
        }
        self.woken.fetch_add(woken.len() as u64, Ordering::Relaxed);
    }

    /// Wakes every open query (a snapshot installed: indexes may have gone
    /// back).
    pub fn wake_all(&self) {
        self.wake(
            &Touched {
                everything: true,
                ..Touched::default()
            },
            0,
        );
    }

    /// Counts one answer built by a blocking read.
    pub fn note_built(&self) {
        self.built.fetch_add(1, Ordering::Relaxed);
    }

    /// How many answers blocking reads have built since the server started.
    pub fn built(&self) -> u64 {
        self.built.load(Ordering::Relaxed)
    }

    /// How many wake-ups writes have given queries since the server
    /// started.
    pub fn woken(&self) -> u64 {
        self.woken.load(Ordering::Relaxed)
    }

    /// How many queries are registered under some topic now.
    pub fn registered(&self) -> usize {
        let l = self.lock();
        let mut ids: HashSet<u64> = l.everything.keys().copied().collect();
        for slots in l
            .tables
            .values()
            .chain(l.services.values())
            .chain(l.nodes.values())
            .chain(l.keys.values())
            .chain(l.prefixes.values())
        {
            ids.extend(slots.keys());
        }
        ids.extend(l.resumes.keys().map(|(_, id)| *id));
        ids.len()
    }

    /// How many topic lists are kept (each holds at least one query).
    pub fn lists(&self) -> usize {
        let l = self.lock();
        l.tables.len()
            + l.services.len()
            + l.nodes.len()
            + l.keys.len()
            + l.prefixes.len()
            + l.resumes.len()
            + l.prefix_lens.len()
            + usize::from(!l.everything.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touched_service(name: &str) -> Touched {
        Touched {
            services: [name.to_owned()].into(),
            ..Touched::default()
        }
    }

    #[test]
    fn a_write_wakes_only_the_queries_of_its_topics() {
        let w = Wakers::default();
        let a = w.register(vec![Interest::Service("a".into())], None);
        let b = w.register(vec![Interest::Service("b".into())], None);
        let p = w.register(vec![Interest::KvPrefix("app/".into())], None);
        let k = w.register(vec![Interest::KvKey("app/x".into())], None);
        w.wake(&touched_service("a"), 0);
        assert_eq!(w.woken(), 1);
        let key = Touched {
            keys: ["app/x".to_owned()].into(),
            ..Touched::default()
        };
        w.wake(&key, 0);
        assert_eq!(w.woken(), 3);
        let other = Touched {
            keys: ["ap".to_owned(), "other/app/x".to_owned()].into(),
            ..Touched::default()
        };
        w.wake(&other, 0);
        assert_eq!(w.woken(), 3);
        drop((a, b, p, k));
    }

    #[test]
    fn ended_queries_leave_no_lists_behind() {
        let w = Wakers::default();
        for i in 0..5_000 {
            let _waiter = w.register(
                vec![
                    Interest::Service(format!("s{i}")),
                    Interest::KvPrefix(format!("p{i}/")),
                    Interest::Table(Table::Acl),
                ],
                Some(i),
            );
        }
        assert_eq!((w.registered(), w.lists()), (0, 0));
    }

    #[test]
    fn a_watch_stream_wakes_when_the_history_drops_its_index() {
        let w = Wakers::default();
        let _s = w.register(vec![Interest::KvPrefix("a/".into())], Some(10));
        w.wake(&Touched::default(), 10);
        assert_eq!(w.woken(), 0);
        w.wake(&Touched::default(), 11);
        assert_eq!(w.woken(), 1);
    }

    #[tokio::test]
    async fn a_wake_before_the_wait_is_not_lost() {
        let w = Wakers::default();
        let a = w.register(vec![Interest::Service("a".into())], None);
        w.wake(&touched_service("a"), 0);
        tokio::time::timeout(std::time::Duration::from_secs(5), a.changed())
            .await
            .expect("the stored wake");
    }
}
