//! TCP checks: a connect is passing, a refused or hung one critical.

use std::time::Duration;

use praetor_checks::{Kind, Runner, Status};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::support::*;

#[tokio::test]
async fn a_listening_port_is_passing_and_a_closed_one_critical() {
    init_tracing();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (tx, mut rx) = mpsc::channel(16);
    let _runner = Runner::spawn(
        probed("db", Kind::Tcp { addr: addr.clone() }, 50, 2000),
        tx,
        CancellationToken::new(),
    )
    .unwrap();

    tracing::info!("--- listening: passing");
    let u = next_update(&mut rx, WAIT, "passing").await;
    assert_eq!(u.status, Status::Passing);
    assert_eq!(u.output, format!("TCP connect {addr}: Success"));

    tracing::info!("--- closed: critical with the error");
    drop(listener);
    let u = next_update(&mut rx, WAIT, "critical").await;
    assert_eq!(u.status, Status::Critical);
    assert!(
        u.output.starts_with(&format!("dial tcp {addr}: ")),
        "{}",
        u.output
    );
    assert!(
        u.output.to_lowercase().contains("connection refused"),
        "{}",
        u.output
    );
}

#[tokio::test]
async fn a_connect_that_hangs_times_out_critical() {
    init_tracing();
    // A listener that never accepts, with a backlog of 0: once its queue is
    // full, further SYNs are dropped and a connect hangs.
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(0).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        match tokio::time::timeout(Duration::from_millis(300), TcpStream::connect(addr)).await {
            Ok(Ok(s)) => fillers.push(s),
            _ => break,
        }
    }
    let probe = tokio::time::timeout(Duration::from_millis(300), TcpStream::connect(addr)).await;
    if probe.is_ok() {
        // This kernel accepts more than the backlog says, so the timeout
        // cannot be provoked: a failure, unless a skip is explicitly fine.
        assert!(
            std::env::var("PRAETOR_TEST_ALLOW_SKIP").as_deref() == Ok("1"),
            "connects to a full backlog do not hang on this kernel, so the \
             connect timeout is untested; set PRAETOR_TEST_ALLOW_SKIP=1 to skip it"
        );
        eprintln!(
            "SKIPPED (PRAETOR_TEST_ALLOW_SKIP=1): connects to a full backlog do not hang here"
        );
        return;
    }
    let (tx, mut rx) = mpsc::channel(16);
    let mut def = probed(
        "hung",
        Kind::Tcp {
            addr: addr.to_string(),
        },
        50,
        300,
    );
    def.initial = Status::Passing;
    let _runner = Runner::spawn(def, tx, CancellationToken::new()).unwrap();
    let u = next_update(&mut rx, WAIT, "the timeout").await;
    assert_eq!(u.status, Status::Critical);
    assert_eq!(u.output, format!("dial tcp {addr}: i/o timeout"));
    drop(fillers);
}
