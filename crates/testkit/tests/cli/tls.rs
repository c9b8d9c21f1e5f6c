//! `praetor tls ca create` and `praetor tls cert create` (issue 15, item 5)
//! run as a user would, in a directory of their own: Consul's file names and
//! output, and certificates that rustls accepts for what they are meant for
//! (a mutual-TLS handshake on loopback naming `server.<dc>.<domain>`) and
//! refuses for what they are not (a client certificate posing as a server).
//! The CLI over HTTPS with these certificates is in `https`.

use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::sync::Arc;

use praetor_testkit::{secs, Cli, CliOutput};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tracing::info;

/// Runs `praetor tls ARGS` in `dir`.
#[track_caller]
pub(crate) fn tls(dir: &Path, args: &[&str]) -> CliOutput {
    Cli::new(std::iter::once("tls").chain(args.iter().copied()))
        .current_dir(dir)
        .run()
        .expect("the CLI ran to completion")
}

pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

pub(crate) fn certs(path: &Path) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_file_iter(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub(crate) fn key(path: &Path) -> PrivateKeyDer<'static> {
    PrivateKeyDer::from_pem_file(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub(crate) fn roots(ca: &Path) -> Arc<rustls::RootCertStore> {
    let mut roots = rustls::RootCertStore::empty();
    for c in certs(ca) {
        roots.add(c).expect("the CA is a trust anchor");
    }
    Arc::new(roots)
}

/// One mutual-TLS exchange on loopback: a server presenting `server`
/// (`<prefix>.pem` and `<prefix>-key.pem` in `dir`) and requiring a client
/// certificate from `ca`, a client presenting `client` and verifying the
/// server as `name` against `ca`. `Ok` once a byte went each way; otherwise
/// the client's error (or the server's, when the client saw none).
async fn handshake(
    dir: &Path,
    ca: &str,
    server: &str,
    client: &str,
    name: &str,
) -> Result<(), String> {
    let pem = |p: &str| dir.join(format!("{p}.pem"));
    let key_of = |p: &str| dir.join(format!("{p}-key.pem"));
    let client_verifier =
        rustls::server::WebPkiClientVerifier::builder_with_provider(roots(&pem(ca)), provider())
            .build()
            .map_err(|e| format!("client verifier: {e}"))?;
    let server_cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_client_cert_verifier(client_verifier)
        .with_single_cert(certs(&pem(server)), key(&key_of(server)))
        .map_err(|e| format!("server certificate {server}: {e}"))?;
    let client_cfg = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots(&pem(ca)))
        .with_client_auth_cert(certs(&pem(client)), key(&key_of(client)))
        .map_err(|e| format!("client certificate {client}: {e}"))?;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_cfg));
    let serve = async move {
        let (tcp, _) = listener.accept().await.map_err(|e| e.to_string())?;
        let mut tls = acceptor
            .accept(tcp)
            .await
            .map_err(|e| format!("server: {e}"))?;
        let mut b = [0u8; 1];
        tls.read_exact(&mut b)
            .await
            .map_err(|e| format!("server: {e}"))?;
        tls.write_all(&b)
            .await
            .map_err(|e| format!("server: {e}"))?;
        tls.shutdown().await.map_err(|e| format!("server: {e}"))
    };
    let server_name = match name.parse::<IpAddr>() {
        Ok(ip) => ServerName::IpAddress(ip.into()),
        Err(_) => ServerName::try_from(name.to_owned()).map_err(|e| e.to_string())?,
    };
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client_cfg));
    let dial = async move {
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| e.to_string())?;
        let mut tls = connector
            .connect(server_name, tcp)
            .await
            .map_err(|e| format!("client: {e}"))?;
        tls.write_all(b"x")
            .await
            .map_err(|e| format!("client: {e}"))?;
        let mut b = [0u8; 1];
        tls.read_exact(&mut b)
            .await
            .map_err(|e| format!("client: {e}"))?;
        Ok::<_, String>(())
    };
    let (served, dialled) = tokio::time::timeout(secs(10), async { tokio::join!(serve, dial) })
        .await
        .map_err(|_| "the handshake did not finish within 10 s".to_owned())?;
    dialled?;
    served
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test]
async fn three_commands_make_a_ca_server_and_client_that_complete_mutual_tls() -> anyhow::Result<()>
{
    praetor_testkit::init_tracing();
    let dir = tempfile::tempdir()?;
    let d = dir.path();

    info!("--- the CA, with Consul's file names and output");
    let out = tls(d, &["ca", "create"]);
    out.assert_success();
    assert_eq!(
        out.stdout,
        "==> Saved consul-agent-ca.pem\n==> Saved consul-agent-ca-key.pem\n"
    );
    assert_eq!(mode(&d.join("consul-agent-ca-key.pem")), 0o600);

    info!("--- a server and a client certificate");
    let out = tls(d, &["cert", "create", "-server"]);
    out.assert_success();
    assert!(
        out.stdout
            .starts_with("==> WARNING: Server Certificates grants authority"),
        "{out:?}"
    );
    assert!(
        out.stdout.ends_with(
            "==> Using consul-agent-ca.pem and consul-agent-ca-key.pem\n\
             ==> Saved dc1-server-consul-0.pem\n==> Saved dc1-server-consul-0-key.pem\n"
        ),
        "{out:?}"
    );
    let out = tls(d, &["cert", "create", "-client"]);
    out.assert_success();
    assert_eq!(
        out.stdout,
        "==> Using consul-agent-ca.pem and consul-agent-ca-key.pem\n\
         ==> Saved dc1-client-consul-0.pem\n==> Saved dc1-client-consul-0-key.pem\n"
    );
    assert_eq!(mode(&d.join("dc1-server-consul-0-key.pem")), 0o600);
    assert_eq!(mode(&d.join("dc1-client-consul-0-key.pem")), 0o600);
    let out = tls(d, &["cert", "create", "-cli"]);
    out.assert_success();
    assert!(
        d.join("dc1-cli-consul-0.pem").is_file() && d.join("dc1-cli-consul-0-key.pem").is_file()
    );

    info!("--- mutual TLS: the client verifies server.dc1.consul, the server verifies the client");
    let ca = "consul-agent-ca";
    handshake(
        d,
        ca,
        "dc1-server-consul-0",
        "dc1-client-consul-0",
        "server.dc1.consul",
    )
    .await
    .map_err(anyhow::Error::msg)?;
    // localhost and 127.0.0.1 are in every server certificate.
    for name in ["localhost", "127.0.0.1"] {
        handshake(d, ca, "dc1-server-consul-0", "dc1-client-consul-0", name)
            .await
            .map_err(anyhow::Error::msg)?;
    }
    // The CLI's certificate authenticates a client too; servers dial each other.
    handshake(
        d,
        ca,
        "dc1-server-consul-0",
        "dc1-cli-consul-0",
        "server.dc1.consul",
    )
    .await
    .map_err(anyhow::Error::msg)?;
    handshake(
        d,
        ca,
        "dc1-server-consul-0",
        "dc1-server-consul-0",
        "server.dc1.consul",
    )
    .await
    .map_err(anyhow::Error::msg)?;
    Ok(())
}

