//! Consul's TLS settings: one [`Layer`] per place they can be written
//! (`tls.defaults`, `tls.https`, `tls.internal_rpc`, `tls.grpc`, and the
//! older top-level keys), resolved into one [`Settings`] per interface. Only
//! parses and merges names and values; never reads a file.

use std::path::PathBuf;

use rustls::crypto::ring::cipher_suite as ring_suites;
use rustls::SupportedCipherSuite;

use crate::TlsError;

/// The oldest TLS version an interface accepts (`tls_min_version`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MinVersion {
    /// `TLSv1_2` (Consul's default).
    #[default]
    Tls12,
    /// `TLSv1_3`.
    Tls13,
}

impl MinVersion {
    /// Reads Consul's spellings: `TLSv1_2`, `TLSv1_3` and the older
    /// `tls12`, `tls13`. TLS 1.0 and 1.1 are refused: rustls does not speak
    /// them (and Consul deprecated them).
    ///
    /// # Errors
    /// A one-line reason naming the accepted values.
    pub fn parse(value: &str) -> Result<MinVersion, String> {
        match value {
            "TLSv1_2" | "tls12" => Ok(MinVersion::Tls12),
            "TLSv1_3" | "tls13" => Ok(MinVersion::Tls13),
            "TLSv1_0" | "TLSv1_1" | "tls10" | "tls11" => Err(format!(
                "{value} is not supported: Praetor speaks TLS 1.2 and 1.3 only (TLSv1_2 or TLSv1_3)"
            )),
            other => Err(format!(
                "{other:?} is not a TLS version (expected TLSv1_2 or TLSv1_3)"
            )),
        }
    }

    /// Consul's spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            MinVersion::Tls12 => "TLSv1_2",
            MinVersion::Tls13 => "TLSv1_3",
        }
    }
}

/// The TLS 1.2 cipher suites Praetor offers, by Consul's (Go's) names.
/// TLS 1.3 suites are not configurable, as in Consul.
const SUITES: &[(&str, SupportedCipherSuite)] = &[
    (
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        ring_suites::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        ring_suites::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
        ring_suites::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        ring_suites::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        ring_suites::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        ring_suites::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
        ring_suites::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        ring_suites::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
];

/// Reads `tls_cipher_suites`: a comma-separated list of Consul's suite
/// names (spaces around commas allowed).
///
/// # Errors
/// A one-line reason naming the first unknown or unsupported suite.
pub fn parse_cipher_suites(value: &str) -> Result<Vec<String>, String> {
    let names: Vec<String> = value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if names.is_empty() {
        return Err("an empty list of cipher suites".to_owned());
    }
    for name in &names {
        suite(name)?;
    }
    Ok(names)
}

/// The rustls suite for one of Consul's names.
pub(crate) fn suite(name: &str) -> Result<SupportedCipherSuite, String> {
    SUITES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, s)| *s)
        .ok_or_else(|| {
            if name.contains("_CBC_") || name.contains("RC4") || name.contains("3DES") {
                format!(
                    "cipher suite {name} is not supported: Praetor offers only AEAD suites \
                     (AES-GCM and ChaCha20-Poly1305 with ECDHE)"
                )
            } else {
                format!("{name:?} is not a known TLS cipher suite")
            }
        })
}

/// One place's TLS settings, each `None` when that place does not set it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Layer {
    pub ca_file: Option<PathBuf>,
    pub ca_path: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub verify_incoming: Option<bool>,
    pub verify_outgoing: Option<bool>,
    pub verify_server_hostname: Option<bool>,
    pub tls_min_version: Option<MinVersion>,
    pub tls_cipher_suites: Option<Vec<String>>,
}

