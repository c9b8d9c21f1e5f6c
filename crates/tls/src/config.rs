//! rustls configs built from an interface's [`Settings`] and [`Material`]:
//! the server side of a listener (client certificates required, checked
//! when offered, or not asked for) and the client side of a peer connection
//! (the peer's chain verified against the CA, its name too when
//! `verify_server_hostname`), and the check that a peer's certificate names
//! a server of this datacenter. Builds configs; never opens a connection.

use std::sync::Arc;

use rustls::client::danger::ServerCertVerifier;
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::sign::SingleCertAndKey;
use rustls::{ClientConfig, ServerConfig, SupportedProtocolVersion};

use crate::settings::{suite, MinVersion};
use crate::{Material, Settings, TlsError};

/// The ring provider, limited to `settings`' TLS 1.2 suites when it names
/// any (TLS 1.3 suites are always offered).
fn provider_for(settings: &Settings) -> Result<Arc<CryptoProvider>, TlsError> {
    let mut provider = crate::provider();
    if !settings.cipher_suites.is_empty() {
        let mut suites: Vec<_> = provider
            .cipher_suites
            .iter()
            .copied()
            .filter(|s| s.tls13().is_some())
            .collect();
        for name in &settings.cipher_suites {
            suites.push(suite(name).map_err(TlsError::Setting)?);
        }
        provider.cipher_suites = suites;
    }
    Ok(Arc::new(provider))
}

fn versions(min: MinVersion) -> &'static [&'static SupportedProtocolVersion] {
    static BOTH: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13, &rustls::version::TLS12];
    static TLS13: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13];
    match min {
        MinVersion::Tls12 => BOTH,
        MinVersion::Tls13 => TLS13,
    }
}

fn setting(interface: &str, reason: &str) -> TlsError {
    TlsError::Setting(format!("tls.{interface}: {reason}"))
}

/// The server side of a listener: this agent's certificate; a client
/// certificate is required (`verify_incoming`) or, when a CA is configured,
/// checked if offered; `alpn` protocols offered in order.
///
/// # Errors
/// No certificate configured, or rustls refusing the settings.
pub fn server_config(
    settings: &Settings,
    material: &Material,
    interface: &str,
    alpn: &[&[u8]],
) -> Result<Arc<ServerConfig>, TlsError> {
    let identity = material
        .identity
        .clone()
        .ok_or_else(|| setting(interface, "cert_file and key_file are needed to serve TLS"))?;
    let provider = provider_for(settings)?;
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(versions(settings.min_version))
        .map_err(|e| setting(interface, &e.to_string()))?;
    let builder = match &material.roots {
        Some(roots) => {
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::clone(roots), provider);
            let verifier = if settings.verify_incoming {
                verifier
            } else {
                verifier.allow_unauthenticated()
            };
            let verifier = verifier
                .build()
                .map_err(|e| setting(interface, &e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None if settings.verify_incoming => {
            return Err(setting(
                interface,
                "verify_incoming is set but no ca_file or ca_path is given",
            ))
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_cert_resolver(Arc::new(SingleCertAndKey::from(identity)));
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

/// The client side of a connection to a peer: its chain verified against
/// the CA, its name as well when `verify_server_hostname` (the name is the
/// one given to the connect, `server.<dc>.<domain>` for servers); this
/// agent's certificate presented when it has one.
///
/// # Errors
/// No CA configured, or rustls refusing the settings.
pub fn client_config(
    settings: &Settings,
    material: &Material,
    interface: &str,
) -> Result<Arc<ClientConfig>, TlsError> {
    let roots = material.roots.clone().ok_or_else(|| {
        setting(
            interface,
            "verify_outgoing is set but no ca_file or ca_path is given",
        )
    })?;
    let provider = provider_for(settings)?;
    let verifier: Arc<dyn ServerCertVerifier> = if settings.verify_server_hostname {
        WebPkiServerVerifier::builder_with_provider(roots, Arc::clone(&provider))
            .build()
            .map_err(|e| setting(interface, &e.to_string()))?
    } else {
        crate::Verifier::chain_only(roots)?
    };
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions(settings.min_version))
        .map_err(|e| setting(interface, &e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match &material.identity {
        Some(identity) => builder
            .with_client_cert_resolver(Arc::new(SingleCertAndKey::from(Arc::clone(identity)))),
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// The name a server's certificate carries: `server.<datacenter>.<domain>`
/// (`domain` with or without its final dot).
#[must_use]
pub fn server_name(datacenter: &str, domain: &str) -> String {
    format!("server.{datacenter}.{}", domain.trim_end_matches('.'))
}

/// Whether `cert` (a peer's end-entity certificate, already verified
/// against the CA by the handshake) names `name` among its DNS names.
#[must_use]
pub fn names(cert: &CertificateDer<'_>, name: &str) -> bool {
    let Ok(subject) = ServerName::try_from(name) else {
        return false;
    };
    webpki::EndEntityCert::try_from(cert)
        .and_then(|ee| ee.verify_is_valid_for_subject_name(&subject))
        .is_ok()
}
