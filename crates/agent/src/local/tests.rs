//! The local state's costs and its sync marks: work per operation that does
//! not grow with the number of services, output-only check changes held
//! back until `check_update_interval`, anti-entropy differences written in
//! batches of at most 128, and every change kept across a restart.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use praetor_api::catalog::{HealthCheck, NodeService, ServiceDefinition};
use praetor_server::ServerError;
use praetor_store::{Command, Response};

use super::sync::{testing, MAX_OPS};
use super::*;

fn node() -> NodeInfo {
    NodeInfo {
        name: "n1".into(),
        id: "00000000-0000-0000-0000-000000000001".into(),
        address: "127.0.0.1".into(),
        datacenter: "dc1".into(),
    }
}

fn ttl_check(id: &str, service_id: &str) -> LocalCheck {
    LocalCheck {
        id: id.into(),
        name: id.into(),
        service_id: service_id.into(),
        notes: String::new(),
        status: "critical".into(),
        output: String::new(),
        deregister_after: None,
        definition: Some(praetor_checks::Definition::new(
            id,
            praetor_checks::Kind::Ttl {
                ttl: Duration::from_secs(30),
            },
            Duration::ZERO,
        )),
    }
}

fn service(id: &str) -> ServiceDefinition {
    ServiceDefinition {
        id: id.into(),
        service: "web".into(),
        port: 8080,
        ..Default::default()
    }
}

/// Registers services `web<from>`.. `web<to - 1>`, each with a TTL check.
fn register(local: &LocalState, from: usize, to: usize) {
    for i in from..to {
        let id = format!("web{i}");
        local
            .add_service(service(&id), vec![ttl_check(&format!("service:{id}"), &id)])
            .unwrap();
    }
}

/// The commands a push wrote, answering each as applied.
#[derive(Clone, Default)]
struct Recorder {
    writes: Arc<Mutex<Vec<Command>>>,
}

impl Recorder {
    async fn push(&self, local: &LocalState) -> usize {
        let writes = self.writes.clone();
        testing::push(local, &node(), move |cmd: Command| {
            let answer = match &cmd {
                Command::Batch(cmds) => Response::Batch(vec![Response::Applied(true); cmds.len()]),
                _ => Response::Applied(true),
            };
            writes.lock().unwrap().push(cmd);
            async move { Ok::<_, ServerError>((1, answer)) }
        })
        .await
        .unwrap()
    }

    fn take(&self) -> Vec<Command> {
        std::mem::take(&mut *self.writes.lock().unwrap())
    }
}

/// The number of catalog writes inside `cmds` (a batch counts its own).
fn ops(cmds: &[Command]) -> usize {
    cmds.iter()
        .map(|c| match c {
            Command::Batch(inner) => inner.len(),
            _ => 1,
        })
        .sum()
}

/// The work of registering one service with a check, pushing it, updating
/// its check, pushing that, deregistering it and pushing that, on an agent
/// that already has `n` services (all in sync).
async fn work_with(n: usize) -> (u64, usize) {
    let dir = tempfile::tempdir().unwrap();
    let local = LocalState::load(Some(dir.path()));
    register(&local, 0, n);
    let rec = Recorder::default();
    rec.push(&local).await;
    rec.take();
    assert_eq!(testing::marked(&local), 0);

    let before = local.work_done();
    register(&local, n, n + 1);
    assert_eq!(rec.push(&local).await, 1);
    let id = format!("web{n}");
    local
        .set_status(&format!("service:{id}"), "passing", "ok")
        .unwrap();
    assert_eq!(rec.push(&local).await, 1);
    local.remove_service(&id).unwrap();
    assert_eq!(rec.push(&local).await, 1);
    let work = local.work_done() - before;
    let written = ops(&rec.take());
    assert_eq!(testing::marked(&local), 0);
    // The data dir has what was acknowledged, and nothing of the removed one.
    let again = LocalState::load(Some(dir.path()));
    assert_eq!(again.owned(), local.owned());
    assert_eq!(again.owned().services.len(), n);
    (work, written)
}

#[tokio::test]
async fn registering_updating_and_deregistering_cost_the_same_with_5000_services_as_with_10() {
    let small = work_with(10).await;
    let large = work_with(5000).await;
    assert_eq!(
        small, large,
        "work (entries saved, compared, planned) and catalog writes per operation"
    );
    // One service with its check saved, one check saved, two entries removed;
    // three writes of one operation each.
    assert_eq!(large.1, 3);
    assert!(large.0 <= 12, "{large:?}");
}

