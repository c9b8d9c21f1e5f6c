//! UDP checks, as Consul's: silence until the timeout is passing, a port
//! unreachable critical.

use praetor_checks::{Kind, Runner, Status};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::support::*;

#[tokio::test]
async fn a_listening_socket_is_passing_after_the_timeout() {
    init_tracing();
    let target = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = target.local_addr().unwrap().to_string();
    let (tx, mut rx) = mpsc::channel(16);
    let _runner = Runner::spawn(
        probed("dns", Kind::Udp { addr: addr.clone() }, 50, 300),
        tx,
        CancellationToken::new(),
    )
    .unwrap();
    let mut buf = [0u8; 64];
    let got = tokio::time::timeout(WAIT, target.recv_from(&mut buf)).await;
    assert!(
        matches!(got, Ok(Ok(_))),
        "the check sends a datagram: {got:?}"
    );
    let u = next_update(&mut rx, WAIT, "passing").await;
    assert_eq!(u.status, Status::Passing);
    assert_eq!(u.output, format!("UDP connect {addr}: Success"));
}

#[tokio::test]
async fn an_answer_is_passing_too() {
    init_tracing();
    let target = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = target.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let mut buf = [0u8; 64];
        while let Ok((_, from)) = target.recv_from(&mut buf).await {
            let _ = target.send_to(b"pong", from).await;
        }
    });
    let (tx, mut rx) = mpsc::channel(16);
    // A long timeout: only the answer can make this pass quickly.
    let _runner = Runner::spawn(
        probed("echo", Kind::Udp { addr: addr.clone() }, 50, 30_000),
        tx,
        CancellationToken::new(),
    )
    .unwrap();
    let u = next_update(&mut rx, WAIT, "passing").await;
    assert_eq!(u.status, Status::Passing);
}

#[tokio::test]
async fn a_closed_port_is_critical() {
    init_tracing();
    let closed = {
        let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        s.local_addr().unwrap()
    };
    let (tx, mut rx) = mpsc::channel(16);
    let mut def = probed(
        "gone",
        Kind::Udp {
            addr: closed.to_string(),
        },
        50,
        2000,
    );
    def.initial = Status::Passing;
    let _runner = Runner::spawn(def, tx, CancellationToken::new()).unwrap();
    let u = next_update(&mut rx, WAIT, "critical").await;
    assert_eq!(u.status, Status::Critical);
    assert!(u.output.starts_with("read udp "), "{}", u.output);
    assert!(
        u.output.to_lowercase().contains("connection refused"),
        "{}",
        u.output
    );
}