impl Layer {
    /// Takes every setting `later` sets (a later config source wins).
    pub fn update(&mut self, later: Layer) {
        fn take<T>(slot: &mut Option<T>, value: Option<T>) {
            if value.is_some() {
                *slot = value;
            }
        }
        let Layer {
            ca_file,
            ca_path,
            cert_file,
            key_file,
            verify_incoming,
            verify_outgoing,
            verify_server_hostname,
            tls_min_version,
            tls_cipher_suites,
        } = later;
        take(&mut self.ca_file, ca_file);
        take(&mut self.ca_path, ca_path);
        take(&mut self.cert_file, cert_file);
        take(&mut self.key_file, key_file);
        take(&mut self.verify_incoming, verify_incoming);
        take(&mut self.verify_outgoing, verify_outgoing);
        take(&mut self.verify_server_hostname, verify_server_hostname);
        take(&mut self.tls_min_version, tls_min_version);
        take(&mut self.tls_cipher_suites, tls_cipher_suites);
    }

    /// This interface's settings: its own where set, else `defaults`',
    /// else Consul's defaults (nothing verified, TLS 1.2 and up).
    #[must_use]
    pub fn resolve(&self, defaults: &Layer) -> Settings {
        fn pick<T: Clone>(own: &Option<T>, fallback: &Option<T>) -> Option<T> {
            own.clone().or_else(|| fallback.clone())
        }
        Settings {
            ca_file: pick(&self.ca_file, &defaults.ca_file),
            ca_path: pick(&self.ca_path, &defaults.ca_path),
            cert_file: pick(&self.cert_file, &defaults.cert_file),
            key_file: pick(&self.key_file, &defaults.key_file),
            verify_incoming: pick(&self.verify_incoming, &defaults.verify_incoming)
                .unwrap_or(false),
            verify_outgoing: pick(&self.verify_outgoing, &defaults.verify_outgoing)
                .unwrap_or(false),
            verify_server_hostname: pick(
                &self.verify_server_hostname,
                &defaults.verify_server_hostname,
            )
            .unwrap_or(false),
            min_version: pick(&self.tls_min_version, &defaults.tls_min_version).unwrap_or_default(),
            cipher_suites: pick(&self.tls_cipher_suites, &defaults.tls_cipher_suites)
                .unwrap_or_default(),
        }
    }
}

/// One interface's TLS settings, resolved.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settings {
    /// PEM file of the CA certificates peers' certificates must chain to.
    pub ca_file: Option<PathBuf>,
    /// A directory of PEM CA certificates (every file in it).
    pub ca_path: Option<PathBuf>,
    /// This agent's certificate (PEM, leaf first, then intermediates).
    pub cert_file: Option<PathBuf>,
    /// The certificate's private key (PEM).
    pub key_file: Option<PathBuf>,
    /// Incoming connections must present a certificate signed by the CA
    /// (and plain-text connections are refused).
    pub verify_incoming: bool,
    /// Outgoing connections use TLS and verify the peer's certificate
    /// against the CA.
    pub verify_outgoing: bool,
    /// Outgoing connections to servers check the certificate names
    /// `server.<datacenter>.<domain>`; incoming server-only calls need such
    /// a certificate (internal RPC only).
    pub verify_server_hostname: bool,
    pub min_version: MinVersion,
    /// TLS 1.2 suites by Consul's names; empty is rustls' defaults.
    pub cipher_suites: Vec<String>,
}

impl Settings {
    /// Whether this interface has anything to do with TLS at all.
    #[must_use]
    pub fn is_configured(&self) -> bool {
        self.ca_file.is_some()
            || self.ca_path.is_some()
            || self.cert_file.is_some()
            || self.key_file.is_some()
            || self.verify_incoming
            || self.verify_outgoing
    }

