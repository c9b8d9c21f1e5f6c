//! The member table: per node name, the newest identity, its tags, what foca
//! says of its liveness and whether it announced a leave; from those, the
//! status Consul shows (alive, leaving, left, failed), the events, the
//! published [`MemberList`] and reaping.
//!
//! Owned by the gossip owner task (foca's fact handler reaches it through
//! the same task). Never performs I/O and never reads a clock: callers pass
//! `now`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use crate::fact::Fact;
use crate::identity::Ident;
use crate::member::{Member, MemberEvent, MemberList, MemberStatus, Tags};

/// How long an alive member may go without known tags before we ask it.
const TAGS_GRACE: Duration = Duration::from_secs(1);
/// How often we ask one member for its tags at most.
const TAGS_RETRY: Duration = Duration::from_secs(5);

/// Locks the table; a panic while it was held cannot leave it half-updated
/// in a way later calls would trip on, so poisoning is ignored.
pub(crate) fn lock(table: &Mutex<Table>) -> MutexGuard<'_, Table> {
    table.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What foca last told us of a member's current identity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Live {
    /// Nothing yet for this generation (learned from a fact first).
    Unknown,
    /// Alive or suspect.
    Alive,
    /// Declared down (left or dead).
    Down,
}

#[derive(Debug)]
struct Entry {
    id: Ident,
    tags: Option<(u64, Tags)>,
    live: Live,
    /// A leave intent for `id.generation` arrived.
    leave: bool,
    /// What was last published (and so reported by an event).
    published: Option<Member>,
    /// When the published status last changed, or the entry was created.
    since: Instant,
    /// When we last asked the member for its tags.
    tags_asked: Option<Instant>,
}

impl Entry {
    fn new(id: Ident, now: Instant) -> Self {
        Entry {
            id,
            tags: None,
            live: Live::Unknown,
            leave: false,
            published: None,
            since: now,
            tags_asked: None,
        }
    }

    /// Switches to a newer generation of the same member: what we knew of
    /// the previous run no longer holds, except its tags until new ones come.
    fn adopt(&mut self, id: &Ident) {
        self.id = id.clone();
        self.leave = false;
        self.live = Live::Unknown;
    }

    fn status(&self) -> Option<MemberStatus> {
        match (self.live, self.leave) {
            (Live::Alive, false) => Some(MemberStatus::Alive),
            (Live::Alive, true) => Some(MemberStatus::Leaving),
            (Live::Down, true) => Some(MemberStatus::Left),
            (Live::Down, false) => Some(MemberStatus::Failed),
            (Live::Unknown, _) => self.published.as_ref().map(|m| m.status),
        }
    }

    fn member(&self) -> Option<Member> {
        let (_, tags) = self.tags.as_ref()?;
        Some(Member {
            name: self.id.name.clone(),
            addr: self.id.addr,
            tags: tags.clone(),
            status: self.status()?,
            generation: self.id.generation,
        })
    }
}

/// Every member this node knows, itself included.
#[derive(Debug)]
pub(crate) struct Table {
    local: String,
    entries: HashMap<String, Entry>,
    events: Vec<MemberEvent>,
    version: u64,
    /// Someone gossiped that we are leaving while we are not: we must say
    /// otherwise (Serf's refutation of a false leave intent).
    refute: bool,
    /// The owner is queueing a fact about us: it is news (once).
    own_fact: bool,
}

impl Table {
    /// A table holding only the local member, alive.
    pub(crate) fn new(local: Ident, version: u64, tags: Tags, now: Instant) -> Self {
        let mut entry = Entry::new(local.clone(), now);
        entry.tags = Some((version, tags));
        entry.live = Live::Alive;
        entry.published = entry.member();
        Table {
            local: local.name.clone(),
            entries: HashMap::from([(local.name, entry)]),
            events: Vec::new(),
            version: 1,
            refute: false,
            own_fact: false,
        }
    }

    fn local_entry(&mut self) -> &mut Entry {
        self.entries
            .get_mut(&self.local)
            .expect("the local member is never removed")
    }

    /// The entry for `id`'s name, switched to `id`'s generation if that is
    /// newer; `None` if `id` is an older generation than the one we know.
    fn entry_for(&mut self, id: &Ident, now: Instant) -> Option<&mut Entry> {
        let entry = self
            .entries
            .entry(id.name.clone())
            .or_insert_with(|| Entry::new(id.clone(), now));
        if id.generation < entry.id.generation {
            return None;
        }
        if id.generation > entry.id.generation {
            entry.adopt(id);
        }
        Some(entry)
    }

