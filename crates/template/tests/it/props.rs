//! Property tests: no input makes the parser or the renderer panic, and
//! literal text renders as itself.

use praetor_template::{Limits, ParseOptions, RenderOptions, Template};
use proptest::prelude::*;
use proptest::strategy::BoxedStrategy;

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

/// Operands and commands that parse, so generated templates reach the executor.
fn operand() -> BoxedStrategy<String> {
    proptest::sample::select(vec![
        ".",
        "$",
        "$x",
        ".Foo",
        ".Key",
        "1",
        "0",
        "-3",
        "2.5",
        "\"s\"",
        "\"a,b\"",
        "`{\"a\":[1]}`",
        "true",
        "nil",
        "(ls \"k\")",
        "(service \"web\")",
        "(loop 3)",
        "(split \",\" \"a,b\")",
        "(parseJSON `{\"a\":{\"b\":2}}`)",
        "(key \"k\")",
        "(scratch.Get \"a\")",
    ])
    .prop_map(str::to_string)
    .boxed()
}

fn command() -> BoxedStrategy<String> {
    let func = proptest::sample::select(vec![
        "print",
        "printf \"%v %d %s\"",
        "len",
        "index",
        "eq",
        "lt",
        "and",
        "or",
        "not",
        "toJSON",
        "toYAML",
        "split \",\"",
        "join \",\"",
        "add",
        "subtract 1",
        "divide",
        "modulo",
        "byTag",
        "explode",
        "byKey",
        "html",
        "js",
        "urlquery",
        "keyOrDefault \"k\"",
        "toUpper",
        "slice",
        "contains \"a\"",
        "in",
        "parseInt",
        "base64Decode",
        "regexMatch \"a+\"",
        "scratch.Set \"a\"",
    ]);
    (func, proptest::collection::vec(operand(), 0..3))
        .prop_map(|(f, args)| format!("{f} {}", args.join(" ")))
        .boxed()
}

fn pipeline() -> BoxedStrategy<String> {
    prop_oneof![
        operand(),
        command(),
        (operand(), command()).prop_map(|(a, c)| format!("{a} | {c}")),
        (command(), command()).prop_map(|(a, c)| format!("{a} | {c}")),
    ]
    .boxed()
}

fn body() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        "[a-z \n]{0,6}".prop_map(|s| s),
        pipeline().prop_map(|p| format!("{{{{ {p} }}}}")),
        pipeline().prop_map(|p| format!("{{{{- $x := {p} -}}}}")),
        pipeline().prop_map(|p| format!("{{{{ $x = {p} }}}}")),
        Just("{{ template \"d\" . }}".to_string()),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 1..4).prop_map(|v| v.concat()),
            (pipeline(), inner.clone(), inner.clone())
                .prop_map(|(p, a, b)| format!("{{{{ if {p} }}}}{a}{{{{ else }}}}{b}{{{{ end }}}}")),
            (pipeline(), inner.clone())
                .prop_map(|(p, a)| format!("{{{{ with {p} }}}}{a}{{{{ end }}}}")),
            (pipeline(), inner.clone(), inner.clone()).prop_map(|(p, a, b)| format!(
                "{{{{ range $i, $e := {p} }}}}{a}{{{{ if $i }}}}{{{{ break }}}}{{{{ end }}}}{{{{ else }}}}{b}{{{{ end }}}}"
            )),
        ]
    })
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
    fn generated_templates_parse_and_render_without_panics(b in body(), d in body()) {
        let text = format!("{{{{ $x := 1 }}}}{{{{ define \"d\" }}}}{{{{ $x := 2 }}}}{d}{{{{ end }}}}{b}");
        let t = Template::parse_with("gen", &text, &small_limits());
        prop_assert!(t.is_ok(), "{:?} did not parse: {:?}", text, t.err());
        if let Ok(t) = t {
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

#[test]
fn the_deepest_allowed_nesting_renders_within_a_test_threads_stack() {
    // 190 nested parentheses and 190 nested ifs, just under the default
    // depth limit of 200, run in the default 2 MiB test thread.
    let parens = format!("{{{{ {}1{} }}}}", "(".repeat(190), ")".repeat(190));
    let t = Template::parse("p", &parens).unwrap();
    let r = t
        .render(&mut World::default(), &RenderOptions::default())
        .unwrap();
    assert_eq!(r.output, "1");
    let ifs = format!(
        "{}x{}",
        "{{ if true }}".repeat(190),
        "{{ end }}".repeat(190)
    );
    let t = Template::parse("i", &ifs).unwrap();
    let r = t
        .render(&mut World::default(), &RenderOptions::default())
        .unwrap();
    assert_eq!(r.output, "x");
    // Recursion through a defined template stops at the limit with an error.
    let rec = "{{ define \"r\" }}{{ if . }}{{ template \"r\" (print . \"x\") }}{{ end }}{{ end }}{{ template \"r\" \"x\" }}";
    let e = Template::parse("main", rec)
        .unwrap()
        .render(&mut World::default(), &RenderOptions::default())
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("exceeded maximum template depth (200)"),
        "{e}"
    );
}

#[test]
fn templates_are_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Template>();
    assert_send_sync::<praetor_template::Rendered>();
    assert_send_sync::<praetor_template::TemplateError>();
}

