//! Dependencies: the typed requests a template's data functions make
//! (`key`, `ls`/`tree`, `service`, `services`, `node`, `nodes`, `env`,
//! `file`), parsed from their argument strings exactly as consul-template's
//! `dependency` package parses them (same regular expressions, same filters,
//! same error wording). Owns parsing and naming; never fetches anything.

use std::fmt;
use std::sync::LazyLock;

use regex::Regex;

const DC_RE: &str = r"(@(?P<dc>[[:word:]\.\-_]+))?";
const KEY_RE: &str = r"/?(?P<key>[^@\?]+)";
const FILTER_RE: &str = r"(\|(?P<filter>[[:word:],]+))?";
const SERVICE_NAME_RE: &str = r"(?P<name>[[:word:]\-_]+)";
const QUERY_RE: &str = r"(\?(?P<query>[[:word:]\-_=\&]+))?";
const NODE_NAME_RE: &str = r"(?P<name>[[:word:]\.\-_]+)";
const NEAR_RE: &str = r"(~(?P<near>[[:word:]\.\-_]+))?";
const PREFIX_RE: &str = r"/?(?P<prefix>[^@\?]+)";
const TAG_RE: &str = r"((?P<tag>[[:word:]=:\.\-_]+)\.)?";

fn anchored(parts: &[&str]) -> Regex {
    let re = format!(r"\A{}\z", parts.concat());
    // The patterns are constants; a failure here is a bug caught by every test.
    Regex::new(&re).unwrap_or_else(|e| unreachable!("bad built-in pattern {re}: {e}"))
}

static KV_GET: LazyLock<Regex> = LazyLock::new(|| anchored(&[KEY_RE, QUERY_RE, DC_RE]));
static KV_LIST: LazyLock<Regex> = LazyLock::new(|| anchored(&[PREFIX_RE, QUERY_RE, DC_RE]));
static HEALTH_SERVICE: LazyLock<Regex> =
    LazyLock::new(|| anchored(&[TAG_RE, SERVICE_NAME_RE, QUERY_RE, DC_RE, NEAR_RE, FILTER_RE]));
static CATALOG_NODE: LazyLock<Regex> = LazyLock::new(|| anchored(&[NODE_NAME_RE, QUERY_RE, DC_RE]));
static CATALOG_NODES: LazyLock<Regex> = LazyLock::new(|| anchored(&[QUERY_RE, DC_RE, NEAR_RE]));
static CATALOG_SERVICES: LazyLock<Regex> = LazyLock::new(|| anchored(&[QUERY_RE, DC_RE]));

/// Consul's enterprise scoping that a dependency string may carry as
/// `?ns=…&partition=…&peer=…&sameness-group=…`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Scope {
    /// `ns=`.
    pub namespace: Option<String>,
    /// `partition=`.
    pub partition: Option<String>,
    /// `peer=` (services only).
    pub peer: Option<String>,
    /// `sameness-group=` (services only).
    pub sameness_group: Option<String>,
}

/// Health filters `service` accepts after `|`.
pub const HEALTH_FILTERS: [&str; 5] = ["any", "passing", "warning", "critical", "maintenance"];

