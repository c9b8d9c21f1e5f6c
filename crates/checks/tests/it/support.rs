//! Shared test pieces: bounded waits on a runner's updates, and the targets
//! the checks probe (an HTTP server with switchable answers, a TLS server).

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Redirect};
use axum::routing::any;
use axum::Router;
use praetor_checks::{Definition, Kind, Update};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// The longest any single wait in these tests may take.
pub const WAIT: Duration = Duration::from_secs(15);

pub fn init_tracing() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "praetor_checks=debug".into()),
            )
            .with_test_writer()
            .try_init();
    });
}

/// The next update, within `within`, or a panic saying what was awaited.
pub async fn next_update(rx: &mut mpsc::Receiver<Update>, within: Duration, what: &str) -> Update {
    match tokio::time::timeout(within, rx.recv()).await {
        Ok(Some(u)) => u,
        Ok(None) => panic!("waiting for {what}: the updates channel closed"),
        Err(_) => panic!("waiting for {what}: no update within {within:?}"),
    }
}

/// Updates until one satisfies `pred` (returned), within `within`; panics
/// with every update seen otherwise.
pub async fn wait_for(
    rx: &mut mpsc::Receiver<Update>,
    within: Duration,
    what: &str,
    pred: impl Fn(&Update) -> bool,
) -> Update {
    let deadline = tokio::time::Instant::now() + within;
    let mut seen = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(u)) if pred(&u) => return u,
            Ok(Some(u)) => seen.push(u),
            Ok(None) => panic!("waiting for {what}: channel closed; saw {seen:#?}"),
            Err(_) => panic!("waiting for {what}: not within {within:?}; saw {seen:#?}"),
        }
    }
}

/// Asserts no update arrives within `within`.
pub async fn assert_quiet(rx: &mut mpsc::Receiver<Update>, within: Duration, why: &str) {
    if let Ok(u) = tokio::time::timeout(within, rx.recv()).await {
        panic!("expected no update ({why}), got {u:?}");
    }
}

/// A probed check with a short interval and the given timeout.
pub fn probed(id: &str, kind: Kind, interval_ms: u64, timeout_ms: u64) -> Definition {
    let mut def = Definition::new(id, kind, Duration::from_millis(interval_ms));
    def.timeout = Duration::from_millis(timeout_ms);
    def
}

pub fn http_kind(url: String) -> Kind {
    Kind::Http {
        url,
        method: String::new(),
        header: BTreeMap::new(),
        body: None,
        tls_skip_verify: false,
        tls_server_name: String::new(),
        disable_redirects: false,
    }
}

/// A port on loopback with nothing listening (bound, then released).
pub async fn closed_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap()
}

/// An HTTP server on loopback. Routes: `/ok` 200, `/busy` 429, `/fail`
/// 500, `/slow` answers after a minute, `/big` a 10 000-byte body,
/// `/switch` answers with the code set by [`HttpServer::set`], `/seq`
/// with the queued codes in turn (then 200), `/echo` echoes the request,
/// `/redirect` sends 302 to `/ok`.
pub struct HttpServer {
    pub addr: SocketAddr,
    pub state: Arc<ServerState>,
}

#[derive(Default)]
pub struct ServerState {
    pub code: AtomicU16,
    pub seq: Mutex<VecDeque<u16>>,
    pub requests: AtomicUsize,
}

impl HttpServer {
    pub async fn start() -> HttpServer {
        let state = Arc::new(ServerState {
            code: AtomicU16::new(200),
            ..Default::default()
        });
        let app = Router::new()
            .route("/ok", any(|| async { "ok" }))
            .route(
                "/busy",
                any(|| async { (StatusCode::TOO_MANY_REQUESTS, "slow down") }),
            )
            .route(
                "/fail",
                any(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "bad") }),
            )
            .route(
                "/slow",
                any(|| async {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    "late"
                }),
            )
            .route("/big", any(|| async { "é".repeat(5000) }))
            .route("/redirect", any(|| async { Redirect::to("/ok") }))
            .route("/switch", any(switch))
            .route("/seq", any(seq))
            .route("/echo", any(echo))
            .with_state(state.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        HttpServer { addr, state }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn set(&self, code: u16) {
        self.state.code.store(code, Ordering::SeqCst);
    }
}