#[tokio::test]
async fn a_client_certificate_does_not_verify_as_a_server() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    tls(d, &["ca", "create"]).assert_success();
    tls(d, &["cert", "create", "-client"]).assert_success();
    tls(d, &["cert", "create", "-cli"]).assert_success();

    info!("--- a client certificate presented as the server is refused for server.dc1.consul");
    let ca = "consul-agent-ca";
    let err = handshake(
        d,
        ca,
        "dc1-client-consul-0",
        "dc1-cli-consul-0",
        "server.dc1.consul",
    )
    .await
    .expect_err("a client certificate is not a server's");
    assert!(
        err.contains("client:") && err.contains("not valid for name"),
        "{err}"
    );

    info!("--- it is valid for its own name, so the refusal is about the name");
    handshake(
        d,
        ca,
        "dc1-client-consul-0",
        "dc1-cli-consul-0",
        "client.dc1.consul",
    )
    .await
    .map_err(anyhow::Error::msg)?;
    Ok(())
}

#[tokio::test]
async fn additional_dns_names_and_ip_addresses_are_names_of_the_certificate() -> anyhow::Result<()>
{
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    tls(d, &["ca", "create"]).assert_success();
    tls(
        d,
        &[
            "cert",
            "create",
            "-server",
            "-node",
            "node1",
            "-additional-dnsname",
            "praetor.example",
            "-additional-dnsname=api.example",
            "-additional-ipaddress",
            "127.0.0.2",
            "-additional-ipaddress",
            "::1",
        ],
    )
    .assert_success();
    tls(d, &["cert", "create", "-client"]).assert_success();

    let ca = "consul-agent-ca";
    for name in [
        "praetor.example",
        "api.example",
        "node1.server.dc1.consul",
        "server.dc1.consul",
        "127.0.0.2",
        "::1",
        "127.0.0.1",
    ] {
        info!(name, "--- the server certificate verifies for this name");
        handshake(d, ca, "dc1-server-consul-0", "dc1-client-consul-0", name)
            .await
            .map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    }
    for name in ["other.example", "127.0.0.3"] {
        info!(name, "--- and not for this one");
        let err = handshake(d, ca, "dc1-server-consul-0", "dc1-client-consul-0", name)
            .await
            .expect_err(name);
        assert!(err.contains("not valid for name"), "{name}: {err}");
    }
    Ok(())
}