/// One piece of data a template asked for. The caller fetches it (and
/// watches it with a blocking query) and answers through [`crate::Source`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dependency {
    /// One KV entry (`key`, `keyExists`, `keyOrDefault`): `GET /v1/kv/<key>`.
    Key {
        /// The key, without a leading `/`.
        key: String,
        /// `@dc`.
        dc: Option<String>,
        /// `?ns=…&partition=…`.
        scope: Scope,
    },
    /// Every KV entry under a prefix (`ls`, `tree`, `safeLs`, `safeTree`):
    /// `GET /v1/kv/<prefix>?recurse`.
    KeyList {
        /// The prefix, without a leading `/`.
        prefix: String,
        /// `@dc`.
        dc: Option<String>,
        /// `?ns=…&partition=…`.
        scope: Scope,
    },
    /// Instances of a service with their health (`service`):
    /// `GET /v1/health/service/<name>[?tag=…][&passing]`.
    Service {
        /// The service name.
        name: String,
        /// `tag.` prefix.
        tag: Option<String>,
        /// `@dc`.
        dc: Option<String>,
        /// `~near`.
        near: Option<String>,
        /// Sorted health filters; `["passing"]` when none was given.
        filters: Vec<String>,
        /// `?ns=…` and friends.
        scope: Scope,
    },
    /// Every service with its tags (`services`): `GET /v1/catalog/services`.
    CatalogServices {
        /// `@dc`.
        dc: Option<String>,
        /// `?ns=…&partition=…`.
        scope: Scope,
    },
    /// One node and its services (`node`): `GET /v1/catalog/node/<name>`;
    /// no name means the local agent's node.
    Node {
        /// The node name; `None` for the agent's own node.
        name: Option<String>,
        /// `@dc`.
        dc: Option<String>,
        /// `?ns=…&partition=…`.
        scope: Scope,
    },
    /// Every node (`nodes`): `GET /v1/catalog/nodes`.
    Nodes {
        /// `@dc`.
        dc: Option<String>,
        /// `~near`.
        near: Option<String>,
        /// `?ns=…&partition=…`.
        scope: Scope,
    },
    /// Every known datacenter (`datacenters`): `GET /v1/catalog/datacenters`.
    Datacenters {
        /// `datacenters true`: leave out datacenters that cannot be reached
        /// or have no leader (the caller checks each one).
        ignore_inaccessible: bool,
    },
    /// An environment variable (`env`).
    Env(String),
    /// A local file's contents (`file`).
    File(String),
}

impl Dependency {
    /// Whether the caller should ask Consul for passing instances only
    /// (`?passing`): true when the filter is exactly `passing`, the default,
    /// as consul-template does; other filters are applied by the engine.
    pub fn passing_only(&self) -> bool {
        matches!(self, Dependency::Service { filters, .. } if filters.len() == 1 && filters[0] == "passing")
    }
}

/// A malformed dependency argument, worded as consul-template words it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DependencyError(pub String);

fn captures<'a>(re: &Regex, s: &'a str) -> Option<regex::Captures<'a>> {
    re.captures(s)
}

fn group(c: &regex::Captures<'_>, name: &str) -> Option<String> {
    c.name(name)
        .map(|m| m.as_str().to_string())
        .filter(|s| !s.is_empty())
}

fn scope(c: &regex::Captures<'_>, label: &str) -> Result<Scope, DependencyError> {
    let mut scope = Scope::default();
    let Some(q) = group(c, "query") else {
        return Ok(scope);
    };
    for pair in q.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = Some(v.to_string());
        match k {
            "ns" => scope.namespace = v,
            "partition" => scope.partition = v,
            "peer" => scope.peer = v,
            "sameness-group" => scope.sameness_group = v,
            _ => {
                return Err(DependencyError(format!(
                "{label}: invalid query parameter key {k:?} in query {q:?}: supported keys: ns,peer,partition,sameness-group"
            )))
            }
        }
    }
    Ok(scope)
}

/// Parses `key`'s argument: `<PATH>?<QUERY>@<DC>`.
///
/// # Errors
/// `kv.get: invalid format: "…"` when the string does not match.
pub fn parse_key(s: &str) -> Result<Dependency, DependencyError> {
    let c = captures(&KV_GET, s)
        .ok_or_else(|| DependencyError(format!("kv.get: invalid format: {s:?}")))?;
    Ok(Dependency::Key {
        key: group(&c, "key").unwrap_or_default(),
        dc: group(&c, "dc"),
        scope: scope(&c, "kv.get")?,
    })
}

/// Parses `ls`/`tree`'s argument: `<PREFIX>?<QUERY>@<DC>`.
///
/// # Errors
/// `kv.list: invalid format: "…"` when the string does not match.
pub fn parse_key_list(s: &str) -> Result<Dependency, DependencyError> {
    let c = captures(&KV_LIST, s)
        .ok_or_else(|| DependencyError(format!("kv.list: invalid format: {s:?}")))?;
    Ok(Dependency::KeyList {
        prefix: group(&c, "prefix").unwrap_or_default(),
        dc: group(&c, "dc"),
        scope: scope(&c, "kv.list")?,
    })
}

