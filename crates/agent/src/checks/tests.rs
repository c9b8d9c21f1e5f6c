//! The supervisor in paused time, with no server: TTL expiry and resets,
//! the refusals of TTL updates, local and unreachable remote alias checks,
//! the reaper, and shutdown waiting for every runner.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::*;
use crate::backend::{Backend, Remote};
use crate::definition::{check_from_body, decode, service_from_body};
use crate::local::LocalCheck;

struct Harness {
    local: Arc<LocalState>,
    runners: Arc<CheckRunners>,
    tasks: TaskTracker,
    stop: CancellationToken,
}

/// A supervisor and a reaper on an empty local state; a client backend
/// that knows no server.
fn start() -> Harness {
    let local = LocalState::load(None);
    let runners = Arc::new(CheckRunners::default());
    let tasks = TaskTracker::new();
    let stop = CancellationToken::new();
    let backend = Arc::new(Backend::Remote(Arc::new(Remote::default())));
    tasks.spawn(run_supervisor(
        local.clone(),
        runners.clone(),
        backend,
        Arc::new(crate::acl::AgentAcl::disabled()),
        tasks.clone(),
        stop.child_token(),
    ));
    tasks.spawn(reap::run_reaper(local.clone(), stop.child_token()));
    Harness {
        local,
        runners,
        tasks,
        stop,
    }
}

fn check(v: serde_json::Value) -> LocalCheck {
    check_from_body(decode(v).unwrap(), true).unwrap()
}

fn service(v: serde_json::Value) -> (praetor_api::catalog::ServiceDefinition, Vec<LocalCheck>) {
    service_from_body(decode(v).unwrap(), true).unwrap()
}