#[tokio::test]
async fn a_custom_datacenter_and_domain_name_the_files_and_the_server() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    let out = tls(d, &["ca", "create", "-domain", "example"]);
    out.assert_success();
    assert_eq!(
        out.stdout,
        "==> Saved example-agent-ca.pem\n==> Saved example-agent-ca-key.pem\n"
    );
    let out = tls(
        d,
        &[
            "cert", "create", "-server", "-dc", "east", "-domain", "example",
        ],
    );
    out.assert_success();
    assert!(
        out.stdout.ends_with(
            "==> Using example-agent-ca.pem and example-agent-ca-key.pem\n\
             ==> Saved east-server-example-0.pem\n==> Saved east-server-example-0-key.pem\n"
        ),
        "{out:?}"
    );
    tls(
        d,
        &[
            "cert", "create", "-client", "-dc", "east", "-domain", "example",
        ],
    )
    .assert_success();

    let ca = "example-agent-ca";
    handshake(
        d,
        ca,
        "east-server-example-0",
        "east-client-example-0",
        "server.east.example",
    )
    .await
    .map_err(anyhow::Error::msg)?;
    let err = handshake(
        d,
        ca,
        "east-server-example-0",
        "east-client-example-0",
        "server.dc1.consul",
    )
    .await
    .expect_err("another datacenter's name");
    assert!(err.contains("not valid for name"), "{err}");

    info!("--- -ca and -key name another CA explicitly");
    let other = tempfile::tempdir()?;
    tls(
        other.path(),
        &[
            "cert",
            "create",
            "-client",
            "-ca",
            &d.join("example-agent-ca.pem").display().to_string(),
            "-key",
            &d.join("example-agent-ca-key.pem").display().to_string(),
        ],
    )
    .assert_success();
    assert!(other.path().join("dc1-client-consul-0.pem").is_file());
    Ok(())
}

