//! Network faults between the cluster's nodes: a partition between two
//! groups or one node isolated, through packet filter rules
//! ([`Partition`], root only) on a [`Spec::partitionable`](super::Spec)
//! cluster, healed when the returned value is healed or dropped.

use std::net::Ipv4Addr;

use super::Cluster;
use crate::partition::{Cut, Partition};
use crate::KitError;

impl Cluster {
    /// Cuts every link between `side_a` and `side_b` (both directions) until
    /// the returned [`Partition`] is healed or dropped. Needs a
    /// [`Spec::partitionable`](super::Spec::partitionable) cluster and root.
    ///
    /// # Errors
    /// `Partition` when the cluster is not partitionable or the rules
    /// cannot be installed; `NoSuchNode`.
    pub fn partition(&self, side_a: &[&str], side_b: &[&str]) -> Result<Partition, KitError> {
        if !self.spec.partitionable {
            return Err(KitError::Partition(
                "this cluster was not started with Spec::partitionable()".into(),
            ));
        }
        let uid_ip = |name: &str| -> Result<(u32, Ipv4Addr), KitError> {
            let n = self.node(name)?;
            let uid = n.agent.uid().ok_or_else(|| {
                KitError::Partition(format!("node {name} does not run under a uid of its own"))
            })?;
            Ok((uid, n.ip()))
        };
        let mut cuts = Vec::new();
        for a in side_a {
            for b in side_b {
                let ((ua, ia), (ub, ib)) = (uid_ip(a)?, uid_ip(b)?);
                cuts.push(Cut { uid: ua, to: ib });
                cuts.push(Cut { uid: ub, to: ia });
            }
        }
        let p = Partition::install(&cuts)?;
        tracing::info!(a = ?side_a, b = ?side_b, mechanism = ?p.mechanism(), "partitioned");
        Ok(p)
    }

    /// Cuts every link between this cluster's nodes and `other`'s (both
    /// directions): two federated datacenters lose their WAN links, and
    /// each keeps its own. Both must be
    /// [`Spec::partitionable`](super::Spec::partitionable) (their
    /// addresses, and so their uids, never overlap).
    ///
    /// # Errors
    /// As [`partition`](Self::partition).
    pub fn partition_from(&self, other: &Cluster) -> Result<Partition, KitError> {
        let uid_ips = |c: &Cluster| -> Result<Vec<(u32, Ipv4Addr)>, KitError> {
            if !c.spec.partitionable {
                return Err(KitError::Partition(format!(
                    "the {} cluster was not started with Spec::partitionable()",
                    c.spec.datacenter
                )));
            }
            c.nodes
                .iter()
                .map(|n| {
                    let uid = n.agent.uid().ok_or_else(|| {
                        KitError::Partition(format!("node {} has no uid of its own", n.name))
                    })?;
                    Ok((uid, n.ip()))
                })
                .collect()
        };
        let (mine, theirs) = (uid_ips(self)?, uid_ips(other)?);
        let mut cuts = Vec::new();
        for (ua, ia) in &mine {
            for (ub, ib) in &theirs {
                cuts.push(Cut { uid: *ua, to: *ib });
                cuts.push(Cut { uid: *ub, to: *ia });
            }
        }
        let p = Partition::install(&cuts)?;
        tracing::info!(a = %self.spec.datacenter, b = %other.spec.datacenter, mechanism = ?p.mechanism(), "datacenters partitioned");
        Ok(p)
    }

    /// Cuts `name` off from every other node.
    ///
    /// # Errors
    /// As [`partition`](Self::partition).
    pub fn isolate(&self, name: &str) -> Result<Partition, KitError> {
        let others = self.names_where(|n| n.name != name);
        let others: Vec<&str> = others.iter().map(String::as_str).collect();
        self.partition(&[name], &others)
    }
}
