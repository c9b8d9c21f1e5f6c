//! The nemesis of a fault-injection run: one fault at a time on a
//! [`Cluster`], each held for a bounded time while the workload runs, then
//! healed, then waited out until every node that is up names the same
//! leader (and sees every node alive, so the next fault starts from a
//! whole cluster). It records when each fault began, was healed, and when
//! the cluster had recovered, on the workload's clock, so availability can
//! be measured per window.
//!
//! Faults: SIGKILL of the leader (then a restart on its data dir); SIGSTOP
//! of the leader past the election timeout (then SIGCONT); the leader cut
//! off from every other node; a majority/minority split that leaves the
//! leader and a client agent on the minority side; SIGKILL of every node at
//! once (then all restarted). Signals go by PID to the cluster's own
//! processes; partitions are healed before the next fault, and on drop.

use std::fmt;
use std::time::{Duration, Instant};

use crate::{wait_for, Cluster, KitError};

/// One fault of the cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// SIGKILL the leader; restart it when healing.
    KillLeader,
    /// SIGSTOP the leader; SIGCONT when healing.
    PauseLeader,
    /// Cut the leader off from every other node.
    IsolateLeader,
    /// Cut {leader, first client agent} off from the other servers.
    SplitMinorityWithClient,
    /// SIGKILL every node at once; restart them all when healing.
    RestartAll,
}

impl Fault {
    /// Every fault, in the order a cycle injects them.
    pub const CYCLE: [Fault; 5] = [
        Fault::KillLeader,
        Fault::PauseLeader,
        Fault::IsolateLeader,
        Fault::SplitMinorityWithClient,
        Fault::RestartAll,
    ];
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Fault::KillLeader => "kill the leader",
            Fault::PauseLeader => "pause the leader",
            Fault::IsolateLeader => "isolate the leader",
            Fault::SplitMinorityWithClient => "split: leader + client | majority",
            Fault::RestartAll => "kill and restart every node",
        })
    }
}

/// When a fault was in force, on the workload's clock.
#[derive(Debug, Clone)]
pub struct FaultWindow {
    pub fault: Fault,
    /// What was done to whom (`s2 killed`, `[s1, c1] | [s2, s3]`).
    pub detail: String,
    /// The leader every node named before the fault.
    pub leader_before: String,
    /// The fault was injected.
    pub start: Duration,
    /// The fault was healed (restart, SIGCONT, partition removed).
    pub healed: Duration,
    /// Every node that is up named the same leader again.
    pub recovered: Duration,
    /// That leader.
    pub leader_after: String,
}

/// Injects faults, one at a time.
#[derive(Debug, Clone)]
pub struct Nemesis {
    epoch: Instant,
    /// How long each fault stays in force.
    pub hold: Duration,
    /// How long the cluster may take to recover after a heal.
    pub recover_within: Duration,
}

impl Nemesis {
    /// A nemesis on the clock that started at `epoch` (the recorder's),
    /// holding each fault `hold`.
    pub fn new(epoch: Instant, hold: Duration) -> Nemesis {
        Nemesis {
            epoch,
            hold,
            recover_within: Duration::from_secs(40),
        }
    }

    fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    /// Injects `fault`, holds it `hold` (and until `traffic()`, the count of
    /// operations recorded, grew by at least 10, so the fault saw load),
    /// heals it, and waits until the cluster has a leader every node that
    /// is up agrees on and every node is alive again.
    ///
    /// # Errors
    /// A signal or partition that cannot be applied, or a cluster that does
    /// not recover within `recover_within` (the error shows what each node
    /// saw and their logs).
    pub async fn inject(
        &self,
        cluster: &mut Cluster,
        fault: Fault,
        traffic: &(dyn Fn() -> usize + Sync),
    ) -> Result<FaultWindow, KitError> {
        let leader = cluster.wait_for_leader(self.recover_within).await?;
        tracing::info!(%fault, %leader, "--- fault: {fault}");
        let start = self.now();
        let detail;
        let healed;
        match fault {
            Fault::KillLeader => {
                cluster.kill9(&leader)?;
                detail = format!("{leader} killed (SIGKILL), restarted on its data dir");
                self.hold_for(traffic).await?;
                healed = self.now();
                cluster.restart(&leader).await?;
            }
            Fault::PauseLeader => {
                cluster.pause(&leader)?;
                detail = format!("{leader} paused (SIGSTOP), then resumed (SIGCONT)");
                self.hold_for(traffic).await?;
                healed = self.now();
                cluster.resume(&leader)?;
            }
            Fault::IsolateLeader => {
                let cut = cluster.isolate(&leader)?;
                detail = format!("{leader} | every other node");
                self.hold_for(traffic).await?;
                healed = self.now();
                cut.heal()?;
            }
            Fault::SplitMinorityWithClient => {
                let mut minority = vec![leader.clone()];
                minority.extend(cluster.client_names().into_iter().take(1));
                let majority: Vec<String> = cluster
                    .names()
                    .into_iter()
                    .filter(|n| !minority.contains(n))
                    .collect();
                let a: Vec<&str> = minority.iter().map(String::as_str).collect();
                let b: Vec<&str> = majority.iter().map(String::as_str).collect();
                let cut = cluster.partition(&a, &b)?;
                detail = format!("{minority:?} | {majority:?}");
                self.hold_for(traffic).await?;
                healed = self.now();
                cut.heal()?;
            }
            Fault::RestartAll => {
                for name in cluster.up_names() {
                    cluster.kill9(&name)?;
                }
                detail = "every node killed (SIGKILL) at once, then all restarted".into();
                self.hold_for(traffic).await?;
                healed = self.now();
                cluster.start_all().await?;
            }
        }
        let leader_after = cluster.wait_for_leader(self.recover_within).await?;
        let recovered = self.now();
        tracing::info!(
            %fault,
            leader = %leader_after,
            took = ?recovered.saturating_sub(healed),
            "healed; leader agreed"
        );
        cluster.wait_all_alive(self.recover_within).await?;
        Ok(FaultWindow {
            fault,
            detail,
            leader_before: leader,
            start,
            healed,
            recovered,
            leader_after,
        })
    }

    /// Waits until the fault has lasted `hold` and the workload has
    /// recorded at least 10 operations meanwhile.
    async fn hold_for(&self, traffic: &(dyn Fn() -> usize + Sync)) -> Result<(), KitError> {
        let (since, before) = (Instant::now(), traffic());
        let hold = self.hold;
        let reason = format!("the fault to be held {hold:?} under load");
        wait_for(hold + self.recover_within, &reason, || {
            let (held, ops) = (since.elapsed(), traffic().saturating_sub(before));
            async move {
                if held >= hold && ops >= 10 {
                    Ok(())
                } else {
                    Err(format!(
                        "held {held:?}, {ops} operations recorded meanwhile"
                    ))
                }
            }
        })
        .await
    }
}
