//! The formatters against the text Consul's `formatter.go` prints for the
//! same objects (its testdata golden files' layout, with our own values).

use super::*;
use crate::cmd::acl::model::{Link, NodeIdentity, ServiceIdentity};

fn link(id: &str, name: &str) -> Link {
    Link {
        id: id.into(),
        name: name.into(),
    }
}

fn full_token() -> Token {
    Token {
        create_index: 5,
        modify_index: 10,
        accessor_id: "fbd2447f-7479-4329-ad13-b021d74f86ba".into(),
        secret_id: "869c6e91-4de9-4dab-b56e-87548435f9c6".into(),
        description: "app token".into(),
        policies: vec![
            link("beb04680-815b-4d7c-9e33-3d707c24672c", "app-read"),
            link("18788457-584c-4812-80d3-23d403148a90", "app-write"),
        ],
        roles: vec![link("3b0a78fe-b9c3-40de-b8ea-7d4d6674b366", "ops")],
        service_identities: vec![
            ServiceIdentity {
                service_name: "web".into(),
                datacenters: vec!["dc1".into(), "dc2".into()],
            },
            ServiceIdentity {
                service_name: "db".into(),
                datacenters: vec![],
            },
        ],
        node_identities: vec![NodeIdentity {
            node_name: "n1".into(),
            datacenter: "dc1".into(),
        }],
        local: false,
        expiration_time: Some("2026-12-03T14:52:31.25Z".into()),
        create_time: "2026-12-03T13:52:31.123456789Z".into(),
        hash: "YWJjZGVmZ2g=".into(),
        ..Token::default()
    }
}

#[test]
fn token_pretty_block_is_consuls() {
    let want = "\
AccessorID:       fbd2447f-7479-4329-ad13-b021d74f86ba
SecretID:         869c6e91-4de9-4dab-b56e-87548435f9c6
Description:      app token
Local:            false
Create Time:      2026-12-03 13:52:31.123456789 +0000 UTC
Expiration Time:  2026-12-03 14:52:31.25 +0000 UTC
Policies:
   beb04680-815b-4d7c-9e33-3d707c24672c - app-read
   18788457-584c-4812-80d3-23d403148a90 - app-write
Roles:
   3b0a78fe-b9c3-40de-b8ea-7d4d6674b366 - ops
Service Identities:
   web (Datacenters: dc1, dc2)
   db (Datacenters: all)
Node Identities:
   n1 (Datacenter: dc1)
";
    assert_eq!(token(&full_token(), false), want);
}

#[test]
fn token_meta_adds_hash_in_hex_and_indexes_after_the_times() {
    let out = token(&full_token(), true);
    assert!(
        out.contains(
            "Expiration Time:  2026-12-03 14:52:31.25 +0000 UTC\n\
             Hash:             6162636465666768\n\
             Create Index:     5\n\
             Modify Index:     10\n\
             Policies:\n"
        ),
        "{out}"
    );
}

#[test]
fn a_bare_token_prints_only_the_fixed_lines() {
    let t = Token {
        accessor_id: "a".into(),
        secret_id: "s".into(),
        local: true,
        create_time: "2026-01-02T03:04:05Z".into(),
        ..Token::default()
    };
    assert_eq!(
        token(&t, false),
        "AccessorID:       a\nSecretID:         s\nDescription:      \nLocal:            true\n\
         Create Time:      2026-01-02 03:04:05 +0000 UTC\n"
    );
}

#[test]
fn token_json_has_consuls_field_order_and_omissions() {
    let t = Token {
        create_index: 5,
        modify_index: 10,
        accessor_id: "acc".into(),
        secret_id: "sec".into(),
        description: "d <&>".into(),
        policies: vec![link("p1", "pol")],
        create_time: "2026-12-03T13:52:31Z".into(),
        hash: "YWJj".into(),
        ..Token::default()
    };
    let want = r#"{
    "CreateIndex": 5,
    "ModifyIndex": 10,
    "AccessorID": "acc",
    "SecretID": "sec",
    "Description": "d \u003c\u0026\u003e",
    "Policies": [
        {
            "ID": "p1",
            "Name": "pol"
        }
    ],
    "Local": false,
    "CreateTime": "2026-12-03T13:52:31Z",
    "Hash": "YWJj"
}"#;
    assert_eq!(json(&t).expect("json"), want);
}

