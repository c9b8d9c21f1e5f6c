//! Gossip membership for Praetor: Consul's Serf LAN pool (port 8301), built
//! on [foca](https://docs.rs/foca)'s SWIM (with suspicion and infection-style
//! dissemination). This crate owns who is in the pool, what each member
//! announced (its [`Tags`]) and whether it is alive, leaving, left or
//! failed. It never writes the catalog: the agent turns [`MemberEvent`]s
//! into catalog updates.
//!
//! # Design
//!
//! - **One owner task** (`actor`) holds the foca instance, its timers and
//!   the member table. Callers send it input messages on a bounded channel
//!   and get replies on oneshots; foca's runtime only `try_send`s packets
//!   to a UDP writer task, so the SWIM loop never waits on anything.
//! - **Identities** are `name + address + generation`. foca keys members by
//!   name, so a member restarted under the same name (same or new address)
//!   replaces its previous identity: the generation is the start time in
//!   microseconds and foca's `renew` bumps it when a running member learns
//!   it was declared down, so it comes back alive at once. The member table
//!   is keyed by name and the newest generation wins.
//! - **Tags are not in the identity.** foca puts two identities in every
//!   packet header and one in every membership update; tags (a UUID, a
//!   datacenter, an RPC address, a version…) would triple that, and
//!   changing them would mean changing identity, which foca gossips as the
//!   old identity going down: a tag change would look like a failure to
//!   some members. Tags travel instead as foca *custom broadcasts*
//!   (`Fact::Meta`, newest version wins), so `set_tags` is a plain update.
//! - **Left vs failed.** foca reports a member down both when it leaves and
//!   when it dies. As Serf does, a leaving member first gossips a leave
//!   intent (`Fact::Leave`, a custom broadcast), waits for it to spread,
//!   then leaves foca; members that saw the intent list it `left`, the
//!   others `failed` until the intent reaches them. `force_leave` gossips
//!   the same intent on behalf of a failed member. A member that hears a
//!   leave intent about itself while not leaving refutes it by announcing
//!   its tags again under a newer version.
//! - **Push/pull.** On the same address over TCP, a join exchanges full
//!   state (foca's membership and every fact) with the peer, so the joiner
//!   learns every member and its tags at once (Serf's push/pull); the same
//!   exchange runs with a random member every `push_pull_interval`, and
//!   with any alive member whose tags are still unknown a second after it
//!   appeared. Frames are length-prefixed postcard, bounded in size and
//!   time. As with memberlist, news of the death of a member never known is
//!   ignored (it would resurrect members others already reaped), so a member
//!   that joins later does not list members that failed or left before.
//! - Node names must be unique: two running members with one name keep
//!   declaring each other down (as in Consul, where that is an error).
//! - Packets are foca's postcard codec; facts and push/pull frames are
//!   postcard too.
//! - **Encryption** (Consul's `encrypt`, see [`EncryptionConfig`]): with a
//!   [`Keyring`], every UDP packet and every TCP frame is sealed with
//!   AES-GCM under the primary key in memberlist's version-1 layout
//!   (version byte, 12-byte random nonce, ciphertext and tag) and opened
//!   with any installed key. What does not open is dropped, logged at most
//!   once a minute per source address: a member with another key cannot
//!   join (its push/pull is refused, naming encryption), is never listed
//!   and cannot inject anything. `verify_incoming = false` also accepts
//!   plain text and `verify_outgoing = false` sends plain text, Consul's
//!   steps for turning encryption on in a running pool. foca's packets are
//!   made smaller by the sealing overhead so that a sealed one still fits.
//! - **Key rotation** ([`Gossip::key_operation`]): Serf's key queries
//!   (list, install, use, remove) go to every alive member over TCP,
//!   sealed with the primary key so only keyring holders obey them; each
//!   member applies the change, persists its keyring file and answers
//!   with its keys (see `key_query`).
//!
//! # Failure detection timing
//!
//! See [`GossipConfig`]: every `probe_interval` (1 s) a member probes
//! another; no ack within `probe_timeout` (500 ms) starts indirect probes;
//! a member still unreachable at the next round becomes suspect and is
//! declared failed after `suspicion` (3 s) unless it refutes. On a LAN a
//! stopped member is listed failed everywhere within about 5 s. Failed
//! members are kept for `reconnect_timeout` (72 h), left members for
//! `tombstone_timeout` (24 h), then reaped ([`MemberEvent::Reap`]).

