//! Consul's `?filter=` expressions (go-bexpr), evaluated against the JSON
//! of each item an endpoint returns: `Service.Tags contains "v1"`,
//! `Meta.env == "prod" and Port != 80`, `Node.Node in ["a", "b"]`,
//! `not (Service matches "^web")`, `Meta is empty`. Selectors are dotted
//! field paths as the JSON names them; on a list, a comparison holds when it
//! holds for any element (as bexpr does for `Checks.Status == critical`).
//!
//! The expression comes from any HTTP client, so everything about it is
//! bounded: at most [`MAX_FILTER_LEN`] bytes, parentheses and `not` nested
//! at most [`MAX_DEPTH`] deep (parsing, evaluation and dropping recurse only
//! that deep, since `and`/`or` chains are flat lists), and every `matches`
//! regex compiled once, at parse time, under [`MAX_REGEX_SIZE`]. It must
//! never panic or recurse on input beyond those bounds.

use serde_json::Value;

/// Longest filter accepted, in bytes (after percent-decoding). Consul's
/// documented filters are a few dozen bytes; this leaves room for long
/// `in [...]` lists while keeping parse and evaluation cost small.
pub const MAX_FILTER_LEN: usize = 4096;

/// Deepest nesting of parentheses and `not` accepted. bexpr's grammar has
/// no practical need for more; the parser, the evaluator and `Drop`
/// recurse once per level, so this bound keeps them far from the stack's end.
pub const MAX_DEPTH: usize = 32;

/// Largest compiled program of a `matches` regex, in bytes (regex-lite's
/// size limit; its default is 10 MiB). A pattern such as `(a{100}){100}`
/// would otherwise compile to a program much larger than its text.
pub const MAX_REGEX_SIZE: usize = 256 * 1024;

/// Why a filter was refused. Each message is one line naming what was
/// expected or which limit was passed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// Longer than [`MAX_FILTER_LEN`].
    #[error("the filter is {len} bytes long; the limit is {limit}")]
    TooLong { len: usize, limit: usize },
    /// Nested deeper than [`MAX_DEPTH`].
    #[error("the filter nests parentheses and 'not' more than {limit} deep")]
    TooDeep { limit: usize },
    /// A quoted string without its closing quote.
    #[error("unterminated string in the filter")]
    Unterminated,
    /// `=` or `!` not followed by `=`.
    #[error("expected {0}= in the filter")]
    LoneSign(char),
    /// Something other than what the grammar allows at this point.
    #[error("expected {expected} in the filter, found {found}")]
    Expected {
        expected: &'static str,
        found: String,
    },
    /// A word where an operator belongs that is not one.
    #[error("unknown operator {0} in the filter")]
    UnknownOperator(String),
    /// A `matches` pattern that does not compile (or compiles too large).
    #[error("invalid regular expression {pattern} in the filter: {reason}")]
    BadRegex { pattern: String, reason: String },
}

/// A parsed filter. `And` and `Or` hold two or more terms, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Match {
        selector: Vec<String>,
        op: Op,
        value: Option<Operand>,
    },
}

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Contains,
    NotContains,
    In,
    NotIn,
    IsEmpty,
    IsNotEmpty,
    Matches,
    NotMatches,
}

/// The right-hand side of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    One(String),
    List(Vec<String>),
    /// The pattern of `matches` and `not matches`, compiled.
    Pattern(Pattern),
}

/// A regular expression compiled once, when the filter is parsed.
#[derive(Clone)]
pub struct Pattern {
    source: String,
    regex: regex_lite::Regex,
}

impl Pattern {
    /// Compiles `source` under [`MAX_REGEX_SIZE`].
    ///
    /// # Errors
    /// `BadRegex` with regex-lite's reason.
    pub fn new(source: &str) -> Result<Pattern, FilterError> {
        let regex = regex_lite::RegexBuilder::new(source)
            .size_limit(MAX_REGEX_SIZE)
            .build()
            .map_err(|e| FilterError::BadRegex {
                pattern: snippet(source),
                reason: one_line(&e.to_string()),
            })?;
        Ok(Pattern {
            source: source.to_owned(),
            regex,
        })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Pattern) -> bool {
        self.source == other.source
    }
}

