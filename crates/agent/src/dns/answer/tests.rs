use std::collections::BTreeMap;

use praetor_api::catalog::{HealthCheck, NodeService, Weights};

use super::*;

fn node(name: &str, address: &str) -> Node {
    Node {
        id: String::new(),
        node: name.into(),
        address: address.into(),
        datacenter: "dc1".into(),
        tagged_addresses: BTreeMap::new(),
        meta: BTreeMap::new(),
        create_index: 1,
        modify_index: 1,
    }
}

fn check(status: &str) -> HealthCheck {
    serde_json::from_value(serde_json::json!({
        "Node": "n", "CheckID": "c", "Name": "c", "Status": status, "Notes": "",
        "Output": "", "ServiceID": "", "ServiceName": "", "ServiceTags": [],
        "Type": "", "CreateIndex": 1, "ModifyIndex": 1
    }))
    .expect("a check")
}

fn entry(
    node_name: &str,
    node_addr: &str,
    addr: &str,
    port: u16,
    statuses: &[&str],
) -> ServiceEntry {
    ServiceEntry {
        node: node(node_name, node_addr),
        service: NodeService {
            id: format!("web-{node_name}-{port}"),
            service: "web".into(),
            tags: vec!["V1".into()],
            address: addr.into(),
            meta: BTreeMap::new(),
            port,
            weights: Weights {
                passing: 10,
                warning: 1,
            },
            enable_tag_override: false,
            kind: String::new(),
            tagged_addresses: Default::default(),
            proxy: Default::default(),
            locality: None,
            create_index: 1,
            modify_index: 1,
        },
        checks: statuses.iter().map(|s| check(s)).collect(),
    }
}

fn ctx<'a>(qname: &'a Name, qtype: RecordType) -> Ctx<'a> {
    Ctx {
        qname,
        qtype,
        domain: "consul.",
        dc: "dc1",
    }
}

