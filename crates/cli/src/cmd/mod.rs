//! The subcommands. Each `run` returns `anyhow::Result`; `main` prints the
//! error as `Error! …` and exits 1.

pub mod acl;
pub mod agent;
pub mod catalog;
pub mod event;
pub mod info;
pub mod keyring;
pub mod kv;
pub mod lock;
pub mod members;
pub mod membership;
pub mod operator;
pub mod snapshot;
pub mod token;
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
    /// The agent's HTTP address (default: $PRAETOR_HTTP_ADDR, $CONSUL_HTTP_ADDR, 127.0.0.1:8500).
    #[arg(long = "http-addr", global = true)]
    pub http_addr: Option<String>,
    /// ACL token (default: -token-file, $PRAETOR_HTTP_TOKEN, $CONSUL_HTTP_TOKEN,
    /// $PRAETOR_HTTP_TOKEN_FILE, $CONSUL_HTTP_TOKEN_FILE).
    #[arg(long, global = true)]
    pub token: Option<String>,
    /// File holding the ACL token (used when -token is not given).
    #[arg(long = "token-file", global = true)]
    pub token_file: Option<std::path::PathBuf>,
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
    /// A token file named by `-token-file` or the environment cannot be read.
    pub fn client(&self) -> anyhow::Result<Client> {
        let token = token::resolve(self.token.as_deref(), self.token_file.as_deref(), &|name| {
            std::env::var(name).ok()
        })?;
        Ok(Client::from_env(
            self.http_addr.as_deref(),
            token.as_deref(),
        ))
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
