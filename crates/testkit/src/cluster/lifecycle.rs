//! A node's process over its life: SIGKILL, SIGTERM, SIGSTOP and SIGCONT
//! by PID, restarts on the same data dir, the whole cluster stopped and
//! started again, and the final [`Cluster::shutdown`] every test ends with.
//! Tracks each node's [`NodeState`] so other calls ask only nodes that are
//! up. Never signals a process it did not start.

use std::process::ExitStatus;
use std::time::Duration;

use super::{Cluster, Node, NodeState, EXIT_WITHIN, TAIL_LINES};
use crate::{KitError, Signal};

impl Cluster {
    /// SIGKILL by PID; the node is down until restarted.
    ///
    /// # Errors
    /// As [`AgentProcess::kill9`](crate::AgentProcess::kill9).
    pub fn kill9(&mut self, name: &str) -> Result<ExitStatus, KitError> {
        let node = self.node_mut(name)?;
        if node.state == NodeState::Paused {
            node.agent.signal(Signal::Cont)?;
        }
        let status = node.agent.kill9()?;
        node.state = NodeState::Down;
        tracing::info!(node = name, "killed (SIGKILL)");
        Ok(status)
    }

    /// SIGTERM by PID, then waits (15 s) for the exit; the node is down.
    ///
    /// # Errors
    /// As [`AgentProcess::signal`](crate::AgentProcess::signal), or `Timeout`.
    pub async fn terminate(&mut self, name: &str) -> Result<ExitStatus, KitError> {
        let node = self.node_mut(name)?;
        node.agent.signal(Signal::Term)?;
        let status = node.agent.wait_exit_async(EXIT_WITHIN).await?;
        node.state = NodeState::Down;
        Ok(status)
    }

    /// Waits for a node to exit on its own (after `leave`); it is down.
    ///
    /// # Errors
    /// `Timeout` when it still runs after `within`.
    pub async fn wait_exit(
        &mut self,
        name: &str,
        within: Duration,
    ) -> Result<ExitStatus, KitError> {
        let node = self.node_mut(name)?;
        let status = node.agent.wait_exit_async(within).await?;
        node.state = NodeState::Down;
        Ok(status)
    }

    /// SIGSTOP: the process stays, frozen; the cluster stops asking it.
    ///
    /// # Errors
    /// As [`AgentProcess::signal`](crate::AgentProcess::signal).
    pub fn pause(&mut self, name: &str) -> Result<(), KitError> {
        let node = self.node_mut(name)?;
        node.agent.signal(Signal::Stop)?;
        node.state = NodeState::Paused;
        Ok(())
    }

    /// SIGHUP: the node loads its config files again (certificates too).
    ///
    /// # Errors
    /// As [`AgentProcess::signal`](crate::AgentProcess::signal).
    pub fn hangup(&mut self, name: &str) -> Result<(), KitError> {
        self.node_mut(name)?.agent.signal(Signal::Hup)
    }

    /// SIGCONT after [`pause`](Self::pause).
    ///
    /// # Errors
    /// As [`AgentProcess::signal`](crate::AgentProcess::signal).
    pub fn resume(&mut self, name: &str) -> Result<(), KitError> {
        let node = self.node_mut(name)?;
        node.agent.signal(Signal::Cont)?;
        node.state = NodeState::Up;
        Ok(())
    }

    /// Starts a down node again on its data dir and config file, and waits
    /// until it serves HTTP (not until it rejoined: wait for that).
    ///
    /// # Errors
    /// As [`AgentProcess::restart`](crate::AgentProcess::restart).
    pub async fn restart(&mut self, name: &str) -> Result<Duration, KitError> {
        let node = self.node_mut(name)?;
        let took = node.agent.restart().await?;
        node.state = NodeState::Up;
        tracing::info!(node = name, "restarted");
        Ok(took)
    }

    /// SIGTERM to every node that is up, all at once, and waits for each to
    /// exit 0: the whole cluster stopped as an operator would.
    ///
    /// # Errors
    /// `UncleanShutdown` naming the first node that did not exit 0 in time.
    pub async fn stop_all(&mut self) -> Result<(), KitError> {
        for node in &mut self.nodes {
            if node.state == NodeState::Paused {
                node.agent.signal(Signal::Cont)?;
                node.state = NodeState::Up;
            }
            if node.state == NodeState::Up {
                node.agent.signal(Signal::Term)?;
            }
        }
        for node in &mut self.nodes {
            if node.state != NodeState::Up {
                continue;
            }
            let exited = node.agent.wait_exit_async(EXIT_WITHIN).await;
            node.state = NodeState::Down;
            match exited {
                Ok(status) if status.success() => {}
                Ok(status) => {
                    return Err(KitError::UncleanShutdown {
                        name: node.name.clone(),
                        why: format!("it exited with {status} on SIGTERM"),
                        log: node.agent.log_tail(TAIL_LINES),
                    })
                }
                Err(e) => {
                    return Err(KitError::UncleanShutdown {
                        name: node.name.clone(),
                        why: e.to_string(),
                        log: node.agent.log_tail(TAIL_LINES),
                    })
                }
            }
        }
        tracing::info!("every node stopped (SIGTERM)");
        Ok(())
    }

    /// Spawns every down node at once, then waits until each serves HTTP.
    ///
    /// # Errors
    /// As [`AgentProcess::respawn`](crate::AgentProcess::respawn) and [`AgentProcess::wait_ready`](crate::AgentProcess::wait_ready).
    pub async fn start_all(&mut self) -> Result<(), KitError> {
        let mut spawned = Vec::new();
        for (i, node) in self.nodes.iter_mut().enumerate() {
            if node.state == NodeState::Down {
                node.agent.respawn()?;
                node.state = NodeState::Up;
                spawned.push(i);
            }
        }
        for i in spawned {
            self.nodes[i].agent.wait_ready().await?;
        }
        tracing::info!("every node started again");
        Ok(())
    }

    /// SIGTERM to every node still up (paused ones are resumed first), all
    /// at once, each expected to exit 0 within 15 s with no task outliving
    /// its deadline. Every cluster test ends with this.
    ///
    /// # Errors
    /// The first node's `UncleanShutdown`, naming the others that failed.
    pub async fn shutdown(mut self) -> Result<(), KitError> {
        let mut tasks = tokio::task::JoinSet::new();
        let mut held = Vec::new();
        for node in std::mem::take(&mut self.nodes) {
            let Node {
                name,
                mut agent,
                state,
                lo,
                ..
            } = node;
            if state == NodeState::Paused {
                agent.signal(Signal::Cont)?;
            }
            if state != NodeState::Down {
                tasks.spawn(async move { (name, agent.shutdown().await) });
            }
            // The address stays ours until every agent has exited.
            held.push(lo);
        }
        let mut errors = Vec::new();
        while let Some(done) = tasks.join_next().await {
            match done {
                Ok((_, Ok(()))) => {}
                Ok((name, Err(e))) => errors.push((name, e)),
                Err(e) => errors.push((
                    "?".into(),
                    KitError::Partition(format!("a shutdown task failed: {e}")),
                )),
            }
        }
        drop(held);
        let others: Vec<String> = errors.iter().skip(1).map(|(n, _)| n.clone()).collect();
        match errors.into_iter().next() {
            None => Ok(()),
            Some((_, e)) if others.is_empty() => Err(e),
            Some((_, e)) => Err(KitError::UncleanShutdown {
                name: format!("{} more", others.len()),
                why: format!("{e}\n(also not clean: {})", others.join(" ")),
                log: String::new(),
            }),
        }
    }
}
