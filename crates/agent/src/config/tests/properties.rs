//! Property tests: whatever bytes a config file holds, `load` answers with
//! the configuration or one error line naming the file; it never panics.

use proptest::prelude::*;
use serde_json::Value;

use super::*;

/// Loads `bytes` as the config file `name` and checks the outcome's shape.
fn load_bytes(s: &Scratch, name: &str, bytes: &[u8]) -> Result<(), TestCaseError> {
    let path = s.path(name);
    fs::write(&path, bytes).unwrap();
    if let Err(e) = load(&s.flags(&[&path])) {
        let msg = e.to_string();
        prop_assert!(!msg.contains('\n'), "{msg}");
        prop_assert!(msg.contains(name), "the error names the file: {msg}");
    }
    Ok(())
}

/// Pieces of HCL and JSON syntax, so random files reach past the first byte.
fn syntax_soup() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("{".to_owned()),
        Just("}".to_owned()),
        Just("[".to_owned()),
        Just("]".to_owned()),
        Just("(".to_owned()),
        Just(")".to_owned()),
        Just("=".to_owned()),
        Just(":".to_owned()),
        Just(",".to_owned()),
        Just("\"".to_owned()),
        Just("\\".to_owned()),
        Just("\n".to_owned()),
        Just("${".to_owned()),
        Just("%{".to_owned()),
        Just("<<EOF\n".to_owned()),
        Just("EOF\n".to_owned()),
        Just("# c\n".to_owned()),
        Just("// c\n".to_owned()),
        Just("/*".to_owned()),
        Just("*/".to_owned()),
        Just(" ? ".to_owned()),
        Just(" + ".to_owned()),
        Just("!".to_owned()),
        Just("-".to_owned()),
        Just(".".to_owned()),
        Just("*".to_owned()),
        Just("for x in y: ".to_owned()),
        Just("datacenter".to_owned()),
        Just("ports".to_owned()),
        Just("limits".to_owned()),
        Just("dns_config".to_owned()),
        "[a-z_]{1,8}",
        "[0-9]{1,20}",
        "\"[a-z0-9.:/ ]{0,8}\"",
    ];
    prop::collection::vec(piece, 0..80).prop_map(|v| v.concat())
}

/// Keys the loader knows (and some it does not), at the top level and in blocks.
fn key() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "datacenter",
        "node_name",
        "node_id",
        "server",
        "bootstrap_expect",
        "data_dir",
        "bind_addr",
        "client_addr",
        "ports",
        "http",
        "dns",
        "server",
        "serf_lan",
        "retry_join",
        "retry_interval",
        "log_level",
        "limits",
        "http_max_conns_per_client",
        "kv_max_value_size",
        "txn_max_req_len",
        "encrypt",
        "domain",
        "alt_domain",
        "recursors",
        "dns_config",
        "service_ttl",
        "udp_answer_limit",
        "soa",
        "min_ttl",
        "autopilot",
        "ui_config",
        "enabled",
        "services",
        "unknown_key",
        "*",
        "",
    ])
    .prop_map(str::to_owned)
}

/// JSON trees over those keys with values of every type.
fn tree() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "[a-z0-9./:*-]{0,12}".prop_map(Value::from),
        prop::sample::select(vec!["10s", "-1s", "0", "127.0.0.1", "::1", "dc1", "x y"])
            .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn any_bytes_as_a_json_file_load_or_fail_with_one_line(bytes in any::<Vec<u8>>()) {
        load_bytes(&Scratch::new(), "a.json", &bytes)?;
    }

    #[test]
    fn any_bytes_as_an_hcl_file_load_or_fail_with_one_line(bytes in any::<Vec<u8>>()) {
        load_bytes(&Scratch::new(), "a.hcl", &bytes)?;
    }

    #[test]
    fn syntax_soup_as_json_or_hcl_loads_or_fails_with_one_line(text in syntax_soup()) {
        let s = Scratch::new();
        load_bytes(&s, "a.json", text.as_bytes())?;
        load_bytes(&s, "a.hcl", text.as_bytes())?;
    }

    #[test]
    fn json_trees_of_known_keys_load_or_fail_with_one_line(
        top in prop::collection::btree_map(key(), tree(), 0..8),
    ) {
        let text = serde_json::to_string(&top).unwrap();
        load_bytes(&Scratch::new(), "a.json", text.as_bytes())?;
    }
}

#[test]
fn deeply_nested_files_are_refused_not_overflowing() {
    let s = Scratch::new();
    let depth = 100_000;
    let json = format!("{{\"a\": {}{}}}", "[".repeat(depth), "]".repeat(depth));
    let hcl_list = format!("a = {}{}\n", "[".repeat(depth), "]".repeat(depth));
    let hcl_objects = format!("a = {}{}\n", "{b = ".repeat(depth), "}".repeat(depth));
    let hcl_blocks = format!("{}{}\n", "b {\n".repeat(depth), "}\n".repeat(depth));
    let hcl_parens = format!("a = {}1{}\n", "(".repeat(depth), ")".repeat(depth));
    for (name, text) in [
        ("deep.json", json),
        ("list.hcl", hcl_list),
        ("objects.hcl", hcl_objects),
        ("blocks.hcl", hcl_blocks),
        ("parens.hcl", hcl_parens),
    ] {
        let path = s.write(name, &text);
        let err = load_err(&s.flags(&[&path]));
        assert!(err.contains(name) && !err.contains('\n'), "{err}");
    }
}

#[test]
fn a_file_that_never_ends_is_refused_at_the_size_limit() {
    let s = Scratch::new();
    let path = s.path("zero.json");
    std::os::unix::fs::symlink("/dev/zero", &path).unwrap();
    let err = load_err(&s.flags(&[&path]));
    assert_eq!(
        err,
        format!(
            "config file {}: larger than {} bytes",
            path.display(),
            super::super::source::MAX_FILE_SIZE
        )
    );
}
