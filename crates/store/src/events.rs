//! User events, kept in the replicated store: the last `KEPT`, each at the
//! Raft index it was fired at (its logical time). Consul spreads events by
//! gossip and each agent keeps its own last 256; here every agent reads the
//! same list from the servers, so no event is missed by an agent that was
//! briefly away.

use std::collections::VecDeque;

use praetor_api::event::UserEvent;
use serde::{Deserialize, Serialize};

use crate::model::EventRecord;

/// How many events are kept (Consul's per-agent buffer size).
pub const KEPT: usize = 256;

/// The recent events, oldest first.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Events {
    list: VecDeque<EventRecord>,
    /// The index of the last event fired.
    index: u64,
}

impl Events {
    pub(crate) fn fire(&mut self, index: u64, mut e: EventRecord) {
        e.ltime = index;
        self.list.push_back(e);
        while self.list.len() > KEPT {
            self.list.pop_front();
        }
        self.index = index;
    }

    /// The index of the last event fired (0: none).
    pub fn index(&self) -> u64 {
        self.index
    }

    /// The kept events (named `name`, when given) and the index of the last
    /// event fired, for blocking queries.
    pub fn list(&self, name: Option<&str>) -> (u64, Vec<UserEvent>) {
        let list = self
            .list
            .iter()
            .filter(|e| name.is_none_or(|n| e.name == n))
            .map(|e| e.clone().into())
            .collect();
        (self.index.max(1), list)
    }
}
