//! `DeregisterCriticalServiceAfter`: a service whose check has been
//! critical for longer than the check's setting is removed from the agent
//! (and so, through anti-entropy, from the catalog), as Consul's agent
//! reaps it. One task owns the "critical since" times; it wakes on every
//! change of the local state and at the next deadline, never on a poll.
//! The times are not saved: after a restart a critical check's period
//! starts again.

use std::collections::BTreeMap;
use std::sync::Arc;

use praetor_api::catalog::check_status;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::local::{LocalState, Owned};

/// The services to remove at `now` (service, check), and the next time one
/// falls due. `since` keeps when each check was first seen critical; checks
/// no longer critical (or gone, or without the setting) leave it.
fn due(
    owned: &Owned,
    since: &mut BTreeMap<String, Instant>,
    now: Instant,
) -> (Vec<(String, String)>, Option<Instant>) {
    let reapable = |c: &crate::local::LocalCheck| {
        c.status == check_status::CRITICAL && !c.service_id.is_empty()
    };
    since.retain(|id, _| {
        owned
            .checks
            .get(id)
            .is_some_and(|c| reapable(c) && c.deregister_after.is_some())
    });
    let mut doomed = Vec::new();
    let mut next: Option<Instant> = None;
    for c in owned.checks.values().filter(|c| reapable(c)) {
        let Some(after) = c.deregister_after else {
            continue;
        };
        let at = *since.entry(c.id.clone()).or_insert(now) + after;
        if at <= now {
            doomed.push((c.service_id.clone(), c.id.clone()));
        } else {
            next = Some(next.map_or(at, |n| n.min(at)));
        }
    }
    (doomed, next)
}

/// Removes the services whose check stayed critical past its
/// `DeregisterCriticalServiceAfter`, until `stop`.
pub async fn run_reaper(local: Arc<LocalState>, stop: CancellationToken) {
    let mut changes = local.subscribe();
    let mut since = BTreeMap::new();
    loop {
        let (doomed, next) = due(&local.owned(), &mut since, Instant::now());
        for (service, check) in doomed {
            tracing::info!(%service, %check, "check critical for longer than DeregisterCriticalServiceAfter; deregistering the service");
            if let Err(e) = local.remove_service(&service) {
                tracing::debug!(%service, error = %e, "service already gone");
            }
        }
        let deadline = next.unwrap_or_else(Instant::now);
        tokio::select! {
            changed = changes.changed() => if changed.is_err() { return },
            () = tokio::time::sleep_until(deadline), if next.is_some() => {}
            () = stop.cancelled() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local::LocalCheck;
    use std::time::Duration;

    fn owned(status: &str, after: Option<Duration>) -> Owned {
        let mut o = Owned::default();
        let c = LocalCheck {
            id: "c".into(),
            name: "c".into(),
            service_id: "web1".into(),
            notes: String::new(),
            status: status.into(),
            output: String::new(),
            deregister_after: after,
            definition: None,
        };
        o.checks.insert(c.id.clone(), c);
        o
    }

    #[test]
    fn a_service_falls_due_once_its_check_stays_critical_past_the_setting() {
        let t0 = Instant::now();
        let after = Duration::from_secs(30);
        let mut since = BTreeMap::new();
        let (doomed, next) = due(&owned("critical", Some(after)), &mut since, t0);
        assert!(doomed.is_empty());
        assert_eq!(next, Some(t0 + after));
        let (doomed, _) = due(&owned("critical", Some(after)), &mut since, t0 + after);
        assert_eq!(doomed, vec![("web1".to_owned(), "c".to_owned())]);
    }

    #[test]
    fn a_check_that_recovers_starts_its_period_again() {
        let t0 = Instant::now();
        let after = Duration::from_secs(30);
        let mut since = BTreeMap::new();
        due(&owned("critical", Some(after)), &mut since, t0);
        let (_, next) = due(&owned("passing", Some(after)), &mut since, t0 + after / 2);
        assert_eq!(next, None);
        assert!(since.is_empty());
        let (doomed, next) = due(&owned("critical", Some(after)), &mut since, t0 + after);
        assert!(doomed.is_empty());
        assert_eq!(next, Some(t0 + after * 2));
        let (doomed, next) = due(&owned("critical", None), &mut since, t0 + after * 3);
        assert!(doomed.is_empty() && next.is_none());
    }
}
