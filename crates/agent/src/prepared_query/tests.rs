use super::*;
use praetor_api::query::QueryTemplate as ApiTemplate;

fn def(service: &str) -> PreparedQueryDefinition {
    PreparedQueryDefinition {
        name: "web".into(),
        service: ApiServiceQuery {
            service: service.into(),
            tags: vec!["a".into()],
            ..Default::default()
        },
        dns: QueryDnsOptions { ttl: "10s".into() },
        ..Default::default()
    }
}

fn refused(d: PreparedQueryDefinition) -> String {
    match to_record(d, "id".into()) {
        Err(ApiError::BadRequest(m)) => m,
        other => panic!("accepted: {other:?}"),
    }
}

#[test]
fn a_definition_converts_to_its_record_and_back() {
    let mut d = def("web");
    d.service.failover.nearest_n = 2;
    d.service.failover.datacenters = vec!["dc2".into()];
    d.template = ApiTemplate {
        kind: NAME_PREFIX_MATCH.into(),
        regexp: "^web-(.*)$".into(),
        remove_empty_tags: true,
    };
    let r = to_record(d.clone(), "the-id".into()).unwrap();
    assert_eq!(r.service.failover.nearest_n, 2);
    let back = to_definition(r);
    assert_eq!(
        back,
        PreparedQueryDefinition {
            id: "the-id".into(),
            ..d
        }
    );
}

#[test]
fn bad_definitions_are_refused_with_consuls_reasons() {
    assert_eq!(refused(def("")), "Must provide a Service name to query");
    let mut d = def("web");
    d.service.failover.nearest_n = -1;
    assert_eq!(refused(d), "Bad NearestN '-1', must be >= 0");
    let mut d = def("web");
    d.dns.ttl = "ten".into();
    assert!(refused(d).starts_with("Bad DNS TTL 'ten'"));
    let mut d = def("web");
    d.template.kind = "other".into();
    assert_eq!(refused(d), "Bad Template.Type 'other'");
    let mut d = def("web");
    d.service.failover.nearest_n = 1;
    d.service.failover.targets = vec![QueryFailoverTarget {
        peer: String::new(),
        datacenter: "dc2".into(),
    }];
    assert_eq!(
        refused(d),
        "Targets cannot be populated with NearestN or Datacenters"
    );
    let mut d = def("web");
    d.service.connect = true;
    assert!(refused(d).starts_with("Connect is not supported"));
    let mut d = def("web");
    d.service.failover.targets = vec![QueryFailoverTarget {
        peer: "p".into(),
        datacenter: String::new(),
    }];
    assert_eq!(refused(d), "Cluster peering is not supported");
    let mut d = def("${name.full}");
    d.template.kind = NAME_PREFIX_MATCH.into();
    d.template.regexp = "(".into();
    assert!(refused(d).starts_with("Failed compiling template: bad Regexp"));
    let mut d = def("${nope}");
    d.template.kind = NAME_PREFIX_MATCH.into();
    assert!(refused(d).starts_with("Failed compiling template: unknown variable"));
    // A static query is not interpolated: `${` is kept as written.
    assert!(to_record(def("${nope}"), "id".into()).is_ok());
    let mut d = def("web");
    d.service.tags = vec!["t".into(); MAX_LIST + 1];
    assert!(refused(d).contains("at most"));
    let mut d = def("web");
    d.name = "n".repeat(MAX_STRING + 1);
    assert!(refused(d).contains("at most"));
}

/// Issue 19: with no instance here, the answer is the first datacenter
/// failover finds with some, named in `Datacenter`, with every datacenter
/// asked counted in `Failovers`; with instances here, nobody is asked.
#[tokio::test]
async fn issue_19_an_empty_local_answer_fails_over_and_says_where_and_how_often() {
    use failover::fake::{entry, Fake};
    let fake = Fake::new(&[("dc2", Ok(0)), ("dc3", Err("down")), ("dc4", Ok(2))]);
    let mut d = def("web");
    d.service.failover.nearest_n = 1;
    d.service.failover.datacenters = vec!["dc4".into(), "dc3".into()];
    let query = to_record(d, "id".into()).unwrap();
    let r = respond(
        &fake,
        query.clone(),
        Vec::new(),
        "dc1",
        Token::anonymous(),
        Consistency::Default,
    )
    .await
    .unwrap();
    assert_eq!(
        fake.asked(),
        ["dc2", "dc4"],
        "the nearest, then the list in order"
    );
    assert_eq!(r.response.datacenter, "dc4");
    assert_eq!(r.response.failovers, 2);
    assert_eq!(r.response.nodes, vec![entry("dc4", 0), entry("dc4", 1)]);
    assert_eq!(
        (r.response.service.as_str(), r.response.dns.ttl.as_str()),
        ("web", "10s")
    );

    let here = vec![entry("dc1", 0)];
    let fake = Fake::new(&[("dc2", Ok(1))]);
    let r = respond(
        &fake,
        query.clone(),
        here.clone(),
        "dc1",
        Token::anonymous(),
        Consistency::Default,
    )
    .await
    .unwrap();
    assert!(fake.asked().is_empty());
    assert_eq!(
        (r.response.datacenter.as_str(), r.response.failovers),
        ("dc1", 0)
    );
    assert_eq!(r.response.nodes, here);

    let nowhere = Fake::new(&[("dc2", Ok(0))]);
    let r = respond(
        &nowhere,
        query,
        Vec::new(),
        "dc1",
        Token::anonymous(),
        Consistency::Default,
    )
    .await
    .unwrap();
    assert_eq!(
        (r.response.datacenter.as_str(), r.response.failovers),
        ("dc1", 1)
    );
    assert!(r.response.nodes.is_empty());
}

/// Issue 19: when failover cannot learn which datacenters exist, the
/// execution fails (as Consul's), rather than answering "none anywhere".
#[tokio::test]
async fn issue_19_failover_without_a_datacenter_list_is_an_error() {
    use failover::fake::Fake;
    let mut d = def("web");
    d.service.failover.nearest_n = 1;
    let query = to_record(d, "id".into()).unwrap();
    let fake = Fake::new(&[("dc2", Ok(1))]).listing_fails();
    let r = respond(
        &fake,
        query,
        Vec::new(),
        "dc1",
        Token::anonymous(),
        Consistency::Default,
    )
    .await;
    assert!(
        matches!(r, Err(ApiError::Failed(ref m)) if m.contains("no server answered")),
        "{r:?}"
    );
    assert!(fake.asked().is_empty());
}

/// Issue 19: with `translate_wan_addrs`, instances another datacenter
/// answered (failed over to, or asked with `?dc=`) are given at their
/// `wan` addresses; this datacenter's, or with the option off, unchanged.
#[test]
fn issue_19_another_datacenters_instances_are_translated_to_wan_addresses() {
    let mut e = failover::fake::entry("dc2", 0);
    e.node
        .tagged_addresses
        .insert("wan".into(), "198.51.100.7".into());
    let response = |dc: &str| PreparedQueryExecuteResponse {
        service: "web".into(),
        nodes: vec![e.clone()],
        dns: QueryDnsOptions::default(),
        datacenter: dc.into(),
        failovers: 1,
    };
    let mut there = response("dc2");
    translate(&mut there, "dc1", true);
    assert_eq!(there.nodes[0].node.address, "198.51.100.7");
    for (dc, on) in [("dc1", true), ("dc2", false)] {
        let mut r = response(dc);
        translate(&mut r, "dc1", on);
        assert_eq!(r.nodes[0].node.address, "10.0.0.1", "{dc} {on}");
    }
}
