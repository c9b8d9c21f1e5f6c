//! The HTTPS API: served with the agent's certificate on `ports.https`,
//! client certificates required under `verify_incoming`, plain HTTP off
//! with `ports.http = -1`, certificates replaced by a reload, and bad files
//! refused at start naming the file.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use praetor_agent::config::RuntimeConfig;
use praetor_tls::testing::Ca;
use praetor_tls::Settings;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use crate::dev_config;

const WAIT: Duration = Duration::from_secs(10);

/// A dev agent serving HTTPS only, with `https` as its `tls.https`.
fn https_only(https: Settings) -> RuntimeConfig {
    let mut cfg = dev_config();
    cfg.ports.http = None;
    cfg.ports.https = Some(0);
    cfg.ui = true;
    cfg.tls.https = https;
    cfg
}

/// A rustls client trusting `ca`, presenting `identity` when given.
fn client(
    ca: &Ca,
    identity: Option<(&std::path::Path, &std::path::Path)>,
) -> Arc<rustls::ClientConfig> {
    let settings = Settings {
        ca_file: Some(ca.file.clone()),
        cert_file: identity.map(|(c, _)| c.to_path_buf()),
        key_file: identity.map(|(_, k)| k.to_path_buf()),
        verify_outgoing: true,
        verify_server_hostname: true,
        ..Settings::default()
    };
    let material = praetor_tls::Material::load(&settings, "test").unwrap();
    praetor_tls::client_config(&settings, &material, "test").unwrap()
}

/// `GET path` over TLS; the status line and body, or the error.
async fn get(
    addr: SocketAddr,
    tls: Arc<rustls::ClientConfig>,
    path: &str,
) -> std::io::Result<String> {
    let exchange = async {
        let tcp = TcpStream::connect(addr).await?;
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let mut s = tokio_rustls::TlsConnector::from(tls)
            .connect(name, tcp)
            .await?;
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await?;
        let mut out = String::new();
        s.read_to_string(&mut out).await?;
        Ok(out)
    };
    tokio::time::timeout(WAIT, exchange)
        .await
        .map_err(|_| std::io::Error::other("timed out"))?
}

#[tokio::test]
async fn https_serves_every_endpoint_and_the_ui_with_client_certificates_required() {
    let ca = Ca::new("dc1");
    let server = ca.leaf("server", &["server.dc1.consul", "localhost"]);
    let user = ca.leaf("user", &["cli.dc1.consul"]);
    let mut https = ca.settings(&server);
    https.verify_incoming = true;
    let agent = praetor_agent::start(https_only(https), CancellationToken::new())
        .await
        .expect("agent starts");
    assert!(
        agent.http_addrs().is_empty(),
        "ports.http = -1 serves no plain HTTP"
    );
    let addr = agent.https_addrs()[0];
    let with_cert = client(&ca, Some((&user.0, &user.1)));

    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let answer = get(addr, with_cert.clone(), "/v1/status/leader")
            .await
            .unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
        if body.contains(':') {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no leader over HTTPS: {answer}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let kv = get(addr, with_cert.clone(), "/v1/kv/?recurse")
        .await
        .unwrap();
    assert!(
        kv.starts_with("HTTP/1.1 404"),
        "an empty KV over HTTPS: {kv}"
    );
    let ui = get(addr, with_cert.clone(), "/ui/").await.unwrap();
    assert!(
        ui.starts_with("HTTP/1.1 200") && ui.contains("<html"),
        "{}",
        &ui[..ui.len().min(300)]
    );

    // No client certificate: the handshake fails, nothing is answered.
    let without = get(addr, client(&ca, None), "/v1/status/leader").await;
    assert!(
        without.is_err() || without.as_ref().is_ok_and(String::is_empty),
        "{without:?}"
    );
    // A certificate of another CA: refused too.
    let evil = Ca::new("evil");
    let stranger = evil.leaf("user", &["cli.dc1.consul"]);
    assert!(get(
        addr,
        client(&ca, Some((&stranger.0, &stranger.1))),
        "/v1/status/leader"
    )
    .await
    .is_err_or_empty());
    agent.shutdown(Duration::from_secs(5), false).await;
}

trait ErrOrEmpty {
    fn is_err_or_empty(&self) -> bool;
}

impl ErrOrEmpty for std::io::Result<String> {
    fn is_err_or_empty(&self) -> bool {
        self.as_ref().map_or(true, String::is_empty)
    }
}

#[tokio::test]
async fn a_reload_serves_the_new_certificate_to_new_connections() {
    let old = Ca::new("old");
    let new = Ca::new("new");
    let mut cfg = https_only(old.settings(&old.leaf("server", &["localhost"])));
    let agent = praetor_agent::start(cfg.clone(), CancellationToken::new())
        .await
        .expect("agent starts");
    let addr = agent.https_addrs()[0];
    assert!(get(addr, client(&old, None), "/v1/agent/self")
        .await
        .unwrap()
        .starts_with("HTTP/1.1 200"));

    cfg.tls.https = new.settings(&new.leaf("server", &["localhost"]));
    agent.reload(cfg.clone()).expect("reloads");
    assert!(
        get(addr, client(&old, None), "/v1/agent/self")
            .await
            .is_err_or_empty(),
        "the old CA no longer verifies the agent"
    );
    assert!(get(addr, client(&new, None), "/v1/agent/self")
        .await
        .unwrap()
        .starts_with("HTTP/1.1 200"));

    // A reload naming a missing file is refused and changes nothing.
    let mut broken = cfg.clone();
    broken.tls.https.key_file = Some(new.dir().join("missing-key.pem"));
    let e = agent.reload(broken).unwrap_err().to_string();
    assert!(e.contains("missing-key.pem"), "{e}");
    assert!(get(addr, client(&new, None), "/v1/agent/self")
        .await
        .unwrap()
        .starts_with("HTTP/1.1 200"));
    agent.shutdown(Duration::from_secs(5), false).await;
}

#[tokio::test]
async fn bad_certificate_files_stop_the_agent_naming_the_file_and_the_problem() {
    let ca = Ca::new("dc1");
    let a = ca.leaf("a", &["localhost"]);
    let b = ca.leaf("b", &["localhost"]);
    let expired = ca.leaf_valid("expired", &["localhost"], -3, -1);
    let cases = [
        (
            ca.settings(&(a.0.clone(), b.1.clone())),
            "b-key.pem",
            "does not match",
        ),
        (ca.settings(&expired), "expired.pem", "expired"),
        (
            ca.settings(&(ca.dir().join("gone.pem"), a.1.clone())),
            "gone.pem",
            "No such file",
        ),
    ];
    for (https, file, problem) in cases {
        let e = match praetor_agent::start(https_only(https), CancellationToken::new()).await {
            Ok(_) => panic!("an agent started with a bad {file}"),
            Err(e) => format!("{e:#}"),
        };
        assert!(e.contains(file) && e.contains(problem), "{e}");
    }
}

#[tokio::test]
async fn the_reload_endpoint_says_so_when_nobody_can_load_config_files() {
    // An agent started as a library has no config files to load again.
    let a = crate::TestAgent::dev().await;
    let r = a.put_empty("/v1/agent/reload").await;
    assert_eq!(r.status(), 500);
    let body = r.text().await.unwrap();
    assert!(body.contains("cannot reload"), "{body}");
    a.shutdown().await;
}
