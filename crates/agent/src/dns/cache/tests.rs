//! The cache against a stand-in catalog: names that do not exist are never
//! watched (a flood of random names leaves room for real ones), names that
//! exist are watched and answered from memory, and a watcher ends when its
//! name goes away.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::AtomicUsize;

use praetor_api::catalog::{Node, NodeService, ServiceEntry, Weights};
use praetor_server::read::{WireAnswer, WireRead};
use praetor_server::{answer_of, ReadMeta};
use tokio::sync::Notify;

use super::*;

/// A catalog of service names; counts direct reads (index 0) per name and
/// answers blocking reads when it changes or their wait ends.
#[derive(Default)]
struct Catalog {
    services: Mutex<BTreeSet<String>>,
    index: AtomicU64,
    changed: Notify,
    direct_reads: Mutex<BTreeMap<String, usize>>,
    blocking_reads: AtomicUsize,
}

impl Catalog {
    fn with(names: &[&str]) -> Arc<Catalog> {
        let c = Catalog::default();
        c.services
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(names.iter().map(|n| n.to_string()));
        c.index.store(1, Ordering::SeqCst);
        Arc::new(c)
    }

    fn remove(&self, name: &str) {
        self.services
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(name);
        self.index.fetch_add(1, Ordering::SeqCst);
        self.changed.notify_waiters();
    }

    fn direct(&self, name: &str) -> usize {
        self.direct_reads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .copied()
            .unwrap_or(0)
    }

    fn answer(&self, q: &WireRead) -> WireAnswer {
        let services = self.services.lock().unwrap_or_else(|e| e.into_inner());
        match q {
            WireRead::HealthService(r) if services.contains(&r.name) => {
                WireAnswer::HealthService(vec![entry(&r.name)])
            }
            WireRead::CatalogNode(r) if r.name == "n1" => {
                WireAnswer::CatalogNode((Some(node()), Vec::new()))
            }
            WireRead::CatalogNode(_) => WireAnswer::CatalogNode((None, Vec::new())),
            WireRead::CatalogNodes(_) => WireAnswer::CatalogNodes(vec![node()]),
            _ => WireAnswer::HealthService(Vec::new()),
        }
    }
}

impl Reader for Catalog {
    async fn read<Q: praetor_server::acl::Guarded>(
        &self,
        q: Q,
        opts: QueryOpts,
    ) -> Result<Answered<Q::Answer>, ServerError> {
        let wire: WireRead = q.clone().into();
        if opts.index == 0 {
            let name = match &wire {
                WireRead::HealthService(r) => r.name.clone(),
                WireRead::CatalogNode(r) => r.name.clone(),
                _ => String::new(),
            };
            *self
                .direct_reads
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .entry(name)
                .or_default() += 1;
        } else {
            self.blocking_reads.fetch_add(1, Ordering::SeqCst);
            let mut changed = std::pin::pin!(self.changed.notified());
            // Registered before the index is compared, so no change is missed.
            changed.as_mut().enable();
            if self.index.load(Ordering::SeqCst) <= opts.index {
                let _ = tokio::time::timeout(opts.wait, changed).await;
            }
        }
        let answered = Answered {
            meta: ReadMeta {
                known_leader: true,
                last_contact_ms: 0,
            },
            index: self.index.load(Ordering::SeqCst),
            answer: self.answer(&wire),
            filtered: false,
        };
        answer_of(&q, answered)
    }
}

fn node() -> Node {
    Node {
        id: String::new(),
        node: "n1".into(),
        address: "10.0.0.1".into(),
        datacenter: "dc1".into(),
        tagged_addresses: BTreeMap::new(),
        meta: BTreeMap::new(),
        create_index: 1,
        modify_index: 1,
    }
}

