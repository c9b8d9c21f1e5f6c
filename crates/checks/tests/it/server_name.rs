//! `TLSServerName` on HTTPS and gRPC-over-TLS checks: the name goes out as
//! SNI and the certificate is verified against it instead of the URL's (or
//! target's) host; with `TLSSkipVerify` it still goes out as SNI.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use praetor_checks::{CheckError, Kind, Runner, Status, Trust};
use praetor_tls::testing::Ca;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tonic::transport::Server;
use tonic_health::ServingStatus;
use tracing::info;

use crate::support::*;

/// A test CA, a certificate from it naming only `svc.internal`, and the
/// trust (that CA alone) a runner verifies servers with.
fn svc_internal_certificate() -> (Ca, (std::path::PathBuf, std::path::PathBuf), Trust) {
    let ca = Ca::new("checks");
    let leaf = ca.leaf("svc", &["svc.internal"]);
    let roots = praetor_tls::load_roots(Some(&ca.file), None)
        .unwrap()
        .expect("the CA file holds the CA");
    (ca, leaf, Trust::Roots(roots))
}

fn https(url: &str, skip: bool, name: &str) -> Kind {
    Kind::Http {
        url: url.to_owned(),
        method: String::new(),
        header: std::collections::BTreeMap::new(),
        body: None,
        tls_skip_verify: skip,
        tls_server_name: name.to_owned(),
        disable_redirects: false,
    }
}

fn grpc_tls(target: &str, skip: bool, name: &str) -> Kind {
    Kind::Grpc {
        target: target.to_owned(),
        tls: true,
        tls_skip_verify: skip,
        tls_server_name: name.to_owned(),
    }
}

/// Runs `kind` (starting from `initial`) trusting `trust` until its first
/// update, which is returned; the runner stops afterwards.
async fn first_result(kind: Kind, initial: Status, trust: &Trust) -> praetor_checks::Update {
    let tasks = TaskTracker::new();
    let (tx, mut rx) = mpsc::channel(16);
    let mut def = probed("c", kind, 50, 3000);
    def.initial = initial;
    let runner = Runner::spawn_trusting(&tasks, def, trust, tx, CancellationToken::new()).unwrap();
    let u = next_update(&mut rx, WAIT, "the first result").await;
    runner.stop();
    u
}

#[tokio::test]
async fn https_verifies_the_certificate_against_tls_server_name_and_sends_it_as_sni() {
    init_tracing();
    let (_ca, (cert, key), trust) = svc_internal_certificate();

    info!("--- TLSServerName is the certificate's name: passing, and it was the SNI");
    let server = https_server_with(&cert, &key).await;
    let url = format!("https://{}/health", server.addr);
    let u = first_result(https(&url, false, "svc.internal"), Status::Critical, &trust).await;
    assert_eq!(u.status, Status::Passing, "{}", u.output);
    assert_eq!(u.output, format!("HTTP GET {url}: 200 OK Output: secure"));
    let seen = server.seen();
    assert!(!seen.is_empty(), "no handshake completed");
    assert!(
        seen.iter().all(|n| n.as_deref() == Some("svc.internal")),
        "{seen:?}"
    );

    info!("--- another name: critical, the certificate does not name it");
    let u = first_result(
        https(&url, false, "other.internal"),
        Status::Passing,
        &trust,
    )
    .await;
    assert_eq!(u.status, Status::Critical);
    let why = u.output.to_lowercase();
    assert!(
        why.starts_with(&format!("http get {url}: ")) && why.contains("certificate"),
        "{}",
        u.output
    );

    info!("--- no TLSServerName: the URL's host (127.0.0.1), which it does not name");
    let u = first_result(https(&url, false, ""), Status::Passing, &trust).await;
    assert_eq!(u.status, Status::Critical);
    assert!(
        u.output.to_lowercase().contains("certificate"),
        "{}",
        u.output
    );

    info!("--- TLSSkipVerify: any name passes, and the name still goes out as SNI");
    let server = https_server_with(&cert, &key).await;
    let url = format!("https://{}/health", server.addr);
    let u = first_result(
        https(&url, true, "elsewhere.example"),
        Status::Critical,
        &Trust::System,
    )
    .await;
    assert_eq!(u.status, Status::Passing, "{}", u.output);
    let seen = server.seen();
    assert!(
        !seen.is_empty()
            && seen
                .iter()
                .all(|n| n.as_deref() == Some("elsewhere.example")),
        "{seen:?}"
    );
}

