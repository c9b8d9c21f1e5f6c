//! The ACL commands' own parsing: identities, ID prefixes, data sources,
//! agent token types, durations, and Consul's wording of an agent's refusal.

use praetor_client::ClientError;

use super::token::parse_go_duration;
use super::*;

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn service_identities_take_a_name_and_optional_datacenters() {
    let got = service_identities(&strings(&["web", "db:east,west"])).expect("parsed");
    assert_eq!(
        got,
        vec![
            ServiceIdentity {
                service_name: "web".into(),
                datacenters: vec![],
            },
            ServiceIdentity {
                service_name: "db".into(),
                datacenters: vec!["east".into(), "west".into()],
            },
        ]
    );
    let e = service_identities(&strings(&["a:b:c"])).expect_err("refused");
    assert_eq!(
        e.to_string(),
        r#"Malformed -service-identity argument: "a:b:c""#
    );
}

#[test]
fn node_identities_need_exactly_node_and_datacenter() {
    assert_eq!(
        node_identities(&strings(&["n1:dc1"])).expect("parsed"),
        vec![NodeIdentity {
            node_name: "n1".into(),
            datacenter: "dc1".into(),
        }]
    );
    for bad in ["n1", "n1:dc1:x"] {
        let e = node_identities(&strings(&[bad])).expect_err("refused");
        assert_eq!(
            e.to_string(),
            format!("Malformed -node-identity argument: {bad:?}")
        );
    }
}

#[test]
fn an_id_prefix_must_name_exactly_one_object() {
    let ids = ["abc-1", "abd-2", "xyz-3"];
    assert_eq!(unique_prefix("token", "x", ids), Ok("xyz-3".into()));
    assert_eq!(unique_prefix("token", "abd", ids), Ok("abd-2".into()));
    assert_eq!(
        unique_prefix("policy", "ab", ids),
        Err("Partial policy ID is not unique".into())
    );
    assert_eq!(
        unique_prefix("role", "q", ids),
        Err("No such role ID with prefix: q".into())
    );
}

#[test]
fn data_sources_are_the_value_a_file_or_stdin() {
    let mut none: &[u8] = b"";
    assert_eq!(
        load_data_source("key \"a\" {}", &mut none).expect("raw"),
        "key \"a\" {}"
    );
    assert_eq!(load_data_source("", &mut none).expect("empty"), "");
    let mut input: &[u8] = b"from stdin\n";
    assert_eq!(
        load_data_source("-", &mut input).expect("stdin"),
        "from stdin\n"
    );
    let path = std::env::temp_dir().join(format!("praetor-acl-rules-{}", std::process::id()));
    std::fs::write(&path, "node_prefix \"\" { policy = \"read\" }").expect("written");
    let arg = format!("@{}", path.display());
    assert_eq!(
        load_data_source(&arg, &mut none).expect("file"),
        "node_prefix \"\" { policy = \"read\" }"
    );
    let _ = std::fs::remove_file(&path);
    let e = load_data_source("@/no/such/rules.hcl", &mut none).expect_err("refused");
    assert!(e.to_string().starts_with("Failed to read file: "), "{e}");
}

#[test]
fn a_refusal_is_worded_as_consuls_go_client_words_it() {
    let e = ClientError::Http {
        status: 403,
        body: "Permission denied: token with AccessorID 'x' lacks permission 'acl:write'".into(),
    };
    assert_eq!(
        api_error(&e),
        "Unexpected response code: 403 (Permission denied: token with AccessorID 'x' lacks permission 'acl:write')"
    );
    let e = ClientError::Connect {
        addr: "http://127.0.0.1:1".into(),
        reason: "connection refused".into(),
    };
    assert!(api_error(&e).contains("connection refused"));
}

#[test]
fn agent_token_types_map_to_consuls_paths_old_names_included() {
    for (kind, path) in [
        ("default", "default"),
        ("agent", "agent"),
        ("recovery", "agent_recovery"),
        ("agent_recovery", "agent_recovery"),
        ("master", "agent_recovery"),
        ("agent_master", "agent_recovery"),
        ("acl_agent_master_token", "agent_recovery"),
        ("acl_token", "default"),
        ("acl_agent_token", "agent"),
        ("replication", "replication"),
        ("acl_replication_token", "replication"),
        (
            "config_file_service_registration",
            "config_file_service_registration",
        ),
    ] {
        assert_eq!(agent_token_path(kind), Some(path), "{kind}");
    }
    assert_eq!(agent_token_path("root"), None);
    assert_eq!(agent_token_path("../kv/x"), None);
}

#[test]
fn expires_ttl_takes_go_durations_only() {
    for ok in ["10m", "1h", "1h30m", "1.5h", "300ms", "0", "90s"] {
        assert!(parse_go_duration(ok).is_ok(), "{ok}");
    }
    for bad in ["", "10", "ten minutes", "1d", "h", "1..5h", "5m3"] {
        assert!(parse_go_duration(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn path_segments_are_escaped() {
    assert_eq!(seg("app-config_1.x~"), "app-config_1.x~");
    assert_eq!(seg("../kv/x"), "..%2Fkv%2Fx");
    assert_eq!(seg("a b?c"), "a%20b%3Fc");
}

#[test]
fn request_bodies_leave_out_null_fields_but_keep_empty_values() {
    let p = model::Policy {
        name: "app".into(),
        rules: String::new(),
        ..model::Policy::default()
    };
    let body = request_body(&p);
    assert_eq!(body["Name"], "app");
    assert_eq!(body["Rules"], "");
    assert!(body.get("Datacenters").is_none(), "{body}");
    assert!(body.get("Hash").is_none(), "{body}");
    let p = model::Policy {
        datacenters: Some(vec!["dc1".into()]),
        ..p
    };
    assert_eq!(request_body(&p)["Datacenters"][0], "dc1");
}

#[test]
fn update_replaces_appends_or_merges_links() {
    use super::model::Link;
    use super::token::{merge_links, Combine};
    let current = vec![Link::by_id("p1"), Link::by_name("named")];
    let given = vec![Link::by_id("p1"), Link::by_name("new")];
    let mut t = current.clone();
    merge_links(&mut t, given.clone(), Combine::Replace);
    assert_eq!(t, given);
    let mut t = current.clone();
    merge_links(&mut t, given.clone(), Combine::Append);
    assert_eq!(t.len(), 4, "appended as given, as Consul's -append- flags");
    let mut t = current.clone();
    merge_links(&mut t, given, Combine::Merge);
    assert_eq!(
        t,
        vec![
            Link::by_id("p1"),
            Link::by_name("named"),
            Link::by_name("new")
        ],
        "-merge-policies adds only what is not linked yet"
    );
}