    /// Checks that the settings make sense together, before any file is
    /// read.
    ///
    /// # Errors
    /// [`TlsError::Setting`] naming the keys involved.
    pub fn check(&self, interface: &str) -> Result<(), TlsError> {
        let setting = |reason: String| Err(TlsError::Setting(format!("tls.{interface}: {reason}")));
        match (&self.cert_file, &self.key_file) {
            (Some(_), None) => return setting("cert_file is set but key_file is not".into()),
            (None, Some(_)) => return setting("key_file is set but cert_file is not".into()),
            _ => {}
        }
        let has_ca = self.ca_file.is_some() || self.ca_path.is_some();
        if self.verify_incoming && !has_ca {
            return setting(
                "verify_incoming is set but no ca_file or ca_path is given to verify against"
                    .into(),
            );
        }
        if self.verify_incoming && self.cert_file.is_none() {
            return setting(
                "verify_incoming is set but no cert_file and key_file are given to serve TLS with"
                    .into(),
            );
        }
        if self.verify_outgoing && !has_ca {
            return setting(
                "verify_outgoing is set but no ca_file or ca_path is given to verify against"
                    .into(),
            );
        }
        if self.min_version == MinVersion::Tls13 && !self.cipher_suites.is_empty() {
            return setting(
                "tls_cipher_suites cannot be set with tls_min_version = \"TLSv1_3\" \
                 (TLS 1.3 suites are not configurable)"
                    .into(),
            );
        }
        Ok(())
    }
}

/// Every interface's settings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TlsConfig {
    /// The HTTPS API (`tls.https`).
    pub https: Settings,
    /// Server RPC on port 8300 (`tls.internal_rpc`).
    pub internal_rpc: Settings,
    /// gRPC (`tls.grpc`); Praetor has no gRPC port, the files are checked.
    pub grpc: Settings,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interface_takes_its_own_settings_over_the_defaults() {
        let defaults = Layer {
            ca_file: Some("ca.pem".into()),
            verify_incoming: Some(true),
            verify_outgoing: Some(true),
            ..Layer::default()
        };
        let https = Layer {
            verify_incoming: Some(false),
            cert_file: Some("web.pem".into()),
            ..Layer::default()
        };
        let s = https.resolve(&defaults);
        assert_eq!(s.ca_file, Some("ca.pem".into()));
        assert_eq!(s.cert_file, Some("web.pem".into()));
        assert!(
            !s.verify_incoming,
            "the interface's false wins over the default's true"
        );
        assert!(s.verify_outgoing);
        assert_eq!(s.min_version, MinVersion::Tls12);
    }

    #[test]
    fn a_later_layer_overrides_only_what_it_sets() {
        let mut l = Layer {
            ca_file: Some("a".into()),
            verify_incoming: Some(true),
            ..Layer::default()
        };
        l.update(Layer {
            ca_file: Some("b".into()),
            ..Layer::default()
        });
        assert_eq!(l.ca_file, Some("b".into()));
        assert_eq!(l.verify_incoming, Some(true));
    }

    #[test]
    fn versions_and_suites_take_consuls_names_and_refuse_what_rustls_lacks() {
        assert_eq!(MinVersion::parse("TLSv1_3"), Ok(MinVersion::Tls13));
        assert_eq!(MinVersion::parse("tls12"), Ok(MinVersion::Tls12));
        assert!(MinVersion::parse("TLSv1_0")
            .unwrap_err()
            .contains("not supported"));
        assert!(MinVersion::parse("ssl3")
            .unwrap_err()
            .contains("not a TLS version"));
        assert_eq!(
            parse_cipher_suites(
                "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305"
            )
            .unwrap()
            .len(),
            2
        );
        let cbc = parse_cipher_suites("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA").unwrap_err();
        assert!(cbc.contains("only AEAD"), "{cbc}");
        assert!(parse_cipher_suites("NOPE")
            .unwrap_err()
            .contains("not a known"));
        assert!(parse_cipher_suites(" , ").is_err());
    }

    #[test]
    fn settings_that_cannot_work_together_are_refused_naming_the_keys() {
        let mut s = Settings {
            cert_file: Some("c.pem".into()),
            ..Settings::default()
        };
        assert!(s
            .check("https")
            .unwrap_err()
            .to_string()
            .contains("key_file is not"));
        s.key_file = Some("k.pem".into());
        s.verify_incoming = true;
        let e = s.check("internal_rpc").unwrap_err().to_string();
        assert!(
            e.contains("tls.internal_rpc") && e.contains("ca_file"),
            "{e}"
        );
        s.ca_file = Some("ca.pem".into());
        assert!(s.check("https").is_ok());
        s.min_version = MinVersion::Tls13;
        s.cipher_suites = vec!["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".into()];
        assert!(s.check("https").is_err());
    }
}
