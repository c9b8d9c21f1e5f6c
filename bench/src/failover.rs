//! Failover time: kill a ready cluster's leader with SIGKILL and measure until
//! the first put acknowledged through a surviving member; then restart the
//! killed member, wait for the cluster to be whole again, and check that every
//! put acknowledged before and after the kill is still there.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;

use crate::cluster::{self, Cluster};
use crate::target::Read;
use crate::workload::value;

/// Bound on the cluster becoming ready before a trial, and whole again after.
pub const READY_DEADLINE: Duration = Duration::from_secs(60);
/// A trial with no acknowledged put this long after the kill has failed.
const FAILOVER_DEADLINE: Duration = Duration::from_secs(30);

/// How writes are attempted after the kill.
#[derive(Debug, Clone, Copy)]
pub struct Probe {
    /// A new put starts this often, whether or not earlier ones answered.
    pub every: Duration,
    /// Each put gives up after this long.
    pub timeout: Duration,
}

/// One failover trial.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Trial {
    /// The leader killed.
    pub killed: String,
    /// Who led once a write succeeded again (as the survivors agreed).
    pub new_leader: Option<String>,
    /// From SIGKILL to the first acknowledged put, in milliseconds.
    pub failover_ms: f64,
    /// From SIGKILL to a survivor first naming a survivor as leader, in
    /// milliseconds (polled as often as the puts); `None` if not seen.
    pub elected_ms: Option<f64>,
    /// Puts started after the kill that failed or timed out before that.
    pub failed_puts: u64,
    /// From restarting the killed member to the cluster being whole again
    /// (every member agrees on the leader and replicates a put), in seconds.
    pub rejoin_secs: f64,
    /// Puts acknowledged around the trial (before the kill, and the first
    /// after it) that a linearizable read found missing afterwards.
    pub lost: u64,
    pub acknowledged: u64,
}

/// Runs trial `n` on `cluster`, which must be ready or become so.
///
/// # Errors
/// When the cluster is not ready before the kill, no put succeeds within
/// [`FAILOVER_DEADLINE`], or the killed member cannot be restarted or does
/// not rejoin within [`READY_DEADLINE`].
pub async fn trial(cluster: &mut Cluster, n: usize, probe: Probe) -> anyhow::Result<Trial> {
    let side = cluster.side;
    let leader = cluster
        .wait_ready(READY_DEADLINE)
        .await
        .context("before the kill")?;
    let killed = cluster.members[leader].name.clone();
    let prefix = format!("bench/failover/{side}-{n}/");
    let value = value();

    // Writes acknowledged before the kill, one through every member; they
    // also open the survivors' connections, so the probe pays no connect.
    let mut acknowledged = Vec::new();
    let mut conns = Vec::new();
    for i in 0..cluster.members.len() {
        let mut c = cluster.member_target(i).connect(0).await?;
        let key = format!("{prefix}before/{}", cluster.members[i].name);
        c.put(&key, &value)
            .await
            .with_context(|| format!("put through {} before the kill", cluster.members[i].name))?;
        acknowledged.push(key);
        if i != leader {
            conns.push(c);
        }
    }

    let killed_id = cluster.leader_id(leader).await?;
    let survivor_addrs: Vec<String> = (0..cluster.members.len())
        .filter(|&i| i != leader)
        .map(|i| cluster.members[i].client_addr(side))
        .collect();

    eprintln!("   {side} trial {n}: killing leader {killed}");
    let killed_at = Instant::now();
    cluster.kill(leader).await?;
    // Meanwhile, when does a survivor first name a new leader?
    let mut elected = tokio::spawn(async move {
        let mut tick = tokio::time::interval(probe.every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while killed_at.elapsed() < FAILOVER_DEADLINE {
            tick.tick().await;
            for addr in &survivor_addrs {
                if let Ok(Some(l)) = cluster::leader_seen_by(side, addr).await {
                    if l != killed_id {
                        return Some(killed_at.elapsed());
                    }
                }
            }
        }
        None
    });
    let mut attempts = JoinSet::new();
    let mut tick = tokio::time::interval(probe.every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let deadline = tokio::time::Instant::from_std(killed_at + FAILOVER_DEADLINE);
    let mut started = 0usize;
    let mut failed_puts = 0u64;
    let (key, failover) = loop {
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => {
                anyhow::bail!("no put succeeded within {FAILOVER_DEADLINE:?} of killing {killed} ({failed_puts} failed)");
            }
            _ = tick.tick() => {
                let mut c = conns[started % conns.len()].clone();
                let key = format!("{prefix}after/{started}");
                let (value, timeout) = (value.clone(), probe.timeout);
                attempts.spawn(async move {
                    let ok = c.put_within(&key, &value, timeout).await.is_ok();
                    (key, ok, Instant::now())
                });
                started += 1;
            }
            Some(done) = attempts.join_next() => {
                let (key, ok, at) = done.context("a put task panicked")?;
                if ok {
                    break (key, at.duration_since(killed_at));
                }
                failed_puts += 1;
            }
        }
    };
    // Puts still in flight may or may not land; only acknowledged ones count.
    attempts.abort_all();
    acknowledged.push(key);
    // A put succeeded, so a leader was elected: one more poll should see it.
    let seen = tokio::time::timeout(Duration::from_secs(5), &mut elected).await;
    elected.abort();
    let elected = match seen {
        Ok(Ok(e)) => e,
        _ => None,
    };

    let new_leader = cluster
        .leader()
        .await
        .ok()
        .map(|i| cluster.members[i].name.clone());
    eprintln!(
        "   {side} trial {n}: leader seen after {elected:?}, first put after {:.0} ms; new leader {new_leader:?}; restarting {killed}",
        failover.as_secs_f64() * 1000.0
    );
    let restarted_at = Instant::now();
    cluster.start(leader)?;
    cluster
        .wait_ready(READY_DEADLINE)
        .await
        .with_context(|| format!("after restarting {killed}"))?;
    let rejoin = restarted_at.elapsed();

    let mut reader = cluster.target().connect(0).await?;
    let mut lost = 0;
    for key in &acknowledged {
        // A failed read is retried: only a key still missing counts as lost.
        let mut found = false;
        for _ in 0..5 {
            if reader.get(key, Read::Default).await.is_ok() {
                found = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        if !found {
            eprintln!("   {side} trial {n}: acknowledged put {key} not found afterwards");
            lost += 1;
        }
    }
    Ok(Trial {
        killed,
        new_leader,
        failover_ms: failover.as_secs_f64() * 1000.0,
        elected_ms: elected.map(|e| e.as_secs_f64() * 1000.0),
        failed_puts,
        rejoin_secs: rejoin.as_secs_f64(),
        lost,
        acknowledged: acknowledged.len() as u64,
    })
}
