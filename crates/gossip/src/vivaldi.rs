//! Network coordinates from gossip round trips, as Serf keeps them: each
//! member holds a Vivaldi coordinate (`praetor-coordinate`) and improves
//! it with every round-trip time it measures to another member, whose
//! coordinate travels in the answer.
//!
//! foca does not say when its probes are acknowledged (and cannot carry a
//! payload in an ack, where Serf puts the coordinate), so members run a
//! small timed ping of their own on the same UDP socket, sealed like every
//! other packet: once per probe interval a member sends a [`CoordMsg::Ping`]
//! with a sequence number and its coordinate to a random alive member, which
//! answers at once with a [`CoordMsg::Pong`] carrying its own coordinate.
//! The round-trip time of the pair is the sample. The peer's coordinate is
//! also kept (`peer coordinates`, Serf's coordinate cache), which the WAN
//! pool's servers read to place other datacenters.
//!
//! On the wire a coordinate packet is one byte [`MARKER`] (0) and the
//! postcard message. A foca packet never starts with 0: it starts with its
//! header, whose first field is the sender's node name, a non-empty string
//! whose postcard length prefix is at least 1 (tested below).
//!
//! Bounded: at most [`MAX_PENDING`] pings wait for answers (each for at
//! most [`PING_TIMEOUT`]); peer coordinates are kept only for members of
//! the pool and dropped when they are reaped; a packet larger than
//! [`MAX_MESSAGE`] is not decoded.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use praetor_coordinate::{Client, Config, Coordinate};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

/// The first byte of a coordinate packet.
pub(crate) const MARKER: u8 = 0;
/// Pings waiting for their pong, at most.
pub(crate) const MAX_PENDING: usize = 64;
/// A pong later than this is not a sample (the ping is forgotten).
pub(crate) const PING_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest coordinate message decoded (a name of 128 bytes and eight
/// dimensions need about 220).
pub(crate) const MAX_MESSAGE: usize = 512;

/// A coordinate packet after its marker byte.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum CoordMsg {
    /// "Answer me": the sender's name and coordinate.
    Ping {
        seq: u64,
        from: String,
        coord: Coordinate,
    },
    /// The answer to ping `seq`, with the answering member's coordinate.
    Pong {
        seq: u64,
        from: String,
        coord: Coordinate,
    },
}

impl CoordMsg {
    /// The packet: the marker, then the message.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = vec![MARKER];
        // Serializing plain data into a Vec cannot fail.
        out.extend(postcard::to_allocvec(self).unwrap_or_default());
        out
    }

    /// The message of a packet whose marker was already taken off.
    pub(crate) fn decode(body: &[u8]) -> Option<CoordMsg> {
        if body.len() > MAX_MESSAGE {
            return None;
        }
        postcard::from_bytes(body).ok()
    }
}

/// What others may read: this member's coordinate and the latest known
/// coordinate of each other member.
#[derive(Debug, Clone)]
pub(crate) struct CoordView {
    pub(crate) own: Coordinate,
    pub(crate) peers: BTreeMap<String, Coordinate>,
}

/// The owner task's coordinate state.
pub(crate) struct Vivaldi {
    client: Client,
    next_seq: u64,
    /// Ping sequence → (peer name, peer address, sent at).
    pending: HashMap<u64, (String, SocketAddr, Instant)>,
    pub(crate) view: Arc<Mutex<CoordView>>,
}

/// What to do after a coordinate packet.
#[derive(Debug, PartialEq)]
pub(crate) enum Outcome {
    /// Send this packet to that address, member of that name (a pong).
    Reply(SocketAddr, String, Vec<u8>),
    /// A sample was taken: the round-trip time.
    Sampled(Duration),
    /// Nothing (a stale, unknown or invalid packet).
    Nothing,
}

