//! Where a client connects and how, as Consul's `api.Config`: the address
//! (an `https://` one, or `CONSUL_HTTP_SSL`, selects HTTPS), the token, and
//! the TLS settings read from the environment (`CONSUL_CACERT`,
//! `CONSUL_CAPATH`, `CONSUL_CLIENT_CERT`, `CONSUL_CLIENT_KEY`,
//! `CONSUL_TLS_SERVER_NAME`, `CONSUL_HTTP_SSL_VERIFY`, each also as
//! `PRAETOR_…`, which wins). Owns that resolution only; the CLI lays its
//! flags over it.

use std::path::PathBuf;

use crate::ClientError;

/// The agent's address when nothing names one.
pub const DEFAULT_ADDRESS: &str = "127.0.0.1:8500";

/// How to reach an agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `host:port`, or a URL (`http://…`, `https://…`, with an optional path
    /// prefix for a reverse proxy).
    pub address: String,
    /// Use HTTPS even when the address does not say so (`CONSUL_HTTP_SSL`).
    /// An `http://` address does not turn it off, as in Consul.
    pub https: bool,
    /// The ACL token to send, if any.
    pub token: Option<String>,
    /// How to verify the agent and what to present to it over HTTPS.
    pub tls: TlsOptions,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            address: DEFAULT_ADDRESS.to_owned(),
            https: false,
            token: None,
            tls: TlsOptions::default(),
        }
    }
}

/// TLS settings of a client, as Consul's `api.TLSConfig`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// A PEM file of CA certificates to verify the agent with (wins over
    /// `ca_path`, as in Consul). Neither: the system's roots.
    pub ca_file: Option<PathBuf>,
    /// A directory of PEM CA certificates.
    pub ca_path: Option<PathBuf>,
    /// This client's certificate, for an agent with `verify_incoming`.
    pub cert_file: Option<PathBuf>,
    /// That certificate's private key.
    pub key_file: Option<PathBuf>,
    /// The name the agent's certificate must carry, instead of the
    /// address's host (a `:port` is ignored).
    pub server_name: Option<String>,
    /// Accept any certificate (`CONSUL_HTTP_SSL_VERIFY=false`).
    pub insecure_skip_verify: bool,
}

impl Config {
    /// The configuration the environment describes, over the defaults, as
    /// Consul's `api.DefaultConfig`: `PRAETOR_HTTP_ADDR`/`CONSUL_HTTP_ADDR`,
    /// `…_HTTP_TOKEN`, `…_HTTP_SSL`, `…_TLS_SERVER_NAME`, `…_CACERT`,
    /// `…_CAPATH`, `…_CLIENT_CERT`, `…_CLIENT_KEY`, `…_HTTP_SSL_VERIFY`.
    /// Empty values count as unset. `env` reads one variable (a parameter so
    /// tests need not change the process's environment).
    ///
    /// # Errors
    /// `…_HTTP_SSL` or `…_HTTP_SSL_VERIFY` is not one of Go's booleans
    /// (Consul warns and goes on; we refuse rather than guess).
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ClientError> {
        let var = |suffix: &str| {
            ["PRAETOR_", "CONSUL_"]
                .iter()
                .find_map(|p| env(&format!("{p}{suffix}")).filter(|v| !v.is_empty()))
        };
        let flag = |suffix: &str| -> Result<Option<bool>, ClientError> {
            var(suffix)
                .map(|v| {
                    go_bool(&v).ok_or_else(|| {
                        ClientError::Config(format!(
                            "CONSUL_{suffix}: {v:?} is not a boolean (true, false, 1, 0, …)"
                        ))
                    })
                })
                .transpose()
        };
        Ok(Config {
            address: var("HTTP_ADDR").unwrap_or_else(|| DEFAULT_ADDRESS.to_owned()),
            https: flag("HTTP_SSL")?.unwrap_or(false),
            token: var("HTTP_TOKEN"),
            tls: TlsOptions {
                ca_file: var("CACERT").map(PathBuf::from),
                ca_path: var("CAPATH").map(PathBuf::from),
                cert_file: var("CLIENT_CERT").map(PathBuf::from),
                key_file: var("CLIENT_KEY").map(PathBuf::from),
                server_name: var("TLS_SERVER_NAME"),
                insecure_skip_verify: !flag("HTTP_SSL_VERIFY")?.unwrap_or(true),
            },
        })
    }

