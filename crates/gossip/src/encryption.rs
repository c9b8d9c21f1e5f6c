//! A running member's gossip encryption: its keyring (changed at run time by
//! key operations and persisted to the keyring file), Consul's
//! `encrypt_verify_incoming` / `encrypt_verify_outgoing` switches, and the
//! rate-limited log of what was dropped for not decrypting.
//!
//! Shared (`Arc`) by the UDP writer, the owner task and the TCP tasks; its
//! locks are held only to copy or swap keys, never across an await.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, Instant};

use foca_rand::rngs::StdRng;
use foca_rand::Rng;

use crate::error::GossipError;
use crate::keyring::{Keyring, OpenError, NONCE_LEN};

/// How often one source's undecryptable traffic is logged at most.
const DROP_LOG_EVERY: Duration = Duration::from_secs(60);
/// How many sources the drop log remembers; past that, older ones are
/// forgotten (and a flood of sources logs nothing more).
const DROP_LOG_SOURCES: usize = 4096;

/// Gossip encryption settings for [`crate::GossipConfig`].
#[derive(Clone, Debug)]
pub struct EncryptionConfig {
    /// The keys to start with, primary first.
    pub keyring: Keyring,
    /// Consul's `encrypt_verify_incoming`: refuse what is not encrypted
    /// (`false` also accepts plain text, to turn encryption on in a
    /// running cluster).
    pub verify_incoming: bool,
    /// Consul's `encrypt_verify_outgoing`: encrypt what we send (`false`
    /// sends plain text).
    pub verify_outgoing: bool,
    /// Where keyring changes are persisted (Consul's
    /// `<data_dir>/serf/local.keyring`); `None` keeps them in memory.
    pub keyring_file: Option<PathBuf>,
}

impl EncryptionConfig {
    /// Encryption with `keyring`, verifying both ways, not persisted.
    #[must_use]
    pub fn new(keyring: Keyring) -> Self {
        EncryptionConfig {
            keyring,
            verify_incoming: true,
            verify_outgoing: true,
            keyring_file: None,
        }
    }
}

/// What a keyring operation does (Serf's key queries).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum KeyOp {
    /// Report the installed keys.
    List,
    /// Install a key beside the others.
    Install(String),
    /// Make an installed key the primary one.
    Use(String),
    /// Remove a key that is not the primary one.
    Remove(String),
}

impl KeyOp {
    /// The key the operation names, if any.
    #[must_use]
    pub fn key(&self) -> Option<&str> {
        match self {
            KeyOp::List => None,
            KeyOp::Install(k) | KeyOp::Use(k) | KeyOp::Remove(k) => Some(k),
        }
    }
}

impl fmt::Display for KeyOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyOp::List => "list",
            KeyOp::Install(_) => "install",
            KeyOp::Use(_) => "use",
            KeyOp::Remove(_) => "remove",
        })
    }
}

