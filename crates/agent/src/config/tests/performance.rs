//! `performance.rpc_hold_timeout`: how long a request is held while there
//! is no leader. Read from JSON and HCL (Consul's 7 s when unset), and a
//! value that cannot be a hold — zero, negative, not a duration — refused
//! with one line naming the key and the file.

use super::*;

#[test]
fn rpc_hold_timeout_is_read_from_json_and_hcl_and_defaults_to_seven_seconds() {
    let s = Scratch::new();
    let none = s.write("none.json", "{}");
    assert_eq!(
        load_ok(&s.flags(&[&none])).config.rpc_hold_timeout,
        Duration::from_secs(7),
        "Consul's default"
    );
    let json = s.write(
        "a.json",
        r#"{"performance": {"rpc_hold_timeout": "1s", "raft_multiplier": 1}}"#,
    );
    let loaded = load_ok(&s.flags(&[&json]));
    assert_eq!(loaded.config.rpc_hold_timeout, Duration::from_secs(1));
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let hcl = s.write(
        "b.hcl",
        "performance {\n  rpc_hold_timeout = \"1m30s\"\n}\n",
    );
    assert_eq!(
        load_ok(&s.flags(&[&hcl])).config.rpc_hold_timeout,
        Duration::from_secs(90)
    );
    // A later file wins, as for every key.
    let ms = s.write(
        "c.json",
        r#"{"performance": {"rpc_hold_timeout": "250ms"}}"#,
    );
    assert_eq!(
        load_ok(&s.flags(&[&json, &ms])).config.rpc_hold_timeout,
        Duration::from_millis(250)
    );
}

#[test]
fn rpc_hold_timeout_that_is_zero_negative_or_not_a_duration_is_refused_naming_key_and_file() {
    let s = Scratch::new();
    let cases = [
        (
            "\"0s\"",
            "performance.rpc_hold_timeout: must be more than 0, got 0s",
        ),
        ("\"0\"", "performance.rpc_hold_timeout: must be more than 0"),
        (
            "\"-1s\"",
            "performance.rpc_hold_timeout: \"-1s\" is negative",
        ),
        (
            "\"soon\"",
            "performance.rpc_hold_timeout: \"soon\" is not a duration",
        ),
        (
            "true",
            "performance.rpc_hold_timeout: invalid type: boolean `true`",
        ),
    ];
    for (i, (value, want)) in cases.into_iter().enumerate() {
        let text = format!(r#"{{"performance": {{"rpc_hold_timeout": {value}}}}}"#);
        let file = s.write(&format!("{i}.json"), &text);
        let err = load_err(&s.flags(&[&file]));
        assert!(
            err.starts_with(&format!("config file {}: ", file.display())) && err.contains(want),
            "{text}: {err}"
        );
        assert!(!err.contains('\n'), "one line: {err}");
    }
}
