//! Engine behaviour: Go's syntax and semantics, consul-template's data
//! functions, errors and bounds.

use super::*;

fn render(text: &str) -> String {
    render_with(text, &mut StaticSource::default())
}

fn render_with(text: &str, src: &mut dyn Source) -> String {
    let t = Template::parse("t", text).unwrap_or_else(|e| panic!("{e}"));
    t.render(src, &RenderOptions::default())
        .unwrap_or_else(|e| panic!("{e}"))
        .output
}

fn err(text: &str) -> String {
    match Template::parse("t", text) {
        Err(e) => e.to_string(),
        Ok(t) => t
            .render(&mut StaticSource::default(), &RenderOptions::default())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_else(|| panic!("{text:?} rendered without error")),
    }
}

#[test]
fn text_and_literals_render_as_go_does() {
    assert_eq!(render("hello"), "hello");
    assert_eq!(
        render("{{ 1 }} {{ 1.5 }} {{ \"s\" }} {{ `r` }} {{ true }} {{ 'a' }}"),
        "1 1.5 s r true 97"
    );
    assert_eq!(render("{{ 0x1F }} {{ 1e3 }} {{ -2 }}"), "31 1000 -2");
    assert_eq!(
        render("{{ . }} {{ $ }} {{ .x }}"),
        "<no value> <no value> <no value>"
    );
}

#[test]
fn trim_markers_eat_adjacent_whitespace() {
    assert_eq!(render("a  \n {{- 1 -}} \n  b"), "a1b");
    assert_eq!(render("a {{- /* c */ -}} b"), "ab");
    assert_eq!(render("a {{/* c */}} b"), "a  b");
    assert_eq!(render("{{ 3 -}}\n{{- 4 }}"), "34");
}

#[test]
fn custom_delimiters_parse() {
    let t = Template::parse_with(
        "t",
        "[[ if true ]]yes[[ end ]] {{ untouched }}",
        &ParseOptions {
            left_delimiter: "[[".into(),
            right_delimiter: "]]".into(),
            ..ParseOptions::default()
        },
    )
    .unwrap();
    let r = t
        .render(&mut StaticSource::default(), &RenderOptions::default())
        .unwrap();
    assert_eq!(r.output, "yes {{ untouched }}");
}

#[test]
fn variables_declare_assign_and_scope() {
    assert_eq!(render("{{ $x := 1 }}{{ $x = 2 }}{{ $x }}"), "2");
    assert_eq!(
        render("{{ $x := 1 }}{{ if true }}{{ $x := 5 }}{{ $x }}{{ end }}{{ $x }}"),
        "51"
    );
    assert_eq!(
        render("{{ $x := 1 }}{{ if true }}{{ $x = 5 }}{{ end }}{{ $x }}"),
        "5"
    );
    assert!(err("{{ $y }}").contains("undefined variable \"$y\""));
}

#[test]
fn if_else_chains_use_go_truth() {
    let t = "{{ if eq . 1 }}one{{ else if eq . 2 }}two{{ else }}many{{ end }}";
    let tpl = Template::parse("t", &format!("{{{{ with 2 }}}}{t}{{{{ end }}}}")).unwrap();
    let out = tpl
        .render(&mut StaticSource::default(), &RenderOptions::default())
        .unwrap()
        .output;
    assert_eq!(out, "two");
    assert_eq!(render("{{ if \"\" }}a{{ else }}b{{ end }}{{ if 0 }}a{{ else }}b{{ end }}{{ if \"x\" }}c{{ end }}"), "bbc");
}

#[test]
fn range_over_lists_maps_ints_with_else_break_continue() {
    assert_eq!(
        render("{{ range $i, $v := split \",\" \"a,b,c\" }}{{ $i }}={{ $v }};{{ end }}"),
        "0=a;1=b;2=c;"
    );
    assert_eq!(
        render("{{ range (parseJSON `{\"b\":2,\"a\":1}`) }}{{ . }}{{ end }}"),
        "12"
    );
    assert_eq!(
        render("{{ range $k, $v := parseJSON `{\"b\":2,\"a\":1}` }}{{ $k }}{{ $v }}{{ end }}"),
        "a1b2"
    );
    assert_eq!(render("{{ range 3 }}{{ . }}{{ end }}"), "012");
    assert_eq!(
        render("{{ range split \",\" \"\" }}x{{ else }}empty{{ end }}"),
        "empty"
    );
    assert_eq!(render("{{ range loop 10 }}{{ if eq . 2 }}{{ continue }}{{ end }}{{ if eq . 4 }}{{ break }}{{ end }}{{ . }}{{ end }}"), "013");
    assert!(err("{{ break }}").contains("{{break}} outside {{range}}"));
}

#[test]
fn with_sets_dot_and_else_with_chains() {
    assert_eq!(render("{{ with \"x\" }}{{ . }}{{ end }}"), "x");
    assert_eq!(
        render("{{ with \"\" }}a{{ else with \"b\" }}{{ . }}{{ else }}c{{ end }}"),
        "b"
    );
}

#[test]
fn define_template_and_block() {
    assert_eq!(
        render("{{ define \"x\" }}[{{ . }}]{{ end }}{{ template \"x\" 5 }}{{ template \"x\" }}"),
        "[5][<no value>]"
    );
    assert_eq!(render("{{ block \"b\" \"d\" }}<{{ . }}>{{ end }}"), "<d>");
    assert_eq!(
        render("{{ define \"c\" }}custom{{ end }}{{ executeTemplate \"c\" | toUpper }}"),
        "CUSTOM"
    );
    assert!(err("{{ template \"nope\" }}").contains("template \"nope\" not defined"));
}

