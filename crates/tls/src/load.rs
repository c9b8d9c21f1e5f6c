//! Reading an interface's PEM files into what rustls needs, and refusing
//! them with the file's name and the problem: missing or unreadable, no
//! certificate in it, a key that is not the certificate's, a certificate
//! that has expired or is not valid yet. Reads files; keeps nothing open.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use rustls::RootCertStore;

use crate::{provider, Settings, TlsError};

/// An interface's certificates and key, loaded and checked.
#[derive(Clone)]
pub struct Material {
    /// The CA certificates from `ca_file` and `ca_path` (`None`: neither set).
    pub roots: Option<Arc<RootCertStore>>,
    /// This agent's certificate chain and key (`None`: `cert_file` not set).
    pub identity: Option<Arc<CertifiedKey>>,
}

impl std::fmt::Debug for Material {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Material")
            .field("roots", &self.roots.as_ref().map(|r| r.len()))
            .field("identity", &self.identity.is_some())
            .finish()
    }
}

impl Material {
    /// Loads the files `settings` name, checked as described in the module
    /// doc (and `Settings::check`).
    ///
    /// # Errors
    /// The first problem, naming the file.
    pub fn load(settings: &Settings, interface: &str) -> Result<Material, TlsError> {
        settings.check(interface)?;
        let roots = load_roots(settings.ca_file.as_deref(), settings.ca_path.as_deref())?;
        let identity = match (&settings.cert_file, &settings.key_file) {
            (Some(cert), Some(key)) => Some(Arc::new(load_identity(cert, key)?)),
            _ => None,
        };
        Ok(Material { roots, identity })
    }
}

/// The CA certificates of `ca_file` and of every file in `ca_path`.
///
/// # Errors
/// A file that cannot be read, holds no certificate, or holds one that is
/// not a usable CA certificate.
pub fn load_roots(
    ca_file: Option<&Path>,
    ca_path: Option<&Path>,
) -> Result<Option<Arc<RootCertStore>>, TlsError> {
    if ca_file.is_none() && ca_path.is_none() {
        return Ok(None);
    }
    let mut files: Vec<PathBuf> = ca_file.map(Path::to_path_buf).into_iter().collect();
    if let Some(dir) = ca_path {
        let entries = std::fs::read_dir(dir).map_err(|source| TlsError::Read {
            path: dir.to_path_buf(),
            source,
        })?;
        let mut found = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| TlsError::Read {
                path: dir.to_path_buf(),
                source,
            })?;
            if entry.path().is_file() {
                found.push(entry.path());
            }
        }
        if found.is_empty() {
            return Err(TlsError::NoCertificate {
                path: dir.to_path_buf(),
            });
        }
        found.sort();
        files.extend(found);
    }
    let mut store = RootCertStore::empty();
    for file in files {
        for cert in read_certs(&file)? {
            check_validity(&file, &cert)?;
            store.add(cert).map_err(|e| TlsError::BadCertificate {
                path: file.clone(),
                reason: format!("not usable as a CA certificate: {e}"),
            })?;
        }
    }
    Ok(Some(Arc::new(store)))
}

/// The certificate chain of `cert_file` with the key of `key_file`,
/// checked to belong together and to be valid now.
///
/// # Errors
/// As described in the module doc.
pub fn load_identity(cert_file: &Path, key_file: &Path) -> Result<CertifiedKey, TlsError> {
    let chain = read_certs(cert_file)?;
    check_validity(cert_file, &chain[0])?;
    let bytes = read(key_file)?;
    let key = PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| TlsError::BadKey {
        path: key_file.to_path_buf(),
        reason: match e {
            rustls::pki_types::pem::Error::NoItemsFound => "no PEM private key in it".to_owned(),
            other => other.to_string(),
        },
    })?;
    let private = provider()
        .key_provider
        .load_private_key(key)
        .map_err(|e| TlsError::BadKey {
            path: key_file.to_path_buf(),
            reason: e.to_string(),
        })?;
    let certified = CertifiedKey::new(chain, private);
    match certified.keys_match() {
        Ok(()) => Ok(certified),
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => Ok(certified),
        Err(_) => Err(TlsError::KeyMismatch {
            cert: cert_file.to_path_buf(),
            key: key_file.to_path_buf(),
        }),
    }
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Every PEM certificate in `path`; at least one.
fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read(path)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::BadCertificate {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

/// Refuses a certificate that does not parse, has expired, or is not
/// valid yet.
fn check_validity(path: &Path, cert: &CertificateDer<'_>) -> Result<(), TlsError> {
    let (_, parsed) =
        x509_parser::parse_x509_certificate(cert).map_err(|e| TlsError::BadCertificate {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let validity = parsed.validity();
    if now > validity.not_after.timestamp() {
        return Err(TlsError::Expired {
            path: path.to_path_buf(),
            at: validity.not_after.to_string(),
        });
    }
    if now < validity.not_before.timestamp() {
        return Err(TlsError::NotYetValid {
            path: path.to_path_buf(),
            from: validity.not_before.to_string(),
        });
    }
    Ok(())
}
