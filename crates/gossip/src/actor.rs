//! The owner task of the protocol state: the foca instance, its timers and
//! the member table. Everything else talks to it through [`Input`] on a
//! bounded channel, with replies on oneshots. It reads UDP itself; it never
//! waits on the network: foca's [`Runtime`] here only `try_send`s packets to
//! the UDP writer task (a full queue drops the packet, as a lossy network
//! would) and queues timers and notifications that the task handles right
//! after each foca call.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use foca::{Foca, Notification, OwnedNotification, PostcardCodec, Runtime, Timer};
use foca_rand::rngs::StdRng;
use foca_rand::RngExt;
use tokio::net::UdpSocket;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::encryption::Encryption;
use crate::error::GossipError;
use crate::fact::{Fact, FactHandler};
use crate::identity::Ident;
use crate::member::{MemberEvent, MemberList, MemberStatus, Tags};
use crate::push_pull::{self, PushPull};
use crate::table::{lock, Table};
use crate::vivaldi::{self, Outcome, Vivaldi};

pub(crate) type FocaInstance = Foca<Ident, PostcardCodec, StdRng, FactHandler>;

/// What others ask of the owner task.
pub(crate) enum Input {
    /// A peer's state from an exchange we started; `announce`: also say
    /// hello over UDP (a join).
    Merge { remote: PushPull, announce: bool },
    /// A peer started an exchange: answer with our state (`None` once we
    /// left), then merge theirs; or refuse it with the reason (a name held
    /// by another alive node).
    PushPull {
        remote: PushPull,
        reply: oneshot::Sender<Result<Option<PushPull>, String>>,
    },
    /// Our state, to start an exchange with (`None` once we left).
    LocalState {
        reply: oneshot::Sender<Option<PushPull>>,
    },
    /// Announce new tags.
    SetTags(Tags),
    /// Gossip our leave intent; answers how many others are alive.
    LeaveIntent { reply: oneshot::Sender<usize> },
    /// How many facts foca still has to send.
    Backlog { reply: oneshot::Sender<usize> },
    /// Leave foca's pool (declare ourselves down to a few members).
    LeaveCluster { reply: oneshot::Sender<()> },
    /// Gossip a leave intent for a member (a failed one becomes left, an
    /// alive one leaving until it refutes); `prune`: forget it everywhere.
    ForceLeave {
        node: String,
        prune: bool,
        reply: oneshot::Sender<Result<(), GossipError>>,
    },
}

/// foca's gateway to the world: packets go to the writer's bounded queue,
/// timers and notifications to vectors the owner drains after the call.
struct QueueRuntime<'a> {
    out: &'a mpsc::Sender<(SocketAddr, Bytes)>,
    timers: &'a mut Vec<(Duration, Timer<Ident>)>,
    notes: &'a mut Vec<OwnedNotification<Ident>>,
}

impl Runtime<Ident> for QueueRuntime<'_> {
    fn notify(&mut self, notification: Notification<'_, Ident>) {
        self.notes.push(notification.to_owned());
    }

    fn send_to(&mut self, to: Ident, data: &[u8]) {
        if self
            .out
            .try_send((to.addr, Bytes::copy_from_slice(data)))
            .is_err()
        {
            tracing::debug!(to = ?to, "gossip send queue full; packet dropped");
        }
    }

    fn submit_after(&mut self, event: Timer<Ident>, after: Duration) {
        self.timers.push((after, event));
    }
}

/// The settings the owner task needs after start.
pub(crate) struct Settings {
    pub(crate) reconnect_timeout: Duration,
    pub(crate) tombstone_timeout: Duration,
    pub(crate) push_pull_interval: Duration,
    pub(crate) io_timeout: Duration,
    pub(crate) max_packet: usize,
    /// How often a coordinate ping goes to a random member (the probe
    /// interval).
    pub(crate) coordinate_interval: Duration,
    /// Whether to send coordinate pings at all.
    pub(crate) coordinates: bool,
    /// Tests only: coordinate packets to members of these datacenters
    /// are held this long (`GossipConfig::coordinate_delay`).
    pub(crate) coordinate_delay: std::collections::BTreeMap<String, Duration>,
}

