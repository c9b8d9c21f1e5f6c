//! Encoders behind `toJSON`, `toJSONPretty`, `toUnescapedJSON(Pretty)` and
//! `toYAML`: Go's `encoding/json` output (sorted map keys, struct fields in
//! order, HTML-safe escapes, Go's float forms) and `gopkg.in/yaml.v2`'s
//! (block style, lower-cased struct keys, quoting of strings that would read
//! back as other types). Pure.

use std::fmt::Write as _;

use crate::value::Value;

/// Go's JSON encoding of `v`; `indent` gives `MarshalIndent(v, "", "  ")`.
///
/// # Errors
/// NaN and infinities, which Go refuses (`json: unsupported value: NaN`).
pub(crate) fn to_json(v: &Value, indent: bool, escape_html: bool) -> Result<String, String> {
    let mut out = String::new();
    json(&mut out, v, indent, escape_html, 0)?;
    Ok(out)
}

fn json_str(out: &mut String, s: &str, escape_html: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' if escape_html => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Go's `encoding/json` float form.
fn json_float(f: f64) -> Result<String, String> {
    if !f.is_finite() {
        return Err(format!(
            "json: unsupported value: {}",
            crate::format::format_float_g(f, None, false)
        ));
    }
    let a = f.abs();
    if a != 0.0 && !(1e-6..1e21).contains(&a) {
        let s = format!("{f:e}");
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let (sign, digits) = match e.strip_prefix('-') {
            Some(d) => ('-', d),
            None => ('+', e),
        };
        // Go writes at least two exponent digits, then trims "e-07" to "e-7".
        let digits = if digits.len() < 2 && sign == '+' {
            format!("0{digits}")
        } else {
            digits.to_string()
        };
        return Ok(format!("{m}e{sign}{digits}"));
    }
    Ok(format!("{f}"))
}

fn newline(out: &mut String, indent: bool, depth: usize) {
    if indent {
        out.push('\n');
        for _ in 0..depth {
            out.push_str("  ");
        }
    }
}

fn json(out: &mut String, v: &Value, indent: bool, esc: bool, depth: usize) -> Result<(), String> {
    match v {
        Value::NoValue | Value::Nil => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Float(f) => out.push_str(&json_float(*f)?),
        Value::String(s) => json_str(out, s, esc),
        Value::List(l) => {
            if l.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            out.push('[');
            for (i, x) in l.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, indent, depth + 1);
                json(out, x, indent, esc, depth + 1)?;
            }
            newline(out, indent, depth);
            out.push(']');
        }
        Value::Map(m) => {
            let items: Vec<(&str, &Value)> =
                m.entries.iter().map(|(k, v)| (k.as_str(), v)).collect();
            object(out, &items, indent, esc, depth)?;
        }
        Value::Record(r) => {
            let items: Vec<(&str, &Value)> = r.fields.iter().map(|(k, v)| (*k, v)).collect();
            object(out, &items, indent, esc, depth)?;
        }
        Value::Scratch(_) => out.push_str("{}"),
    }
    Ok(())
}

fn object(
    out: &mut String,
    items: &[(&str, &Value)],
    indent: bool,
    esc: bool,
    depth: usize,
) -> Result<(), String> {
    if items.is_empty() {
        out.push_str("{}");
        return Ok(());
    }
    out.push('{');
    for (i, (k, v)) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        newline(out, indent, depth + 1);
        json_str(out, k, esc);
        out.push(':');
        if indent {
            out.push(' ');
        }
        json(out, v, indent, esc, depth + 1)?;
    }
    newline(out, indent, depth);
    out.push('}');
    Ok(())
}

/// yaml.v2's `Marshal(v)` with surrounding space trimmed (as `toYAML` does).
pub(crate) fn to_yaml(v: &Value) -> String {
    let mut out = String::new();
    match v {
        Value::List(l) if !l.is_empty() => yaml_seq(&mut out, l, 0),
        Value::Map(_) | Value::Record(_) if !entries(v).is_empty() => {
            yaml_map(&mut out, &entries(v), 0)
        }
        _ => {
            out.push_str(&scalar(v, 0));
            out.push('\n');
        }
    }
    out.trim().to_string()
}

fn entries(v: &Value) -> Vec<(String, Value)> {
    match v {
        Value::Map(m) => m
            .entries
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        Value::Record(r) => r
            .fields
            .iter()
            .map(|(k, v)| (k.to_lowercase(), v.clone()))
            .collect(),
        _ => Vec::new(),
    }
}

fn pad(out: &mut String, n: usize) {
    for _ in 0..n {
        out.push(' ');
    }
}

fn is_block(v: &Value) -> bool {
    match v {
        Value::List(l) => !l.is_empty(),
        Value::Map(_) | Value::Record(_) => !entries(v).is_empty(),
        _ => false,
    }
}

fn yaml_map(out: &mut String, items: &[(String, Value)], ind: usize) {
    for (i, (k, v)) in items.iter().enumerate() {
        if i > 0 {
            pad(out, ind);
        }
        out.push_str(&yaml_string(k, ind));
        out.push(':');
        match v {
            Value::List(l) if !l.is_empty() => {
                out.push('\n');
                pad(out, ind);
                yaml_seq(out, l, ind);
            }
            _ if is_block(v) => {
                out.push('\n');
                pad(out, ind + 2);
                yaml_map(out, &entries(v), ind + 2);
            }
            _ => {
                out.push(' ');
                out.push_str(&scalar(v, ind + 2));
                out.push('\n');
            }
        }
    }
}

