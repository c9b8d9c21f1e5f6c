//! A throwaway CA for tests (feature `testing`): certificates for any
//! names, valid, expired or not yet valid, written as PEM files into a
//! temporary directory that lives as long as the CA.

// Test support: a failure to make a certificate is a broken test set-up.
#![allow(clippy::missing_panics_doc, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
};

use crate::Settings;

/// A CA and the files it signs, in a temporary directory.
pub struct Ca {
    dir: tempfile::TempDir,
    params: CertificateParams,
    key: KeyPair,
    /// The CA certificate's PEM file.
    pub file: PathBuf,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let dir = tempfile::tempdir().unwrap();
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).unwrap();
        let file = dir.path().join(format!("{name}-ca.pem"));
        std::fs::write(&file, cert.pem()).unwrap();
        Ca {
            dir,
            params,
            key,
            file,
        }
    }

    /// A leaf for `names`, valid from `from` to `until` (years from now,
    /// negative in the past); returns (cert file, key file).
    pub fn leaf_valid(
        &self,
        file: &str,
        names: &[&str],
        from: i64,
        until: i64,
    ) -> (PathBuf, PathBuf) {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>())
                .unwrap();
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now + time::Duration::days(365 * from);
        params.not_after = now + time::Duration::days(365 * until);
        let issuer = Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(&key, &issuer).unwrap();
        let cert_file = self.dir.path().join(format!("{file}.pem"));
        let key_file = self.dir.path().join(format!("{file}-key.pem"));
        std::fs::write(&cert_file, cert.pem()).unwrap();
        std::fs::write(&key_file, key.serialize_pem()).unwrap();
        (cert_file, key_file)
    }

    pub fn leaf(&self, file: &str, names: &[&str]) -> (PathBuf, PathBuf) {
        self.leaf_valid(file, names, -1, 10)
    }

    pub fn settings(&self, (cert, key): &(PathBuf, PathBuf)) -> Settings {
        Settings {
            ca_file: Some(self.file.clone()),
            cert_file: Some(cert.clone()),
            key_file: Some(key.clone()),
            ..Settings::default()
        }
    }
}

impl Ca {
    /// The directory the files are written to.
    #[must_use]
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}
