use std::time::Duration;

use tokio::time::Instant;

use super::*;
use crate::member::Role;

fn tags(dc: &str) -> Tags {
    Tags {
        role: Role::Client,
        datacenter: dc.into(),
        node_id: "00000000-0000-0000-0000-000000000000".into(),
        rpc_addr: None,
        raft_id: None,
        bootstrap_expect: 0,
        build: "0.1.0".into(),
        protocol: 2,
    }
}

fn id(name: &str, generation: u64) -> Ident {
    Ident {
        name: name.into(),
        addr: "127.0.0.1:8301".parse().unwrap(),
        generation,
    }
}

fn table(now: Instant) -> Table {
    Table::new(id("local", 1), 1, tags("dc1"), now)
}

fn meta(name: &str, generation: u64, version: u64) -> Fact {
    Fact::Meta {
        id: id(name, generation),
        version,
        tags: tags("dc1"),
    }
}

fn status(t: &Table, name: &str) -> Option<MemberStatus> {
    t.get(name).map(|(s, _)| s)
}

#[test]
fn a_member_is_listed_once_alive_with_tags_and_joins_once() {
    let now = Instant::now();
    let mut t = table(now);
    t.set_live(&id("a", 1), true, now);
    t.publish(now);
    assert_eq!(status(&t, "a"), None, "no tags yet: not listed");
    assert!(t.apply_fact(&meta("a", 1, 1), now));
    assert!(!t.apply_fact(&meta("a", 1, 1), now), "a fact is news once");
    t.publish(now);
    assert_eq!(status(&t, "a"), Some(MemberStatus::Alive));
    let events = t.take_events();
    assert!(matches!(events.as_slice(), [MemberEvent::Join(m)] if m.name == "a"));
}

#[test]
fn down_without_intent_is_failed_and_with_intent_left() {
    let now = Instant::now();
    let mut t = table(now);
    for name in ["a", "b"] {
        t.apply_fact(&meta(name, 1, 1), now);
        t.set_live(&id(name, 1), true, now);
    }
    assert!(t.apply_fact(&Fact::Leave { id: id("b", 1) }, now));
    t.publish(now);
    assert_eq!(status(&t, "b"), Some(MemberStatus::Leaving));
    t.set_live(&id("a", 1), false, now);
    t.set_live(&id("b", 1), false, now);
    t.publish(now);
    assert_eq!(status(&t, "a"), Some(MemberStatus::Failed));
    assert_eq!(status(&t, "b"), Some(MemberStatus::Left));
    // A late intent turns a failure into a leave (force-leave does this).
    assert!(t.apply_fact(&Fact::Leave { id: id("a", 1) }, now));
    t.publish(now);
    assert_eq!(status(&t, "a"), Some(MemberStatus::Left));
    let events = t.take_events();
    assert!(events
        .iter()
        .any(|e| matches!(e, MemberEvent::Fail(m) if m.name == "a")));
    assert!(events
        .iter()
        .any(|e| matches!(e, MemberEvent::Leave(m) if m.name == "a")));
}

#[test]
fn stale_generations_are_ignored_and_a_newer_one_rejoins() {
    let now = Instant::now();
    let mut t = table(now);
    t.apply_fact(&meta("a", 5, 5), now);
    t.set_live(&id("a", 5), true, now);
    t.set_live(&id("a", 5), false, now);
    t.publish(now);
    assert_eq!(status(&t, "a"), Some(MemberStatus::Failed));
    t.set_live(&id("a", 4), true, now);
    assert!(!t.apply_fact(&Fact::Leave { id: id("a", 4) }, now));
    t.publish(now);
    assert_eq!(status(&t, "a"), Some(MemberStatus::Failed));
    t.take_events();
    t.set_live(&id("a", 6), true, now);
    t.publish(now);
    assert_eq!(t.get("a").unwrap(), (MemberStatus::Alive, id("a", 6)));
    assert!(matches!(t.take_events().as_slice(), [MemberEvent::Join(m)] if m.generation == 6));
}

