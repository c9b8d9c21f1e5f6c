//! The rule language: HCL and JSON forms, what each resource accepts, and
//! refusals that name the line and the reason.

use praetor_acl::{Access, Global, Policy, Resource, RuleError, MAX_RULES_BYTES};

use crate::precedence::policy;

fn refused(rules: &str) -> RuleError {
    match Policy::parse(rules) {
        Ok(p) => panic!("{rules:?} should be refused, parsed as {p:?}"),
        Err(e) => e,
    }
}

#[track_caller]
fn refused_at(rules: &str, line: usize, reason_contains: &str) -> RuleError {
    let e = refused(rules);
    assert_eq!(e.line, Some(line), "line of {e} for {rules:?}");
    assert!(
        e.reason.contains(reason_contains),
        "reason {:?} should contain {reason_contains:?}",
        e.reason
    );
    assert!(!e.to_string().contains('\n'), "one line: {e}");
    e
}

#[test]
fn empty_and_comment_only_rules_are_an_empty_policy() {
    for text in ["", "  \n\t", "# nothing\n// here\n/* at all */\n"] {
        assert!(policy(text).is_empty(), "{text:?}");
    }
}

#[test]
fn every_resource_parses_in_hcl_and_json_to_the_same_policy() {
    let hcl = r#"
acl = "write"
operator = "read"
keyring = "deny"
mesh = "write"
peering = "read"
key "k" { policy = "list" }
key_prefix "kp/" { policy = "write" }
service "s" {
  policy = "write"
  intentions = "read"
}
service_prefix "" { policy = "read" }
node "n" { policy = "write" }
node_prefix "" { policy = "read" }
session "ss" { policy = "write" }
session_prefix "" { policy = "deny" }
agent "a" { policy = "write" }
agent_prefix "" { policy = "read" }
event "e" { policy = "write" }
event_prefix "" { policy = "read" }
query "q" { policy = "write" }
query_prefix "" { policy = "read" }
"#;
    let json = r#"{
  "acl": "write", "operator": "read", "keyring": "deny", "mesh": "write", "peering": "read",
  "key": {"k": {"policy": "list"}},
  "key_prefix": {"kp/": {"policy": "write"}},
  "service": {"s": {"policy": "write", "intentions": "read"}},
  "service_prefix": {"": {"policy": "read"}},
  "node": {"n": {"policy": "write"}},
  "node_prefix": {"": {"policy": "read"}},
  "session": {"ss": {"policy": "write"}},
  "session_prefix": {"": {"policy": "deny"}},
  "agent": {"a": {"policy": "write"}},
  "agent_prefix": {"": {"policy": "read"}},
  "event": {"e": {"policy": "write"}},
  "event_prefix": {"": {"policy": "read"}},
  "query": {"q": {"policy": "write"}},
  "query_prefix": {"": {"policy": "read"}}
}"#;
    let from_hcl = policy(hcl);
    let from_json = policy(json);
    assert_eq!(from_hcl, from_json);
    assert_eq!(from_hcl.len(), 19);
    assert_eq!(from_hcl.rule(Resource::Key, "k", false), Some(Access::List));
    assert_eq!(
        from_hcl.rule(Resource::Session, "", true),
        Some(Access::Deny)
    );
    assert_eq!(from_hcl.global(Global::Keyring), Some(Access::Deny));
    assert_eq!(from_hcl.global(Global::Acl), Some(Access::Write));
}

#[test]
fn consul_docs_json_example_equals_its_hcl() {
    let json = r#"
{
  "key_prefix": {
    "": { "policy": "read" },
    "foo/": { "policy": "write" },
    "foo/private/": { "policy": "deny" }
  },
  "key": {
    "foo/bar/secret": { "policy": "deny" }
  },
  "operator": "read"
}"#;
    let hcl = "key_prefix \"\" {\n  policy = \"read\"\n}\nkey_prefix \"foo/\" {\n  policy = \"write\"\n}\nkey_prefix \"foo/private/\" {\n  policy = \"deny\"\n}\nkey \"foo/bar/secret\" {\n  policy = \"deny\"\n}\noperator = \"read\"\n";
    assert_eq!(policy(json), policy(hcl));
}

