//! Waiting for the cluster to agree: on a leader, on a new leader after a
//! fault (polled finely, since failover time is measured with it), and on
//! which members are alive. Each wait has a deadline and fails with what
//! every node said and the tail of every log.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::client::Member;
use super::Cluster;
use crate::{wait_for, KitError};

impl Cluster {
    /// Waits until every node that is up names the same leader, a server
    /// that is up; returns its name.
    ///
    /// # Errors
    /// `Timeout` showing what each node named.
    pub async fn wait_for_leader(&self, within: Duration) -> Result<String, KitError> {
        let up = self.up_names();
        let up = &up;
        wait_for(
            within,
            "every agent that is up to name the same leader, a server that is up",
            move || self.leader_agreed(up),
        )
        .await
        .map_err(|e| self.with_logs(e))
    }

    async fn leader_agreed(&self, up: &[String]) -> Result<String, String> {
        let mut seen = BTreeMap::new();
        for name in up {
            let said = match self.leader_seen_by(name).await {
                Ok(Some(l)) => l,
                Ok(None) => "(none)".into(),
                Err(e) => format!("(error: {e})"),
            };
            seen.insert(name.clone(), said);
        }
        let first = seen.values().next().cloned().unwrap_or_default();
        let agreed = seen.values().all(|l| *l == first);
        let leader_up = self.up_servers().any(|n| n.name == first);
        if agreed && leader_up {
            Ok(first)
        } else {
            Err(format!("leaders named: {seen:?}"))
        }
    }

    /// Polls every server that is up, every 25 ms, until one names a leader
    /// other than `old` that is up; returns it and the time since `since`
    /// (when the old leader was killed or cut off). The poll is fine-grained
    /// because this is what failover time is measured with.
    ///
    /// # Errors
    /// `Timeout` showing what each server named last.
    pub async fn wait_for_new_leader(
        &self,
        old: &str,
        since: Instant,
        within: Duration,
    ) -> Result<(String, Duration), KitError> {
        let deadline = Instant::now() + within;
        let mut last = BTreeMap::new();
        loop {
            for n in self.up_servers().filter(|n| n.name != old) {
                let a = self
                    .request(
                        &n.name,
                        reqwest::Method::GET,
                        "/v1/status/leader",
                        None,
                        Duration::from_millis(500),
                    )
                    .await;
                let named = a
                    .ok()
                    .filter(|a| a.status == 200)
                    .and_then(|a| serde_json::from_str::<String>(&a.body).ok())
                    .filter(|addr| !addr.is_empty());
                let took = since.elapsed();
                let leader = named.as_deref().and_then(|addr| self.name_of(addr));
                if let Some(l) =
                    leader.filter(|l| l != old && self.up_servers().any(|s| s.name == *l))
                {
                    return Ok((l, took));
                }
                last.insert(n.name.clone(), named.unwrap_or_else(|| "(none)".into()));
            }
            if Instant::now() >= deadline {
                return Err(self.with_logs(KitError::Timeout {
                    reason: format!("a server other than {old} to name a new leader"),
                    within,
                    last: format!("leaders named: {last:?}"),
                }));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Waits until every node that is up lists every node that is up as
    /// `alive`.
    ///
    /// # Errors
    /// `Timeout` showing each node's view of the others.
    pub async fn wait_all_alive(&self, within: Duration) -> Result<(), KitError> {
        let up = self.up_names();
        let reason = format!(
            "every agent that is up ({}) to see all of them alive",
            up.join(" ")
        );
        let up = &up;
        wait_for(within, &reason, move || async move {
            let mut wrong = Vec::new();
            for observer in up {
                match self.members(observer).await {
                    Ok(members) => {
                        let bad: Vec<String> = up
                            .iter()
                            .filter(|name| {
                                !members
                                    .iter()
                                    .any(|m| m.name == **name && m.status == "alive")
                            })
                            .cloned()
                            .collect();
                        if !bad.is_empty() {
                            wrong.push(format!(
                                "{observer} sees {} (missing or not alive: {})",
                                summary(&members),
                                bad.join(" ")
                            ));
                        }
                    }
                    Err(e) => wrong.push(format!("{observer}: {e}")),
                }
            }
            if wrong.is_empty() {
                Ok(())
            } else {
                Err(wrong.join("; "))
            }
        })
        .await
        .map_err(|e| self.with_logs(e))
    }

    /// Waits until every node in `observers` lists `member` with `status`;
    /// returns how long that took.
    ///
    /// # Errors
    /// `Timeout` showing each observer's view.
    pub async fn wait_member_status(
        &self,
        observers: &[String],
        member: &str,
        status: &str,
        within: Duration,
    ) -> Result<Duration, KitError> {
        let started = Instant::now();
        let reason = format!("{} to see {member} {status}", observers.join(" "));
        wait_for(within, &reason, move || async move {
            let mut wrong = Vec::new();
            for observer in observers {
                match self.members(observer).await {
                    Ok(members) => {
                        if !members
                            .iter()
                            .any(|m| m.name == member && m.status == status)
                        {
                            wrong.push(format!("{observer} sees {}", summary(&members)));
                        }
                    }
                    Err(e) => wrong.push(format!("{observer}: {e}")),
                }
            }
            if wrong.is_empty() {
                Ok(started.elapsed())
            } else {
                Err(wrong.join("; "))
            }
        })
        .await
        .map_err(|e| self.with_logs(e))
    }

    /// Waits for a leader everyone agrees on and every member alive.
    ///
    /// # Errors
    /// As [`wait_for_leader`](Self::wait_for_leader) and
    /// [`wait_all_alive`](Self::wait_all_alive).
    pub async fn wait_formed(&self, within: Duration) -> Result<String, KitError> {
        let started = Instant::now();
        self.wait_all_alive(within).await?;
        self.wait_for_leader(within.saturating_sub(started.elapsed()))
            .await
    }
}

/// `s1:alive s2:failed …`
fn summary(members: &[Member]) -> String {
    let mut parts: Vec<String> = members
        .iter()
        .map(|m| format!("{}:{}", m.name, m.status))
        .collect();
    parts.sort();
    format!("[{}]", parts.join(" "))
}
