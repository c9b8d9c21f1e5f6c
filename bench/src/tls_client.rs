//! The tls phase's client side: the certificates a client presents and
//! trusts (read once from PEM files), and praetor's KV API through
//! hyper-util's pooled HTTP/1.1 client with hyper-rustls on ring, the same
//! client code for `http://` and `https://` so that the two modes differ in
//! TLS alone. Each [`HyperConn`] is its own client with one keep-alive
//! connection, opened by its first request and reused by every later one.
//! Never installs a process-wide rustls provider.

use std::sync::Arc;

use anyhow::{ensure, Context as _};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::target::{Read, CONNECT_TIMEOUT};

/// What a TLS client presents and trusts, as PEM (for etcd-client) and as
/// rustls configs (for praetor's client).
pub struct ClientTls {
    /// The CA certificate the server's chain must lead to.
    pub ca_pem: Vec<u8>,
    /// The client certificate and its key, presented to the server.
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
    /// Trusts the CA, presents the client certificate.
    pub with_cert: Arc<rustls::ClientConfig>,
    /// Trusts the CA, presents no certificate (to show it is refused).
    pub without_cert: Arc<rustls::ClientConfig>,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientTls")
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl ClientTls {
    /// Reads the CA certificate, the client certificate and its key.
    ///
    /// # Errors
    /// When a file cannot be read or holds no usable PEM.
    pub fn read(
        ca: &std::path::Path,
        cert: &std::path::Path,
        key: &std::path::Path,
    ) -> anyhow::Result<Self> {
        let read = |p: &std::path::Path| {
            std::fs::read(p).with_context(|| format!("reading {}", p.display()))
        };
        let (ca_pem, cert_pem, key_pem) = (read(ca)?, read(cert)?, read(key)?);
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(&ca_pem) {
            roots
                .add(c.with_context(|| format!("parsing {}", ca.display()))?)
                .with_context(|| format!("adding {} as a trusted CA", ca.display()))?;
        }
        ensure!(!roots.is_empty(), "{} holds no certificate", ca.display());
        let chain = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("parsing {}", cert.display()))?;
        ensure!(!chain.is_empty(), "{} holds no certificate", cert.display());
        let private = PrivateKeyDer::from_pem_slice(&key_pem)
            .with_context(|| format!("parsing {}", key.display()))?;
        let roots = Arc::new(roots);
        let builder = || {
            rustls::ClientConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()
                .context("TLS versions")
                .map(|b| b.with_root_certificates(roots.clone()))
        };
        let with_cert = builder()?
            .with_client_auth_cert(chain, private)
            .context("the client certificate and key")?;
        let without_cert = builder()?.with_no_client_auth();
        Ok(Self {
            ca_pem,
            cert_pem,
            key_pem,
            with_cert: Arc::new(with_cert),
            without_cert: Arc::new(without_cert),
        })
    }
}

type Http = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// One praetor client over hyper-util's pool, plain or HTTPS, with one
/// keep-alive connection.
#[derive(Clone)]
pub struct HyperConn {
    http: Http,
    base: String,
}

impl HyperConn {
    /// A client of the server at `addr`: `https://` with `tls`, else `http://`.
    ///
    /// # Errors
    /// When the TLS versions cannot be set (never with ring).
    pub fn new(addr: &str, tls: Option<Arc<rustls::ClientConfig>>) -> anyhow::Result<Self> {
        let mut tcp = HttpConnector::new();
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(Some(CONNECT_TIMEOUT));
        tcp.enforce_http(false);
        let (config, scheme) = match tls {
            Some(c) => ((*c).clone(), "https"),
            // Never used for http://, but the connector type is the same.
            None => (
                rustls::ClientConfig::builder_with_provider(provider())
                    .with_safe_default_protocol_versions()
                    .context("TLS versions")?
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth(),
                "http",
            ),
        };
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        let http = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(1)
            .build(connector);
        Ok(Self {
            http,
            base: format!("{scheme}://{addr}"),
        })
    }

    async fn send(
        &self,
        method: http::Method,
        url: String,
        body: Bytes,
    ) -> anyhow::Result<(http::StatusCode, Bytes)> {
        let req = http::Request::builder()
            .method(method)
            .uri(url)
            .body(Full::new(body))
            .context("building the request")?;
        let resp = self.http.request(req).await?;
        let status = resp.status();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }

    /// `PUT /v1/kv/<key>`; succeeds only on `200` with body `true`.
    pub async fn put(&mut self, key: &str, value: &[u8]) -> anyhow::Result<()> {
        let url = format!("{}/v1/kv/{key}", self.base);
        let (status, body) = self
            .send(http::Method::PUT, url, Bytes::copy_from_slice(value))
            .await?;
        ensure!(
            status.is_success() && body.trim_ascii() == b"true",
            "put {key}: {status} {:?}",
            String::from_utf8_lossy(&body)
        );
        Ok(())
    }

    /// `GET /v1/kv/<key>` (default consistency) or with `?stale`; succeeds on
    /// `200` with a non-empty body, read to its end.
    pub async fn get(&mut self, key: &str, read: Read) -> anyhow::Result<()> {
        let url = match read {
            Read::Default => format!("{}/v1/kv/{key}", self.base),
            Read::Local => format!("{}/v1/kv/{key}?stale", self.base),
        };
        let (status, body) = self.send(http::Method::GET, url, Bytes::new()).await?;
        ensure!(
            status.is_success() && !body.is_empty(),
            "get {key}: {status}"
        );
        Ok(())
    }
}
