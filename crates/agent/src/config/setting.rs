//! The kinds of value a single setting can hold beyond plain numbers, strings
//! and booleans: durations, ports, log levels, IP addresses, datacenter names,
//! node IDs, gossip keys and DNS domains. Each deserializes only from a valid
//! value and otherwise fails with a message saying what was expected, which
//! `serde_path_to_error` then prefixes with the key. Never looks at other keys.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use base64::Engine as _;
use serde::de::{self, Deserialize, Deserializer, Visitor};

use super::runtime::{Port, RateLimitMode, RecursorStrategy};
use praetor_api::duration::{self, DurationError};

/// Why one setting's value was refused; `serde_path_to_error` prefixes the
/// key. Values that are secrets (gossip keys) are never echoed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(super) enum SettingError {
    #[error("{0:?} is not a duration (like \"30s\" or \"1m\")")]
    NotADuration(String),
    #[error("{0:?} is negative; a duration here must be 0 or more")]
    NegativeDuration(String),
    #[error("{0:?} is too long a duration")]
    DurationTooLong(String),
    #[error("expected {PORT_EXPECTED}, got {0}")]
    PortOutOfRange(i64),
    #[error("{0:?} is not one of trace, debug, info, warn, error")]
    NotALogLevel(String),
    #[error("{0:?} is a go-sockaddr template; Praetor needs a literal IP address")]
    SockaddrTemplate(String),
    #[error("{0:?} is not an IP address")]
    NotAnIp(String),
    #[error("expected one or more IP addresses separated by spaces, got an empty string")]
    NoAddresses,
    #[error("a datacenter name cannot be empty")]
    EmptyDatacenter,
    #[error("{0:?} is not a valid datacenter name (use only letters, digits, - and _)")]
    NotADatacenter(String),
    #[error("{0:?} is not a UUID (like \"adf4238a-882b-9ddc-4a9d-5b6758e4159e\")")]
    NotAUuid(String),
    #[error("the key is {0} bytes; expected 16, 24 or 32")]
    KeyLength(usize),
    #[error("the key is not valid base64")]
    KeyNotBase64,
    /// A TLS version or cipher suite list refused by praetor-tls.
    #[error("{0}")]
    Tls(String),
    #[error("{0:?} is not a DNS domain (like \"consul\")")]
    NotADomain(String),
    #[error(
        "{0:?} is not an IP address with an optional port (like \"8.8.8.8\" or \"10.0.0.1:5353\")"
    )]
    NotARecursor(String),
    #[error("{0:?} is not one of sequential, random")]
    NotAStrategy(String),
    #[error("invalid mode: {0:?}; use \"disabled\", \"permissive\" or \"enforcing\"")]
    NotARateLimitMode(String),
}

/// Deserializes a string with `parse`, whose error becomes the message; any
/// other JSON type is "invalid type: …, expected `expecting`".
fn from_str<'de, D, T>(
    de: D,
    expecting: &'static str,
    parse: fn(&str) -> Result<T, SettingError>,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    struct StrVisitor<T> {
        expecting: &'static str,
        parse: fn(&str) -> Result<T, SettingError>,
    }
    impl<T> Visitor<'_> for StrVisitor<T> {
        type Value = T;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str(self.expecting)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
            (self.parse)(v).map_err(E::custom)
        }
    }
    de.deserialize_str(StrVisitor { expecting, parse })
}

/// A Go duration string ("30s", "1m30s", "500ms", "2h").
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct GoDuration(pub Duration);

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        from_str(
            de,
            "a duration string (like \"30s\" or \"1m\")",
            |s| match duration::parse(s) {
                Ok(d) => Ok(GoDuration(d)),
                Err(DurationError::Syntax) => Err(SettingError::NotADuration(s.into())),
                Err(DurationError::Negative) => Err(SettingError::NegativeDuration(s.into())),
                Err(DurationError::TooLong) => Err(SettingError::DurationTooLong(s.into())),
            },
        )
    }
}

/// A port in Consul's notation: 1-65535, or 0 or less to disable it (Consul's
/// `portVal` treats every value `<= 0` as `-1`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct PortSetting(pub Port);

const PORT_EXPECTED: &str = "a port number (1-65535) or -1";

impl PortSetting {
    /// The setting for `n`, as Consul reads it.
    ///
    /// # Errors
    /// `PortOutOfRange` when `n` is above 65535.
    pub(super) fn from_number(n: i64) -> Result<Self, SettingError> {
        match n {
            ..=0 => Ok(PortSetting(None)),
            1..=65535 => Ok(PortSetting(Some(n as u16))),
            _ => Err(SettingError::PortOutOfRange(n)),
        }
    }
}

impl<'de> Deserialize<'de> for PortSetting {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct PortVisitor;
        impl Visitor<'_> for PortVisitor {
            type Value = PortSetting;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(PORT_EXPECTED)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<PortSetting, E> {
                PortSetting::from_number(v).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<PortSetting, E> {
                PortSetting::from_number(i64::try_from(v).unwrap_or(i64::MAX)).map_err(E::custom)
            }
        }
        de.deserialize_i64(PortVisitor)
    }
}

/// A log level as Consul spells it, in any case; kept lower-case, with Consul's
/// `err` read as `error`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct LogLevel(pub String);

impl<'de> Deserialize<'de> for LogLevel {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        from_str(
            de,
            "a log level (trace, debug, info, warn or error)",
            |s| match s.to_ascii_lowercase().as_str() {
                level @ ("trace" | "debug" | "info" | "warn" | "error") => {
                    Ok(LogLevel(level.to_owned()))
                }
                "err" => Ok(LogLevel("error".into())),
                _ => Err(SettingError::NotALogLevel(s.into())),
            },
        )
    }
}

