//! consul-template's data functions (`key`, `keyExists`, `keyOrDefault`,
//! `ls`, `safeLs`, `tree`, `safeTree`, `service`, `services`, `node`,
//! `nodes`, `env`, `mustEnv`, `envOrDefault`, `file`): parse the argument
//! into a [`Dependency`], record it as used, ask the caller's `Source`, and
//! shape the answer exactly as consul-template does (filters, sorting, the
//! empty values of its first pass, and which dependencies count as missing).
//! Never performs I/O itself.

use crate::dependency::{self, Dependency};
use crate::exec::Exec;
use crate::funcs::{arity, want_str, CallErr};
use crate::source::{self, Data, Lookup};
use crate::value::Value;

/// The names this module answers.
pub(crate) const NAMES: &[&str] = &[
    "key",
    "keyExists",
    "keyOrDefault",
    "ls",
    "safeLs",
    "tree",
    "safeTree",
    "service",
    "services",
    "node",
    "nodes",
    "datacenters",
    "env",
    "mustEnv",
    "envOrDefault",
    "file",
];

type CResult = Result<Value, CallErr>;

fn dep_err(e: dependency::DependencyError) -> CallErr {
    CallErr::Fail(e.0)
}

/// Asks the source; `None` is "not yet available" (the dependency is then
/// recorded as missing).
fn fetch(x: &mut Exec<'_>, d: &Dependency) -> Result<Option<Data>, CallErr> {
    x.use_dep(d);
    match x.source.lookup(d) {
        Ok(Lookup::Ready(data)) => Ok(Some(data)),
        Ok(Lookup::Pending) => {
            x.miss_dep(d);
            Ok(None)
        }
        Err(e) => Err(CallErr::Fail(e.0)),
    }
}

fn wrong_kind(d: &Dependency) -> CallErr {
    CallErr::Fail(format!(
        "the data source answered {d} with the wrong kind of data"
    ))
}

fn strings_joined(name: &str, args: &[Value], sep: &str) -> Result<String, CallErr> {
    let mut parts = Vec::with_capacity(args.len());
    for a in args {
        parts.push(want_str(name, a)?.to_string());
    }
    Ok(parts.join(sep))
}

/// Runs data function `name`, or returns `None` when `name` is not one.
pub(crate) fn call(x: &mut Exec<'_>, name: &str, args: &[Value]) -> Option<CResult> {
    Some(match name {
        "key" => key(x, args),
        "keyExists" => key_exists(x, args),
        "keyOrDefault" => key_or_default(x, args),
        "ls" => list(x, args, name, true, false),
        "safeLs" => list(x, args, name, false, false),
        "tree" => list(x, args, name, true, true),
        "safeTree" => list(x, args, name, false, true),
        "service" => service(x, args),
        "services" => services(x, args),
        "node" => node(x, args),
        "nodes" => nodes(x, args),
        "datacenters" => datacenters(x, args),
        "env" | "mustEnv" | "envOrDefault" => env(x, name, args),
        "file" => file(x, args),
        _ => return None,
    })
}

fn key(x: &mut Exec<'_>, args: &[Value]) -> CResult {
    arity("key", args, 1)?;
    let s = want_str("key", &args[0])?;
    if s.is_empty() {
        return Ok(Value::str(""));
    }
    let d = dependency::parse_key(s).map_err(dep_err)?;
    match fetch(x, &d)? {
        Some(Data::Key(Some(v))) => Ok(Value::String(v)),
        // `key` blocks on a missing key: the render is incomplete until it exists.
        Some(Data::Key(None)) => {
            x.miss_dep(&d);
            Ok(Value::str(""))
        }
        Some(_) => Err(wrong_kind(&d)),
        None => Ok(Value::str("")),
    }
}

