//! Batches concurrent writes into one log entry. openraft 0.9 flushes each
//! entry before it takes the next, so one entry per write would cost one
//! fsync per write; instead, writes that arrive while a proposal is in flight
//! wait and go out together as a `Command::Batch`, sharing one fsync. Each
//! write still gets its own answer; a lone write (nothing queued, a slot
//! free) is proposed as itself, from its caller's task.

use std::sync::Arc;

use openraft::error::{ClientWriteError, RaftError};
use praetor_store::{Command, Response};
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::raft::Raft;
use crate::{ServerError, ServerMetrics};

/// Most writes in one entry.
const MAX_BATCH: usize = 1024;
/// Most bytes of values in one entry: within what one AppendEntries
/// carries (`raft::log_store::REPLICATION_BYTES`), so a batch is not an
/// entry too large for a follower to write within a heartbeat interval.
const MAX_BATCH_BYTES: usize = crate::raft::log_store::REPLICATION_BYTES;
/// Proposals in flight at once: one being flushed, one being formed.
const IN_FLIGHT: usize = 2;

type Reply = oneshot::Sender<Result<(u64, Response), ServerError>>;

/// The handle writers use; the batching task owns the queue.
#[derive(Clone)]
pub(crate) struct Proposer {
    tx: mpsc::Sender<(Command, Reply)>,
    /// The proposals in flight (`IN_FLIGHT`), shared with the batching task.
    slots: Arc<Semaphore>,
    raft: Raft,
    metrics: ServerMetrics,
    stop: CancellationToken,
}

impl Proposer {
    /// Starts the batching task (and each batch's proposal) on `tasks`;
    /// it ends when `stop` is cancelled, and writes still queued then are
    /// answered as outcome-unknown by their dropped replies.
    pub(crate) fn spawn(
        raft: Raft,
        tasks: &TaskTracker,
        stop: CancellationToken,
        metrics: ServerMetrics,
    ) -> Proposer {
        let (tx, rx) = mpsc::channel(16 * 1024);
        let slots = Arc::new(Semaphore::new(IN_FLIGHT));
        tasks.spawn(run_proposer(
            raft.clone(),
            rx,
            slots.clone(),
            tasks.clone(),
            stop.clone(),
            metrics.clone(),
        ));
        Proposer {
            tx,
            slots,
            raft,
            metrics,
            stop,
        }
    }

    /// Proposes `cmd` (in a batch with others) and waits for its answer.
    /// When nothing waits in the queue and a proposal slot is free, there
    /// is nothing to batch it with: it is proposed from the caller's task
    /// as itself, without the hops through the batching task.
    pub(crate) async fn propose(&self, cmd: Command) -> Result<(u64, Response), ServerError> {
        // Stopping: nothing more is proposed (as a closed queue answers).
        if self.stop.is_cancelled() {
            return Err(ServerError::ShuttingDown);
        }
        if self.tx.capacity() == self.tx.max_capacity() {
            if let Ok(slot) = self.slots.clone().try_acquire_owned() {
                let r = write(&self.raft, cmd, 1, &self.metrics).await;
                drop(slot);
                return r;
            }
        }
        let (done, rx) = oneshot::channel();
        // Not queued: nothing was proposed.
        self.tx
            .send((cmd, done))
            .await
            .map_err(|_| ServerError::ShuttingDown)?;
        // Queued, then dropped: it may have reached the log.
        rx.await.map_err(|_| {
            ServerError::OutcomeUnknown("the server shut down while proposing it".into())
        })?
    }
}

fn size(cmd: &Command) -> usize {
    match cmd {
        Command::KvSet { key, value, .. } => key.len() + value.len(),
        Command::KvDelete { key, .. } => key.len(),
        Command::KvDeleteTree { prefix } => prefix.len(),
        Command::Restore(bytes) => bytes.len(),
        Command::RestoreChunk { data, .. } => data.len() + 32,
        Command::RestoreCommit { .. } | Command::RestoreAbort { .. } => 32,
        Command::NodeHealth(n) => n.node.len() + n.output.len() + 64,
        Command::CatalogRegister(r) => 256 + r.node.len() + r.checks.len() * 128,
        Command::CatalogRegisterTyped {
            register: r,
            types,
            service,
        } => 256 + r.node.len() + r.checks.len() * 128 + types.len() * 64 + service.proxy.len(),
        Command::EventFire(e) => e.name.len() + e.payload.as_ref().map_or(0, String::len) + 64,
        Command::CatalogDeregister(r) => r.node.len() + r.service_id.len() + r.check_id.len(),
        Command::Batch(cmds) => cmds.iter().map(size).sum(),
        Command::CoordinateBatchUpdate(updates) => updates
            .iter()
            .map(|u| u.node.len() + u.segment.len() + u.coord.vec.len() * 8 + 32)
            .sum(),
        Command::SessionCreate(s) => 256 + s.id.len() + s.name.len() + s.node.len(),
        Command::SessionDestroy { id }
        | Command::SessionRenew { id }
        | Command::SessionExpire { id, .. } => id.len() + 16,
        Command::KvLock {
            key,
            value,
            session,
            ..
        }
        | Command::KvUnlock {
            key,
            value,
            session,
            ..
        } => key.len() + value.len() + session.len(),
        Command::Txn(ops) => ops
            .iter()
            .map(|op| match op {
                praetor_store::txn::TxnOp::Kv(k) => k.key.len() + k.value.len() + 64,
                praetor_store::txn::TxnOp::Catalog(_) => 512,
                praetor_store::txn::TxnOp::CatalogTyped(_, e) => 512 + e.service.proxy.len(),
            })
            .sum(),
        Command::Timed { cmd, .. } => size(cmd) + 8,
        Command::AutopilotSetConfig { config, .. } => {
            128 + config.redundancy_zone_tag.len() + config.upgrade_version_tag.len()
        }
        Command::Acl(c) => match c {
            praetor_store::acl::AclCommand::PolicySet { policy, .. } => 256 + policy.rules.len(),
            _ => 1024,
        },
        Command::PreparedQuery(c) => c.approx_size(),
    }
}