impl Vivaldi {
    pub(crate) fn new(seed: u64) -> Self {
        let client = Client::new(Config::default(), seed);
        let view = Arc::new(Mutex::new(CoordView {
            own: client.coordinate().clone(),
            peers: BTreeMap::new(),
        }));
        Vivaldi {
            client,
            next_seq: seed,
            pending: HashMap::new(),
            view,
        }
    }

    /// The ping to send to `peer` (name and address) now.
    pub(crate) fn ping(
        &mut self,
        own_name: &str,
        peer: &str,
        addr: SocketAddr,
        now: Instant,
    ) -> Vec<u8> {
        self.expire(now);
        if self.pending.len() >= MAX_PENDING {
            // The oldest goes: its answer is the least likely to come.
            if let Some(oldest) = self
                .pending
                .iter()
                .min_by_key(|(_, (_, _, at))| *at)
                .map(|(seq, _)| *seq)
            {
                self.pending.remove(&oldest);
            }
        }
        self.next_seq = self.next_seq.wrapping_add(1);
        let seq = self.next_seq;
        self.pending.insert(seq, (peer.to_owned(), addr, now));
        CoordMsg::Ping {
            seq,
            from: own_name.to_owned(),
            coord: self.client.coordinate().clone(),
        }
        .encode()
    }

    fn expire(&mut self, now: Instant) {
        self.pending
            .retain(|_, (_, _, at)| now.saturating_duration_since(*at) < PING_TIMEOUT);
    }

    /// Handles a coordinate packet's body from `from`. `is_member` tells
    /// whether a name belongs to the pool (only members' coordinates are
    /// kept).
    pub(crate) fn handle(
        &mut self,
        own_name: &str,
        body: &[u8],
        from: SocketAddr,
        now: Instant,
        is_member: impl Fn(&str) -> bool,
    ) -> Outcome {
        let Some(msg) = CoordMsg::decode(body) else {
            return Outcome::Nothing;
        };
        match msg {
            CoordMsg::Ping {
                seq,
                from: name,
                coord,
            } => {
                if name != own_name && is_member(&name) {
                    self.remember(&name, coord);
                }
                Outcome::Reply(
                    from,
                    name,
                    CoordMsg::Pong {
                        seq,
                        from: own_name.to_owned(),
                        coord: self.client.coordinate().clone(),
                    }
                    .encode(),
                )
            }
            CoordMsg::Pong {
                seq,
                from: name,
                coord,
            } => {
                let Some((peer, addr, sent)) = self.pending.get(&seq).cloned() else {
                    return Outcome::Nothing;
                };
                if peer != name || addr != from {
                    return Outcome::Nothing;
                }
                self.pending.remove(&seq);
                let rtt = now.saturating_duration_since(sent);
                if rtt >= PING_TIMEOUT {
                    return Outcome::Nothing;
                }
                match self.client.update(&name, &coord, rtt) {
                    Ok(_) => {
                        let own = self.client.coordinate().clone();
                        self.publish_own(own);
                        if is_member(&name) {
                            self.remember(&name, coord);
                        }
                        Outcome::Sampled(rtt)
                    }
                    Err(error) => {
                        tracing::debug!(peer = %name, %error, "coordinate sample refused");
                        Outcome::Nothing
                    }
                }
            }
        }
    }

    fn remember(&self, name: &str, coord: Coordinate) {
        if coord.is_sane() {
            lock(&self.view).peers.insert(name.to_owned(), coord);
        }
    }

    fn publish_own(&self, own: Coordinate) {
        lock(&self.view).own = own;
    }