#[test]
fn recursion_is_bounded_not_a_stack_overflow() {
    let e = err("{{ define \"r\" }}{{ template \"r\" . }}{{ end }}{{ template \"r\" 1 }}");
    assert!(e.contains("exceeded maximum template depth"), "{e}");
    let deep = "{{ if true }}".repeat(500) + &"{{ end }}".repeat(500);
    assert!(err(&deep).contains("nesting deeper than"));
    let parens = "{{ ".to_string() + &"(".repeat(1000) + "1" + &")".repeat(1000) + " }}";
    assert!(err(&parens).contains("nesting deeper than"));
}

#[test]
fn go_builtins_compare_index_and_print() {
    assert_eq!(
        render("{{ and 1 0 2 }} {{ or 0 \"\" 3 }} {{ not 0 }}"),
        "0 3 true"
    );
    assert_eq!(
        render("{{ eq 1 2 1 }} {{ ne \"a\" \"b\" }} {{ lt 1 2 }} {{ ge 2.5 3.0 }}"),
        "true true true false"
    );
    assert_eq!(
        render("{{ len \"abc\" }} {{ index (split \",\" \"a,b\") 1 }}"),
        "3 b"
    );
    assert_eq!(
        render("{{ printf \"%s-%d-%v-%q\" \"a\" 1 true \"q\" }}"),
        "a-1-true-\"q\""
    );
    assert_eq!(
        render("{{ print 1 2 \"a\" \"b\" }}|{{ println \"x\" 1 }}"),
        "1 2ab|x 1\n"
    );
    assert_eq!(
        render("{{ html \"<a href='x'>\" }} {{ js \"it's <b>\" }} {{ urlquery \"a b&c\" }}"),
        "&lt;a href=&#39;x&#39;&gt; it\\'s \\u003Cb\\u003E a+b%26c"
    );
    assert_eq!(render("{{ slice \"hello\" 1 3 }}"), "el");
    assert!(err("{{ eq 1 \"a\" }}").contains("incompatible types for comparison"));
    assert!(err("{{ index (split \",\" \"a\") 5 }}")
        .contains("error calling index: index out of range: 5"));
}

#[test]
fn pipelines_pass_the_value_as_last_argument() {
    assert_eq!(render("{{ \"a,b\" | split \",\" | join \";\" }}"), "a;b");
    assert_eq!(
        render("{{ 5 | subtract 2 }} {{ 10 | divide 2 }} {{ 2 | multiply 2 }}"),
        "3 5 4"
    );
    assert_eq!(
        render("{{ \"foo.bar\" | regexReplaceAll \"foo([.a-z]+)\" \"$1\" }}"),
        ".bar"
    );
    assert_eq!(
        render("{{ \"foo.bar\" | replaceAll \".\" \"_\" }}"),
        "foo_bar"
    );
}

#[test]
fn maps_missing_keys_follow_missingkey_zero_and_error() {
    assert_eq!(
        render("{{ (parseJSON `{\"a\":1}`).b }} {{ printf \"%v\" (parseJSON `{\"a\":1}`).b }}"),
        "<no value> <nil>"
    );
    assert_eq!(
        render("{{ with $d := parseJSON `{\"name\":\"n\"}` }}{{ $d.name }}{{ end }}"),
        "n"
    );
    let t = Template::parse("t", "{{ (parseJSON `{\"a\":1}`).b }}").unwrap();
    let e = t
        .render(
            &mut StaticSource::default(),
            &RenderOptions {
                error_on_missing_key: true,
                ..RenderOptions::default()
            },
        )
        .unwrap_err();
    assert!(
        e.to_string().contains("map has no entry for key \"b\""),
        "{e}"
    );
}

#[test]
fn malformed_templates_name_file_line_and_reason() {
    let e = Template::parse("in.tpl", "line one\n{{ if }}\n").unwrap_err();
    assert_eq!(e.to_string(), "template: in.tpl:2: missing value for if");
    let e = Template::parse("in.tpl", "a\nb\n{{ range .x }}").unwrap_err();
    assert_eq!(e.to_string(), "template: in.tpl:3: unexpected EOF");
    let e = Template::parse("in.tpl", "{{ nosuchfn 1 }}").unwrap_err();
    assert_eq!(
        e.to_string(),
        "template: in.tpl:1: function \"nosuchfn\" not defined"
    );
    let e = Template::parse("in.tpl", "x\n{{ secret \"a\" }}").unwrap_err();
    assert!(e
        .to_string()
        .starts_with("template: in.tpl:2: function \"secret\" not defined"));
    assert!(err("{{ end }}").contains("unexpected {{end}}"));
    assert!(err("{{ \"unterminated }}").contains("unterminated quoted string"));
    assert!(err("{{ 1 ").contains("unclosed action"));
    assert!(err("{{ /* x */ }}").contains("unexpected"));
}

#[test]
fn exec_errors_carry_line_column_and_context() {
    assert_eq!(
        err("ab\n{{ with \"s\" }}{{ .Foo }}{{ end }}"),
        "template: t:2:17: executing \"t\" at <.Foo>: can't evaluate field Foo in type string"
    );
    assert_eq!(
        err("{{ key \"a@b@c\" }}"),
        "template: t:1:3: executing \"t\" at <key \"a@b@c\">: error calling key: kv.get: invalid format: \"a@b@c\""
    );
    assert_eq!(
        err("{{ define \"x\" }}{{ index 1 2 3 4 5 6 7 8 }}{{ end }}{{ template \"x\" }}"),
        "template: t:1:19: executing \"x\" at <index 1 2 3 4 5 6 7 8>: error calling index: can't index item of type int"
    );
    assert_eq!(render("{{ .Foo.Bar }}"), "<no value>");
}
