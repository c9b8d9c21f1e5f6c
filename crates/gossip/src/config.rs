//! The gossip pool's settings, their LAN defaults (Consul's, where Consul
//! has one) and their translation into foca's configuration.

use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroUsize};
use std::time::Duration;

use crate::encryption::EncryptionConfig;
use crate::error::GossipError;
use crate::fact::{Fact, MAX_FACT_LEN};
use crate::identity::Ident;
use crate::member::Tags;

/// The default LAN gossip port (Consul's `serf_lan`).
pub const DEFAULT_PORT: u16 = 8301;

/// The default WAN gossip port (Consul's `serf_wan`).
pub const DEFAULT_WAN_PORT: u16 = 8302;

/// The longest node name accepted; names travel in every packet header.
pub const MAX_NODE_NAME_LEN: usize = 128;

/// How a member joins, detects failures and forgets departed members.
///
/// Failure detection: every `probe_interval` each member pings one other
/// (round robin over a shuffled list); without an ack within
/// `probe_timeout` it asks up to three others to ping it indirectly; if
/// none succeeds by the next round the member becomes *suspect*, and if it
/// does not refute within `suspicion` it is declared down (failed). On
/// loopback with the defaults a stopped member is marked failed in about
/// `probe_interval * 2 + suspicion` ≈ 5 s.
#[derive(Clone, Debug)]
pub struct GossipConfig {
    /// This member's name, unique in the pool.
    pub node_name: String,
    /// Where to listen for UDP gossip and TCP push/pull (same address), e.g.
    /// `127.0.0.2:8301`. Port 0 picks a free port.
    pub bind: SocketAddr,
    /// The address others use to reach us; port 0 means the bound port.
    pub advertise: SocketAddr,
    /// What we announce about ourselves.
    pub tags: Tags,
    /// How often we probe one member (Consul: 1 s).
    pub probe_interval: Duration,
    /// How long a direct probe waits for its ack before indirect probes
    /// (Consul: 500 ms). Must be below `probe_interval`.
    pub probe_timeout: Duration,
    /// How long a suspect member has to refute before it is declared failed.
    pub suspicion: Duration,
    /// How often pending updates are gossiped to a few random members
    /// (Consul's gossip interval: 200 ms).
    pub gossip_interval: Duration,
    /// How often we exchange the full state with one random member over
    /// TCP, repairing anything gossip lost (Consul: 30 s).
    pub push_pull_interval: Duration,
    /// How long a failed member is kept, listed as failed, before it is
    /// reaped (Consul: 72 h).
    pub reconnect_timeout: Duration,
    /// How long a left member is kept, listed as left, before it is reaped
    /// (Consul: 24 h).
    pub tombstone_timeout: Duration,
    /// The limit on one TCP exchange (connect, send, receive) and on name
    /// resolution in `join`.
    pub io_timeout: Duration,
    /// Gossip encryption (Consul's `encrypt`); `None`: plain text.
    pub encryption: Option<EncryptionConfig>,
    /// A WAN pool (Consul's Serf WAN: servers of every datacenter):
    /// foca's WAN profile under our timings (updates gossiped to four
    /// members, announcements less often) instead of its LAN profile.
    pub wan: bool,
    /// The port a join address without one is tried on (8301 on a LAN,
    /// 8302 on the WAN).
    pub join_port: u16,
    /// Measure round trips for network coordinates (see `vivaldi`; Consul's
    /// `disable_coordinates` turns it off). Pings from others are answered
    /// either way.
    pub coordinates: bool,
    /// FOR TESTS ONLY (off, empty, by default): coordinate packets (pings
    /// and pongs, never foca's) this member sends to a member of one of
    /// these datacenters are held this long first, so round trips to them
    /// look that much longer to both sides: an in-process stand-in for a
    /// slow WAN link. At most [`MAX_COORDINATE_DELAY`] each; the agent
    /// accepts it only on loopback (`test_wan_latency`).
    pub coordinate_delay: std::collections::BTreeMap<String, Duration>,
}

/// The longest test delay of coordinate packets (well under the 5 s after
/// which a ping is no longer answered).
pub const MAX_COORDINATE_DELAY: Duration = Duration::from_secs(2);

/// Consul's WAN suspicion multiplier (`gossip_wan.suspicion_mult`).
pub const WAN_SUSPICION_MULT: u32 = 6;

impl GossipConfig {
    /// LAN defaults for a member named `node_name` listening on `bind`
    /// (advertised as is).
    #[must_use]
    pub fn new(node_name: impl Into<String>, bind: SocketAddr, tags: Tags) -> Self {
        GossipConfig {
            node_name: node_name.into(),
            bind,
            advertise: bind,
            tags,
            probe_interval: Duration::from_secs(1),
            probe_timeout: Duration::from_millis(500),
            suspicion: Duration::from_secs(3),
            gossip_interval: Duration::from_millis(200),
            push_pull_interval: Duration::from_secs(30),
            reconnect_timeout: Duration::from_secs(72 * 3600),
            tombstone_timeout: Duration::from_secs(24 * 3600),
            io_timeout: Duration::from_secs(5),
            encryption: None,
            wan: false,
            join_port: DEFAULT_PORT,
            coordinates: true,
            coordinate_delay: std::collections::BTreeMap::new(),
        }
    }