fn key_exists(x: &mut Exec<'_>, args: &[Value]) -> CResult {
    arity("keyExists", args, 1)?;
    let s = want_str("keyExists", &args[0])?;
    if s.is_empty() {
        return Ok(Value::Bool(false));
    }
    let d = dependency::parse_key(s).map_err(dep_err)?;
    match fetch(x, &d)? {
        Some(Data::Key(v)) => Ok(Value::Bool(v.is_some())),
        Some(_) => Err(wrong_kind(&d)),
        None => Ok(Value::Bool(false)),
    }
}

fn key_or_default(x: &mut Exec<'_>, args: &[Value]) -> CResult {
    arity("keyOrDefault", args, 2)?;
    let s = want_str("keyOrDefault", &args[0])?;
    let def = want_str("keyOrDefault", &args[1])?.to_string();
    if s.is_empty() {
        return Ok(Value::String(def));
    }
    let d = dependency::parse_key(s).map_err(dep_err)?;
    match fetch(x, &d)? {
        Some(Data::Key(Some(v))) if !v.is_empty() => Ok(Value::String(v)),
        Some(Data::Key(_)) | None => Ok(Value::String(def)),
        Some(_) => Err(wrong_kind(&d)),
    }
}

/// `ls` (top-level keys only) and `tree` (every key not ending in `/`);
/// the `safe` forms count an empty answer as missing.
fn list(x: &mut Exec<'_>, args: &[Value], name: &str, empty_is_safe: bool, tree: bool) -> CResult {
    arity(name, args, 1)?;
    let s = want_str(name, &args[0])?;
    if s.is_empty() {
        return Ok(Value::list(Vec::new()));
    }
    let d = dependency::parse_key_list(s).map_err(dep_err)?;
    let Dependency::KeyList { prefix, .. } = &d else {
        return Err(wrong_kind(&d));
    };
    let prefix = prefix.clone();
    match fetch(x, &d)? {
        Some(Data::KeyList(entries)) => {
            let pairs: Vec<Value> = entries
                .iter()
                .map(|e| source::key_pair(e, &prefix))
                .filter(|p| {
                    let Value::Record(r) = p else { return false };
                    let key = r.get("Key").and_then(Value::as_str).unwrap_or("");
                    if tree {
                        !key.rsplit('/').next().unwrap_or("").is_empty()
                    } else {
                        !key.is_empty() && !key.contains('/')
                    }
                })
                .collect();
            if pairs.is_empty() && !empty_is_safe {
                x.miss_dep(&d);
            }
            Ok(Value::list(pairs))
        }
        Some(_) => Err(wrong_kind(&d)),
        None => Ok(Value::list(Vec::new())),
    }
}

fn service(x: &mut Exec<'_>, args: &[Value]) -> CResult {
    if args.is_empty() || matches!(&args[0], Value::String(s) if s.is_empty()) {
        return Ok(Value::list(Vec::new()));
    }
    let s = strings_joined("service", args, "|")?;
    let d = dependency::parse_service(&s).map_err(dep_err)?;
    let Dependency::Service { filters, near, .. } = &d else {
        return Err(wrong_kind(&d));
    };
    let (filters, near) = (filters.clone(), near.is_some());
    match fetch(x, &d)? {
        Some(Data::Service(entries)) => {
            let mut kept: Vec<(&source::HealthEntry, String)> = entries
                .iter()
                .map(|e| (e, source::aggregated_status(&e.checks)))
                .filter(|(_, status)| filters.iter().any(|f| f == status || f == "any"))
                .collect();
            if !near {
                kept.sort_by(|a, b| {
                    (&a.0.node, &a.0.service_id).cmp(&(&b.0.node, &b.0.service_id))
                });
            }
            Ok(Value::list(
                kept.into_iter()
                    .map(|(e, status)| source::health_service(e, &status))
                    .collect(),
            ))
        }
        Some(_) => Err(wrong_kind(&d)),
        None => Ok(Value::list(Vec::new())),
    }
}