impl std::fmt::Debug for Pattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pattern({:?})", self.source)
    }
}

/// `s` quoted for a message, cut to 40 characters.
fn snippet(s: &str) -> String {
    const KEEP: usize = 40;
    match s.char_indices().nth(KEEP) {
        None => format!("{s:?}"),
        Some((end, _)) => format!("{:?}…", &s[..end]),
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Eq,
    Ne,
}

/// A token (or the end) as a message names it.
fn describe(t: Option<&Tok>) -> String {
    match t {
        None => "the end".into(),
        Some(Tok::Word(w)) => snippet(w),
        Some(Tok::Str(s)) => format!("string {}", snippet(s)),
        Some(Tok::LParen) => "'('".into(),
        Some(Tok::RParen) => "')'".into(),
        Some(Tok::LBracket) => "'['".into(),
        Some(Tok::RBracket) => "']'".into(),
        Some(Tok::Comma) => "','".into(),
        Some(Tok::Eq) => "'=='".into(),
        Some(Tok::Ne) => "'!='".into(),
    }
}

fn lex(s: &str) -> Result<Vec<Tok>, FilterError> {
    let mut out = Vec::new();
    let mut it = s.chars().peekable();
    while let Some(&c) = it.peek() {
        match c {
            c if c.is_whitespace() => {
                it.next();
            }
            '(' | ')' | '[' | ']' | ',' => {
                it.next();
                out.push(match c {
                    '(' => Tok::LParen,
                    ')' => Tok::RParen,
                    '[' => Tok::LBracket,
                    ']' => Tok::RBracket,
                    _ => Tok::Comma,
                });
            }
            '=' | '!' => {
                it.next();
                if it.next() != Some('=') {
                    return Err(FilterError::LoneSign(c));
                }
                out.push(if c == '=' { Tok::Eq } else { Tok::Ne });
            }
            '"' | '`' => {
                let quote = c;
                it.next();
                let mut v = String::new();
                loop {
                    match it.next() {
                        None => return Err(FilterError::Unterminated),
                        Some('\\') if quote == '"' => match it.next() {
                            Some(e) => v.push(e),
                            None => return Err(FilterError::Unterminated),
                        },
                        Some(ch) if ch == quote => break,
                        Some(ch) => v.push(ch),
                    }
                }
                out.push(Tok::Str(v));
            }
            _ => {
                let mut w = String::new();
                while let Some(&ch) = it.peek() {
                    if ch.is_whitespace() || "()[],=!\"`".contains(ch) {
                        break;
                    }
                    w.push(ch);
                    it.next();
                }
                out.push(Tok::Word(w));
            }
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    /// Parentheses and `not` open around the current position.
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(x)) if x == w)
    }
    fn expected(&self, expected: &'static str) -> FilterError {
        FilterError::Expected {
            expected,
            found: describe(self.peek()),
        }
    }
    /// One level deeper; refused past [`MAX_DEPTH`].
    fn enter(&mut self) -> Result<(), FilterError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(FilterError::TooDeep { limit: MAX_DEPTH });
        }
        Ok(())
    }
    fn or(&mut self) -> Result<Expr, FilterError> {
        let mut terms = vec![self.and()?];
        while self.word("or") {
            self.pos += 1;
            terms.push(self.and()?);
        }
        Ok(match terms.len() {
            1 => terms.swap_remove(0),
            _ => Expr::Or(terms),
        })
    }
    fn and(&mut self) -> Result<Expr, FilterError> {
        let mut terms = vec![self.unary()?];
        while self.word("and") {
            self.pos += 1;
            terms.push(self.unary()?);
        }
        Ok(match terms.len() {
            1 => terms.swap_remove(0),
            _ => Expr::And(terms),
        })
    }
    fn unary(&mut self) -> Result<Expr, FilterError> {
        if self.word("not") {
            self.pos += 1;
            self.enter()?;
            let e = Expr::Not(Box::new(self.unary()?));
            self.depth -= 1;
            return Ok(e);
        }
        if self.peek() == Some(&Tok::LParen) {
            self.pos += 1;
            self.enter()?;
            let e = self.or()?;
            if self.peek() != Some(&Tok::RParen) {
                return Err(self.expected("')'"));
            }
            self.pos += 1;
            self.depth -= 1;
            return Ok(e);
        }
        self.comparison()
    }
    fn value(&mut self) -> Result<String, FilterError> {
        match self.peek() {
            Some(Tok::Str(s) | Tok::Word(s)) => {
                let s = s.clone();
                self.pos += 1;
                Ok(s)
            }
            _ => Err(self.expected("a value")),
        }
    }
    fn comparison(&mut self) -> Result<Expr, FilterError> {
        // `value in Selector` and `value not in Selector` read right to left.
        let first = match self.peek().cloned() {
            Some(Tok::Word(w)) => {
                self.pos += 1;
                w
            }
            Some(Tok::Str(s)) => {
                self.pos += 1;
                let negated = self.word("not");
                if negated {
                    self.pos += 1;
                }
                if !self.word("in") {
                    return Err(self.expected("'in' after a quoted value"));
                }
                self.pos += 1;
                let selector = self.selector()?;
                let op = if negated {
                    Op::NotContains
                } else {
                    Op::Contains
                };
                return Ok(Expr::Match {
                    selector,
                    op,
                    value: Some(Operand::One(s)),
                });
            }
            _ => return Err(self.expected("a selector")),
        };
        let selector = split_selector(&first);
        let op = match self.peek().cloned() {
            Some(Tok::Eq) => Op::Eq,
            Some(Tok::Ne) => Op::Ne,
            Some(Tok::Word(w)) => match w.as_str() {
                "contains" => Op::Contains,
                "in" => Op::In,
                "matches" => Op::Matches,
                "is" => {
                    self.pos += 1;
                    let not = self.word("not");
                    if not {
                        self.pos += 1;
                    }
                    if !self.word("empty") {
                        return Err(self.expected("'empty' after 'is'"));
                    }
                    self.pos += 1;
                    let op = if not { Op::IsNotEmpty } else { Op::IsEmpty };
                    return Ok(Expr::Match {
                        selector,
                        op,
                        value: None,
                    });
                }
                "not" => {
                    self.pos += 1;
                    match self.peek() {
                        Some(Tok::Word(w)) if w == "contains" => Op::NotContains,
                        Some(Tok::Word(w)) if w == "in" => Op::NotIn,
                        Some(Tok::Word(w)) if w == "matches" => Op::NotMatches,
                        _ => return Err(self.expected("'contains', 'in' or 'matches' after 'not'")),
                    }
                }
                _ => return Err(FilterError::UnknownOperator(snippet(&w))),
            },
            _ => return Err(self.expected("an operator")),
        };
        self.pos += 1;
        let value = if matches!(op, Op::In | Op::NotIn) && self.peek() == Some(&Tok::LBracket) {
            self.pos += 1;
            let mut list = Vec::new();
            loop {
                if self.peek() == Some(&Tok::RBracket) {
                    self.pos += 1;
                    break;
                }
                list.push(self.value()?);
                match self.peek() {
                    Some(Tok::Comma) => self.pos += 1,
                    Some(Tok::RBracket) => {
                        self.pos += 1;
                        break;
                    }
                    _ => return Err(self.expected("',' or ']'")),
                }
            }
            Operand::List(list)
        } else if matches!(op, Op::Matches | Op::NotMatches) {
            Operand::Pattern(Pattern::new(&self.value()?)?)
        } else {
            Operand::One(self.value()?)
        };
        Ok(Expr::Match {
            selector,
            op,
            value: Some(value),
        })
    }
    fn selector(&mut self) -> Result<Vec<String>, FilterError> {
        match self.peek() {
            Some(Tok::Word(w)) => {
                let s = split_selector(w);
                self.pos += 1;
                Ok(s)
            }
            _ => Err(self.expected("a selector")),
        }
    }
}

