//! `praetor rtt [-wan] <node1> [<node2>]`: the estimated round-trip time
//! between two nodes from their network coordinates, as Consul's `rtt`
//! prints it. Without `<node2>`, the other node is the agent's own. LAN
//! coordinates come from `/v1/coordinate/nodes`; with `-wan`, the
//! servers' coordinates from `/v1/coordinate/datacenters`, named
//! `<node>.<datacenter>` (the agent's own is its name there, so it must be
//! a server).

use clap::Args;
use praetor_api::coordinate::{Coordinate, CoordinateDatacenterMap, CoordinateEntry};

use super::HttpArgs;
use crate::output;

#[derive(Args, Debug)]
pub struct RttArgs {
    #[command(flatten)]
    http: HttpArgs,
    /// Use WAN coordinates (servers, named `<node>.<datacenter>`) instead
    /// of LAN coordinates.
    #[arg(long)]
    wan: bool,
    /// One or two node names.
    nodes: Vec<String>,
}

pub async fn run(a: RttArgs) -> anyhow::Result<()> {
    if a.nodes.is_empty() || a.nodes.len() > 2 {
        anyhow::bail!("One or two node names must be specified");
    }
    let client = a.http.client()?;
    let node1 = a.nodes[0].clone();
    let (entries, area) = if a.wan {
        let maps: Vec<CoordinateDatacenterMap> =
            client.get_typed("/v1/coordinate/datacenters", &[]).await?;
        (wan_entries(maps), "WAN")
    } else {
        let entries: Vec<CoordinateEntry> = client.get_typed("/v1/coordinate/nodes", &[]).await?;
        (entries, "LAN")
    };
    let node2 = match a.nodes.get(1) {
        Some(n) => n.clone(),
        None => {
            let me = client.agent_self().await?;
            if a.wan {
                format!("{}.{}", me.config.node_name, me.config.datacenter)
            } else {
                me.config.node_name
            }
        }
    };
    let ms = estimate_ms(&entries, &node1, &node2).map_err(anyhow::Error::msg)?;
    output::line(&line(&node1, &node2, ms, area));
    Ok(())
}

/// Every server's entry in the WAN area of every datacenter.
fn wan_entries(maps: Vec<CoordinateDatacenterMap>) -> Vec<CoordinateEntry> {
    maps.into_iter()
        .filter(|m| m.area_id == praetor_api::coordinate::WAN_AREA)
        .flat_map(|m| m.coordinates)
        .collect()
}

/// Consul's line: `Estimated a <-> b rtt: 1.234 ms (using LAN coordinates)`.
fn line(a: &str, b: &str, ms: f64, area: &str) -> String {
    format!("Estimated {a} <-> {b} rtt: {ms:.3} ms (using {area} coordinates)")
}

/// The estimated round trip between `a` and `b` in milliseconds.
///
/// # Errors
/// Consul's reason when a node has no coordinate, or when the two cannot
/// be compared.
fn estimate_ms(entries: &[CoordinateEntry], a: &str, b: &str) -> Result<f64, String> {
    let find = |node: &str| -> Result<&Coordinate, String> {
        entries
            .iter()
            .filter(|e| e.node == node)
            .min_by_key(|e| !e.segment.is_empty())
            .map(|e| &e.coord)
            .ok_or_else(|| format!("Could not find a coordinate for node {node:?}"))
    };
    let (ca, cb) = (find(a)?, find(b)?);
    ca.distance_seconds(cb)
        .map(|s| s * 1000.0)
        .ok_or_else(|| format!("Coordinates of {a:?} and {b:?} are not compatible"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(node: &str, x: f64) -> CoordinateEntry {
        let mut coord = Coordinate::new(&praetor_api::coordinate::CoordinateConfig::default());
        coord.vec[0] = x;
        coord.height = 0.0;
        CoordinateEntry {
            node: node.into(),
            segment: String::new(),
            coord,
        }
    }

    #[test]
    fn estimates_between_two_nodes_in_milliseconds() {
        let entries = [entry("a", 0.0), entry("b", 0.001234)];
        let ms = estimate_ms(&entries, "a", "b").unwrap();
        assert!((ms - 1.234).abs() < 1e-9, "{ms}");
        assert_eq!(
            line("a", "b", ms, "LAN"),
            "Estimated a <-> b rtt: 1.234 ms (using LAN coordinates)"
        );
        assert_eq!(estimate_ms(&entries, "b", "a").unwrap(), ms);
        assert_eq!(
            estimate_ms(&entries, "a", "c").unwrap_err(),
            "Could not find a coordinate for node \"c\""
        );
    }

    #[test]
    fn wan_entries_come_from_the_wan_area() {
        let maps = vec![
            CoordinateDatacenterMap {
                datacenter: "dc1".into(),
                area_id: "WAN".into(),
                coordinates: vec![entry("s1.dc1", 0.0)],
            },
            CoordinateDatacenterMap {
                datacenter: "dc2".into(),
                area_id: "WAN".into(),
                coordinates: vec![entry("s1.dc2", 0.02)],
            },
            CoordinateDatacenterMap {
                datacenter: "dc3".into(),
                area_id: "other-area".into(),
                coordinates: vec![entry("s1.dc3", 0.5)],
            },
        ];
        let entries = wan_entries(maps);
        assert_eq!(entries.len(), 2);
        let ms = estimate_ms(&entries, "s1.dc1", "s1.dc2").unwrap();
        assert!((ms - 20.0).abs() < 1e-9);
    }
}
