//! `praetor tls ca create`: a self-signed CA for agent TLS, written as
//! `<domain>-agent-ca.pem` and `<domain>-agent-ca-key.pem` (Consul's names),
//! valid for 1825 days unless `-days` says otherwise, and with
//! `-name-constraint` limited to signing for `localhost`, `-domain` and every
//! `-additional-name-constraint` (a critical X.509 name constraint, as
//! Consul's).

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;
use rcgen::string::Ia5String;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, GeneralSubtree, IsCa, KeyPair,
    KeyUsagePurpose, NameConstraints, SanType, SerialNumber,
};
use time::OffsetDateTime;

use super::files;

/// `praetor tls ca create`'s flags, as Consul's.
#[derive(Args, Debug)]
pub struct CaCreateArgs {
    /// Number of days the CA is valid for (1825, about 5 years, by default).
    #[arg(long, default_value_t = 1825, allow_negative_numbers = true)]
    pub days: i64,
    /// The DNS domain of the cluster: it names the files and, with
    /// -name-constraint, is a domain the CA may sign for.
    #[arg(long, default_value = "consul")]
    pub domain: String,
    /// Enables X.509 name constraints: the CA signs only for localhost, -domain
    /// and every -additional-name-constraint.
    #[arg(long = "name-constraint")]
    pub name_constraint: bool,
    /// Another DNS domain the CA may sign for (repeatable; only with
    /// -name-constraint). Add the UI's name here if it is served over HTTPS.
    #[arg(long = "additional-name-constraint")]
    pub additional_name_constraint: Vec<String>,
    /// Common Name of the CA (default: `Praetor Agent CA <serial number>`).
    #[arg(long = "common-name")]
    pub common_name: Option<String>,
    /// ID of the cluster: sets the CA's URI to the SPIFFE ID
    /// `spiffe://<cluster-id>.<domain>`.
    #[arg(long = "cluster-id")]
    pub cluster_id: Option<String>,
}

/// What a CA is made of.
#[derive(Debug, Clone)]
pub struct CaSpec {
    /// Days from now until it expires.
    pub days: i64,
    /// The cluster's DNS domain.
    pub domain: String,
    /// The DNS domains it may sign for; empty: no name constraints.
    pub permitted_dns: Vec<String>,
    /// Its Common Name; `None`: `Praetor Agent CA <serial>`.
    pub common_name: Option<String>,
    /// The cluster ID for its SPIFFE URI, if any.
    pub cluster_id: Option<String>,
}

/// A generated certificate and its private key, PEM-encoded.
#[derive(Debug)]
pub struct Generated {
    /// The certificate (`CERTIFICATE`).
    pub cert_pem: String,
    /// Its private key (`PRIVATE KEY`, PKCS#8).
    pub key_pem: String,
}

/// Creates the CA the flags describe in the current directory and prints
/// what it saved, as Consul's `tls ca create`.
///
/// # Errors
/// A bad flag value, either file already exists, or a file cannot be written.
pub fn run(a: CaCreateArgs) -> anyhow::Result<()> {
    super::check_dns_word("-domain", &a.domain)?;
    let permitted_dns = if a.name_constraint {
        let mut names = a.additional_name_constraint.clone();
        names.extend([a.domain.clone(), "localhost".to_owned()]);
        names
    } else {
        Vec::new()
    };
    let spec = CaSpec {
        days: a.days,
        domain: a.domain.clone(),
        permitted_dns,
        common_name: a.common_name.filter(|n| !n.is_empty()),
        cluster_id: a.cluster_id.filter(|id| !id.is_empty()),
    };
    let (cert_path, key_path) = paths(Path::new(""), &a.domain);
    files::refuse_existing(&cert_path)?;
    files::refuse_existing(&key_path)?;
    let ca = generate(&spec, OffsetDateTime::now_utc())?;
    super::save(&cert_path, &ca.cert_pem, &key_path, &ca.key_pem)
}

/// `<domain>-agent-ca.pem` and `<domain>-agent-ca-key.pem` in `dir`.
pub fn paths(dir: &Path, domain: &str) -> (PathBuf, PathBuf) {
    (
        dir.join(format!("{domain}-agent-ca.pem")),
        dir.join(format!("{domain}-agent-ca-key.pem")),
    )
}

/// A new self-signed CA with an ECDSA P-256 key, valid from `now` for
/// `spec.days` days: key usages certSign, cRLSign and digitalSignature,
/// basic constraints CA:TRUE, and `spec`'s name constraints (critical) and
/// SPIFFE URI.
///
/// # Errors
/// `days` out of range, a name constraint, common name or cluster ID that
/// is not ASCII, or a failure of the key generator.
pub fn generate(spec: &CaSpec, now: OffsetDateTime) -> anyhow::Result<Generated> {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .context("generating the CA's private key")?;
    // A random positive 127-bit serial number (Consul's is random too).
    let serial = (rand::random::<u128>() >> 1) | 1;
    let mut params = CertificateParams::default();
    params.serial_number = Some(SerialNumber::from_slice(&serial.to_be_bytes()));
    params.distinguished_name = DistinguishedName::new();
    let name = spec
        .common_name
        .clone()
        .unwrap_or_else(|| format!("Praetor Agent CA {serial}"));
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = now;
    params.not_after = super::not_after(now, spec.days)?;
    if !spec.permitted_dns.is_empty() {
        let mut permitted = Vec::new();
        for name in &spec.permitted_dns {
            Ia5String::try_from(name.as_str())
                .ok()
                .filter(|_| !name.is_empty())
                .with_context(|| format!("invalid name constraint {name:?}"))?;
            permitted.push(GeneralSubtree::DnsName(name.clone()));
        }
        params.name_constraints = Some(NameConstraints {
            permitted_subtrees: permitted,
            excluded_subtrees: Vec::new(),
        });
    }
    if let Some(id) = &spec.cluster_id {
        let uri = format!("spiffe://{id}.{}", spec.domain);
        let uri = Ia5String::try_from(uri.as_str())
            .with_context(|| format!("invalid -cluster-id {id:?}"))?;
        params.subject_alt_names.push(SanType::URI(uri));
    }
    let cert = params
        .self_signed(&key)
        .context("signing the CA certificate")?;
    Ok(Generated {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}
