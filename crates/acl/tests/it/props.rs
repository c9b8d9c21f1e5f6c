//! Properties: parsing never panics; the HCL and JSON forms of a rule set
//! are the same policy; an exact rule always decides its name; and the
//! authorizer agrees with a brute-force reading of Consul's precedence.

use std::collections::BTreeMap;

use proptest::prelude::*;

use praetor_acl::{Access, Authorizer, Global, Policy, Resource};

fn resource() -> impl Strategy<Value = Resource> {
    prop::sample::select(Resource::ALL.to_vec())
}

fn level(list_ok: bool) -> impl Strategy<Value = Access> {
    let mut levels = vec![Access::Read, Access::Write, Access::Deny];
    if list_ok {
        levels.push(Access::List);
    }
    prop::sample::select(levels)
}

/// Names with the characters that need escaping in HCL and JSON.
fn name() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec![
            "a",
            "b",
            "/",
            "-",
            "é",
            " ",
            "\"",
            "\\",
            "$",
            "{",
            "%",
            "}",
            "\u{1F600}",
        ]),
        0..6,
    )
    .prop_map(|parts| parts.concat())
}

/// A rule: resource, prefix?, name, level (list only for keys).
fn rule() -> impl Strategy<Value = (Resource, bool, String, Access)> {
    (resource(), any::<bool>(), name())
        .prop_flat_map(|(r, p, n)| level(r.accepts_list()).prop_map(move |a| (r, p, n.clone(), a)))
}

