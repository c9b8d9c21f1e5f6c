//! How far each datacenter is, from a server's WAN pool, as Consul's
//! router estimates it (`GetDatacentersByDistance`): the WAN pool's
//! coordinate pings give this server a Vivaldi coordinate and cache each
//! other server's; a datacenter's distance is the median of the
//! estimated round trips from this server to each of its servers. This
//! datacenter is at 0, a server without a usable coordinate counts as
//! infinitely far, and datacenters sort nearest first, those at an
//! unknown distance last, ties by name. The same coordinates, by
//! datacenter, are `/v1/coordinate/datacenters` ([`wan_maps`]).

use std::collections::BTreeMap;

use praetor_api::coordinate::{Coordinate, CoordinateDatacenterMap};
use praetor_gossip::{Gossip, Member, MemberStatus, Role};

/// A server of the WAN pool (`<node>.<dc>`) and the coordinate this
/// server holds for it, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct WanServer {
    pub datacenter: String,
    pub name: String,
    pub status: MemberStatus,
    pub coord: Option<Coordinate>,
}

/// The servers of the WAN pool not left: this one with its own
/// coordinate (`own_name`, `own`), the others with the coordinate last
/// heard from them (`peers`).
#[must_use]
pub fn wan_servers(
    own_name: &str,
    own: &Coordinate,
    members: &[Member],
    peers: &BTreeMap<String, Coordinate>,
) -> Vec<WanServer> {
    members
        .iter()
        .filter(|m| m.tags.role == Role::Server && m.status != MemberStatus::Left)
        .map(|m| WanServer {
            datacenter: m.tags.datacenter.clone(),
            name: m.name.clone(),
            status: m.status,
            coord: if m.name == own_name {
                Some(own.clone())
            } else {
                peers.get(&m.name).cloned()
            },
        })
        .collect()
}

/// [`wan_servers`] of a running WAN pool.
#[must_use]
pub fn pool_servers(gossip: &Gossip) -> Vec<WanServer> {
    wan_servers(
        &gossip.local().name,
        &gossip.coordinate(),
        &gossip.members(),
        &gossip.peer_coordinates(),
    )
}

/// Each datacenter's median estimated round trip from `own`, in seconds:
/// `local` at 0 (listed even without servers), another the median of the
/// estimates to its servers, where a server without a coordinate
/// comparable to `own` is infinitely far. Of an even count the upper of
/// the two middle values is taken, as Consul does.
#[must_use]
pub fn median_rtts(local: &str, own: &Coordinate, servers: &[WanServer]) -> BTreeMap<String, f64> {
    let mut by_dc: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for s in servers.iter().filter(|s| s.datacenter != local) {
        let rtt = s
            .coord
            .as_ref()
            .and_then(|c| own.distance_seconds(c))
            .unwrap_or(f64::INFINITY);
        by_dc.entry(s.datacenter.clone()).or_default().push(rtt);
    }
    let mut out: BTreeMap<String, f64> = by_dc
        .into_iter()
        .map(|(dc, mut rtts)| {
            rtts.sort_by(f64::total_cmp);
            (dc, rtts[rtts.len() / 2])
        })
        .collect();
    out.insert(local.to_owned(), 0.0);
    out
}

/// The datacenters of `rtts`, nearest first: `local` first, then by
/// median round trip, those at an unknown (infinite or NaN) distance
/// last; equal distances by name.
#[must_use]
pub fn by_distance(local: &str, rtts: &BTreeMap<String, f64>) -> Vec<String> {
    let key = |dc: &str| -> f64 {
        match rtts.get(dc).copied() {
            _ if dc == local => f64::NEG_INFINITY,
            Some(d) if d.is_finite() => d.max(0.0),
            _ => f64::INFINITY,
        }
    };
    let mut dcs: Vec<String> = rtts.keys().cloned().collect();
    if !rtts.contains_key(local) {
        dcs.push(local.to_owned());
    }
    // Stable on a list already sorted by name: ties keep the name order.
    dcs.sort();
    dcs.sort_by(|a, b| key(a.as_str()).total_cmp(&key(b.as_str())));
    dcs
}

/// `/v1/coordinate/datacenters` from the WAN pool: each datacenter's
/// alive servers with a coordinate, by datacenter (`local` always
/// listed), in the WAN area.
#[must_use]
pub fn wan_maps(local: &str, servers: &[WanServer]) -> Vec<CoordinateDatacenterMap> {
    crate::coordinate::datacenter_maps(
        local,
        servers
            .iter()
            .filter(|s| s.status == MemberStatus::Alive)
            .filter_map(|s| Some((s.datacenter.clone(), s.name.clone(), s.coord.clone()?))),
    )
}

