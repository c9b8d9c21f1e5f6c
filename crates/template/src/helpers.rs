//! consul-template's helper functions (no remote data): encodings, string
//! and list helpers, `byKey`/`byTag`/`explode`, parsing, regular
//! expressions, JSON/YAML output, `loop`, `timestamp` and the math functions
//! with consul-template's argument order (`subtract 2 5` is 3). Pure; every
//! result is bounded by the render's limits.

use std::collections::BTreeMap;
use std::rc::Rc;

use base64::Engine as _;

use crate::encode;
use crate::funcs::{arity, arity_range, want_int, want_str, want_strings, CResult, CallErr};
use crate::value::{from_json, Map, Value};
use crate::{Limits, RenderOptions};

/// The names this module answers.
pub(crate) const NAMES: &[&str] = &[
    "base64Decode",
    "base64Encode",
    "base64URLDecode",
    "base64URLEncode",
    "byKey",
    "byTag",
    "byMeta",
    "contains",
    "containsAll",
    "containsAny",
    "containsNone",
    "containsNotAll",
    "explode",
    "explodeMap",
    "in",
    "indent",
    "loop",
    "join",
    "trim",
    "trimPrefix",
    "trimSuffix",
    "trimSpace",
    "parseBool",
    "parseFloat",
    "parseInt",
    "parseJSON",
    "parseUint",
    "regexReplaceAll",
    "regexMatch",
    "replaceAll",
    "split",
    "splitToMap",
    "timestamp",
    "toLower",
    "toUpper",
    "toTitle",
    "toJSON",
    "toJSONPretty",
    "toUnescapedJSON",
    "toUnescapedJSONPretty",
    "toYAML",
    "add",
    "subtract",
    "multiply",
    "divide",
    "modulo",
    "minimum",
    "maximum",
];

fn fail(m: impl Into<String>) -> CallErr {
    CallErr::Fail(m.into())
}

fn s1<'a>(name: &str, args: &'a [Value]) -> Result<&'a str, CallErr> {
    arity(name, args, 1)?;
    want_str(name, &args[0])
}

