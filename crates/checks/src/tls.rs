//! TLS client settings for HTTPS and gRPC-over-TLS checks: rustls with the
//! ring provider, the system's roots (or the CAs the caller trusts), or no
//! verification at all when a check asks for `TLSSkipVerify`; and the name
//! a check's `TLSServerName` puts in SNI and verifies the certificate
//! against. Never installs a process-wide default provider.

use std::sync::{Arc, OnceLock};

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, RootCertStore};

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
            .with_custom_certificate_verifier(praetor_tls::Verifier::any_certificate())
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
