//! The identity foca gossips for each member: name, address and generation.
//! Kept small on purpose (foca puts two in every packet header); tags travel
//! separately as custom broadcasts (see `fact`).

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// A member as foca knows it. foca keys members by [`foca::Identity::addr`],
/// which is the node *name* here: a member restarted under the same name,
/// at the same or a new address, replaces its previous identity because its
/// generation is larger.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct Ident {
    pub(crate) name: String,
    pub(crate) addr: SocketAddr,
    pub(crate) generation: u64,
}

impl Ident {
    /// The identity of a freshly started member: its generation is the wall
    /// clock in microseconds, so a restart always wins over the run before.
    pub(crate) fn new(name: String, addr: SocketAddr) -> Self {
        Ident {
            name,
            addr,
            generation: clock_micros(),
        }
    }
}

/// Microseconds since the Unix epoch; 1 if the clock is before it.
pub(crate) fn clock_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

impl std::fmt::Debug for Ident {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}#{}", self.name, self.addr, self.generation)
    }
}

impl foca::Identity for Ident {
    type Addr = String;

    /// Declared down while still running (a false positive, or a partition
    /// that healed): come back at once under the next generation.
    fn renew(&self) -> Option<Self> {
        Some(Ident {
            name: self.name.clone(),
            addr: self.addr,
            generation: self.generation.wrapping_add(1),
        })
    }

    fn addr(&self) -> String {
        self.name.clone()
    }

    /// The newest generation wins; the address breaks a (theoretical) tie so
    /// that every member decides the same way.
    fn win_addr_conflict(&self, adversary: &Self) -> bool {
        (self.generation, self.addr) > (adversary.generation, adversary.addr)
    }
}

#[cfg(test)]
mod tests {
    use foca::Identity;

    use super::*;

    #[test]
    fn renewed_identity_wins_over_the_old_one() {
        let old = Ident::new("a".into(), "127.0.0.1:8301".parse().unwrap());
        let new = old.renew().unwrap();
        assert!(new.win_addr_conflict(&old));
        assert!(!old.win_addr_conflict(&new));
        assert_eq!(old.addr(), new.addr());
    }

    #[test]
    fn identity_stays_small_on_the_wire() {
        let id = Ident::new(
            "node-with-a-longish-name".into(),
            "127.0.0.1:8301".parse().unwrap(),
        );
        let bytes = postcard::to_allocvec(&id).unwrap();
        assert!(bytes.len() < 48, "{} bytes", bytes.len());
    }
}