fn entry(name: &str) -> ServiceEntry {
    ServiceEntry {
        node: node(),
        service: NodeService {
            id: name.into(),
            service: name.into(),
            tags: Vec::new(),
            address: String::new(),
            meta: BTreeMap::new(),
            port: 80,
            weights: Weights::default(),
            enable_tag_override: false,
            kind: String::new(),
            tagged_addresses: Default::default(),
            proxy: Default::default(),
            locality: None,
            create_index: 1,
            modify_index: 1,
        },
        checks: Vec::new(),
    }
}

const POLICY: ReadPolicy = ReadPolicy {
    allow_stale: false,
    max_stale: Duration::from_secs(10),
};

fn service(name: &str) -> ServiceKey {
    ServiceKey(name.to_owned())
}

/// The cache, its tasks and their stop.
fn cache(catalog: &Arc<Catalog>) -> (Arc<Cache<Catalog>>, TaskTracker, CancellationToken) {
    let tasks = TaskTracker::new();
    let stop = CancellationToken::new();
    (
        Cache::new(catalog.clone(), tasks.clone(), stop.clone()),
        tasks,
        stop,
    )
}

async fn shutdown(tasks: TaskTracker, stop: CancellationToken) {
    stop.cancel();
    tasks.close();
    tokio::time::timeout(Duration::from_secs(10), tasks.wait())
        .await
        .expect("every watcher stopped");
}

#[tokio::test]
async fn a_flood_of_names_that_do_not_exist_leaves_room_for_a_real_one() {
    let catalog = Catalog::with(&["web"]);
    let (cache, tasks, stop) = cache(&catalog);
    let flood = MAX_WATCHED + 500;
    for i in 0..flood {
        let r = cache
            .get(&service(&format!("random-{i:x}")), POLICY)
            .await
            .expect("read");
        assert_eq!(r.answer, Vec::new());
    }
    assert_eq!(
        cache.watched(),
        0,
        "no watcher for a name that does not exist"
    );
    assert_eq!(catalog.direct("random-0"), 1, "each was read once");

    let first = cache.get(&service("web"), POLICY).await.expect("read");
    assert_eq!(first.answer, vec![entry("web")]);
    assert_eq!(cache.watched(), 1, "the real name is watched");
    for _ in 0..100 {
        let again = cache.get(&service("web"), POLICY).await.expect("read");
        assert_eq!(again.answer, first.answer);
    }
    assert_eq!(
        catalog.direct("web"),
        1,
        "later lookups of the real name are answered from memory"
    );
    shutdown(tasks, stop).await;
}

#[tokio::test]
async fn a_name_that_does_not_exist_is_read_on_every_lookup() {
    let catalog = Catalog::with(&[]);
    let (cache, tasks, stop) = cache(&catalog);
    for _ in 0..3 {
        cache.get(&service("later"), POLICY).await.expect("read");
        cache
            .get(&NodeKey("nobody".into()), POLICY)
            .await
            .expect("read");
    }
    assert_eq!(catalog.direct("later"), 3);
    assert_eq!(catalog.direct("nobody"), 3);
    assert_eq!(cache.watched(), 0);
    cache
        .get(&NodeKey("n1".into()), POLICY)
        .await
        .expect("read");
    assert_eq!(cache.watched(), 1, "a node that exists is watched");
    shutdown(tasks, stop).await;
}

#[tokio::test]
async fn a_watcher_ends_when_its_name_is_gone() {
    let catalog = Catalog::with(&["web"]);
    let (cache, tasks, stop) = cache(&catalog);
    cache.get(&service("web"), POLICY).await.expect("read");
    assert_eq!(cache.watched(), 1);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while catalog.blocking_reads.load(Ordering::SeqCst) == 0 {
        assert!(tokio::time::Instant::now() < deadline, "no blocking read");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    catalog.remove("web");
    while cache.watched() != 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the watcher of a deregistered name did not end"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let r = cache.get(&service("web"), POLICY).await.expect("read");
    assert_eq!(r.answer, Vec::new());
    assert_eq!(catalog.direct("web"), 2, "read directly again");
    assert_eq!(cache.watched(), 0);
    shutdown(tasks, stop).await;
}
