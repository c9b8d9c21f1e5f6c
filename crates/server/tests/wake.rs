//! Blocking queries wake only for writes that concern them: a write to one
//! service does not wake (nor make answer) a query on another, a KV write
//! wakes the queries on its key and its prefixes only, and queries that
//! end leave nothing registered. Observed through the server's counts of
//! wake-ups and answers built, not through timing.

use std::time::Duration;

use praetor_server::acl::Token;
use praetor_server::read::{HealthService, KvList};
use praetor_server::{Consistency, QueryOpts, Server};
use praetor_store::model::{Registration, ServiceRegistration};
use praetor_store::Command;

#[path = "common/acl.rs"]
mod acl_setup;
mod common;

use common::set;

fn register(node: &str, name: &str, tag: &str) -> Command {
    Command::CatalogRegister(Registration {
        node: node.into(),
        address: "10.0.0.1".into(),
        service: Some(ServiceRegistration {
            id: format!("{name}-1"),
            service: name.into(),
            tags: vec![tag.into()],
            ..ServiceRegistration::default()
        }),
        ..Registration::default()
    })
}

async fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    praetor_testwait::wait_until(Duration::from_secs(10), what, || {
        praetor_testwait::check(f(), || "not yet".into())
    })
    .await
    .unwrap();
}

fn opts(index: u64, wait: Duration) -> QueryOpts {
    QueryOpts {
        index,
        wait,
        consistency: Consistency::Default,
    }
}

async fn leader() -> common::Started {
    let started = common::start(1, true, |_| {}).await;
    assert!(started.addr.starts_with("127.0.0.1:"), "{}", started.addr);
    let s = started.server.clone();
    wait_until("a leader", move || s.is_leader()).await;
    started
}