async fn switch(State(s): State<Arc<ServerState>>) -> impl IntoResponse {
    let code = s.code.load(Ordering::SeqCst);
    (StatusCode::from_u16(code).unwrap(), format!("code {code}"))
}

async fn seq(State(s): State<Arc<ServerState>>) -> impl IntoResponse {
    s.requests.fetch_add(1, Ordering::SeqCst);
    let code = s.seq.lock().unwrap().pop_front().unwrap_or(200);
    let body = if code == 200 { "good" } else { "bad" };
    (StatusCode::from_u16(code).unwrap(), body)
}

async fn echo(method: Method, headers: HeaderMap, body: String) -> String {
    let all = |name: &str| {
        headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect::<Vec<_>>()
            .join(",")
    };
    format!(
        "{method} x-test={} ua={} host={} body={body}",
        all("x-test"),
        all("user-agent"),
        all("host")
    )
}

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// The self-signed test certificate and its key, as PEM.
pub fn cert_and_key_pem() -> (String, String) {
    (
        std::fs::read_to_string(fixture("cert.pem")).unwrap(),
        std::fs::read_to_string(fixture("key.pem")).unwrap(),
    )
}

/// An HTTPS server with the self-signed certificate, answering every
/// request with `200 OK` and body `secure`.
pub async fn https_server() -> SocketAddr {
    https_server_with(&fixture("cert.pem"), &fixture("key.pem"))
        .await
        .addr
}

/// A TLS server's address and the SNI of every handshake it completed
/// (`None`: the client sent none), in order.
pub struct TlsServer {
    pub addr: SocketAddr,
    pub sni: Arc<Mutex<Vec<Option<String>>>>,
}

impl TlsServer {
    /// The SNI of the handshakes so far.
    pub fn seen(&self) -> Vec<Option<String>> {
        self.sni.lock().unwrap().clone()
    }
}

/// A rustls acceptor for the certificate and key in these PEM files,
/// offering `alpn`.
pub fn tls_acceptor(cert: &Path, key: &Path, alpn: Vec<Vec<u8>>) -> tokio_rustls::TlsAcceptor {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let certs = CertificateDer::pem_file_iter(cert)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(key).unwrap();
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    config.alpn_protocols = alpn;
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

/// An HTTPS server with the certificate and key in these PEM files,
/// answering every request with `200 OK` and body `secure`, recording the
/// SNI of every handshake.
pub async fn https_server_with(cert: impl AsRef<Path>, key: impl AsRef<Path>) -> TlsServer {
    let acceptor = tls_acceptor(cert.as_ref(), key.as_ref(), Vec::new());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let sni = Arc::new(Mutex::new(Vec::new()));
    let seen = sni.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            let seen = seen.clone();
            tokio::spawn(async move {
                let Ok(Ok(mut tls)) =
                    tokio::time::timeout(Duration::from_secs(5), acceptor.accept(tcp)).await
                else {
                    return;
                };
                let name = tls.get_ref().1.server_name().map(str::to_owned);
                seen.lock().unwrap().push(name);
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tokio::time::timeout(Duration::from_secs(5), tls.read(&mut buf)).await {
                        Ok(Ok(n)) if n > 0 => request.extend_from_slice(&buf[..n]),
                        _ => return,
                    }
                }
                let reply =
                    "HTTP/1.1 200 OK\r\ncontent-length: 6\r\nconnection: close\r\n\r\nsecure";
                let _ = tls.write_all(reply.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    TlsServer { addr, sni }
}
