//! Network coordinates on the agent: converting between the store's
//! records and Consul's JSON, sending this agent's coordinate to the
//! servers (`run_coordinate_sync`, as Consul's agent does every
//! `sync_coordinate_interval_min`), the coordinates of each datacenter's
//! servers (`datacenter_maps`) and the `?near=` ordering of catalog and
//! health answers (`near`).
//!
//! Where coordinates come from and go: gossip measures round trips and
//! keeps this agent's coordinate (`praetor_gossip::Gossip::coordinate`);
//! this module sends it to the servers; the leader batches the updates
//! into the log (`praetor_server::coordinate_updates`); the store keeps
//! one per node (`praetor_store::coordinate`), read back through
//! `/v1/coordinate/*` and used to sort by distance.

pub mod near;
mod sync;

use praetor_api::coordinate::{Coordinate, CoordinateDatacenterMap, CoordinateEntry, WAN_AREA};
use praetor_store::coordinate::{CoordRecord, Float, NodeCoordinate};

pub use sync::{run_coordinate_sync, sync_coordinate_interval};

/// A stored coordinate in Consul's JSON shape.
pub fn to_api(c: NodeCoordinate) -> CoordinateEntry {
    CoordinateEntry {
        node: c.node,
        segment: c.segment,
        coord: to_coordinate(&c.coord),
    }
}

/// A stored coordinate record as a coordinate.
pub fn to_coordinate(c: &CoordRecord) -> Coordinate {
    Coordinate {
        vec: c.vec.iter().map(|f| f.0).collect(),
        error: c.error.0,
        adjustment: c.adjustment.0,
        height: c.height.0,
    }
}

/// An update (`PUT /v1/coordinate/update`, or this agent's own) as the
/// store records it.
pub fn to_record(e: &CoordinateEntry) -> NodeCoordinate {
    NodeCoordinate {
        node: e.node.clone(),
        segment: e.segment.clone(),
        coord: CoordRecord {
            vec: e.coord.vec.iter().copied().map(Float).collect(),
            error: Float(e.coord.error),
            adjustment: Float(e.coord.adjustment),
            height: Float(e.coord.height),
        },
    }
}

/// Why an update was refused (nothing is written).
///
/// # Errors
/// A one-line reason: no node, a segment (Praetor has only the default
/// one), or a coordinate that is not finite, out of range or not of
/// Consul's 8 dimensions.
pub fn validate(e: &CoordinateEntry) -> Result<(), String> {
    if e.node.is_empty() {
        return Err("Missing node name".into());
    }
    if !e.segment.is_empty() {
        return Err(format!(
            "Unknown network segment {:?}: only the default segment exists",
            e.segment
        ));
    }
    if e.coord.vec.len() != praetor_coordinate::DIMENSIONS {
        return Err(format!(
            "rejected bad coordinate: {} dimensions, expected {}",
            e.coord.vec.len(),
            praetor_coordinate::DIMENSIONS
        ));
    }
    if !e.coord.is_sane() {
        return Err(
            "rejected bad coordinate: a component is not finite, out of range or negative".into(),
        );
    }
    Ok(())
}

/// The coordinates of each datacenter's servers, in one area, sorted by
/// datacenter (`/v1/coordinate/datacenters`, and `praetor rtt -wan`):
/// `servers` are (datacenter, server name as the WAN pool lists it,
/// coordinate). `local_dc` is always listed, with no servers if none has
/// a coordinate yet.
///
/// The servers are the WAN pool's members (named `<node>.<dc>`) with
/// the coordinates its gossip measured (`federation::distance`).
pub fn datacenter_maps(
    local_dc: &str,
    servers: impl IntoIterator<Item = (String, String, Coordinate)>,
) -> Vec<CoordinateDatacenterMap> {
    let mut by_dc: std::collections::BTreeMap<String, Vec<CoordinateEntry>> =
        std::collections::BTreeMap::new();
    by_dc.entry(local_dc.to_owned()).or_default();
    for (dc, node, coord) in servers {
        by_dc.entry(dc).or_default().push(CoordinateEntry {
            node,
            segment: String::new(),
            coord,
        });
    }
    by_dc
        .into_iter()
        .map(|(datacenter, coordinates)| CoordinateDatacenterMap {
            datacenter,
            area_id: WAN_AREA.into(),
            coordinates,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use praetor_coordinate::Config;

    use super::*;

    fn entry() -> CoordinateEntry {
        CoordinateEntry {
            node: "n1".into(),
            segment: String::new(),
            coord: Coordinate::new(&Config::default()),
        }
    }

    #[test]
    fn updates_are_validated() {
        assert_eq!(validate(&entry()), Ok(()));
        let mut e = entry();
        e.node.clear();
        assert!(validate(&e).is_err());
        let mut e = entry();
        e.segment = "alpha".into();
        assert!(validate(&e).is_err());
        let mut e = entry();
        e.coord.vec.push(0.0);
        assert!(validate(&e).unwrap_err().contains("9 dimensions"));
        let mut e = entry();
        e.coord.height = f64::NAN;
        assert!(validate(&e).is_err());
        let mut e = entry();
        e.coord.error = -1.0;
        assert!(validate(&e).is_err());
    }

    #[test]
    fn records_convert_both_ways() {
        let e = entry();
        assert_eq!(to_api(to_record(&e)), e);
    }

    #[test]
    fn datacenter_maps_list_every_datacenter_with_its_servers() {
        let own = Coordinate::new(&Config::default());
        let servers = [
            ("dc2".to_owned(), "s1.dc2".to_owned(), own.clone()),
            ("dc1".to_owned(), "s9.dc1".to_owned(), own.clone()),
            ("dc2".to_owned(), "s2.dc2".to_owned(), own.clone()),
        ];
        let maps = datacenter_maps("dc3", servers);
        let listed: Vec<(&str, usize)> = maps
            .iter()
            .map(|m| (m.datacenter.as_str(), m.coordinates.len()))
            .collect();
        // Sorted by datacenter; this one listed even with no server.
        assert_eq!(listed, [("dc1", 1), ("dc2", 2), ("dc3", 0)]);
        assert!(maps.iter().all(|m| m.area_id == "WAN"));
    }
}
