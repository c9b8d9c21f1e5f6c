//! Prepared-query templates: the `${…}` interpolations Consul allows in a
//! template's fields (`${name.full}`, `${name.prefix}`, `${name.suffix}`,
//! `${match(N)}`, `${agent.segment}`; `$${` writes a literal `${`), parsed
//! once when the query is written (so a bad one is a 400 then) and again
//! when a name is resolved, and the rendering of a stored template for
//! the name asked: its `Regexp` matched against the whole name, every
//! string of its service part and its DNS TTL interpolated, and empty
//! tags dropped with `RemoveEmptyTags`. Pure: no I/O.

use praetor_store::query::PreparedQuery;

/// The longest string one interpolation is parsed from; a field longer
/// than this is refused when the query is written.
pub const MAX_FIELD: usize = 4096;

/// A variable a template may name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Var {
    /// `name.full`: the whole name resolved.
    Full,
    /// `name.prefix`: the template's own name.
    Prefix,
    /// `name.suffix`: what follows the prefix.
    Suffix,
    /// `match(N)`: the Regexp's capture group N ("" when none).
    Match(usize),
    /// `agent.segment`: the agent's network segment ("" outside Enterprise).
    Segment,
}

/// One piece of a parsed field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    Var(Var),
}

/// Why a field does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("unterminated \"${{\" at byte {0}")]
    Unterminated(usize),
    #[error("unknown variable {0:?} (known: name.full, name.prefix, name.suffix, match(N), agent.segment)")]
    Unknown(String),
    #[error("field is {0} bytes; the limit is {MAX_FIELD}")]
    TooLong(usize),
    #[error("bad Regexp: {0}")]
    Regexp(String),
}

/// Parses `s` into text and variables.
///
/// # Errors
/// An unterminated `${`, an unknown variable, a field over [`MAX_FIELD`].
pub fn parse(s: &str) -> Result<Vec<Piece>, TemplateError> {
    if s.len() > MAX_FIELD {
        return Err(TemplateError::TooLong(s.len()));
    }
    let mut out = Vec::new();
    let mut text = String::new();
    let mut rest = s;
    let mut at = 0;
    while let Some(i) = rest.find('$') {
        text.push_str(&rest[..i]);
        let after = &rest[i..];
        if let Some(tail) = after.strip_prefix("$${") {
            text.push_str("${");
            at += i + 3;
            rest = tail;
        } else if let Some(tail) = after.strip_prefix("${") {
            let end = tail.find('}').ok_or(TemplateError::Unterminated(at + i))?;
            if !text.is_empty() {
                out.push(Piece::Text(std::mem::take(&mut text)));
            }
            out.push(Piece::Var(var(tail[..end].trim())?));
            at += i + 2 + end + 1;
            rest = &tail[end + 1..];
        } else {
            text.push('$');
            at += i + 1;
            rest = &after[1..];
        }
    }
    text.push_str(rest);
    if !text.is_empty() {
        out.push(Piece::Text(text));
    }
    Ok(out)
}

fn var(expr: &str) -> Result<Var, TemplateError> {
    let unknown = || TemplateError::Unknown(expr.to_owned());
    Ok(match expr {
        "name.full" => Var::Full,
        "name.prefix" => Var::Prefix,
        "name.suffix" => Var::Suffix,
        "agent.segment" => Var::Segment,
        _ => {
            let n = expr
                .strip_prefix("match(")
                .and_then(|r| r.strip_suffix(')'))
                .ok_or_else(unknown)?
                .trim();
            // Group numbers past 1000 cannot exist in a Regexp we accept.
            match n.parse::<usize>() {
                Ok(n) if n <= 1000 => Var::Match(n),
                _ => return Err(unknown()),
            }
        }
    })
}

/// What variables stand for when one name is resolved.
#[derive(Debug, Clone, Default)]
pub struct Context {
    pub full: String,
    pub prefix: String,
    pub segment: String,
    /// The Regexp's groups (0: the whole match); empty when it did not match.
    pub groups: Vec<String>,
}

impl Context {
    fn value(&self, v: &Var) -> &str {
        match v {
            Var::Full => &self.full,
            Var::Prefix => &self.prefix,
            Var::Suffix => self.full.strip_prefix(self.prefix.as_str()).unwrap_or(""),
            Var::Segment => &self.segment,
            Var::Match(n) => self.groups.get(*n).map_or("", String::as_str),
        }
    }
}

/// `s` with its variables replaced.
///
/// # Errors
/// As [`parse`].
pub fn interpolate(s: &str, cx: &Context) -> Result<String, TemplateError> {
    if !s.contains('$') {
        return Ok(s.to_owned());
    }
    Ok(parse(s)?
        .iter()
        .map(|p| match p {
            Piece::Text(t) => t.as_str(),
            Piece::Var(v) => cx.value(v),
        })
        .collect())
}

/// Every field of `q` a template interpolates, mutably: the strings of its
/// service part and its DNS TTL (never its ID, name, session, token or
/// the template itself).
fn fields(q: &mut PreparedQuery) -> Vec<&mut String> {
    let s = &mut q.service;
    let mut out: Vec<&mut String> = vec![&mut s.service, &mut s.near, &mut q.dns_ttl];
    out.extend(s.tags.iter_mut());
    out.extend(s.node_meta.values_mut());
    out.extend(s.service_meta.values_mut());
    out.extend(s.ignore_check_ids.iter_mut());
    out.extend(s.failover.datacenters.iter_mut());
    for t in &mut s.failover.targets {
        out.push(&mut t.datacenter);
        out.push(&mut t.peer);
    }
    out
}

/// Checks a template before it is stored: its Regexp compiles and every
/// field parses.
///
/// # Errors
/// The first field or Regexp that does not.
pub fn validate(q: &PreparedQuery) -> Result<(), TemplateError> {
    if let Some(t) = &q.template {
        if !t.regexp.is_empty() {
            regex_lite::Regex::new(&t.regexp).map_err(|e| TemplateError::Regexp(e.to_string()))?;
        }
    }
    let mut copy = q.clone();
    for f in fields(&mut copy) {
        parse(f)?;
    }
    Ok(())
}

/// `q` rendered for `name` (a static query is returned as it is).
///
/// # Errors
/// A field or Regexp that no longer parses (stored by another build).
pub fn render(
    q: &PreparedQuery,
    name: &str,
    segment: &str,
) -> Result<PreparedQuery, TemplateError> {
    let Some(t) = &q.template else {
        return Ok(q.clone());
    };
    let groups = if t.regexp.is_empty() {
        Vec::new()
    } else {
        let re =
            regex_lite::Regex::new(&t.regexp).map_err(|e| TemplateError::Regexp(e.to_string()))?;
        re.captures(name)
            .map(|c| {
                c.iter()
                    .map(|g| g.map_or(String::new(), |m| m.as_str().to_owned()))
                    .collect()
            })
            .unwrap_or_default()
    };
    let cx = Context {
        full: name.to_owned(),
        prefix: q.name.clone(),
        segment: segment.to_owned(),
        groups,
    };
    let mut out = q.clone();
    for f in fields(&mut out) {
        *f = interpolate(f, &cx)?;
    }
    if t.remove_empty_tags {
        out.service.tags.retain(|t| !t.is_empty());
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