/// Runs helper `name`.
pub(crate) fn call(name: &str, args: &[Value], opts: &RenderOptions, limits: &Limits) -> CResult {
    let b64 = base64::engine::general_purpose::STANDARD;
    let b64url = base64::engine::general_purpose::URL_SAFE;
    match name {
        "base64Encode" => Ok(Value::String(b64.encode(s1(name, args)?))),
        "base64URLEncode" => Ok(Value::String(b64url.encode(s1(name, args)?))),
        "base64Decode" | "base64URLDecode" => {
            let s = s1(name, args)?;
            let r = if name == "base64Decode" {
                b64.decode(s)
            } else {
                b64url.decode(s)
            };
            r.map(|b| Value::String(String::from_utf8_lossy(&b).into_owned()))
                .map_err(|e| fail(format!("{name}: illegal base64 data: {e}")))
        }
        "byKey" => by_key(args),
        "byTag" => by_tag(args),
        "byMeta" => by_meta(args),
        "contains" => {
            arity(name, args, 2)?;
            Ok(Value::Bool(contained(&args[1], &args[0])))
        }
        "in" => {
            arity(name, args, 2)?;
            Ok(Value::Bool(contained(&args[0], &args[1])))
        }
        "containsAll" | "containsAny" | "containsNone" | "containsNotAll" => {
            arity(name, args, 2)?;
            let Value::List(needles) = &args[0] else {
                return Err(CallErr::Plain(format!(
                    "wrong type for value; expected []interface {{}}; got {}",
                    args[0].type_name()
                )));
            };
            let (ret_true, invert) = match name {
                "containsAll" => (true, true),
                "containsAny" => (false, false),
                "containsNone" => (true, false),
                _ => (false, true),
            };
            for n in needles.iter() {
                if contained(&args[1], n) != invert {
                    return Ok(Value::Bool(!ret_true));
                }
            }
            Ok(Value::Bool(ret_true))
        }
        "explode" => explode(args),
        "explodeMap" => {
            arity(name, args, 1)?;
            let Value::Map(m) = &args[0] else {
                return Err(CallErr::Plain(format!(
                    "wrong type for value; expected map[string]interface {{}}; got {}",
                    args[0].type_name()
                )));
            };
            let mut out = BTreeMap::new();
            for (k, v) in &m.entries {
                explode_into(&mut out, k, v.clone(), k)
                    .map_err(|e| fail(format!("explodeMap: {e}")))?;
            }
            Ok(Value::map(out))
        }
        "indent" => {
            arity(name, args, 2)?;
            let n = want_int(&args[0])?;
            let s = want_str(name, &args[1])?;
            if n < 0 {
                return Err(fail("indent value must be a positive integer"));
            }
            let lines = s.bytes().filter(|b| *b == b'\n').count() as u64 + 1;
            if (n as u64).saturating_mul(lines) > limits.max_output_bytes as u64 {
                return Err(fail("indent: result exceeds the output limit"));
            }
            let prefix = " ".repeat(n as usize);
            let mut out = String::with_capacity(s.len());
            let mut at_start = true;
            for c in s.chars() {
                if at_start && c != '\n' {
                    out.push_str(&prefix);
                }
                out.push(c);
                at_start = c == '\n';
            }
            Ok(Value::String(out))
        }
        "loop" => {
            arity_range(name, args, 1, 2)?;
            let to_int = |v: &Value| -> Result<i64, CallErr> {
                match v {
                    Value::Int(i) => Ok(*i),
                    Value::String(s) => parse_int(s),
                    other => Err(fail(format!(
                        "loop: bad argument type: {}",
                        other.type_name()
                    ))),
                }
            };
            let (start, stop) = if args.len() == 1 {
                (0, to_int(&args[0])?)
            } else {
                (to_int(&args[0])?, to_int(&args[1])?)
            };
            let count = (stop as i128 - start as i128).max(0);
            if count > limits.max_iterations as i128 {
                return Err(fail(format!(
                    "loop: {count} iterations exceed the limit of {}",
                    limits.max_iterations
                )));
            }
            Ok(Value::list((start..stop).map(Value::Int).collect()))
        }
        "join" => {
            arity(name, args, 2)?;
            let sep = want_str(name, &args[0])?;
            let parts = want_strings(&args[1])?;
            let total: usize = parts.iter().map(String::len).sum::<usize>()
                + sep.len().saturating_mul(parts.len());
            if total > limits.max_output_bytes {
                return Err(fail("join: result exceeds the output limit"));
            }
            Ok(Value::String(parts.join(sep)))
        }
        "trim" | "trimPrefix" | "trimSuffix" => {
            arity(name, args, 2)?;
            let a = want_str(name, &args[0])?;
            let s = want_str(name, &args[1])?;
            Ok(Value::str(match name {
                "trim" => s.trim_matches(|c| a.contains(c)),
                "trimPrefix" => s.strip_prefix(a).unwrap_or(s),
                _ => s.strip_suffix(a).unwrap_or(s),
            }))
        }
        "trimSpace" => Ok(Value::str(s1(name, args)?.trim())),
        "parseBool" => {
            let s = s1(name, args)?;
            Ok(Value::Bool(match s {
                "" => false,
                "1" | "t" | "T" | "TRUE" | "true" | "True" => true,
                "0" | "f" | "F" | "FALSE" | "false" | "False" => false,
                _ => {
                    return Err(fail(format!(
                        "parseBool: strconv.ParseBool: parsing {s:?}: invalid syntax"
                    )))
                }
            }))
        }
        "parseFloat" => {
            let s = s1(name, args)?;
            if s.is_empty() {
                return Ok(Value::Float(0.0));
            }
            s.parse::<f64>().map(Value::Float).map_err(|_| {
                fail(format!(
                    "parseFloat: strconv.ParseFloat: parsing {s:?}: invalid syntax"
                ))
            })
        }
        "parseInt" => parse_int(s1(name, args)?).map(Value::Int),
        "parseUint" => {
            let s = s1(name, args)?;
            if s.is_empty() {
                return Ok(Value::Int(0));
            }
            match s.parse::<u64>() {
                Ok(u) => i64::try_from(u).map(Value::Int).map_err(|_| {
                    fail(format!(
                        "parseUint: {s:?} does not fit in a signed 64-bit integer"
                    ))
                }),
                Err(_) => Err(fail(format!(
                    "parseUint: strconv.ParseUint: parsing {s:?}: invalid syntax"
                ))),
            }
        }
        "parseJSON" => {
            let s = s1(name, args)?;
            if s.is_empty() {
                return Ok(Value::map(BTreeMap::new()));
            }
            serde_json::from_str::<serde_json::Value>(s)
                .map(|j| from_json(&j))
                .map_err(|e| fail(e.to_string()))
        }
        "regexReplaceAll" => {
            arity(name, args, 3)?;
            let re = regex_of(want_str(name, &args[0])?)?;
            let repl = want_str(name, &args[1])?;
            let s = want_str(name, &args[2])?;
            let n = re.find_iter(s).count();
            if s.len()
                .saturating_add(n.saturating_mul(repl.len().saturating_mul(4)))
                > limits.max_output_bytes
            {
                return Err(fail("regexReplaceAll: result exceeds the output limit"));
            }
            Ok(Value::String(re.replace_all(s, repl).into_owned()))
        }
        "regexMatch" => {
            arity(name, args, 2)?;
            let re = regex_of(want_str(name, &args[0])?)?;
            Ok(Value::Bool(re.is_match(want_str(name, &args[1])?)))
        }
        "replaceAll" => {
            arity(name, args, 3)?;
            let from = want_str(name, &args[0])?;
            let to = want_str(name, &args[1])?;
            let s = want_str(name, &args[2])?;
            let n = if from.is_empty() {
                s.chars().count() + 1
            } else {
                s.matches(from).count()
            };
            if s.len().saturating_add(n.saturating_mul(to.len())) > limits.max_output_bytes {
                return Err(fail("replaceAll: result exceeds the output limit"));
            }
            Ok(Value::String(s.replace(from, to)))
        }
        "split" => {
            arity(name, args, 2)?;
            let sep = want_str(name, &args[0])?;
            let s = want_str(name, &args[1])?.trim();
            if s.is_empty() {
                return Ok(Value::list(Vec::new()));
            }
            let parts: Vec<Value> = if sep.is_empty() {
                s.chars().map(|c| Value::String(c.to_string())).collect()
            } else {
                s.split(sep).map(Value::str).collect()
            };
            Ok(Value::list(parts))
        }
        "splitToMap" => {
            arity(name, args, 3)?;
            let sep1 = want_str(name, &args[0])?;
            let sep2 = want_str(name, &args[1])?;
            let s = want_str(name, &args[2])?.trim();
            let mut m = BTreeMap::new();
            if !s.is_empty() && !sep1.is_empty() && !sep2.is_empty() {
                for part in s.split(sep1) {
                    if let Some((k, v)) = part.split_once(sep2) {
                        m.insert(k.to_string(), Value::str(v));
                    }
                }
            }
            Ok(Value::Map(Rc::new(Map {
                entries: m,
                zero: Value::str(""),
            })))
        }
        "timestamp" => {
            arity_range(name, args, 0, 1)?;
            let Some(now) = opts.now_unix else {
                return Err(fail("timestamp: the render was given no clock"));
            };
            let layout = match args.first() {
                Some(v) => want_str(name, v)?,
                None => "2006-01-02T15:04:05Z07:00",
            };
            if layout == "unix" {
                return Ok(Value::String(now.to_string()));
            }
            Ok(Value::String(crate::timefmt::format(now, layout)))
        }
        "toLower" => Ok(Value::String(s1(name, args)?.to_lowercase())),
        "toUpper" => Ok(Value::String(s1(name, args)?.to_uppercase())),
        "toTitle" => Ok(Value::String(title(s1(name, args)?))),
        "toJSON" | "toJSONPretty" | "toUnescapedJSON" | "toUnescapedJSONPretty" => {
            arity(name, args, 1)?;
            let pretty = name.ends_with("Pretty");
            let escape = !name.starts_with("toUnescaped");
            encode::to_json(&args[0], pretty, escape)
                .map(Value::String)
                .map_err(|e| fail(format!("{name}: {e}")))
        }
        "toYAML" => {
            arity(name, args, 1)?;
            Ok(Value::String(encode::to_yaml(&args[0])))
        }
        "add" | "subtract" | "multiply" | "divide" | "modulo" | "minimum" | "maximum" => {
            arity(name, args, 2)?;
            math(name, &args[0], &args[1])
        }
        _ => Err(CallErr::Plain(format!("function {name:?} not defined"))),
    }
}