/// A member's encryption state.
pub(crate) struct Encryption {
    keyring: RwLock<Keyring>,
    pub(crate) verify_incoming: bool,
    pub(crate) verify_outgoing: bool,
    file: Option<PathBuf>,
    rng: Mutex<StdRng>,
    /// When each source's undecryptable traffic was last logged.
    drops: Mutex<HashMap<IpAddr, Instant>>,
    /// How many packets and frames were dropped.
    pub(crate) dropped: AtomicU64,
    /// Serializes keyring changes with their persistence.
    changes: tokio::sync::Mutex<()>,
    /// Key query ids recently obeyed (replays are refused).
    pub(crate) seen_queries: Mutex<HashMap<u64, Instant>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Encryption {
    pub(crate) fn new(cfg: EncryptionConfig) -> Encryption {
        Encryption {
            keyring: RwLock::new(cfg.keyring),
            verify_incoming: cfg.verify_incoming,
            verify_outgoing: cfg.verify_outgoing,
            file: cfg.keyring_file,
            rng: Mutex::new(foca_rand::make_rng()),
            drops: Mutex::new(HashMap::new()),
            dropped: AtomicU64::new(0),
            changes: tokio::sync::Mutex::new(()),
            seen_queries: Mutex::new(HashMap::new()),
        }
    }

    /// A copy of the keyring.
    pub(crate) fn keyring(&self) -> Keyring {
        self.keyring
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn random_u64(&self) -> u64 {
        lock(&self.rng).next_u64()
    }

    fn nonce(&self) -> [u8; NONCE_LEN] {
        let mut nonce = [0u8; NONCE_LEN];
        lock(&self.rng).fill_bytes(&mut nonce);
        nonce
    }

    /// Seals `msg` with the primary key, whatever `verify_outgoing` says.
    pub(crate) fn seal(&self, msg: &[u8], aad: &[u8]) -> Vec<u8> {
        let nonce = self.nonce();
        self.keyring
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .seal(nonce, msg, aad)
    }

    /// Seals `msg` with the one key of `ring` (a key that opened what we
    /// answer).
    pub(crate) fn seal_with(&self, ring: &Keyring, msg: &[u8], aad: &[u8]) -> Vec<u8> {
        ring.seal(self.nonce(), msg, aad)
    }

    /// Opens a sealed message with any installed key; also answers a
    /// keyring of the key that opened it.
    pub(crate) fn open_keyed(
        &self,
        sealed: &[u8],
        aad: &[u8],
    ) -> Result<(Vec<u8>, Keyring), OpenError> {
        self.keyring
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .open_keyed(sealed, aad)
    }

    /// Opens a sealed message with any installed key.
    pub(crate) fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, OpenError> {
        self.keyring
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .open(sealed, aad)
    }

    /// A UDP packet as it goes out: sealed unless `verify_outgoing` is off.
    pub(crate) fn outgoing_packet(&self, packet: &[u8]) -> Vec<u8> {
        if self.verify_outgoing {
            self.seal(packet, &[])
        } else {
            packet.to_vec()
        }
    }

    /// A received UDP packet, opened; with `verify_incoming` off, what does
    /// not open is taken as plain text.
    pub(crate) fn incoming_packet(&self, packet: &[u8]) -> Result<Vec<u8>, OpenError> {
        match self.open(packet, &[]) {
            Ok(plain) => Ok(plain),
            Err(_) if !self.verify_incoming => Ok(packet.to_vec()),
            Err(e) => Err(e),
        }
    }

    /// Counts a drop from `from` and logs it, at most once a minute per
    /// source address; says whether it logged.
    pub(crate) fn note_drop(&self, from: IpAddr, what: &str, reason: &dyn fmt::Display) -> bool {
        self.dropped.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        let mut drops = lock(&self.drops);
        if let Some(last) = drops.get(&from) {
            if now.duration_since(*last) < DROP_LOG_EVERY {
                return false;
            }
        }
        if drops.len() >= DROP_LOG_SOURCES {
            drops.retain(|_, last| now.duration_since(*last) < DROP_LOG_EVERY);
            if drops.len() >= DROP_LOG_SOURCES {
                return false;
            }
        }
        drops.insert(from, now);
        drop(drops);
        tracing::warn!(
            %from,
            %reason,
            "dropped {what}: gossip encryption (logged once a minute per source)"
        );
        true
    }

    /// Applies `op` to this member's keyring and persists the result;
    /// answers the keys and the primary key afterwards.
    pub(crate) async fn apply(&self, op: &KeyOp) -> Result<(Vec<String>, String), GossipError> {
        let _serial = self.changes.lock().await;
        let changed = {
            let mut ring = self.keyring.write().unwrap_or_else(PoisonError::into_inner);
            let before = ring.keys();
            match op {
                KeyOp::List => {}
                KeyOp::Install(key) => ring.install(key)?,
                KeyOp::Use(key) => ring.use_key(key)?,
                KeyOp::Remove(key) => ring.remove(key)?,
            }
            (ring.keys() != before).then(|| ring.clone())
        };
        if let Some(ring) = &changed {
            tracing::info!(operation = %op, keys = ring.keys().len(), "gossip keyring changed");
            if let Some(path) = &self.file {
                let (ring, path) = (ring.clone(), path.clone());
                tokio::task::spawn_blocking(move || ring.write_file(&path))
                    .await
                    .map_err(|e| GossipError::KeyringFile {
                        path: self.file.clone().unwrap_or_default(),
                        reason: e.to_string(),
                    })??;
            }
        }
        let ring = self.keyring();
        Ok((ring.keys(), ring.primary()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K: &str = "pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s=";

    fn enc(incoming: bool, outgoing: bool) -> Encryption {
        let mut cfg = EncryptionConfig::new(Keyring::new(&[K]).unwrap());
        cfg.verify_incoming = incoming;
        cfg.verify_outgoing = outgoing;
        Encryption::new(cfg)
    }

    #[test]
    fn drops_are_counted_every_time_and_logged_once_a_minute_per_source() {
        let e = enc(true, true);
        let a: IpAddr = [127, 0, 0, 1].into();
        let b: IpAddr = [127, 0, 0, 2].into();
        assert!(e.note_drop(a, "a packet", &"x"));
        for _ in 0..100 {
            assert!(!e.note_drop(a, "a packet", &"x"));
        }
        assert!(e.note_drop(b, "a packet", &"x"));
        assert_eq!(e.dropped.load(Ordering::Relaxed), 102);
    }

    #[test]
    fn a_flood_of_sources_never_grows_the_log_past_its_bound() {
        let e = enc(true, true);
        for i in 0..(DROP_LOG_SOURCES as u32 + 100) {
            e.note_drop(IpAddr::from(i.to_be_bytes()), "a packet", &"x");
        }
        assert!(lock(&e.drops).len() <= DROP_LOG_SOURCES);
    }

    #[test]
    fn packets_follow_the_verify_switches() {
        let strict = enc(true, true);
        let sealed = strict.outgoing_packet(b"hello");
        assert_ne!(sealed, b"hello");
        assert_eq!(strict.incoming_packet(&sealed).unwrap(), b"hello");
        assert!(strict.incoming_packet(b"hello").is_err());

        let rolling = enc(false, false);
        assert_eq!(rolling.outgoing_packet(b"hello"), b"hello");
        assert_eq!(rolling.incoming_packet(b"hello").unwrap(), b"hello");
        assert_eq!(rolling.incoming_packet(&sealed).unwrap(), b"hello");
    }

    #[test]
    fn two_seals_of_one_message_differ_by_their_nonce() {
        let e = enc(true, true);
        assert_ne!(e.seal(b"m", b""), e.seal(b"m", b""));
    }
}
