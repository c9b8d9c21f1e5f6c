//! Rule text to [`Policy`]: picks the syntax, bounds the input, and reads
//! the syntax-neutral tree both syntaxes produce into rules, checking them as
//! Consul's `PolicyRules.Validate` does (and stricter where silence would
//! hide a mistake: unknown resources and attributes are errors).
//! Never recurses deeper than the bounded tree, never panics on any input.

mod hcl;
mod json;

use std::collections::BTreeSet;

use crate::access::{Access, Global, Resource};
use crate::error::RuleError;
use crate::policy::Policy;
use crate::{MAX_RULES, MAX_RULES_BYTES};

/// The deepest nesting either reader builds (Consul rules need three levels).
pub(crate) const MAX_DEPTH: usize = 32;

/// One `key = value` (HCL attribute, JSON member) or labelled block, with
/// the line its key is on.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) key: String,
    pub(crate) line: usize,
    pub(crate) value: Value,
}

/// A value in the syntax-neutral tree.
#[derive(Debug)]
pub(crate) enum Value {
    /// A string literal.
    Str(String),
    /// An object or block body: its entries in source order, duplicates kept.
    Obj(Vec<Entry>),
    /// A list (JSON array, HCL tuple); a list of objects reads as one object.
    List(Vec<Value>),
    /// Anything else, described for the error message ("a number").
    Other(&'static str),
}

/// Byte offset to 1-based line.
pub(crate) struct Lines {
    starts: Vec<usize>,
}

impl Lines {
    pub(crate) fn new(text: &str) -> Lines {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Lines { starts }
    }

    pub(crate) fn line(&self, offset: usize) -> usize {
        match self.starts.binary_search(&offset) {
            Ok(i) => i + 1,
            Err(i) => i,
        }
    }
}

pub(crate) fn parse(text: &str) -> Result<Policy, RuleError> {
    if text.len() > MAX_RULES_BYTES {
        return Err(RuleError::whole(format!(
            "rules are {} bytes; the limit is {MAX_RULES_BYTES}",
            text.len()
        )));
    }
    let trimmed = text.trim_start();
    if trimmed.is_empty() {
        return Ok(Policy::default());
    }
    let entries = if trimmed.starts_with('{') {
        json::read(text)?
    } else {
        hcl::read(text)?
    };
    Reader::new(MAX_RULES).top(entries)
}

enum Keyword {
    Segment(Resource, bool),
    Global(Global),
}

/// The resource a top-level name refers to. Case-insensitive, as HCL1
/// matches names to Consul's fields (`ObjectList.Filter` uses `EqualFold`).
fn keyword(name: &str) -> Option<Keyword> {
    for r in Resource::ALL {
        if name.eq_ignore_ascii_case(r.as_str()) {
            return Some(Keyword::Segment(r, false));
        }
        if name.eq_ignore_ascii_case(r.prefix_keyword()) {
            return Some(Keyword::Segment(r, true));
        }
    }
    Global::ALL
        .into_iter()
        .find(|g| name.eq_ignore_ascii_case(g.as_str()))
        .map(Keyword::Global)
}

const KEYWORDS: &str = "key, key_prefix, service, service_prefix, node, node_prefix, \
session, session_prefix, agent, agent_prefix, event, event_prefix, query, query_prefix, \
acl, operator, keyring, mesh or peering";

struct Reader {
    policy: Policy,
    count: usize,
    limit: usize,
    globals_seen: BTreeSet<Global>,
}

impl Reader {
    fn new(limit: usize) -> Reader {
        Reader {
            policy: Policy::default(),
            count: 0,
            limit,
            globals_seen: BTreeSet::new(),
        }
    }

    fn top(mut self, entries: Vec<Entry>) -> Result<Policy, RuleError> {
        for e in entries {
            match keyword(&e.key) {
                Some(Keyword::Segment(r, prefix)) => self.segment(r, prefix, e)?,
                Some(Keyword::Global(g)) => self.global(g, e)?,
                None => {
                    return Err(RuleError::at(
                        e.line,
                        format!("unknown rule type {:?} (want {KEYWORDS})", e.key),
                    ))
                }
            }
        }
        Ok(self.policy)
    }

    fn counted(&mut self, line: usize) -> Result<(), RuleError> {
        self.count += 1;
        if self.count > self.limit {
            return Err(RuleError::at(
                line,
                format!("too many rules; the limit is {}", self.limit),
            ));
        }
        Ok(())
    }

    fn global(&mut self, g: Global, e: Entry) -> Result<(), RuleError> {
        let Value::Str(level) = e.value else {
            return Err(RuleError::at(
                e.line,
                format!("{g} must be a string, like {g} = \"read\""),
            ));
        };
        if !self.globals_seen.insert(g) {
            return Err(RuleError::at(
                e.line,
                format!("{g} was already set; each argument can only be defined once"),
            ));
        }
        self.counted(e.line)?;
        let access = level_for(&level, false)
            .ok_or_else(|| RuleError::at(e.line, invalid_level(&level, g.as_str(), false)))?;
        self.policy.set_global(g, access);
        Ok(())
    }

