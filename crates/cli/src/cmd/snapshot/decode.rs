//! `praetor snapshot decode FILE`: a snapshot file as JSON lines, as
//! Consul's `consul snapshot decode` (1.16+) prints one: first
//! `{"Type":"SnapshotHeader","Data":{…}}` with the file's metadata, then
//! one `{"Type":…,"Data":…}` line per record, in Consul's record types and
//! field names where Consul has them:
//! - `Register`: a catalog node, then the node with each of its services
//!   (`Service`), then with each of its checks (`Check`), as Consul's
//!   snapshot writes registrations;
//! - `KVS`: a key, as `GET /v1/kv/<key>` answers it (value in base64);
//! - `Session`; `ACLToken`, `ACLPolicy`, `ACLRole` (Consul's field names;
//!   a token's secret is in the snapshot, so it is printed, as Consul's
//!   decode prints it);
//! - `UserEvent`: Praetor keeps the recent user events in the replicated
//!   store (Consul keeps them in gossip, so its snapshots have none).
//!
//! Reads the file only; a file that is not a whole snapshot (bad header,
//! truncated, wrong checksum, unknown store format) is refused with one
//! line saying why, before anything is printed.

use anyhow::Context as _;
use praetor_store::Store;
use serde::Serialize;
use serde_json::{json, Map, Value};

/// Every line `file` decodes to, in order.
///
/// # Errors
/// A file that is not a Praetor snapshot, or is damaged.
pub fn lines(file: &[u8]) -> anyhow::Result<Vec<String>> {
    let (meta, data) = praetor_api::snapshot::decode(file).map_err(anyhow::Error::msg)?;
    let store = Store::decode_snapshot(data).context("decoding the snapshot's data")?;
    let mut out = vec![line("SnapshotHeader", &meta)?];
    let catalog = store.catalog();
    for node in catalog.nodes().1 {
        let mut reg = Map::new();
        if let Value::Object(fields) = serde_json::to_value(&node)? {
            for (k, v) in fields {
                let k = if k == "Meta" {
                    "NodeMeta".to_owned()
                } else {
                    k
                };
                reg.insert(k, v);
            }
        }
        out.push(line("Register", &reg)?);
        for service in catalog.node_services(&node.node).1 {
            let mut with = reg.clone();
            with.insert("Service".into(), serde_json::to_value(&service)?);
            out.push(line("Register", &with)?);
        }
        for check in catalog.node_checks(&node.node).1 {
            let mut with = reg.clone();
            with.insert("Check".into(), serde_json::to_value(&check)?);
            out.push(line("Register", &with)?);
        }
    }
    for (key, entry) in store.kv().list("") {
        out.push(line("KVS", &entry.to_pair(key))?);
    }
    for session in store.sessions().list().1 {
        out.push(line("Session", &session)?);
    }
    let acl = store.acl();
    for token in acl.tokens() {
        out.push(line(
            "ACLToken",
            &consul_keys(serde_json::to_value(token)?),
        )?);
    }
    for policy in acl.policies() {
        out.push(line(
            "ACLPolicy",
            &consul_keys(serde_json::to_value(policy)?),
        )?);
    }
    for role in acl.roles() {
        out.push(line("ACLRole", &consul_keys(serde_json::to_value(role)?))?);
    }
    for event in store.events().list(None).1 {
        out.push(line("UserEvent", &event)?);
    }
    Ok(out)
}

/// One record as Consul prints it.
fn line(kind: &str, data: &impl Serialize) -> anyhow::Result<String> {
    Ok(serde_json::to_string(
        &json!({ "Type": kind, "Data": data }),
    )?)
}

/// A stored record's snake_case keys in Consul's spelling, at every depth:
/// `accessor_id` is `AccessorID`, `create_index` is `CreateIndex`.
fn consul_keys(v: Value) -> Value {
    match v {
        Value::Object(fields) => Value::Object(
            fields
                .into_iter()
                .map(|(k, v)| {
                    let key: String = k
                        .split('_')
                        .map(|word| match word {
                            "id" => "ID".to_owned(),
                            _ => {
                                let mut c = word.chars();
                                c.next()
                                    .map(|f| f.to_uppercase().chain(c).collect())
                                    .unwrap_or_default()
                            }
                        })
                        .collect();
                    (key, consul_keys(v))
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(consul_keys).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use praetor_store::Command;
    use serde_json::Value;

    use super::*;

    fn kv_set(key: &str, value: &[u8]) -> Command {
        Command::KvSet {
            key: key.to_owned(),
            value: value.to_vec().into(),
            flags: 3,
            cas: None,
        }
    }

    #[test]
    fn a_snapshot_decodes_to_its_header_then_one_line_per_record() {
        let mut store = Store::new(16);
        store.apply(5, &kv_set("app/a", b"1"));
        store.apply(6, &kv_set("app/b", b"22"));
        let data = store.encode_state().expect("encoded");
        let file = praetor_api::snapshot::encode(6, 2, 1_700_000_000_000, &data);
        let lines = lines(&file).expect("decoded");
        let parsed: Vec<Value> = lines
            .iter()
            .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
            .collect();
        assert_eq!(parsed[0]["Type"], "SnapshotHeader");
        assert_eq!(parsed[0]["Data"]["Index"], 6);
        assert_eq!(parsed[0]["Data"]["ID"], "2-6-1700000000000");
        let kvs: Vec<&Value> = parsed.iter().filter(|r| r["Type"] == "KVS").collect();
        assert_eq!(kvs.len(), 2, "{lines:?}");
        assert_eq!(kvs[1]["Data"]["Key"], "app/b");
        assert_eq!(kvs[1]["Data"]["Value"], "MjI=");
        assert_eq!(kvs[1]["Data"]["Flags"], 3);
        assert_eq!(kvs[1]["Data"]["ModifyIndex"], 6);
    }

    #[test]
    fn a_damaged_or_foreign_file_is_refused_with_one_line() {
        let data = Store::new(16).encode_state().expect("encoded");
        let file = praetor_api::snapshot::encode(1, 1, 0, &data);
        let truncated = lines(&file[..file.len() - 1]).expect_err("refused");
        assert!(
            format!("{truncated:#}").contains("truncated"),
            "{truncated:#}"
        );
        let foreign = lines(b"not a snapshot at all").expect_err("refused");
        assert!(
            format!("{foreign:#}").contains("not a Praetor snapshot"),
            "{foreign:#}"
        );
        // A well-framed file whose data is not a store.
        let garbage = praetor_api::snapshot::encode(1, 1, 0, &[0xff; 8]);
        let e = lines(&garbage).expect_err("refused");
        assert!(
            format!("{e:#}").starts_with("decoding the snapshot's data"),
            "{e:#}"
        );
    }

    #[test]
    fn stored_keys_are_spelled_as_consuls() {
        let v = consul_keys(
            serde_json::json!({"accessor_id": "a", "create_index": 1, "service_identities": [{"service_name": "web"}]}),
        );
        assert_eq!(
            v,
            serde_json::json!({"AccessorID": "a", "CreateIndex": 1, "ServiceIdentities": [{"ServiceName": "web"}]})
        );
    }
}
