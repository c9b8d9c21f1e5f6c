//! consul-template's documented examples (tests/corpus/*.case) render as
//! documented. See tests/corpus/README.md for the case format and for the
//! documented examples left out and why.

use std::path::Path;

use praetor_template::{RenderOptions, Template};

use crate::world::World;

struct Case {
    name: String,
    world: World,
    now: Option<i64>,
    template: String,
    output: String,
}

fn section<'a>(text: &'a str, name: &str) -> &'a str {
    let marker = format!("--- {name}\n");
    let start = text
        .find(&marker)
        .unwrap_or_else(|| panic!("no {marker:?} section"))
        + marker.len();
    let rest = &text[start..];
    let end = rest.find("\n--- ").map(|i| i + 1).unwrap_or(rest.len());
    rest[..end].strip_suffix('\n').unwrap_or(&rest[..end])
}

fn parse_case(name: &str, text: &str) -> Case {
    let mut world = World::default();
    let mut now = None;
    for line in section(text, "data")
        .lines()
        .filter(|l| !l.trim().is_empty())
    {
        let (kind, rest) = line.split_once(' ').unwrap_or((line, ""));
        match kind {
            "kv" => {
                let (k, v) = rest.split_once('=').expect("kv KEY=VALUE");
                world = world.key(k, &v.replace("\\n", "\n"));
            }
            "service" => {
                let f: Vec<&str> = rest.split_whitespace().collect();
                let tags: Vec<&str> = f
                    .get(5)
                    .and_then(|t| t.strip_prefix("tags="))
                    .map(|t| t.split(',').collect())
                    .unwrap_or_default();
                world = world.instance(f[0], f[1], f[2], f[3].parse().expect("port"), &tags, f[4]);
            }
            "node" => {
                let f: Vec<&str> = rest.split_whitespace().collect();
                let dc = if f[0] == "-" { "" } else { f[0] };
                world = world.node(dc, f[1], f[2]);
            }
            "agent" => world.agent_node = rest.trim().to_string(),
            "dc" => world.datacenters.push(rest.trim().to_string()),
            "env" => {
                let (k, v) = rest.split_once('=').expect("env NAME=VALUE");
                world.env.insert(k.to_string(), v.to_string());
            }
            "file" => {
                let (k, v) = rest.split_once('=').expect("file PATH=CONTENTS");
                world.files.insert(k.to_string(), v.replace("\\n", "\n"));
            }
            "now" => now = Some(rest.trim().parse().expect("now UNIX")),
            "none" => {}
            other => panic!("{name}: unknown data line kind {other:?}"),
        }
    }
    Case {
        name: name.to_string(),
        world,
        now,
        template: section(text, "template").to_string(),
        output: section(text, "output").to_string(),
    }
}

#[test]
fn documented_examples_render_as_documented() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .expect("corpus dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "case"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 20, "the corpus has {} cases", paths.len());
    let mut failures = Vec::new();
    for p in &paths {
        let name = p
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("?")
            .to_string();
        let text = std::fs::read_to_string(p).expect("read case");
        let mut case = parse_case(&name, &text);
        let tpl = match Template::parse(&case.name, &case.template) {
            Ok(t) => t,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        let opts = RenderOptions {
            now_unix: case.now,
            ..RenderOptions::default()
        };
        match tpl.render(&mut case.world, &opts) {
            Ok(r) if !r.is_complete() => {
                failures.push(format!("{name}: incomplete, missing {:?}", r.missing))
            }
            // The docs' output fences never start with the blank line that a
            // template's leading newline renders; everything else is exact.
            Ok(r) if r.output.trim_start_matches('\n') != case.output => failures.push(format!(
                "{name}:\n--- got\n{:?}\n--- documented\n{:?}",
                r.output, case.output
            )),
            Ok(_) => {}
            Err(e) => failures.push(format!("{name}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
