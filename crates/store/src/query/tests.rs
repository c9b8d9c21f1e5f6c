use super::*;
use proptest::prelude::*;

fn uuid(n: u64) -> String {
    format!("{:08x}-0000-4000-8000-{:012x}", n, n)
}

fn query(n: u64, name: &str, template: bool) -> PreparedQuery {
    PreparedQuery {
        id: uuid(n),
        name: name.into(),
        service: ServiceQuery {
            service: "web".into(),
            ..Default::default()
        },
        template: template.then(|| QueryTemplate {
            kind: "name_prefix_match".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn no_sessions(_: &str) -> bool {
    false
}

#[test]
fn a_commands_approximate_size_is_at_least_its_encoding() {
    let mut q = query(1, "web", true);
    q.service.tags = vec!["t".repeat(300); 10];
    q.service.node_meta.insert("k".into(), "v".repeat(500));
    for cmd in [
        QueryCommand::Create(q.clone()),
        QueryCommand::Update(q),
        QueryCommand::Delete { id: uuid(1) },
    ] {
        let encoded = postcard::to_stdvec(&cmd).unwrap().len();
        assert!(
            cmd.approx_size() >= encoded,
            "{} < {encoded}",
            cmd.approx_size()
        );
    }
}

#[test]
fn uuids_are_recognised_in_either_case_and_nothing_else_is() {
    assert!(is_uuid("8f246b77-f3e1-ff88-5b48-8ec93abf3e05"));
    assert!(is_uuid("8F246B77-F3E1-FF88-5B48-8EC93ABF3E05"));
    assert!(!is_uuid("8f246b77f3e1ff885b488ec93abf3e05"));
    assert!(!is_uuid("8f246b77-f3e1-ff88-5b48-8ec93abf3e0"));
    assert!(!is_uuid("8f246b77-f3e1-ff88-5b48-8ec93abf3e0g"));
    assert!(!is_uuid("web"));
}

#[test]
fn create_update_and_delete_keep_create_index_and_move_the_table_index() {
    let mut t = PreparedQueries::default();
    assert_eq!(t.index(), 1);
    assert_eq!(
        t.apply(
            5,
            &QueryCommand::Create(query(1, "web", false)),
            no_sessions
        ),
        Ok(true)
    );
    let mut changed = query(1, "web2", false);
    changed.service.only_passing = true;
    assert_eq!(
        t.apply(7, &QueryCommand::Update(changed), no_sessions),
        Ok(true)
    );
    let q = t.get(&uuid(1)).unwrap();
    assert_eq!(
        (q.create_index, q.modify_index, q.name.as_str()),
        (5, 7, "web2")
    );
    assert!(q.service.only_passing);
    assert_eq!(t.index(), 7);
    assert_eq!(
        t.apply(9, &QueryCommand::Delete { id: uuid(1) }, no_sessions),
        Ok(true)
    );
    assert_eq!(
        t.apply(10, &QueryCommand::Delete { id: uuid(1) }, no_sessions),
        Ok(false)
    );
    assert_eq!(t.index(), 9);
    assert!(t.is_empty());
}

#[test]
fn an_update_with_the_redacted_token_keeps_the_stored_one() {
    let mut t = PreparedQueries::default();
    let q = PreparedQuery {
        token: "secret".into(),
        ..query(1, "web", false)
    };
    t.apply(2, &QueryCommand::Create(q.clone()), no_sessions)
        .unwrap();
    let back = PreparedQuery {
        token: REDACTED_TOKEN.into(),
        ..q.clone()
    };
    t.apply(3, &QueryCommand::Update(back), no_sessions)
        .unwrap();
    assert_eq!(t.get(&uuid(1)).unwrap().token, "secret");
    let changed = PreparedQuery {
        token: "other".into(),
        ..q
    };
    t.apply(4, &QueryCommand::Update(changed), no_sessions)
        .unwrap();
    assert_eq!(t.get(&uuid(1)).unwrap().token, "other");
}

#[test]
fn invalid_writes_are_refused_and_change_nothing() {
    let mut t = PreparedQueries::default();
    t.apply(
        2,
        &QueryCommand::Create(query(1, "web", false)),
        no_sessions,
    )
    .unwrap();
    let before = t.clone();
    let refused = [
        QueryCommand::Create(query(1, "other", false)),
        QueryCommand::Create(query(2, "web", false)),
        QueryCommand::Create(query(2, "web", true)),
        QueryCommand::Create(query(2, &uuid(9), false)),
        QueryCommand::Create(PreparedQuery {
            id: "not-a-uuid".into(),
            ..query(2, "x", false)
        }),
        QueryCommand::Create(PreparedQuery {
            session: "gone".into(),
            ..query(2, "x", false)
        }),
        QueryCommand::Update(query(3, "y", false)),
    ];
    for cmd in refused {
        assert!(
            t.apply(3, &cmd, no_sessions).is_err(),
            "{cmd:?} was accepted"
        );
        assert_eq!(t, before);
    }
    assert_eq!(
        t.apply(
            3,
            &QueryCommand::Create(query(2, &uuid(9), false)),
            no_sessions
        ),
        Err("Query names cannot be UUIDs".into())
    );
}

#[test]
fn unnamed_static_queries_may_be_many_but_one_catch_all_template() {
    let mut t = PreparedQueries::default();
    for n in 1..=3 {
        t.apply(n, &QueryCommand::Create(query(n, "", false)), no_sessions)
            .unwrap();
    }
    t.apply(4, &QueryCommand::Create(query(4, "", true)), no_sessions)
        .unwrap();
    assert!(t
        .apply(5, &QueryCommand::Create(query(5, "", true)), no_sessions)
        .is_err());
    assert_eq!(t.resolve("anything").map(|q| q.id.clone()), Some(uuid(4)));
    assert_eq!(t.resolve("").map(|q| q.id.clone()), Some(uuid(4)));
    assert_eq!(t.resolve(&uuid(2)).map(|q| q.id.clone()), Some(uuid(2)));
}

#[test]
fn resolve_prefers_an_id_then_an_exact_name_then_the_longest_template_prefix() {
    let mut t = PreparedQueries::default();
    let all = [
        query(1, "geo", true),
        query(2, "geo-db", true),
        query(3, "geo-db-fast", false),
        query(4, "web", false),
    ];
    for (i, q) in all.into_iter().enumerate() {
        t.apply(i as u64 + 1, &QueryCommand::Create(q), no_sessions)
            .unwrap();
    }
    let id = |s: &str| t.resolve(s).map(|q| q.id.clone());
    assert_eq!(id("geo-db-fast"), Some(uuid(3)));
    assert_eq!(id("geo-db-slow"), Some(uuid(2)));
    assert_eq!(id("geo-db"), Some(uuid(2)));
    assert_eq!(id("geo-web"), Some(uuid(1)));
    assert_eq!(id("web"), Some(uuid(4)));
    assert_eq!(
        id("web-x"),
        None,
        "a static query matches only its exact name"
    );
    assert_eq!(id("ge"), None);
    assert_eq!(id(&uuid(4)), Some(uuid(4)));
    assert_eq!(id(&uuid(8)), None);
}

#[test]
fn invalidating_a_session_deletes_its_queries_only() {
    let mut t = PreparedQueries::default();
    let bound = PreparedQuery {
        session: "s1".into(),
        ..query(1, "a", false)
    };
    t.apply(2, &QueryCommand::Create(bound), |s| s == "s1")
        .unwrap();
    t.apply(3, &QueryCommand::Create(query(2, "b", false)), no_sessions)
        .unwrap();
    t.session_invalidated(4, "other");
    assert_eq!((t.len(), t.index()), (2, 3));
    t.session_invalidated(5, "s1");
    assert_eq!((t.len(), t.index()), (1, 5));
    assert!(t.get(&uuid(2)).is_some());
}

/// The longest-prefix rule, computed the slow way.
fn resolve_oracle<'a>(queries: &'a [PreparedQuery], name: &str) -> Option<&'a PreparedQuery> {
    if let Some(q) = queries.iter().find(|q| q.id == name) {
        return Some(q);
    }
    if !name.is_empty() {
        if let Some(q) = queries.iter().find(|q| q.name == name) {
            return Some(q);
        }
    }
    let mut best: Option<&PreparedQuery> = None;
    for q in queries.iter().filter(|q| q.template.is_some()) {
        if name.starts_with(&q.name) && best.is_none_or(|b| q.name.len() > b.name.len()) {
            best = Some(q);
        }
    }
    best
}

proptest! {
    /// Whatever queries were accepted, resolving any name picks what the
    /// slow rule picks, and no two named queries share a name.
    #[test]
    fn resolve_matches_the_longest_prefix_rule(
        defs in proptest::collection::vec(("[ab-]{0,4}", any::<bool>()), 0..12),
        names in proptest::collection::vec("[ab-]{0,6}", 1..12),
    ) {
        let mut t = PreparedQueries::default();
        for (i, (name, template)) in defs.iter().enumerate() {
            let _ = t.apply(i as u64 + 1, &QueryCommand::Create(query(i as u64, name, *template)), no_sessions);
        }
        let kept: Vec<PreparedQuery> = t.list().cloned().collect();
        let mut seen = std::collections::BTreeSet::new();
        for q in kept.iter().filter(|q| q.acl_prefix().is_some()) {
            prop_assert!(seen.insert((q.name.clone(), q.template.is_some() && q.name.is_empty())));
        }
        for name in names.iter().chain(kept.iter().map(|q| &q.id)) {
            prop_assert_eq!(
                t.resolve(name).map(|q| q.id.clone()),
                resolve_oracle(&kept, name).map(|q| q.id.clone()),
                "resolving {:?}", name
            );
        }
    }
}