async fn one_blocked(s: &Server) {
    let s = s.clone();
    wait_until("the query to block", move || s.open_blocking_queries() == 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_to_service_a_does_not_wake_a_query_on_service_b() {
    let common::Started { server, stop, .. } = leader().await;
    server.write(register("n1", "a", "v1")).await.unwrap();
    server.write(register("n2", "b", "v1")).await.unwrap();
    let index = server.shared().read().store.service_index("b");
    let blocked = {
        let s = server.clone();
        tokio::spawn(async move {
            let read = HealthService {
                name: "b".into(),
                tag: None,
                passing: false,
            };
            s.read(
                &Token::anonymous(),
                &read,
                opts(index, Duration::from_secs(60)),
            )
            .await
        })
    };
    one_blocked(&server).await;
    let before = server.blocking_work();

    for i in 0..20 {
        server
            .write(register("n1", "a", &format!("v{i}")))
            .await
            .unwrap();
        server.write(set(&format!("k/{i}"), "x")).await.unwrap();
    }
    // Each write has been applied (and its wake-ups made) when it returns.
    assert_eq!(server.blocking_work(), before, "(answers built, wake-ups)");
    assert_eq!(server.open_blocking_queries(), 1);

    let (written, _) = server.write(register("n2", "b", "v2")).await.unwrap();
    let answered = tokio::time::timeout(Duration::from_secs(10), blocked)
        .await
        .expect("the write to b answers the query on b")
        .unwrap()
        .unwrap();
    assert_eq!(answered.index, written);
    assert_eq!(answered.answer[0].service.tags, vec!["v2".to_owned()]);
    let (built, woken) = server.blocking_work();
    assert_eq!((built - before.0, woken - before.1), (1, 1));
    stop.cancel();
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_write_wakes_only_the_queries_on_its_prefixes() {
    let common::Started { server, stop, .. } = leader().await;
    server.write(set("app/a", "1")).await.unwrap();
    let index = server.shared().read().store.kv_prefix_index("app/");
    let blocked = {
        let s = server.clone();
        tokio::spawn(async move {
            let read = KvList {
                prefix: "app/".into(),
            };
            s.read(
                &Token::anonymous(),
                &read,
                opts(index, Duration::from_secs(60)),
            )
            .await
        })
    };
    one_blocked(&server).await;
    let before = server.blocking_work();
    for key in ["ap", "apple", "other/app/x", "app"] {
        server.write(set(key, "x")).await.unwrap();
    }
    assert_eq!(server.blocking_work(), before, "(answers built, wake-ups)");

    let (written, _) = server
        .write(Command::KvDelete {
            key: "app/a".into(),
            cas: None,
        })
        .await
        .unwrap();
    let answered = tokio::time::timeout(Duration::from_secs(10), blocked)
        .await
        .expect("a delete under the prefix answers the query")
        .unwrap()
        .unwrap();
    assert_eq!(answered.index, written, "a delete moves the prefix's index");
    assert!(answered.answer.is_empty());
    stop.cancel();
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_that_time_out_leave_nothing_registered() {
    let common::Started { server, stop, .. } = leader().await;
    server.write(set("k", "1")).await.unwrap();
    let index = server.shared().read().store.last_index();
    let mut queries = Vec::new();
    for i in 0..2_000 {
        let s = server.clone();
        queries.push(tokio::spawn(async move {
            let read = KvList {
                prefix: format!("p{i}/"),
            };
            s.read(
                &Token::anonymous(),
                &read,
                opts(index, Duration::from_millis(50)),
            )
            .await
        }));
    }
    for q in queries {
        q.await.unwrap().unwrap();
    }
    assert_eq!(server.open_blocking_queries(), 0);
    let wakers = server.shared().wakers();
    assert_eq!((wakers.registered(), wakers.lists()), (0, 0));
    stop.cancel();
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_to_one_service_wakes_its_watchers_and_no_others() {
    let common::Started { server, stop, .. } = leader().await;
    const SERVICES: usize = 100;
    const WATCHERS: usize = 10;
    for i in 0..SERVICES {
        let node = format!("n{}", i % 10);
        server
            .write(register(&node, &format!("s{i}"), "v1"))
            .await
            .unwrap();
    }
    let mut queries = Vec::new();
    for i in 0..SERVICES * WATCHERS {
        let s = server.clone();
        let name = format!("s{}", i % SERVICES);
        let index = server.shared().read().store.service_index(&name);
        queries.push(tokio::spawn(async move {
            let read = HealthService {
                name,
                tag: None,
                passing: false,
            };
            s.read(
                &Token::anonymous(),
                &read,
                opts(index, Duration::from_secs(60)),
            )
            .await
        }));
    }
    let s = server.clone();
    wait_until("every query to block", move || {
        s.open_blocking_queries() == SERVICES * WATCHERS
    })
    .await;
    let before = server.blocking_work();
    let hits = server.shared().answers().hits();

    server.write(register("n7", "s7", "v2")).await.unwrap();
    let s = server.clone();
    wait_until("the watchers of s7 to be answered", move || {
        s.open_blocking_queries() == (SERVICES - 1) * WATCHERS
    })
    .await;
    let (built, woken) = server.blocking_work();
    let (built, woken) = (built - before.0, woken - before.1);
    assert_eq!(woken, WATCHERS as u64, "wake-ups for one change");
    // The watchers of one read share its answer: built once per worker
    // thread that raced to it at most, taken by the others.
    let shared = server.shared().answers().hits() - hits;
    assert_eq!(
        built + shared,
        WATCHERS as u64,
        "{built} built, {shared} shared"
    );
    assert!(
        built <= 2,
        "{built} answers built for one read at one index"
    );
    stop.cancel();
    for q in queries {
        q.abort();
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_whose_token_expires_while_it_waits_ends_then() {
    let started = acl_setup::start().await;
    let server = started.server.clone();
    let s = server.clone();
    wait_until("a leader", move || s.is_leader()).await;
    acl_setup::init(&server).await;
    let expires = praetor_server::acl::now_ms() + 1_500;
    acl_setup::management_token(
        &server,
        "6a1253d2-1785-24fd-91c2-f8e78c745511",
        "short-lived",
        Some(expires),
    )
    .await;
    server.write(set("k", "1")).await.unwrap();
    let index = server.shared().read().store.kv().key_index("k");
    let read = praetor_server::read::KvGet { key: "k".into() };
    let ended = tokio::time::timeout(
        Duration::from_secs(20),
        server.read(
            &Token::new("short-lived"),
            &read,
            opts(index, Duration::from_secs(60)),
        ),
    )
    .await
    .expect("the query ends when its token expires, not after its wait");
    assert!(
        matches!(ended, Err(praetor_server::ServerError::Acl(_))),
        "{ended:?}"
    );
    assert!(praetor_server::acl::now_ms() >= expires);
    started.stop.cancel();
    server.shutdown().await;
}