fn parse_int(s: &str) -> Result<i64, CallErr> {
    if s.is_empty() {
        return Ok(0);
    }
    s.parse::<i64>().map_err(|_| {
        fail(format!(
            "parseInt: strconv.ParseInt: parsing {s:?}: invalid syntax"
        ))
    })
}

fn regex_of(re: &str) -> Result<regex::Regex, CallErr> {
    regex::RegexBuilder::new(re)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| fail(format!("error parsing regexp: {e}")))
}

/// `strings.Title`-like: the first letter of each word upper-cased.
fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut boundary = true;
    for c in s.chars() {
        if boundary && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        boundary = !(c.is_alphanumeric() || c == '\'' || c == '_');
    }
    out
}

/// consul-template's `in(l, v)`: membership in a list (same type, by value)
/// or substring of a string.
fn contained(l: &Value, v: &Value) -> bool {
    match l {
        Value::List(items) => items.iter().any(|x| match (x, v) {
            (Value::Int(a), Value::Int(b)) => a == b,
            (Value::Float(a), Value::Float(b)) => a == b,
            (Value::String(a), Value::String(b)) => a == b,
            _ => false,
        }),
        Value::String(s) => matches!(v, Value::String(n) if s.contains(n.as_str())),
        _ => false,
    }
}

