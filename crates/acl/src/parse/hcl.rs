//! HCL rule text to the syntax-neutral tree, with the line of every key
//! (hcl-edit keeps byte spans; hcl-rs's own values do not).
//! hcl-edit bounds its own nesting (64 levels) and operator chains, so no
//! input overflows the stack here; this reader refuses anything deeper than
//! [`MAX_DEPTH`] on top.

use hcl::edit::expr::{Expression, ObjectKey};
use hcl::edit::structure::{BlockLabel, Body, Structure};
use hcl::edit::Span;

use super::{Entry, Lines, Value, MAX_DEPTH};
use crate::error::RuleError;

pub(super) fn read(text: &str) -> Result<Vec<Entry>, RuleError> {
    let body = hcl::edit::parser::parse_body(text).map_err(|e| {
        let loc = e.location();
        RuleError::at(
            loc.line(),
            format!("{} at column {}", one_line(e.message()), loc.column()),
        )
    })?;
    let lines = Lines::new(text);
    body_entries(&body, &lines, 0)
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn too_deep(line: usize) -> RuleError {
    RuleError::at(line, format!("rules nest deeper than {MAX_DEPTH} levels"))
}

fn line_of(span: Option<std::ops::Range<usize>>, lines: &Lines, fallback: usize) -> usize {
    span.map_or(fallback, |s| lines.line(s.start))
}

fn body_entries(body: &Body, lines: &Lines, depth: usize) -> Result<Vec<Entry>, RuleError> {
    let mut out = Vec::new();
    for s in body.iter() {
        let line = line_of(s.span(), lines, 1);
        if depth > MAX_DEPTH {
            return Err(too_deep(line));
        }
        match s {
            Structure::Attribute(a) => out.push(Entry {
                key: a.key.as_str().to_owned(),
                line: line_of(a.key.span(), lines, line),
                value: expr_value(&a.value, lines, depth + 1, line)?,
            }),
            Structure::Block(b) => {
                // `key "a" { ... }` reads as `key = { "a" = { ... } }`, the
                // way HCL1 (Consul's decoder) expands labelled blocks.
                let mut value = Value::Obj(body_entries(&b.body, lines, depth + 1)?);
                for label in b.labels.iter().rev() {
                    let name = match label {
                        BlockLabel::Ident(i) => i.as_str().to_owned(),
                        BlockLabel::String(s) => s.as_str().to_owned(),
                    };
                    value = Value::Obj(vec![Entry {
                        key: name,
                        line: line_of(label.span(), lines, line),
                        value,
                    }]);
                }
                out.push(Entry {
                    key: b.ident.as_str().to_owned(),
                    line: line_of(b.ident.span(), lines, line),
                    value,
                });
            }
        }
    }
    Ok(out)
}

fn expr_value(
    expr: &Expression,
    lines: &Lines,
    depth: usize,
    line: usize,
) -> Result<Value, RuleError> {
    if depth > MAX_DEPTH {
        return Err(too_deep(line));
    }
    Ok(match expr {
        Expression::String(s) => Value::Str(s.as_str().to_owned()),
        Expression::Object(obj) => {
            let mut entries = Vec::new();
            for (k, v) in obj.iter() {
                let kline = line_of(k.span(), lines, line);
                let key = match k {
                    ObjectKey::Ident(i) => i.as_str().to_owned(),
                    ObjectKey::Expression(Expression::String(s)) => s.as_str().to_owned(),
                    ObjectKey::Expression(_) => {
                        return Err(RuleError::at(
                            kline,
                            "object keys must be names or quoted strings",
                        ))
                    }
                };
                entries.push(Entry {
                    key,
                    line: kline,
                    value: expr_value(v.expr(), lines, depth + 1, kline)?,
                });
            }
            Value::Obj(entries)
        }
        Expression::Array(items) => {
            let mut values = Vec::new();
            for item in items.iter() {
                let iline = line_of(item.span(), lines, line);
                values.push(expr_value(item, lines, depth + 1, iline)?);
            }
            Value::List(values)
        }
        Expression::Null(_) => Value::Other("null"),
        Expression::Bool(_) => Value::Other("a boolean"),
        Expression::Number(_) => Value::Other("a number"),
        Expression::StringTemplate(_) | Expression::HeredocTemplate(_) => {
            Value::Other("a template")
        }
        _ => Value::Other("an expression"),
    })
}