/// Parses one IP address; says so when the text is a go-sockaddr template,
/// which Consul accepts and we do not.
fn parse_ip(s: &str) -> Result<IpAddr, SettingError> {
    if s.contains("{{") {
        return Err(SettingError::SockaddrTemplate(s.into()));
    }
    s.parse().map_err(|_| SettingError::NotAnIp(s.into()))
}

/// One IP address (`bind_addr`, `advertise_addr`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Ip(pub IpAddr);

impl<'de> Deserialize<'de> for Ip {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        from_str(de, "an IP address string", |s| parse_ip(s).map(Ip))
    }
}

/// Consul's `client_addr`: one or more IP addresses separated by spaces.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct IpList(pub Vec<IpAddr>);

impl<'de> Deserialize<'de> for IpList {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        from_str(de, "a string of IP addresses separated by spaces", |s| {
            let ips = s
                .split_whitespace()
                .map(parse_ip)
                .collect::<Result<Vec<_>, _>>()?;
            if ips.is_empty() {
                return Err(SettingError::NoAddresses);
            }
            Ok(IpList(ips))
        })
    }
}

/// A datacenter name: lower-cased, then only `[a-z0-9_-]`, as Consul requires.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Datacenter(pub String);

impl<'de> Deserialize<'de> for Datacenter {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        from_str(de, "a datacenter name", |s| {
            let name = s.to_ascii_lowercase();
            if name.is_empty() {
                return Err(SettingError::EmptyDatacenter);
            }
            if !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                return Err(SettingError::NotADatacenter(s.into()));
            }
            Ok(Datacenter(name))
        })
    }
}

/// A node ID: a UUID, kept lower-case as Consul keeps it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct NodeId(pub String);

impl<'de> Deserialize<'de> for NodeId {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        from_str(de, "a UUID string", |s| match uuid::Uuid::try_parse(s) {
            Ok(id) if s.len() == 36 => Ok(NodeId(id.hyphenated().to_string())),
            _ => Err(SettingError::NotAUuid(s.into())),
        })
    }
}

/// A gossip encryption key: base64 of 16, 24 or 32 bytes, as Consul checks.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct EncryptKey(pub String);

impl<'de> Deserialize<'de> for EncryptKey {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        from_str(de, "a base64-encoded key", |s| {
            match base64::engine::general_purpose::STANDARD.decode(s) {
                Ok(key) if matches!(key.len(), 16 | 24 | 32) => Ok(EncryptKey(s.to_owned())),
                Ok(key) => Err(SettingError::KeyLength(key.len())),
                // Never echo the key itself: it is a secret.
                Err(_) => Err(SettingError::KeyNotBase64),
            }
        })
    }
}

/// `tls_min_version`: Consul's names (`TLSv1_2`, `TLSv1_3`, `tls12`…).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct TlsVersion(pub praetor_tls::MinVersion);

impl<'de> Deserialize<'de> for TlsVersion {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        from_str(de, "a TLS version (TLSv1_2 or TLSv1_3)", |s| {
            praetor_tls::MinVersion::parse(s)
                .map(TlsVersion)
                .map_err(SettingError::Tls)
        })
    }
}

/// `tls_cipher_suites`: a comma-separated list of Consul's suite names.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct CipherSuites(pub Vec<String>);

impl<'de> Deserialize<'de> for CipherSuites {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        from_str(de, "a comma-separated list of cipher suites", |s| {
            praetor_tls::parse_cipher_suites(s)
                .map(CipherSuites)
                .map_err(SettingError::Tls)
        })
    }
}

/// A DNS domain, kept lower-case and fully qualified ("consul.").
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Domain(pub String);

impl<'de> Deserialize<'de> for Domain {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        from_str(de, "a DNS domain", |s| {
            let name = s.trim_end_matches('.').to_ascii_lowercase();
            let label_ok = |l: &str| {
                !l.is_empty()
                    && l.len() <= 63
                    && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            };
            if name.is_empty() || !name.split('.').all(label_ok) {
                return Err(SettingError::NotADomain(s.into()));
            }
            Ok(Domain(format!("{name}.")))
        })
    }
}

/// A DNS recursor: an IP address with an optional port (53 when absent),
/// as Consul's `recursors` entries (`"8.8.8.8"`, `"10.0.0.1:5353"`,
/// `"[::1]:53"`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Recursor(pub SocketAddr);

impl<'de> Deserialize<'de> for Recursor {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        from_str(de, "an IP address with an optional port", |s| {
            if let Ok(addr) = s.parse::<SocketAddr>() {
                return Ok(Recursor(addr));
            }
            parse_ip(s)
                .map(|ip| Recursor(SocketAddr::new(ip, 53)))
                .map_err(|_| SettingError::NotARecursor(s.into()))
        })
    }
}

impl<'de> Deserialize<'de> for RecursorStrategy {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        from_str(de, "\"sequential\" or \"random\"", |s| {
            match s.to_ascii_lowercase().as_str() {
                "sequential" => Ok(RecursorStrategy::Sequential),
                "random" => Ok(RecursorStrategy::Random),
                _ => Err(SettingError::NotAStrategy(s.into())),
            }
        })
    }
}

impl<'de> Deserialize<'de> for RateLimitMode {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        // Consul's names, exactly; "" is Consul's spelling of the default.
        from_str(
            de,
            "\"disabled\", \"permissive\" or \"enforcing\"",
            |s| match s {
                "" | "disabled" => Ok(RateLimitMode::Disabled),
                "permissive" => Ok(RateLimitMode::Permissive),
                "enforcing" => Ok(RateLimitMode::Enforcing),
                _ => Err(SettingError::NotARateLimitMode(s.into())),
            },
        )
    }
}
