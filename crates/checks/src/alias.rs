//! Alias checks: the health of another service instance, computed from the
//! checks the caller feeds in, worded as Consul's `CheckAlias`. Pure.

use crate::definition::Status;

/// One check of the aliased service instance, or of its node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasedCheck {
    /// The check's name, quoted in the alias's output when it fails.
    pub name: String,
    /// The service it belongs to; empty for a node-level check.
    pub service_id: String,
    /// Its status.
    pub status: Status,
    /// Its output.
    pub output: String,
}

/// What the caller knows of the aliased instance: whether the service is
/// registered, and the checks of its node (node-level and service checks;
/// checks of other services are ignored).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AliasView {
    /// The aliased service is registered on its node.
    pub service_exists: bool,
    /// The node's checks.
    pub checks: Vec<AliasedCheck>,
}

/// Consul's `processChecks`: critical if any relevant check is critical
/// (the first one found names the output), else warning if any is warning,
/// else passing; critical if the service is gone and has no checks.
pub(crate) fn evaluate(node: Option<&str>, service_id: &str, view: &AliasView) -> (Status, String) {
    let mut health = Status::Passing;
    let mut msg = String::from("No checks found.");
    let mut service_found = false;
    for chk in &view.checks {
        let matches = chk.service_id == service_id;
        if !chk.service_id.is_empty() && !matches {
            continue;
        }
        service_found |= matches;
        match chk.status {
            Status::Critical | Status::Warning => {
                health = chk.status;
                msg = format!("Aliased check {:?} failing: {}", chk.name, chk.output);
                if chk.status == Status::Critical {
                    break;
                }
            }
            Status::Passing => {
                if health == Status::Passing {
                    msg = "All checks passing.".into();
                }
            }
        }
    }
    if !service_found && !view.service_exists {
        health = Status::Critical;
        msg = format!(
            "Service {service_id} could not be found on node {}",
            node.unwrap_or("")
        );
    }
    (health, msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chk(name: &str, service_id: &str, status: Status) -> AliasedCheck {
        AliasedCheck {
            name: name.into(),
            service_id: service_id.into(),
            status,
            output: format!("{name} says {status}"),
        }
    }

    #[test]
    fn all_passing_is_passing() {
        let view = AliasView {
            service_exists: true,
            checks: vec![
                chk("node", "", Status::Passing),
                chk("web", "web", Status::Passing),
            ],
        };
        assert_eq!(
            evaluate(None, "web", &view),
            (Status::Passing, "All checks passing.".into())
        );
    }

    #[test]
    fn critical_wins_over_warning_and_other_services_are_ignored() {
        let view = AliasView {
            service_exists: true,
            checks: vec![
                chk("db", "db", Status::Critical),
                chk("slow", "web", Status::Warning),
                chk("down", "web", Status::Critical),
                chk("later", "web", Status::Warning),
            ],
        };
        assert_eq!(
            evaluate(None, "web", &view),
            (
                Status::Critical,
                "Aliased check \"down\" failing: down says critical".into()
            )
        );
        let view = AliasView {
            service_exists: true,
            checks: vec![
                chk("slow", "web", Status::Warning),
                chk("ok", "web", Status::Passing),
            ],
        };
        assert_eq!(evaluate(None, "web", &view).0, Status::Warning);
    }

    #[test]
    fn a_node_check_counts_too() {
        let view = AliasView {
            service_exists: true,
            checks: vec![chk("serfHealth", "", Status::Critical)],
        };
        assert_eq!(evaluate(Some("n1"), "web", &view).0, Status::Critical);
    }

    #[test]
    fn a_missing_service_is_critical_and_one_without_checks_passing() {
        let gone = AliasView::default();
        assert_eq!(
            evaluate(Some("n1"), "web", &gone),
            (
                Status::Critical,
                "Service web could not be found on node n1".into()
            )
        );
        let bare = AliasView {
            service_exists: true,
            checks: vec![],
        };
        assert_eq!(
            evaluate(None, "web", &bare),
            (Status::Passing, "No checks found.".into())
        );
    }
}
