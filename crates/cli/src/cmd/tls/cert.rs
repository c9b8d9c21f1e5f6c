//! `praetor tls cert create -server|-client|-cli`: a certificate signed by
//! the CA, as Consul's. Files `<dc>-<kind>-<domain>-<n>.pem` and
//! `<dc>-<kind>-<domain>-<n>-key.pem` with `n` the first number free for
//! both; names:
//! - server: `server.<dc>.<domain>`, `localhost`, `127.0.0.1` (and
//!   `<node>.server.<dc>.<domain>` with `-node`), usages serverAuth and
//!   clientAuth (servers dial each other);
//! - client: `client.<dc>.<domain>`, `localhost`, `127.0.0.1`, usages
//!   clientAuth and serverAuth;
//! - cli: `cli.<dc>.<domain>`, `localhost`, no extended usage;
//!
//! plus every `-additional-dnsname` and `-additional-ipaddress`. The
//! certificate is verified against the CA for its name before anything is
//! written, as Consul's `tlsutil.Verify` does.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;
use rcgen::string::Ia5String;
use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::pki_types::CertificateDer;
use time::OffsetDateTime;

use super::{files, key};
use crate::cmd::Failed;
use crate::output;

/// `praetor tls cert create`'s flags, as Consul's.
#[derive(Args, Debug)]
pub struct CertCreateArgs {
    /// The CA certificate (`#DOMAIN#` is replaced by -domain).
    #[arg(long, default_value = "#DOMAIN#-agent-ca.pem")]
    pub ca: String,
    /// The CA's private key (`#DOMAIN#` is replaced by -domain).
    #[arg(long, default_value = "#DOMAIN#-agent-ca-key.pem")]
    pub key: String,
    /// Generate a server certificate.
    #[arg(long)]
    pub server: bool,
    /// Generate a client certificate.
    #[arg(long)]
    pub client: bool,
    /// Generate a CLI certificate.
    #[arg(long)]
    pub cli: bool,
    /// With -server: also name `<node>.server.<datacenter>.<domain>`.
    #[arg(long)]
    pub node: Option<String>,
    /// Number of days the certificate is valid for (365 by default).
    #[arg(long, default_value_t = 365, allow_negative_numbers = true)]
    pub days: i64,
    /// The datacenter.
    #[arg(long, default_value = "dc1")]
    pub dc: String,
    /// The cluster's DNS domain.
    #[arg(long, default_value = "consul")]
    pub domain: String,
    /// Another DNS name for the certificate (repeatable); localhost is always
    /// included.
    #[arg(long = "additional-dnsname")]
    pub additional_dnsname: Vec<String>,
    /// Another IP address for the certificate (repeatable); 127.0.0.1 is
    /// always included for servers and clients.
    #[arg(long = "additional-ipaddress")]
    pub additional_ipaddress: Vec<String>,
}

/// Who a certificate is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A server agent: it serves RPC and HTTPS and dials other servers.
    Server,
    /// A client agent.
    Client,
    /// The CLI (or any HTTPS client of the agents).
    Cli,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Kind::Server => "server",
            Kind::Client => "client",
            Kind::Cli => "cli",
        }
    }
}

/// What a certificate is made of.
#[derive(Debug, Clone)]
pub struct CertSpec {
    /// Who it is for.
    pub kind: Kind,
    /// The datacenter.
    pub dc: String,
    /// The cluster's DNS domain.
    pub domain: String,
    /// For a server: its node name, for `<node>.server.<dc>.<domain>`.
    pub node: Option<String>,
    /// Days from now until it expires.
    pub days: i64,
    /// Extra DNS names.
    pub dns_names: Vec<String>,
    /// Extra IP addresses.
    pub ip_addresses: Vec<IpAddr>,
}

impl CertSpec {
    /// Its Common Name and main DNS name: `<kind>.<dc>.<domain>`.
    pub fn name(&self) -> String {
        format!("{}.{}.{}", self.kind.word(), self.dc, self.domain)
    }

    /// Its file names' prefix: `<dc>-<kind>-<domain>`.
    pub fn prefix(&self) -> String {
        format!("{}-{}-{}", self.dc, self.kind.word(), self.domain)
    }