#[test]
fn failed_and_left_members_are_reaped_after_their_timeouts() {
    let start = Instant::now();
    let mut t = table(start);
    for name in ["a", "b"] {
        t.apply_fact(&meta(name, 1, 1), start);
        t.set_live(&id(name, 1), true, start);
        t.set_live(&id(name, 1), false, start);
    }
    t.apply_fact(&Fact::Leave { id: id("b", 1) }, start);
    t.publish(start);
    t.take_events();
    let (reconnect, tombstone) = (Duration::from_secs(10), Duration::from_secs(20));
    assert!(!t.reap(start + Duration::from_secs(9), reconnect, tombstone));
    assert!(t.reap(start + Duration::from_secs(10), reconnect, tombstone));
    assert_eq!(status(&t, "a"), None);
    assert_eq!(status(&t, "b"), Some(MemberStatus::Left));
    assert!(t.reap(start + Duration::from_secs(20), reconnect, tombstone));
    assert_eq!(status(&t, "b"), None);
    assert_eq!(status(&t, "local"), Some(MemberStatus::Alive));
    let reaped: Vec<_> = t
        .take_events()
        .into_iter()
        .map(|e| match e {
            MemberEvent::Reap(m) => m.name,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(reaped, ["a", "b"]);
}

#[test]
fn a_leave_intent_about_us_is_refuted_unless_our_own() {
    let now = Instant::now();
    let mut t = table(now);
    assert!(!t.apply_fact(&Fact::Leave { id: id("local", 1) }, now));
    assert!(t.take_refute());
    assert!(!t.take_refute());
    t.expect_own_fact(true);
    assert!(t.apply_fact(&Fact::Leave { id: id("local", 1) }, now));
    assert!(!t.take_refute());
}

#[test]
fn a_newer_announcement_clears_a_leave_intent_of_an_alive_member() {
    let now = Instant::now();
    let mut t = table(now);
    t.apply_fact(&meta("a", 1, 1), now);
    t.set_live(&id("a", 1), true, now);
    t.apply_fact(&Fact::Leave { id: id("a", 1) }, now);
    t.publish(now);
    assert_eq!(status(&t, "a"), Some(MemberStatus::Leaving));
    assert!(t.apply_fact(&meta("a", 1, 2), now));
    t.publish(now);
    assert_eq!(status(&t, "a"), Some(MemberStatus::Alive));
}

#[test]
fn news_of_an_unknown_dead_member_is_ignored_and_unlisted_facts_stay_here() {
    let now = Instant::now();
    let mut t = table(now);
    t.learn_down(&id("ghost", 1), now);
    t.apply_fact(&meta("ghost", 1, 1), now);
    t.publish(now);
    assert_eq!(status(&t, "ghost"), None);
    let names: Vec<String> = t
        .facts()
        .into_iter()
        .map(|f| match f {
            Fact::Meta { id, .. } | Fact::Leave { id } | Fact::Prune { id } => id.name,
        })
        .collect();
    assert_eq!(names, ["local"]);
    // A member we know, listed down by a peer, is failed.
    t.apply_fact(&meta("a", 1, 1), now);
    t.learn_down(&id("a", 1), now);
    t.publish(now);
    assert_eq!(status(&t, "a"), Some(MemberStatus::Failed));
}

#[test]
fn a_prune_forgets_a_member_that_is_not_alive_and_never_an_alive_one() {
    let now = Instant::now();
    let mut t = table(now);
    for name in ["dead", "up"] {
        t.apply_fact(&meta(name, 1, 1), now);
        t.set_live(&id(name, 1), name == "up", now);
    }
    t.publish(now);
    t.take_events();
    assert!(t.apply_fact(&Fact::Prune { id: id("dead", 1) }, now));
    assert_eq!(status(&t, "dead"), None);
    assert!(matches!(t.take_events().as_slice(), [MemberEvent::Reap(m)] if m.name == "dead"));
    assert!(!t.apply_fact(&Fact::Prune { id: id("up", 1) }, now));
    assert_eq!(status(&t, "up"), Some(MemberStatus::Alive));
    assert!(!t.apply_fact(&Fact::Prune { id: id("local", 1) }, now));
}
