//! The ways Praetor checks a server's certificate beyond rustls' default
//! (the chain and the name the connection was made to), in one verifier:
//! the chain only (Consul's `verify_outgoing` without
//! `verify_server_hostname`), the chain and a fixed name (the CLI's
//! `-tls-server-name`), any certificate (`TLSSkipVerify`,
//! `CONSUL_HTTP_SSL_VERIFY=false`), or none at all with a reason (no CA to
//! verify with). Handshake signatures are always checked with the ring
//! provider's algorithms, so the session is with whoever holds the key of
//! the certificate presented.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::TlsError;

/// What a [`Verifier`] accepts.
#[derive(Debug)]
enum Decide {
    /// A chain to the CA, whatever name it carries.
    ChainOnly(Arc<WebPkiServerVerifier>),
    /// A chain to the CA naming this name, whatever name was dialled.
    FixedName(Arc<WebPkiServerVerifier>, ServerName<'static>),
    /// Anything.
    AnyCertificate,
    /// Nothing, for this reason.
    Refuse(String),
}

/// A server-certificate verifier of one of the kinds in the module doc.
#[derive(Debug)]
pub struct Verifier {
    decide: Decide,
    provider: Arc<CryptoProvider>,
}

fn webpki(
    roots: Arc<RootCertStore>,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<WebPkiServerVerifier>, TlsError> {
    WebPkiServerVerifier::builder_with_provider(roots, Arc::clone(provider))
        .build()
        .map_err(|e| TlsError::Setting(e.to_string()))
}

impl Verifier {
    /// The chain must lead to `roots`; the name is not checked.
    ///
    /// # Errors
    /// `roots` is empty.
    pub fn chain_only(roots: Arc<RootCertStore>) -> Result<Arc<Verifier>, TlsError> {
        let provider = Arc::new(crate::provider());
        Ok(Arc::new(Verifier {
            decide: Decide::ChainOnly(webpki(roots, &provider)?),
            provider,
        }))
    }

    /// The chain must lead to `roots` and name `name`, whatever host was
    /// dialled.
    ///
    /// # Errors
    /// `roots` is empty.
    pub fn fixed_name(
        roots: Arc<RootCertStore>,
        name: ServerName<'static>,
    ) -> Result<Arc<Verifier>, TlsError> {
        let provider = Arc::new(crate::provider());
        Ok(Arc::new(Verifier {
            decide: Decide::FixedName(webpki(roots, &provider)?, name),
            provider,
        }))
    }

    /// Any certificate for any name.
    #[must_use]
    pub fn any_certificate() -> Arc<Verifier> {
        Arc::new(Verifier {
            decide: Decide::AnyCertificate,
            provider: Arc::new(crate::provider()),
        })
    }

    /// No certificate, with `reason` as the handshake's error.
    #[must_use]
    pub fn refusing(reason: impl Into<String>) -> Arc<Verifier> {
        Arc::new(Verifier {
            decide: Decide::Refuse(reason.into()),
            provider: Arc::new(crate::provider()),
        })
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match &self.decide {
            Decide::ChainOnly(webpki) => match webpki.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            ) {
                Err(rustls::Error::InvalidCertificate(
                    CertificateError::NotValidForName
                    | CertificateError::NotValidForNameContext { .. },
                )) => Ok(ServerCertVerified::assertion()),
                other => other,
            },
            Decide::FixedName(webpki, name) => {
                webpki.verify_server_cert(end_entity, intermediates, name, ocsp_response, now)
            }
            Decide::AnyCertificate => Ok(ServerCertVerified::assertion()),
            Decide::Refuse(reason) => Err(rustls::Error::General(reason.clone())),
        }
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