    /// Its DNS names and IP addresses, in Consul's order (the extra ones
    /// first), without repeats.
    pub fn subject_alt_names(&self) -> (Vec<String>, Vec<IpAddr>) {
        let mut dns = self.dns_names.clone();
        if let (Kind::Server, Some(node)) = (self.kind, &self.node) {
            dns.push(format!("{node}.{}", self.name()));
        }
        dns.extend([self.name(), "localhost".to_owned()]);
        let mut ips = self.ip_addresses.clone();
        if self.kind != Kind::Cli {
            ips.push(IpAddr::from([127, 0, 0, 1]));
        }
        let mut seen = std::collections::HashSet::new();
        dns.retain(|d| seen.insert(d.clone()));
        let mut seen = std::collections::HashSet::new();
        ips.retain(|ip| seen.insert(*ip));
        (dns, ips)
    }
}

/// Creates the certificate the flags describe in the current directory,
/// signed by the CA they name, and prints what it did, as Consul's
/// `tls cert create`.
///
/// # Errors
/// Not exactly one of -server, -client, -cli; -node without -server; a bad
/// flag value; the CA or its key cannot be read or do not belong together;
/// the certificate does not verify; a file cannot be written.
pub fn run(a: CertCreateArgs) -> anyhow::Result<()> {
    if a.ca.is_empty() {
        return Err(Failed("Please provide the ca".to_owned()).into());
    }
    if a.key.is_empty() {
        return Err(Failed("Please provide the key".to_owned()).into());
    }
    let kind = match (a.server, a.client, a.cli) {
        (true, false, false) => Kind::Server,
        (false, true, false) => Kind::Client,
        (false, false, true) => Kind::Cli,
        _ => {
            return Err(Failed("Please provide either -server, -client, or -cli".to_owned()).into())
        }
    };
    let node = a.node.filter(|n| !n.is_empty());
    if node.is_some() && kind != Kind::Server {
        return Err(Failed("-node requires -server".to_owned()).into());
    }
    super::check_dns_word("-dc", &a.dc)?;
    super::check_dns_word("-domain", &a.domain)?;
    if let Some(node) = &node {
        super::check_dns_word("-node", node)?;
    }
    let spec = CertSpec {
        kind,
        dc: a.dc.clone(),
        domain: a.domain.clone(),
        node,
        days: a.days,
        dns_names: dns_names(&a.additional_dnsname)?,
        ip_addresses: ip_addresses(&a.additional_ipaddress)?,
    };

    let (cert_path, key_path) = files::next_free(Path::new(""), &spec.prefix())?;
    let ca_path = PathBuf::from(a.ca.replacen("#DOMAIN#", &a.domain, 1));
    let ca_key_path = PathBuf::from(a.key.replacen("#DOMAIN#", &a.domain, 1));
    let ca_pem = std::fs::read(&ca_path)
        .with_context(|| format!("Error reading CA: {}", ca_path.display()))?;
    let ca_key_pem = std::fs::read(&ca_key_path)
        .with_context(|| format!("Error reading CA key: {}", ca_key_path.display()))?;
    if kind == Kind::Server {
        output::line(
            "==> WARNING: Server Certificates grants authority to become a\n    \
             server and access all state in the cluster including root keys\n    \
             and all ACL tokens. Do not distribute them to production hosts\n    \
             that are not server nodes. Store them as securely as CA keys.",
        );
    }
    output::line(&format!(
        "==> Using {} and {}",
        ca_path.display(),
        ca_key_path.display()
    ));
    let ca_key = key::parse(&ca_key_pem)
        .with_context(|| format!("Error reading CA key: {}", ca_key_path.display()))?;
    let leaf = generate(&spec, &ca_pem, &ca_path, ca_key, OffsetDateTime::now_utc())?;
    super::save(&cert_path, &leaf.cert_pem, &key_path, &leaf.key_pem)
}

/// The `-additional-dnsname` values, trimmed, without empty ones (as
/// Consul's).
///
/// # Errors
/// A name that is not ASCII.
fn dns_names(given: &[String]) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    for d in given.iter().map(|d| d.trim()).filter(|d| !d.is_empty()) {
        if Ia5String::try_from(d).is_err() || d.chars().any(char::is_whitespace) {
            anyhow::bail!("invalid -additional-dnsname {d:?}: not a DNS name");
        }
        out.push(d.to_owned());
    }
    Ok(out)
}

