//! Data functions through a fake Consul: what they render, which
//! dependencies a render reports, and when a render is complete.

use praetor_template::{
    parse_key, parse_key_list, parse_service, Dependency, RenderOptions, Rendered, Template,
    TemplateError,
};

use crate::world::World;

fn render(text: &str, world: &mut World) -> Rendered {
    Template::parse("t.tpl", text)
        .unwrap_or_else(|e| panic!("{e}"))
        .render(world, &RenderOptions::default())
        .unwrap_or_else(|e| panic!("{e}"))
}

fn render_err(text: &str, world: &mut World) -> TemplateError {
    Template::parse("t.tpl", text)
        .unwrap_or_else(|e| panic!("{e}"))
        .render(world, &RenderOptions::default())
        .unwrap_err()
}

fn web() -> World {
    World::default()
        .instance(
            "web",
            "web02",
            "10.2.6.61",
            2904,
            &["v2", "release"],
            "passing",
        )
        .instance("web", "web01", "10.5.2.45", 2492, &["release"], "passing")
        .instance("web", "web03", "10.9.9.9", 80, &[], "critical")
        .instance("web", "web04", "10.9.9.10", 81, &["release"], "warning")
}

#[test]
fn key_of_a_missing_key_blocks_the_render_until_it_exists() {
    let mut w = World::default();
    let r = render("max={{ key \"app/max\" }}", &mut w);
    assert!(!r.is_complete());
    assert_eq!(r.missing, vec![parse_key("app/max").unwrap()]);
    let mut w = World::default().key("app/max", "15");
    let r = render("max={{ key \"app/max\" }}", &mut w);
    assert!(r.is_complete());
    assert_eq!(r.output, "max=15");
    assert_eq!(r.dependencies, vec![parse_key("app/max").unwrap()]);
}

#[test]
fn key_or_default_renders_the_default_for_a_missing_key_and_is_complete() {
    let t = "{{ keyOrDefault \"app/max\" \"5\" }}";
    let r = render(t, &mut World::default());
    assert!(r.is_complete());
    assert_eq!(r.output, "5");
    let r = render(t, &mut World::default().key("app/max", "9"));
    assert_eq!(r.output, "9");
    // An empty value also takes the default, as in consul-template.
    let r = render(t, &mut World::default().key("app/max", ""));
    assert_eq!(r.output, "5");
}

#[test]
fn data_not_yet_fetched_renders_empty_and_marks_the_render_incomplete() {
    let mut w = World::default().key("a", "1");
    w.pending = vec![parse_key("a").unwrap(), parse_service("web").unwrap()];
    let r = render(
        "[{{ keyOrDefault \"a\" \"d\" }}][{{ key \"a\" }}][{{ range service \"web\" }}x{{ end }}][{{ keyExists \"a\" }}]",
        &mut w,
    );
    assert_eq!(r.output, "[d][][][false]");
    assert_eq!(r.missing, w.pending);
    // Every dependency touched is reported once, in first-use order.
    assert_eq!(r.dependencies, w.pending);
}

#[test]
fn key_exists_is_true_only_for_existing_keys() {
    let mut w = World::default().key("app/beta_active", "");
    let r = render(
        "{{ if keyExists \"app/beta_active\" }}beta{{ else }}stable{{ end }} {{ keyExists \"nope\" }}",
        &mut w,
    );
    assert_eq!(r.output, "beta false");
    assert!(r.is_complete());
}

#[test]
fn service_lists_healthy_instances_sorted_by_node() {
    let r = render(
        "{{ range service \"web\" }}server {{ .Name }} {{ .Node }} {{ .Address }}:{{ .Port }} {{ .Status }} {{ .Tags }}\n{{ end }}",
        &mut web(),
    );
    assert_eq!(
        r.output,
        "server web web01 10.5.2.45:2492 passing [release]\nserver web web02 10.2.6.61:2904 passing [release v2]\n"
    );
    assert_eq!(r.dependencies, vec![parse_service("web").unwrap()]);
    assert!(r.dependencies[0].passing_only());
}

