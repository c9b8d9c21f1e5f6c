//! `praetor info` and `praetor version`.

use clap::Args;

use super::HttpArgs;
use crate::output;

#[derive(Args, Debug)]
pub struct InfoArgs {
    #[command(flatten)]
    http: HttpArgs,
}

/// Prints the agent's stats by section, as Consul's `info`.
pub async fn info(a: InfoArgs) -> anyhow::Result<()> {
    let me = a.http.client()?.agent_self().await?;
    for (section, stats) in &me.stats {
        output::line(&format!("{section}:"));
        for (k, v) in stats {
            output::line(&format!("\t{k} = {v}"));
        }
    }
    Ok(())
}

/// Prints the version in the layout of Consul's `version`: Praetor's
/// version, the git revision and build date, then the Consul release whose
/// API it follows.
pub fn version() {
    use praetor_agent::version::{BUILD_DATE, REVISION};
    output::line(&format!("Praetor v{}", praetor_api::VERSION));
    output::line(&format!("Revision {REVISION}"));
    output::line(&format!("Build Date {BUILD_DATE}"));
    output::line(&format!(
        "Consul API v{} (the Consul release whose HTTP API, CLI and configuration Praetor follows)",
        praetor_api::CONSUL_API_VERSION
    ));
    output::line("Protocol 2 spoken by default, understands 2 to 3 (agent will automatically use protocol >2 when speaking to compatible agents)");
}