fn split_selector(w: &str) -> Vec<String> {
    w.split('.').map(str::to_owned).collect()
}

/// Parses a filter expression.
///
/// # Errors
/// [`FilterError`]: too long, too deep, or not bexpr's grammar; a `matches`
/// pattern that does not compile.
pub fn parse(s: &str) -> Result<Expr, FilterError> {
    if s.len() > MAX_FILTER_LEN {
        return Err(FilterError::TooLong {
            len: s.len(),
            limit: MAX_FILTER_LEN,
        });
    }
    let mut p = Parser {
        toks: lex(s)?,
        pos: 0,
        depth: 0,
    };
    let e = p.or()?;
    if p.pos < p.toks.len() {
        return Err(p.expected("'and', 'or' or the end"));
    }
    Ok(e)
}

/// The values a selector reaches in `v`, following lists element by element.
fn select<'a>(v: &'a Value, path: &[String], out: &mut Vec<&'a Value>) {
    match path.split_first() {
        None => out.push(v),
        Some((head, rest)) => match v {
            Value::Object(map) => {
                if let Some(next) = map.get(head) {
                    select(next, rest, out);
                }
            }
            Value::Array(items) => {
                for item in items {
                    select(item, path, out);
                }
            }
            _ => {}
        },
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// Applies `?filter=` (when given) to a list or to a map's values.
///
/// # Errors
/// 400 with the parser's reason for a malformed filter (or a query string
/// over its limits).
pub fn apply(p: &super::query::Params, body: Value) -> Result<Value, super::error::ApiError> {
    p.check()?;
    let Some(f) = p.get("filter").filter(|f| !f.trim().is_empty()) else {
        return Ok(body);
    };
    let e = parse(f).map_err(|e| {
        super::error::ApiError::BadRequest(format!(
            "Failed to create boolean expression evaluator: {e}"
        ))
    })?;
    Ok(match body {
        Value::Array(items) => Value::Array(items.into_iter().filter(|i| eval(&e, i)).collect()),
        Value::Object(map) => Value::Object(map.into_iter().filter(|(_, i)| eval(&e, i)).collect()),
        other => other,
    })
}

/// `true` when `item` matches `e`.
pub fn eval(e: &Expr, item: &Value) -> bool {
    match e {
        Expr::And(terms) => terms.iter().all(|t| eval(t, item)),
        Expr::Or(terms) => terms.iter().any(|t| eval(t, item)),
        Expr::Not(a) => !eval(a, item),
        Expr::Match {
            selector,
            op,
            value,
        } => {
            let mut found = Vec::new();
            select(item, selector, &mut found);
            let one = match value {
                Some(Operand::One(s)) => s.as_str(),
                _ => "",
            };
            let contains = |v: &Value| match v {
                Value::Array(a) => a.iter().any(|x| text(x) == one),
                Value::Object(o) => o.contains_key(one),
                Value::String(s) => s.contains(one),
                _ => false,
            };
            let regex_hit = || match value {
                Some(Operand::Pattern(p)) => found.iter().any(|v| p.regex.is_match(&text(v))),
                _ => false,
            };
            match op {
                Op::Eq => found.iter().any(|v| text(v) == one),
                Op::Ne => !found.iter().any(|v| text(v) == one),
                Op::Contains => found.iter().any(|v| contains(v)),
                Op::NotContains => !found.iter().any(|v| contains(v)),
                Op::In | Op::NotIn => {
                    let hit = match value {
                        Some(Operand::List(list)) => found.iter().any(|v| list.contains(&text(v))),
                        _ => found.iter().any(|v| one.contains(&text(v))),
                    };
                    hit == (*op == Op::In)
                }
                Op::IsEmpty => found.iter().all(|v| is_empty(v)),
                Op::IsNotEmpty => found.iter().any(|v| !is_empty(v)),
                Op::Matches => regex_hit(),
                Op::NotMatches => !regex_hit(),
            }
        }
    }
}

#[cfg(test)]
mod tests;