mod actor;
mod config;
mod encryption;
mod error;
mod fact;
mod identity;
mod join_addr;
mod key_query;
mod keyring;
mod member;
mod push_pull;
mod table;
mod vivaldi;

use std::collections::BinaryHeap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use foca::{Foca, PostcardCodec};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

pub use crate::config::{
    GossipConfig, DEFAULT_PORT, DEFAULT_WAN_PORT, MAX_COORDINATE_DELAY, MAX_NODE_NAME_LEN,
    WAN_SUSPICION_MULT,
};
pub use crate::encryption::{EncryptionConfig, KeyOp};
pub use crate::error::{GossipError, JoinFailure};
pub use crate::key_query::KeyResponse;
pub use crate::keyring::{
    generate_key, setup_keyring, Keyring, KeyringSetup, OpenError, KEYRING_FILE, OVERHEAD,
};
pub use crate::member::{Member, MemberEvent, MemberList, MemberStatus, Role, Tags};

use crate::actor::{Actor, Input, Settings};
use crate::encryption::Encryption;
use crate::fact::FactHandler;
use crate::identity::{clock_micros, Ident};
use crate::table::Table;

/// How many inputs may wait for the owner task.
const INPUT_QUEUE: usize = 256;
/// How many packets may wait for the UDP writer.
const SEND_QUEUE: usize = 1024;
/// How many events a slow subscriber may fall behind before it lags.
const EVENT_QUEUE: usize = 1024;

/// A running member of the gossip pool. Cheap to clone; every clone drives
/// the same member. It runs until the `stop` token given to [`Gossip::start`]
/// is cancelled.
#[derive(Clone)]
pub struct Gossip {
    inner: Arc<Inner>,
}

struct Inner {
    input: mpsc::Sender<Input>,
    /// The UDP writer's queue, to let the last packets out on leave.
    out: mpsc::WeakSender<(std::net::SocketAddr, bytes::Bytes)>,
    members: watch::Receiver<MemberList>,
    events: broadcast::Sender<MemberEvent>,
    name: String,
    io_timeout: Duration,
    /// The port a join address without one is tried on.
    join_port: u16,
    tasks: TaskTracker,
    /// `None`: gossip is plain text.
    encryption: Option<Arc<Encryption>>,
    /// This member's coordinate and the other members' (`vivaldi`).
    coordinates: Arc<Mutex<vivaldi::CoordView>>,
}