fn services(x: &mut Exec<'_>, args: &[Value]) -> CResult {
    let s = strings_joined("services", args, "")?;
    let d = dependency::parse_services(&s).map_err(dep_err)?;
    match fetch(x, &d)? {
        Some(Data::CatalogServices(map)) => Ok(Value::list(
            map.iter()
                .map(|(name, tags)| source::catalog_snippet(name, tags))
                .collect(),
        )),
        Some(_) => Err(wrong_kind(&d)),
        None => Ok(Value::list(Vec::new())),
    }
}

fn node(x: &mut Exec<'_>, args: &[Value]) -> CResult {
    let s = strings_joined("node", args, "")?;
    let d = dependency::parse_node(&s).map_err(dep_err)?;
    match fetch(x, &d)? {
        Some(Data::Node(Some(n))) => Ok(source::catalog_node(&n)),
        // consul-template answers an unknown node with an empty CatalogNode.
        Some(Data::Node(None)) => Ok(Value::record(
            "*dep.CatalogNode",
            vec![("Node", Value::Nil), ("Services", Value::list(Vec::new()))],
        )),
        Some(_) => Err(wrong_kind(&d)),
        None => Ok(Value::Nil),
    }
}

fn nodes(x: &mut Exec<'_>, args: &[Value]) -> CResult {
    let s = strings_joined("nodes", args, "")?;
    let d = dependency::parse_nodes(&s).map_err(dep_err)?;
    let near = matches!(&d, Dependency::Nodes { near: Some(_), .. });
    match fetch(x, &d)? {
        Some(Data::Nodes(mut list)) => {
            if !near {
                list.sort_by(|a, b| a.node.cmp(&b.node));
            }
            Ok(Value::list(list.iter().map(source::node_info).collect()))
        }
        Some(_) => Err(wrong_kind(&d)),
        None => Ok(Value::list(Vec::new())),
    }
}

fn datacenters(x: &mut Exec<'_>, args: &[Value]) -> CResult {
    let ignore_inaccessible = match args {
        [] => false,
        [Value::Bool(b)] => *b,
        [other] => {
            return Err(CallErr::Plain(format!(
                "wrong type for value; expected bool; got {}",
                other.type_name()
            )))
        }
        _ => {
            return Err(CallErr::Fail(format!(
                "datacenters: wrong number of arguments, expected 0 or 1, but got {}",
                args.len()
            )))
        }
    };
    let d = Dependency::Datacenters {
        ignore_inaccessible,
    };
    match fetch(x, &d)? {
        Some(Data::Datacenters(mut dcs)) => {
            dcs.sort();
            Ok(Value::list(dcs.into_iter().map(Value::String).collect()))
        }
        Some(_) => Err(wrong_kind(&d)),
        None => Ok(Value::list(Vec::new())),
    }
}

fn env(x: &mut Exec<'_>, name: &str, args: &[Value]) -> CResult {
    arity(name, args, if name == "envOrDefault" { 2 } else { 1 })?;
    let var = want_str(name, &args[0])?.to_string();
    let d = Dependency::Env(var.clone());
    let value = match fetch(x, &d)? {
        Some(Data::Env(v)) => v,
        Some(_) => return Err(wrong_kind(&d)),
        None => None,
    };
    match name {
        "envOrDefault" => Ok(Value::String(match value {
            Some(v) => v,
            None => want_str(name, &args[1])?.to_string(),
        })),
        "mustEnv" => match value {
            Some(v) if !v.is_empty() => Ok(Value::String(v)),
            _ => Err(CallErr::Fail(format!(
                "required environment variable {var} is empty"
            ))),
        },
        _ => Ok(Value::String(value.unwrap_or_default())),
    }
}

fn file(x: &mut Exec<'_>, args: &[Value]) -> CResult {
    arity("file", args, 1)?;
    let path = want_str("file", &args[0])?.trim().to_string();
    if path.is_empty() {
        return Ok(Value::str(""));
    }
    let d = Dependency::File(path);
    match fetch(x, &d)? {
        Some(Data::File(s)) => Ok(Value::String(s)),
        Some(_) => Err(wrong_kind(&d)),
        None => Ok(Value::str("")),
    }
}