fn record_list<'a>(name: &str, v: &'a Value) -> Result<&'a [Value], CallErr> {
    match v {
        Value::List(l) => Ok(l),
        Value::Nil => Ok(&[]),
        other => Err(fail(format!(
            "{name}: wrong argument type {}",
            other.type_name()
        ))),
    }
}

fn by_key(args: &[Value]) -> CResult {
    arity("byKey", args, 1)?;
    let mut groups: BTreeMap<String, BTreeMap<String, Value>> = BTreeMap::new();
    for p in record_list("byKey", &args[0])? {
        let Value::Record(r) = p else {
            return Err(fail(format!(
                "byKey: wrong argument type {}",
                p.type_name()
            )));
        };
        let key = r.get("Key").and_then(Value::as_str).unwrap_or("");
        let (top, rest) = key.split_once('/').unwrap_or((key, ""));
        if rest.is_empty() {
            continue;
        }
        let mut copy = (**r).clone();
        for (n, v) in copy.fields.iter_mut() {
            if *n == "Key" {
                *v = Value::str(rest);
            }
        }
        groups
            .entry(top.to_string())
            .or_default()
            .insert(rest.to_string(), Value::Record(Rc::new(copy)));
    }
    Ok(Value::Map(Rc::new(Map {
        entries: groups
            .into_iter()
            .map(|(k, m)| {
                (
                    k,
                    Value::Map(Rc::new(Map {
                        entries: m,
                        zero: Value::Nil,
                    })),
                )
            })
            .collect(),
        zero: Value::Map(Rc::new(Map {
            entries: BTreeMap::new(),
            zero: Value::Nil,
        })),
    })))
}

