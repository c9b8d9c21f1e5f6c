//! `contains`, `in` and `trimSpace` as consul-template documents and
//! implements them: `contains` takes the needle first so that it reads as
//! a pipe (`{{ if .Tags | contains "x" }}`), `in` takes the list first;
//! both look for an equal element in a list and a substring in a string,
//! and never match a value of another type. `trimSpace` is Go's
//! `strings.TrimSpace`: leading and trailing Unicode white space.

use praetor_template::{RenderOptions, Template};

use crate::world::World;

fn render(text: &str, world: &mut World) -> String {
    Template::parse("t.tpl", text)
        .unwrap_or_else(|e| panic!("{e}"))
        .render(world, &RenderOptions::default())
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .output
}

fn render_err(text: &str) -> String {
    Template::parse("t.tpl", text)
        .unwrap_or_else(|e| panic!("{e}"))
        .render(&mut World::default(), &RenderOptions::default())
        .expect_err(text)
        .to_string()
}

fn tagged() -> World {
    World::default()
        .instance(
            "web",
            "web01",
            "10.0.0.1",
            80,
            &["production", "v2"],
            "passing",
        )
        .instance("web", "web02", "10.0.0.2", 80, &["staging"], "passing")
        .instance("web", "web03", "10.0.0.3", 80, &[], "passing")
}

#[test]
fn contains_as_a_pipe_selects_the_instances_with_a_tag() {
    // The documented form: the list comes through the pipe, as the last
    // argument; the needle is the first.
    let t = "{{ range service \"web\" }}{{ if .Tags | contains \"production\" }}{{ .Node }} {{ end }}{{ end }}";
    assert_eq!(render(t, &mut tagged()), "web01 ");
    let t = "{{ range service \"web\" }}{{ if not (.Tags | contains \"production\") }}{{ .Node }} {{ end }}{{ end }}";
    assert_eq!(render(t, &mut tagged()), "web02 web03 ");
    // The same call spelled out, and `in` with its arguments the other way.
    let t =
        "{{ range service \"web\" }}{{ contains \"v2\" .Tags }}/{{ in .Tags \"v2\" }} {{ end }}";
    assert_eq!(
        render(t, &mut tagged()),
        "true/true false/false false/false "
    );
}

#[test]
fn contains_on_a_string_is_a_substring_test_and_argument_order_matters() {
    let r = |t: &str| render(t, &mut World::default());
    assert_eq!(r("{{ \"hello world\" | contains \"o w\" }}"), "true");
    assert_eq!(r("{{ \"hello world\" | contains \"xyz\" }}"), "false");
    // Needle first: asking whether "o w" holds "hello world" is false.
    assert_eq!(r("{{ contains \"hello world\" \"o w\" }}"), "false");
    assert_eq!(r("{{ in \"hello world\" \"o w\" }}"), "true");
    assert_eq!(r("{{ \"abc\" | contains \"\" }}"), "true");
    // From a key's value, as a template gets it.
    let mut w = World::default().key("features", "search,cache,auth");
    assert_eq!(
        render(
            "{{ if key \"features\" | contains \"cache\" }}cache on{{ else }}cache off{{ end }}",
            &mut w
        ),
        "cache on"
    );
}

#[test]
fn contains_never_matches_a_value_of_another_type() {
    let r = |t: &str| render(t, &mut World::default());
    // A list of strings holds no number, and a number holds nothing.
    assert_eq!(r("{{ split \",\" \"1,2\" | contains 1 }}"), "false");
    assert_eq!(r("{{ split \",\" \"1,2\" | contains \"1\" }}"), "true");
    assert_eq!(r("{{ 12 | contains 1 }}"), "false");
    assert_eq!(r("{{ \"12\" | contains 1 }}"), "false");
    // A whole-element match, not a substring of an element.
    assert_eq!(
        r("{{ split \",\" \"production,v2\" | contains \"prod\" }}"),
        "false"
    );
    // Two arguments, no more and no fewer.
    assert!(render_err("{{ contains \"a\" }}").contains("contains"));
}

#[test]
fn trim_space_removes_leading_and_trailing_white_space_only() {
    let mut w = World::default()
        .key("version", "  1.4.2\n")
        .key("motd", "\t\r\n hello \t world \n\n");
    w.files
        .insert("/etc/ec2_version".into(), "ami-0abc1234\n".into());
    assert_eq!(
        render("[{{ key \"version\" | trimSpace }}]", &mut w),
        "[1.4.2]"
    );
    assert_eq!(
        render("[{{ key \"motd\" | trimSpace }}]", &mut w),
        "[hello \t world]"
    );
    // The documented example.
    assert_eq!(
        render("[{{ file \"/etc/ec2_version\" | trimSpace }}]", &mut w),
        "[ami-0abc1234]"
    );
    let r = |t: &str| render(t, &mut World::default());
    assert_eq!(r("[{{ \"\" | trimSpace }}]"), "[]");
    assert_eq!(r("[{{ \" \\t\\n\\v\\f\\r \" | trimSpace }}]"), "[]");
    // Unicode white space as Go's unicode.IsSpace: NEL, no-break space,
    // the ideographic space; a zero-width space is not white space.
    assert_eq!(
        r("[{{ \"\\u0085\\u00a0x y\\u3000\\u2029\" | trimSpace }}]"),
        "[x y]"
    );
    assert_eq!(r("[{{ \"\\u200bx\" | trimSpace }}]"), "[\u{200b}x]");
    // A value that is not a string is refused, as Go's typed argument is.
    assert!(render_err("{{ 5 | trimSpace }}").contains("trimSpace"));
}