#[test]
fn other_accepted_forms() {
    let expected = policy(r#"key "a" { policy = "read" }"#);
    // HCL1's object form and JSON's list form read like blocks.
    assert_eq!(policy(r#"key = { "a" = { policy = "read" } }"#), expected);
    assert_eq!(policy(r#"{"key": [{"a": {"policy": "read"}}]}"#), expected);
    assert_eq!(policy(r#"{"key": {"a": [{"policy": "read"}]}}"#), expected);
    // levels are case-insensitive, as Consul's AccessLevelFromString
    assert_eq!(policy(r#"key "a" { policy = "READ" }"#), expected);
    // duplicate blocks in JSON are kept and merged, as in HCL
    let p = policy(r#"{"key": {"a": {"policy": "read"}, "a": {"policy": "deny"}}}"#);
    assert_eq!(p.rule(Resource::Key, "a", false), Some(Access::Deny));
    // names keep their escapes' meaning
    let p = policy(r#"key "a\"b\\c" { policy = "read" }"#);
    assert_eq!(p.rule(Resource::Key, "a\"b\\c", false), Some(Access::Read));
    let p = policy(r#"{"key": {"a\"b\u00e9": {"policy": "read"}}}"#);
    assert_eq!(p.rule(Resource::Key, "a\"bé", false), Some(Access::Read));
}

#[test]
fn a_bad_level_names_the_line_and_what_is_wanted() {
    let e = refused_at(
        "key_prefix \"\" {\n  policy = \"read\"\n}\nkey \"foo\" {\n  policy = \"reed\"\n}\n",
        5,
        "",
    );
    assert_eq!(
        e.to_string(),
        "Failed to parse ACL rules: line 5: invalid policy \"reed\" for key \"foo\" (want read, write, list or deny)"
    );
    let e = refused_at("\n\nservice \"web\" { policy = \"list\" }", 3, "");
    assert_eq!(
        e.reason,
        "invalid policy \"list\" for service \"web\" (want read, write or deny)"
    );
    refused_at(
        "operator = \"list\"",
        1,
        "invalid policy \"list\" for operator",
    );
    refused_at("\nacl = \"manage\"", 2, "invalid policy \"manage\" for acl");
    refused_at("keyring = \"\"", 1, "invalid policy \"\" for keyring");
    for r in Resource::ALL {
        if r.accepts_list() {
            continue;
        }
        for kw in [r.as_str(), r.prefix_keyword()] {
            refused_at(
                &format!("{kw} \"x\" {{ policy = \"list\" }}"),
                1,
                "want read, write or deny",
            );
        }
    }
    refused_at(
        "service \"web\" {\n  policy = \"read\"\n  intentions = \"list\"\n}",
        3,
        "invalid intentions \"list\" for service \"web\"",
    );
}

#[test]
fn structural_mistakes_name_the_line() {
    refused_at("key \"foo\" {\n}\n", 1, "missing policy for key \"foo\"");
    refused_at(
        "key \"a\" { policy = \"read\" }\nkeys \"b\" { policy = \"read\" }",
        2,
        "unknown rule type \"keys\"",
    );
    refused_at(
        "node \"a\" {\n  polcy = \"read\"\n}",
        2,
        "unknown attribute \"polcy\" in node \"a\" (want policy)",
    );
    refused_at(
        "key \"a\" {\n  intentions = \"read\"\n  policy = \"read\"\n}",
        2,
        "unknown attribute \"intentions\" in key \"a\"",
    );
    refused_at(
        "operator {\n  policy = \"read\"\n}",
        1,
        "operator must be a string",
    );
    refused_at("key = \"read\"", 1, "key must name a segment");
    refused_at(
        "key \"a\" { policy = 1 }",
        1,
        "policy of key \"a\" must be a string, not a number",
    );
    refused_at("\nkey \"a\" { policy = true }", 2, "not a boolean");
    refused_at(
        "key \"a\" \"b\" {\n  policy = \"read\"\n}",
        1,
        "unknown attribute \"b\"",
    );
}

#[test]
fn an_argument_given_twice_is_refused_as_consul_does_since_its_duplicate_key_fix() {
    // Consul refuses `acl = "read"` then `acl = "write"` (PR 21908) instead
    // of taking the last one.
    refused_at("operator = \"read\"\noperator = \"write\"", 2, "");
    refused_at(
        "{\n\"acl\": \"read\",\n\"acl\": \"write\"\n}",
        3,
        "acl was already set",
    );
    refused_at(
        "{\"key\": {\"a\": {\n\"policy\": \"read\",\n\"policy\": \"write\"}}}",
        3,
        "policy was already set for key \"a\"",
    );
    refused_at(
        "key \"a\" {\n  policy = \"read\"\n  policy = \"write\"\n}",
        3,
        "",
    );
}

#[test]
fn syntax_errors_name_the_line() {
    refused_at(
        "key \"a\" {\n  policy = \"read\"\n",
        3,
        "block opened on line 1 is not closed",
    );
    refused_at("key \"a\" {\n  policy = = \"read\"\n}", 2, "");
    refused_at("key \"a\" {\n  policy \"read\"\n}", 2, "");
    refused_at(
        "{\n  \"key\": {\n    \"a\": {\"policy\": \"read\"},\n  }\n}",
        4,
        "invalid JSON",
    );
    refused_at(
        "{\n  \"key\": {\"a\": {\"policy\": \"read\"}}\n",
        3,
        "invalid JSON",
    );
    let e = refused_at(
        "{\n\n  \"key\": {\"a\": {\"policy\": \"reed\"}}\n}",
        3,
        "invalid policy \"reed\" for key \"a\"",
    );
    assert!(e
        .to_string()
        .starts_with("Failed to parse ACL rules: line 3: "));
    refused_at("{\n  \"nodes\": {}\n}", 2, "unknown rule type \"nodes\"");
    refused_at("{\"key\": {\"a\": {}}}", 1, "missing policy for key \"a\"");
    refused_at("{\"key\": [\"a\"]}", 1, "key must name a segment");
}

#[test]
fn input_is_bounded() {
    let long = format!("# {}\n", "x".repeat(MAX_RULES_BYTES));
    let e = refused(&long);
    assert_eq!(e.line, None);
    assert!(e.reason.contains("the limit is 131072"), "{e}");

    let deep_json = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let e = refused(&format!("{{\"key\": {deep_json}}}"));
    assert!(
        e.to_string().starts_with("Failed to parse ACL rules:"),
        "{e}"
    );
    let deep_hcl = format!("a = {}{}", "[".repeat(10_000), "]".repeat(10_000));
    refused(&deep_hcl);
    let deep_blocks = "a {\n".repeat(5_000);
    refused(&deep_blocks);
    let ops = format!("a = {}1", "!".repeat(50_000));
    refused(&ops);
    let chain = format!("a = 1{}", " + 1".repeat(20_000));
    refused(&chain);
}

#[test]
fn global_management_rules_text_parses_to_global_management() {
    assert_eq!(
        policy(praetor_acl::GLOBAL_MANAGEMENT_RULES),
        Policy::global_management()
    );
}

#[test]
fn hcl1_layouts_consul_accepts_are_accepted() {
    let expected = policy(
        "service \"web\" {\n  policy = \"write\"\n  intentions = \"read\"\n}\nservice_prefix \"\" {\n  policy = \"read\"\n}\noperator = \"read\"\n",
    );
    for text in [
        // everything on one line, as rules are often passed on a command line
        r#"service "web" { policy = "write" intentions = "read" } service_prefix "" { policy = "read" } operator = "read""#,
        // commas between items, a brace on the next line
        "service \"web\"\n{\n  policy = \"write\",\n  intentions = \"read\",\n},\nservice_prefix \"\" { policy = \"read\" }, operator = \"read\"",
        // HCL1's nested-object forms
        r#"service { "web" { policy = "write" intentions = "read" } } service_prefix = { "" = { policy = "read" } } operator = "read""#,
        "/* block */ service \"web\" { # why\n policy = \"write\" // a comment\n intentions = \"read\" }\nservice_prefix \"\" { policy = \"read\" }\noperator = \"read\"",
    ] {
        assert_eq!(policy(text), expected, "{text}");
    }
}

#[test]
fn hcl1_strings_keep_dollar_braces_and_decode_go_escapes() {
    let p = policy(r#"key "a${b}%{c}\x41\u00e9\t" { policy = "read" }"#);
    assert_eq!(
        p.rule(Resource::Key, "a${b}%{c}Aé\t", false),
        Some(Access::Read)
    );
}

#[test]
fn hcl1_lexical_mistakes_name_the_line() {
    refused_at(
        "key \"a\" {\n  policy = \"read\n}",
        2,
        "string not terminated",
    );
    refused_at(
        "key \"a\" {\n  policy = \"\\q\"\n}",
        2,
        "unknown escape sequence \\q",
    );
    refused_at(
        "\n/* open\n\nkey \"a\" { policy = \"read\" }",
        2,
        "comment not terminated",
    );
    refused_at(
        "key \"a\" {\n  policy = read\n}",
        2,
        "values must be quoted",
    );
    refused_at("key \"a\" {\n  policy = <<EOF\nread\nEOF\n}", 2, "heredoc");
    refused_at(
        "key \"a\" {\n  policy = \"read\"\n} ;",
        3,
        "unexpected character ';'",
    );
    refused_at(
        "key \"a\" {\n  policy \"read\"\n}",
        2,
        "expected \"=\" or \"{\" after \"read\"",
    );
    refused_at("= \"read\"", 1, "expected a name");
    refused_at(
        "key \"a\" {\n  policy = \"read\"\n}\n}",
        4,
        "expected a name, found \"}\"",
    );
    refused_at(
        "key = [\n{\"a\" = {policy = \"read\"}}\n",
        1,
        "list opened on line 1 is not closed",
    );
    let many_labels = format!("key {} {{ policy = \"read\" }}", "\"a\" ".repeat(100));
    refused_at(&many_labels, 1, "nest deeper");
}

#[test]
fn resource_and_attribute_names_are_case_insensitive_as_in_hcl1_but_segments_are_not() {
    let p = policy("KEY \"Foo\" {\n  Policy = \"READ\"\n}\nService_Prefix \"\" { POLICY = \"write\" INTENTIONS = \"read\" }\nOperator = \"read\"");
    assert_eq!(p.rule(Resource::Key, "Foo", false), Some(Access::Read));
    assert_eq!(p.rule(Resource::Key, "foo", false), None);
    assert_eq!(p.rule(Resource::Service, "", true), Some(Access::Write));
    assert_eq!(p.global(Global::Operator), Some(Access::Read));
    refused_at(
        "operator = \"read\"\nOPERATOR = \"write\"",
        2,
        "already set",
    );
}

/// Found by the fuzz target: an escape of a line break inside a string
/// put the raw line break into the error, which must be one line.
#[test]
fn an_escaped_line_break_is_refused_on_one_line() {
    let e = Policy::parse("key \"a\\\nb\" { policy = \"read\" }").unwrap_err();
    let text = e.to_string();
    assert!(!text.contains('\n'), "{text}");
    assert!(text.contains("unknown escape sequence \\\\n"), "{text}");
}