fn by_tag(args: &[Value]) -> CResult {
    arity("byTag", args, 1)?;
    let mut groups: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for s in record_list("byTag", &args[0])? {
        let tags = match s {
            Value::Record(r) => r.get("Tags").cloned(),
            _ => None,
        };
        let Some(Value::List(tags)) = tags else {
            return Err(fail(format!(
                "byTag: wrong argument type {}",
                s.type_name()
            )));
        };
        for t in tags.iter() {
            if let Value::String(t) = t {
                groups.entry(t.clone()).or_default().push(s.clone());
            }
        }
    }
    Ok(Value::Map(Rc::new(Map {
        entries: groups
            .into_iter()
            .map(|(k, v)| (k, Value::list(v)))
            .collect(),
        zero: Value::list(Vec::new()),
    })))
}

/// consul-template's `byMeta "key1,key2|int"`: groups services by the
/// values of their `ServiceMeta` keys joined with `_`.
fn by_meta(args: &[Value]) -> CResult {
    arity("byMeta", args, 2)?;
    let spec = want_str("byMeta", &args[0])?;
    let mut groups: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for s in record_list("byMeta", &args[1])? {
        let meta = match s {
            Value::Record(r) => r.get("ServiceMeta").cloned(),
            _ => None,
        };
        let Some(Value::Map(meta)) = meta else {
            return Err(fail(format!(
                "byMeta: wrong argument type {}",
                s.type_name()
            )));
        };
        let mut parts = Vec::new();
        for key in spec.split(',') {
            let (k, as_int) = match key.strip_suffix("|int") {
                Some(k) => (k, true),
                None => (key, false),
            };
            let found = meta.entries.get(k).and_then(Value::as_str).unwrap_or("");
            let mut value = match (found.is_empty(), as_int) {
                (false, _) => found.to_string(),
                (true, true) => "0".to_string(),
                (true, false) => format!("_no_{k}_"),
            };
            if as_int {
                let i: i64 = value
                    .parse()
                    .map_err(|_| fail(format!("cannot parse {value} as number ")))?;
                value = format!("{i:05}");
            }
            let value: String = value
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            parts.push(value);
        }
        groups.entry(parts.join("_")).or_default().push(s.clone());
    }
    Ok(Value::Map(Rc::new(Map {
        entries: groups
            .into_iter()
            .map(|(k, v)| (k, Value::list(v)))
            .collect(),
        zero: Value::list(Vec::new()),
    })))
}

fn explode(args: &[Value]) -> CResult {
    arity("explode", args, 1)?;
    let mut out = BTreeMap::new();
    for p in record_list("explode", &args[0])? {
        let Value::Record(r) = p else {
            return Err(fail(format!(
                "explode: wrong argument type {}",
                p.type_name()
            )));
        };
        let key = r
            .get("Key")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let value = r.get("Value").cloned().unwrap_or(Value::str(""));
        explode_into(&mut out, &key, value, &key).map_err(|e| fail(format!("explode: {e}")))?;
    }
    Ok(Value::map(out))
}

fn explode_into(
    m: &mut BTreeMap<String, Value>,
    k: &str,
    v: Value,
    path: &str,
) -> Result<(), String> {
    if k.matches('/').count() >= crate::value::MAX_VALUE_DEPTH {
        return Err(format!(
            "{path:?} has more than {} levels",
            crate::value::MAX_VALUE_DEPTH
        ));
    }
    if let Some((top, rest)) = k.split_once('/') {
        let entry = m
            .entry(top.to_string())
            .or_insert_with(|| Value::map(BTreeMap::new()));
        let Value::Map(nested) = entry else {
            let mut existing = String::new();
            entry.write_v(&mut existing, true);
            return Err(format!(
                "not a map: {path:?}: {top:?} already has value {existing:?}"
            ));
        };
        let mut inner = nested.entries.clone();
        explode_into(&mut inner, rest, v, k)?;
        *entry = Value::map(inner);
        return Ok(());
    }
    if !k.is_empty() {
        m.insert(k.to_string(), v);
    }
    Ok(())
}