#[test]
fn token_list_separates_blocks_with_a_blank_line() {
    let a = TokenListEntry {
        accessor_id: "a1".into(),
        secret_id: "s1".into(),
        description: "first".into(),
        create_time: "2026-12-03T13:52:31Z".into(),
        policies: vec![link("p", "pol")],
        ..TokenListEntry::default()
    };
    let b = TokenListEntry {
        accessor_id: "a2".into(),
        secret_id: "s2".into(),
        create_time: "2026-12-03T13:52:31Z".into(),
        ..TokenListEntry::default()
    };
    let out = token_list(&[a, b], false);
    assert_eq!(
        out,
        "AccessorID:       a1\nSecretID:         s1\nDescription:      first\n\
         Local:            false\nCreate Time:      2026-12-03 13:52:31 +0000 UTC\n\
         Policies:\n   p - pol\n\
         \n\
         AccessorID:       a2\nSecretID:         s2\nDescription:      \n\
         Local:            false\nCreate Time:      2026-12-03 13:52:31 +0000 UTC\n"
    );
    assert_eq!(token_list(&[], false), "");
}

#[test]
fn token_list_json_keeps_hash_and_legacy_as_consul_prints_them() {
    let e = TokenListEntry {
        accessor_id: "a".into(),
        create_time: "2026-12-03T13:52:31Z".into(),
        hash: Some("YWJj".into()),
        ..TokenListEntry::default()
    };
    let out = json(&vec![e]).expect("json");
    let keys: Vec<&str> = out
        .lines()
        .filter_map(|l| l.trim().strip_prefix('"'))
        .filter_map(|l| l.split('"').next())
        .collect();
    assert_eq!(
        keys,
        [
            "CreateIndex",
            "ModifyIndex",
            "AccessorID",
            "SecretID",
            "Description",
            "Local",
            "CreateTime",
            "Hash",
            "Legacy"
        ]
    );
}

fn app_policy() -> Policy {
    Policy {
        id: "e359bd81-baca-903e-7e64-1ccd9fdc78f5".into(),
        name: "app-config".into(),
        description: "reads config/app/".into(),
        rules: "key_prefix \"config/app/\" { policy = \"read\" }".into(),
        datacenters: None,
        hash: Some("YWI=".into()),
        create_index: 7,
        modify_index: 8,
        ..Policy::default()
    }
}

#[test]
fn policy_pretty_block_ends_with_its_rules() {
    assert_eq!(
        policy(&app_policy(), false),
        "ID:           e359bd81-baca-903e-7e64-1ccd9fdc78f5\n\
         Name:         app-config\n\
         Description:  reads config/app/\n\
         Datacenters:  \n\
         Rules:\n\
         key_prefix \"config/app/\" { policy = \"read\" }"
    );
    let mut p = app_policy();
    p.datacenters = Some(vec!["dc1".into(), "dc2".into()]);
    let out = policy(&p, true);
    assert!(
        out.contains(
            "Datacenters:  dc1, dc2\nHash:         6162\nCreate Index: 7\nModify Index: 8\nRules:\n"
        ),
        "{out}"
    );
}