/// Parses `service`'s argument: `<TAG>.<NAME>?<QUERY>@<DC>~<NEAR>|<FILTER>`.
///
/// # Errors
/// `health.service: invalid format: "…"` or `invalid filter`.
pub fn parse_service(s: &str) -> Result<Dependency, DependencyError> {
    let c = captures(&HEALTH_SERVICE, s)
        .ok_or_else(|| DependencyError(format!("health.service: invalid format: {s:?}")))?;
    let mut filters = Vec::new();
    if let Some(f) = group(&c, "filter") {
        for part in f.split(',') {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            if !HEALTH_FILTERS.contains(&part) {
                return Err(DependencyError(format!(
                    "health.service: invalid filter: {part:?} in {s:?}"
                )));
            }
            filters.push(part.to_string());
        }
        filters.sort();
    } else {
        filters.push("passing".to_string());
    }
    let scope = scope(&c, "health.service")?;
    if scope.peer.is_some() && scope.sameness_group.is_some() {
        return Err(DependencyError(
            "health.service: cannot specify both peer and sameness-group".into(),
        ));
    }
    Ok(Dependency::Service {
        name: group(&c, "name").unwrap_or_default(),
        tag: group(&c, "tag"),
        dc: group(&c, "dc"),
        near: group(&c, "near"),
        filters,
        scope,
    })
}

/// Parses `services`'s argument: `?<QUERY>@<DC>`.
///
/// # Errors
/// `catalog.services: invalid format: "…"`.
pub fn parse_services(s: &str) -> Result<Dependency, DependencyError> {
    let c = captures(&CATALOG_SERVICES, s)
        .ok_or_else(|| DependencyError(format!("catalog.services: invalid format: {s:?}")))?;
    Ok(Dependency::CatalogServices {
        dc: group(&c, "dc"),
        scope: scope(&c, "catalog.services")?,
    })
}

/// Parses `node`'s argument: `<NAME>?<QUERY>@<DC>` (empty: the agent's node).
///
/// # Errors
/// `catalog.node: invalid format: "…"`.
pub fn parse_node(s: &str) -> Result<Dependency, DependencyError> {
    if s.is_empty() {
        return Ok(Dependency::Node {
            name: None,
            dc: None,
            scope: Scope::default(),
        });
    }
    let c = captures(&CATALOG_NODE, s)
        .ok_or_else(|| DependencyError(format!("catalog.node: invalid format: {s:?}")))?;
    Ok(Dependency::Node {
        name: group(&c, "name"),
        dc: group(&c, "dc"),
        scope: scope(&c, "catalog.node")?,
    })
}

/// Parses `nodes`'s argument: `?<QUERY>@<DC>~<NEAR>`.
///
/// # Errors
/// `catalog.nodes: invalid format: "…"`.
pub fn parse_nodes(s: &str) -> Result<Dependency, DependencyError> {
    let c = captures(&CATALOG_NODES, s)
        .ok_or_else(|| DependencyError(format!("catalog.nodes: invalid format: {s:?}")))?;
    Ok(Dependency::Nodes {
        dc: group(&c, "dc"),
        near: group(&c, "near"),
        scope: scope(&c, "catalog.nodes")?,
    })
}

fn write_scope(f: &mut fmt::Formatter<'_>, s: &Scope) -> fmt::Result {
    if let Some(p) = &s.partition {
        write!(f, "@partition={p}")?;
    }
    if let Some(n) = &s.namespace {
        write!(f, "@ns={n}")?;
    }
    if let Some(p) = &s.peer {
        write!(f, "@peer={p}")?;
    }
    if let Some(g) = &s.sameness_group {
        write!(f, "@sameness-group={g}")?;
    }
    Ok(())
}