/// Delayed coordinate packets waiting at once, at most (tests only: see
/// `GossipConfig::coordinate_delay`); more are dropped, as a full send
/// queue drops them.
const MAX_DELAYED: usize = 64;

/// The owner task's state.
pub(crate) struct Actor {
    pub(crate) foca: FocaInstance,
    pub(crate) table: Arc<Mutex<Table>>,
    pub(crate) settings: Settings,
    /// `None`: gossip is plain text.
    pub(crate) encryption: Option<Arc<Encryption>>,
    pub(crate) tags: Tags,
    /// The version of our latest tag announcement.
    pub(crate) version: u64,
    pub(crate) out: mpsc::Sender<(SocketAddr, Bytes)>,
    /// To ourselves, for the exchanges we spawn (weak: never keeps us up).
    pub(crate) input: mpsc::WeakSender<Input>,
    pub(crate) members: watch::Sender<MemberList>,
    pub(crate) events: broadcast::Sender<MemberEvent>,
    pub(crate) rng: StdRng,
    pub(crate) tasks: TaskTracker,
    pub(crate) stop: CancellationToken,
    /// Due timers: (deadline, submission order, timer).
    pub(crate) timers: BinaryHeap<Reverse<(Instant, u64, Timer<Ident>)>>,
    pub(crate) seq: u64,
    pub(crate) pending_timers: Vec<(Duration, Timer<Ident>)>,
    pub(crate) pending_notes: Vec<OwnedNotification<Ident>>,
    /// The member-list version last published.
    pub(crate) sent_version: u64,
    pub(crate) next_push_pull: Instant,
    pub(crate) leaving: bool,
    pub(crate) left: bool,
    /// This member's network coordinate and its timed pings (`vivaldi`).
    pub(crate) vivaldi: Vivaldi,
    pub(crate) next_coordinate_ping: Instant,
    /// Coordinate packets held by a test delay right now.
    pub(crate) delayed: Arc<AtomicUsize>,
}

