use super::*;
use praetor_api::catalog::{CheckDefinition, RegisterRequest, ServiceDefinition};
use praetor_store::query::{QueryCommand, QueryTemplate};
use praetor_store::Command;
use std::collections::BTreeMap;

fn register(node: &str, id: &str, tags: &[&str], status: &str) -> Command {
    Command::CatalogRegister(
        RegisterRequest {
            node: node.into(),
            address: "10.0.0.1".into(),
            node_meta: BTreeMap::from([("rack".into(), node.into())]),
            service: Some(ServiceDefinition {
                id: id.into(),
                service: "web".into(),
                tags: tags.iter().map(|t| t.to_string()).collect(),
                meta: BTreeMap::from([("version".into(), id.into())]),
                ..Default::default()
            }),
            check: Some(CheckDefinition {
                check_id: format!("{id}-check"),
                name: "check".into(),
                status: status.into(),
                service_id: id.into(),
                ..Default::default()
            }),
            ..Default::default()
        }
        .into(),
    )
}

fn store() -> Store {
    let mut store = Store::default();
    for (i, cmd) in [
        register("n1", "web-1", &["primary", "v1"], "passing"),
        register("n2", "web-2", &["standby", "V1"], "warning"),
        register("n3", "web-3", &["primary"], "critical"),
    ]
    .iter()
    .enumerate()
    {
        let answer = store.apply(i as u64 + 1, cmd);
        assert!(answer.ok(), "{answer:?}");
    }
    store
}

fn run(q: ServiceQuery) -> Vec<String> {
    let (_, entries) = QueryRun { service: q }.eval(&store());
    entries.into_iter().map(|e| e.service.id).collect()
}

fn web() -> ServiceQuery {
    ServiceQuery {
        service: "web".into(),
        ..ServiceQuery::default()
    }
}

#[test]
fn critical_instances_are_dropped_and_warnings_only_with_only_passing() {
    assert_eq!(run(web()), ["web-1", "web-2"]);
    assert_eq!(
        run(ServiceQuery {
            only_passing: true,
            ..web()
        }),
        ["web-1"]
    );
}

#[test]
fn ignored_checks_do_not_count() {
    assert_eq!(
        run(ServiceQuery {
            ignore_check_ids: vec!["web-3-check".into()],
            ..web()
        }),
        ["web-1", "web-2", "web-3"]
    );
}

#[test]
fn tags_are_required_negated_with_a_bang_and_compared_ignoring_case() {
    let tags = |t: &[&str]| ServiceQuery {
        tags: t.iter().map(|s| s.to_string()).collect(),
        ..web()
    };
    assert_eq!(run(tags(&["v1"])), ["web-1", "web-2"]);
    assert_eq!(run(tags(&["PRIMARY"])), ["web-1"]);
    assert_eq!(run(tags(&["!standby"])), ["web-1"]);
    assert_eq!(run(tags(&["v1", "!Primary"])), ["web-2"]);
    assert!(run(tags(&["absent"])).is_empty());
}

#[test]
fn node_and_service_metadata_must_match() {
    assert_eq!(
        run(ServiceQuery {
            node_meta: BTreeMap::from([("rack".into(), "n2".into())]),
            ..web()
        }),
        ["web-2"]
    );
    assert_eq!(
        run(ServiceQuery {
            service_meta: BTreeMap::from([("version".into(), "web-1".into())]),
            ..web()
        }),
        ["web-1"]
    );
}

#[test]
fn resolve_and_get_answer_the_stored_query_and_list_all() {
    let mut store = store();
    let q = PreparedQuery {
        id: "11111111-2222-4333-8444-555555555555".into(),
        name: "geo".into(),
        token: "secret".into(),
        service: web(),
        template: Some(QueryTemplate {
            kind: "name_prefix_match".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    assert!(store
        .apply(9, &Command::PreparedQuery(QueryCommand::Create(q.clone())))
        .ok());
    let resolved = QueryResolve {
        name: "geo-web".into(),
        explain: false,
    }
    .eval(&store);
    assert_eq!(resolved.0, 9);
    assert_eq!(resolved.1.map(|r| r.token), Some("secret".into()));
    assert_eq!(
        QueryGet { id: q.id.clone() }.eval(&store).1.map(|r| r.name),
        Some("geo".into())
    );
    assert_eq!(QueryList.eval(&store).1.len(), 1);
    // With ACLs off every caller manages: nothing is hidden.
    let all = Authz::allow_all();
    let mut answer = QueryList.eval(&store).1;
    assert!(!QueryList.filter(&all, &mut answer));
    assert_eq!(answer[0].token, "secret");
}