#[test]
fn service_filters_select_statuses_client_side() {
    let nodes = |t: &str| render(t, &mut web()).output;
    assert_eq!(
        nodes("{{ range service \"web|any\" }}{{ .Node }} {{ end }}"),
        "web01 web02 web03 web04 "
    );
    assert_eq!(
        nodes("{{ range service \"web|passing,warning\" }}{{ .Node }} {{ end }}"),
        "web01 web02 web04 "
    );
    assert_eq!(
        nodes("{{ range service \"web\" \"critical\" }}{{ .Node }} {{ end }}"),
        "web03 "
    );
    let e = render_err("{{ service \"web|sick\" }}", &mut web());
    assert_eq!(
        e.to_string(),
        "template: t.tpl:1:3: executing \"t.tpl\" at <service \"web|sick\">: error calling service: health.service: invalid filter: \"sick\" in \"web|sick\""
    );
}

#[test]
fn an_instance_going_critical_disappears_from_the_upstream_list() {
    let t = "upstream web {\n{{- range service \"web\" }}\n  server {{ .Address }}:{{ .Port }};\n{{- end }}\n}\n";
    let mut w = web();
    assert_eq!(
        render(t, &mut w).output,
        "upstream web {\n  server 10.5.2.45:2492;\n  server 10.2.6.61:2904;\n}\n"
    );
    w.services[0].checks[0].status = "critical".into();
    assert_eq!(
        render(t, &mut w).output,
        "upstream web {\n  server 10.5.2.45:2492;\n}\n"
    );
}

#[test]
fn service_tag_form_asks_for_the_tag_and_by_tag_groups_instances() {
    let r = render(
        "{{ range service \"v2.web\" }}{{ .Node }}{{ end }}",
        &mut web(),
    );
    assert_eq!(r.output, "web02");
    assert!(matches!(&r.dependencies[0], Dependency::Service { tag: Some(t), .. } if t == "v2"));
    let r = render(
        "{{ range $tag, $s := service \"web\" | byTag }}{{ $tag }}:{{ range $s }} {{ .Node }}{{ end }};{{ end }}",
        &mut web(),
    );
    assert_eq!(r.output, "release: web01 web02;v2: web02;");
}

#[test]
fn services_lists_names_with_sorted_tags() {
    let w = &mut web().instance("db", "db1", "10.0.0.1", 5432, &["primary"], "passing");
    let r = render(
        "{{ range services }}{{ .Name }}: {{ .Tags | join \",\" }}\n{{ end }}",
        w,
    );
    assert_eq!(r.output, "db: primary\nweb: release,v2\n");
}

#[test]
fn ls_lists_top_level_keys_and_tree_lists_all_keys() {
    let mut w = World::default()
        .key("cfg/a", "1")
        .key("cfg/folder/", "")
        .key("cfg/folder/b", "2")
        .key("cfg/z", "3");
    let r = render(
        "{{ range ls \"cfg\" }}{{ .Key }}={{ .Value }} {{ end }}",
        &mut w,
    );
    assert_eq!(r.output, "a=1 z=3 ");
    let r = render(
        "{{ range tree \"cfg/\" }}{{ .Key }}={{ .Value }}@{{ .Path }} {{ end }}",
        &mut w,
    );
    assert_eq!(r.output, "a=1@cfg/a folder/b=2@cfg/folder/b z=3@cfg/z ");
    assert_eq!(r.dependencies, vec![parse_key_list("cfg/").unwrap()]);
}

