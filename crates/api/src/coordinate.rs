//! Consul's coordinate endpoints' JSON: a node's entry (`/v1/coordinate/
//! nodes`, `/v1/coordinate/node/<node>`, the body of `PUT
//! /v1/coordinate/update`) and a datacenter's servers
//! (`/v1/coordinate/datacenters`). The coordinate itself is
//! `praetor_coordinate::Coordinate` (`Vec`, `Error`, `Adjustment`,
//! `Height`).

use serde::{Deserialize, Serialize};

pub use praetor_coordinate::{Config as CoordinateConfig, Coordinate};

/// A node's coordinate in one network segment (`""`: the default).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CoordinateEntry {
    pub node: String,
    #[serde(default)]
    pub segment: String,
    pub coord: Coordinate,
}

/// A datacenter's servers and their coordinates in one area (`"WAN"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CoordinateDatacenterMap {
    #[serde(rename = "Datacenter")]
    pub datacenter: String,
    #[serde(rename = "AreaID")]
    pub area_id: String,
    #[serde(rename = "Coordinates")]
    pub coordinates: Vec<CoordinateEntry>,
}

/// The area every datacenter of the WAN pool is in.
pub const WAN_AREA: &str = "WAN";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_have_consuls_field_names() {
        let entry = CoordinateEntry {
            node: "n1".into(),
            segment: String::new(),
            coord: Coordinate::new(&praetor_coordinate::Config::default()),
        };
        let json = serde_json::to_value(&entry).unwrap();
        assert_eq!(json["Node"], "n1");
        assert_eq!(json["Segment"], "");
        assert_eq!(json["Coord"]["Error"], 1.5);
        let map = CoordinateDatacenterMap {
            datacenter: "dc1".into(),
            area_id: WAN_AREA.into(),
            coordinates: vec![entry.clone()],
        };
        let json = serde_json::to_value(&map).unwrap();
        assert_eq!(json["AreaID"], "WAN");
        assert_eq!(json["Coordinates"][0]["Node"], "n1");
        // A body without Segment reads as the default segment.
        let back: CoordinateEntry = serde_json::from_value(serde_json::json!({
            "Node": "n1",
            "Coord": {"Vec": [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], "Error": 1.5, "Adjustment": 0.0, "Height": 1.0e-5}
        }))
        .unwrap();
        assert_eq!(back, entry);
    }
}