fn yaml_seq(out: &mut String, items: &[Value], ind: usize) {
    for (i, v) in items.iter().enumerate() {
        if i > 0 {
            pad(out, ind);
        }
        out.push('-');
        match v {
            Value::List(l) if !l.is_empty() => {
                out.push(' ');
                yaml_seq(out, l, ind + 2);
            }
            _ if is_block(v) => {
                out.push(' ');
                yaml_map(out, &entries(v), ind + 2);
            }
            _ => {
                out.push(' ');
                out.push_str(&scalar(v, ind + 2));
                out.push('\n');
            }
        }
    }
}

fn scalar(v: &Value, ind: usize) -> String {
    match v {
        Value::NoValue | Value::Nil => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) if f.is_nan() => ".nan".into(),
        Value::Float(f) if f.is_infinite() => if *f > 0.0 { ".inf" } else { "-.inf" }.into(),
        Value::Float(f) => crate::format::format_float_g(*f, None, false),
        Value::String(s) => yaml_string(s, ind),
        Value::List(_) => "[]".into(),
        Value::Map(_) | Value::Record(_) | Value::Scratch(_) => "{}".into(),
    }
}

/// Whether yaml.v2's resolver would read `s` as something other than a string.
fn resolves_to_non_string(s: &str) -> bool {
    const WORDS: &[&str] = &[
        "", "~", "null", "Null", "NULL", "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO",
        "true", "True", "TRUE", "false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF",
        ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", ".nan",
        ".NaN", ".NAN", "<<",
    ];
    if WORDS.contains(&s) {
        return true;
    }
    let plain: String = s.chars().filter(|c| *c != '_').collect();
    let body = plain.strip_prefix(['+', '-']).unwrap_or(&plain);
    let is_int = !body.is_empty()
        && (body.bytes().all(|b| b.is_ascii_digit())
            || body
                .strip_prefix("0x")
                .is_some_and(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()))
            || body
                .strip_prefix("0b")
                .is_some_and(|h| !h.is_empty() && h.bytes().all(|b| b == b'0' || b == b'1')));
    let is_float = body.parse::<f64>().is_ok()
        && body.bytes().any(|b| b.is_ascii_digit())
        && body
            .bytes()
            .all(|b| b.is_ascii_digit() || b".eE+-".contains(&b));
    let b = s.as_bytes();
    let is_date = b.len() >= 8
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && s[5..]
            .split(['-', 'T', 't', ' ', ':', '.', 'Z'])
            .next()
            .is_some_and(|m| {
                !m.is_empty() && m.len() <= 2 && m.bytes().all(|c| c.is_ascii_digit())
            });
    is_int || is_float || is_date
}

fn plain_allowed(s: &str) -> bool {
    let first = s.chars().next().unwrap_or(' ');
    let last = s.chars().last().unwrap_or(' ');
    if first.is_whitespace() || last.is_whitespace() {
        return false;
    }
    if "?:,[]{}#&*!|>'\"%@`".contains(first) {
        return false;
    }
    if first == '-' && (s.len() == 1 || s[1..].starts_with(' ')) {
        return false;
    }
    if last == ':' || s.contains(": ") || s.contains(" #") {
        return false;
    }
    !s.chars().any(|c| c.is_control())
}

fn yaml_string(s: &str, ind: usize) -> String {
    if s.contains('\n') && !s.chars().any(|c| c.is_control() && c != '\n') {
        // Literal block, as yaml.v2 writes multi-line strings.
        let keep = if s.ends_with('\n') { "|" } else { "|-" };
        let mut out = String::from(keep);
        for line in s.strip_suffix('\n').unwrap_or(s).split('\n') {
            out.push('\n');
            if !line.is_empty() {
                pad(&mut out, ind.max(2));
                out.push_str(line);
            }
        }
        return out;
    }
    if resolves_to_non_string(s) || s.chars().any(|c| c.is_control()) {
        let mut out = String::from("\"");
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                c if c.is_control() => {
                    let _ = write!(out, "\\x{:02X}", c as u32);
                }
                c => out.push(c),
            }
        }
        out.push('"');
        return out;
    }
    if !plain_allowed(s) {
        return format!("'{}'", s.replace('\'', "''"));
    }
    s.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn m(pairs: &[(&str, Value)]) -> Value {
        Value::map(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect::<BTreeMap<_, _>>(),
        )
    }

    #[test]
    fn json_sorts_keys_and_escapes_html_like_go() {
        let v = m(&[("b", Value::str("<&>")), ("a", Value::Float(1e21))]);
        assert_eq!(
            to_json(&v, false, true).unwrap(),
            r#"{"a":1e+21,"b":"\u003c\u0026\u003e"}"#
        );
        assert_eq!(
            to_json(&v, false, false).unwrap(),
            r#"{"a":1e+21,"b":"<&>"}"#
        );
        assert_eq!(to_json(&Value::Float(1e-7), false, true).unwrap(), "1e-7");
        assert_eq!(to_json(&Value::Float(2.0), false, true).unwrap(), "2");
    }

    #[test]
    fn yaml_quotes_strings_that_read_back_as_other_types() {
        let v = m(&[
            ("admin", m(&[("port", Value::str("1234"))])),
            ("flag", Value::str("yes")),
            ("name", Value::str("web")),
            ("list", Value::list(vec![Value::str("a"), Value::Int(2)])),
        ]);
        assert_eq!(
            to_yaml(&v),
            "admin:\n  port: \"1234\"\nflag: \"yes\"\nlist:\n- a\n- 2\nname: web"
        );
    }
}
