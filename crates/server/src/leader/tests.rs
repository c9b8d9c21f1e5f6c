//! The leader's duties driven through a fake `Membership`, on servers in
//! this process talking Raft over real RPC on loopback.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use praetor_api::catalog::{check_status, SERF_CHECK_ID};
use praetor_store::Command;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::{rpc, ServerConfig};

const DC: &str = "dc1";

/// A membership list the test edits; each server's duties read it through
/// their own `View`, which counts the reads (one per round).
#[derive(Clone)]
struct Pool(Arc<watch::Sender<Vec<MemberView>>>);

impl Pool {
    fn new(members: Vec<MemberView>) -> Self {
        Pool(Arc::new(watch::Sender::new(members)))
    }

    fn view(&self) -> View {
        View {
            list: self.0.clone(),
            reads: Arc::default(),
        }
    }

    /// Changes the list (adding `m`, or replacing the member of its name).
    fn put(&self, m: MemberView) {
        self.0.send_modify(|list| {
            list.retain(|o| o.name != m.name);
            list.push(m);
        });
    }

    /// Gives every member of `names` `status`, in one change.
    fn set_status(&self, names: &[&str], status: MemberStatus) {
        self.0.send_modify(|list| {
            for m in list.iter_mut().filter(|m| names.contains(&m.name.as_str())) {
                m.status = status;
            }
        });
    }

    /// Forgets a member, as gossip reaps it.
    fn reap(&self, name: &str) {
        self.0.send_modify(|list| list.retain(|m| m.name != name));
    }
}

#[derive(Clone)]
struct View {
    list: Arc<watch::Sender<Vec<MemberView>>>,
    reads: Arc<AtomicUsize>,
}

impl View {
    fn reads(&self) -> usize {
        self.reads.load(Ordering::SeqCst)
    }
}

impl Membership for View {
    fn members(&self) -> Vec<MemberView> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.list.borrow().clone()
    }

    fn changes(&self) -> MemberChanges {
        futures::stream::unfold(self.list.subscribe(), |mut rx| async move {
            rx.changed().await.ok()?;
            Some(((), rx))
        })
        .boxed()
    }
}

/// Waits until `view`'s duties have started `n` more rounds, each after the
/// membership change (the test pokes the list to start them at once): the
/// first `n - 1` of them have finished with the list as it is now.
async fn pass_rounds(pool: &Pool, view: &View, n: usize) {
    for _ in 0..n {
        let before = view.reads();
        pool.0.send_modify(|_| {});
        wait_for("a reconcile round", || {
            (view.reads() > before)
                .then_some(())
                .ok_or_else(|| format!("{} reads", view.reads()))
        })
        .await;
    }
}

