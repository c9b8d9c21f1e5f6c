//! `praetor maint [-enable|-disable] [-reason=TEXT] [-service=ID]`:
//! Consul's `consul maint`. Puts the agent's node, or one of its service
//! instances, in maintenance mode (a critical `_node_maintenance` or
//! `_service_maintenance:<id>` check, through `PUT /v1/agent/maintenance`
//! and `PUT /v1/agent/service/maintenance/<id>`) or takes it out. Without
//! `-enable` or `-disable` it lists what is in maintenance, as Consul
//! prints it (nothing when nothing is).

use clap::Args;
use serde_json::Value;

use super::{Failed, HttpArgs};
use crate::output;

#[derive(Args, Debug)]
pub struct MaintArgs {
    #[command(flatten)]
    http: HttpArgs,
    /// Enable maintenance mode.
    #[arg(long)]
    enable: bool,
    /// Disable maintenance mode.
    #[arg(long)]
    disable: bool,
    /// Text describing the maintenance reason.
    #[arg(long)]
    reason: Option<String>,
    /// Control maintenance mode for a specific service ID.
    #[arg(long)]
    service: Option<String>,
}

/// What `maint` was asked to do.
#[derive(Debug, PartialEq, Eq)]
enum Action {
    List,
    Enable {
        service: Option<String>,
        reason: String,
    },
    Disable {
        service: Option<String>,
    },
}

/// The action the flags ask for, refused with Consul's messages.
fn action(a: &MaintArgs) -> Result<Action, Failed> {
    let service = a.service.clone().filter(|s| !s.is_empty());
    let reason = a.reason.clone().unwrap_or_default();
    if a.enable && a.disable {
        return Err(Failed(
            "Only one of -enable or -disable may be provided".into(),
        ));
    }
    if !a.enable && !reason.is_empty() {
        return Err(Failed("Reason may only be provided with -enable".into()));
    }
    if !a.enable && !a.disable && service.is_some() {
        return Err(Failed("Service requires either -enable or -disable".into()));
    }
    Ok(if a.enable {
        Action::Enable { service, reason }
    } else if a.disable {
        Action::Disable { service }
    } else {
        Action::List
    })
}

pub async fn run(a: MaintArgs) -> anyhow::Result<()> {
    let act = action(&a)?;
    let client = a
        .http
        .client()
        .map_err(|e| Failed(format!("Error connecting to Consul agent: {e:#}")))?;
    let node = client
        .agent_self()
        .await
        .map_err(|e| Failed(format!("Error querying Consul agent: {e}")))?
        .config
        .node_name;
    match act {
        Action::List => {
            let checks = client
                .get_value("/v1/agent/checks", &[])
                .await
                .map_err(|e| Failed(format!("Error getting checks: {e}")))?;
            output::text(&listing(&node, &checks));
        }
        Action::Enable { service, reason } => {
            let q = [("enable", "true".to_owned()), ("reason", reason)];
            match service {
                None => {
                    client
                        .put_query("/v1/agent/maintenance", &q)
                        .await
                        .map_err(|e| Failed(format!("Error enabling node maintenance: {e}")))?;
                    output::line("Node maintenance is now enabled");
                }
                Some(id) => {
                    client
                        .put_query(&service_path(&id), &q)
                        .await
                        .map_err(|e| Failed(format!("Error enabling service maintenance: {e}")))?;
                    output::line(&format!("Service maintenance is now enabled for {id:?}"));
                }
            }
        }
        Action::Disable { service } => {
            let q = [("enable", "false".to_owned())];
            match service {
                None => {
                    client
                        .put_query("/v1/agent/maintenance", &q)
                        .await
                        .map_err(|e| Failed(format!("Error disabling node maintenance: {e}")))?;
                    output::line("Node maintenance is now disabled");
                }
                Some(id) => {
                    client
                        .put_query(&service_path(&id), &q)
                        .await
                        .map_err(|e| Failed(format!("Error disabling service maintenance: {e}")))?;
                    output::line(&format!("Service maintenance is now disabled for {id:?}"));
                }
            }
        }
    }
    Ok(())
}

/// `/v1/agent/service/maintenance/<id>`, the ID escaped as a path segment.
fn service_path(id: &str) -> String {
    let mut escaped = String::new();
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            escaped.push(char::from(b));
        } else {
            escaped.push_str(&format!("%{b:02X}"));
        }
    }
    format!("/v1/agent/service/maintenance/{escaped}")
}

/// Consul's listing of what is in maintenance, from `/v1/agent/checks`
/// (a map of check ID to check), in check ID order.
fn listing(node: &str, checks: &Value) -> String {
    let mut out = String::new();
    let Some(checks) = checks.as_object() else {
        return out;
    };
    let mut ids: Vec<&String> = checks.keys().collect();
    ids.sort();
    for id in ids {
        let c = &checks[id.as_str()];
        let text = |k: &str| c[k].as_str().unwrap_or_default().to_owned();
        if id == "_node_maintenance" {
            out.push_str(&format!(
                "Node:\n  Name:   {node}\n  Reason: {}\n\n",
                text("Notes")
            ));
        } else if id.starts_with("_service_maintenance:") {
            out.push_str(&format!(
                "Service:\n  ID:     {}\n  Reason: {}\n\n",
                text("ServiceID"),
                text("Notes")
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn args(enable: bool, disable: bool, reason: Option<&str>, service: Option<&str>) -> MaintArgs {
        MaintArgs {
            http: HttpArgs::default(),
            enable,
            disable,
            reason: reason.map(str::to_owned),
            service: service.map(str::to_owned),
        }
    }

    #[test]
    fn conflicting_flags_are_refused_with_consuls_messages() {
        let msg = |a: MaintArgs| action(&a).expect_err("refused").0;
        assert_eq!(
            msg(args(true, true, None, None)),
            "Only one of -enable or -disable may be provided"
        );
        assert_eq!(
            msg(args(false, true, Some("x"), None)),
            "Reason may only be provided with -enable"
        );
        assert_eq!(
            msg(args(false, false, None, Some("web"))),
            "Service requires either -enable or -disable"
        );
        assert_eq!(
            action(&args(false, false, None, None)).ok(),
            Some(Action::List)
        );
        assert_eq!(
            action(&args(true, false, Some("db upgrade"), Some("web"))).ok(),
            Some(Action::Enable {
                service: Some("web".into()),
                reason: "db upgrade".into()
            })
        );
    }

    #[test]
    fn the_listing_shows_the_node_and_services_in_maintenance_only() {
        let checks = json!({
            "_service_maintenance:web1": {"CheckID": "_service_maintenance:web1", "ServiceID": "web1", "Notes": "deploy"},
            "service:web1": {"CheckID": "service:web1", "ServiceID": "web1", "Notes": ""},
            "_node_maintenance": {"CheckID": "_node_maintenance", "ServiceID": "", "Notes": "kernel"},
        });
        assert_eq!(
            listing("n1", &checks),
            "Node:\n  Name:   n1\n  Reason: kernel\n\nService:\n  ID:     web1\n  Reason: deploy\n\n"
        );
        assert_eq!(listing("n1", &json!({})), "");
    }

    #[test]
    fn a_service_id_is_escaped_as_one_path_segment() {
        assert_eq!(
            service_path("web/1 a"),
            "/v1/agent/service/maintenance/web%2F1%20a"
        );
    }
}
