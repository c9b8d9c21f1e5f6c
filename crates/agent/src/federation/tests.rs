//! Routing to other datacenters: unknown datacenters, retries across a
//! datacenter's servers, answers (and their headers) from the remote
//! side, and the client agent's hop through its own servers.

use std::sync::atomic::{AtomicUsize, Ordering};

use praetor_gossip::Gossip;
use praetor_server::read::KvGet;
use praetor_server::{Consistency, ReadMeta, WireAnswer};
use praetor_testwait::wait_until;

use super::*;

/// A server of another datacenter that answers every read with a fixed
/// answer at index 42 (a known leader, 7 ms since contact), every write
/// as applied at 43, and counts what it served.
#[derive(Default)]
struct Remote42 {
    served: AtomicUsize,
}

impl praetor_server::rpc::Handler for Remote42 {
    async fn handle(&self, req: Request) -> Reply {
        self.served.fetch_add(1, Ordering::SeqCst);
        match req {
            Request::Query(..) => Reply::Query(Ok(Answered {
                meta: ReadMeta {
                    known_leader: true,
                    last_contact_ms: 7,
                },
                index: 42,
                answer: WireAnswer::KvGet(None),
                filtered: false,
            })),
            Request::Write(..) => Reply::Write(Ok((43, Response::Applied(true)))),
            _ => Reply::Error("unexpected".into()),
        }
    }
}

/// Serves `handler` on a loopback port; returns its address.
async fn serve<H: praetor_server::rpc::Handler>(
    handler: Arc<H>,
    stop: &CancellationToken,
) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(praetor_server::rpc::serve(listener, handler, stop.clone()));
    addr
}

/// An address where nothing listens (bound, then closed).
async fn nothing_listens() -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap()
}

fn server_tags(dc: &str, rpc: SocketAddr) -> Tags {
    Tags {
        role: Role::Server,
        datacenter: dc.into(),
        node_id: format!("id-{rpc}"),
        rpc_addr: Some(rpc),
        raft_id: Some(1),
        bootstrap_expect: 0,
        build: "0.1.0".into(),
        protocol: 2,
    }
}

/// A WAN pool member (LAN timing: quick in tests).
async fn member(name: &str, tags: Tags, stop: &CancellationToken) -> Gossip {
    let cfg = GossipConfig::new(name, "127.0.0.1:0".parse().unwrap(), tags);
    Gossip::start(cfg, stop.child_token()).await.unwrap()
}

/// `dc1`'s server `s1` whose WAN pool also holds `dc2`'s servers at
/// `dc2_rpc` (one gossip member each); its routes, once every member is
/// known.
async fn federated(dc2_rpc: &[SocketAddr], stop: &CancellationToken) -> Arc<WanRoutes> {
    let own = nothing_listens().await;
    let wan = member("s1.dc1", server_tags("dc1", own), stop).await;
    for (i, rpc) in dc2_rpc.iter().enumerate() {
        let other = member(&format!("s{i}.dc2"), server_tags("dc2", *rpc), stop).await;
        wan.join(&[other.local().addr.to_string()]).await.unwrap();
    }
    let want = dc2_rpc.len() + 1;
    wait_until(Duration::from_secs(10), "every WAN member known", || {
        let known = wan
            .members()
            .iter()
            .filter(|m| m.tags.rpc_addr.is_some())
            .count();
        (known == want)
            .then_some(())
            .ok_or(format!("{known} of {want}"))
    })
    .await
    .unwrap();
    WanRoutes::new(
        wan,
        "dc1",
        Dialer::default(),
        Duration::from_millis(500),
        TaskTracker::new(),
        stop.clone(),
    )
}

fn get_k(index: u64) -> DcCall {
    DcCall::Query(
        KvGet { key: "k".into() }.into(),
        QueryOpts {
            index,
            wait: Duration::from_secs(1),
            consistency: Consistency::Default,
        },
        Token::anonymous(),
    )
}