impl Actor {
    /// Runs the protocol until `stop`: UDP in, inputs, timers, housekeeping.
    pub(crate) async fn run_gossip(
        mut self,
        socket: Arc<UdpSocket>,
        mut input: mpsc::Receiver<Input>,
    ) {
        let own = self.own_meta();
        self.broadcast_own(&own);
        // Room for a sealed packet, and one byte more to tell an oversized one.
        let mut buf = vec![0u8; self.settings.max_packet + crate::keyring::OVERHEAD + 1];
        let mut tick = tokio::time::interval(self.tick_period());
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let next_timer = self.timers.peek().map(|Reverse((at, _, _))| *at);
            // Unbiased: a flood of packets must not starve timers or inputs.
            tokio::select! {
                () = self.stop.cancelled() => break,
                () = tokio::time::sleep_until(next_timer.unwrap_or_else(Instant::now)), if next_timer.is_some() => {
                    self.fire_timers();
                }
                Some(msg) = input.recv() => self.handle_input(msg),
                received = socket.recv_from(&mut buf) => match received {
                    Ok((len, from)) => self.handle_packet(&buf[..len], from),
                    Err(error) => tracing::debug!(%error, "receiving gossip"),
                },
                _ = tick.tick() => self.housekeeping(),
            }
        }
        tracing::debug!("gossip owner task stopped");
    }

    fn tick_period(&self) -> Duration {
        let s = &self.settings;
        (s.reconnect_timeout
            .min(s.tombstone_timeout)
            .min(Duration::from_secs(4))
            / 4)
        .max(Duration::from_millis(50))
    }

    /// Calls foca with our runtime, then absorbs what it produced.
    fn step(
        &mut self,
        what: &'static str,
        call: impl FnOnce(&mut FocaInstance, &mut QueueRuntime<'_>) -> Result<(), foca::Error>,
    ) {
        let mut runtime = QueueRuntime {
            out: &self.out,
            timers: &mut self.pending_timers,
            notes: &mut self.pending_notes,
        };
        if let Err(error) = call(&mut self.foca, &mut runtime) {
            tracing::debug!(%error, what, "foca refused");
        }
        self.absorb();
    }

    /// Schedules foca's timers, applies its notifications to the table,
    /// answers what the table asks of us, then publishes the changes.
    fn absorb(&mut self) {
        let now = Instant::now();
        for (after, timer) in self.pending_timers.drain(..) {
            self.seq += 1;
            self.timers.push(Reverse((now + after, self.seq, timer)));
        }
        let notes = std::mem::take(&mut self.pending_notes);
        let mut renewed = None;
        let refute = {
            let mut table = lock(&self.table);
            for note in notes {
                match note {
                    OwnedNotification::MemberUp(id) => table.set_live(&id, true, now),
                    OwnedNotification::MemberDown(id) => table.set_live(&id, false, now),
                    OwnedNotification::Rename(_, new) => table.rename(&new, now),
                    OwnedNotification::Rejoin(id) => renewed = Some(id),
                    OwnedNotification::Active => tracing::debug!("in contact with the pool"),
                    OwnedNotification::Idle => tracing::debug!("no other member is alive"),
                    OwnedNotification::Defunct => {
                        if !self.left {
                            tracing::warn!("this member was declared down and cannot rejoin");
                        }
                    }
                }
            }
            table.take_refute()
        };
        if let Some(id) = renewed {
            tracing::info!(
                generation = id.generation,
                "declared failed while running; rejoined under a new generation"
            );
            self.reannounce();
        } else if refute && !self.leaving {
            tracing::info!("another member claimed we are leaving; refuting");
            self.reannounce();
        }
        self.flush(now);
    }

    /// Publishes the table's changes: the member list and the events.
    fn flush(&mut self, now: Instant) {
        let mut table = lock(&self.table);
        table.publish(now);
        let events = table.take_events();
        let snapshot = (table.version() != self.sent_version).then(|| table.snapshot());
        drop(table);
        if let Some(snapshot) = snapshot {
            self.sent_version = snapshot.version;
            self.members.send_replace(snapshot);
        }
        for event in events {
            // No subscriber is fine.
            let _ = self.events.send(event);
        }
    }

    fn own_meta(&self) -> Fact {
        Fact::Meta {
            id: self.foca.identity().clone(),
            version: self.version,
            tags: self.tags.clone(),
        }
    }

    /// Announces our tags again under a new version (after a tag change, a
    /// renewed identity or a false leave intent).
    fn reannounce(&mut self) {
        self.version += 1;
        let id = self.foca.identity().clone();
        lock(&self.table).set_local(&id, self.version, &self.tags);
        let own = self.own_meta();
        self.broadcast_own(&own);
    }

    /// Queues a fact about ourselves for gossip.
    fn broadcast_own(&mut self, fact: &Fact) {
        lock(&self.table).expect_own_fact(true);
        let queued = self.foca.add_broadcast(&fact.encode());
        lock(&self.table).expect_own_fact(false);
        if let Err(error) = queued {
            tracing::warn!(%error, "queueing our own gossip fact");
        }
    }

    fn handle_packet(&mut self, data: &[u8], from: SocketAddr) {
        // Once left we stay down: feeding foca would let it rejoin.
        if self.left {
            return;
        }
        let opened;
        let data = match &self.encryption {
            None => data,
            Some(enc) => match enc.incoming_packet(data) {
                Ok(plain) => {
                    opened = plain;
                    &opened[..]
                }
                Err(reason) => {
                    enc.note_drop(from.ip(), "a gossip packet", &reason);
                    return;
                }
            },
        };
        if let Some((&vivaldi::MARKER, body)) = data.split_first() {
            self.handle_coordinate(body, from);
            return;
        }
        self.step("packet", |foca, rt| foca.handle_data(data, rt));
    }

    /// A coordinate ping (answered) or pong (a round-trip sample).
    fn handle_coordinate(&mut self, body: &[u8], from: SocketAddr) {
        let own = self.foca.identity().name.clone();
        let table = &self.table;
        let outcome = self
            .vivaldi
            .handle(&own, body, from, Instant::now(), |name| {
                lock(table).get(name).is_some()
            });
        match outcome {
            Outcome::Reply(to, peer, packet) => self.send_coordinate(to, &peer, packet),
            Outcome::Sampled(rtt) => tracing::trace!(?rtt, "coordinate sample"),
            Outcome::Nothing => {}
        }
    }

    /// Queues a packet of our own for the writer (dropped when full, as
    /// foca's are).
    fn send_raw(&self, to: SocketAddr, packet: Vec<u8>) {
        if self.out.try_send((to, Bytes::from(packet))).is_err() {
            tracing::debug!(%to, "gossip send queue full; coordinate packet dropped");
        }
    }

    /// Sends a coordinate packet to member `peer` at `to`: at once, or
    /// after the test delay configured for its datacenter (in a task of
    /// its own, at most `MAX_DELAYED` waiting; the owner never waits).
    fn send_coordinate(&self, to: SocketAddr, peer: &str, packet: Vec<u8>) {
        let delay = if self.settings.coordinate_delay.is_empty() {
            None
        } else {
            lock(&self.table)
                .datacenter_of(peer)
                .and_then(|dc| self.settings.coordinate_delay.get(&dc).copied())
        };
        let Some(delay) = delay else {
            return self.send_raw(to, packet);
        };
        if self.delayed.fetch_add(1, Ordering::Relaxed) >= MAX_DELAYED {
            self.delayed.fetch_sub(1, Ordering::Relaxed);
            tracing::debug!(%to, "too many delayed coordinate packets; dropped");
            return;
        }
        let out = self.out.clone();
        let delayed = Arc::clone(&self.delayed);
        let stop = self.stop.clone();
        self.tasks.spawn(async move {
            tokio::select! {
                () = stop.cancelled() => {}
                () = tokio::time::sleep(delay) => {
                    let _ = out.try_send((to, Bytes::from(packet)));
                }
            }
            delayed.fetch_sub(1, Ordering::Relaxed);
        });
    }

    /// Sends a coordinate ping to a random alive member when one is due,
    /// and forgets the coordinates of members no longer in the pool.
    fn coordinate_round(&mut self, now: Instant, others: &[Ident]) {
        if now < self.next_coordinate_ping {
            return;
        }
        self.next_coordinate_ping = now + self.settings.coordinate_interval;
        let table = &self.table;
        self.vivaldi
            .retain_members(|name| lock(table).get(name).is_some());
        if others.is_empty() || !self.settings.coordinates {
            return;
        }
        let peer = &others[self.rng.random_range(0..others.len())];
        let own = self.foca.identity().name.clone();
        let packet = self.vivaldi.ping(&own, &peer.name, peer.addr, now);
        self.send_coordinate(peer.addr, &peer.name, packet);
    }

    fn fire_timers(&mut self) {
        let now = Instant::now();
        while let Some(Reverse((at, _, _))) = self.timers.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((_, _, timer))) = self.timers.pop() else {
                break;
            };
            self.step("timer", |foca, rt| foca.handle_timer(timer, rt));
        }
    }

    fn handle_input(&mut self, input: Input) {
        match input {
            Input::Merge { remote, announce } => self.merge(remote, announce),
            Input::PushPull { remote, reply } => {
                if let Some(reason) = self.name_conflict(&remote) {
                    tracing::error!(peer = %remote.from.addr, "{reason}");
                    let _ = reply.send(Err(reason));
                    return;
                }
                let ours = self.local_state();
                if ours.is_some() {
                    self.merge(remote, false);
                }
                let _ = reply.send(Ok(ours));
            }
            Input::LocalState { reply } => {
                let _ = reply.send(self.local_state());
            }
            Input::SetTags(tags) => {
                if self.left || tags == self.tags {
                    return;
                }
                self.tags = tags;
                self.reannounce();
                self.step("set tags", |foca, rt| foca.gossip(rt));
            }
            Input::LeaveIntent { reply } => {
                if !self.leaving && !self.left {
                    self.leaving = true;
                    lock(&self.table).set_local_status(MemberStatus::Leaving);
                    let intent = Fact::Leave {
                        id: self.foca.identity().clone(),
                    };
                    self.broadcast_own(&intent);
                    tracing::info!("leaving the gossip pool");
                    self.step("leave intent", |foca, rt| foca.gossip(rt));
                }
                let others = if self.left {
                    0
                } else {
                    lock(&self.table).alive_others().len()
                };
                let _ = reply.send(others);
            }
            Input::Backlog { reply } => {
                let _ = reply.send(self.foca.custom_broadcast_backlog());
            }
            Input::LeaveCluster { reply } => {
                if !self.left {
                    // Set first: foca reports itself defunct during the call.
                    self.left = true;
                    lock(&self.table).set_local_status(MemberStatus::Left);
                    self.step("leave", |foca, rt| foca.leave_cluster(rt));
                    self.flush(Instant::now());
                    tracing::info!("left the gossip pool");
                }
                let _ = reply.send(());
            }
            Input::ForceLeave { node, prune, reply } => {
                let _ = reply.send(self.force_leave(node, prune));
            }
        }
    }

    /// Serf's `forceLeave`: a leave intent for `node` as if it had sent
    /// one, so a failed member becomes left and an alive one leaving (it
    /// refutes the intent and is alive again, as in Serf). With `prune` a
    /// member that is not alive is also forgotten, here and, by a gossiped
    /// fact, everywhere; an alive member is never pruned (it would be
    /// listed again at once; Consul's docs say so of an alive agent).
    fn force_leave(&mut self, node: String, prune: bool) -> Result<(), GossipError> {
        let found = lock(&self.table).get(&node);
        let Some((status, id)) = found else {
            return Err(GossipError::UnknownMember { node });
        };
        if matches!(status, MemberStatus::Alive | MemberStatus::Failed) {
            tracing::info!(member = %node, %status, "forcing a member to leave");
            if let Err(error) = self
                .foca
                .add_broadcast(&Fact::Leave { id: id.clone() }.encode())
            {
                tracing::warn!(%error, "queueing a forced leave");
            }
        }
        if prune && status != MemberStatus::Alive {
            tracing::info!(member = %node, "pruning a member from the member list");
            if let Err(error) = self.foca.add_broadcast(&Fact::Prune { id }.encode()) {
                tracing::warn!(%error, "queueing a prune");
            }
        }
        self.step("force leave", |foca, rt| foca.gossip(rt));
        self.flush(Instant::now());
        Ok(())
    }

    /// Why a peer's state must not be merged: its sender claims the name
    /// of an alive member (this one included) that has another node ID. A
    /// restart keeps its node ID (it is kept in the data dir), so this is
    /// a second node under a name already in use, which would otherwise
    /// replace the first in the member list and the catalog. The reason is
    /// Consul's refusal of such a node (`Node name … is reserved by node …`).
    fn name_conflict(&self, remote: &PushPull) -> Option<String> {
        let name = &remote.from.name;
        let theirs = remote.facts.iter().find_map(|f| match f {
            Fact::Meta { id, tags, .. } if *id == remote.from => Some(tags.node_id.as_str()),
            _ => None,
        })?;
        let (holder, node_id) = if *name == self.foca.identity().name {
            (self.foca.identity().clone(), self.tags.node_id.clone())
        } else {
            lock(&self.table).alive_node_id(name)?
        };
        (!theirs.is_empty() && !node_id.is_empty() && theirs != node_id).then(|| {
            format!(
                "Node name {name} is reserved by node {node_id} with name {name} ({})",
                holder.addr.ip()
            )
        })
    }

    /// Our full state for a push/pull exchange; `None` once we left.
    fn local_state(&self) -> Option<PushPull> {
        if self.left {
            return None;
        }
        Some(PushPull {
            from: self.foca.identity().clone(),
            members: self.foca.iter_membership_state().cloned().collect(),
            facts: lock(&self.table).facts(),
        })
    }

    /// Takes in a peer's full state: foca's membership, then its facts.
    fn merge(&mut self, remote: PushPull, announce: bool) {
        if self.left || remote.from.name == self.foca.identity().name {
            return;
        }
        let PushPull {
            from,
            members,
            facts,
        } = remote;
        tracing::debug!(peer = ?from, members = members.len(), facts = facts.len(), "merging peer state");
        let down: Vec<Ident> = members
            .iter()
            .filter(|m| m.state() == foca::State::Down)
            .map(|m| m.id().clone())
            .collect();
        let updates = members
            .into_iter()
            .chain(std::iter::once(foca::Member::alive(from.clone())));
        self.step("merge", |foca, rt| foca.apply_many(updates, true, rt));
        {
            let now = Instant::now();
            let mut table = lock(&self.table);
            for id in &down {
                table.learn_down(id, now);
            }
        }
        for fact in &facts {
            if let Err(error) = self.foca.add_broadcast(&fact.encode()) {
                tracing::debug!(%error, "peer fact refused");
            }
        }
        if announce {
            self.step("announce", |foca, rt| foca.announce(from, rt));
        }
        self.absorb();
    }

    fn housekeeping(&mut self) {
        let now = Instant::now();
        let (ask, others) = {
            let mut table = lock(&self.table);
            table.reap(
                now,
                self.settings.reconnect_timeout,
                self.settings.tombstone_timeout,
            );
            (table.missing_tags(now), table.alive_others())
        };
        if !self.left {
            for id in ask {
                tracing::debug!(member = ?id, "no tags yet; asking the member");
                self.spawn_push_pull(id.addr);
            }
            if now >= self.next_push_pull && !others.is_empty() {
                // Jittered so that members started together do not all
                // exchange at once.
                let interval = self.settings.push_pull_interval;
                let jitter = self.rng.random_range(0..=interval.as_millis() / 4);
                self.next_push_pull =
                    now + interval + Duration::from_millis(u64::try_from(jitter).unwrap_or(0));
                let peer = &others[self.rng.random_range(0..others.len())];
                self.spawn_push_pull(peer.addr);
            }
            self.coordinate_round(now, &others);
        }
        self.flush(now);
    }

    /// Exchanges full state with `peer` in a task of its own; the answer
    /// comes back as [`Input::Merge`].
    fn spawn_push_pull(&self, peer: SocketAddr) {
        let (Some(ours), Some(input)) = (self.local_state(), self.input.upgrade()) else {
            return;
        };
        let timeout = self.settings.io_timeout;
        let stop = self.stop.clone();
        let enc = self.encryption.clone();
        self.tasks.spawn(
            async move {
                tokio::select! {
                    () = stop.cancelled() => {}
                    exchanged = push_pull::exchange(peer, &ours, timeout, enc.as_deref()) => match exchanged {
                        Ok(remote) => {
                            let _ = input.send(Input::Merge { remote, announce: false }).await;
                        }
                        Err(error) => tracing::debug!(%peer, %error, "push/pull failed"),
                    },
                }
            }
            .in_current_span(),
        );
    }
}

/// Sends what foca queued, until `stop` or until the owner task is gone.
pub(crate) async fn run_udp_writer(
    socket: Arc<UdpSocket>,
    mut out: mpsc::Receiver<(SocketAddr, Bytes)>,
    encryption: Option<Arc<Encryption>>,
    stop: CancellationToken,
) {
    loop {
        let (to, data) = tokio::select! {
            () = stop.cancelled() => break,
            next = out.recv() => match next {
                Some(packet) => packet,
                None => break,
            },
        };
        let sealed;
        let data = match &encryption {
            Some(enc) => {
                sealed = enc.outgoing_packet(&data);
                &sealed[..]
            }
            None => &data[..],
        };
        if let Err(error) = socket.send_to(data, to).await {
            tracing::debug!(%to, %error, "sending gossip");
        }
    }
}
