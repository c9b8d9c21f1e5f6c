//! The cluster's autopilot configuration, as Consul keeps it in its state
//! store (`autopilot-config`): one record, written only by
//! `Command::AutopilotSetConfig` (`PUT /v1/operator/autopilot/configuration`),
//! with Consul's check-and-set. Until one is written there is none, and the
//! servers act on their agent configuration's `autopilot` block.
//!
//! The record travels in the Raft log and in snapshots as postcard: plain
//! derives only (see `model.rs`). Never performs I/O and never reads a clock.

use serde::{Deserialize, Serialize};

/// Consul's `structs.AutopilotConfig`, durations in milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AutopilotConfig {
    /// Remove failed servers from the Raft configuration.
    pub cleanup_dead_servers: bool,
    /// How long a server may go without contact from the leader and still
    /// be healthy.
    pub last_contact_threshold_ms: u64,
    /// How many log entries a server may trail the leader by and still be
    /// healthy.
    pub max_trailing_logs: u64,
    /// Cleanup never leaves fewer voters than this.
    pub min_quorum: u64,
    /// How long a server must be healthy before it is made a voter.
    pub server_stabilization_time_ms: u64,
    /// Enterprise in Consul: kept and shown, not acted on.
    pub redundancy_zone_tag: String,
    /// Enterprise in Consul: kept and shown, not acted on.
    pub disable_upgrade_migration: bool,
    /// Enterprise in Consul: kept and shown, not acted on.
    pub upgrade_version_tag: String,
    /// The index the configuration was first written at.
    pub create_index: u64,
    /// The index of its last change (what `?cas=` compares).
    pub modify_index: u64,
}

/// The stored configuration, if one was ever written.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Autopilot {
    config: Option<AutopilotConfig>,
}

impl Autopilot {
    /// The stored configuration; `None` until one is written.
    pub fn config(&self) -> Option<&AutopilotConfig> {
        self.config.as_ref()
    }

    /// The index a read of the configuration reports: its last change,
    /// never below 1.
    pub fn index(&self) -> u64 {
        self.config.as_ref().map_or(0, |c| c.modify_index).max(1)
    }

    /// Writes `config` at `index`. With `cas`, only if the stored
    /// configuration's ModifyIndex equals it; 0 matches a cluster that has
    /// none stored yet, whose configuration reads with ModifyIndex 0.
    /// Returns whether it was written (a failed CAS changes nothing, and
    /// answers `false` as Consul's does).
    pub(crate) fn set(&mut self, index: u64, config: &AutopilotConfig, cas: Option<u64>) -> bool {
        let current = self.config.as_ref().map_or(0, |c| c.modify_index);
        if cas.is_some_and(|want| want != current) {
            return false;
        }
        let create_index = self.config.as_ref().map_or(index, |c| c.create_index);
        self.config = Some(AutopilotConfig {
            create_index,
            modify_index: index,
            ..config.clone()
        });
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(min_quorum: u64) -> AutopilotConfig {
        AutopilotConfig {
            cleanup_dead_servers: true,
            last_contact_threshold_ms: 200,
            max_trailing_logs: 250,
            min_quorum,
            server_stabilization_time_ms: 10_000,
            ..AutopilotConfig::default()
        }
    }

    #[test]
    fn a_write_keeps_its_create_index_and_moves_its_modify_index() {
        let mut a = Autopilot::default();
        assert_eq!((a.config(), a.index()), (None, 1));
        assert!(a.set(5, &config(1), None));
        assert!(a.set(9, &config(3), None));
        let c = a.config().expect("stored");
        assert_eq!((c.create_index, c.modify_index, c.min_quorum), (5, 9, 3));
        assert_eq!(a.index(), 9);
    }

    #[test]
    fn cas_with_a_stale_index_changes_nothing() {
        let mut a = Autopilot::default();
        assert!(
            !a.set(4, &config(1), Some(3)),
            "nothing stored: only 0 matches"
        );
        assert_eq!(a.config(), None);
        assert!(a.set(4, &config(1), Some(0)));
        assert!(!a.set(6, &config(2), Some(0)));
        assert!(!a.set(6, &config(2), Some(5)));
        assert_eq!(a.config().map(|c| c.min_quorum), Some(1));
        assert!(a.set(7, &config(2), Some(4)));
        assert_eq!(
            a.config().map(|c| (c.min_quorum, c.modify_index)),
            Some((2, 7))
        );
    }
}
