//! Loading and handshakes with certificates made here (rcgen), run in
//! memory between a rustls client and server.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::{ClientConnection, ServerConnection};

use super::*;
use crate::testing::Ca;

fn material(s: &Settings) -> Material {
    Material::load(s, "test").unwrap()
}

/// Runs a handshake in memory; the server's view of the client's
/// certificate chain, or the first error either side saw.
fn handshake(
    client: Arc<rustls::ClientConfig>,
    server: Arc<rustls::ServerConfig>,
    name: &str,
) -> Result<Option<Vec<rustls::pki_types::CertificateDer<'static>>>, rustls::Error> {
    let mut c = ClientConnection::new(client, ServerName::try_from(name.to_owned()).unwrap())?;
    let mut s = ServerConnection::new(server)?;
    for _ in 0..20 {
        let mut buf = Vec::new();
        while c.wants_write() {
            c.write_tls(&mut buf).unwrap();
        }
        let mut slice = buf.as_slice();
        while !slice.is_empty() {
            s.read_tls(&mut slice).unwrap();
        }
        s.process_new_packets()?;
        let mut buf = Vec::new();
        while s.wants_write() {
            s.write_tls(&mut buf).unwrap();
        }
        let mut slice = buf.as_slice();
        while !slice.is_empty() {
            c.read_tls(&mut slice).unwrap();
        }
        c.process_new_packets()?;
        if !c.is_handshaking() && !s.is_handshaking() {
            return Ok(s.peer_certificates().map(<[_]>::to_vec));
        }
    }
    panic!("the handshake did not finish in 20 rounds");
}

fn pair(
    server: &Settings,
    client: &Settings,
) -> (Arc<rustls::ServerConfig>, Arc<rustls::ClientConfig>) {
    (
        server_config(server, &material(server), "test", &[]).unwrap(),
        client_config(client, &material(client), "test").unwrap(),
    )
}

#[test]
fn mutual_tls_between_a_server_and_a_client_certificate_of_one_ca() {
    let ca = Ca::new("dc1");
    let mut server = ca.settings(&ca.leaf("server", &["server.dc1.consul", "localhost"]));
    server.verify_incoming = true;
    let mut client = ca.settings(&ca.leaf("client", &["client.dc1.consul"]));
    client.verify_outgoing = true;
    client.verify_server_hostname = true;
    let (s, c) = pair(&server, &client);
    let peer = handshake(c, s, "server.dc1.consul").unwrap().unwrap();
    assert!(names(&peer[0], "client.dc1.consul"));
    assert!(
        !names(&peer[0], &server_name("dc1", "consul.")),
        "a client certificate does not name a server"
    );
}

#[test]
fn verify_server_hostname_refuses_a_client_certificate_posing_as_a_server() {
    let ca = Ca::new("dc1");
    let impostor = ca.settings(&ca.leaf("client", &["client.dc1.consul", "localhost"]));
    let mut client = ca.settings(&ca.leaf("client2", &["client.dc1.consul"]));
    client.verify_outgoing = true;
    client.verify_server_hostname = true;
    let (s, c) = pair(&impostor, &client);
    let e = handshake(c, s, &server_name("dc1", "consul")).unwrap_err();
    assert!(e.to_string().contains("not valid for name"), "{e}");

    // Without verify_server_hostname only the chain is checked.
    client.verify_server_hostname = false;
    let (s, c) = pair(&impostor, &client);
    assert!(handshake(c, s, &server_name("dc1", "consul")).is_ok());
}

#[test]
fn a_certificate_of_another_ca_is_refused_both_ways() {
    let ca = Ca::new("dc1");
    let other = Ca::new("evil");
    let mut server = ca.settings(&ca.leaf("server", &["server.dc1.consul"]));
    server.verify_incoming = true;
    let mut stranger = other.settings(&other.leaf("server", &["server.dc1.consul"]));
    stranger.verify_outgoing = true;
    let (s, c) = pair(&server, &stranger);
    let e = handshake(c, s, "server.dc1.consul").unwrap_err();
    assert!(e.to_string().contains("UnknownIssuer"), "{e}");

    // The stranger as server: the client refuses its certificate.
    let mut client = ca.settings(&ca.leaf("client", &["client.dc1.consul"]));
    client.verify_outgoing = true;
    let (s, c) = pair(&stranger, &client);
    let e = handshake(c, s, "server.dc1.consul").unwrap_err();
    assert!(e.to_string().contains("UnknownIssuer"), "{e}");
}

