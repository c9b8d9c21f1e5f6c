//! Facts members gossip besides liveness, as foca custom broadcasts: a
//! member's tags, and its intent to leave (Serf's leave intent, which is how
//! others tell a graceful leave from a failure: foca reports both as down).
//!
//! The handler only decodes and hands each fact to the member table; foca
//! re-gossips a fact only while it is news to the table.

use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::identity::Ident;
use crate::member::Tags;
use crate::table::Table;

/// The largest encoded fact we accept: a fact must fit in a UDP packet
/// beside foca's header.
pub(crate) const MAX_FACT_LEN: usize = 1024;

/// One custom broadcast.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Fact {
    /// `id`'s tags; of two `Meta` for one name the larger `version` wins.
    Meta { id: Ident, version: u64, tags: Tags },
    /// `id` (this very generation) is leaving, or was forced to leave.
    Leave { id: Ident },
    /// `id` (this generation or an older one) was pruned by `force-leave
    /// -prune`: forget it now instead of after the reap timeouts. Last, so
    /// the earlier variants keep their wire form.
    Prune { id: Ident },
}

impl Fact {
    /// The fact in its wire form.
    pub(crate) fn encode(&self) -> Vec<u8> {
        // Serializing plain data into a Vec cannot fail.
        postcard::to_allocvec(self).unwrap_or_default()
    }

    fn key(&self) -> FactKey {
        match self {
            Fact::Meta { id, version, .. } => FactKey::Meta {
                name: id.name.clone(),
                version: *version,
            },
            Fact::Leave { id } => FactKey::Leave {
                name: id.name.clone(),
                generation: id.generation,
            },
            Fact::Prune { id } => FactKey::Prune {
                name: id.name.clone(),
                generation: id.generation,
            },
        }
    }
}

/// What foca compares to drop stale facts from its send queue.
#[derive(Debug)]
pub(crate) enum FactKey {
    Meta { name: String, version: u64 },
    Leave { name: String, generation: u64 },
    Prune { name: String, generation: u64 },
}

impl foca::Invalidates for FactKey {
    fn invalidates(&self, other: &Self) -> bool {
        match (self, other) {
            (
                FactKey::Meta { name, version },
                FactKey::Meta {
                    name: n,
                    version: v,
                },
            ) => name == n && version >= v,
            (
                FactKey::Leave { name, generation },
                FactKey::Leave {
                    name: n,
                    generation: g,
                },
            ) => name == n && generation >= g,
            (
                FactKey::Prune { name, generation },
                FactKey::Prune {
                    name: n,
                    generation: g,
                },
            ) => name == n && generation >= g,
            _ => false,
        }
    }
}

/// A broadcast that could not be decoded.
#[derive(Debug, thiserror::Error)]
#[error("decoding a gossip fact of {len} bytes")]
pub(crate) struct FactError {
    len: usize,
    #[source]
    source: Option<postcard::Error>,
}

/// foca's [`foca::BroadcastHandler`]: applies each fact to the table. foca
/// calls it only from inside the owner task, so the lock is never contended.
pub(crate) struct FactHandler {
    pub(crate) table: Arc<Mutex<Table>>,
}

impl foca::BroadcastHandler<Ident> for FactHandler {
    type Key = FactKey;
    type Error = FactError;

    fn receive_item(
        &mut self,
        data: &[u8],
        _sender: Option<&Ident>,
    ) -> Result<Option<FactKey>, FactError> {
        if data.len() > MAX_FACT_LEN {
            return Err(FactError {
                len: data.len(),
                source: None,
            });
        }
        let fact: Fact = postcard::from_bytes(data).map_err(|e| FactError {
            len: data.len(),
            source: Some(e),
        })?;
        let news = crate::table::lock(&self.table).apply_fact(&fact, tokio::time::Instant::now());
        Ok(news.then(|| fact.key()))
    }
}

#[cfg(test)]
mod tests {
    use foca::Invalidates;

    use super::*;

    #[test]
    fn newer_meta_invalidates_older_of_the_same_member_only() {
        let meta = |name: &str, version| FactKey::Meta {
            name: name.into(),
            version,
        };
        assert!(meta("a", 2).invalidates(&meta("a", 1)));
        assert!(!meta("a", 1).invalidates(&meta("a", 2)));
        assert!(!meta("b", 2).invalidates(&meta("a", 1)));
        let leave = FactKey::Leave {
            name: "a".into(),
            generation: 9,
        };
        assert!(!leave.invalidates(&meta("a", 1)));
    }
}