#[cfg(test)]
mod tests {
    use praetor_api::coordinate::CoordinateConfig;

    use super::*;

    /// A coordinate `x` seconds along the first axis, no height.
    fn at(x: f64) -> Coordinate {
        let mut c = Coordinate::new(&CoordinateConfig::default());
        c.vec[0] = x;
        c.height = 0.0;
        c
    }

    fn server(dc: &str, node: &str, coord: Option<Coordinate>) -> WanServer {
        WanServer {
            datacenter: dc.into(),
            name: format!("{node}.{dc}"),
            status: MemberStatus::Alive,
            coord,
        }
    }

    #[test]
    fn a_datacenters_distance_is_the_median_of_its_servers() {
        let own = at(0.0);
        let servers = [
            // Odd count: the middle one.
            server("three", "s1", Some(at(0.010))),
            server("three", "s2", Some(at(0.500))),
            server("three", "s3", Some(at(0.030))),
            // Even count: the upper of the middle two.
            server("two", "s1", Some(at(0.020))),
            server("two", "s2", Some(at(0.040))),
            // One unknown of three does not make it unknown.
            server("part", "s1", Some(at(0.050))),
            server("part", "s2", None),
            server("part", "s3", Some(at(0.060))),
            // Mostly unknown: unknown.
            server("dark", "s1", None),
            server("dark", "s2", Some(at(0.001))),
            // This datacenter's own servers are at 0, whatever they say.
            server("home", "s2", Some(at(0.900))),
        ];
        let rtts = median_rtts("home", &own, &servers);
        let close = |dc: &str, want: f64| (rtts[dc] - want).abs() < 1e-9;
        assert!(close("three", 0.030), "{rtts:?}");
        assert!(close("two", 0.040), "{rtts:?}");
        assert!(close("part", 0.060), "{rtts:?}");
        assert!(rtts["dark"].is_infinite(), "{rtts:?}");
        assert_eq!(rtts["home"], 0.0);
        assert_eq!(
            by_distance("home", &rtts),
            ["home", "three", "two", "part", "dark"]
        );
        // Without servers, this datacenter alone.
        assert_eq!(median_rtts("home", &own, &[]).len(), 1);
    }

    #[test]
    fn nearest_first_unknown_last_and_ties_by_name() {
        let rtts: BTreeMap<String, f64> = [
            ("a-far", 0.200),
            ("b-near", 0.010),
            ("c-tie", 0.050),
            ("b-tie", 0.050),
            ("z-unknown", f64::INFINITY),
            ("m-unknown", f64::NAN),
            ("local", 0.0),
            ("aa-zero", 0.0),
        ]
        .into_iter()
        .map(|(dc, d)| (dc.to_owned(), d))
        .collect();
        assert_eq!(
            by_distance("local", &rtts),
            [
                "local",
                "aa-zero",
                "b-near",
                "b-tie",
                "c-tie",
                "a-far",
                "m-unknown",
                "z-unknown"
            ]
        );
        // The local datacenter comes first even when not measured.
        let only_others: BTreeMap<String, f64> = [("dc2".to_owned(), 0.0)].into();
        assert_eq!(by_distance("dc1", &only_others), ["dc1", "dc2"]);
        // Nothing known: local, then every other by name.
        let unknown: BTreeMap<String, f64> = ["dc3", "dc1", "dc2", "aa"]
            .map(|dc| (dc.to_owned(), f64::INFINITY))
            .into();
        assert_eq!(by_distance("dc2", &unknown), ["dc2", "aa", "dc1", "dc3"]);
    }

    #[test]
    fn wan_maps_list_alive_servers_with_coordinates() {
        let mut failed = server("dc2", "s2", Some(at(0.1)));
        failed.status = MemberStatus::Failed;
        let servers = [
            server("dc1", "s1", Some(at(0.0))),
            server("dc2", "s1", Some(at(0.1))),
            failed,
            server("dc2", "s3", None),
        ];
        let maps = wan_maps("dc1", &servers);
        let listed: Vec<(&str, Vec<&str>)> = maps
            .iter()
            .map(|m| {
                (
                    m.datacenter.as_str(),
                    m.coordinates.iter().map(|c| c.node.as_str()).collect(),
                )
            })
            .collect();
        assert_eq!(listed, [("dc1", vec!["s1.dc1"]), ("dc2", vec!["s1.dc2"])]);
        assert!(maps.iter().all(|m| m.area_id == "WAN"));
    }
}