#[tokio::test]
async fn an_unknown_datacenter_has_no_path_and_nothing_is_sent() {
    let stop = CancellationToken::new();
    let remote = Arc::new(Remote42::default());
    let rpc = serve(remote.clone(), &stop).await;
    let routes = federated(&[rpc], &stop).await;

    for call in [get_k(0), DcCall::Status, DcCall::AutopilotHealth] {
        let reply = routes.route("dc9".into(), call).await;
        let why = match reply {
            Reply::Query(Err(e)) | Reply::Done(Err(e)) | Reply::AutopilotHealth(Err(e)) => e,
            other => panic!("{}", other.kind()),
        };
        assert_eq!(why, WireError::NoPathToDatacenter("dc9".into()));
        assert_eq!(
            ServerError::from(why).to_string(),
            "No path to datacenter",
            "Consul's words"
        );
    }
    assert_eq!(remote.served.load(Ordering::SeqCst), 0);
    assert_eq!(
        routes.datacenters().into_iter().collect::<Vec<_>>(),
        ["dc1", "dc2"]
    );
    stop.cancel();
}

#[tokio::test]
async fn a_call_is_retried_across_the_datacenters_servers_and_keeps_the_remote_meta() {
    let stop = CancellationToken::new();
    let remote = Arc::new(Remote42::default());
    let dead = nothing_listens().await;
    let alive = serve(remote.clone(), &stop).await;
    let routes = federated(&[dead, alive], &stop).await;

    // Whichever server is tried first, the dead one never answers.
    for _ in 0..4 {
        let reply = routes.route("dc2".into(), get_k(3)).await;
        let Reply::Query(Ok(answered)) = reply else {
            panic!("{}", reply.kind());
        };
        assert_eq!(answered.index, 42, "X-Consul-Index from the remote side");
        assert!(answered.meta.known_leader);
        assert_eq!(answered.meta.last_contact_ms, 7);
    }
    let write = DcCall::Write(
        Command::SessionDestroy { id: "s".into() },
        Token::new("secret"),
    );
    assert!(matches!(
        routes.route("dc2".into(), write).await,
        Reply::Write(Ok((43, _)))
    ));
    assert_eq!(remote.served.load(Ordering::SeqCst), 5);
    stop.cancel();
}

#[tokio::test]
async fn a_datacenter_whose_servers_all_fail_is_a_clean_error_within_the_bound() {
    let stop = CancellationToken::new();
    let routes = federated(&[nothing_listens().await, nothing_listens().await], &stop).await;
    let started = tokio::time::Instant::now();
    let reply = routes.route("dc2".into(), get_k(0)).await;
    let Reply::Query(Err(why)) = reply else {
        panic!("{}", reply.kind());
    };
    let text = ServerError::from(why).to_string();
    assert!(text.contains("datacenter dc2"), "{text}");
    assert!(text.contains("rpc error making call"), "{text}");
    assert!(
        started.elapsed() <= call_bound(&get_k(0), Duration::from_millis(500)),
        "took {:?}",
        started.elapsed()
    );
    stop.cancel();
}

/// A server of the client agent's own datacenter that answers every
/// `CrossDc` call as `dc2`'s `Remote42` would, and counts them.
#[derive(Default)]
struct LocalHop {
    crossed: AtomicUsize,
    remote: Remote42,
}

impl praetor_server::rpc::Handler for LocalHop {
    async fn handle(&self, req: Request) -> Reply {
        match req {
            Request::CrossDc(dc, call) if dc == "dc2" => {
                self.crossed.fetch_add(1, Ordering::SeqCst);
                self.remote.handle(call.into_request()).await
            }
            Request::CrossDc(dc, call) => failed(&call, WireError::NoPathToDatacenter(dc)),
            Request::Datacenters => Reply::Datacenters(vec!["dc1".into(), "dc2".into()]),
            _ => Reply::Error("a local call reached the test server".into()),
        }
    }
}