    /// Forgets members no longer in the pool.
    pub(crate) fn retain_members(&mut self, is_member: impl Fn(&str) -> bool) {
        let gone: Vec<String> = lock(&self.view)
            .peers
            .keys()
            .filter(|n| !is_member(n))
            .cloned()
            .collect();
        for name in gone {
            lock(&self.view).peers.remove(&name);
            self.client.forget(&name);
        }
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use foca::{Codec, Header, Message, PostcardCodec};

    use super::*;
    use crate::identity::Ident;

    #[test]
    fn no_foca_packet_starts_with_the_coordinate_marker() {
        let id = Ident::new("a".into(), "127.0.0.1:8301".parse().unwrap());
        for message in [
            Message::Ping(1),
            Message::Ack(1),
            Message::Announce,
            Message::Gossip,
        ] {
            let header = Header {
                src: id.clone(),
                src_incarnation: 0,
                dst: id.clone(),
                message,
            };
            let mut buf = Vec::new();
            PostcardCodec.encode_header(&header, &mut buf).unwrap();
            assert_ne!(buf[0], MARKER, "{buf:?}");
        }
    }

    #[test]
    fn a_ping_and_its_pong_make_a_sample_and_share_coordinates() {
        let a_addr: SocketAddr = "127.0.0.2:8301".parse().unwrap();
        let b_addr: SocketAddr = "127.0.0.3:8301".parse().unwrap();
        let mut a = Vivaldi::new(1);
        let mut b = Vivaldi::new(2);
        let t0 = Instant::now();
        let ping = a.ping("a", "b", b_addr, t0);
        assert_eq!(ping[0], MARKER);
        let Outcome::Reply(to, _, pong) = b.handle("b", &ping[1..], a_addr, t0, |_| true) else {
            panic!("b answers a ping");
        };
        assert_eq!(to, a_addr);
        assert!(lock(&b.view).peers.contains_key("a"));
        let later = t0 + Duration::from_millis(3);
        assert_eq!(
            a.handle("a", &pong[1..], b_addr, later, |_| true),
            Outcome::Sampled(Duration::from_millis(3))
        );
        assert_eq!(a.client.updates(), 1);
        assert!(lock(&a.view).peers.contains_key("b"));
        assert_ne!(lock(&a.view).own, Coordinate::new(&Config::default()));
        // The same pong again is no sample: its ping was answered.
        assert_eq!(
            a.handle("a", &pong[1..], b_addr, later, |_| true),
            Outcome::Nothing
        );
    }

    #[test]
    fn pongs_from_elsewhere_late_or_garbled_are_ignored() {
        let b_addr: SocketAddr = "127.0.0.3:8301".parse().unwrap();
        let mut a = Vivaldi::new(1);
        let mut b = Vivaldi::new(2);
        let t0 = Instant::now();
        let ping = a.ping("a", "b", b_addr, t0);
        let Outcome::Reply(_, _, pong) = b.handle("b", &ping[1..], b_addr, t0, |_| true) else {
            panic!("b answers a ping");
        };
        // From another address.
        let other: SocketAddr = "127.0.0.9:8301".parse().unwrap();
        assert_eq!(
            a.handle("a", &pong[1..], other, t0, |_| true),
            Outcome::Nothing
        );
        // Too late.
        assert_eq!(
            a.handle("a", &pong[1..], b_addr, t0 + PING_TIMEOUT, |_| true),
            Outcome::Nothing
        );
        // Garbage and oversized bodies.
        assert_eq!(
            a.handle("a", &[0xff; 9], b_addr, t0, |_| true),
            Outcome::Nothing
        );
        assert_eq!(
            a.handle("a", &vec![1; MAX_MESSAGE + 1], b_addr, t0, |_| true),
            Outcome::Nothing
        );
        assert_eq!(a.client.updates(), 0);
    }

    #[test]
    fn pending_pings_are_bounded() {
        let mut a = Vivaldi::new(1);
        let addr: SocketAddr = "127.0.0.3:8301".parse().unwrap();
        let t0 = Instant::now();
        for i in 0..(MAX_PENDING * 2) {
            a.ping(
                "a",
                &format!("p{i}"),
                addr,
                t0 + Duration::from_millis(i as u64),
            );
        }
        assert_eq!(a.pending.len(), MAX_PENDING);
        a.ping(
            "a",
            "late",
            addr,
            t0 + PING_TIMEOUT + Duration::from_secs(1),
        );
        assert_eq!(a.pending.len(), 1);
    }
}
