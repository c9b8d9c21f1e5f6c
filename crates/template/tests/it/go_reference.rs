//! The engine against Go's `text/template` itself: outputs and errors Go
//! 1.19.8 produced for ~180 templates (tests/go_reference/).

use std::path::Path;

use praetor_template::{RenderOptions, StaticSource, Template};

/// Templates where this engine deliberately differs from Go 1.19, and why.
const KNOWN: &[(&str, &str)] = &[
    (
        "{{ with \"\" }}a{{ else with \"b\" }}{{ . }}{{ else }}c{{ end }}",
        "`else with` is Go 1.23; consul-template is built with a newer Go",
    ),
    ("{{ range 5 }}{{ end }}", "range over an int is Go 1.22"),
    (
        "{{ 0b101 }} {{ 0o17 }} {{ 1i }}",
        "complex constants are not supported",
    ),
    (
        "{{ template \"t\" }}",
        "our depth limit is lower than Go's 100000",
    ),
    (
        "{{ (parseJSON `[1,2]`).a }}",
        "Go reports the last evaluated node, we the chain",
    ),
    (
        "{{ (parseJSON `\"s\"`).a }}",
        "Go reports the last evaluated node, we the chain",
    ),
    (
        "{{ (parseJSON `1`).a }}",
        "Go reports the last evaluated node, we the chain",
    ),
    (
        "{{ define \"a\" }}{{ define \"b\" }}{{ end }}{{ end }}",
        "error wording",
    ),
    ("{{ 1) }}", "error wording (ours comes from the lexer)"),
    ("{{ len . }}", "Go's message is a reflect panic text"),
    ("{{ len nil }}", "Go's message is a reflect panic text"),
    (
        "{{ eq (parseJSON `[1]`) (parseJSON `[1]`) }}",
        "Go formats the value with %s",
    ),
];

#[test]
fn renders_and_fails_as_go_text_template_does() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/go_reference/go1.19.json");
    let text = std::fs::read_to_string(path).expect("reference file");
    let cases: Vec<serde_json::Value> = serde_json::from_str(&text).expect("json");
    assert!(cases.len() > 150);
    let mut failures = Vec::new();
    for c in &cases {
        let template = c["template"].as_str().expect("template");
        if KNOWN.iter().any(|(t, _)| *t == template) {
            continue;
        }
        let got = match Template::parse("t", template) {
            Err(e) => ("err", e.to_string()),
            Ok(t) => match t.render(&mut StaticSource::default(), &RenderOptions::default()) {
                Ok(r) => ("out", r.output),
                Err(e) => ("err", e.to_string()),
            },
        };
        let want = match (c.get("out"), c.get("err")) {
            (Some(o), _) => ("out", o.as_str().unwrap_or_default().to_string()),
            (_, Some(e)) => ("err", e.as_str().unwrap_or_default().to_string()),
            _ => panic!("case without out or err"),
        };
        if got != want {
            failures.push(format!("{template:?}\n   go: {want:?}\n  ours: {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