#[test]
fn policy_json_prints_null_datacenters_as_go_does() {
    let out = json(&app_policy()).expect("json");
    assert!(out.contains("\"Datacenters\": null,"), "{out}");
    assert!(
        out.starts_with("{\n    \"ID\": \"e359bd81-baca-903e-7e64-1ccd9fdc78f5\",\n    \"Name\""),
        "{out}"
    );
    assert!(
        out.contains(r#""Rules": "key_prefix \"config/app/\" { policy = \"read\" }","#),
        "{out}"
    );
}

#[test]
fn policy_list_is_name_then_indented_fields() {
    let e = PolicyListEntry {
        id: "00000000-0000-0000-0000-000000000001".into(),
        name: "global-management".into(),
        description: "Builtin Policy that grants unlimited access".into(),
        ..PolicyListEntry::default()
    };
    let e2 = PolicyListEntry {
        id: "p2".into(),
        name: "app".into(),
        datacenters: Some(vec!["dc1".into()]),
        ..PolicyListEntry::default()
    };
    assert_eq!(
        policy_list(&[e, e2], false),
        "global-management:\n\
         \x20  ID:           00000000-0000-0000-0000-000000000001\n\
         \x20  Description:  Builtin Policy that grants unlimited access\n\
         \x20  Datacenters:  \n\
         app:\n\
         \x20  ID:           p2\n\
         \x20  Description:  \n\
         \x20  Datacenters:  dc1\n"
    );
}

fn ops_role() -> Role {
    Role {
        id: "c29c4ee4-bca6-474e-be37-7d9606f9582a".into(),
        name: "ops".into(),
        description: "operators".into(),
        policies: vec![link("p1", "app-config")],
        service_identities: vec![ServiceIdentity {
            service_name: "web".into(),
            datacenters: vec![],
        }],
        node_identities: vec![NodeIdentity {
            node_name: "n1".into(),
            datacenter: "dc1".into(),
        }],
        hash: Some("YWI=".into()),
        create_index: 3,
        modify_index: 4,
        ..Role::default()
    }
}

#[test]
fn role_pretty_block_and_list_are_consuls() {
    assert_eq!(
        role(&ops_role(), true),
        "ID:           c29c4ee4-bca6-474e-be37-7d9606f9582a\n\
         Name:         ops\n\
         Description:  operators\n\
         Hash:         6162\n\
         Create Index: 3\n\
         Modify Index: 4\n\
         Policies:\n   p1 - app-config\n\
         Service Identities:\n   web (Datacenters: all)\n\
         Node Identities:\n   n1 (Datacenter: dc1)\n"
    );
    assert_eq!(
        role_list(&[ops_role()], false),
        "ops:\n\
         \x20  ID:           c29c4ee4-bca6-474e-be37-7d9606f9582a\n\
         \x20  Description:  operators\n\
         \x20  Policies:\n      p1 - app-config\n\
         \x20  Service Identities:\n      web (Datacenters: all)\n\
         \x20  Node Identities:\n      n1 (Datacenter: dc1)\n"
    );
}

#[test]
fn role_json_order_is_consuls() {
    let out = json(&ops_role()).expect("json");
    let order = [
        "\"ID\"",
        "\"Name\"",
        "\"Description\"",
        "\"Policies\"",
        "\"ServiceIdentities\"",
        "\"NodeIdentities\"",
        "\"Hash\"",
        "\"CreateIndex\"",
        "\"ModifyIndex\"",
    ];
    let at: Vec<usize> = order
        .iter()
        .map(|k| out.find(k).unwrap_or_else(|| panic!("{k} in {out}")))
        .collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{out}");
}

#[test]
fn go_time_prints_as_gos_default_time_format() {
    assert_eq!(
        go_time("2018-10-22T15:33:39.01789Z"),
        "2018-10-22 15:33:39.01789 +0000 UTC"
    );
    assert_eq!(
        go_time("2018-10-22T15:33:39Z"),
        "2018-10-22 15:33:39 +0000 UTC"
    );
    assert_eq!(
        go_time("2018-10-22T15:33:39.500000000Z"),
        "2018-10-22 15:33:39.5 +0000 UTC"
    );
    assert_eq!(
        go_time("2018-10-22T15:33:39.000Z"),
        "2018-10-22 15:33:39 +0000 UTC"
    );
    assert_eq!(
        go_time("2018-10-22T15:33:39.01789-04:00"),
        "2018-10-22 15:33:39.01789 -0400 -0400"
    );
    assert_eq!(
        go_time("2018-10-22T15:33:39+00:00"),
        "2018-10-22 15:33:39 +0000 UTC"
    );
    for odd in [
        "",
        "yesterday",
        "2018-10-22T15:33",
        "2018-10-22T15:33:39+0000x",
    ] {
        assert_eq!(go_time(odd), odd, "returned as it is");
    }
}

#[test]
fn only_pretty_and_json_are_formats() {
    assert_eq!(Format::parse("pretty"), Ok(Format::Pretty));
    assert_eq!(Format::parse("json"), Ok(Format::Json));
    assert_eq!(Format::parse("yaml"), Err("Unknown format: yaml".into()));
}