    /// The base URL requests go to: the address with its scheme (`https`
    /// when the address says so or [`Config::https`] is set), without a
    /// trailing `/`.
    ///
    /// # Errors
    /// A scheme other than `http` or `https` (`Unknown protocol scheme: …`,
    /// Consul's message; `unix` sockets are not supported).
    pub fn base_url(&self) -> Result<String, ClientError> {
        let addr = self.address.trim_end_matches('/');
        let (scheme, rest) = match addr.split_once("://") {
            Some(("https", rest)) => ("https", rest),
            // Never revert to http when TLS was asked for, as Consul.
            Some(("http", rest)) => (if self.https { "https" } else { "http" }, rest),
            Some((other, _)) => {
                return Err(ClientError::Config(format!(
                    "Unknown protocol scheme: {other}"
                )))
            }
            None => (if self.https { "https" } else { "http" }, addr),
        };
        Ok(format!("{scheme}://{rest}"))
    }
}

/// Go's `strconv.ParseBool`.
fn go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn from(vars: &[(&str, &str)]) -> Result<Config, ClientError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_env(&|k| map.get(k).cloned())
    }

    #[test]
    fn nothing_set_is_plain_http_to_the_local_agent() {
        let c = from(&[]).expect("config");
        assert_eq!(c, Config::default());
        assert_eq!(c.base_url().expect("url"), "http://127.0.0.1:8500");
    }

    #[test]
    fn every_consul_tls_variable_is_read() {
        let c = from(&[
            ("CONSUL_HTTP_ADDR", "10.0.0.1:8501"),
            ("CONSUL_HTTP_SSL", "true"),
            ("CONSUL_CACERT", "/ca.pem"),
            ("CONSUL_CAPATH", "/cas"),
            ("CONSUL_CLIENT_CERT", "/cli.pem"),
            ("CONSUL_CLIENT_KEY", "/cli-key.pem"),
            ("CONSUL_TLS_SERVER_NAME", "server.dc1.consul"),
            ("CONSUL_HTTP_SSL_VERIFY", "false"),
            ("CONSUL_HTTP_TOKEN", "t"),
        ])
        .expect("config");
        assert_eq!(c.base_url().expect("url"), "https://10.0.0.1:8501");
        assert_eq!(c.token.as_deref(), Some("t"));
        assert_eq!(
            c.tls,
            TlsOptions {
                ca_file: Some("/ca.pem".into()),
                ca_path: Some("/cas".into()),
                cert_file: Some("/cli.pem".into()),
                key_file: Some("/cli-key.pem".into()),
                server_name: Some("server.dc1.consul".into()),
                insecure_skip_verify: true,
            }
        );
    }

    #[test]
    fn praetor_variables_win_and_empty_values_count_as_unset() {
        let c = from(&[
            ("PRAETOR_CACERT", "/mine.pem"),
            ("CONSUL_CACERT", "/theirs.pem"),
            ("PRAETOR_HTTP_ADDR", ""),
            ("CONSUL_HTTP_ADDR", "h:1"),
            ("CONSUL_HTTP_SSL_VERIFY", ""),
        ])
        .expect("config");
        assert_eq!(c.tls.ca_file, Some("/mine.pem".into()));
        assert_eq!(c.address, "h:1");
        assert!(!c.tls.insecure_skip_verify);
    }

    #[test]
    fn the_address_scheme_decides_unless_ssl_was_asked_for() {
        let url = |addr: &str, https: bool| {
            Config {
                address: addr.to_owned(),
                https,
                ..Config::default()
            }
            .base_url()
        };
        assert_eq!(
            url("https://h:8501/", false).expect("url"),
            "https://h:8501"
        );
        assert_eq!(url("http://h:8500", false).expect("url"), "http://h:8500");
        assert_eq!(url("http://h:8500", true).expect("url"), "https://h:8500");
        assert_eq!(url("h:8501", true).expect("url"), "https://h:8501");
        assert_eq!(
            url("https://proxy/consul", false).expect("url"),
            "https://proxy/consul"
        );
        let err = url("unix:///tmp/consul.sock", false).expect_err("unix");
        assert_eq!(err.to_string(), "Unknown protocol scheme: unix");
    }

    #[test]
    fn a_boolean_variable_that_is_not_a_boolean_is_refused_by_name() {
        let err = from(&[("CONSUL_HTTP_SSL", "yes")]).expect_err("refused");
        assert_eq!(
            err.to_string(),
            "CONSUL_HTTP_SSL: \"yes\" is not a boolean (true, false, 1, 0, …)"
        );
        assert!(from(&[("CONSUL_HTTP_SSL_VERIFY", "nope")]).is_err());
        assert!(!from(&[("CONSUL_HTTP_SSL", "0")]).expect("config").https);
    }
}
