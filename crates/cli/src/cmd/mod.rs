//! The subcommands. Each `run` returns `anyhow::Result`; `main` prints the
//! error as `Error! …` and exits 1.

pub mod acl;
pub mod agent;
pub mod autopilot;
pub mod catalog;
pub mod debug;
pub mod envconsul;
pub mod event;
pub mod info;
pub mod keyring;
pub mod kv;
pub mod lock;
pub mod maint;
pub mod members;
pub mod membership;
pub mod monitor;
pub mod operator;
pub mod rtt;
pub mod snapshot;
pub mod supervise;
pub mod template;
pub mod tls;
pub mod token;
pub mod validate;
pub mod watch;

use praetor_client::Client;

/// A failure whose message is printed as it is (Consul's ACL commands print
/// `Failed to create new token: …` with no `Error!` prefix), exit code 1.
#[derive(Debug)]
pub struct Failed(pub String);

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Failed {}

/// The flags every command that talks to an agent takes, as Consul's.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct HttpArgs {
    /// The agent's HTTP address; `https://…` for HTTPS (default:
    /// $PRAETOR_HTTP_ADDR, $CONSUL_HTTP_ADDR, 127.0.0.1:8500; HTTPS also with
    /// $CONSUL_HTTP_SSL=true).
    #[arg(long = "http-addr", global = true)]
    pub http_addr: Option<String>,
    /// ACL token (default: -token-file, $PRAETOR_HTTP_TOKEN, $CONSUL_HTTP_TOKEN,
    /// $PRAETOR_HTTP_TOKEN_FILE, $CONSUL_HTTP_TOKEN_FILE).
    #[arg(long, global = true)]
    pub token: Option<String>,
    /// File holding the ACL token (used when -token is not given).
    #[arg(long = "token-file", global = true)]
    pub token_file: Option<std::path::PathBuf>,
    /// CA file to verify the agent's certificate with (default: $CONSUL_CACERT).
    #[arg(long = "ca-file", global = true)]
    pub ca_file: Option<std::path::PathBuf>,
    /// Directory of CA certificates (default: $CONSUL_CAPATH).
    #[arg(long = "ca-path", global = true)]
    pub ca_path: Option<std::path::PathBuf>,
    /// Client certificate, for an agent with verify_incoming (default:
    /// $CONSUL_CLIENT_CERT).
    #[arg(long = "client-cert", global = true)]
    pub client_cert: Option<std::path::PathBuf>,
    /// The client certificate's key (default: $CONSUL_CLIENT_KEY).
    #[arg(long = "client-key", global = true)]
    pub client_key: Option<std::path::PathBuf>,
    /// The name the agent's certificate must carry, when it is not the
    /// address's host (default: $CONSUL_TLS_SERVER_NAME).
    #[arg(long = "tls-server-name", global = true)]
    pub tls_server_name: Option<String>,
    /// Datacenter to query (default: the agent's).
    #[arg(long, global = true)]
    pub datacenter: Option<String>,
    /// Let any server answer, possibly with stale data.
    #[arg(long, global = true)]
    pub stale: bool,
}

impl HttpArgs {
    /// A client of the agent these flags (and the environment) name.
    ///
    /// # Errors
    /// A token file named by `-token-file` or the environment cannot be
    /// read; a TLS setting cannot be used (a file that cannot be read, a
    /// certificate without its key, a bad `CONSUL_HTTP_SSL`).
    pub fn client(&self) -> anyhow::Result<Client> {
        let env = |name: &str| std::env::var(name).ok();
        let token = token::resolve(self.token.as_deref(), self.token_file.as_deref(), &env)?;
        let config = self.config(&env, token)?;
        Ok(Client::with_config(&config)?.with_datacenter(self.datacenter.clone()))
    }

    /// The environment's configuration (Consul's `api.DefaultConfig`) with
    /// these flags laid over it: a flag given (and not empty) wins, as
    /// Consul's `HTTPFlags.MergeOntoConfig`.
    ///
    /// # Errors
    /// A boolean variable that is not a boolean.
    fn config(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
        token: Option<String>,
    ) -> anyhow::Result<praetor_client::Config> {
        let mut config = praetor_client::Config::from_env(env)?;
        config.token = token;
        let path = |p: &Option<std::path::PathBuf>| p.clone().filter(|p| !p.as_os_str().is_empty());
        if let Some(addr) = self.http_addr.clone().filter(|a| !a.is_empty()) {
            config.address = addr;
        }
        let tls = &mut config.tls;
        tls.ca_file = path(&self.ca_file).or(tls.ca_file.take());
        tls.ca_path = path(&self.ca_path).or(tls.ca_path.take());
        tls.cert_file = path(&self.client_cert).or(tls.cert_file.take());
        tls.key_file = path(&self.client_key).or(tls.key_file.take());
        tls.server_name = self
            .tls_server_name
            .clone()
            .filter(|n| !n.is_empty())
            .or(tls.server_name.take());
        Ok(config)
    }

    /// The query parameters of an ACL call: `dc` when -datacenter is given.
    pub fn dc_query(&self) -> Vec<(&'static str, String)> {
        self.datacenter
            .iter()
            .map(|dc| ("dc", dc.clone()))
            .collect()
    }

    pub fn query(&self) -> praetor_client::QueryOptions {
        praetor_client::QueryOptions {
            datacenter: self.datacenter.clone(),
            stale: self.stale,
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::HttpArgs;

    #[test]
    fn tls_flags_win_over_consuls_variables_and_fill_what_they_leave() {
        let vars: HashMap<&str, &str> = [
            ("CONSUL_HTTP_ADDR", "10.0.0.1:8501"),
            ("CONSUL_HTTP_SSL", "true"),
            ("CONSUL_CACERT", "/env/ca.pem"),
            ("CONSUL_CLIENT_CERT", "/env/cli.pem"),
            ("CONSUL_CLIENT_KEY", "/env/cli-key.pem"),
            ("CONSUL_TLS_SERVER_NAME", "env.name"),
        ]
        .into_iter()
        .collect();
        let env = |k: &str| vars.get(k).map(|v| (*v).to_owned());
        let args = HttpArgs {
            http_addr: Some("https://10.0.0.2:8501".into()),
            ca_file: Some("/flag/ca.pem".into()),
            ca_path: Some("".into()),
            tls_server_name: Some("server.dc1.consul".into()),
            ..HttpArgs::default()
        };
        let c = args.config(&env, Some("t".into())).expect("config");
        assert_eq!(c.base_url().expect("url"), "https://10.0.0.2:8501");
        assert_eq!(c.token.as_deref(), Some("t"));
        assert_eq!(c.tls.ca_file, Some("/flag/ca.pem".into()));
        assert_eq!(
            c.tls.ca_path, None,
            "an empty flag leaves the variable's (unset) value"
        );
        assert_eq!(c.tls.cert_file, Some("/env/cli.pem".into()));
        assert_eq!(c.tls.key_file, Some("/env/cli-key.pem".into()));
        assert_eq!(c.tls.server_name.as_deref(), Some("server.dc1.consul"));
        assert!(!c.tls.insecure_skip_verify);
    }
}
