//! The one JSON key normaliser: request bodies and config files name the
//! same fields in several spellings (`Name`, `name`, `check_id`, `CheckID`,
//! `deregister_critical_service_after`), as Consul accepts them (Go's JSON
//! decoder matches case-insensitively; config files use snake_case). This
//! module turns every spelling into the API's (PascalCase, with Consul's
//! initialisms: `ID`, `TTL`, `HTTP`, `GRPCUseTLS`) before serde decodes.
//!
//! The values of user-keyed maps (`Meta`, `NodeMeta`, `TaggedAddresses`,
//! `Header`, …) are the user's own keys and are never rewritten: Consul's
//! decoder only translates the fields of structs, never map keys
//! (`lib/decode.HookTranslateKeys`), and its older translator excluded
//! exactly these paths (`lib.TranslateKeys`).

use serde_json::{Map, Value};

/// Field names in their canonical spelling. A key matching one of these
/// ignoring case and underscores takes this spelling.
const FIELDS: &[&str] = &[
    "ID",
    "Name",
    "Tags",
    "Address",
    "Port",
    "Meta",
    "EnableTagOverride",
    "Weights",
    "Passing",
    "Warning",
    "Check",
    "Checks",
    "CheckID",
    "Notes",
    "Status",
    "ServiceID",
    "ServiceName",
    "ServiceTags",
    "TTL",
    "HTTP",
    "TCP",
    "UDP",
    "GRPC",
    "GRPCUseTLS",
    "TLSSkipVerify",
    "TLSServerName",
    "DisableRedirects",
    "Args",
    "AliasService",
    "AliasNode",
    "DeregisterCriticalServiceAfter",
    "Interval",
    "Timeout",
    "Method",
    "Header",
    "Body",
    "SuccessBeforePassing",
    "FailuresBeforeWarning",
    "FailuresBeforeCritical",
    "Node",
    "NodeID",
    "Datacenter",
    "TaggedAddresses",
    "NodeMeta",
    "Service",
    "ServiceMeta",
    "SkipNodeUpdate",
    "Output",
    "Definition",
    "Kind",
    "LockDelay",
    "Behavior",
    "NodeChecks",
    "ServiceChecks",
    "KV",
    "Verb",
    "Key",
    "Value",
    "Flags",
    "Index",
    "Session",
    "ModifyIndex",
    // Prepared queries (`/v1/query`).
    "Token",
    "OnlyPassing",
    "Near",
    "Failover",
    "NearestN",
    "Datacenters",
    "Targets",
    "IgnoreCheckIDs",
    "DNS",
    "Template",
    "Type",
    "Regexp",
    "RemoveEmptyTags",
    "Peer",
    "Connect",
    "SamenessGroup",
];

/// Fields whose values are maps keyed by the user (metadata, addresses by
/// tag, request headers, opaque proxy config): left exactly as written.
pub const USER_KEYED: &[&str] = &[
    "Meta",
    "NodeMeta",
    "ServiceMeta",
    "TaggedAddresses",
    "ServiceTaggedAddresses",
    "Header",
    "Config",
];

/// `v` with every object key in the API's spelling, recursively, except
/// inside the [`USER_KEYED`] maps. A key that matches a known field
/// (ignoring case and underscores) takes its spelling; any other
/// snake_case or lower-case key is PascalCased word by word (`foo_bar` →
/// `FooBar`); the rest are kept. When two spellings of one field are given,
/// the canonical one wins, as in Consul.
pub fn canonical(v: Value) -> Value {
    match v {
        Value::Object(map) => {
            let mut out = Map::with_capacity(map.len());
            let mut aliased = Vec::new();
            for (k, v) in map {
                let key = canonical_key(&k);
                let v = if USER_KEYED.contains(&key.as_str()) {
                    v
                } else {
                    canonical(v)
                };
                if key == k {
                    out.insert(key, v);
                } else {
                    aliased.push((key, v));
                }
            }
            for (key, v) in aliased {
                out.entry(key).or_insert(v);
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.into_iter().map(canonical).collect()),
        other => other,
    }
}

/// One key in the API's spelling.
fn canonical_key(key: &str) -> String {
    let fold = |k: &str| k.replace('_', "").to_ascii_lowercase();
    let folded = fold(key);
    if let Some(f) = FIELDS.iter().find(|f| fold(f) == folded) {
        return (*f).to_owned();
    }
    if !key.contains('_') && !key.starts_with(|c: char| c.is_ascii_lowercase()) {
        return key.to_owned();
    }
    key.split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map_or_else(String::new, |f| f.to_uppercase().chain(c).collect())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_spelling_of_a_field_becomes_the_apis() {
        let v = json!({"name": "web", "ID": "w1", "check": {"check_id": "c", "ttl": "10s",
            "deregister_critical_service_after": "1m", "tls_skip_verify": true,
            "grpc_use_tls": true, "http": "http://x/", "disableredirects": true},
            "enable_tag_override": true, "unknown_field": 1, "Other": 2});
        assert_eq!(
            canonical(v),
            json!({"Name": "web", "ID": "w1", "Check": {"CheckID": "c", "TTL": "10s",
                "DeregisterCriticalServiceAfter": "1m", "TLSSkipVerify": true,
                "GRPCUseTLS": true, "HTTP": "http://x/", "DisableRedirects": true},
                "EnableTagOverride": true, "UnknownField": 1, "Other": 2})
        );
    }

    #[test]
    fn user_keyed_maps_keep_their_keys() {
        let v = json!({"meta": {"build_id": "1", "Name": "x"},
            "node_meta": {"rack_id": "r"}, "tagged_addresses": {"lan_ipv4": "10.0.0.1"},
            "checks": [{"header": {"x_api_key": ["k"], "check_id": ["v"]}}],
            "service": {"service_meta": {"a_b": "c"}}});
        assert_eq!(
            canonical(v),
            json!({"Meta": {"build_id": "1", "Name": "x"},
                "NodeMeta": {"rack_id": "r"}, "TaggedAddresses": {"lan_ipv4": "10.0.0.1"},
                "Checks": [{"Header": {"x_api_key": ["k"], "check_id": ["v"]}}],
                "Service": {"ServiceMeta": {"a_b": "c"}}})
        );
    }

    #[test]
    fn the_canonical_spelling_wins_over_an_alias() {
        let v = json!({"name": "alias", "Name": "canonical"});
        assert_eq!(canonical(v), json!({"Name": "canonical"}));
    }
}
