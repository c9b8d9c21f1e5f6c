//! TTL checks on paused time: the status set from outside holds for the
//! TTL, then turns critical with Consul's `TTL expired`.

use std::time::Duration;

use praetor_checks::{CheckError, Definition, Kind, Runner, Status, Update};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::support::*;

fn ttl_def(id: &str, secs: u64) -> Definition {
    Definition::new(
        id,
        Kind::Ttl {
            ttl: Duration::from_secs(secs),
        },
        Duration::ZERO,
    )
}

#[tokio::test(start_paused = true)]
async fn the_status_starts_at_initial_and_expires_to_critical() {
    init_tracing();
    let (tx, mut rx) = mpsc::channel(16);
    let mut def = ttl_def("app", 30);
    def.initial = Status::Passing;
    let start = Instant::now();
    let _runner = Runner::spawn(def, tx, CancellationToken::new()).unwrap();

    tracing::info!("--- nothing changes before the TTL");
    assert_quiet(&mut rx, Duration::from_secs(29), "the TTL holds").await;

    tracing::info!("--- then critical, TTL expired");
    let u = next_update(&mut rx, Duration::from_secs(5), "expiry").await;
    assert_eq!(
        u,
        Update {
            id: "app".into(),
            status: Status::Critical,
            output: "TTL expired".into()
        }
    );
    assert!(start.elapsed() >= Duration::from_secs(30));
    assert_quiet(
        &mut rx,
        Duration::from_secs(120),
        "expired once, stays expired",
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn updates_set_the_status_and_restart_the_ttl() {
    init_tracing();
    let (tx, mut rx) = mpsc::channel(16);
    let runner = Runner::spawn(ttl_def("app", 30), tx, CancellationToken::new()).unwrap();

    tracing::info!("--- pass");
    runner
        .ttl_update(Status::Passing, "all good".into())
        .unwrap();
    let u = next_update(&mut rx, Duration::from_secs(1), "passing").await;
    assert_eq!((u.status, u.output.as_str()), (Status::Passing, "all good"));

    tracing::info!("--- warn after 20s restarts the TTL");
    tokio::time::sleep(Duration::from_secs(20)).await;
    runner.ttl_update(Status::Warning, "meh".into()).unwrap();
    let u = next_update(&mut rx, Duration::from_secs(1), "warning").await;
    assert_eq!((u.status, u.output.as_str()), (Status::Warning, "meh"));
    let warned = Instant::now();

    tracing::info!("--- 20s later (40s after the first) it still holds");
    assert_quiet(&mut rx, Duration::from_secs(20), "the restarted TTL holds").await;

    tracing::info!("--- expiry keeps the last output, as Consul");
    let u = next_update(&mut rx, Duration::from_secs(15), "expiry").await;
    assert_eq!(u.status, Status::Critical);
    assert_eq!(
        u.output,
        "TTL expired (last output before timeout follows): meh"
    );
    assert!(warned.elapsed() >= Duration::from_secs(30));

    tracing::info!("--- an update after expiry revives it");
    runner.ttl_update(Status::Passing, "back".into()).unwrap();
    let u = next_update(&mut rx, Duration::from_secs(1), "passing").await;
    assert_eq!((u.status, u.output.as_str()), (Status::Passing, "back"));
    let u = next_update(&mut rx, Duration::from_secs(31), "expiry again").await;
    assert_eq!(u.status, Status::Critical);
}

#[tokio::test(start_paused = true)]
async fn the_same_status_and_output_again_sends_no_update_but_restarts_the_ttl() {
    init_tracing();
    let (tx, mut rx) = mpsc::channel(16);
    let runner = Runner::spawn(ttl_def("app", 30), tx, CancellationToken::new()).unwrap();
    runner.ttl_update(Status::Passing, "ok".into()).unwrap();
    next_update(&mut rx, Duration::from_secs(1), "passing").await;
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_secs(20)).await;
        runner.ttl_update(Status::Passing, "ok".into()).unwrap();
    }
    assert_quiet(&mut rx, Duration::from_secs(25), "unchanged, and renewed").await;
    let u = next_update(&mut rx, Duration::from_secs(10), "expiry").await;
    assert_eq!(
        u.output,
        "TTL expired (last output before timeout follows): ok"
    );
}

#[tokio::test(start_paused = true)]
async fn a_long_ttl_output_is_capped() {
    init_tracing();
    let (tx, mut rx) = mpsc::channel(16);
    let runner = Runner::spawn(ttl_def("app", 30), tx, CancellationToken::new()).unwrap();
    runner
        .ttl_update(Status::Warning, "ü".repeat(5000))
        .unwrap();
    let u = next_update(&mut rx, Duration::from_secs(1), "warning").await;
    assert!(u.output.len() <= 4096, "{}", u.output.len());
    assert!(
        u.output.ends_with(" of 10000 bytes)"),
        "{}",
        &u.output[4000..]
    );
    let u = next_update(&mut rx, Duration::from_secs(31), "expiry").await;
    assert!(u.output.len() <= 4096 + "TTL expired (last output before timeout follows): ".len());
}

#[tokio::test(start_paused = true)]
async fn ttl_updates_go_only_to_ttl_checks_and_only_while_running() {
    init_tracing();
    let (tx, _rx) = mpsc::channel(16);
    let tcp = Runner::spawn(
        probed(
            "tcp",
            Kind::Tcp {
                addr: "127.0.0.1:9".into(),
            },
            1000,
            100,
        ),
        tx.clone(),
        CancellationToken::new(),
    )
    .unwrap();
    let err = tcp.ttl_update(Status::Passing, String::new()).unwrap_err();
    assert!(
        matches!(
            err,
            CheckError::WrongKind {
                kind: "tcp",
                expected: "ttl",
                ..
            }
        ),
        "{err}"
    );

    let stop = CancellationToken::new();
    let ttl = Runner::spawn(ttl_def("app", 30), tx, stop.clone()).unwrap();
    ttl.ttl_update(Status::Passing, String::new()).unwrap();
    stop.cancel();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match ttl.ttl_update(Status::Passing, String::new()) {
            Err(CheckError::Stopped { id }) => {
                assert_eq!(id.0, "app");
                break;
            }
            other => assert!(Instant::now() < deadline, "still accepted: {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_full_channel_never_blocks_the_runner_and_the_newest_state_wins() {
    init_tracing();
    let (tx, mut rx) = mpsc::channel(1);
    let runner = Runner::spawn(ttl_def("app", 30), tx, CancellationToken::new()).unwrap();
    for i in 0..50 {
        runner.ttl_update(Status::Passing, format!("n{i}")).unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    runner.ttl_update(Status::Warning, "last".into()).unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;

    tracing::info!("--- nobody read: the first update fills the channel, the newest waits");
    let first = next_update(&mut rx, Duration::from_secs(1), "the first").await;
    assert_eq!(first.output, "n0");
    let newest = next_update(&mut rx, Duration::from_secs(1), "the newest").await;
    assert_eq!(
        (newest.status, newest.output.as_str()),
        (Status::Warning, "last")
    );
    assert_quiet(&mut rx, Duration::from_secs(1), "nothing in between").await;

    tracing::info!("--- the TTL was restarted all along");
    let u = next_update(&mut rx, Duration::from_secs(31), "expiry").await;
    assert_eq!(u.status, Status::Critical);
}