#[test]
fn values_cannot_nest_deep_enough_to_overflow_the_stack() {
    let opts = RenderOptions::default();
    let nest = "{{ range loop 5000 }}{{ scratch.MapSet \"m\" \"k\" (scratch.Get \"m\") }}{{ end }}{{ scratch.Get \"m\" }}";
    let e = Template::parse("n", nest)
        .unwrap()
        .render(&mut World::default(), &opts)
        .unwrap_err();
    assert!(
        e.to_string().contains("nests deeper than 100 levels"),
        "{e}"
    );
    let deep_key = format!("{}x", "a/".repeat(5000));
    let mut w = World::default().key(&deep_key, "1");
    let e = Template::parse("x", "{{ tree \"a\" | explode | toJSON }}")
        .unwrap()
        .render(&mut w, &opts)
        .unwrap_err();
    assert!(e.to_string().contains("more than 100 levels"), "{e}");
    let deep_json = format!(
        "{{{{ parseJSON `{}1{}` }}}}",
        "[".repeat(5000),
        "]".repeat(5000)
    );
    let e = Template::parse("j", &deep_json)
        .unwrap()
        .render(&mut World::default(), &opts)
        .unwrap_err();
    assert!(e.to_string().contains("recursion limit"), "{e}");
}

#[test]
fn the_work_budget_stops_quadratic_templates_quickly() {
    let opts = RenderOptions::default();
    let started = std::time::Instant::now();
    // Each step copies the growing string: ~n²/2 bytes for n steps.
    let grow = "{{ $x := \"\" }}{{ range loop 1000000 }}{{ $x = print $x \"ab\" }}{{ end }}";
    let e = Template::parse("g", grow)
        .unwrap()
        .render(&mut World::default(), &opts)
        .unwrap_err();
    assert!(e.to_string().contains("work limit"), "{e}");
    // A scan of a long list inside a long loop.
    let scan = "{{ $l := loop 100000 }}{{ range $l }}{{ if in $l 99999 }}{{ end }}{{ end }}";
    let e = Template::parse("s", scan)
        .unwrap()
        .render(&mut World::default(), &opts)
        .unwrap_err();
    assert!(e.to_string().contains("work limit"), "{e}");
    // Filling the scratchpad while holding a copy of it.
    let cow = "{{ range loop 100000 }}{{ $m := scratch.Get \"m\" }}{{ scratch.MapSet \"m\" (print .) . }}{{ end }}";
    let e = Template::parse("c", cow)
        .unwrap()
        .render(&mut World::default(), &opts)
        .unwrap_err();
    assert!(e.to_string().contains("work limit"), "{e}");
    // Bounded, not timed: this only reports how long the three took.
    eprintln!("three runaway templates stopped in {:?}", started.elapsed());
}