/// A seed from a node name, so members started in the same microsecond
/// still pick different random directions.
fn name_seed(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

impl Gossip {
    /// Binds UDP and TCP on `cfg.bind` and starts gossiping, alone until
    /// [`Gossip::join`]. Every task it starts ends when `stop` is cancelled
    /// (see [`Gossip::wait`]); cancelling without [`Gossip::leave`] is what a
    /// crash looks like to the others: they will list this member failed.
    ///
    /// # Errors
    ///
    /// [`GossipError::Config`] for an unusable configuration,
    /// [`GossipError::Bind`] (naming the address) when a listener cannot bind.
    pub async fn start(cfg: GossipConfig, stop: CancellationToken) -> Result<Gossip, GossipError> {
        cfg.validate()?;
        let bind_err = |proto, addr| {
            move |source| GossipError::Bind {
                proto,
                addr,
                source,
            }
        };
        // With port 0, the system picks a free UDP port whose TCP twin may be
        // taken: try a few other ports before giving up.
        let tries = if cfg.bind.port() == 0 { 16 } else { 1 };
        let mut attempt = 0;
        let (udp, bound, tcp) = loop {
            attempt += 1;
            let udp = UdpSocket::bind(cfg.bind)
                .await
                .map_err(bind_err("UDP", cfg.bind))?;
            let bound = udp.local_addr().map_err(bind_err("UDP", cfg.bind))?;
            match TcpListener::bind(bound).await {
                Ok(tcp) => break (udp, bound, tcp),
                Err(e) if attempt < tries && e.kind() == std::io::ErrorKind::AddrInUse => {}
                Err(e) => return Err(bind_err("TCP", bound)(e)),
            }
        };
        let mut advertise = cfg.advertise;
        if advertise.port() == 0 {
            advertise.set_port(bound.port());
        }
        if advertise.ip().is_unspecified() {
            advertise.set_ip(bound.ip());
        }

        let now = Instant::now();
        let id = Ident::new(cfg.node_name.clone(), advertise);
        let version = clock_micros();
        let table = Arc::new(Mutex::new(Table::new(
            id.clone(),
            version,
            cfg.tags.clone(),
            now,
        )));
        let encryption = cfg.encryption.clone().map(|e| Arc::new(Encryption::new(e)));
        let foca_config = cfg.foca_config();
        let max_packet = foca_config.max_packet_size.get();
        let foca = Foca::with_custom_broadcast(
            id,
            foca_config,
            foca_rand::make_rng(),
            PostcardCodec,
            FactHandler {
                table: Arc::clone(&table),
            },
        );

        if !cfg.coordinate_delay.is_empty() {
            tracing::warn!(
                delays = ?cfg.coordinate_delay,
                "TEST SETTING: coordinate packets to these datacenters are delayed"
            );
        }
        let vivaldi = vivaldi::Vivaldi::new(clock_micros() ^ name_seed(&cfg.node_name));
        let coordinates = Arc::clone(&vivaldi.view);
        let (input_tx, input_rx) = mpsc::channel(INPUT_QUEUE);
        let (out_tx, out_rx) = mpsc::channel(SEND_QUEUE);
        let (members_tx, members_rx) = watch::channel(table::lock(&table).snapshot());
        let (events_tx, _) = broadcast::channel(EVENT_QUEUE);
        let tasks = TaskTracker::new();
        let udp = Arc::new(udp);

        let actor = Actor {
            foca,
            table,
            settings: Settings {
                reconnect_timeout: cfg.reconnect_timeout,
                tombstone_timeout: cfg.tombstone_timeout,
                push_pull_interval: cfg.push_pull_interval,
                io_timeout: cfg.io_timeout,
                max_packet,
                coordinate_interval: cfg.probe_interval,
                coordinates: cfg.coordinates,
                coordinate_delay: cfg.coordinate_delay.clone(),
            },
            encryption: encryption.clone(),
            tags: cfg.tags.clone(),
            version,
            out: out_tx.clone(),
            input: input_tx.downgrade(),
            members: members_tx,
            events: events_tx.clone(),
            rng: foca_rand::make_rng(),
            tasks: tasks.clone(),
            stop: stop.clone(),
            timers: BinaryHeap::new(),
            seq: 0,
            pending_timers: Vec::new(),
            pending_notes: Vec::new(),
            sent_version: 1,
            next_push_pull: now + cfg.push_pull_interval,
            leaving: false,
            left: false,
            vivaldi,
            next_coordinate_ping: now,
            delayed: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
        };
        let span = tracing::info_span!("gossip", node = %cfg.node_name);
        tasks.spawn(
            actor::run_udp_writer(Arc::clone(&udp), out_rx, encryption.clone(), stop.clone())
                .instrument(span.clone()),
        );
        tasks.spawn(
            push_pull::run_push_pull_server(
                tcp,
                input_tx.clone(),
                cfg.io_timeout,
                encryption.clone(),
                cfg.node_name.clone(),
                tasks.clone(),
                stop.clone(),
            )
            .instrument(span.clone()),
        );
        tasks.spawn(actor.run_gossip(udp, input_rx).instrument(span));
        tasks.close();
        tracing::info!(
            node = %cfg.node_name,
            %bound,
            %advertise,
            encrypted = encryption.is_some(),
            "gossip started"
        );

        Ok(Gossip {
            inner: Arc::new(Inner {
                input: input_tx,
                out: out_tx.downgrade(),
                members: members_rx,
                events: events_tx,
                name: cfg.node_name,
                io_timeout: cfg.io_timeout,
                join_port: cfg.join_port,
                tasks,
                encryption,
                coordinates,
            }),
        })
    }

    /// This member's network coordinate (Vivaldi, from the round-trip
    /// times of its coordinate pings; see `vivaldi`).
    #[must_use]
    pub fn coordinate(&self) -> praetor_coordinate::Coordinate {
        vivaldi::lock(&self.inner.coordinates).own.clone()
    }

    /// The latest coordinate heard from each other member of the pool
    /// (Serf's coordinate cache), by name.
    #[must_use]
    pub fn peer_coordinates(
        &self,
    ) -> std::collections::BTreeMap<String, praetor_coordinate::Coordinate> {
        vivaldi::lock(&self.inner.coordinates).peers.clone()
    }

    /// This member as the pool sees it (alive, leaving or left).
    #[must_use]
    pub fn local(&self) -> Member {
        self.inner
            .members
            .borrow()
            .members
            .iter()
            .find(|m| m.name == self.inner.name)
            .cloned()
            .expect("the local member is always listed")
    }

    /// Every member, this one included, sorted by name; failed and left
    /// members stay listed until reaped, as in `consul members`.
    #[must_use]
    pub fn members(&self) -> Vec<Member> {
        self.inner.members.borrow().members.to_vec()
    }

    /// Every change to the member list as an event, from now on. A receiver
    /// that falls behind by more than 1024 events gets `Lagged`; consumers
    /// that must not miss state use [`Gossip::watch`].
    #[must_use]
    pub fn subscribe(&self) -> broadcast::Receiver<MemberEvent> {
        self.inner.events.subscribe()
    }

    /// The member list, republished after every change with a growing
    /// `version`: never misses the latest state, however slow the reader.
    #[must_use]
    pub fn watch(&self) -> watch::Receiver<MemberList> {
        self.inner.members.clone()
    }

    async fn call<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Input,
    ) -> Result<T, GossipError> {
        let (reply, answer) = oneshot::channel();
        self.inner
            .input
            .send(make(reply))
            .await
            .map_err(|_| GossipError::Stopped)?;
        answer.await.map_err(|_| GossipError::Stopped)
    }

    /// Joins the pool through each of `addrs` (`host`, `host:port`, `ip`,
    /// `ip:port`; the pool's `join_port` by default: 8301 on a LAN, 8302
    /// on the WAN), as `consul join`: a full state
    /// exchange over TCP with each, in parallel, each bounded by the I/O
    /// timeout. Returns how many answered.
    ///
    /// # Errors
    ///
    /// [`GossipError::Join`] naming every address and its reason when none
    /// answered, [`GossipError::NoJoinAddress`] for an empty list,
    /// [`GossipError::Left`] after [`Gossip::leave`].
    pub async fn join(&self, addrs: &[String]) -> Result<usize, GossipError> {
        if addrs.is_empty() {
            return Err(GossipError::NoJoinAddress);
        }
        let attempts = futures::future::join_all(addrs.iter().map(|a| self.join_one(a))).await;
        let mut joined = 0;
        let mut failures = Vec::new();
        for (addr, attempt) in addrs.iter().zip(attempts) {
            match attempt {
                Ok(()) => joined += 1,
                Err(JoinOne::Left) => return Err(GossipError::Left),
                Err(JoinOne::Stopped) => return Err(GossipError::Stopped),
                Err(JoinOne::Failed(reason)) => {
                    tracing::debug!(%addr, %reason, "join attempt failed");
                    failures.push(JoinFailure {
                        addr: addr.clone(),
                        reason,
                    });
                }
            }
        }
        if joined == 0 {
            return Err(GossipError::Join { failures });
        }
        tracing::info!(node = %self.inner.name, joined, tried = addrs.len(), "joined the gossip pool");
        Ok(joined)
    }

    async fn join_one(&self, target: &str) -> Result<(), JoinOne> {
        let timeout = self.inner.io_timeout;
        let resolved =
            tokio::time::timeout(timeout, join_addr::resolve(target, self.inner.join_port))
                .await
                .map_err(|_| JoinOne::Failed(format!("resolving took over {timeout:?}")))?
                .map_err(|e| JoinOne::Failed(e.to_string()))?;
        let mut last = String::new();
        for peer in resolved {
            let ours = self
                .call(|reply| Input::LocalState { reply })
                .await
                .map_err(|_| JoinOne::Stopped)?
                .ok_or(JoinOne::Left)?;
            match push_pull::exchange(peer, &ours, timeout, self.inner.encryption.as_deref()).await
            {
                Ok(remote) => {
                    self.inner
                        .input
                        .send(Input::Merge {
                            remote,
                            announce: true,
                        })
                        .await
                        .map_err(|_| JoinOne::Stopped)?;
                    return Ok(());
                }
                Err(error) => last = format!("{peer}: {error}"),
            }
        }
        Err(JoinOne::Failed(last))
    }

    /// Leaves the pool gracefully, as `consul leave`: gossips a leave intent,
    /// waits (at most half of `timeout`) for it to be passed on, then leaves
    /// foca's pool and waits (the rest of `timeout` at most) for the last
    /// packets to go out. Others list this member `left`, not failed. The
    /// member stays left until restarted; the tasks run until `stop`.
    ///
    /// # Errors
    ///
    /// [`GossipError::Stopped`] if the gossip tasks are gone.
    pub async fn leave(&self, timeout: Duration) -> Result<(), GossipError> {
        let start = Instant::now();
        let others = self.call(|reply| Input::LeaveIntent { reply }).await?;
        if others > 0 {
            let spread_by = start + timeout / 2;
            while self.call(|reply| Input::Backlog { reply }).await? > 0
                && Instant::now() < spread_by
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        self.call(|reply| Input::LeaveCluster { reply }).await?;
        let deadline = start + timeout;
        while let Some(out) = self.inner.out.upgrade() {
            if out.capacity() == out.max_capacity() || Instant::now() >= deadline {
                break;
            }
            drop(out);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(())
    }

    /// Consul's `force-leave` (Serf's `RemoveFailedNode`): gossips a leave
    /// intent for the member, so a failed member is left (reaped after the
    /// tombstone timeout instead of the reconnect timeout) and an alive one
    /// leaving until it refutes the intent, as in Serf. A member already
    /// leaving or left is fine. With `prune` (`-prune`), a member that is
    /// not alive is also removed from the member list at once, everywhere.
    ///
    /// # Errors
    ///
    /// [`GossipError::UnknownMember`] if no member has that name.
    pub async fn force_leave(&self, node: &str, prune: bool) -> Result<(), GossipError> {
        let node = node.to_string();
        self.call(|reply| Input::ForceLeave { node, prune, reply })
            .await?
    }

    /// Announces new tags to the pool (no effect once left or if unchanged).
    pub fn set_tags(&self, tags: Tags) {
        if self
            .inner
            .input
            .try_send(Input::SetTags(tags.clone()))
            .is_err()
        {
            // Full queue: hand it over from a task rather than drop it.
            let input = self.inner.input.clone();
            self.inner.tasks.spawn(async move {
                let _ = input.send(Input::SetTags(tags)).await;
            });
        }
    }

    /// Whether gossip is encrypted (a keyring is configured).
    #[must_use]
    pub fn encrypted(&self) -> bool {
        self.inner.encryption.is_some()
    }

    /// This member's keyring as it is now; `None` when gossip is not
    /// encrypted.
    #[must_use]
    pub fn keyring(&self) -> Option<Keyring> {
        self.inner.encryption.as_ref().map(|e| e.keyring())
    }

    /// How many packets and TCP frames were dropped because they did not
    /// decrypt (or were plain text while `verify_incoming` is on); 0 when
    /// gossip is not encrypted.
    #[must_use]
    pub fn undecryptable(&self) -> u64 {
        self.inner
            .encryption
            .as_ref()
            .map_or(0, |e| e.dropped.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// A keyring operation across the pool, as Serf's key queries: applied
    /// here, then sent to every alive member, whose answers are gathered
    /// within `timeout`. A member that fails or does not answer is counted
    /// in the [`KeyResponse`] (see [`KeyResponse::error`]), not an error.
    ///
    /// # Errors
    ///
    /// Nothing changed anywhere: [`GossipError::KeyringEmpty`] (listing) or
    /// [`GossipError::NoKeyring`] when gossip is not encrypted,
    /// [`GossipError::InvalidKey`] for a malformed key,
    /// [`GossipError::KeyNotInstalled`] to `use` a key not installed here,
    /// [`GossipError::RemovePrimaryKey`] to remove the primary key here.
    pub async fn key_operation(
        &self,
        op: KeyOp,
        timeout: Duration,
    ) -> Result<KeyResponse, GossipError> {
        let Some(enc) = &self.inner.encryption else {
            return Err(if op == KeyOp::List {
                GossipError::KeyringEmpty
            } else {
                GossipError::NoKeyring
            });
        };
        // A dry run on a copy: refuse before anything changes anywhere.
        let mut probe = enc.keyring();
        match &op {
            KeyOp::List => {}
            KeyOp::Install(key) => probe.install(key)?,
            KeyOp::Use(key) => probe.use_key(key)?,
            KeyOp::Remove(key) => probe.remove(key)?,
        }
        let peers = self
            .members()
            .into_iter()
            .filter(|m| m.status == MemberStatus::Alive && m.name != self.inner.name)
            .map(|m| (m.name, m.addr))
            .collect();
        Ok(key_query::run(
            enc,
            &self.inner.name,
            op,
            peers,
            self.inner.io_timeout,
            timeout,
        )
        .await)
    }

    /// Waits until every gossip task has ended (after `stop` is cancelled),
    /// so that the address can be bound again.
    pub async fn wait(&self) {
        self.inner.tasks.wait().await;
    }
}

enum JoinOne {
    Failed(String),
    Left,
    Stopped,
}
