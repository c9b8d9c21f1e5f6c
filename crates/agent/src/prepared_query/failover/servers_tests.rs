//! The agent's federation ([`Servers`]) over RPC, as a client agent uses
//! it: the datacenters its server lists, each query sent as a `QueryRun`
//! read for that datacenter (`Request::CrossDc`) with the acting token and
//! consistency; a datacenter no server knows is skipped uncounted, one
//! that fails or has nothing is counted and the next one asked.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use praetor_server::rpc::{DcCall, Reply, Request, WireError};
use praetor_server::{Answered, ReadMeta, WireAnswer, WireRead};
use praetor_store::query::Failover;
use tokio_util::sync::CancellationToken;

use super::fake::entry;
use super::*;
use crate::backend::Remote;

/// A server of the client agent's datacenter `dc1` that knows dc1 to dc5:
/// dc2's servers are all gone, dc3 has no leader, dc4 has no instance,
/// dc5 has two. It records each query it routed: (datacenter, read,
/// token, consistency).
#[derive(Default)]
struct Dc1Server {
    routed: Mutex<Vec<(String, WireRead, Token, Consistency)>>,
}

impl praetor_server::rpc::Handler for Dc1Server {
    async fn handle(&self, req: Request) -> Reply {
        match req {
            Request::Datacenters => {
                Reply::Datacenters(["dc1", "dc2", "dc3", "dc4", "dc5"].map(String::from).into())
            }
            Request::CrossDc(dc, DcCall::Query(read, opts, token)) => {
                self.routed
                    .lock()
                    .unwrap()
                    .push((dc.clone(), read, token, opts.consistency));
                let nodes = match dc.as_str() {
                    "dc2" => return Reply::Query(Err(WireError::NoPathToDatacenter(dc))),
                    "dc3" => {
                        return Reply::Query(Err(WireError::Other("No cluster leader".into())))
                    }
                    "dc4" => Vec::new(),
                    "dc5" => vec![entry("dc5", 0), entry("dc5", 1)],
                    _ => return Reply::Query(Err(WireError::NoPathToDatacenter(dc))),
                };
                Reply::Query(Ok(Answered {
                    meta: ReadMeta {
                        known_leader: true,
                        last_contact_ms: 0,
                    },
                    index: 9,
                    answer: WireAnswer::QueryRun(nodes),
                    filtered: false,
                }))
            }
            _ => Reply::Error("not expected by this test".into()),
        }
    }
}

/// A client agent's backend whose one server is `handler`, served on a
/// loopback port until `stop`.
async fn client_of(handler: Arc<Dc1Server>, stop: &CancellationToken) -> Backend {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    tokio::spawn(praetor_server::rpc::serve(listener, handler, stop.clone()));
    let remote = Remote::default().hold_for(Duration::from_millis(300));
    remote.set_servers(vec![addr]);
    Backend::Remote(Arc::new(remote))
}

fn web(consistency: Consistency) -> RemoteQuery {
    RemoteQuery {
        service: ServiceQuery {
            service: "web".into(),
            only_passing: true,
            ..Default::default()
        },
        token: Token::new("acting-secret"),
        consistency,
    }
}

#[tokio::test]
async fn unknown_datacenters_are_skipped_and_failed_ones_counted_until_one_answers() {
    let stop = CancellationToken::new();
    let server = Arc::new(Dc1Server::default());
    let backend = client_of(server.clone(), &stop).await;
    let federation = Servers::new(&backend, Duration::from_millis(300));
    assert_eq!(
        federation.datacenters_by_rtt().await.unwrap(),
        ["dc1", "dc2", "dc3", "dc4", "dc5"]
    );

    let failover = Failover {
        nearest_n: 0,
        datacenters: ["dc9", "dc2", "dc1", "dc3", "dc4", "dc5"]
            .map(String::from)
            .into(),
        targets: Vec::new(),
    };
    let query = web(Consistency::Stale);
    let got = run(&federation, &failover, "dc1", &query).await.unwrap();
    assert_eq!(got.datacenter.as_deref(), Some("dc5"));
    assert_eq!(got.nodes, vec![entry("dc5", 0), entry("dc5", 1)]);
    assert_eq!(
        got.failovers, 4,
        "dc2 (no servers), dc3 (no leader), dc4 (none) and dc5; not dc9 nor dc1"
    );

    let routed = server.routed.lock().unwrap().clone();
    let asked: Vec<&str> = routed.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(
        asked.first().copied(),
        Some("dc2"),
        "dc9 is unknown: never sent"
    );
    assert_eq!(
        asked.iter().filter(|d| **d == "dc3").count(),
        asked.len() - 3,
        "only dc3 (no leader) may be retried within the hold: {asked:?}"
    );
    assert_eq!(asked.last().copied(), Some("dc5"));
    for (dc, read, token, consistency) in &routed {
        assert_eq!(
            read,
            &WireRead::QueryRun(QueryRun {
                service: query.service.clone()
            }),
            "{dc}: the rendered service part, run there"
        );
        assert_eq!(token, &query.token, "{dc}: the acting token, checked there");
        assert_eq!(*consistency, Consistency::Stale, "{dc}");
    }
    stop.cancel();
}

#[tokio::test]
async fn a_remote_error_is_counted_and_nothing_found_answers_no_datacenter() {
    let stop = CancellationToken::new();
    let server = Arc::new(Dc1Server::default());
    let backend = client_of(server.clone(), &stop).await;
    let federation = Servers::new(&backend, Duration::from_millis(300));

    let err = federation
        .execute("dc3", &web(Consistency::Default))
        .await
        .expect_err("dc3 has no leader");
    assert!(err.contains("No cluster leader"), "{err}");
    let err = federation
        .execute("dc2", &web(Consistency::Default))
        .await
        .expect_err("dc2 has no servers");
    assert_eq!(err, "No path to datacenter", "Consul's one-line reason");

    let failover = Failover {
        nearest_n: 3,
        datacenters: vec!["dc9".into()],
        targets: Vec::new(),
    };
    let got = run(&federation, &failover, "dc1", &web(Consistency::Default))
        .await
        .unwrap();
    assert_eq!(
        (got.datacenter, got.failovers, got.nodes.len()),
        (None, 3, 0),
        "the nearest three (dc2, dc3, dc4) each counted; dc9 skipped"
    );
    stop.cancel();
}

#[tokio::test]
async fn without_a_server_to_list_the_datacenters_failover_is_an_error_within_the_hold() {
    let remote = Remote::default().hold_for(Duration::from_millis(200));
    let backend = Backend::Remote(Arc::new(remote));
    let federation = Servers::new(&backend, Duration::from_millis(200));
    let failover = Failover {
        nearest_n: 1,
        ..Default::default()
    };
    let started = std::time::Instant::now();
    let err = run(&federation, &failover, "dc1", &web(Consistency::Default))
        .await
        .expect_err("nobody to ask");
    assert!(err.starts_with("listing the datacenters"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
}
