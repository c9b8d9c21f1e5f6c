//! `DeregisterCriticalServiceAfter`: a service whose check has been
//! critical for longer than the check's setting is removed from the agent
//! (and so, through anti-entropy, from the catalog), as Consul's agent
//! reaps it. One task owns the "critical since" times; it wakes on every
//! change of the local state and at the next deadline, never on a poll,
//! and looks only at the checks that changed (the local state's feed), so
//! its work follows the change, not the number of checks. The times are
//! not saved: after a restart a critical check's period starts again.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use praetor_api::catalog::check_status;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::local::{Entry, LocalCheck, LocalState};

/// The checks that count towards reaping: critical, of a service, with
/// `DeregisterCriticalServiceAfter`.
#[derive(Default)]
struct Watch {
    /// Check ID → (critical since, deadline, service ID).
    since: BTreeMap<String, (Instant, Instant, String)>,
    /// (deadline, check ID), soonest first.
    order: BTreeSet<(Instant, String)>,
}

impl Watch {
    /// Follows check `id` as it is now (`None`: gone), seen at `now`: a
    /// check critical before keeps its time; one no longer critical (or
    /// without the setting) leaves.
    fn update(&mut self, id: &str, check: Option<&LocalCheck>, now: Instant) {
        let reapable = check.and_then(|c| {
            let after = c.deregister_after?;
            (c.status == check_status::CRITICAL && !c.service_id.is_empty())
                .then(|| (after, c.service_id.clone()))
        });
        let old = self.since.remove(id);
        if let Some((_, at, _)) = &old {
            self.order.remove(&(*at, id.to_owned()));
        }
        if let Some((after, service)) = reapable {
            let since = old.map_or(now, |(since, _, _)| since);
            let at = since + after;
            self.since.insert(id.to_owned(), (since, at, service));
            self.order.insert((at, id.to_owned()));
        }
    }

    /// The services to remove at `now` (service, check), and the next time
    /// one falls due.
    fn due(&mut self, now: Instant) -> (Vec<(String, String)>, Option<Instant>) {
        let mut doomed = Vec::new();
        while let Some((at, id)) = self.order.first().cloned() {
            if at > now {
                return (doomed, Some(at));
            }
            self.order.remove(&(at, id.clone()));
            if let Some((_, _, service)) = self.since.remove(&id) {
                doomed.push((service, id));
            }
        }
        (doomed, None)
    }
}

/// Removes the services whose check stayed critical past its
/// `DeregisterCriticalServiceAfter`, until `stop`.
pub async fn run_reaper(local: Arc<LocalState>, stop: CancellationToken) {
    let mut changes = local.subscribe();
    let feed = local.feed();
    let mut watch = Watch::default();
    let now = Instant::now();
    for (id, c) in &local.owned().checks {
        watch.update(id, Some(c), now);
    }
    loop {
        let now = Instant::now();
        for entry in feed.take() {
            if let Entry::Check(id) = entry {
                watch.update(&id, local.check(&id).as_ref(), now);
            }
        }
        let (doomed, next) = watch.due(now);
        for (service, check) in doomed {
            tracing::info!(%service, %check, "check critical for longer than DeregisterCriticalServiceAfter; deregistering the service");
            if let Err(e) = local.remove_service(&service) {
                tracing::debug!(%service, error = %e, "service already gone");
            }
        }
        let deadline = next.unwrap_or(now);
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
    use std::time::Duration;

    fn check(status: &str, after: Option<Duration>) -> LocalCheck {
        LocalCheck {
            id: "c".into(),
            name: "c".into(),
            service_id: "web1".into(),
            notes: String::new(),
            status: status.into(),
            output: String::new(),
            deregister_after: after,
            definition: None,
        }
    }

    #[test]
    fn a_service_falls_due_once_its_check_stays_critical_past_the_setting() {
        let t0 = Instant::now();
        let after = Duration::from_secs(30);
        let mut w = Watch::default();
        w.update("c", Some(&check("critical", Some(after))), t0);
        let (doomed, next) = w.due(t0);
        assert!(doomed.is_empty());
        assert_eq!(next, Some(t0 + after));
        // Still critical (a new output): the period does not restart.
        w.update("c", Some(&check("critical", Some(after))), t0 + after / 2);
        let (doomed, _) = w.due(t0 + after);
        assert_eq!(doomed, vec![("web1".to_owned(), "c".to_owned())]);
    }

    #[test]
    fn a_check_that_recovers_starts_its_period_again() {
        let t0 = Instant::now();
        let after = Duration::from_secs(30);
        let mut w = Watch::default();
        w.update("c", Some(&check("critical", Some(after))), t0);
        w.update("c", Some(&check("passing", Some(after))), t0 + after / 2);
        let (_, next) = w.due(t0 + after / 2);
        assert_eq!(next, None);
        assert!(w.since.is_empty());
        w.update("c", Some(&check("critical", Some(after))), t0 + after);
        let (doomed, next) = w.due(t0 + after);
        assert!(doomed.is_empty());
        assert_eq!(next, Some(t0 + after * 2));
        w.update("c", Some(&check("critical", None)), t0 + after * 3);
        let (doomed, next) = w.due(t0 + after * 3);
        assert!(doomed.is_empty() && next.is_none());
        w.update("c", None, t0 + after * 3);
        assert!(w.since.is_empty() && w.order.is_empty());
    }
}
