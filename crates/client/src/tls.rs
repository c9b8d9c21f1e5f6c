//! The rustls client config (ring provider) an HTTPS client uses, from
//! [`TlsOptions`] as Consul's `api.SetupTLSConfig` builds Go's: the CA file
//! (or directory, or the system's roots), a client certificate and key when
//! both are given, a server name to verify instead of the address's host,
//! and no verification at all when asked. Files are read through
//! praetor-tls, whose errors name the file. Never installs a process-wide
//! crypto provider and never logs key material.
//!
//! reqwest here has its `rustls-no-provider` backend (no aws-lc), which
//! panics when a client is built without a config handed in and without a
//! process-wide provider: every reqwest client in a process that links this
//! crate takes [`client_config`] through `tls_backend_preconfigured`, or the
//! process installs ring first (the `praetor` binary's `main` does).

use std::sync::Arc;

use praetor_tls::{rustls, Verifier};
use rustls::client::danger::ServerCertVerifier;
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::ServerName;
use rustls::sign::SingleCertAndKey;
use rustls::RootCertStore;

use crate::{ClientError, TlsOptions};

/// The client config for `opts`.
///
/// # Errors
/// Only one of the client certificate and key given; a CA, certificate or
/// key file that cannot be read or used (named in the message).
pub fn client_config(opts: &TlsOptions) -> Result<rustls::ClientConfig, ClientError> {
    let provider = Arc::new(praetor_tls::provider());
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Tls(e.to_string()))?;
    let verifier: Arc<dyn ServerCertVerifier> = if opts.insecure_skip_verify {
        Verifier::any_certificate()
    } else {
        let roots = roots(opts)?;
        if roots.is_empty() {
            // No CA file and no system CAs: plain HTTP still works, and an
            // HTTPS agent is refused with the reason.
            Verifier::refusing(
                "no CA certificate to verify the agent with: give -ca-file or -ca-path \
                 (CONSUL_CACERT, CONSUL_CAPATH), or install the system's CA certificates",
            )
        } else {
            match &opts.server_name {
                Some(name) => Verifier::fixed_name(roots, server_name(name)?)
                    .map_err(|e| ClientError::Tls(e.to_string()))?,
                None => WebPkiServerVerifier::builder_with_provider(roots, Arc::clone(&provider))
                    .build()
                    .map_err(|e| ClientError::Tls(e.to_string()))?,
            }
        }
    };
    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match (&opts.cert_file, &opts.key_file) {
        (Some(cert), Some(key)) => {
            let identity = praetor_tls::load_identity(cert, key)
                .map_err(|e| ClientError::Tls(e.to_string()))?;
            builder.with_client_cert_resolver(Arc::new(SingleCertAndKey::from(Arc::new(identity))))
        }
        (None, None) => builder.with_no_client_auth(),
        _ => {
            return Err(ClientError::Tls(
                "both client cert and client key must be provided".to_owned(),
            ))
        }
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The CA certificates to trust: the CA file, else the CA directory, else
/// the system's (as Go's rootcerts picks them).
fn roots(opts: &TlsOptions) -> Result<Arc<RootCertStore>, ClientError> {
    let from_files = match (&opts.ca_file, &opts.ca_path) {
        (Some(file), _) => praetor_tls::load_roots(Some(file), None),
        (None, Some(dir)) => praetor_tls::load_roots(None, Some(dir)),
        (None, None) => Ok(None),
    }
    .map_err(|e| ClientError::Tls(e.to_string()))?;
    if let Some(roots) = from_files {
        return Ok(roots);
    }
    let mut store = RootCertStore::empty();
    // Unreadable system certificates are skipped: the handshake then says
    // which issuer it did not know.
    let found = rustls_native_certs::load_native_certs();
    store.add_parsable_certificates(found.certs);
    Ok(Arc::new(store))
}

/// `name` (a DNS name or an IP address, a `:port` dropped as Consul does)
/// as rustls takes it.
fn server_name(name: &str) -> Result<ServerName<'static>, ClientError> {
    let host = match name.strip_prefix('[').and_then(|rest| rest.split_once(']')) {
        // `[v6]` or `[v6]:port`.
        Some((v6, _)) => v6,
        None => match name.rsplit_once(':') {
            // `host:port`, but not a bare IPv6 address.
            Some((host, port)) if !host.contains(':') && port.parse::<u16>().is_ok() => host,
            _ => name,
        },
    };
    ServerName::try_from(host.to_owned())
        .map_err(|_| ClientError::Tls(format!("{name:?} is not a valid TLS server name")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_name_drops_its_port_as_consul_does() {
        assert_eq!(
            server_name("server.dc1.consul:8501").expect("name"),
            ServerName::try_from("server.dc1.consul").expect("dns")
        );
        assert_eq!(
            server_name("127.0.0.1").expect("ip"),
            ServerName::try_from("127.0.0.1").expect("ip")
        );
        assert_eq!(
            server_name("[::1]:8501").expect("v6"),
            ServerName::try_from("::1").expect("v6")
        );
        assert_eq!(
            server_name("::1").expect("v6"),
            ServerName::try_from("::1").expect("v6")
        );
        assert!(server_name("not a name").is_err());
    }

    #[test]
    fn clients_build_without_a_process_wide_crypto_provider() {
        // reqwest's rustls-no-provider backend panics when a client is built
        // without a config handed in and without a process default.
        assert!(rustls::crypto::CryptoProvider::get_default().is_none());
        for address in ["127.0.0.1:8500", "https://127.0.0.1:8501"] {
            let config = crate::Config {
                address: address.to_owned(),
                ..crate::Config::default()
            };
            crate::Client::with_config(&config).expect(address);
        }
        let insecure = TlsOptions {
            insecure_skip_verify: true,
            ..TlsOptions::default()
        };
        client_config(&insecure).expect("insecure");
    }

    #[test]
    fn a_certificate_without_its_key_is_refused_as_consul_refuses_it() {
        let opts = TlsOptions {
            cert_file: Some("cli.pem".into()),
            ..TlsOptions::default()
        };
        let err = client_config(&opts).expect_err("refused");
        assert_eq!(
            err.to_string(),
            "setting up TLS: both client cert and client key must be provided"
        );
    }

    #[test]
    fn a_missing_ca_file_is_named() {
        let opts = TlsOptions {
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..TlsOptions::default()
        };
        let err = client_config(&opts).expect_err("refused").to_string();
        assert!(err.contains("/nonexistent/ca.pem"), "{err}");
    }
}