#[tokio::test]
async fn a_service_and_its_checks_go_to_the_catalog_in_one_registration() {
    let local = LocalState::load(None);
    register(&local, 0, 1);
    let rec = Recorder::default();
    assert_eq!(rec.push(&local).await, 1);
    let writes = rec.take();
    let [Command::CatalogRegisterTyped {
        register, types, ..
    }] = writes.as_slice()
    else {
        panic!("one typed registration: {writes:?}");
    };
    assert_eq!(
        register.service.as_ref().map(|s| s.id.as_str()),
        Some("web0")
    );
    assert_eq!(register.checks.len(), 1);
    assert_eq!(types.get("service:web0").map(String::as_str), Some("ttl"));
    // Nothing changed: nothing to write.
    assert_eq!(rec.push(&local).await, 0);
}

/// The status and output the catalog would get for check `id` from `cmds`.
fn pushed_check(cmds: &[Command], id: &str) -> Option<(String, String)> {
    let mut found = None;
    let mut visit = |c: &Command| {
        if let Command::CatalogRegisterTyped { register, .. } = c {
            for ch in register.checks.iter().filter(|ch| ch.check_id == id) {
                found = Some((ch.status.clone(), ch.output.clone()));
            }
        }
    };
    for c in cmds {
        match c {
            Command::Batch(inner) => inner.iter().for_each(&mut visit),
            other => visit(other),
        }
    }
    found
}

#[tokio::test(start_paused = true)]
async fn output_only_changes_wait_for_check_update_interval_and_status_changes_do_not() {
    let local = LocalState::load(None);
    local.set_check_update_interval(Duration::from_secs(60));
    register(&local, 0, 1);
    let rec = Recorder::default();
    rec.push(&local).await;
    rec.take();
    let check = "service:web0";

    // A new output, same status: the agent shows it, the servers wait.
    local.set_status(check, "critical", "try 1").unwrap();
    assert_eq!(local.check_state(check).unwrap().1, "try 1");
    assert_eq!(rec.push(&local).await, 0);
    tokio::time::advance(Duration::from_secs(30)).await;
    local.set_status(check, "critical", "try 2").unwrap();
    assert_eq!(rec.push(&local).await, 0);
    tokio::time::advance(Duration::from_secs(29)).await;
    assert_eq!(rec.push(&local).await, 0, "held until the interval is over");
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(rec.push(&local).await, 1);
    assert_eq!(
        pushed_check(&rec.take(), check),
        Some(("critical".into(), "try 2".into()))
    );

    // A new status goes at once, with its output.
    local.set_status(check, "critical", "try 3").unwrap();
    local.set_status(check, "passing", "ok").unwrap();
    assert_eq!(rec.push(&local).await, 1);
    assert_eq!(
        pushed_check(&rec.take(), check),
        Some(("passing".into(), "ok".into()))
    );

    // Zero: every output change goes at once.
    local.set_check_update_interval(Duration::ZERO);
    local.set_status(check, "passing", "ok again").unwrap();
    assert_eq!(rec.push(&local).await, 1);
    assert_eq!(
        pushed_check(&rec.take(), check),
        Some(("passing".into(), "ok again".into()))
    );
}

#[tokio::test(start_paused = true)]
async fn a_full_sync_leaves_a_held_output_to_its_timer() {
    let local = LocalState::load(None);
    local.set_check_update_interval(Duration::from_secs(60));
    register(&local, 0, 1);
    Recorder::default().push(&local).await;
    let (services, mut checks) = catalog_of(&local);
    local.set_status("service:web0", "critical", "new").unwrap();
    testing::mark_differences(&local, &services, &checks);
    assert_eq!(testing::marked(&local), 0, "only the output differs");
    checks[0].status = "passing".into();
    testing::mark_differences(&local, &services, &checks);
    assert_eq!(testing::marked(&local), 1, "a status that differs goes");
}