/// A gRPC health server over TLS with the certificate and key in these
/// files, recording the SNI of every handshake; stops with `stop`.
async fn grpc_tls_server(
    cert: &Path,
    key: &Path,
    stop: CancellationToken,
) -> (SocketAddr, Arc<Mutex<Vec<Option<String>>>>) {
    let (reporter, service) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("web", ServingStatus::Serving)
        .await;
    let acceptor = tls_acceptor(cert, key, vec![b"h2".to_vec()]);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let sni = Arc::new(Mutex::new(Vec::new()));
    let seen = sni.clone();
    let (conns, incoming) = mpsc::channel::<std::io::Result<_>>(16);
    let accepting = stop.clone();
    tokio::spawn(async move {
        loop {
            let tcp = tokio::select! {
                () = accepting.cancelled() => return,
                accepted = listener.accept() => match accepted {
                    Ok((tcp, _)) => tcp,
                    Err(_) => return,
                },
            };
            let acceptor = acceptor.clone();
            let seen = seen.clone();
            let conns = conns.clone();
            tokio::spawn(async move {
                if let Ok(Ok(tls)) =
                    tokio::time::timeout(Duration::from_secs(5), acceptor.accept(tcp)).await
                {
                    let name = tls.get_ref().1.server_name().map(str::to_owned);
                    seen.lock().unwrap().push(name);
                    let _ = conns.send(Ok(tls)).await;
                }
            });
        }
    });
    let router = Server::builder().add_service(service);
    tokio::spawn(async move {
        router
            .serve_with_incoming_shutdown(ReceiverStream::new(incoming), stop.cancelled_owned())
            .await
            .unwrap();
    });
    (addr, sni)
}

#[tokio::test]
async fn grpc_tls_verifies_against_tls_server_name_and_sends_it_as_sni() {
    init_tracing();
    let (_ca, (cert, key), trust) = svc_internal_certificate();
    let stop = CancellationToken::new();
    let (addr, sni) = grpc_tls_server(&cert, &key, stop.clone()).await;
    let target = format!("{addr}/web");

    info!("--- TLSServerName is the certificate's name: passing, and it was the SNI");
    let u = first_result(
        grpc_tls(&target, false, "svc.internal"),
        Status::Critical,
        &trust,
    )
    .await;
    assert_eq!(u.status, Status::Passing, "{}", u.output);
    assert_eq!(u.output, format!("gRPC check {target}: success"));
    let seen = sni.lock().unwrap().clone();
    assert!(
        !seen.is_empty() && seen.iter().all(|n| n.as_deref() == Some("svc.internal")),
        "{seen:?}"
    );

    info!("--- another name: critical, the certificate does not name it");
    let u = first_result(
        grpc_tls(&target, false, "other.internal"),
        Status::Passing,
        &trust,
    )
    .await;
    assert_eq!(u.status, Status::Critical);
    assert!(
        u.output.to_lowercase().contains("certificate"),
        "{}",
        u.output
    );

    info!("--- TLSSkipVerify: passing, and the name still goes out as SNI");
    sni.lock().unwrap().clear();
    let u = first_result(
        grpc_tls(&target, true, "elsewhere.example"),
        Status::Critical,
        &Trust::System,
    )
    .await;
    assert_eq!(u.status, Status::Passing, "{}", u.output);
    let seen = sni.lock().unwrap().clone();
    assert!(
        !seen.is_empty()
            && seen
                .iter()
                .all(|n| n.as_deref() == Some("elsewhere.example")),
        "{seen:?}"
    );
    stop.cancel();
}

#[tokio::test]
async fn a_tls_server_name_that_is_not_a_name_is_refused_at_spawn() {
    let (tx, _rx) = mpsc::channel(1);
    for kind in [
        https("https://127.0.0.1:1/", false, "not a name"),
        grpc_tls("127.0.0.1:1", true, "a..b"),
    ] {
        let err = Runner::spawn(
            probed("x", kind, 50, 100),
            tx.clone(),
            CancellationToken::new(),
        )
        .unwrap_err();
        assert!(matches!(err, CheckError::InvalidDefinition { .. }), "{err}");
        assert!(err.to_string().contains("TLSServerName"), "{err}");
    }
    for name in ["svc.internal", "127.0.0.1", "::1", "[::1]", "localhost"] {
        probed("ok", https("https://127.0.0.1:1/", false, name), 50, 100)
            .validate()
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}
