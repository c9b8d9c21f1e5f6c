//! Between a template's dependencies and the agent's HTTP API: the
//! endpoint each dependency reads (and blocks on), and the conversion of
//! the agent's JSON answer into the engine's records. Pure.

use std::collections::BTreeMap;

use praetor_template::{
    CatalogNode, Check, Data, Dependency, HealthEntry, KvEntry, NodeInfo, NodeService,
    ServiceAddress,
};
use serde_json::Value;

use crate::watch::Endpoint;

/// Path segments keep their `/`; everything else that is not unreserved
/// is escaped.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, SEGMENT).to_string()
}

/// The endpoint `dep` reads, or `None` for a dependency answered locally
/// (`env`, `file`). `agent_node` names the agent's own node (`node` with
/// no name).
pub fn endpoint(dep: &Dependency, agent_node: &str) -> Option<Endpoint> {
    let dc = |dc: &Option<String>, params: &mut Vec<(&'static str, String)>| {
        if let Some(dc) = dc {
            params.push(("dc", dc.clone()));
        }
    };
    let mut params = Vec::new();
    let path = match dep {
        Dependency::Key { key, dc: d, .. } => {
            dc(d, &mut params);
            format!("/v1/kv/{}", enc(key))
        }
        Dependency::KeyList { prefix, dc: d, .. } => {
            dc(d, &mut params);
            params.push(("recurse", String::new()));
            format!("/v1/kv/{}", enc(prefix))
        }
        Dependency::Service {
            name,
            tag,
            dc: d,
            near,
            ..
        } => {
            dc(d, &mut params);
            if let Some(t) = tag {
                params.push(("tag", t.clone()));
            }
            if let Some(n) = near {
                params.push(("near", n.clone()));
            }
            if dep.passing_only() {
                params.push(("passing", String::new()));
            }
            format!("/v1/health/service/{}", enc(name))
        }
        Dependency::CatalogServices { dc: d, .. } => {
            dc(d, &mut params);
            "/v1/catalog/services".to_owned()
        }
        Dependency::Node { name, dc: d, .. } => {
            dc(d, &mut params);
            format!(
                "/v1/catalog/node/{}",
                enc(name.as_deref().unwrap_or(agent_node))
            )
        }
        Dependency::Nodes { dc: d, near, .. } => {
            dc(d, &mut params);
            if let Some(n) = near {
                params.push(("near", n.clone()));
            }
            "/v1/catalog/nodes".to_owned()
        }
        Dependency::Env(_) | Dependency::File(_) => return None,
    };
    Some(Endpoint { path, params })
}

/// Why an answer could not be read as the dependency's data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}: the agent's answer is not {expected}")]
pub struct ShapeError {
    pub what: String,
    pub expected: &'static str,
}

/// The engine's data for `dep` from the agent's JSON answer (`Null` for a
/// 404: a missing key, node or prefix).
///
/// # Errors
/// When the answer does not have the endpoint's shape.
pub fn data(dep: &Dependency, answer: &Value) -> Result<Data, ShapeError> {
    let shape = |expected: &'static str| ShapeError {
        what: format!("{dep:?}"),
        expected,
    };
    Ok(match dep {
        Dependency::Key { .. } => match answer {
            Value::Null => Data::Key(None),
            Value::Array(list) => Data::Key(list.first().map(|e| kv_entry(e).value)),
            _ => return Err(shape("a list of KV entries")),
        },
        Dependency::KeyList { .. } => match answer {
            Value::Null => Data::KeyList(Vec::new()),
            Value::Array(list) => Data::KeyList(list.iter().map(kv_entry).collect()),
            _ => return Err(shape("a list of KV entries")),
        },
        Dependency::Service { .. } => match answer {
            Value::Null => Data::Service(Vec::new()),
            Value::Array(list) => Data::Service(list.iter().map(health_entry).collect()),
            _ => return Err(shape("a list of health entries")),
        },
        Dependency::CatalogServices { .. } => match answer {
            Value::Null => Data::CatalogServices(BTreeMap::new()),
            Value::Object(m) => Data::CatalogServices(
                m.iter()
                    .map(|(name, tags)| (name.clone(), strings(tags)))
                    .collect(),
            ),
            _ => return Err(shape("a map of service names to tags")),
        },
        Dependency::Node { .. } => match answer {
            Value::Null => Data::Node(None),
            Value::Object(_) => Data::Node(Some(CatalogNode {
                node: node_info(&answer["Node"]),
                services: match &answer["Services"] {
                    Value::Object(m) => m.values().map(node_service).collect(),
                    _ => Vec::new(),
                },
            })),
            _ => return Err(shape("a node and its services")),
        },
        Dependency::Nodes { .. } => match answer {
            Value::Null => Data::Nodes(Vec::new()),
            Value::Array(list) => Data::Nodes(list.iter().map(node_info).collect()),
            _ => return Err(shape("a list of nodes")),
        },
        Dependency::Env(_) | Dependency::File(_) => return Err(shape("remote data")),
    })
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

fn uint(v: &Value) -> u64 {
    v.as_u64().unwrap_or_default()
}

fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or_default()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|l| {
            l.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn string_map(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

fn kv_entry(e: &Value) -> KvEntry {
    use base64::Engine as _;
    let value = e["Value"]
        .as_str()
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    KvEntry {
        key: text(&e["Key"]),
        value,
        create_index: uint(&e["CreateIndex"]),
        modify_index: uint(&e["ModifyIndex"]),
        lock_index: uint(&e["LockIndex"]),
        flags: uint(&e["Flags"]),
        session: text(&e["Session"]),
    }
}

fn node_info(n: &Value) -> NodeInfo {
    NodeInfo {
        id: text(&n["ID"]),
        node: text(&n["Node"]),
        address: text(&n["Address"]),
        datacenter: text(&n["Datacenter"]),
        tagged_addresses: string_map(&n["TaggedAddresses"]),
        meta: string_map(&n["Meta"]),
    }
}

fn node_service(s: &Value) -> NodeService {
    NodeService {
        id: text(&s["ID"]),
        service: text(&s["Service"]),
        tags: strings(&s["Tags"]),
        meta: string_map(&s["Meta"]),
        port: int(&s["Port"]),
        address: text(&s["Address"]),
        enable_tag_override: s["EnableTagOverride"].as_bool().unwrap_or_default(),
    }
}

fn health_entry(e: &Value) -> HealthEntry {
    let (n, s) = (&e["Node"], &e["Service"]);
    HealthEntry {
        node: text(&n["Node"]),
        node_id: text(&n["ID"]),
        node_address: text(&n["Address"]),
        node_tagged_addresses: string_map(&n["TaggedAddresses"]),
        node_meta: string_map(&n["Meta"]),
        service_id: text(&s["ID"]),
        service_name: text(&s["Service"]),
        service_address: text(&s["Address"]),
        service_port: int(&s["Port"]),
        service_tags: strings(&s["Tags"]),
        service_meta: string_map(&s["Meta"]),
        service_tagged_addresses: s["TaggedAddresses"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, a)| {
                        (
                            k.clone(),
                            ServiceAddress {
                                address: text(&a["Address"]),
                                port: int(&a["Port"]),
                            },
                        )
                    })
                    .collect()
            })
            .unwrap_or_default(),
        weight_passing: int(&s["Weights"]["Passing"]),
        weight_warning: int(&s["Weights"]["Warning"]),
        checks: e["Checks"]
            .as_array()
            .map(|l| l.iter().map(check).collect())
            .unwrap_or_default(),
    }
}

fn check(c: &Value) -> Check {
    Check {
        node: text(&c["Node"]),
        check_id: text(&c["CheckID"]),
        name: text(&c["Name"]),
        status: text(&c["Status"]),
        notes: text(&c["Notes"]),
        output: text(&c["Output"]),
        service_id: text(&c["ServiceID"]),
        service_name: text(&c["ServiceName"]),
        service_tags: strings(&c["ServiceTags"]),
        check_type: text(&c["Type"]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(s: &str) -> Dependency {
        praetor_template::parse_service(s).unwrap()
    }

    #[test]
    fn a_service_dependency_reads_its_health_endpoint_with_its_options() {
        let e = endpoint(&parse("web.api@dc2"), "me").unwrap();
        assert_eq!(e.path, "/v1/health/service/api");
        assert!(e.params.contains(&("dc", "dc2".into())));
        assert!(e.params.contains(&("tag", "web".into())));
        assert!(
            e.params.contains(&("passing", String::new())),
            "passing by default"
        );
        let e = endpoint(&parse("api|any"), "me").unwrap();
        assert!(!e.params.iter().any(|(k, _)| *k == "passing"), "{e:?}");
    }

    #[test]
    fn a_node_without_a_name_is_the_agents_and_names_are_escaped() {
        let dep = Dependency::Node {
            name: None,
            dc: None,
            scope: Default::default(),
        };
        assert_eq!(
            endpoint(&dep, "node 1").unwrap().path,
            "/v1/catalog/node/node%201"
        );
        let key = Dependency::Key {
            key: "a b/c?d".into(),
            dc: None,
            scope: Default::default(),
        };
        assert_eq!(endpoint(&key, "").unwrap().path, "/v1/kv/a%20b/c%3Fd");
        assert_eq!(endpoint(&Dependency::Env("HOME".into()), ""), None);
    }

    #[test]
    fn answers_become_records_and_404_is_empty() {
        let key = Dependency::Key {
            key: "k".into(),
            dc: None,
            scope: Default::default(),
        };
        assert_eq!(data(&key, &Value::Null).unwrap(), Data::Key(None));
        let v = json!([{"Key": "k", "Value": "aGk=", "CreateIndex": 3}]);
        assert_eq!(data(&key, &v).unwrap(), Data::Key(Some("hi".into())));
        assert!(data(&key, &json!({"x": 1})).is_err());

        let svc = parse("api");
        let v = json!([{
            "Node": {"Node": "n1", "Address": "10.0.0.1"},
            "Service": {"ID": "api-1", "Service": "api", "Port": 80, "Tags": ["b", "a"],
                        "Weights": {"Passing": 1, "Warning": 1}},
            "Checks": [{"CheckID": "c", "Status": "passing"}]
        }]);
        let Data::Service(entries) = data(&svc, &v).unwrap() else {
            panic!("not a service")
        };
        assert_eq!(entries[0].node_address, "10.0.0.1");
        assert_eq!(entries[0].service_port, 80);
        assert_eq!(entries[0].checks[0].status, "passing");
    }
}
