//! TLS client settings for HTTPS and gRPC-over-TLS checks: rustls with the
//! ring provider, the system's roots (or the CAs the caller trusts), or no
//! verification at all when a check asks for `TLSSkipVerify`; and the name
//! a check's `TLSServerName` puts in SNI and verifies the certificate
//! against. Never installs a process-wide default provider.

use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// The CAs that HTTPS and gRPC-over-TLS checks verify servers against.
#[derive(Debug, Clone, Default)]
pub enum Trust {
    /// The system's trusted roots, read once (Go's `x509.SystemCertPool`,
    /// what Consul's checks use by default).
    #[default]
    System,
    /// Only these CAs (as Consul's checks trust the agent's CA with
    /// `enable_agent_tls_for_checks`).
    Roots(Arc<RootCertStore>),
}

/// A check's `TLSServerName` as rustls takes it: `None` when empty (the
/// URL's or target's host is used then); a DNS name or an IP address,
/// IPv6 with or without brackets.
///
/// # Errors
///
/// A one-line reason when `name` is neither a DNS name nor an IP address.
pub(crate) fn server_name(name: &str) -> Result<Option<ServerName<'static>>, String> {
    if name.is_empty() {
        return Ok(None);
    }
    let bare = name
        .strip_prefix('[')
        .and_then(|n| n.strip_suffix(']'))
        .unwrap_or(name);
    ServerName::try_from(bare.to_owned())
        .map(Some)
        .map_err(|_| format!("TLSServerName {name:?} is not a DNS name or an IP address"))
}

/// A client config (no ALPN set): verifying against `trust`, or accepting
/// any certificate when `skip_verify`.
pub(crate) fn client_config(
    skip_verify: bool,
    trust: &Trust,
) -> Result<ClientConfig, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let config = if skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert { provider }))
            .with_no_client_auth()
    } else {
        let roots = match trust {
            Trust::System => system_roots(),
            Trust::Roots(roots) => roots.clone(),
        };
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    Ok(config)
}

/// The system's trusted roots, read once (as Go's `x509.SystemCertPool`).
fn system_roots() -> Arc<RootCertStore> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let found = rustls_native_certs::load_native_certs();
            for error in &found.errors {
                tracing::warn!(%error, "reading the system's TLS roots");
            }
            let mut store = RootCertStore::empty();
            let (added, ignored) = store.add_parsable_certificates(found.certs);
            tracing::debug!(added, ignored, "system TLS roots loaded for checks");
            Arc::new(store)
        })
        .clone()
}

/// `TLSSkipVerify`: any certificate for any name is accepted, but the
/// handshake signatures are still checked, so the session is with whoever
/// holds the certificate's key.
#[derive(Debug)]
struct AcceptAnyCert {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