/// consul-template's names for dependencies (`kv.get(key@dc)`,
/// `health.service(tag.name@dc~near|filters)`, ...), as its logs show them.
impl fmt::Display for Dependency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = |f: &mut fmt::Formatter<'_>, dc: &Option<String>| match dc {
            Some(dc) => write!(f, "@{dc}"),
            None => Ok(()),
        };
        match self {
            Dependency::Key { key, dc, scope } => {
                write!(f, "kv.get({key}")?;
                at(f, dc)?;
                write_scope(f, scope)?;
                f.write_str(")")
            }
            Dependency::KeyList { prefix, dc, scope } => {
                write!(f, "kv.list({prefix}")?;
                at(f, dc)?;
                write_scope(f, scope)?;
                f.write_str(")")
            }
            Dependency::Service {
                name,
                tag,
                dc,
                near,
                filters,
                scope,
            } => {
                f.write_str("health.service(")?;
                if let Some(t) = tag {
                    write!(f, "{t}.")?;
                }
                f.write_str(name)?;
                at(f, dc)?;
                write_scope(f, scope)?;
                if let Some(n) = near {
                    write!(f, "~{n}")?;
                }
                if !filters.is_empty() {
                    write!(f, "|{}", filters.join(","))?;
                }
                f.write_str(")")
            }
            Dependency::CatalogServices { dc, scope } => {
                f.write_str("catalog.services(")?;
                at(f, dc)?;
                write_scope(f, scope)?;
                f.write_str(")")
            }
            Dependency::Node { name, dc, scope } => {
                write!(f, "catalog.node({}", name.as_deref().unwrap_or(""))?;
                at(f, dc)?;
                write_scope(f, scope)?;
                f.write_str(")")
            }
            Dependency::Nodes { dc, near, scope } => {
                f.write_str("catalog.nodes(")?;
                at(f, dc)?;
                write_scope(f, scope)?;
                if let Some(n) = near {
                    write!(f, "~{n}")?;
                }
                f.write_str(")")
            }
            Dependency::Datacenters {
                ignore_inaccessible,
            } => {
                if *ignore_inaccessible {
                    f.write_str("catalog.datacenters(ignore-inaccessible)")
                } else {
                    f.write_str("catalog.datacenters")
                }
            }
            Dependency::Env(name) => write!(f, "env({name})"),
            Dependency::File(path) => write!(f, "file({path})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_argument_parses_tag_name_dc_near_and_filters() {
        let d = parse_service("release.web@east-aws~_agent|warning,passing").unwrap();
        assert_eq!(
            d,
            Dependency::Service {
                name: "web".into(),
                tag: Some("release".into()),
                dc: Some("east-aws".into()),
                near: Some("_agent".into()),
                filters: vec!["passing".into(), "warning".into()],
                scope: Scope::default(),
            }
        );
        assert_eq!(
            d.to_string(),
            "health.service(release.web@east-aws~_agent|passing,warning)"
        );
        assert!(!d.passing_only());
    }

    #[test]
    fn service_without_filter_asks_for_passing_only() {
        let d = parse_service("web").unwrap();
        assert!(d.passing_only());
        assert_eq!(d.to_string(), "health.service(web|passing)");
        let any = parse_service("web|any").unwrap();
        assert!(!any.passing_only());
    }

    #[test]
    fn service_rejects_unknown_filters_and_dotted_junk() {
        assert_eq!(
            parse_service("web|healthy").unwrap_err().0,
            "health.service: invalid filter: \"healthy\" in \"web|healthy\""
        );
        assert!(parse_service("web@").is_err());
        assert!(parse_service("").is_err());
    }

    #[test]
    fn key_strips_the_leading_slash_and_reads_dc_and_query() {
        assert_eq!(
            parse_key("/service/redis/maxconns@dc2").unwrap(),
            Dependency::Key {
                key: "service/redis/maxconns".into(),
                dc: Some("dc2".into()),
                scope: Scope::default()
            }
        );
        let d = parse_key("a/b?ns=team@dc1").unwrap();
        assert_eq!(d.to_string(), "kv.get(a/b@dc1@ns=team)");
        assert_eq!(
            parse_key("a?color=red").unwrap_err().0,
            "kv.get: invalid query parameter key \"color\" in query \"color=red\": supported keys: ns,peer,partition,sameness-group"
        );
        assert!(parse_key("a@b@c").is_err());
    }

    #[test]
    fn nodes_and_services_take_only_dc_and_near() {
        assert_eq!(
            parse_nodes("@dc2~_agent").unwrap().to_string(),
            "catalog.nodes(@dc2~_agent)"
        );
        assert_eq!(parse_nodes("").unwrap().to_string(), "catalog.nodes()");
        assert_eq!(
            parse_services("@dc1").unwrap().to_string(),
            "catalog.services(@dc1)"
        );
        assert!(parse_services("web").is_err());
        assert_eq!(
            parse_node("node1@dc2").unwrap().to_string(),
            "catalog.node(node1@dc2)"
        );
    }
}
