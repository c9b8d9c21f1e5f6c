//! Loopback addresses for tests: each test gets its own 127.0.0.x (x from 2
//! to 250), so agents listen on Consul's default ports (8500 HTTP, 8300 RPC,
//! 8301 gossip, 8600 DNS) without colliding, whether the tests share a
//! process (`cargo test`) or not (nextest runs each test as its own process).
//!
//! An address is held through an exclusive `flock(2)` on
//! `$TMPDIR/praetor-testkit-127.0.0.x.lock`. The kernel drops the lock when
//! its holder exits however it exits, so a crashed test never leaks one, and a
//! recycled PID cannot look like an owner. The lock files stay (removing a
//! file someone may be about to lock races); they are empty but for the
//! holder's PID, for whoever wonders. An address whose ports are still bound
//! (an agent orphaned by a killed test) is skipped.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::os::fd::AsRawFd as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::KitError;

const FIRST: u8 = 2;
const LAST: u8 = 250;
/// Consul's default TCP ports: HTTP, server RPC, LAN gossip, DNS.
const TCP_PORTS: [u16; 4] = [8500, 8300, 8301, 8600];
/// Consul's default UDP ports: LAN gossip, DNS.
const UDP_PORTS: [u16; 2] = [8301, 8600];

/// One loopback address, held by this test until dropped.
#[derive(Debug)]
pub struct Loopback {
    ip: Ipv4Addr,
    /// Holds the `flock`; closing it releases the address.
    _lock: File,
}

impl Loopback {
    /// Takes a free address. The search starts at a point derived from the
    /// PID and a per-process counter, so concurrent test processes rarely try
    /// the same address first; the lock makes it correct when they do.
    ///
    /// # Errors
    /// `NoLoopback` when every address is held or busy.
    pub fn allocate() -> Result<Loopback, KitError> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let span = u32::from(LAST - FIRST) + 1;
        let seed = std::process::id().wrapping_mul(2_654_435_761) % span;
        let start = seed.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed).wrapping_mul(7));
        let mut busy = 0;
        for i in 0..span {
            let x = FIRST + ((start + i) % span) as u8;
            let ip = Ipv4Addr::new(127, 0, 0, x);
            let Some(lock) = try_lock(ip) else {
                busy += 1;
                continue;
            };
            if !ports_free(ip) {
                busy += 1;
                continue; // dropping `lock` releases it
            }
            return Ok(Loopback { ip, _lock: lock });
        }
        Err(KitError::NoLoopback { busy })
    }

    /// The address.
    pub fn ip(&self) -> Ipv4Addr {
        self.ip
    }

    /// `http://127.0.0.x:8500`, the agent's HTTP API on the default port.
    pub fn http_url(&self) -> String {
        format!("http://{}:8500", self.ip)
    }

    /// `127.0.0.x:8500`, as `-http-addr=` and `CONSUL_HTTP_ADDR` take it.
    pub fn http_addr(&self) -> String {
        format!("{}:8500", self.ip)
    }

    /// `-bind=127.0.0.x` and `-client=127.0.0.x`: every listener of an agent
    /// on this address.
    pub fn bind_flags(&self) -> [String; 2] {
        [format!("-bind={}", self.ip), format!("-client={}", self.ip)]
    }
}

fn lock_path(ip: Ipv4Addr) -> PathBuf {
    std::env::temp_dir().join(format!("praetor-testkit-{ip}.lock"))
}

/// The locked file for `ip`, or `None` when another holder has it.
fn try_lock(ip: Ipv4Addr) -> Option<File> {
    let path = lock_path(ip);
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .ok()?;
    // SAFETY: flock on a descriptor we own; it does not touch memory.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        return None;
    }
    let _ = file.set_len(0);
    let _ = writeln!(file, "{}", std::process::id());
    Some(file)
}

/// Whether nothing listens on `ip`'s default ports (an orphaned agent would).
fn ports_free(ip: Ipv4Addr) -> bool {
    TCP_PORTS
        .iter()
        .all(|&p| TcpListener::bind(SocketAddr::from((ip, p))).is_ok())
        && UDP_PORTS
            .iter()
            .all(|&p| UdpSocket::bind(SocketAddr::from((ip, p))).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_allocations_get_distinct_addresses_and_free_them_on_drop() {
        let a = Loopback::allocate().unwrap();
        let b = Loopback::allocate().unwrap();
        assert_ne!(a.ip(), b.ip());
        assert!(
            try_lock(a.ip()).is_none(),
            "a held address cannot be locked again"
        );
        let ip = a.ip();
        drop(a);
        assert!(try_lock(ip).is_some(), "a dropped address is free");
    }
}
