//! Consul's `?filter=` expressions (go-bexpr), evaluated against the JSON
//! of each item an endpoint returns: `Service.Tags contains "v1"`,
//! `Meta.env == "prod" and Port != 80`, `Node.Node in ["a", "b"]`,
//! `not (Service matches "^web")`, `Meta is empty`. Selectors are dotted
//! field paths as the JSON names them; on a list, a comparison holds when it
//! holds for any element (as bexpr does for `Checks.Status == critical`).

use serde_json::Value;

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
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

fn lex(s: &str) -> Result<Vec<Tok>, String> {
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
                    return Err(format!("expected {c}= in the filter"));
                }
                out.push(if c == '=' { Tok::Eq } else { Tok::Ne });
            }
            '"' | '`' => {
                let quote = c;
                it.next();
                let mut v = String::new();
                loop {
                    match it.next() {
                        None => return Err("unterminated string in the filter".into()),
                        Some('\\') if quote == '"' => {
                            if let Some(e) = it.next() {
                                v.push(e);
                            }
                        }
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
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(x)) if x == w)
    }
    fn or(&mut self) -> Result<Expr, String> {
        let mut left = self.and()?;
        while self.word("or") {
            self.pos += 1;
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }
    fn and(&mut self) -> Result<Expr, String> {
        let mut left = self.unary()?;
        while self.word("and") {
            self.pos += 1;
            left = Expr::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }
    fn unary(&mut self) -> Result<Expr, String> {
        if self.word("not") {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if self.peek() == Some(&Tok::LParen) {
            self.pos += 1;
            let e = self.or()?;
            if self.next() != Some(Tok::RParen) {
                return Err("missing ) in the filter".into());
            }
            return Ok(e);
        }
        self.comparison()
    }
    fn value(&mut self) -> Result<String, String> {
        match self.next() {
            Some(Tok::Str(s) | Tok::Word(s)) => Ok(s),
            other => Err(format!("expected a value in the filter, found {other:?}")),
        }
    }
    fn comparison(&mut self) -> Result<Expr, String> {
        // `value in Selector` and `value not in Selector` read right to left.
        let first = match self.next() {
            Some(Tok::Word(w)) => w,
            Some(Tok::Str(s)) => {
                let negated = self.word("not");
                if negated {
                    self.pos += 1;
                }
                if !self.word("in") {
                    return Err(format!("expected 'in' after {s:?} in the filter"));
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
            other => {
                return Err(format!(
                    "expected a selector in the filter, found {other:?}"
                ))
            }
        };
        let selector: Vec<String> = first.split('.').map(str::to_owned).collect();
        let op = match self.next() {
            Some(Tok::Eq) => Op::Eq,
            Some(Tok::Ne) => Op::Ne,
            Some(Tok::Word(w)) => match w.as_str() {
                "contains" => Op::Contains,
                "in" => Op::In,
                "matches" => Op::Matches,
                "is" => {
                    let not = self.word("not");
                    if not {
                        self.pos += 1;
                    }
                    if !self.word("empty") {
                        return Err("expected 'empty' after 'is' in the filter".into());
                    }
                    self.pos += 1;
                    let op = if not { Op::IsNotEmpty } else { Op::IsEmpty };
                    return Ok(Expr::Match {
                        selector,
                        op,
                        value: None,
                    });
                }
                "not" => match self.next() {
                    Some(Tok::Word(w)) if w == "contains" => Op::NotContains,
                    Some(Tok::Word(w)) if w == "in" => Op::NotIn,
                    Some(Tok::Word(w)) if w == "matches" => Op::NotMatches,
                    other => return Err(format!("unexpected {other:?} after 'not' in the filter")),
                },
                other => return Err(format!("unknown operator {other:?} in the filter")),
            },
            other => {
                return Err(format!(
                    "expected an operator in the filter, found {other:?}"
                ))
            }
        };
        let value = if matches!(op, Op::In | Op::NotIn) && self.peek() == Some(&Tok::LBracket) {
            self.pos += 1;
            let mut list = Vec::new();
            loop {
                if self.peek() == Some(&Tok::RBracket) {
                    self.pos += 1;
                    break;
                }
                list.push(self.value()?);
                match self.next() {
                    Some(Tok::Comma) => {}
                    Some(Tok::RBracket) => break,
                    other => return Err(format!("expected , or ] in the filter, found {other:?}")),
                }
            }
            Operand::List(list)
        } else {
            Operand::One(self.value()?)
        };
        Ok(Expr::Match {
            selector,
            op,
            value: Some(value),
        })
    }
    fn selector(&mut self) -> Result<Vec<String>, String> {
        match self.next() {
            Some(Tok::Word(w)) => Ok(w.split('.').map(str::to_owned).collect()),
            other => Err(format!(
                "expected a selector in the filter, found {other:?}"
            )),
        }
    }
}

/// Parses a filter expression.
///
/// # Errors
/// A one-line reason naming what was expected.
pub fn parse(s: &str) -> Result<Expr, String> {
    let mut p = Parser {
        toks: lex(s)?,
        pos: 0,
    };
    let e = p.or()?;
    if p.pos < p.toks.len() {
        return Err(format!("unexpected {:?} in the filter", p.toks[p.pos]));
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
/// 400 with the parser's reason for a malformed filter.
pub fn apply(p: &super::query::Params, body: Value) -> Result<Value, super::error::ApiError> {
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
        Expr::And(a, b) => eval(a, item) && eval(b, item),
        Expr::Or(a, b) => eval(a, item) || eval(b, item),
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
            let regex = || regex_lite::Regex::new(one).ok();
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
                Op::Matches => regex().is_some_and(|r| found.iter().any(|v| r.is_match(&text(v)))),
                Op::NotMatches => {
                    regex().is_some_and(|r| !found.iter().any(|v| r.is_match(&text(v))))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn matches(f: &str, v: &Value) -> bool {
        eval(&parse(f).unwrap(), v)
    }

    #[test]
    fn consuls_documented_forms() {
        let svc = json!({"Service": "web", "Tags": ["v1", "canary"], "Port": 8080,
                         "Meta": {"env": "prod"}, "Address": ""});
        assert!(matches(r#"Service == "web""#, &svc));
        assert!(matches("Service == web", &svc));
        assert!(matches(r#"Tags contains "v1""#, &svc));
        assert!(matches(r#""canary" in Tags"#, &svc));
        assert!(matches(r#""beta" not in Tags"#, &svc));
        assert!(matches(r#"Meta.env == "prod" and Port != 80"#, &svc));
        assert!(matches(r#"Port == 8080"#, &svc));
        assert!(matches(r#"Service in ["web", "api"]"#, &svc));
        assert!(!matches(r#"Service not in ["web", "api"]"#, &svc));
        assert!(matches(r#"Service matches "^w.b$""#, &svc));
        assert!(matches("Address is empty and Meta is not empty", &svc));
        assert!(matches(r#"not (Service == "db" or Port == 1)"#, &svc));
        assert!(matches("Meta contains env", &svc));
        assert!(!matches(r#"Meta.env != "prod""#, &svc));
    }

    #[test]
    fn lists_of_objects_match_on_any_element() {
        let entry = json!({"Checks": [{"Status": "passing"}, {"Status": "critical"}]});
        assert!(matches("Checks.Status == critical", &entry));
        assert!(!matches("Checks.Status != critical", &entry));
    }

    #[test]
    fn malformed_filters_are_errors_not_matches() {
        for bad in [
            "Service ==",
            "Service ~ web",
            "(Service == web",
            r#"Service == "web"#,
            "Tags contains",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