#[test]
fn a_second_certificate_takes_the_next_number_and_nothing_is_overwritten() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    tls(d, &["ca", "create"]).assert_success();
    let ca_before = std::fs::read(d.join("consul-agent-ca.pem"))?;
    let key_before = std::fs::read(d.join("consul-agent-ca-key.pem"))?;

    info!("--- a second CA in the same directory is refused");
    let out = tls(d, &["ca", "create"]);
    out.assert_code(1);
    assert_eq!(out.stderr, "consul-agent-ca.pem already exists.\n");
    assert_eq!(out.stdout, "");
    assert_eq!(std::fs::read(d.join("consul-agent-ca.pem"))?, ca_before);
    assert_eq!(
        std::fs::read(d.join("consul-agent-ca-key.pem"))?,
        key_before
    );

    info!("--- server certificates are numbered 0, 1, …; a stray key takes its number");
    tls(d, &["cert", "create", "-server"]).assert_success();
    let first = std::fs::read(d.join("dc1-server-consul-0.pem"))?;
    let out = tls(d, &["cert", "create", "-server"]);
    out.assert_success();
    assert!(
        out.stdout.contains("==> Saved dc1-server-consul-1.pem\n"),
        "{out:?}"
    );
    assert!(
        out.stdout
            .contains("==> Saved dc1-server-consul-1-key.pem\n"),
        "{out:?}"
    );
    assert_eq!(std::fs::read(d.join("dc1-server-consul-0.pem"))?, first);
    std::fs::write(d.join("dc1-server-consul-2-key.pem"), "mine")?;
    let out = tls(d, &["cert", "create", "-server"]);
    out.assert_success();
    assert!(
        out.stdout.contains("==> Saved dc1-server-consul-3.pem\n"),
        "{out:?}"
    );
    assert_eq!(
        std::fs::read(d.join("dc1-server-consul-2-key.pem"))?,
        b"mine"
    );
    assert!(!d.join("dc1-server-consul-2.pem").exists());
    Ok(())
}

#[test]
fn exactly_one_of_server_client_and_cli_is_required() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    tls(d, &["ca", "create"]).assert_success();
    let before: Vec<_> = std::fs::read_dir(d)?.collect();
    for args in [
        &["cert", "create"][..],
        &["cert", "create", "-server", "-client"],
        &["cert", "create", "-client", "-cli"],
        &["cert", "create", "-server", "-cli", "-client"],
    ] {
        let out = tls(d, args);
        out.assert_code(1);
        assert_eq!(
            out.stderr, "Please provide either -server, -client, or -cli\n",
            "{args:?}"
        );
        assert_eq!(out.stdout, "", "{args:?}");
    }
    let out = tls(d, &["cert", "create", "-client", "-node", "n1"]);
    out.assert_code(1);
    assert_eq!(out.stderr, "-node requires -server\n");
    assert_eq!(
        std::fs::read_dir(d)?.count(),
        before.len(),
        "no file was written"
    );
    Ok(())
}

#[test]
fn bad_input_is_one_line_and_exit_1_with_nothing_written() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let d = dir.path();

    info!("--- no CA to sign with");
    let out = tls(d, &["cert", "create", "-server"]);
    out.assert_code(1);
    assert!(
        out.stderr
            .starts_with("Error reading CA: consul-agent-ca.pem: "),
        "{out:?}"
    );
    assert_eq!(out.stderr.lines().count(), 1, "{out:?}");

    tls(d, &["ca", "create"]).assert_success();
    for (args, start) in [
        (
            &["cert", "create", "-client", "-additional-ipaddress", "nope"][..],
            "invalid -additional-ipaddress \"nope\"",
        ),
        (
            &["cert", "create", "-client", "-dc", "../up"],
            "invalid -dc \"../up\"",
        ),
        (
            &["cert", "create", "-client", "-days", "0"],
            "-days must be at least 1",
        ),
        (
            &["cert", "create", "-client", "-key", "missing.pem"],
            "Error reading CA key: missing.pem: ",
        ),
        (
            &["cert", "create", "-client", "-key", "consul-agent-ca.pem"],
            "Error reading CA key: consul-agent-ca.pem: ",
        ),
        (
            &["ca", "create", "-domain", "x/y"],
            "invalid -domain \"x/y\"",
        ),
    ] {
        let out = tls(d, args);
        out.assert_code(1);
        assert!(out.stderr.starts_with(start), "{args:?}: {out:?}");
        assert_eq!(out.stderr.lines().count(), 1, "{args:?}: {out:?}");
    }
    let names: Vec<String> = std::fs::read_dir(d)?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()?;
    assert_eq!(names.len(), 2, "only the CA's files: {names:?}");
    Ok(())
}