/// Waits (at most 15 s) until `f` answers `Ok`; fails with the last `Err`.
async fn wait_for<T>(what: &str, f: impl FnMut() -> Result<T, String>) -> T {
    praetor_testwait::wait_until(Duration::from_secs(15), what, f)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

struct Node {
    server: Server,
    stop: CancellationToken,
    addr: SocketAddr,
}

impl Node {
    async fn start(id: u64, bootstrap: bool) -> Node {
        Node::start_with(id, bootstrap, crate::acl::AclConfig::default()).await
    }

    async fn start_with(id: u64, bootstrap: bool, acl: crate::acl::AclConfig) -> Node {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let server = Server::start(ServerConfig {
            node_id: id,
            rpc_addr: addr.to_string(),
            data_dir: None,
            snapshot_threshold: 1000,
            trailing_logs: 100,
            history_limit: 100,
            bootstrap,
            leader_wait: Duration::from_secs(5),
            apply_timeout: crate::APPLY_TIMEOUT,
            stop: stop.clone(),
            metrics: crate::ServerMetrics::global(),
            acl,
        })
        .await
        .unwrap();
        tokio::spawn(rpc::serve(listener, Arc::new(server.clone()), stop.clone()));
        Node { server, stop, addr }
    }

    /// This server as a gossip member would announce it.
    fn member(&self, bootstrap_expect: u32) -> MemberView {
        let id = self.server.id();
        MemberView {
            name: format!("s{id}"),
            addr: IpAddr::V4(Ipv4Addr::LOCALHOST),
            node_id: format!("00000000-0000-0000-0000-00000000000{id}"),
            datacenter: DC.into(),
            role: MemberRole::Server,
            status: MemberStatus::Alive,
            raft_id: Some(id),
            rpc_addr: Some(self.addr),
            bootstrap_expect,
        }
    }

    fn voters(&self) -> Vec<u64> {
        let mut v: Vec<u64> = self.server.voters().into_iter().map(|(id, _)| id).collect();
        v.sort_unstable();
        v
    }

    /// Stops the server the way the agent does, and checks that the
    /// leader's duties stopped with it.
    async fn stop(self) {
        self.stop.cancel();
        self.server.shutdown().await;
        assert!(
            self.server.tasks.is_empty(),
            "server tasks outlived the shutdown"
        );
    }
}

fn client(name: &str, last_octet: u8, dc: &str) -> MemberView {
    MemberView {
        name: name.into(),
        addr: IpAddr::V4(Ipv4Addr::new(127, 0, 0, last_octet)),
        node_id: format!("11111111-0000-0000-0000-0000000000{last_octet:02}"),
        datacenter: dc.into(),
        role: MemberRole::Client,
        status: MemberStatus::Alive,
        raft_id: None,
        rpc_addr: None,
        bootstrap_expect: 0,
    }
}

fn config(bootstrap_expect: u32, autopilot: AutopilotConfig) -> LeaderConfig {
    LeaderConfig {
        datacenter: DC.into(),
        bootstrap_expect,
        autopilot,
    }
}

/// Consul's defaults, with failed servers removable at once (safety is
/// then the only thing that holds a removal back).
fn cleanup_at_once() -> AutopilotConfig {
    AutopilotConfig {
        server_stabilization_time: Duration::ZERO,
        ..AutopilotConfig::consul_defaults(Duration::ZERO)
    }
}

/// `node`'s `serfHealth` check as `(status, output)`, if it has one.
fn serf_health(server: &Server, node: &str) -> Option<(String, String)> {
    let st = server.shared().read();
    let (_, checks) = st.store.catalog().node_checks(node);
    checks
        .into_iter()
        .find(|c| c.check_id == SERF_CHECK_ID)
        .map(|c| (c.status, c.output))
}

fn has_node(server: &Server, node: &str) -> bool {
    server
        .shared()
        .read()
        .store
        .catalog()
        .node(node)
        .1
        .is_some()
}

/// A node registered through the catalog API, without `serfHealth`.
fn register_external(node: &str) -> Command {
    Command::CatalogRegister(praetor_store::model::Registration {
        node: node.into(),
        address: "10.0.0.9".into(),
        ..Default::default()
    })
}

/// One bootstrapped server leading, its duties reading `pool`.
async fn one_server(pool_with: Vec<MemberView>) -> (Node, Pool, View) {
    one_server_with(pool_with, crate::acl::AclConfig::default()).await
}

async fn one_server_with(
    pool_with: Vec<MemberView>,
    acl: crate::acl::AclConfig,
) -> (Node, Pool, View) {
    let node = Node::start_with(1, true, acl).await;
    let mut members = vec![node.member(0)];
    members.extend(pool_with);
    let pool = Pool::new(members);
    let view = pool.view();
    node.server
        .spawn_leader_duties(view.clone(), config(0, cleanup_at_once()));
    let s = node.server.clone();
    wait_for("a leader", || {
        s.is_leader().then_some(()).ok_or("none".into())
    })
    .await;
    (node, pool, view)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_fails_gets_a_critical_serf_health_check_and_one_that_leaves_is_deregistered()
{
    let (node, pool, view) = one_server(vec![client("c1", 21, DC), client("x1", 22, "dc2")]).await;
    let s = node.server.clone();

    tracing::info!("--- alive members are registered with a passing serfHealth");
    for name in ["s1", "c1"] {
        wait_for("a passing serfHealth", || match serf_health(&s, name) {
            Some((status, output))
                if status == check_status::PASSING && output == "Agent alive and reachable" =>
            {
                Ok(())
            }
            other => Err(format!("{name}: {other:?}")),
        })
        .await;
    }
    let c1 = s.shared().read().store.catalog().node("c1").1.unwrap();
    assert_eq!(c1.address, "127.0.0.21");
    assert_eq!(c1.id, "11111111-0000-0000-0000-000000000021");
    assert_eq!(c1.datacenter, DC);
    pass_rounds(&pool, &view, 2).await;
    assert!(
        !has_node(&s, "x1"),
        "a member of another datacenter was registered"
    );

    tracing::info!("--- a failed member keeps its node, with a critical serfHealth");
    pool.set_status(&["c1"], MemberStatus::Failed);
    wait_for("a critical serfHealth", || match serf_health(&s, "c1") {
        Some((status, output))
            if status == check_status::CRITICAL && output == "Agent not live or unreachable" =>
        {
            Ok(())
        }
        other => Err(format!("{other:?}")),
    })
    .await;
    assert!(has_node(&s, "c1"));

    tracing::info!("--- a leaving member is passing again; once it left, it is deregistered");
    pool.set_status(&["c1"], MemberStatus::Leaving);
    wait_for("a passing serfHealth", || match serf_health(&s, "c1") {
        Some((status, _)) if status == check_status::PASSING => Ok(()),
        other => Err(format!("{other:?}")),
    })
    .await;
    pool.set_status(&["c1"], MemberStatus::Left);
    wait_for("c1 deregistered", || {
        (!has_node(&s, "c1"))
            .then_some(())
            .ok_or("still registered".into())
    })
    .await;
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reaped_member_is_deregistered_and_a_node_without_serf_health_is_left_alone() {
    let (node, pool, view) = one_server(vec![client("c1", 21, DC)]).await;
    let s = node.server.clone();
    let (_, r) = s.write(register_external("external")).await.unwrap();
    assert!(r.ok(), "{r:?}");
    wait_for("c1 registered", || {
        serf_health(&s, "c1").ok_or("no serfHealth".into())
    })
    .await;

    tracing::info!("--- gossip forgets c1");
    pool.reap("c1");
    wait_for("c1 deregistered", || {
        (!has_node(&s, "c1"))
            .then_some(())
            .ok_or("still registered".into())
    })
    .await;
    pass_rounds(&pool, &view, 2).await;
    assert!(
        has_node(&s, "external"),
        "a node not from gossip was deregistered"
    );
    node.stop().await;
}

/// Three servers, the first bootstrapped, its duties adding the other two.
async fn three_servers(autopilot: AutopilotConfig) -> ([Node; 3], Pool, View) {
    let a = Node::start(1, true).await;
    let b = Node::start(2, false).await;
    let c = Node::start(3, false).await;
    let pool = Pool::new(vec![a.member(0), b.member(0), c.member(0)]);
    let view = pool.view();
    for n in [&a, &b, &c] {
        n.server
            .spawn_leader_duties(view.clone(), config(0, autopilot.clone()));
    }
    let s = a.server.clone();
    wait_for("autopilot to add both servers as voters", || {
        let v = a.voters();
        (v == [1, 2, 3]).then_some(()).ok_or(format!("{v:?}"))
    })
    .await;
    assert!(s.is_leader());
    (([a, b, c]), pool, view)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autopilot_removes_a_failed_server_only_when_a_majority_of_the_rest_is_alive() {
    let ([a, b, c], pool, view) = three_servers(cleanup_at_once()).await;

    tracing::info!("--- two of three failed: removing one would leave no alive majority");
    // Both at once: one after the other, the first would be removed while
    // removing it is still safe, and then the second.
    pool.set_status(&["s2", "s3"], MemberStatus::Failed);
    pass_rounds(&pool, &view, 3).await;
    assert_eq!(a.voters(), [1, 2, 3]);

    tracing::info!("--- s2 is back: the failed s3 is removed");
    pool.set_status(&["s2"], MemberStatus::Alive);
    wait_for("s3 removed", || {
        let v = a.voters();
        (v == [1, 2]).then_some(()).ok_or(format!("{v:?}"))
    })
    .await;

    tracing::info!("--- s3 alive again: added back; then it leaves and is removed");
    pool.set_status(&["s3"], MemberStatus::Alive);
    wait_for("s3 added back", || {
        let v = a.voters();
        (v == [1, 2, 3]).then_some(()).ok_or(format!("{v:?}"))
    })
    .await;
    pool.set_status(&["s3"], MemberStatus::Left);
    wait_for("s3 removed after leaving", || {
        let v = a.voters();
        (v == [1, 2]).then_some(()).ok_or(format!("{v:?}"))
    })
    .await;
    for n in [a, b, c] {
        n.stop().await;
    }
}

/// A configuration stored through the log (`PUT
/// /v1/operator/autopilot/configuration`) wins over the agent's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autopilot_acts_on_the_stored_configuration_over_the_agents() {
    let ([a, b, c], pool, view) = three_servers(cleanup_at_once()).await;
    let stored = praetor_store::autopilot::AutopilotConfig {
        cleanup_dead_servers: false,
        ..cleanup_at_once().to_stored()
    };
    let (_, answer) = a
        .server
        .write(praetor_store::Command::AutopilotSetConfig {
            config: stored,
            cas: None,
        })
        .await
        .expect("the configuration is written");
    assert!(answer.ok(), "{answer:?}");
    pool.set_status(&["s3"], MemberStatus::Failed);
    pass_rounds(&pool, &view, 3).await;
    assert_eq!(
        a.voters(),
        [1, 2, 3],
        "removed with cleanup_dead_servers off"
    );
    for n in [a, b, c] {
        n.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autopilot_keeps_a_failed_server_below_min_quorum_or_within_the_dead_server_timeout() {
    let ([a, b, c], pool, view) = three_servers(AutopilotConfig {
        min_quorum: 3,
        ..cleanup_at_once()
    })
    .await;
    pool.set_status(&["s3"], MemberStatus::Failed);
    pass_rounds(&pool, &view, 3).await;
    assert_eq!(a.voters(), [1, 2, 3], "removed below min_quorum");
    for n in [a, b, c] {
        n.stop().await;
    }

    let ([a, b, c], pool, view) = three_servers(AutopilotConfig {
        dead_server_timeout: Duration::from_secs(3600),
        ..cleanup_at_once()
    })
    .await;
    pool.set_status(&["s3"], MemberStatus::Failed);
    pass_rounds(&pool, &view, 3).await;
    assert_eq!(a.voters(), [1, 2, 3], "removed before dead_server_timeout");
    for n in [a, b, c] {
        n.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_bootstrap_once_bootstrap_expect_of_them_agree_and_are_alive() {
    let nodes = [
        Node::start(1, false).await,
        Node::start(2, false).await,
        Node::start(3, false).await,
    ];
    let pool = Pool::new(vec![nodes[0].member(3), nodes[1].member(3)]);
    let views: Vec<View> = nodes
        .iter()
        .map(|n| {
            let v = pool.view();
            n.server
                .spawn_leader_duties(v.clone(), config(3, cleanup_at_once()));
            v
        })
        .collect();
    let unformed = |nodes: &[Node]| {
        for n in nodes {
            assert!(
                n.server.status().members.is_empty(),
                "server {} bootstrapped: {:?}",
                n.server.id(),
                n.server.status()
            );
        }
    };

    tracing::info!("--- two of the three expected servers: no bootstrap");
    for v in &views {
        pass_rounds(&pool, v, 3).await;
    }
    unformed(&nodes);

    tracing::info!("--- the third announces bootstrap_expect 5: no bootstrap");
    pool.put(nodes[2].member(5));
    for v in &views {
        pass_rounds(&pool, v, 3).await;
    }
    unformed(&nodes);

    tracing::info!("--- the third agrees: one cluster of the three");
    pool.put(nodes[2].member(3));
    for n in &nodes {
        wait_for("three voters", || {
            let v = n.voters();
            (v == [1, 2, 3]).then_some(()).ok_or(format!("{v:?}"))
        })
        .await;
    }
    wait_for("one leader", || {
        let leaders: Vec<u64> = nodes.iter().filter_map(|n| n.server.leader()).collect();
        (leaders.len() == 3 && leaders.iter().all(|l| *l == leaders[0]))
            .then_some(())
            .ok_or(format!("{leaders:?}"))
    })
    .await;
    for n in nodes {
        n.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_that_leaves_removes_itself_and_another_server_leads() {
    let ([a, b, c], pool, view) = three_servers(cleanup_at_once()).await;
    // Gossip says it left, so no new leader's autopilot adds it back.
    pool.set_status(&["s1"], MemberStatus::Left);
    pass_rounds(&pool, &view, 2).await;
    assert_eq!(a.voters(), [1, 2, 3], "the leader removed itself");
    a.server.leave_raft().await;
    wait_for("s1 out of the voters and a new leader", || {
        let (v, leader) = (b.voters(), b.server.leader());
        (v == [2, 3] && leader.is_some_and(|l| l != 1))
            .then_some(())
            .ok_or(format!("voters {v:?}, leader {leader:?}"))
    })
    .await;
    for n in [a, b, c] {
        n.stop().await;
    }
}

/// With ACLs on, a new leader creates the built-in policy, the anonymous
/// token and the initial management token once, and deletes tokens whose
/// expiration time has passed (they stopped working then already).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leader_starts_the_acl_system_and_deletes_expired_tokens() {
    use praetor_store::acl::{AclCommand, Token, ANONYMOUS_TOKEN_ID, GLOBAL_MANAGEMENT_ID};
    let acl = crate::acl::AclConfig {
        enabled: true,
        initial_management: Some("root-secret".into()),
        datacenter: DC.into(),
        ..crate::acl::AclConfig::default()
    };
    let (node, _pool, _view) = one_server_with(Vec::new(), acl).await;
    let s = node.server.clone();
    wait_for("the ACL start-up", || {
        let st = s.shared().read();
        let t = st.store.acl();
        (t.policy(GLOBAL_MANAGEMENT_ID).is_some()
            && t.token(ANONYMOUS_TOKEN_ID).is_some()
            && t.token_by_secret("root-secret").is_some())
        .then_some(())
        .ok_or(format!("{} tokens", t.tokens().count()))
    })
    .await;
    let root = crate::acl::Token::new("root-secret");
    assert!(s.authorize(&root).unwrap().is_management());

    let soon = crate::acl::now_ms() + 300;
    let expiring = |accessor: &str, at: u64| {
        Command::Acl(AclCommand::TokenSet {
            token: Token {
                accessor_id: accessor.into(),
                secret_id: format!("{accessor}-secret"),
                expiration_ms: Some(at),
                ..Token::default()
            },
            create: true,
        })
    };
    s.write(expiring("short", soon)).await.unwrap();
    s.write(expiring("long", soon + 3_600_000)).await.unwrap();
    wait_for("the expired token to be deleted", || {
        let st = s.shared().read();
        match st.store.acl().token("short") {
            None => Ok(()),
            Some(_) => Err("still there".into()),
        }
    })
    .await;
    assert!(
        s.shared().read().store.acl().token("long").is_some(),
        "a token that has not expired stays"
    );
    assert!(matches!(
        s.authorize(&crate::acl::Token::new("short-secret")),
        Err(crate::ServerError::Acl(crate::acl::AclError::NotFound))
    ));
}
