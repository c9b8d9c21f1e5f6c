//! gRPC checks against tonic-health servers, plain and over TLS.

use std::net::SocketAddr;

use praetor_checks::{Kind, Runner, Status};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;
use tonic::transport::{Identity, Server, ServerTlsConfig};
use tonic_health::server::HealthReporter;
use tonic_health::ServingStatus;

use crate::support::*;

/// A gRPC health server on loopback; stops when `stop` is cancelled.
async fn health_server(tls: bool, stop: CancellationToken) -> (SocketAddr, HealthReporter) {
    let (reporter, service) = tonic_health::server::health_reporter();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut builder = Server::builder();
    if tls {
        let (cert, key) = cert_and_key_pem();
        builder = builder
            .tls_config(ServerTlsConfig::new().identity(Identity::from_pem(cert, key)))
            .unwrap();
    }
    let router = builder.add_service(service);
    tokio::spawn(async move {
        router
            .serve_with_incoming_shutdown(TcpListenerStream::new(listener), stop.cancelled_owned())
            .await
            .unwrap();
    });
    (addr, reporter)
}

fn grpc(target: String, tls: bool, skip: bool) -> Kind {
    Kind::Grpc {
        target,
        tls,
        tls_skip_verify: skip,
        tls_server_name: String::new(),
    }
}

#[tokio::test]
async fn serving_is_passing_and_anything_else_critical() {
    init_tracing();
    let server_stop = CancellationToken::new();
    let (addr, reporter) = health_server(false, server_stop.clone()).await;
    reporter
        .set_service_status("web", ServingStatus::Serving)
        .await;
    let target = format!("{addr}/web");
    let (tx, mut rx) = mpsc::channel(16);
    let _runner = Runner::spawn(
        probed("g", grpc(target.clone(), false, false), 50, 3000),
        tx,
        CancellationToken::new(),
    )
    .unwrap();

    tracing::info!("--- SERVING: passing");
    let u = next_update(&mut rx, WAIT, "passing").await;
    assert_eq!(u.status, Status::Passing);
    assert_eq!(u.output, format!("gRPC check {target}: success"));

    tracing::info!("--- NOT_SERVING: critical");
    reporter
        .set_service_status("web", ServingStatus::NotServing)
        .await;
    let u = next_update(&mut rx, WAIT, "critical").await;
    assert_eq!(u.status, Status::Critical);
    assert_eq!(
        u.output,
        format!("gRPC {target} serving status: NOT_SERVING")
    );

    tracing::info!("--- serving again, then the server goes away: critical");
    reporter
        .set_service_status("web", ServingStatus::Serving)
        .await;
    wait_for(&mut rx, WAIT, "passing", |u| u.status == Status::Passing).await;
    server_stop.cancel();
    let u = wait_for(&mut rx, WAIT, "critical", |u| u.status == Status::Critical).await;
    assert!(u.output.starts_with("rpc error: code = "), "{}", u.output);
}

#[tokio::test]
async fn an_unknown_service_is_critical_and_no_service_asks_for_the_server() {
    init_tracing();
    let stop = CancellationToken::new();
    let (addr, _reporter) = health_server(false, stop.clone()).await;
    let (tx, mut rx) = mpsc::channel(16);
    let mut def = probed("g", grpc(format!("{addr}/nope"), false, false), 50, 3000);
    def.initial = Status::Passing;
    let _unknown = Runner::spawn(def, tx, CancellationToken::new()).unwrap();
    let u = next_update(&mut rx, WAIT, "critical").await;
    assert_eq!(u.status, Status::Critical);
    assert!(
        u.output.starts_with("rpc error: code = NotFound"),
        "{}",
        u.output
    );

    // tonic-health reports the server itself ("") as serving.
    let (tx, mut rx) = mpsc::channel(16);
    let _whole = Runner::spawn(
        probed("g2", grpc(addr.to_string(), false, false), 50, 3000),
        tx,
        CancellationToken::new(),
    )
    .unwrap();
    let u = next_update(&mut rx, WAIT, "passing").await;
    assert_eq!(u.status, Status::Passing);
    stop.cancel();
}

#[tokio::test]
async fn tls_passes_with_skip_verify_and_fails_verification_without() {
    init_tracing();
    let stop = CancellationToken::new();
    let (addr, reporter) = health_server(true, stop.clone()).await;
    reporter
        .set_service_status("web", ServingStatus::Serving)
        .await;
    let target = format!("{addr}/web");

    let (tx, mut rx) = mpsc::channel(16);
    let _skip = Runner::spawn(
        probed("skip", grpc(target.clone(), true, true), 50, 3000),
        tx,
        CancellationToken::new(),
    )
    .unwrap();
    let u = next_update(&mut rx, WAIT, "passing over TLS").await;
    assert_eq!(u.status, Status::Passing, "{}", u.output);

    let (tx, mut rx) = mpsc::channel(16);
    let mut def = probed("verify", grpc(target.clone(), true, false), 50, 3000);
    def.initial = Status::Passing;
    let _verify = Runner::spawn(def, tx, CancellationToken::new()).unwrap();
    let u = next_update(&mut rx, WAIT, "a certificate error").await;
    assert_eq!(u.status, Status::Critical);
    assert!(
        u.output.to_lowercase().contains("certificate"),
        "{}",
        u.output
    );

    tracing::info!("--- plain text against a TLS server fails");
    let (tx, mut rx) = mpsc::channel(16);
    let mut def = probed("plain", grpc(target, false, false), 50, 1000);
    def.initial = Status::Passing;
    let _plain = Runner::spawn(def, tx, CancellationToken::new()).unwrap();
    let u = next_update(&mut rx, WAIT, "critical").await;
    assert_eq!(u.status, Status::Critical);
    stop.cancel();
}

#[tokio::test]
async fn a_bad_target_is_refused_at_spawn() {
    let (tx, _rx) = mpsc::channel(1);
    let err = Runner::spawn(
        probed("g", grpc("no-port/svc".into(), false, false), 50, 100),
        tx,
        CancellationToken::new(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("host:port"), "{err}");
}