/// The `-additional-ipaddress` values, trimmed, without empty ones.
///
/// # Errors
/// A value that is not an IPv4 or IPv6 address.
fn ip_addresses(given: &[String]) -> anyhow::Result<Vec<IpAddr>> {
    given
        .iter()
        .map(|i| i.trim())
        .filter(|i| !i.is_empty())
        .map(|i| {
            i.parse::<IpAddr>().map_err(|_| {
                anyhow::anyhow!("invalid -additional-ipaddress {i:?}: not an IP address")
            })
        })
        .collect()
}

/// A new certificate with an ECDSA P-256 key, for `spec`, signed by the CA
/// in `ca_pem` (read from `ca_path`, named in errors) with `ca_key`, valid
/// from `now` for `spec.days` days; checked to verify against the CA for its
/// name before it is returned.
///
/// # Errors
/// The CA file holds no certificate, is not a CA, or `ca_key` is not its
/// key; `days` is out of range; the result does not verify (a name outside
/// the CA's name constraints, an expired CA).
pub fn generate(
    spec: &CertSpec,
    ca_pem: &[u8],
    ca_path: &Path,
    ca_key: KeyPair,
    now: OffsetDateTime,
) -> anyhow::Result<super::ca::Generated> {
    let ca_der = ca_certificate(ca_pem, ca_path, &ca_key)?;
    let issuer = Issuer::from_ca_cert_der(&ca_der, ca_key)
        .map_err(|e| anyhow::anyhow!("Error reading CA: {}: {e}", ca_path.display()))?;

    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .context("generating the private key")?;
    let name = spec.name();
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, name.clone());
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = match spec.kind {
        Kind::Server => vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ],
        Kind::Client => vec![
            ExtendedKeyUsagePurpose::ClientAuth,
            ExtendedKeyUsagePurpose::ServerAuth,
        ],
        Kind::Cli => Vec::new(),
    };
    params.use_authority_key_identifier_extension = true;
    params.not_before = now;
    params.not_after = super::not_after(now, spec.days)?;
    let (dns, ips) = spec.subject_alt_names();
    for d in dns {
        let d =
            Ia5String::try_from(d.as_str()).with_context(|| format!("invalid DNS name {d:?}"))?;
        params.subject_alt_names.push(SanType::DnsName(d));
    }
    params
        .subject_alt_names
        .extend(ips.into_iter().map(SanType::IpAddress));
    let cert = params
        .signed_by(&key, &issuer)
        .context("signing the certificate")?;
    super::verify(&ca_der, cert.der(), &name)?;
    Ok(super::ca::Generated {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// The first certificate in `pem`, checked to be a CA whose public key is
/// `key`'s and whose subject rcgen can copy as the new certificate's issuer.
///
/// # Errors
/// No certificate, an unparsable one, not a CA, or not `key`'s, naming
/// `path`.
fn ca_certificate(
    pem: &[u8],
    path: &Path,
    key: &KeyPair,
) -> anyhow::Result<CertificateDer<'static>> {
    use rcgen::PublicKeyData as _;
    use rustls::pki_types::pem::PemObject as _;

    let fail = |why: String| anyhow::anyhow!("Error reading CA: {}: {why}", path.display());
    let der =
        CertificateDer::from_pem_slice(pem).map_err(|e| fail(format!("no certificate ({e})")))?;
    let (_, x509) = x509_parser::parse_x509_certificate(&der)
        .map_err(|e| fail(format!("not a valid certificate ({e})")))?;
    if !x509.is_ca() {
        return Err(fail("not a CA certificate".to_owned()));
    }
    // rcgen copies the subject one attribute per RDN (and panics on an empty one).
    if x509.subject().iter().any(|rdn| rdn.iter().count() != 1) {
        return Err(fail(
            "its subject has a multi-valued or empty name part".to_owned(),
        ));
    }
    if x509.public_key().raw != key.subject_public_key_info().as_slice() {
        return Err(fail(
            "the CA key does not belong to this certificate".to_owned(),
        ));
    }
    Ok(der)
}