/// The catalog's view of exactly what `local` owns.
fn catalog_of(local: &LocalState) -> (Vec<NodeService>, Vec<HealthCheck>) {
    let owned = local.owned();
    let services = owned
        .services
        .values()
        .map(|s| NodeService {
            id: s.id.clone(),
            service: s.service.clone(),
            tags: s.tags.clone(),
            address: s.address.clone(),
            meta: s.meta.clone(),
            port: s.port,
            weights: s.weights.clone().unwrap_or_default(),
            enable_tag_override: s.enable_tag_override,
            kind: s.kind.clone(),
            tagged_addresses: s.tagged_addresses.clone(),
            proxy: s.proxy.clone(),
            locality: s.locality.clone(),
            create_index: 1,
            modify_index: 1,
        })
        .collect();
    let checks = owned
        .checks
        .values()
        .map(|c| HealthCheck {
            node: "n1".into(),
            check_id: c.id.clone(),
            name: c.name.clone(),
            status: c.status.clone(),
            notes: c.notes.clone(),
            output: c.output.clone(),
            service_id: c.service_id.clone(),
            service_name: "web".into(),
            service_tags: Vec::new(),
            kind: c.kind_name().into(),
            create_index: 1,
            modify_index: 1,
        })
        .collect();
    (services, checks)
}

#[tokio::test]
async fn an_anti_entropy_sync_of_n_differences_is_ceil_n_over_128_writes() {
    for n in [1, 127, 128, 129, 300] {
        // N services the catalog lacks.
        let local = LocalState::load(None);
        register(&local, 0, n);
        let rec = Recorder::default();
        let (services, checks) = catalog_of(&local);
        testing::mark_differences(&local, &[], &[]);
        assert_eq!(
            rec.push(&local).await,
            n.div_ceil(MAX_OPS),
            "{n} registrations"
        );
        let writes = rec.take();
        assert_eq!(ops(&writes), n);
        for w in &writes {
            if let Command::Batch(inner) = w {
                assert!(inner.len() <= MAX_OPS && inner.len() > 1);
            }
        }
        assert_eq!(testing::marked(&local), 0, "every difference settled");

        // In sync: nothing to write.
        testing::mark_differences(&local, &services, &checks);
        assert_eq!(rec.push(&local).await, 0);

        // N services the agent no longer has (their checks go with them).
        let empty = LocalState::load(None);
        testing::mark_differences(&empty, &services, &checks);
        assert_eq!(rec.push(&empty).await, n.div_ceil(MAX_OPS), "{n} removals");
        let writes = rec.take();
        assert_eq!(ops(&writes), n);
    }
}

/// The work (entries indexed, looked up, compared and planned) of one
/// anti-entropy round, compare and push, of an agent with `n` services
/// (each with a check) against a catalog in state `catalog`, and the
/// writes it made.
async fn anti_entropy_work(n: usize, catalog: &str) -> (u64, usize) {
    let local = LocalState::load(None);
    register(&local, 0, n);
    let (mut services, mut checks) = catalog_of(&local);
    match catalog {
        "in sync" => {}
        "empty" => (services, checks) = (Vec::new(), Vec::new()),
        "stale, with as many foreign entries" => {
            for s in &mut services {
                s.port += 1;
            }
            for c in &mut checks {
                c.status = "passing".into();
            }
            let foreign: Vec<NodeService> = services
                .iter()
                .map(|s| NodeService {
                    id: format!("gone-{}", s.id),
                    ..s.clone()
                })
                .collect();
            let foreign_checks: Vec<HealthCheck> = foreign
                .iter()
                .map(|s| HealthCheck {
                    check_id: format!("service:{}", s.id),
                    service_id: s.id.clone(),
                    ..checks[0].clone()
                })
                .collect();
            services.extend(foreign);
            checks.extend(foreign_checks);
        }
        other => panic!("no catalog state {other}"),
    }
    let rec = Recorder::default();
    let before = local.work_done();
    testing::mark_differences(&local, &services, &checks);
    rec.push(&local).await;
    let work = local.work_done() - before;
    assert_eq!(
        testing::marked(&local),
        0,
        "{catalog}: every difference settled"
    );
    (work, ops(&rec.take()))
}