async fn run_proposer(
    raft: Raft,
    mut rx: mpsc::Receiver<(Command, Reply)>,
    slots: Arc<Semaphore>,
    tasks: TaskTracker,
    stop: CancellationToken,
    metrics: ServerMetrics,
) {
    // A write that would have pushed the last batch over its byte budget
    // opens the next one: a large write (a restore) goes out alone rather
    // than making one oversized entry with the small ones around it.
    let mut carried: Option<(Command, Reply)> = None;
    loop {
        let first = match carried.take() {
            Some(first) => first,
            None => tokio::select! {
                next = rx.recv() => match next {
                    Some(first) => first,
                    None => return,
                },
                () = stop.cancelled() => return,
            },
        };
        // Writes keep queueing while we wait for a slot; they join this batch.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let mut bytes = size(&first.0);
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH && bytes < MAX_BATCH_BYTES {
            match rx.try_recv() {
                Ok(next) => {
                    let more = size(&next.0);
                    if bytes + more > MAX_BATCH_BYTES {
                        carried = Some(next);
                        break;
                    }
                    bytes += more;
                    batch.push(next);
                }
                Err(_) => break,
            }
        }
        let raft = raft.clone();
        let metrics = metrics.clone();
        tasks.spawn(async move {
            propose_batch(&raft, batch, &metrics).await;
            drop(slot);
        });
    }
}

/// Stamps `cmd` with this (the leader's) wall-clock time: the store
/// measures lock-delays in it, so the time travels in the log.
fn timed(cmd: Command) -> Command {
    let at_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    Command::Timed {
        at_ms,
        cmd: Box::new(cmd),
    }
}

/// Proposes `cmd` (carrying `writes` writes) and records its commit time.
async fn write(
    raft: &Raft,
    cmd: Command,
    writes: usize,
    metrics: &ServerMetrics,
) -> Result<(u64, Response), ServerError> {
    let proposed = std::time::Instant::now();
    let r = classify(raft.client_write(timed(cmd)).await);
    if let Ok((index, _)) = &r {
        metrics.proposal_committed(writes, proposed, *index);
    }
    r
}

async fn propose_batch(raft: &Raft, mut batch: Vec<(Command, Reply)>, metrics: &ServerMetrics) {
    if batch.len() == 1 {
        if let Some((cmd, done)) = batch.pop() {
            let _ = done.send(write(raft, cmd, 1, metrics).await);
        }
        return;
    }
    let (cmds, replies): (Vec<Command>, Vec<Reply>) = batch.into_iter().unzip();
    let writes = cmds.len();
    match write(raft, Command::Batch(cmds), writes, metrics).await {
        Ok((index, Response::Batch(answers))) if answers.len() == replies.len() => {
            for (done, answer) in replies.into_iter().zip(answers) {
                let _ = done.send(Ok((index, answer)));
            }
        }
        Ok((index, other)) => {
            // A replayed entry answers Ignored; pass it on to every writer.
            for done in replies {
                let _ = done.send(Ok((index, other.clone())));
            }
        }
        Err(e) => {
            let msg = e.to_string();
            for done in replies {
                let _ = done.send(Err(match &e {
                    ServerError::NotLeader { leader } => ServerError::NotLeader { leader: *leader },
                    _ => ServerError::OutcomeUnknown(msg.clone()),
                }));
            }
        }
    }
}

fn classify(
    r: Result<
        openraft::raft::ClientWriteResponse<crate::raft::TypeConfig>,
        RaftError<u64, ClientWriteError<u64, openraft::BasicNode>>,
    >,
) -> Result<(u64, Response), ServerError> {
    match r {
        Ok(resp) => Ok((resp.log_id.index, resp.data)),
        Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
            Err(ServerError::NotLeader {
                leader: f.leader_id,
            })
        }
        // openraft answers ForwardToLeader only for entries it never
        // appended or has truncated: those are certainly not applied. Any
        // other failure (Raft stopped) may come after the entry reached a
        // quorum.
        Err(e) => Err(ServerError::OutcomeUnknown(format!("raft: {e}"))),
    }
}