impl Harness {
    /// Waits, in paused time, until check `id`'s status and output satisfy
    /// `ok`, for at most `within` of (virtual) time.
    async fn wait_for(
        &self,
        id: &str,
        what: &str,
        within: Duration,
        ok: impl Fn(&str, &str) -> bool,
    ) -> (String, String) {
        let deadline = Instant::now() + within;
        loop {
            let (s, o) = self.local.check_state(id).unwrap_or_default();
            if ok(&s, &o) {
                return (s, o);
            }
            assert!(Instant::now() < deadline, "{what}: last {s} {o:?}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits until check `id` has a runner.
    async fn wait_running(&self, id: &str) {
        let deadline = Instant::now() + Duration::from_secs(1);
        while !self.runners.lock().contains_key(id) {
            assert!(Instant::now() < deadline, "no runner for {id}");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// Cancels everything and waits for every task, runners included.
    async fn shutdown(self) {
        self.stop.cancel();
        self.tasks.close();
        tokio::time::timeout(Duration::from_secs(30), self.tasks.wait())
            .await
            .expect("every check task stops on shutdown");
        assert!(self.runners.lock().is_empty());
    }
}

#[tokio::test(start_paused = true)]
async fn a_ttl_check_expires_with_consuls_output_and_each_update_restarts_its_ttl() {
    let h = start();
    h.local
        .add_check(check(
            json!({"Name": "t", "TTL": "10s", "Status": "passing"}),
        ))
        .unwrap();
    h.wait_running("t").await;
    h.runners
        .ttl_update(&h.local, "t", "passing", "all good")
        .unwrap();
    assert_eq!(
        h.local.check_state("t"),
        Some(("passing".into(), "all good".into())),
        "recorded when the call returns"
    );

    tokio::time::sleep(Duration::from_secs(8)).await;
    h.runners
        .ttl_update(&h.local, "t", "warning", "slow")
        .unwrap();
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(
        h.local.check_state("t"),
        Some(("warning".into(), "slow".into())),
        "16 s after the first update, 8 s after the second: the TTL was restarted"
    );

    let (_, output) = h
        .wait_for("t", "the TTL to expire", Duration::from_secs(3), |s, _| {
            s == "critical"
        })
        .await;
    assert_eq!(
        output,
        "TTL expired (last output before timeout follows): slow"
    );

    h.runners.ttl_update(&h.local, "t", "passing", "").unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(h.local.check_state("t").unwrap().0, "passing");
    let (_, output) = h
        .wait_for(
            "t",
            "the TTL to expire again",
            Duration::from_secs(6),
            |s, _| s == "critical",
        )
        .await;
    assert_eq!(output, "TTL expired");
    h.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_restored_ttl_check_keeps_its_status_and_gets_a_fresh_ttl() {
    // As after a restart: the check comes with the status and output it
    // was saved with.
    let h = start();
    let mut saved = check(json!({"Name": "t", "TTL": "10s"}));
    saved.status = "warning".into();
    saved.output = "slow".into();
    h.local.add_check(saved).unwrap();
    h.wait_running("t").await;
    tokio::time::sleep(Duration::from_secs(9)).await;
    assert_eq!(
        h.local.check_state("t"),
        Some(("warning".into(), "slow".into()))
    );
    let (_, output) = h
        .wait_for("t", "the TTL to expire", Duration::from_secs(2), |s, _| {
            s == "critical"
        })
        .await;
    assert_eq!(
        output,
        "TTL expired (last output before timeout follows): slow"
    );
    h.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn ttl_updates_are_refused_for_other_checks_and_unknown_statuses() {
    let h = start();
    h.local
        .add_check(check(
            json!({"Name": "tcp", "TCP": "127.0.0.1:1", "Interval": "10s"}),
        ))
        .unwrap();
    h.local
        .add_check(check(json!({"Name": "t", "TTL": "10s"})))
        .unwrap();
    for id in ["tcp", "nope"] {
        let e = h
            .runners
            .ttl_update(&h.local, id, "passing", "")
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("CheckID {id:?} does not have associated TTL")
        );
    }
    assert!(matches!(
        h.runners.ttl_update(&h.local, "t", "fine", ""),
        Err(LocalError::Invalid(_))
    ));
    assert_eq!(h.local.check_state("t").unwrap().0, "critical");
    h.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_local_alias_follows_the_aliased_services_checks_in_consuls_words() {
    let h = start();
    let (dns, checks) = service(json!({"ID": "dns1", "Name": "dns",
        "Check": {"CheckID": "dns-ttl", "TTL": "60s", "Status": "passing"}}));
    h.local.add_service(dns, checks).unwrap();
    let (front, checks) = service(json!({"ID": "front1", "Name": "front",
        "Check": {"CheckID": "front-alias", "AliasService": "dns1"}}));
    h.local.add_service(front, checks).unwrap();
    let within = Duration::from_secs(1);
    h.wait_for("front-alias", "alias passing", within, |s, o| {
        s == "passing" && o == "All checks passing."
    })
    .await;

    h.runners
        .ttl_update(&h.local, "dns-ttl", "critical", "down")
        .unwrap();
    h.wait_for("front-alias", "alias critical", within, |s, o| {
        s == "critical" && o == "Aliased check \"Service 'dns' check\" failing: down"
    })
    .await;

    h.local.remove_service("dns1").unwrap();
    h.wait_for("front-alias", "aliased service gone", within, |s, o| {
        s == "critical" && o == "Service dns1 could not be found on node "
    })
    .await;
    h.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_remote_alias_that_cannot_reach_a_server_is_critical_with_the_reason() {
    let h = start();
    h.local
        .add_check(check(
            json!({"Name": "r", "AliasNode": "n2", "AliasService": "web1"}),
        ))
        .unwrap();
    h.wait_for(
        "r",
        "the read failure reported",
        Duration::from_secs(120),
        |s, o| s == "critical" && o.starts_with("Failure checking aliased node or service: "),
    )
    .await;
    h.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_service_critical_past_deregister_critical_service_after_is_removed() {
    let h = start();
    let (gone, checks) = service(json!({"ID": "gone1", "Name": "gone",
        "Check": {"TTL": "1s", "Status": "passing", "DeregisterCriticalServiceAfter": "5s"}}));
    h.local.add_service(gone, checks).unwrap();
    let (keep, checks) = service(json!({"ID": "keep1", "Name": "keep",
        "Check": {"TTL": "1s", "Status": "passing"}}));
    h.local.add_service(keep, checks).unwrap();
    h.wait_for(
        "service:gone1",
        "the TTL to expire",
        Duration::from_secs(2),
        |s, _| s == "critical",
    )
    .await;
    let expired = Instant::now();
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(h.local.owned().services.contains_key("gone1"), "not yet");
    let deadline = expired + Duration::from_secs(7);
    while h.local.owned().services.contains_key("gone1") {
        assert!(Instant::now() < deadline, "gone1 was not reaped");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(h.local.owned().services.contains_key("keep1"));
    h.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_changed_definition_restarts_the_runner_and_a_removed_check_stops_it() {
    let h = start();
    h.local
        .add_check(check(
            json!({"Name": "t", "TTL": "10s", "Status": "passing"}),
        ))
        .unwrap();
    h.wait_running("t").await;
    h.local
        .add_check(check(
            json!({"Name": "t", "TTL": "1s", "Status": "passing"}),
        ))
        .unwrap();
    let (_, output) = h
        .wait_for(
            "t",
            "the new, shorter TTL",
            Duration::from_secs(2),
            |s, _| s == "critical",
        )
        .await;
    assert_eq!(output, "TTL expired");
    h.local.remove_check("t").unwrap();
    let deadline = Instant::now() + Duration::from_secs(1);
    while h.runners.lock().contains_key("t") {
        assert!(Instant::now() < deadline, "the runner outlived its check");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    h.shutdown().await;
}