    /// Applies a gossiped fact; true if it was news (foca then passes it on).
    pub(crate) fn apply_fact(&mut self, fact: &Fact, now: Instant) -> bool {
        match fact {
            Fact::Meta { id, version, tags } => {
                if id.name == self.local {
                    return std::mem::take(&mut self.own_fact);
                }
                let Some(entry) = self.entry_for(id, now) else {
                    return false;
                };
                if entry.tags.as_ref().is_some_and(|(v, _)| v >= version) {
                    return false;
                }
                entry.tags = Some((*version, tags.clone()));
                // A newer announcement refutes a leave intent the member did
                // not make (see `refute`).
                if entry.live == Live::Alive {
                    entry.leave = false;
                }
                true
            }
            Fact::Leave { id } => {
                if id.name == self.local {
                    if std::mem::take(&mut self.own_fact) {
                        return true;
                    }
                    let local = self.local_entry();
                    if id.generation == local.id.generation && !local.leave {
                        self.refute = true;
                    }
                    return false;
                }
                let Some(entry) = self.entry_for(id, now) else {
                    return false;
                };
                let news = !entry.leave;
                entry.leave = true;
                news
            }
            Fact::Prune { id } => {
                let known = self
                    .entries
                    .get(&id.name)
                    .is_some_and(|e| e.id.generation <= id.generation && e.live != Live::Alive);
                if id.name == self.local || !known {
                    return false;
                }
                if let Some(member) = self.entries.remove(&id.name).and_then(|e| e.published) {
                    tracing::info!(member = %member.name, "member pruned");
                    self.events.push(MemberEvent::Reap(member));
                    self.version += 1;
                }
                true
            }
        }
    }

    /// foca: `id` is alive (`true`) or down (`false`).
    pub(crate) fn set_live(&mut self, id: &Ident, alive: bool, now: Instant) {
        if id.name == self.local {
            return;
        }
        if let Some(entry) = self.entry_for(id, now) {
            entry.live = if alive { Live::Alive } else { Live::Down };
        }
    }

    /// foca: `new` replaced an older identity of the same member; its
    /// liveness is reported separately when it differs.
    pub(crate) fn rename(&mut self, new: &Ident, now: Instant) {
        if new.name == self.local {
            return;
        }
        let entry = self
            .entries
            .entry(new.name.clone())
            .or_insert_with(|| Entry::new(new.clone(), now));
        if new.generation > entry.id.generation {
            entry.id = new.clone();
            entry.leave = false;
        }
    }

    /// A peer's full state listed `id` as down: a member we know but foca
    /// never reported on is down. Like memberlist, news of the death of a
    /// member we never knew is ignored: it would resurrect members others
    /// already reaped.
    pub(crate) fn learn_down(&mut self, id: &Ident, now: Instant) {
        if id.name == self.local || !self.entries.contains_key(&id.name) {
            return;
        }
        if let Some(entry) = self.entry_for(id, now) {
            if entry.live == Live::Unknown {
                entry.live = Live::Down;
            }
        }
    }

    /// Sets the local member's status (alive, leaving or left).
    pub(crate) fn set_local_status(&mut self, status: MemberStatus) {
        let local = self.local_entry();
        (local.live, local.leave) = match status {
            MemberStatus::Alive => (Live::Alive, false),
            MemberStatus::Leaving => (Live::Alive, true),
            MemberStatus::Left | MemberStatus::Failed => (Live::Down, true),
        };
    }

    /// Sets the local member's identity (after foca renewed it) or tags.
    pub(crate) fn set_local(&mut self, id: &Ident, version: u64, tags: &Tags) {
        let local = self.local_entry();
        local.id = id.clone();
        local.tags = Some((version, tags.clone()));
    }

    /// Marks the fact foca is about to receive from us as our own (`true`
    /// before `add_broadcast`, `false` after).
    pub(crate) fn expect_own_fact(&mut self, own: bool) {
        self.own_fact = own;
    }

    /// True once after someone claimed we are leaving while we are not.
    pub(crate) fn take_refute(&mut self) -> bool {
        std::mem::take(&mut self.refute)
    }

    /// Turns the entries' state into statuses, queues an event for every
    /// published change and returns whether anything changed.
    pub(crate) fn publish(&mut self, now: Instant) -> bool {
        let mut changed = false;
        for entry in self.entries.values_mut() {
            let Some(member) = entry.member() else {
                continue;
            };
            let previous = entry.published.as_ref();
            if previous == Some(&member) {
                continue;
            }
            let event = match (previous.map(|m| m.status), member.status) {
                (None | Some(MemberStatus::Failed | MemberStatus::Left), MemberStatus::Alive)
                | (None | Some(MemberStatus::Failed | MemberStatus::Left), MemberStatus::Leaving) =>
                {
                    tracing::info!(member = %member.name, addr = %member.addr, generation = member.generation, "member joined");
                    MemberEvent::Join(member.clone())
                }
                (Some(before), after) if before == after => MemberEvent::Update(member.clone()),
                (_, MemberStatus::Failed) => {
                    tracing::info!(member = %member.name, addr = %member.addr, "member failed");
                    MemberEvent::Fail(member.clone())
                }
                (_, MemberStatus::Left) => {
                    tracing::info!(member = %member.name, addr = %member.addr, "member left");
                    MemberEvent::Leave(member.clone())
                }
                (Some(_), MemberStatus::Alive | MemberStatus::Leaving) => {
                    tracing::info!(member = %member.name, status = %member.status, "member status changed");
                    MemberEvent::Update(member.clone())
                }
            };
            if previous.map(|m| m.status) != Some(member.status) {
                entry.since = now;
            }
            entry.published = Some(member);
            self.events.push(event);
            changed = true;
        }
        if changed {
            self.version += 1;
        }
        changed
    }