#[tokio::test]
async fn an_anti_entropy_round_costs_in_proportion_to_the_services_compared() {
    for catalog in ["in sync", "empty", "stale, with as many foreign entries"] {
        let mut last: Option<(usize, u64, usize)> = None;
        for n in [250, 500, 1000, 2000, 4000] {
            let (work, written) = anti_entropy_work(n, catalog).await;
            assert!(work > 0, "{catalog}: {n} services compared without work");
            if let Some((m, w, ops)) = last {
                // Twice the services, exactly twice the work and the
                // catalog operations: no part of a round grows faster.
                assert_eq!(n, 2 * m);
                assert_eq!(work, 2 * w, "{catalog}: work with {m} then {n} services");
                assert_eq!(written, 2 * ops, "{catalog}: operations with {m} then {n}");
            }
            last = Some((n, work, written));
        }
    }
}

#[tokio::test]
async fn a_refused_registration_stays_marked_and_the_others_settle() {
    let local = LocalState::load(None);
    register(&local, 0, 3);
    let answered = testing::push(&local, &node(), |cmd: Command| {
        let Command::Batch(cmds) = cmd else {
            panic!("one batch");
        };
        let mut answers = vec![Response::Applied(true); cmds.len()];
        answers[1] = Response::Refused("no".into());
        async move { Ok::<_, ServerError>((1, Response::Batch(answers))) }
    })
    .await;
    assert!(answered.unwrap_err().contains("no"));
    // The refused service and its check.
    assert_eq!(testing::marked(&local), 2);
}

#[tokio::test]
async fn a_server_that_refuses_batches_gets_the_writes_one_at_a_time() {
    let local = LocalState::load(None);
    register(&local, 0, 3);
    let singles = Arc::new(Mutex::new(0));
    let counted = singles.clone();
    let writes = testing::push(&local, &node(), move |cmd: Command| {
        let answer = match cmd {
            // An earlier release's answer to a batch from an agent.
            Command::Batch(_) => Err(ServerError::Remote(
                "refused a batch command from an rpc peer: only the leader itself proposes it"
                    .into(),
            )),
            _ => {
                *counted.lock().unwrap() += 1;
                Ok((1, Response::Applied(true)))
            }
        };
        async move { answer }
    })
    .await
    .unwrap();
    assert_eq!(writes, 4, "the refused batch, then one write each");
    assert_eq!(*singles.lock().unwrap(), 3);
    assert_eq!(testing::marked(&local), 0);
}

#[test]
fn the_sync_interval_grows_a_minute_per_doubling_past_128_nodes() {
    assert_eq!(sync_interval(1), Duration::from_secs(60));
    assert_eq!(sync_interval(128), Duration::from_secs(60));
    assert_eq!(sync_interval(129), Duration::from_secs(120));
    assert_eq!(sync_interval(256), Duration::from_secs(120));
    assert_eq!(sync_interval(257), Duration::from_secs(180));
    assert_eq!(sync_interval(1024), Duration::from_secs(240));
}

#[test]
fn every_acknowledged_change_is_in_the_data_dir_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let local = LocalState::load(Some(dir.path()));
    register(&local, 0, 3);
    local.remove_service("web1").unwrap();
    local.add_check(ttl_check("node-ttl", "")).unwrap();
    local.set_status("node-ttl", "passing", "fine").unwrap();
    local.set_status("service:web2", "warning", "slow").unwrap();
    local.add_check(ttl_check("gone", "")).unwrap();
    local.remove_check("gone").unwrap();
    let again = LocalState::load(Some(dir.path()));
    assert_eq!(again.owned(), local.owned());
    let owned = again.owned();
    assert_eq!(owned.services.keys().collect::<Vec<_>>(), ["web0", "web2"]);
    assert_eq!(owned.checks["node-ttl"].output, "fine");
    assert_eq!(owned.checks["service:web2"].status, "warning");
    assert!(!owned.checks.contains_key("service:web1"));
    // Its index is rebuilt: the service's checks are found through it.
    let (exists, checks) = again.checks_of("web2", &["", "web2"]);
    assert!(exists);
    assert_eq!(checks.len(), 2);
}

#[test]
fn a_feed_gets_the_entries_each_change_touched() {
    let local = LocalState::load(None);
    let feed = local.feed();
    register(&local, 0, 2);
    let got = feed.take();
    assert_eq!(got.len(), 4);
    local.remove_service("web0").unwrap();
    let got: Vec<Entry> = feed.take().into_iter().collect();
    assert_eq!(
        got,
        [
            Entry::Service("web0".into()),
            Entry::Check("service:web0".into())
        ]
    );
    assert!(feed.take().is_empty());
}
