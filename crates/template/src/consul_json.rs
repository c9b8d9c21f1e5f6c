//! The mapping between dependencies and Consul's HTTP API, for callers that
//! implement `Source` with blocking queries: which path answers a dependency
//! (`Dependency::consul_api_path`) and how its JSON body becomes `Data`
//! (`Data::from_consul_json`). Builds strings and reads JSON only; never
//! performs the request.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::Value as Json;

use crate::dependency::{Dependency, Scope};
use crate::source::{
    CatalogNode, Check, Data, HealthEntry, KvEntry, NodeInfo, NodeService, ServiceAddress,
    SourceError,
};

/// Percent-encodes a path, keeping `/` and unreserved characters.
fn encode_path(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn encode_query(s: &str) -> String {
    encode_path(s).replace('/', "%2F")
}

struct Query(Vec<String>);

impl Query {
    fn flag(&mut self, k: &str) {
        self.0.push(k.to_string());
    }
    fn opt(&mut self, k: &str, v: &Option<String>) {
        if let Some(v) = v {
            self.0.push(format!("{k}={}", encode_query(v)));
        }
    }
    fn scope(&mut self, s: &Scope) {
        self.opt("ns", &s.namespace);
        self.opt("partition", &s.partition);
        self.opt("peer", &s.peer);
        self.opt("sameness-group", &s.sameness_group);
    }
    fn finish(self, path: String) -> String {
        if self.0.is_empty() {
            path
        } else {
            format!("{path}?{}", self.0.join("&"))
        }
    }
}

impl Dependency {
    /// The Consul HTTP API path and query that answers this dependency (add
    /// `index=`/`wait=` for a blocking query), as consul-template queries
    /// them: `/v1/kv/<key>`, `/v1/kv/<prefix>?recurse`,
    /// `/v1/health/service/<name>[?tag=…][&passing]`, `/v1/catalog/services`,
    /// `/v1/catalog/node/<name>`, `/v1/catalog/nodes`, each with `dc`,
    /// `near`, `ns`, `partition`, `peer` as given. `agent_node` names the
    /// node for `node` without a name. `None` for `env` and `file`, which
    /// are not Consul data.
    pub fn consul_api_path(&self, agent_node: &str) -> Option<String> {
        let mut q = Query(Vec::new());
        Some(match self {
            Dependency::Key { key, dc, scope } => {
                q.opt("dc", dc);
                q.scope(scope);
                q.finish(format!("/v1/kv/{}", encode_path(key)))
            }
            Dependency::KeyList { prefix, dc, scope } => {
                q.flag("recurse");
                q.opt("dc", dc);
                q.scope(scope);
                q.finish(format!("/v1/kv/{}", encode_path(prefix)))
            }
            Dependency::Service {
                name,
                tag,
                dc,
                near,
                scope,
                ..
            } => {
                q.opt("tag", tag);
                if self.passing_only() {
                    q.flag("passing");
                }
                q.opt("dc", dc);
                q.opt("near", near);
                q.scope(scope);
                q.finish(format!("/v1/health/service/{}", encode_path(name)))
            }
            Dependency::CatalogServices { dc, scope } => {
                q.opt("dc", dc);
                q.scope(scope);
                q.finish("/v1/catalog/services".into())
            }
            Dependency::Node { name, dc, scope } => {
                q.opt("dc", dc);
                q.scope(scope);
                let name = name.as_deref().unwrap_or(agent_node);
                q.finish(format!("/v1/catalog/node/{}", encode_path(name)))
            }
            Dependency::Nodes { dc, near, scope } => {
                q.opt("dc", dc);
                q.opt("near", near);
                q.scope(scope);
                q.finish("/v1/catalog/nodes".into())
            }
            Dependency::Datacenters { .. } => "/v1/catalog/datacenters".into(),
            Dependency::Env(_) | Dependency::File(_) => return None,
        })
    }
}

fn bad(dep: &Dependency, what: &str) -> SourceError {
    SourceError(format!("{dep}: unexpected response from Consul: {what}"))
}

fn s(v: &Json, k: &str) -> String {
    v.get(k)
        .and_then(Json::as_str)
        .unwrap_or_default()
        .to_string()
}

fn int(v: &Json, k: &str) -> i64 {
    v.get(k).and_then(Json::as_i64).unwrap_or_default()
}

fn uint(v: &Json, k: &str) -> u64 {
    v.get(k).and_then(Json::as_u64).unwrap_or_default()
}

fn strings(v: &Json, k: &str) -> Vec<String> {
    v.get(k)
        .and_then(Json::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn string_map(v: &Json, k: &str) -> BTreeMap<String, String> {
    v.get(k)
        .and_then(Json::as_object)
        .map(|o| {
            o.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// A field by name, accepting the lower-case spelling Consul uses in a few
/// nested shapes (`TaggedAddresses` entries).
fn field<'a>(v: &'a Json, k: &str) -> Option<&'a Json> {
    v.get(k).or_else(|| v.get(k.to_lowercase()))
}

fn node_info(v: &Json) -> NodeInfo {
    NodeInfo {
        id: s(v, "ID"),
        node: s(v, "Node"),
        address: s(v, "Address"),
        datacenter: s(v, "Datacenter"),
        tagged_addresses: string_map(v, "TaggedAddresses"),
        meta: string_map(v, "Meta"),
    }
}

fn kv_entry(v: &Json) -> Result<KvEntry, String> {
    let value = match v.get("Value").and_then(Json::as_str) {
        None => String::new(),
        Some(b64) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|e| format!("KV value is not base64: {e}"))?;
            String::from_utf8_lossy(&bytes).into_owned()
        }
    };
    Ok(KvEntry {
        key: s(v, "Key"),
        value,
        create_index: uint(v, "CreateIndex"),
        modify_index: uint(v, "ModifyIndex"),
        lock_index: uint(v, "LockIndex"),
        flags: uint(v, "Flags"),
        session: s(v, "Session"),
    })
}

fn health_entry(v: &Json) -> HealthEntry {
    let node = v.get("Node").cloned().unwrap_or_default();
    let svc = v.get("Service").cloned().unwrap_or_default();
    let weights = svc.get("Weights").cloned().unwrap_or_default();
    let tagged = svc
        .get("TaggedAddresses")
        .and_then(Json::as_object)
        .map(|o| {
            o.iter()
                .map(|(k, a)| {
                    (
                        k.clone(),
                        ServiceAddress {
                            address: field(a, "Address")
                                .and_then(Json::as_str)
                                .unwrap_or_default()
                                .to_string(),
                            port: field(a, "Port").and_then(Json::as_i64).unwrap_or_default(),
                        },
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let checks = v
        .get("Checks")
        .and_then(Json::as_array)
        .map(|a| {
            a.iter()
                .map(|c| Check {
                    node: s(c, "Node"),
                    check_id: s(c, "CheckID"),
                    name: s(c, "Name"),
                    status: s(c, "Status"),
                    notes: s(c, "Notes"),
                    output: s(c, "Output"),
                    service_id: s(c, "ServiceID"),
                    service_name: s(c, "ServiceName"),
                    service_tags: strings(c, "ServiceTags"),
                    check_type: s(c, "Type"),
                })
                .collect()
        })
        .unwrap_or_default();
    HealthEntry {
        node: s(&node, "Node"),
        node_id: s(&node, "ID"),
        node_address: s(&node, "Address"),
        node_tagged_addresses: string_map(&node, "TaggedAddresses"),
        node_meta: string_map(&node, "Meta"),
        service_id: s(&svc, "ID"),
        service_name: s(&svc, "Service"),
        service_address: s(&svc, "Address"),
        service_port: int(&svc, "Port"),
        service_tags: strings(&svc, "Tags"),
        service_meta: string_map(&svc, "Meta"),
        service_tagged_addresses: tagged,
        weight_passing: int(&weights, "Passing"),
        weight_warning: int(&weights, "Warning"),
        checks,
    }
}

impl Data {
    /// Builds the data for `dep` from Consul's JSON answer to
    /// [`Dependency::consul_api_path`]; `body` is `None` when Consul answered
    /// 404 (a missing key or node).
    ///
    /// # Errors
    /// A body that is not the shape Consul returns for that endpoint, and
    /// `env`/`file` dependencies (not Consul data).
    pub fn from_consul_json(dep: &Dependency, body: Option<&Json>) -> Result<Data, SourceError> {
        let array = |b: Option<&Json>| -> Result<Vec<Json>, SourceError> {
            match b {
                None | Some(Json::Null) => Ok(Vec::new()),
                Some(Json::Array(a)) => Ok(a.clone()),
                Some(_) => Err(bad(dep, "expected a JSON array")),
            }
        };
        Ok(match dep {
            Dependency::Key { .. } => match array(body)?.first() {
                None => Data::Key(None),
                Some(e) => Data::Key(Some(kv_entry(e).map_err(|m| bad(dep, &m))?.value)),
            },
            Dependency::KeyList { .. } => Data::KeyList(
                array(body)?
                    .iter()
                    .map(kv_entry)
                    .collect::<Result<_, _>>()
                    .map_err(|m| bad(dep, &m))?,
            ),
            Dependency::Service { .. } => {
                Data::Service(array(body)?.iter().map(health_entry).collect())
            }
            Dependency::CatalogServices { .. } => match body {
                None | Some(Json::Null) => Data::CatalogServices(BTreeMap::new()),
                Some(Json::Object(o)) => Data::CatalogServices(
                    o.iter()
                        .map(|(k, v)| {
                            let tags = v
                                .as_array()
                                .map(|a| {
                                    a.iter()
                                        .filter_map(|t| t.as_str().map(str::to_string))
                                        .collect()
                                })
                                .unwrap_or_default();
                            (k.clone(), tags)
                        })
                        .collect(),
                ),
                Some(_) => return Err(bad(dep, "expected a JSON object")),
            },
            Dependency::Node { .. } => match body {
                None | Some(Json::Null) => Data::Node(None),
                Some(v @ Json::Object(_)) => {
                    let node = v.get("Node").map(node_info).unwrap_or_default();
                    let services = match v.get("Services") {
                        Some(Json::Object(o)) => o.values().collect::<Vec<_>>(),
                        Some(Json::Array(a)) => a.iter().collect(),
                        _ => Vec::new(),
                    };
                    Data::Node(Some(CatalogNode {
                        node,
                        services: services
                            .into_iter()
                            .map(|sv| NodeService {
                                id: s(sv, "ID"),
                                service: s(sv, "Service"),
                                tags: strings(sv, "Tags"),
                                meta: string_map(sv, "Meta"),
                                port: int(sv, "Port"),
                                address: s(sv, "Address"),
                                enable_tag_override: sv
                                    .get("EnableTagOverride")
                                    .and_then(Json::as_bool)
                                    .unwrap_or_default(),
                            })
                            .collect(),
                    }))
                }
                Some(_) => return Err(bad(dep, "expected a JSON object")),
            },
            Dependency::Nodes { .. } => Data::Nodes(array(body)?.iter().map(node_info).collect()),
            Dependency::Datacenters { .. } => Data::Datacenters(
                array(body)?
                    .iter()
                    .map(|v| {
                        v.as_str()
                            .map(str::to_string)
                            .ok_or_else(|| bad(dep, "expected an array of strings"))
                    })
                    .collect::<Result<_, _>>()?,
            ),
            Dependency::Env(_) | Dependency::File(_) => {
                return Err(SourceError(format!("{dep} is not Consul data")))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dependency::{parse_key, parse_key_list, parse_node, parse_service};

    #[test]
    fn paths_follow_consul_templates_queries() {
        let p = |d: Dependency| d.consul_api_path("me").unwrap();
        assert_eq!(
            p(parse_key("app/max conns@dc2").unwrap()),
            "/v1/kv/app/max%20conns?dc=dc2"
        );
        assert_eq!(
            p(parse_key_list("cfg?ns=team").unwrap()),
            "/v1/kv/cfg?recurse&ns=team"
        );
        assert_eq!(
            p(parse_service("release.web@east~_agent").unwrap()),
            "/v1/health/service/web?tag=release&passing&dc=east&near=_agent"
        );
        assert_eq!(
            p(parse_service("web|any").unwrap()),
            "/v1/health/service/web"
        );
        assert_eq!(p(parse_node("").unwrap()), "/v1/catalog/node/me");
        assert_eq!(Dependency::Env("X".into()).consul_api_path("me"), None);
    }

    #[test]
    fn consul_json_becomes_source_data() {
        let key = parse_key("k").unwrap();
        let body: Json = serde_json::from_str(
            r#"[{"LockIndex":0,"Key":"k","Flags":3,"Value":"aGVsbG8=","CreateIndex":5,"ModifyIndex":7}]"#,
        )
        .unwrap();
        assert_eq!(
            Data::from_consul_json(&key, Some(&body)).unwrap(),
            Data::Key(Some("hello".into()))
        );
        assert_eq!(Data::from_consul_json(&key, None).unwrap(), Data::Key(None));

        let svc = parse_service("redis").unwrap();
        let body: Json = serde_json::from_str(
            r#"[{"Node":{"ID":"n-1","Node":"foobar","Address":"10.1.10.12","Datacenter":"dc1",
                "TaggedAddresses":{"lan":"10.1.10.12"},"Meta":{"rack":"a"}},
               "Service":{"ID":"redis","Service":"redis","Tags":["primary"],"Address":"",
                "TaggedAddresses":{"wan":{"Address":"198.18.0.1","Port":80}},
                "Meta":{"v":"1"},"Port":8000,"Weights":{"Passing":10,"Warning":1}},
               "Checks":[{"Node":"foobar","CheckID":"service:redis","Name":"redis","Status":"passing",
                "ServiceID":"redis","ServiceName":"redis","ServiceTags":["primary"]}]}]"#,
        )
        .unwrap();
        let Data::Service(entries) = Data::from_consul_json(&svc, Some(&body)).unwrap() else {
            panic!("not service data")
        };
        assert_eq!(entries[0].node, "foobar");
        assert_eq!(entries[0].service_port, 8000);
        assert_eq!(entries[0].service_tagged_addresses["wan"].port, 80);
        assert_eq!(entries[0].checks[0].status, "passing");
        assert_eq!(entries[0].weight_passing, 10);
        assert!(Data::from_consul_json(&svc, Some(&Json::Bool(true))).is_err());

        let node = parse_node("foobar").unwrap();
        let body: Json = serde_json::from_str(
            r#"{"Node":{"Node":"foobar","Address":"10.1.10.12"},
                "Services":{"redis":{"ID":"redis","Service":"redis","Tags":["b","a"],"Port":8000}}}"#,
        )
        .unwrap();
        let Data::Node(Some(n)) = Data::from_consul_json(&node, Some(&body)).unwrap() else {
            panic!("no node")
        };
        assert_eq!(n.node.address, "10.1.10.12");
        assert_eq!(n.services[0].port, 8000);
    }
}