/// consul-template's math: `name b a` computes `a op b`; ints stay ints,
/// a float on either side makes a float.
fn math(name: &str, b: &Value, a: &Value) -> CResult {
    let unknown = |v: &Value| {
        fail(format!(
            "{name}: unknown type for {:?} ({})",
            v.to_output(),
            v.type_name()
        ))
    };
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => {
            let (x, y) = (*x, *y);
            Ok(Value::Int(match name {
                "add" => x.wrapping_add(y),
                "subtract" => x.wrapping_sub(y),
                "multiply" => x.wrapping_mul(y),
                "divide" | "modulo" if y == 0 => {
                    return Err(fail("runtime error: integer divide by zero"))
                }
                "divide" => x.wrapping_div(y),
                "modulo" => x.wrapping_rem(y),
                "minimum" => x.min(y),
                _ => x.max(y),
            }))
        }
        (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_)) => {
            if name == "modulo" {
                let bad = if matches!(a, Value::Float(_)) { a } else { b };
                return Err(unknown(bad));
            }
            let f = |v: &Value| match v {
                Value::Int(i) => *i as f64,
                Value::Float(f) => *f,
                _ => 0.0,
            };
            let (x, y) = (f(a), f(b));
            Ok(match name {
                "add" => Value::Float(x + y),
                "subtract" => Value::Float(x - y),
                "multiply" => Value::Float(x * y),
                "divide" => Value::Float(x / y),
                // minimum and maximum keep the winner's own type.
                "minimum" => {
                    if x < y {
                        a.clone()
                    } else {
                        b.clone()
                    }
                }
                _ => {
                    if x > y {
                        a.clone()
                    } else {
                        b.clone()
                    }
                }
            })
        }
        (Value::Int(_) | Value::Float(_), other) => Err(unknown(other)),
        (other, _) => Err(unknown(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(name: &str, args: Vec<Value>) -> CResult {
        call(name, &args, &RenderOptions::default(), &Limits::default())
    }

    #[test]
    fn math_takes_its_arguments_in_consul_templates_order() {
        assert_eq!(
            run("subtract", vec![Value::Int(2), Value::Int(5)])
                .unwrap()
                .to_output(),
            "3"
        );
        assert_eq!(
            run("divide", vec![Value::Int(2), Value::Int(10)])
                .unwrap()
                .to_output(),
            "5"
        );
        assert_eq!(
            run("modulo", vec![Value::Int(2), Value::Int(5)])
                .unwrap()
                .to_output(),
            "1"
        );
        assert_eq!(
            run("maximum", vec![Value::Int(2), Value::Int(5)])
                .unwrap()
                .to_output(),
            "5"
        );
        assert_eq!(
            run("add", vec![Value::Float(1.5), Value::Int(2)])
                .unwrap()
                .to_output(),
            "3.5"
        );
        assert!(run("divide", vec![Value::Int(0), Value::Int(1)]).is_err());
        assert!(run("add", vec![Value::str("a"), Value::Int(1)]).is_err());
    }

    #[test]
    fn loop_is_bounded_by_the_iteration_limit() {
        let err = run("loop", vec![Value::Int(i64::MAX)]).unwrap_err();
        assert!(err.message("loop").contains("exceed the limit"));
        assert_eq!(
            run("loop", vec![Value::Int(5), Value::Int(8)])
                .unwrap()
                .to_output(),
            "[5 6 7]"
        );
    }

    #[test]
    fn split_trims_and_splits_like_consul_template() {
        assert_eq!(
            run("split", vec![Value::str(","), Value::str(" a,b ")])
                .unwrap()
                .to_output(),
            "[a b]"
        );
        assert_eq!(
            run("split", vec![Value::str(","), Value::str("  ")])
                .unwrap()
                .to_output(),
            "[]"
        );
    }
}
