//! What one RPC listener lets its peers make it hold: connections (in all
//! and per peer address), calls in flight per connection, and bytes of
//! frames being read or handled (per connection, per peer address and in
//! all, with a share kept for small frames so that a few huge ones cannot
//! starve heartbeats).
//! Also the rate limit on the log lines a stranger can cause. Never
//! performs I/O.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::MAX_FRAME;

/// Every frame is charged at least this many bytes: the memory of the
/// task that handles it.
pub(crate) const CALL_CHARGE: usize = 4 * 1024;
/// How often one peer address may cause a log line about a refused
/// connection or a bad frame.
const LOG_EVERY: Duration = Duration::from_secs(60);
/// Peer addresses remembered for the log rate limit.
const LOG_PEERS: usize = 1024;

/// The bounds of one RPC listener. `Default` gives the production values.
#[derive(Debug, Clone)]
pub struct Limits {
    /// How long a new connection has to send the handshake (Consul's
    /// `limits.rpc_handshake_timeout`, 5 s).
    pub handshake_timeout: Duration,
    /// Connections open at once from one IP address (Consul's
    /// `limits.rpc_max_conns_per_client`, 100); more are closed at once.
    pub max_conns_per_ip: usize,
    /// Connections open at once in all; more are closed at once.
    pub max_conns: usize,
    /// Calls in flight on one connection; when full, the connection is not
    /// read until one ends. A client agent sends every blocking query it
    /// holds (its DNS cache keeps up to 4096) on one connection per server,
    /// so this is well above that.
    pub max_calls_per_conn: usize,
    /// The largest frame accepted; a header announcing more closes the
    /// connection.
    pub max_frame: usize,
    /// Bytes of frames one connection may have in flight.
    pub conn_bytes: usize,
    /// Bytes of frames all connections from one IP address may have in
    /// flight, so one peer cannot take the whole `total_bytes`.
    pub ip_bytes: usize,
    /// Bytes of frames all connections may have in flight.
    pub total_bytes: usize,
    /// Frames above this size are large: they may use only `large_bytes`
    /// of `total_bytes`, the rest is kept for small frames.
    pub large_frame: usize,
    /// Bytes of large frames all connections may have in flight.
    pub large_bytes: usize,
    /// A frame's body must arrive within this time plus its size at
    /// `min_rate` bytes per second, or the connection is closed.
    pub frame_timeout: Duration,
    /// The slowest rate (bytes per second) a frame's body may arrive at.
    pub min_rate: usize,
    /// How long shutdown waits for connections and calls to end.
    pub shutdown_wait: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            handshake_timeout: Duration::from_secs(5),
            max_conns_per_ip: 100,
            max_conns: 4096,
            max_calls_per_conn: 8192,
            max_frame: MAX_FRAME,
            conn_bytes: MAX_FRAME,
            ip_bytes: 256 * 1024 * 1024,
            total_bytes: 512 * 1024 * 1024,
            large_frame: 1024 * 1024,
            large_bytes: 448 * 1024 * 1024,
            frame_timeout: Duration::from_secs(10),
            min_rate: 1024 * 1024,
            shutdown_wait: Duration::from_secs(5),
        }
    }
}

impl Limits {
    /// The limits made consistent: every budget can hold one largest frame
    /// (else a frame could wait for ever), and no count is zero.
    fn normalized(mut self) -> Limits {
        self.max_frame = self.max_frame.clamp(1, u32::MAX as usize);
        let frame = self.max_frame.max(CALL_CHARGE);
        self.conn_bytes = self.conn_bytes.max(frame);
        self.ip_bytes = self.ip_bytes.max(frame);
        self.large_bytes = self.large_bytes.max(frame);
        self.total_bytes = self.total_bytes.max(self.large_bytes).max(frame);
        self.max_conns = self.max_conns.max(1);
        self.max_conns_per_ip = self.max_conns_per_ip.max(1);
        self.max_calls_per_conn = self.max_calls_per_conn.max(1);
        self.min_rate = self.min_rate.max(1);
        self
    }

