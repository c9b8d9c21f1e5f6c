//! `praetor tls ca create` and `praetor tls cert create`: Consul's commands
//! for a private CA and the agent certificates it signs, with Consul's flags,
//! file names (`consul-agent-ca.pem`, `dc1-server-consul-0.pem`, …),
//! subject alternative names, key usages and output, so the tutorial's three
//! commands set up TLS unchanged.
//!
//! Owns generating ECDSA P-256 keys and certificates (rcgen over ring) and
//! writing them, keys mode 0600, into the current directory. It never
//! overwrites a file, never reads an agent's configuration and never talks to
//! an agent. Every failure is one line on stderr and exit code 1, in
//! Consul's wording where Consul has one.

pub mod ca;
pub mod cert;
mod files;
mod key;

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Subcommand;
use rustls::client::danger::ServerCertVerifier as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use time::OffsetDateTime;

use self::files::{CERT_MODE, KEY_MODE};
use super::Failed;
use crate::output;

/// `praetor tls …`.
#[derive(Subcommand, Debug)]
pub enum TlsCommand {
    /// Helpers for CAs.
    #[command(subcommand)]
    Ca(CaCommand),
    /// Helpers for certificates.
    #[command(subcommand)]
    Cert(CertCommand),
}

/// `praetor tls ca …`.
#[derive(Subcommand, Debug)]
pub enum CaCommand {
    /// Creates a new CA (`<domain>-agent-ca.pem` and its key).
    Create(ca::CaCreateArgs),
}

/// `praetor tls cert …`.
#[derive(Subcommand, Debug)]
pub enum CertCommand {
    /// Creates a new certificate for a server, a client or the CLI.
    Create(cert::CertCreateArgs),
}

/// Runs a `tls` subcommand. Its errors are printed as they are, without
/// `Error!`, as Consul's `tls` commands print theirs.
///
/// # Errors
/// Whatever the subcommand refuses or fails at, as one line.
pub fn run(c: TlsCommand) -> anyhow::Result<()> {
    let result = match c {
        TlsCommand::Ca(CaCommand::Create(a)) => ca::run(a),
        TlsCommand::Cert(CertCommand::Create(a)) => cert::run(a),
    };
    result.map_err(|e| match e.downcast::<Failed>() {
        Ok(failed) => failed.into(),
        Err(e) => Failed(format!("{e:#}")).into(),
    })
}

/// Now plus `days` days: a certificate's `NotAfter`, as Go's
/// `time.Now().AddDate(0, 0, days)`.
///
/// # Errors
/// `days` is not positive, or the date would pass the year 9999 (the last
/// an X.509 time can hold).
fn not_after(now: OffsetDateTime, days: i64) -> anyhow::Result<OffsetDateTime> {
    if days < 1 {
        anyhow::bail!("-days must be at least 1, not {days}");
    }
    // 8000 years of days: past the limit below, and small enough for Duration.
    Some(days)
        .filter(|d| *d <= 8000 * 366)
        .and_then(|d| now.checked_add(time::Duration::days(d)))
        .filter(|t| t.year() <= 9999)
        .with_context(|| format!("-days {days} reaches past the year 9999"))
}

/// Checks that `cert` chains to `ca` and is valid for `name` now, as
/// Consul's `tlsutil.Verify` checks every certificate it creates before
/// saving it (so a CA key that does not belong to the CA certificate, or a
/// name outside the CA's name constraints, fails here and nothing is
/// written).
///
/// # Errors
/// The CA cannot be used as a trust anchor, or the certificate does not
/// verify for `name`, with rustls's reason.
fn verify(ca: &CertificateDer<'_>, cert: &CertificateDer<'_>, name: &str) -> anyhow::Result<()> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(ca.clone().into_owned())
        .context("the CA certificate cannot be a trust anchor")?;
    let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        Arc::new(rustls::crypto::ring::default_provider()),
    )
    .build()
    .context("building a verifier for the CA")?;
    let server_name = ServerName::try_from(name.to_owned())
        .with_context(|| format!("{name:?} is not a valid DNS name"))?;
    verifier
        .verify_server_cert(cert, &[], &server_name, &[], UnixTime::now())
        .with_context(|| format!("the new certificate does not verify for {name}"))?;
    Ok(())
}

/// Writes a certificate and its key as new files, then prints
/// `==> Saved <path>` for each, as Consul does. Nothing is left behind when
/// the key cannot be written.
///
/// # Errors
/// Either file exists or cannot be written.
fn save(cert_path: &Path, cert: &str, key_path: &Path, key: &str) -> anyhow::Result<()> {
    files::write_new(cert_path, cert.as_bytes(), CERT_MODE)?;
    if let Err(e) = files::write_new(key_path, key.as_bytes(), KEY_MODE) {
        let _ = std::fs::remove_file(cert_path);
        return Err(e);
    }
    output::line(&format!("==> Saved {}", cert_path.display()));
    output::line(&format!("==> Saved {}", key_path.display()));
    Ok(())
}

/// Refuses a datacenter, domain or node name that could not be one label
/// (or, for a domain, dotted labels) of a DNS name: it becomes part of a
/// file name and of the certificate's names.
///
/// # Errors
/// `value` is empty or holds anything but ASCII letters, digits, `-`, `_`
/// and `.`, or starts with `.` or `-`.
fn check_dns_word(flag: &str, value: &str) -> anyhow::Result<()> {
    let ok = !value.is_empty()
        && !value.starts_with(['.', '-'])
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !ok {
        anyhow::bail!(
            "invalid {flag} {value:?}: only letters, digits, '-', '_' and '.' are allowed"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests;
