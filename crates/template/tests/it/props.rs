//! Property tests: no input makes the parser or the renderer panic, and
//! literal text renders as itself.

use praetor_template::{Limits, ParseOptions, RenderOptions, Template};
use proptest::prelude::*;

use crate::world::World;

const TOKENS: &[&str] = &[
    "{{",
    "}}",
    "{{- ",
    " -}}",
    "{{/*",
    "*/}}",
    " ",
    "\n",
    "if",
    "else",
    "end",
    "range",
    "with",
    "define",
    "template",
    "block",
    "break",
    "continue",
    "$",
    "$x",
    "$y",
    ":=",
    "=",
    ",",
    "|",
    "(",
    ")",
    ".",
    ".Foo",
    ".a.b",
    "\"s\"",
    "`r`",
    "'c'",
    "\"",
    "1",
    "-2",
    "1.5",
    "0x1F",
    "nil",
    "true",
    "key",
    "\"k\"",
    "keyOrDefault",
    "ls",
    "tree",
    "service",
    "\"web\"",
    "printf",
    "\"%d %s %v\"",
    "print",
    "index",
    "len",
    "eq",
    "and",
    "or",
    "not",
    "split",
    "join",
    "loop",
    "3",
    "toJSON",
    "toYAML",
    "parseJSON",
    "\"{}\"",
    "scratch.Set",
    "byTag",
    "explode",
    "executeTemplate",
    "\"x\"",
    "env",
    "timestamp",
    "add",
    "divide",
    "0",
    "slice",
];

fn world() -> World {
    World::default()
        .key("k", "v")
        .instance("web", "n1", "10.0.0.1", 80, &["t"], "passing")
}

fn small_limits() -> ParseOptions {
    ParseOptions {
        limits: Limits {
            max_iterations: 10_000,
            max_output_bytes: 1 << 20,
            ..Limits::default()
        },
        ..ParseOptions::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn parser_never_panics_on_arbitrary_text(s in any::<String>()) {
        let _ = Template::parse("p", &s);
    }

    #[test]
    fn parser_never_panics_on_action_shaped_text(s in "[{}$.|()\"`' a-z0-9:=,/*-]{0,64}") {
        let _ = Template::parse("p", &s);
    }

    #[test]
    fn token_soup_parses_or_fails_and_renders_or_fails_without_panics(
        toks in proptest::collection::vec(proptest::sample::select(TOKENS), 0..40)
    ) {
        let text = toks.concat();
        if let Ok(t) = Template::parse_with("soup", &text, &small_limits()) {
            let _ = t.render(&mut world(), &RenderOptions { now_unix: Some(0), ..RenderOptions::default() });
        }
    }

    #[test]
    fn literal_text_renders_as_itself(s in any::<String>().prop_filter("no delimiter", |s| !s.contains("{{"))) {
        let t = Template::parse("lit", &s).unwrap();
        let r = t.render(&mut World::default(), &RenderOptions::default()).unwrap();
        prop_assert_eq!(r.output, s);
        prop_assert!(r.dependencies.is_empty());
    }

    #[test]
    fn quoted_strings_round_trip_through_printf_q_free_rendering(s in "[^\"\\\\\n]{0,40}") {
        let text = format!("{{{{ \"{s}\" }}}}");
        let t = Template::parse("q", &text).unwrap();
        let r = t.render(&mut World::default(), &RenderOptions::default()).unwrap();
        prop_assert_eq!(r.output, s);
    }
}

#[test]
fn output_and_iteration_bounds_stop_runaway_templates() {
    let opts = small_limits();
    let doubling = "{{ $x := \"ab\" }}{{ range loop 40 }}{{ $x = print $x $x }}{{ end }}";
    let e = Template::parse_with("d", doubling, &opts)
        .unwrap()
        .render(&mut World::default(), &RenderOptions::default())
        .unwrap_err();
    assert!(e.to_string().contains("the limit is"), "{e}");
    let nested = "{{ range loop 1000 }}{{ range loop 1000 }}x{{ end }}{{ end }}";
    let e = Template::parse_with("n", nested, &opts)
        .unwrap()
        .render(&mut World::default(), &RenderOptions::default())
        .unwrap_err();
    assert!(e.to_string().contains("limit"), "{e}");
    let big = "x".repeat((1 << 20) + 1);
    assert!(Template::parse("big", &big).is_err());
}
