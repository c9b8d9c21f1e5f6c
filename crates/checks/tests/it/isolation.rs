//! Each check is its own task: a hung target or a hanging script never
//! delays another check's updates.

use std::time::Duration;

use praetor_checks::{CheckError, Definition, Kind, Runner, Status};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::support::*;

#[tokio::test]
async fn slow_checks_do_not_delay_another_runners_updates() {
    init_tracing();
    let server = HttpServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("hang.sh");
    std::fs::write(&script, "sleep 1000\n").unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();

    let (tx, mut rx) = mpsc::channel(64);
    let stop = CancellationToken::new();
    tracing::info!("--- a hung HTTP target and a hanging script, both with long timeouts");
    let mut slow_http = probed("slow-http", http_kind(server.url("/slow")), 10, 20_000);
    slow_http.initial = Status::Passing;
    let mut slow_script = probed(
        "slow-script",
        Kind::Script {
            args: vec!["/bin/sh".into(), script.to_string_lossy().into_owned()],
        },
        10,
        20_000,
    );
    slow_script.initial = Status::Passing;
    let _a = Runner::spawn(slow_http, tx.clone(), stop.clone()).unwrap();
    let _b = Runner::spawn(slow_script, tx.clone(), stop.clone()).unwrap();
    // Let both slow probes start before the fast check does.
    tokio::time::sleep(Duration::from_millis(100)).await;

    tracing::info!("--- a TCP check beside them reports at its own pace");
    let _c = Runner::spawn(
        probed("tcp", Kind::Tcp { addr }, 20, 1000),
        tx,
        stop.clone(),
    )
    .unwrap();
    let u = next_update(&mut rx, Duration::from_secs(5), "the TCP check").await;
    assert_eq!((u.id.0.as_str(), u.status), ("tcp", Status::Passing));
    drop(listener);
    let u = next_update(
        &mut rx,
        Duration::from_secs(5),
        "the TCP check going critical",
    )
    .await;
    assert_eq!((u.id.0.as_str(), u.status), ("tcp", Status::Critical));

    tracing::info!("--- stopping the parent token stops them all");
    stop.cancel();
    let closed = tokio::time::timeout(WAIT, async { while rx.recv().await.is_some() {} }).await;
    assert!(closed.is_ok(), "every runner let go of the channel");
}

#[tokio::test]
async fn runners_end_when_nobody_reads_updates() {
    init_tracing();
    let (tx, rx) = mpsc::channel(1);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let runner = Runner::spawn(
        probed("tcp", Kind::Tcp { addr }, 10, 1000),
        tx,
        CancellationToken::new(),
    )
    .unwrap();
    drop(rx);
    tokio::time::timeout(WAIT, runner.shutdown())
        .await
        .expect("the runner ended");
}

#[tokio::test]
async fn invalid_definitions_start_nothing() {
    let (tx, _rx) = mpsc::channel(1);
    let mut def = Definition::new(
        "x",
        Kind::Tcp {
            addr: "127.0.0.1:1".into(),
        },
        Duration::from_secs(1),
    );
    def.failures_before_critical = 1;
    def.failures_before_warning = 2;
    let err = Runner::spawn(def, tx.clone(), CancellationToken::new()).unwrap_err();
    assert!(matches!(err, CheckError::InvalidDefinition { .. }), "{err}");
    let err = Runner::spawn(
        Definition::new("x", Kind::Script { args: vec![] }, Duration::from_secs(1)),
        tx,
        CancellationToken::new(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("program"), "{err}");
}