    /// Forgets failed members after `reconnect`, left ones after
    /// `tombstone` (Consul's reconnect and tombstone timeouts), and members
    /// never listed (no tags) that are not alive after `reconnect`.
    pub(crate) fn reap(&mut self, now: Instant, reconnect: Duration, tombstone: Duration) -> bool {
        let local = self.local.clone();
        let mut reaped = Vec::new();
        self.entries.retain(|name, entry| {
            if *name == local {
                return true;
            }
            let keep_for = match entry.published.as_ref().map(|m| m.status) {
                Some(MemberStatus::Alive | MemberStatus::Leaving) => return true,
                Some(MemberStatus::Failed) => reconnect,
                Some(MemberStatus::Left) => tombstone,
                None if entry.live == Live::Alive => return true,
                None => reconnect,
            };
            if now.saturating_duration_since(entry.since) < keep_for {
                return true;
            }
            if let Some(member) = entry.published.take() {
                tracing::info!(member = %member.name, status = %member.status, "member reaped");
                reaped.push(MemberEvent::Reap(member));
            }
            false
        });
        let changed = !reaped.is_empty();
        if changed {
            self.events.append(&mut reaped);
            self.version += 1;
        }
        changed
    }

    /// The events queued since the last call, oldest first.
    pub(crate) fn take_events(&mut self) -> Vec<MemberEvent> {
        std::mem::take(&mut self.events)
    }

    /// Grows with every change to the listed members.
    pub(crate) fn version(&self) -> u64 {
        self.version
    }

    /// Every listed member, sorted by name.
    pub(crate) fn snapshot(&self) -> MemberList {
        let mut members: Vec<Member> = self
            .entries
            .values()
            .filter_map(|e| e.published.clone())
            .collect();
        members.sort_by(|a, b| a.name.cmp(&b.name));
        MemberList {
            version: self.version,
            members: Arc::from(members),
        }
    }

    /// What we know beyond liveness, for a push/pull exchange: the tags and
    /// leave intent of every listed member (facts about members we never
    /// listed are not passed on, so they die out once reaped everywhere).
    pub(crate) fn facts(&self) -> Vec<Fact> {
        let mut facts = Vec::new();
        for entry in self.entries.values().filter(|e| e.published.is_some()) {
            if let Some((version, tags)) = &entry.tags {
                facts.push(Fact::Meta {
                    id: entry.id.clone(),
                    version: *version,
                    tags: tags.clone(),
                });
            }
            if entry.leave {
                facts.push(Fact::Leave {
                    id: entry.id.clone(),
                });
            }
        }
        facts
    }

    /// Alive members whose tags we still miss after a grace period, each at
    /// most once per retry period: the owner asks them directly.
    pub(crate) fn missing_tags(&mut self, now: Instant) -> Vec<Ident> {
        let mut ask = Vec::new();
        for entry in self.entries.values_mut() {
            let due = entry
                .tags_asked
                .is_none_or(|at| now.saturating_duration_since(at) >= TAGS_RETRY);
            if entry.live == Live::Alive
                && entry.tags.is_none()
                && due
                && now.saturating_duration_since(entry.since) >= TAGS_GRACE
            {
                entry.tags_asked = Some(now);
                ask.push(entry.id.clone());
            }
        }
        ask
    }

    /// The listed status and current identity of `name`.
    pub(crate) fn get(&self, name: &str) -> Option<(MemberStatus, Ident)> {
        let entry = self.entries.get(name)?;
        Some((entry.published.as_ref()?.status, entry.id.clone()))
    }

    /// The identity and node ID of `name` while it is alive (as foca last
    /// reported) and its tags are known.
    pub(crate) fn alive_node_id(&self, name: &str) -> Option<(Ident, String)> {
        let entry = self.entries.get(name)?;
        let (_, tags) = entry.tags.as_ref()?;
        (entry.live == Live::Alive).then(|| (entry.id.clone(), tags.node_id.clone()))
    }

    /// The datacenter `name` announced, once its tags are known.
    pub(crate) fn datacenter_of(&self, name: &str) -> Option<String> {
        let (_, tags) = self.entries.get(name)?.tags.as_ref()?;
        Some(tags.datacenter.clone())
    }

    /// The identities of the alive members other than us.
    pub(crate) fn alive_others(&self) -> Vec<Ident> {
        self.entries
            .values()
            .filter(|e| e.id.name != self.local && e.live == Live::Alive)
            .map(|e| e.id.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests;