    /// WAN defaults (Consul's `gossip_wan`, memberlist's WAN profile) for
    /// server `node_name` (`<node>.<dc>` in the WAN pool) on `bind`: a
    /// probe every 5 s answered within 3 s, a suspect declared failed
    /// after `WAN_SUSPICION_MULT` probe intervals (30 s), updates
    /// gossiped every 500 ms, full state exchanged every 60 s, a 10 s
    /// limit on one TCP exchange. Links between datacenters are slower
    /// and lossier than a LAN: a member is declared failed later, and a
    /// slow link alone does not make it look dead.
    #[must_use]
    pub fn wan(node_name: impl Into<String>, bind: SocketAddr, tags: Tags) -> Self {
        let probe_interval = Duration::from_secs(5);
        GossipConfig {
            probe_interval,
            probe_timeout: Duration::from_secs(3),
            suspicion: probe_interval * WAN_SUSPICION_MULT,
            gossip_interval: Duration::from_millis(500),
            push_pull_interval: Duration::from_secs(60),
            io_timeout: Duration::from_secs(10),
            wan: true,
            join_port: DEFAULT_WAN_PORT,
            ..GossipConfig::new(node_name, bind, tags)
        }
    }

    /// Checks what foca and the push/pull exchange need.
    pub(crate) fn validate(&self) -> Result<(), GossipError> {
        let bad = |what: String| Err(GossipError::Config(what));
        if self.node_name.is_empty() || self.node_name.len() > MAX_NODE_NAME_LEN {
            return bad(format!(
                "node name must be 1 to {MAX_NODE_NAME_LEN} bytes, got {}",
                self.node_name.len()
            ));
        }
        for (name, value) in [
            ("probe_interval", self.probe_interval),
            ("probe_timeout", self.probe_timeout),
            ("suspicion", self.suspicion),
            ("gossip_interval", self.gossip_interval),
            ("push_pull_interval", self.push_pull_interval),
            ("reconnect_timeout", self.reconnect_timeout),
            ("tombstone_timeout", self.tombstone_timeout),
            ("io_timeout", self.io_timeout),
        ] {
            if value.is_zero() {
                return bad(format!("{name} must be above zero"));
            }
        }
        if self.probe_timeout >= self.probe_interval {
            return bad(format!(
                "probe_timeout ({:?}) must be below probe_interval ({:?})",
                self.probe_timeout, self.probe_interval
            ));
        }
        if let Some((dc, d)) = self
            .coordinate_delay
            .iter()
            .find(|(_, d)| **d > MAX_COORDINATE_DELAY)
        {
            return bad(format!(
                "coordinate delay to {dc} ({d:?}) is above {MAX_COORDINATE_DELAY:?}"
            ));
        }
        let meta = Fact::Meta {
            id: Ident::new(self.node_name.clone(), self.advertise),
            version: u64::MAX,
            tags: self.tags.clone(),
        };
        let len = meta.encode().len();
        if len > MAX_FACT_LEN {
            return bad(format!(
                "tags take {len} bytes encoded; the limit is {MAX_FACT_LEN}"
            ));
        }
        Ok(())
    }

    /// foca's settings: its LAN profile with our timings.
    pub(crate) fn foca_config(&self) -> foca::Config {
        // Sizes the number of times each update is retransmitted
        // (4 × log10(n + 1)): 6 for up to ~60 members.
        let expected_members = NonZeroU32::new(32).expect("non-zero");
        let mut config = if self.wan {
            foca::Config::new_wan(expected_members)
        } else {
            foca::Config::new_lan(expected_members)
        };
        config.probe_period = self.probe_interval;
        config.probe_rtt = self.probe_timeout;
        config.suspect_to_down_after = self.suspicion;
        // foca forgets a down identity (and stops announcing to it, Serf's
        // reconnect attempts) once we would have reaped it ourselves.
        config.remove_down_after = Some(self.reconnect_timeout.max(self.tombstone_timeout));
        config.periodic_gossip = Some(foca::PeriodicParams {
            frequency: self.gossip_interval,
            num_members: NonZeroUsize::new(if self.wan { 4 } else { 3 }).expect("non-zero"),
        });
        if self.encryption.is_some() {
            // A sealed packet must still fit where a plain one did.
            let sealed_fits = config.max_packet_size.get() - crate::keyring::OVERHEAD;
            config.max_packet_size = NonZeroUsize::new(sealed_fits).expect("non-zero");
        }
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::member::Role;

    fn tags() -> Tags {
        Tags {
            role: Role::Server,
            datacenter: "dc1".into(),
            node_id: "id".into(),
            rpc_addr: None,
            raft_id: None,
            bootstrap_expect: 0,
            build: "0".into(),
            protocol: 2,
        }
    }

    #[test]
    fn the_wan_profile_detects_failures_later_than_the_lan_one() {
        let bind: SocketAddr = "127.0.0.1:8302".parse().unwrap();
        let lan = GossipConfig::new("s1", bind, tags());
        let wan = GossipConfig::wan("s1.dc1", bind, tags());
        assert!(wan.validate().is_ok());
        assert_eq!(wan.probe_interval, Duration::from_secs(5));
        assert_eq!(wan.probe_timeout, Duration::from_secs(3));
        assert_eq!(wan.suspicion, Duration::from_secs(30));
        assert!(wan.suspicion > lan.suspicion && wan.probe_interval > lan.probe_interval);
        let foca = wan.foca_config();
        assert_eq!(foca.probe_period, wan.probe_interval);
        assert_eq!(foca.suspect_to_down_after, wan.suspicion);
        assert_eq!(foca.periodic_gossip.unwrap().num_members.get(), 4);
        assert_eq!(
            lan.foca_config().periodic_gossip.unwrap().num_members.get(),
            3
        );
    }
}