#[test]
fn safe_ls_and_safe_tree_refuse_to_complete_on_an_empty_prefix() {
    let mut w = World::default();
    assert!(render("{{ range ls \"none\" }}x{{ end }}", &mut w).is_complete());
    assert!(!render("{{ range safeLs \"none\" }}x{{ end }}", &mut w).is_complete());
    assert!(!render("{{ range safeTree \"none\" }}x{{ end }}", &mut w).is_complete());
    let mut w = World::default().key("none/a", "1");
    assert!(render("{{ range safeTree \"none\" }}x{{ end }}", &mut w).is_complete());
}

#[test]
fn node_without_a_name_is_the_agents_node() {
    let mut w = World::default()
        .node("", "n1", "10.0.0.1")
        .node("", "n2", "10.0.0.2")
        .instance("web", "n2", "10.0.0.2", 80, &[], "passing");
    w.agent_node = "n2".into();
    let r = render(
        "{{ with node }}{{ .Node.Node }} {{ .Node.Address }}{{ range .Services }} {{ .Service }}:{{ .Port }}{{ end }}{{ end }}",
        &mut w,
    );
    assert_eq!(r.output, "n2 10.0.0.2 web:80");
    assert!(matches!(
        &r.dependencies[0],
        Dependency::Node { name: None, .. }
    ));
}

#[test]
fn env_reads_through_the_source_with_defaults() {
    let mut w = World::default();
    w.env.insert("CLUSTER_ID".into(), "ABC".into());
    w.env.insert("EMPTY".into(), String::new());
    let r = render(
        "{{ env \"CLUSTER_ID\" | toLower }} [{{ env \"NOPE\" }}] {{ or (env \"NOPE\") \"12345\" }} [{{ envOrDefault \"EMPTY\" \"d\" }}] {{ envOrDefault \"NOPE\" \"d\" }}",
        &mut w,
    );
    assert_eq!(r.output, "abc [] 12345 [] d");
    let e = render_err("{{ mustEnv \"EMPTY\" }}", &mut w);
    assert!(e
        .to_string()
        .ends_with("error calling mustEnv: required environment variable EMPTY is empty"));
}

#[test]
fn a_source_error_fails_the_render_with_the_position() {
    let e = render_err("line\n {{ file \"/nope\" }}", &mut World::default());
    assert_eq!(
        e.to_string(),
        "template: t.tpl:2:4: executing \"t.tpl\" at <file \"/nope\">: error calling file: open /nope: no such file or directory"
    );
}

#[test]
fn scratch_keeps_values_within_one_render() {
    let r = render(
        "{{ scratch.Set \"a\" 1 }}{{ scratch.SetX \"a\" 2 }}{{ scratch.Get \"a\" }} {{ scratch.Key \"b\" }} {{ scratch.MapSet \"m\" \"y\" \"2\" }}{{ scratch.MapSet \"m\" \"x\" \"1\" }}{{ scratch.MapValues \"m\" }}",
        &mut World::default(),
    );
    assert_eq!(r.output, "1 false [1 2]");
}

#[test]
fn parse_json_of_a_key_reads_nested_values() {
    let mut w = World::default().key("user/info", r#"{"name":"ann","roles":["a","b"],"n":3}"#);
    let r = render(
        "{{ with $d := key \"user/info\" | parseJSON }}{{ $d.name }} {{ index $d.roles 1 }} {{ $d.n }} {{ len $d.roles }}{{ end }}",
        &mut w,
    );
    assert_eq!(r.output, "ann b 3 2");
}

#[test]
fn error_on_missing_key_fails_on_a_missing_map_key() {
    let t = Template::parse(
        "t",
        "{{ range service \"web\" }}{{ .ServiceMeta.version }}{{ end }}",
    )
    .unwrap();
    let r = t.render(&mut web(), &RenderOptions::default()).unwrap();
    assert_eq!(r.output, "");
    let e = t
        .render(
            &mut web(),
            &RenderOptions {
                error_on_missing_key: true,
                ..RenderOptions::default()
            },
        )
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("map has no entry for key \"version\""),
        "{e}"
    );
}