#[tokio::test]
async fn a_client_agent_sends_other_datacenters_calls_through_its_servers() {
    let stop = CancellationToken::new();
    let hop = Arc::new(LocalHop::default());
    let addr = serve(hop.clone(), &stop).await;
    let remote = Remote::default().hold_for(Duration::from_millis(300));
    remote.set_servers(vec![addr]);
    let backend = Backend::Remote(Arc::new(remote));
    let hold = Duration::from_millis(300);

    let r = backend
        .read_in(
            Some("dc2"),
            hold,
            &Token::anonymous(),
            KvGet { key: "k".into() },
            QueryOpts {
                index: 0,
                wait: Duration::ZERO,
                consistency: Consistency::Stale,
            },
        )
        .await
        .unwrap();
    assert_eq!((r.index, r.answer, r.meta.last_contact_ms), (42, None, 7));
    let w = backend
        .write_in(
            Some("dc2"),
            hold,
            &Token::anonymous(),
            Command::SessionDestroy { id: "s".into() },
        )
        .await
        .unwrap();
    assert_eq!(w.0, 43);
    let err = backend
        .status_in(Some("dc9"), hold)
        .await
        .expect_err("no dc9");
    assert!(
        matches!(err, ServerError::NoPathToDatacenter(ref dc) if dc == "dc9"),
        "{err:?}"
    );
    assert_eq!(hop.crossed.load(Ordering::SeqCst), 2);
    assert_eq!(backend.datacenters(hold).await.unwrap(), ["dc1", "dc2"]);
    stop.cancel();
}

#[test]
fn datacenters_are_listed_local_first_then_by_distance_then_by_name() {
    let unknown: BTreeMap<String, f64> = ["dc3", "dc1", "dc2", "aa"]
        .map(|dc| (dc.to_owned(), f64::INFINITY))
        .into();
    assert_eq!(
        datacenters_by_rtt("dc2", &unknown),
        ["dc2", "aa", "dc1", "dc3"]
    );
    assert_eq!(datacenters_by_rtt("dc1", &BTreeMap::new()), ["dc1"]);
    let measured: BTreeMap<String, f64> = [("a-far", 0.2), ("b-near", 0.01), ("c-local", 0.0)]
        .map(|(dc, d)| (dc.to_owned(), d))
        .into();
    assert_eq!(
        datacenters_by_rtt("c-local", &measured),
        ["c-local", "b-near", "a-far"]
    );
}

#[test]
fn a_blocking_calls_bound_covers_its_wait_and_a_quick_one_the_hold() {
    let hold = Duration::from_secs(7);
    let blocking = get_k(5);
    assert!(call_timeout(&blocking, hold) > Duration::from_secs(1) + hold);
    assert!(call_bound(&blocking, hold) > call_timeout(&blocking, hold));
    // A non-blocking read is never held for the default 5-minute wait.
    let mut quick = get_k(0);
    if let DcCall::Query(_, opts, _) = &mut quick {
        opts.wait = Duration::from_secs(300);
    }
    assert!(call_timeout(&quick, hold) < Duration::from_secs(30));
}

#[test]
fn translated_addresses_are_the_wan_ones_when_set() {
    let mut node = praetor_api::catalog::Node {
        id: String::new(),
        node: "n1".into(),
        address: "10.0.0.1".into(),
        datacenter: "dc2".into(),
        tagged_addresses: BTreeMap::new(),
        meta: BTreeMap::new(),
        create_index: 1,
        modify_index: 1,
    };
    translate_node(&mut node);
    assert_eq!(node.address, "10.0.0.1", "no wan address: unchanged");
    node.tagged_addresses
        .insert("wan".into(), "203.0.113.7".into());
    translate_node(&mut node);
    assert_eq!(node.address, "203.0.113.7");
}

#[test]
fn the_wan_pool_is_named_node_dc_and_measures_coordinates_unless_disabled() {
    let mut cfg = RuntimeConfig {
        node_name: "s1".into(),
        datacenter: "dc2".into(),
        ..RuntimeConfig::default()
    };
    let tags = || server_tags("dc2", "10.0.0.1:8300".parse().unwrap());
    let ip = "10.0.0.1".parse().unwrap();
    let g = wan_gossip_config(&cfg, ip, tags(), 8302);
    assert_eq!(g.node_name, "s1.dc2");
    assert!(g.wan);
    assert!(g.coordinates, "WAN coordinates place the datacenters");
    assert!(g.coordinate_delay.is_empty());
    cfg.disable_coordinates = true;
    cfg.wan.test_latency = [("dc1".to_owned(), Duration::from_millis(50))].into();
    let g = wan_gossip_config(&cfg, ip, tags(), 8302);
    assert!(!g.coordinates);
    assert_eq!(g.coordinate_delay, cfg.wan.test_latency);
}