fn hcl_string(s: &str) -> String {
    // HCL1 (Consul's) keeps `${` as text: only `\` and `"` are escaped.
    let escaped = s.replace('\\', "\\\\").replace('"', "\\\"");
    format!("\"{escaped}\"")
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn parse_never_panics_on_any_text_and_errors_are_one_line(text in any::<String>()) {
        if let Err(e) = Policy::parse(&text) {
            prop_assert!(!e.to_string().contains(['\n', '\r']), "{e}");
        }
    }

    #[test]
    fn parse_never_panics_on_rule_shaped_text(
        tokens in prop::collection::vec(prop::sample::select(vec![
            "key", "key_prefix", "service", "operator", "acl", "policy", "intentions",
            "\"read\"", "\"write\"", "\"list\"", "\"x\"", "\"\"", "=", ":", ",", "{", "}",
            "[", "]", "\n", " ", "#", "//", "/*", "*/", "1", "true", "null", "${", "<<EOF",
            "EOF", "\"", "\\",
        ]), 0..60),
        json in any::<bool>(),
    ) {
        let mut text = if json { "{".to_owned() } else { String::new() };
        text.push_str(&tokens.concat());
        if let Err(e) = Policy::parse(&text) {
            prop_assert!(!e.to_string().contains(['\n', '\r']), "{e}");
        }
    }

    #[test]
    fn hcl_and_json_forms_of_a_rule_set_are_the_same_policy(
        rules in prop::collection::vec(rule(), 0..12),
        globals in prop::collection::btree_map(
            prop::sample::select(Global::ALL.to_vec()), level(false), 0..5),
        one_line in any::<bool>(),
    ) {
        // Consul's HCL1 takes the same rules on one line or on many.
        let (nl, indent) = if one_line { (" ", "") } else { ("\n", "  ") };
        let mut expected = Policy::default();
        let mut hcl = String::new();
        let mut by_keyword: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for (r, prefix, name, access) in &rules {
            expected.add_rule(*r, name, *prefix, *access);
            let kw = r.keyword(*prefix);
            hcl.push_str(&format!("{kw} {} {{{nl}{indent}policy = \"{access}\"{nl}}}{nl}", hcl_string(name)));
            by_keyword.entry(kw).or_default().push(
                format!("{}: {{\"policy\": \"{access}\"}}", json_string(name)));
        }
        let mut members: Vec<String> = by_keyword
            .iter()
            .map(|(kw, items)| format!("\"{kw}\": {{\n{}\n}}", items.join(",\n")))
            .collect();
        for (g, access) in &globals {
            expected.set_global(*g, *access);
            hcl.push_str(&format!("{g} = \"{access}\"{nl}"));
            members.push(format!("\"{g}\": \"{access}\""));
        }
        let json = format!("{{\n{}\n}}", members.join(",\n"));

        let from_hcl = Policy::parse(&hcl);
        prop_assert_eq!(from_hcl.as_ref(), Ok(&expected), "HCL:\n{}", hcl);
        let from_json = Policy::parse(&json);
        prop_assert_eq!(from_json.as_ref(), Ok(&expected), "JSON:\n{}", json);
    }

    #[test]
    fn an_exact_rule_decides_its_name_whatever_the_prefix_rules(
        r in resource(),
        name in name(),
        exact in level(true),
        cuts in prop::collection::vec((0usize..8, level(true)), 0..6),
        others in prop::collection::vec((name(), level(true)), 0..4),
        default_allow in any::<bool>(),
        split in any::<bool>(),
    ) {
        let mut prefixes = Policy::default();
        for (cut, a) in &cuts {
            // prefixes of the name itself, at char boundaries, and the name whole
            let cut = (*cut).min(name.len());
            if let Some(p) = name.get(..cut) {
                prefixes.add_rule(r, p, true, *a);
            }
        }
        for (n, a) in &others {
            prefixes.add_rule(r, n, true, *a);
        }
        let mut exact_policy = Policy::default();
        exact_policy.add_rule(r, &name, false, exact);
        let authz = if split {
            Authorizer::new([&prefixes, &exact_policy], default_allow)
        } else {
            let mut both = prefixes.clone();
            both.merge(&exact_policy);
            Authorizer::new([&both], default_allow)
        };
        for want in [Access::Read, Access::List, Access::Write] {
            prop_assert_eq!(authz.allows(r, &name, want), exact.grants(want),
                "{}:{} on {:?} with exact {}", r, want, name, exact);
        }
    }

    #[test]
    fn authorizer_agrees_with_a_brute_force_reading_of_consul(
        policies in prop::collection::vec(
            prop::collection::vec((any::<bool>(), "[ab/]{0,4}", level(true)), 0..8), 1..4),
        queries in prop::collection::vec("[ab/]{0,5}", 1..12),
        default_allow in any::<bool>(),
    ) {
        let r = Resource::Key;
        let parsed: Vec<Policy> = policies.iter().map(|rules| {
            let mut p = Policy::default();
            for (prefix, n, a) in rules {
                p.add_rule(r, n, *prefix, *a);
            }
            p
        }).collect();
        let authz = Authorizer::new(&parsed, default_allow);

        // Reference: merge every rule by (prefix?, name) with Consul's
        // precedence table, then exact else longest prefix else default.
        let rank = |a: Access| match a { Access::Read => 0, Access::List => 1, Access::Write => 2, Access::Deny => 3 };
        let mut merged: BTreeMap<(bool, String), Access> = BTreeMap::new();
        for rules in &policies {
            for (prefix, n, a) in rules {
                merged.entry((*prefix, n.clone()))
                    .and_modify(|x| if rank(*a) > rank(*x) { *x = *a })
                    .or_insert(*a);
            }
        }
        for q in &queries {
            let rule = merged.get(&(false, q.clone())).copied().or_else(|| {
                merged.iter()
                    .filter(|((p, n), _)| *p && q.starts_with(n.as_str()))
                    .max_by_key(|((_, n), _)| n.len())
                    .map(|(_, a)| *a)
            });
            for want in [Access::Read, Access::List, Access::Write] {
                let expected = match rule {
                    Some(a) => a.grants(want),
                    None => default_allow,
                };
                prop_assert_eq!(authz.allows(r, q, want), expected, "{}:{} on {:?}", r, want, q);
            }
            // KeyWritePrefix: write on the longest covering prefix rule (or
            // the default), and no rule at or under q below write.
            let base = merged.iter()
                .filter(|((p, n), _)| *p && q.starts_with(n.as_str()))
                .max_by_key(|((_, n), _)| n.len())
                .map(|(_, a)| *a);
            let below = merged.iter().any(|((_, n), a)| n.starts_with(q.as_str()) && *a != Access::Write);
            let expected = !below && match base {
                Some(a) => a == Access::Write,
                None => default_allow,
            };
            prop_assert_eq!(authz.allows_key_write_prefix(q), expected, "write prefix {:?}", q);
        }
    }
}
