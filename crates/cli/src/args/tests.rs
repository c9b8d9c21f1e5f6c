//! `normalize` against the CLI's own command tree: what clap is handed, and
//! what the commands then receive.

use std::ffi::OsString;

use clap::error::ErrorKind;
use clap::{CommandFactory as _, Parser as _};
use proptest::prelude::*;

use super::normalize;
use crate::Cli;

fn os(args: &[&str]) -> Vec<OsString> {
    std::iter::once("praetor")
        .chain(args.iter().copied())
        .map(OsString::from)
        .collect()
}

/// What clap is handed for `praetor ARGS` (without the program name).
fn n(args: &[&str]) -> Vec<String> {
    let out =
        normalize(Cli::command(), os(args)).unwrap_or_else(|e| panic!("{args:?} refused: {e}"));
    out[1..]
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect()
}

/// The parsed command for `praetor ARGS`, as its `Debug` text.
fn parsed(args: &[&str]) -> String {
    let normalized = normalize(Cli::command(), os(args)).expect("normalized");
    match Cli::try_parse_from(normalized) {
        Ok(cli) => format!("{:?}", cli.command),
        Err(e) => panic!("{args:?} did not parse: {e}"),
    }
}

/// The error for `praetor ARGS`, from `normalize` or from clap.
fn refused(args: &[&str]) -> clap::Error {
    match normalize(Cli::command(), os(args)).and_then(Cli::try_parse_from) {
        Ok(cli) => panic!("{args:?} was accepted: {:?}", cli.command),
        Err(e) => e,
    }
}

#[test]
fn flags_before_the_first_argument_become_clap_flags() {
    assert_eq!(
        n(&["kv", "get", "-recurse", "-http-addr=1.2.3.4:8500", "app"]),
        [
            "kv",
            "get",
            "--recurse",
            "--http-addr=1.2.3.4:8500",
            "--",
            "app"
        ]
    );
    assert_eq!(
        n(&["agent", "-config-dir=/x", "--dev"]),
        ["agent", "--config-dir=/x", "--dev"]
    );
    assert_eq!(
        n(&["operator", "raft", "list-peers", "-stale"]),
        ["operator", "raft", "list-peers", "--stale"]
    );
}