fn qname(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

#[test]
fn critical_instances_never_count_and_warning_counts_unless_only_passing() {
    let list = vec![
        entry("a", "10.0.0.1", "", 80, &["passing"]),
        entry("b", "10.0.0.2", "", 80, &["passing", "warning"]),
        entry("c", "10.0.0.3", "", 80, &["passing", "critical"]),
        entry("d", "10.0.0.4", "", 80, &[]),
    ];
    let names = |v: Vec<&ServiceEntry>| v.iter().map(|e| e.node.node.clone()).collect::<Vec<_>>();
    assert_eq!(names(healthy(&list, None, false)), ["a", "b", "d"]);
    assert_eq!(names(healthy(&list, None, true)), ["a", "d"]);
    assert_eq!(
        names(healthy(&list, Some("v1"), true)),
        ["a", "d"],
        "tags match case-insensitively"
    );
    assert!(healthy(&list, Some("v2"), false).is_empty());
}

#[test]
fn a_records_use_the_instance_address_else_the_nodes_once_each() {
    let list = [
        entry("a", "10.0.0.1", "", 80, &[]),
        entry("a", "10.0.0.1", "", 81, &[]),
        entry("b", "10.0.0.2", "192.168.1.5", 80, &[]),
        entry("c", "2001:db8::3", "", 80, &[]),
    ];
    let refs: Vec<&ServiceEntry> = list.iter().collect();
    let q = qname("web.service.consul.");
    let r = service(&ctx(&q, RecordType::A), &refs, Duration::from_secs(30), 0);
    let got: Vec<String> = r.answers.iter().map(|a| a.data.to_string()).collect();
    assert_eq!(got, ["10.0.0.1", "192.168.1.5"]);
    assert!(r.answers.iter().all(|a| a.ttl == 30 && a.name == q));
    let r = service(&ctx(&q, RecordType::AAAA), &refs, Duration::ZERO, 0);
    assert_eq!(r.answers.len(), 1);
    assert_eq!(r.answers[0].data.to_string(), "2001:db8::3");
    let r = service(&ctx(&q, RecordType::A), &refs, Duration::ZERO, 1);
    assert_eq!(r.answers.len(), 1, "a_record_limit");
    let r = service(&ctx(&q, RecordType::TXT), &refs, Duration::ZERO, 0);
    assert!(r.answers.is_empty(), "no data of that type");
}

#[test]
fn srv_targets_resolve_through_additional_records() {
    let list = [
        entry("a", "10.0.0.1", "", 8080, &["passing"]),
        entry("b", "10.0.0.2", "192.168.1.5", 9090, &["warning"]),
        entry("a", "10.0.0.1", "", 8080, &[]),
        entry("h", "10.0.0.9", "db.example.com", 5432, &[]),
    ];
    let refs: Vec<&ServiceEntry> = list.iter().collect();
    let q = qname("web.service.consul.");
    let r = service(&ctx(&q, RecordType::SRV), &refs, Duration::from_secs(5), 0);
    let srv: Vec<String> = r.answers.iter().map(|a| a.data.to_string()).collect();
    assert_eq!(
        srv,
        [
            "1 10 8080 a.node.dc1.consul.",
            "1 1 9090 c0a80105.addr.dc1.consul.",
            "1 10 5432 db.example.com."
        ],
        "one record per node, address and port; warning takes Weights.Warning"
    );
    let extra: Vec<(String, String)> = r
        .additionals
        .iter()
        .map(|a| (a.name.to_string(), a.data.to_string()))
        .collect();
    assert_eq!(
        extra,
        [
            ("a.node.dc1.consul.".to_owned(), "10.0.0.1".to_owned()),
            (
                "c0a80105.addr.dc1.consul.".to_owned(),
                "192.168.1.5".to_owned()
            )
        ]
    );
}

#[test]
fn a_host_name_address_is_a_cname_only_without_ip_answers() {
    let only = [entry("h", "10.0.0.9", "db.example.com", 5432, &[])];
    let refs: Vec<&ServiceEntry> = only.iter().collect();
    let q = qname("db.service.consul.");
    let r = service(&ctx(&q, RecordType::A), &refs, Duration::ZERO, 0);
    assert_eq!(r.answers.len(), 1);
    assert_eq!(r.answers[0].record_type(), RecordType::CNAME);
    let mixed = [
        entry("h", "10.0.0.9", "db.example.com", 5432, &[]),
        entry("a", "10.0.0.1", "", 5432, &[]),
    ];
    let refs: Vec<&ServiceEntry> = mixed.iter().collect();
    let r = service(&ctx(&q, RecordType::A), &refs, Duration::ZERO, 0);
    assert_eq!(r.answers.len(), 1);
    assert_eq!(r.answers[0].record_type(), RecordType::A);
}

#[test]
fn node_records_and_meta_as_txt() {
    let mut n = node("n1", "10.0.0.7");
    n.meta.insert("rack".into(), "r1".into());
    n.meta.insert("rfc1035-raw".into(), "as is".into());
    n.meta.insert("a=b".into(), "c".into());
    let q = qname("n1.node.consul.");
    let a = super::node(&ctx(&q, RecordType::A), &n, Duration::from_secs(7));
    assert_eq!(a.len(), 1);
    assert_eq!((a[0].data.to_string(), a[0].ttl), ("10.0.0.7".into(), 7));
    let txt = super::node(&ctx(&q, RecordType::TXT), &n, Duration::ZERO);
    let texts: Vec<String> = txt.iter().map(|r| r.data.to_string()).collect();
    assert_eq!(txt.len(), 3);
    assert!(texts.iter().any(|t| t.contains("a`=b=c")), "{texts:?}");
    assert!(texts.iter().any(|t| t.contains("rack=r1")), "{texts:?}");
    assert!(
        texts
            .iter()
            .any(|t| t.contains("as is") && !t.contains('=')),
        "{texts:?}"
    );
    assert!(super::node(&ctx(&q, RecordType::SRV), &n, Duration::ZERO).is_empty());
    let host = node("ext", "db.example.com");
    let c = super::node(&ctx(&q, RecordType::A), &host, Duration::ZERO);
    assert_eq!(c[0].record_type(), RecordType::CNAME);
}

#[test]
fn addr_names_answer_their_family_and_the_soa_carries_the_config() {
    let q = qname("0a000001.addr.consul.");
    let r = addr(
        &ctx(&q, RecordType::A),
        "10.0.0.1".parse().unwrap(),
        Duration::ZERO,
    );
    assert_eq!(r.answers.len(), 1);
    let r = addr(
        &ctx(&q, RecordType::AAAA),
        "10.0.0.1".parse().unwrap(),
        Duration::ZERO,
    );
    assert!(r.answers.is_empty());
    assert_eq!(r.additionals.len(), 1);
    let s = soa(
        "consul.",
        &Soa {
            refresh: 1,
            retry: 2,
            expire: 3,
            min_ttl: 4,
        },
        99,
    )
    .unwrap();
    assert_eq!(s.ttl, 4);
    assert_eq!(
        s.data.to_string(),
        "ns.consul. hostmaster.consul. 99 1 2 3 4"
    );
}