    fn segment(&mut self, r: Resource, prefix: bool, e: Entry) -> Result<(), RuleError> {
        let kw = r.keyword(prefix);
        let Some(rules) = flatten(e.value) else {
            return Err(RuleError::at(
                e.line,
                format!("{kw} must name a segment, like {kw} \"name\" {{ policy = \"read\" }}"),
            ));
        };
        for rule in rules {
            self.rule(r, prefix, rule)?;
        }
        Ok(())
    }

    fn rule(&mut self, r: Resource, prefix: bool, e: Entry) -> Result<(), RuleError> {
        let kw = r.keyword(prefix);
        let what = format!("{kw} {:?}", e.key);
        let Some(attrs) = flatten(e.value) else {
            return Err(RuleError::at(
                e.line,
                format!(
                    "{what} must be a block with a policy, like {kw} {:?} {{ policy = \"read\" }}",
                    e.key
                ),
            ));
        };
        self.counted(e.line)?;
        let mut policy: Option<(String, usize)> = None;
        let mut intentions_seen = false;
        for a in attrs {
            match a.key.to_ascii_lowercase().as_str() {
                "policy" => {
                    if policy.is_some() {
                        return Err(RuleError::at(
                            a.line,
                            format!("policy was already set for {what}; each argument can only be defined once"),
                        ));
                    }
                    policy = Some((string_attr(a.value, a.line, "policy", &what)?, a.line));
                }
                "intentions" if r == Resource::Service => {
                    if intentions_seen {
                        return Err(RuleError::at(
                            a.line,
                            format!("intentions was already set for {what}; each argument can only be defined once"),
                        ));
                    }
                    intentions_seen = true;
                    let level = string_attr(a.value, a.line, "intentions", &what)?;
                    if level_for(&level, false).is_none() {
                        return Err(RuleError::at(
                            a.line,
                            format!(
                                "invalid intentions {level:?} for {what} (want read, write or deny)"
                            ),
                        ));
                    }
                }
                _ => {
                    let other = &a.key;
                    let want = if r == Resource::Service {
                        "policy or intentions"
                    } else {
                        "policy"
                    };
                    return Err(RuleError::at(
                        a.line,
                        format!("unknown attribute {other:?} in {what} (want {want})"),
                    ));
                }
            }
        }
        let Some((level, line)) = policy else {
            return Err(RuleError::at(e.line, format!("missing policy for {what}")));
        };
        let access = level_for(&level, r.accepts_list())
            .ok_or_else(|| RuleError::at(line, invalid_level(&level, &what, r.accepts_list())))?;
        self.policy.add_rule(r, &e.key, prefix, access);
        Ok(())
    }
}

fn string_attr(v: Value, line: usize, attr: &str, what: &str) -> Result<String, RuleError> {
    match v {
        Value::Str(s) => Ok(s),
        Value::Obj(_) => Err(RuleError::at(
            line,
            format!("{attr} of {what} must be a string, not a block"),
        )),
        Value::List(_) => Err(RuleError::at(
            line,
            format!("{attr} of {what} must be a string, not a list"),
        )),
        Value::Other(kind) => Err(RuleError::at(
            line,
            format!("{attr} of {what} must be a string, not {kind}"),
        )),
    }
}

fn level_for(level: &str, allow_list: bool) -> Option<Access> {
    match Access::from_name(level)? {
        Access::List if !allow_list => None,
        a => Some(a),
    }
}

fn invalid_level(level: &str, what: &str, allow_list: bool) -> String {
    let want = if allow_list {
        "read, write, list or deny"
    } else {
        "read, write or deny"
    };
    format!("invalid policy {level:?} for {what} (want {want})")
}

/// An object, or a list of objects read as one object (HCL1's and JSON's
/// `"key": [{...}, {...}]` form); `None` for anything else.
fn flatten(v: Value) -> Option<Vec<Entry>> {
    match v {
        Value::Obj(entries) => Some(entries),
        Value::List(items) => {
            let mut out = Vec::new();
            for item in items {
                match item {
                    Value::Obj(entries) => out.extend(entries),
                    _ => return None,
                }
            }
            Some(out)
        }
        Value::Str(_) | Value::Other(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn more_rules_than_the_limit_are_refused_with_the_line() {
        let text = "key \"a\" { policy = \"read\" }\nkey \"a\" { policy = \"read\" }\noperator = \"read\"\nkey \"b\" { policy = \"read\" }";
        let entries = |t: &str| match hcl::read(t) {
            Ok(e) => e,
            Err(e) => panic!("{e}"),
        };
        assert!(Reader::new(4).top(entries(text)).is_ok());
        let e = match Reader::new(3).top(entries(text)) {
            Ok(p) => panic!("over the limit, parsed {p:?}"),
            Err(e) => e,
        };
        assert_eq!(e.line, Some(4));
        assert_eq!(e.reason, "too many rules; the limit is 3");
    }

    #[test]
    fn lines_maps_offsets_to_one_based_lines() {
        let l = Lines::new("ab\ncd\n\nef");
        assert_eq!(l.line(0), 1);
        assert_eq!(l.line(2), 1);
        assert_eq!(l.line(3), 2);
        assert_eq!(l.line(6), 3);
        assert_eq!(l.line(7), 4);
        assert_eq!(l.line(100), 4);
    }
}
