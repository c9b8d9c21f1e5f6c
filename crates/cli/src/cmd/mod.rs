//! The subcommands. Each `run` returns `anyhow::Result`; `main` prints the
//! error as `Error! …` and exits 1.

pub mod agent;
pub mod catalog;
pub mod event;
pub mod info;
pub mod kv;
pub mod lock;
pub mod members;
pub mod membership;
pub mod operator;
pub mod snapshot;
pub mod watch;

use praetor_client::Client;

/// The flags every command that talks to an agent takes, as Consul's.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct HttpArgs {
    /// The agent's HTTP address (default: $PRAETOR_HTTP_ADDR, $CONSUL_HTTP_ADDR, 127.0.0.1:8500).
    #[arg(long = "http-addr", global = true)]
    pub http_addr: Option<String>,
    /// ACL token (default: $PRAETOR_HTTP_TOKEN, $CONSUL_HTTP_TOKEN).
    #[arg(long, global = true)]
    pub token: Option<String>,
    /// Datacenter to query (default: the agent's).
    #[arg(long, global = true)]
    pub datacenter: Option<String>,
    /// Let any server answer, possibly with stale data.
    #[arg(long, global = true)]
    pub stale: bool,
}

impl HttpArgs {
    pub fn client(&self) -> Client {
        Client::from_env(self.http_addr.as_deref(), self.token.as_deref())
    }

    pub fn query(&self) -> praetor_client::QueryOptions {
        praetor_client::QueryOptions {
            datacenter: self.datacenter.clone(),
            stale: self.stale,
            ..Default::default()
        }
    }
}