#[test]
fn a_flag_that_takes_a_value_takes_the_next_argument_whatever_it_looks_like() {
    assert_eq!(
        n(&["kv", "get", "-http-addr", "127.0.0.1:8500", "app"]),
        ["kv", "get", "--http-addr=127.0.0.1:8500", "--", "app"]
    );
    assert_eq!(n(&["agent", "-dns-port", "-1"]), ["agent", "--dns-port=-1"]);
    assert_eq!(
        n(&["kv", "put", "-flags", "7", "-token", "--", "k", "v"]),
        ["kv", "put", "--flags=7", "--token=--", "--", "k", "v"]
    );
    assert!(parsed(&["kv", "put", "-token", "-abc", "k"]).contains(r#"token: Some("-abc")"#));
    assert!(parsed(&["lock", "-n", "3", "p", "c"]).contains("limit: 3"));
}

#[test]
fn kv_put_values_that_look_like_flags_are_stored_verbatim() {
    assert_eq!(
        n(&["kv", "put", "k", "-abc"]),
        ["kv", "put", "--", "k", "-abc"]
    );
    assert!(parsed(&["kv", "put", "k", "-abc"]).contains(r#"value: Some("-abc")"#));
    let p = parsed(&["kv", "put", "k", "-http-addr=evil"]);
    assert!(p.contains(r#"value: Some("-http-addr=evil")"#), "{p}");
    assert!(p.contains("http_addr: None"), "{p}");
    let p = parsed(&["kv", "put", "--", "-k", "--x"]);
    assert!(
        p.contains(r#"key: "-k""#) && p.contains(r#"value: Some("--x")"#),
        "{p}"
    );
    assert!(parsed(&["kv", "put", "k", "-"]).contains(r#"value: Some("-")"#));
}

#[test]
fn a_double_dash_after_the_first_argument_is_an_argument_as_in_go() {
    // Consul: `kv put k -- -x` is three arguments ("Too many arguments").
    assert_eq!(
        n(&["kv", "put", "k", "--", "-x"]),
        ["kv", "put", "--", "k", "--", "-x"]
    );
    assert_eq!(
        refused(&["kv", "put", "k", "--", "-x"]).kind(),
        ErrorKind::UnknownArgument
    );
    // Before the first argument it ends the flags and is consumed.
    assert!(parsed(&["kv", "put", "--", "k", "-x"]).contains(r#"value: Some("-x")"#));
}

#[test]
fn child_arguments_of_lock_elect_and_watch_pass_unchanged() {
    assert_eq!(
        n(&["lock", "-n=2", "-verbose", "prefix", "java", "-jar", "app.jar"]),
        [
            "lock",
            "--n=2",
            "--verbose",
            "--",
            "prefix",
            "java",
            "-jar",
            "app.jar"
        ]
    );
    let p = parsed(&[
        "lock", "prefix", "java", "-jar", "app.jar", "-n", "5", "--", "-x",
    ]);
    assert!(
        p.contains(r#"child: ["java", "-jar", "app.jar", "-n", "5", "--", "-x"]"#),
        "{p}"
    );
    assert!(p.contains("limit: 1"), "{p}");
    let p = parsed(&["elect", "-key", "k", "run", "-key=other", "--", "-v"]);
    assert!(p.contains(r#"key: "k""#), "{p}");
    assert!(
        p.contains(r#"child: ["run", "-key=other", "--", "-v"]"#),
        "{p}"
    );
    let p = parsed(&["elect", "-key=k", "--", "run", "-v"]);
    assert!(p.contains(r#"child: ["run", "-v"]"#), "{p}");
    let p = parsed(&["watch", "-type=key", "-key=x", "sh", "-c", "echo -n $1"]);
    assert!(p.contains(r#"handler: ["sh", "-c", "echo -n $1"]"#), "{p}");
    let p = parsed(&["event", "-name=deploy", "--", "-payload-like"]);
    assert!(p.contains(r#"payload: Some("-payload-like")"#), "{p}");
}

#[test]
fn a_flag_with_an_optional_value_does_not_swallow_the_first_argument() {
    let p = parsed(&["lock", "-shell", "prefix", "cmd"]);
    assert!(
        p.contains("shell: true") && p.contains(r#"prefix: "prefix""#),
        "{p}"
    );
    let p = parsed(&["lock", "-shell=false", "prefix", "cmd"]);
    assert!(p.contains("shell: false"), "{p}");
}

#[test]
fn boolean_flags_take_go_booleans_after_an_equals_sign() {
    assert_eq!(
        n(&["kv", "get", "-recurse=true", "a"]),
        ["kv", "get", "--recurse", "--", "a"]
    );
    assert_eq!(
        n(&["kv", "get", "-recurse=0", "a"]),
        ["kv", "get", "--", "a"]
    );
    let e = refused(&["kv", "get", "-recurse=maybe", "a"]);
    assert_eq!(e.kind(), ErrorKind::InvalidValue);
    assert!(e.to_string().contains("-recurse"), "{e}");
    // Without `=`, the next argument is not a boolean's value.
    assert_eq!(
        n(&["kv", "get", "-recurse", "false"]),
        ["kv", "get", "--recurse", "--", "false"]
    );
}

#[test]
fn flags_after_the_first_argument_are_arguments() {
    assert_eq!(
        n(&["kv", "get", "app", "-recurse"]),
        ["kv", "get", "--", "app", "-recurse"]
    );
    assert_eq!(
        refused(&["kv", "get", "app", "-recurse"]).kind(),
        ErrorKind::UnknownArgument
    );
    assert_eq!(
        n(&["join", "10.0.0.1", "-http-addr=x"]),
        ["join", "--", "10.0.0.1", "-http-addr=x"]
    );
}

#[test]
fn an_unknown_flag_before_the_first_argument_is_refused_by_name() {
    for args in [
        &["kv", "put", "-abc", "k", "v"][..],
        &["watch", "-type=key", "-abc", "handler"],
        &["lock", "-abc", "prefix", "cmd"],
        &["kv", "-abc", "get"],
    ] {
        let e = refused(args);
        assert_eq!(e.kind(), ErrorKind::UnknownArgument, "{args:?}");
        assert!(
            e.to_string()
                .contains("flag provided but not defined: -abc"),
            "{args:?}: {e}"
        );
        assert!(e.use_stderr(), "a usage error, exit 1");
    }
    assert_eq!(
        refused(&["kv", "get", "---x"]).kind(),
        ErrorKind::UnknownArgument
    );
    assert_eq!(
        refused(&["kv", "get", "-=x"]).kind(),
        ErrorKind::UnknownArgument
    );
}

#[test]
fn help_and_version_are_found_at_every_level() {
    assert_eq!(n(&["kv", "put", "-h"]), ["kv", "put", "-h"]);
    assert_eq!(n(&["kv", "-help"]), ["kv", "--help"]);
    assert_eq!(n(&["-version"]), ["--version"]);
    assert!(
        !refused(&["kv", "put", "-help"]).use_stderr(),
        "help exits 0"
    );
}

#[test]
fn unknown_subcommands_are_left_for_clap_to_name() {
    assert_eq!(n(&["kv", "frobnicate", "-x"]), ["kv", "frobnicate", "-x"]);
    assert_eq!(
        refused(&["kv", "frobnicate"]).kind(),
        ErrorKind::InvalidSubcommand
    );
}

#[cfg(unix)]
#[test]
fn arguments_that_are_not_utf8_pass_through_and_never_panic() {
    use std::os::unix::ffi::OsStringExt as _;
    let bad = OsString::from_vec(vec![b'v', 0xff]);
    let mut args = os(&["kv", "put", "k"]);
    args.push(bad.clone());
    let out = normalize(Cli::command(), args).expect("normalized");
    assert_eq!(out.last(), Some(&bad));
    let mut args = os(&["kv", "put"]);
    args.push(OsString::from_vec(vec![b'-', 0xff]));
    assert!(normalize(Cli::command(), args).is_err());
}

proptest! {
    /// Whatever follows the first argument reaches clap unchanged and in order.
    #[test]
    fn everything_from_the_first_argument_on_is_kept_byte_for_byte(
        rest in proptest::collection::vec("(-{0,3}[a-z=-]{0,6})|-|--", 0..8),
    ) {
        for head in [&["kv", "put", "-cas", "-modify-index", "0"][..], &["lock", "-n=2"], &["elect", "-key", "k"]] {
            let mut args: Vec<&str> = head.to_vec();
            args.push("first");
            args.extend(rest.iter().map(String::as_str));
            let out = n(&args);
            let at = out.iter().position(|a| a == "first").expect("the first argument");
            prop_assert_eq!(&out[at - 1], "--");
            prop_assert_eq!(&out[at + 1..], &rest[..]);
        }
    }
}

#[test]
fn acl_commands_take_consuls_single_dash_and_repeated_flags() {
    let p = parsed(&[
        "acl",
        "token",
        "create",
        "-description",
        "app",
        "-policy-name=app-config",
        "-policy-name",
        "other",
        "-policy-id",
        "06acc",
        "-service-identity=web:dc1,dc2",
        "-node-identity",
        "n1:dc1",
        "-local",
        "-expires-ttl=10m",
        "-format=json",
        "-token=mgmt",
    ]);
    for want in [
        r#"description: Some("app")"#,
        r#"policy_names: ["app-config", "other"]"#,
        r#"policy_ids: ["06acc"]"#,
        r#"service_identities: ["web:dc1,dc2"]"#,
        r#"node_identities: ["n1:dc1"]"#,
        "local: true",
        r#"expires_ttl: Some("10m")"#,
        r#"format: "json""#,
        r#"token: Some("mgmt")"#,
    ] {
        assert!(p.contains(want), "{want} in {p}");
    }
    // Consul's -accessor and -secret; -accessor-id and -secret-id as well.
    let p = parsed(&[
        "acl",
        "token",
        "create",
        "-accessor",
        "a-1",
        "-secret-id=s-1",
        "-policy-name=x",
    ]);
    assert!(
        p.contains(r#"accessor: Some("a-1")"#) && p.contains(r#"secret: Some("s-1")"#),
        "{p}"
    );
    // The deprecated -id names the token too.
    assert!(parsed(&["acl", "token", "read", "-id", "abc"]).contains(r#"accessor_id: Some("abc")"#));
    assert!(parsed(&["acl", "token", "read", "-self"]).contains("self_: true"));
}

#[test]
fn acl_policy_rules_may_be_stdin_or_a_file_and_datacenters_repeat() {
    let p = parsed(&[
        "acl",
        "policy",
        "create",
        "-name",
        "app",
        "-rules",
        "-",
        "-valid-datacenter=dc1",
        "-valid-datacenter",
        "dc2",
        "-datacenter=dc9",
    ]);
    assert!(p.contains(r#"rules: Some("-")"#), "{p}");
    assert!(p.contains(r#"valid_datacenters: ["dc1", "dc2"]"#), "{p}");
    assert!(
        p.contains(r#"datacenter: Some("dc9")"#),
        "-datacenter stays the query's datacenter: {p}"
    );
    let p = parsed(&[
        "acl",
        "policy",
        "update",
        "-id=abc",
        "-rules=@rules.hcl",
        "-no-merge",
    ]);
    assert!(
        p.contains(r#"rules: Some("@rules.hcl")"#) && p.contains("no_merge: true"),
        "{p}"
    );
}

#[test]
fn token_file_is_a_flag_of_every_command_that_talks_to_an_agent() {
    for args in [
        &["kv", "get", "-token-file=/t", "k"][..],
        &["acl", "token", "list", "-token-file", "/t"],
        &["acl", "set-agent-token", "-token-file=/t", "agent", "x"],
        &["members", "-token-file=/t"],
        &["snapshot", "save", "-token-file=/t", "f"],
    ] {
        let p = parsed(args);
        assert!(p.contains(r#"token_file: Some("/t")"#), "{args:?}: {p}");
    }
}

#[test]
fn set_agent_token_takes_type_and_token_as_arguments() {
    let p = parsed(&["acl", "set-agent-token", "agent", "-"]);
    assert!(
        p.contains(r#"kind: Some("agent")"#) && p.contains(r#"secret: Some("-")"#),
        "{p}"
    );
    let p = parsed(&[
        "acl",
        "set-agent-token",
        "-token=m",
        "default",
        "t",
        "extra",
    ]);
    assert!(p.contains(r#"extra: ["extra"]"#), "{p}");
}

#[test]
fn acl_unknown_flags_and_subcommands_are_refused() {
    let e = refused(&["acl", "token", "create", "-policy", "x"]);
    assert_eq!(e.kind(), ErrorKind::UnknownArgument);
    assert!(e.use_stderr(), "exit 1");
    assert_eq!(
        refused(&["acl", "token", "frobnicate"]).kind(),
        ErrorKind::InvalidSubcommand
    );
    assert_eq!(
        refused(&["acl", "policy", "read", "-meta=maybe"]).kind(),
        ErrorKind::InvalidValue
    );
}

#[test]
fn tls_flags_repeat_and_take_negative_numbers_as_go_parses_them() {
    let p = parsed(&[
        "tls",
        "cert",
        "create",
        "-server",
        "-additional-dnsname",
        "a.example",
        "-additional-dnsname=b.example",
        "-additional-ipaddress",
        "10.0.0.1",
        "-days",
        "-1",
        "-dc=east",
    ]);
    assert!(
        p.contains(r#"additional_dnsname: ["a.example", "b.example"]"#),
        "{p}"
    );
    assert!(p.contains(r#"additional_ipaddress: ["10.0.0.1"]"#), "{p}");
    assert!(p.contains("days: -1") && p.contains(r#"dc: "east""#), "{p}");
    assert!(
        p.contains("server: true") && p.contains("client: false"),
        "{p}"
    );
    let p = parsed(&[
        "tls",
        "ca",
        "create",
        "-name-constraint",
        "-additional-name-constraint",
        "ui.example",
    ]);
    assert!(
        p.contains("name_constraint: true") && p.contains("days: 1825"),
        "{p}"
    );
    assert_eq!(
        refused(&["tls", "cert", "create", "-server=maybe"]).kind(),
        ErrorKind::InvalidValue
    );
}