#[test]
fn verify_incoming_requires_a_client_certificate_and_without_it_one_is_optional() {
    let ca = Ca::new("dc1");
    let mut server = ca.settings(&ca.leaf("server", &["server.dc1.consul"]));
    server.verify_incoming = true;
    let anonymous = Settings {
        ca_file: Some(ca.file.clone()),
        verify_outgoing: true,
        ..Settings::default()
    };
    let (s, c) = pair(&server, &anonymous);
    let e = handshake(c, s, "server.dc1.consul").unwrap_err();
    assert!(e.to_string().contains("no certificates"), "{e}");

    server.verify_incoming = false;
    let (s, c) = pair(&server, &anonymous);
    assert_eq!(handshake(c, s, "server.dc1.consul").unwrap(), None);
}

#[test]
fn tls_min_version_13_refuses_a_tls_12_only_client() {
    let ca = Ca::new("dc1");
    let mut server = ca.settings(&ca.leaf("server", &["server.dc1.consul"]));
    server.min_version = MinVersion::Tls13;
    let mut client = ca.settings(&ca.leaf("client", &["client.dc1.consul"]));
    client.verify_outgoing = true;
    client.cipher_suites = vec!["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256".into()];
    let s = server_config(&server, &material(&server), "test", &[]).unwrap();
    // A client speaking TLS 1.2 only.
    let provider = Arc::new(provider());
    let roots = material(&client).roots.unwrap();
    let c = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    assert!(handshake(Arc::new(c), s.clone(), "server.dc1.consul").is_err());
    // Our own client config with suites set still speaks 1.3.
    let c = client_config(&client, &material(&client), "test").unwrap();
    assert!(handshake(c, s, "server.dc1.consul").is_ok());
}

fn load_error(s: &Settings) -> String {
    Material::load(s, "https").unwrap_err().to_string()
}

fn shows(err: &str, path: &Path, what: &str) {
    assert!(
        err.contains(&path.display().to_string()) && err.contains(what),
        "{err:?} should name {} and say {what:?}",
        path.display()
    );
}

#[test]
fn bad_files_are_refused_naming_the_file_and_the_problem() {
    let ca = Ca::new("dc1");
    let a = ca.leaf("a", &["a"]);
    let b = ca.leaf("b", &["b"]);

    // Missing.
    let mut s = ca.settings(&a);
    s.cert_file = Some(ca.dir().join("nope.pem"));
    shows(&load_error(&s), &ca.dir().join("nope.pem"), "No such file");

    // The key of another certificate.
    let s = ca.settings(&(a.0.clone(), b.1.clone()));
    shows(&load_error(&s), &b.1, "does not match the certificate");

    // A key where the certificate should be, and the reverse.
    let s = ca.settings(&(a.1.clone(), a.1.clone()));
    shows(&load_error(&s), &a.1, "no PEM certificate");
    let s = ca.settings(&(a.0.clone(), a.0.clone()));
    shows(&load_error(&s), &a.0, "no PEM private key");

    // Expired and not yet valid.
    let old = ca.leaf_valid("old", &["old"], -3, -2);
    shows(&load_error(&ca.settings(&old)), &old.0, "expired");
    let young = ca.leaf_valid("young", &["young"], 50, 60);
    shows(
        &load_error(&ca.settings(&young)),
        &young.0,
        "not valid before",
    );

    // A CA file that is not PEM.
    let junk = ca.dir().join("junk.pem");
    std::fs::write(&junk, "hello").unwrap();
    let mut s = ca.settings(&a);
    s.ca_file = Some(junk.clone());
    shows(&load_error(&s), &junk, "no PEM certificate");

    // The good pair loads.
    assert!(Material::load(&ca.settings(&a), "https").is_ok());
}

#[test]
fn ca_path_reads_every_file_in_the_directory() {
    let ca = Ca::new("one");
    let other = Ca::new("two");
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(&ca.file, dir.path().join("1.pem")).unwrap();
    std::fs::copy(&other.file, dir.path().join("2.crt")).unwrap();
    let roots = load_roots(None, Some(dir.path())).unwrap().unwrap();
    assert_eq!(roots.len(), 2);
    let empty = tempfile::tempdir().unwrap();
    assert!(load_roots(None, Some(empty.path()))
        .unwrap_err()
        .to_string()
        .contains("no PEM certificate"));
}

#[test]
fn a_reloadable_value_is_replaced_for_later_readers_only() {
    let r = Reloadable::new(Arc::new(1));
    let before = r.get();
    r.set(Arc::new(2));
    assert_eq!((*before, *r.get()), (1, 2));
}