    /// How long the body of a frame of `len` bytes may take to arrive.
    pub(crate) fn body_deadline(&self, len: usize) -> Duration {
        self.frame_timeout + Duration::from_secs((len / self.min_rate) as u64)
    }
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refused {
    #[error("{0} connections from this address are open, the limit")]
    PerIp(usize),
    #[error("{0} connections are open, the limit")]
    Total(usize),
}

/// The state one listener shares with its connections.
pub(crate) struct Intake {
    pub(crate) limits: Limits,
    conns: Mutex<Conns>,
    total: Arc<Semaphore>,
    large: Arc<Semaphore>,
    log: Mutex<HashMap<IpAddr, Instant>>,
}

#[derive(Default)]
struct Conns {
    total: usize,
    by_ip: HashMap<IpAddr, Peer>,
}

/// The connections of one IP address: how many, and their shared bytes.
struct Peer {
    conns: usize,
    bytes: Arc<Semaphore>,
}

/// Holds a connection's place in the counts; gives it back when dropped.
pub(crate) struct ConnSlot {
    intake: Arc<Intake>,
    ip: IpAddr,
    ip_bytes: Arc<Semaphore>,
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        let mut c = self.intake.conns.lock().unwrap_or_else(|p| p.into_inner());
        c.total = c.total.saturating_sub(1);
        if let Some(peer) = c.by_ip.get_mut(&self.ip) {
            peer.conns = peer.conns.saturating_sub(1);
            if peer.conns == 0 {
                c.by_ip.remove(&self.ip);
            }
        }
    }
}

/// What one connection may hold: its calls in flight, its bytes, and the
/// bytes it shares with the other connections of its address.
pub(crate) struct ConnBudget {
    calls: Arc<Semaphore>,
    bytes: Arc<Semaphore>,
    ip_bytes: Arc<Semaphore>,
}

/// The permits one call holds while it is read and handled.
pub(crate) struct CallPermit {
    _call: OwnedSemaphorePermit,
    _conn_bytes: OwnedSemaphorePermit,
    _ip_bytes: OwnedSemaphorePermit,
    _large: Option<OwnedSemaphorePermit>,
    _total: OwnedSemaphorePermit,
}

impl Intake {
    pub(crate) fn new(limits: Limits) -> Arc<Intake> {
        let limits = limits.normalized();
        Arc::new(Intake {
            total: Arc::new(Semaphore::new(limits.total_bytes)),
            large: Arc::new(Semaphore::new(limits.large_bytes)),
            conns: Mutex::new(Conns::default()),
            log: Mutex::new(HashMap::new()),
            limits,
        })
    }

    /// Counts a new connection from `ip`, or refuses it.
    pub(crate) fn open(self: &Arc<Self>, ip: IpAddr) -> Result<ConnSlot, Refused> {
        let mut c = self.conns.lock().unwrap_or_else(|p| p.into_inner());
        if c.total >= self.limits.max_conns {
            return Err(Refused::Total(c.total));
        }
        let from_ip = c.by_ip.get(&ip).map_or(0, |p| p.conns);
        if from_ip >= self.limits.max_conns_per_ip {
            return Err(Refused::PerIp(from_ip));
        }
        c.total += 1;
        let peer = c.by_ip.entry(ip).or_insert_with(|| Peer {
            conns: 0,
            bytes: Arc::new(Semaphore::new(self.limits.ip_bytes)),
        });
        peer.conns += 1;
        let ip_bytes = Arc::clone(&peer.bytes);
        Ok(ConnSlot {
            intake: Arc::clone(self),
            ip,
            ip_bytes,
        })
    }

    /// A fresh budget for the connection holding `slot`.
    pub(crate) fn conn_budget(&self, slot: &ConnSlot) -> ConnBudget {
        ConnBudget {
            calls: Arc::new(Semaphore::new(self.limits.max_calls_per_conn)),
            bytes: Arc::new(Semaphore::new(self.limits.conn_bytes)),
            ip_bytes: Arc::clone(&slot.ip_bytes),
        }
    }

