//! TLS for Praetor, configured as Consul's: the `tls { defaults, https,
//! internal_rpc, grpc }` settings and the older top-level keys
//! ([`settings`]), the PEM files they name loaded and checked ([`load`]),
//! and the rustls configs the HTTPS listener and server RPC use
//! ([`config`]), held in a [`Reloadable`] so that a reload (SIGHUP) swaps
//! them for connections made afterwards.
//!
//! rustls with the ring provider only: no OpenSSL, no aws-lc, and no
//! process-wide default provider is installed. This crate never opens a
//! socket; the agent and the server crate wrap their streams with the
//! configs it builds.

mod config;
mod load;
mod settings;
mod verify;

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

pub use config::{client_config, names, server_config, server_name};
pub use load::{load_identity, load_roots, Material};
pub use rustls;
pub use settings::{parse_cipher_suites, Layer, MinVersion, Settings, TlsConfig};
pub use verify::Verifier;

/// Why TLS could not be set up; every file problem names the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: no PEM certificate in it", path.display())]
    NoCertificate { path: PathBuf },
    #[error("{}: not a usable certificate: {reason}", path.display())]
    BadCertificate { path: PathBuf, reason: String },
    #[error("{}: not a usable private key: {reason}", path.display())]
    BadKey { path: PathBuf, reason: String },
    #[error("{}: the private key does not match the certificate in {}", key.display(), cert.display())]
    KeyMismatch { cert: PathBuf, key: PathBuf },
    #[error("{}: the certificate expired on {at}", path.display())]
    Expired { path: PathBuf, at: String },
    #[error("{}: the certificate is not valid before {from}", path.display())]
    NotYetValid { path: PathBuf, from: String },
    /// Settings that cannot work (named by key).
    #[error("{0}")]
    Setting(String),
}

/// rustls' ring provider, as every config here uses it.
#[must_use]
pub fn provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// A value that a reload replaces whole; readers take the current one
/// (a cheap `Arc` clone) for each new connection, so connections made
/// after a reload use the new value and open ones keep theirs.
#[derive(Debug)]
pub struct Reloadable<T>(RwLock<Arc<T>>);

impl<T> Reloadable<T> {
    #[must_use]
    pub fn new(value: Arc<T>) -> Self {
        Reloadable(RwLock::new(value))
    }

    /// The current value.
    #[must_use]
    pub fn get(&self) -> Arc<T> {
        // A poisoned lock still holds a whole `Arc`: a writer cannot leave
        // it half-replaced.
        Arc::clone(
            &self
                .0
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// Replaces the value for everyone who reads it from now on.
    pub fn set(&self, value: Arc<T>) {
        *self
            .0
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = value;
    }
}

#[cfg(feature = "testing")]
pub mod testing;
#[cfg(test)]
mod tests;