    /// Waits until a call of a `len`-byte frame fits every budget (a call
    /// slot of the connection, its bytes, its address's bytes, the large
    /// share if it is large, and the total), and takes them. `None` only if a budget was closed,
    /// which they never are.
    pub(crate) async fn admit_call(&self, conn: &ConnBudget, len: usize) -> Option<CallPermit> {
        // Every budget holds at least one `max_frame` (see `normalized`),
        // so the charge always fits and fits in a u32.
        let charge = len.clamp(CALL_CHARGE, self.limits.max_frame.max(CALL_CHARGE));
        let charge = u32::try_from(charge).ok()?;
        let call = Arc::clone(&conn.calls).acquire_owned().await.ok()?;
        let conn_bytes = Arc::clone(&conn.bytes)
            .acquire_many_owned(charge)
            .await
            .ok()?;
        let ip_bytes = Arc::clone(&conn.ip_bytes)
            .acquire_many_owned(charge)
            .await
            .ok()?;
        let large = if len > self.limits.large_frame {
            Some(
                Arc::clone(&self.large)
                    .acquire_many_owned(charge)
                    .await
                    .ok()?,
            )
        } else {
            None
        };
        let total = Arc::clone(&self.total)
            .acquire_many_owned(charge)
            .await
            .ok()?;
        Some(CallPermit {
            _call: call,
            _conn_bytes: conn_bytes,
            _ip_bytes: ip_bytes,
            _large: large,
            _total: total,
        })
    }

    /// `true` when a line about `ip` may be logged now: at most one per
    /// address per minute, so a stranger cannot flood the log.
    pub(crate) fn may_log(&self, ip: IpAddr) -> bool {
        let now = Instant::now();
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(last) = log.get(&ip) {
            if now.duration_since(*last) < LOG_EVERY {
                return false;
            }
        }
        if log.len() >= LOG_PEERS {
            log.retain(|_, last| now.duration_since(*last) < LOG_EVERY);
            if log.len() >= LOG_PEERS {
                return false;
            }
        }
        log.insert(ip, now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    #[test]
    fn connections_are_capped_per_address_and_in_all_and_given_back() {
        let intake = Intake::new(Limits {
            max_conns_per_ip: 2,
            max_conns: 3,
            ..Limits::default()
        });
        let a1 = intake.open(ip(2)).unwrap();
        let _a2 = intake.open(ip(2)).unwrap();
        assert_eq!(intake.open(ip(2)).err(), Some(Refused::PerIp(2)));
        let _b1 = intake.open(ip(3)).unwrap();
        assert_eq!(intake.open(ip(4)).err(), Some(Refused::Total(3)));
        drop(a1);
        assert!(intake.open(ip(2)).is_ok());
    }

    #[tokio::test]
    async fn large_frames_leave_room_for_small_ones() {
        let intake = Intake::new(Limits {
            max_frame: 64 * 1024,
            large_frame: 16 * 1024,
            large_bytes: 64 * 1024,
            total_bytes: 96 * 1024,
            ..Limits::default()
        });
        // One connection holds the whole large share.
        let (a, b) = (intake.open(ip(2)).unwrap(), intake.open(ip(3)).unwrap());
        let big = intake.conn_budget(&a);
        let _held = intake.admit_call(&big, 64 * 1024).await.unwrap();
        let other = intake.conn_budget(&b);
        let waiting = tokio::time::timeout(
            Duration::from_millis(50),
            intake.admit_call(&other, 20 * 1024),
        )
        .await;
        assert!(waiting.is_err(), "a second large frame waits for budget");
        // Small frames still get the reserved 32 KiB (8 calls of 4 KiB).
        let mut small = Vec::new();
        for _ in 0..8 {
            small.push(intake.admit_call(&other, 100).await.unwrap());
        }
    }

    #[tokio::test]
    async fn one_address_cannot_take_the_whole_budget() {
        let intake = Intake::new(Limits {
            max_frame: 8 * 1024,
            ip_bytes: 16 * 1024,
            total_bytes: 64 * 1024,
            ..Limits::default()
        });
        let (a1, a2) = (intake.open(ip(2)).unwrap(), intake.open(ip(2)).unwrap());
        let (c1, c2) = (intake.conn_budget(&a1), intake.conn_budget(&a2));
        let _h1 = intake.admit_call(&c1, 8 * 1024).await.unwrap();
        let _h2 = intake.admit_call(&c2, 8 * 1024).await.unwrap();
        let third =
            tokio::time::timeout(Duration::from_millis(50), intake.admit_call(&c1, 100)).await;
        assert!(third.is_err(), "the address's budget is used up");
        let b = intake.open(ip(3)).unwrap();
        assert!(intake
            .admit_call(&intake.conn_budget(&b), 8 * 1024)
            .await
            .is_some());
    }

    #[test]
    fn a_peer_is_logged_at_most_once_a_minute() {
        let intake = Intake::new(Limits::default());
        assert!(intake.may_log(ip(2)));
        assert!(!intake.may_log(ip(2)));
        assert!(intake.may_log(ip(3)));
    }
}
