//! Function dispatch and Go's predefined template functions (`not`, `len`,
//! `index`, `slice`, `print`, `printf`, `println`, `html`, `js`,
//! `urlquery`, `eq`, `ne`, `lt`, `le`, `gt`, `ge`, `call`), with the
//! argument checks and error wording Go's `text/template` uses. `and` and
//! `or` short-circuit in the executor. Pure; never panics on any argument.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use crate::format;
use crate::value::Value;
use crate::{Limits, RenderOptions};

/// Why a function call failed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum CallErr {
    /// Reported as is (argument count and type errors, as Go reports them).
    Plain(String),
    /// Reported as `error calling NAME: reason`.
    Fail(String),
}

impl CallErr {
    pub(crate) fn message(&self, name: &str) -> String {
        match self {
            CallErr::Plain(m) => m.clone(),
            CallErr::Fail(m) => format!("error calling {name}: {m}"),
        }
    }
}

pub(crate) type CResult = Result<Value, CallErr>;

/// Go's predefined functions.
pub(crate) const GO_NAMES: &[&str] = &[
    "and", "or", "not", "len", "index", "slice", "print", "printf", "println", "html", "js",
    "urlquery", "eq", "ne", "lt", "le", "gt", "ge", "call",
];

/// Checks an exact argument count, worded as Go words it.
pub(crate) fn arity(name: &str, args: &[Value], want: usize) -> Result<(), CallErr> {
    if args.len() != want {
        return Err(CallErr::Plain(format!(
            "wrong number of args for {name}: want {want} got {}",
            args.len()
        )));
    }
    Ok(())
}

/// Checks an argument count range.
pub(crate) fn arity_range(
    name: &str,
    args: &[Value],
    min: usize,
    max: usize,
) -> Result<(), CallErr> {
    if args.len() < min || args.len() > max {
        let want = if max == usize::MAX {
            format!("at least {min}")
        } else {
            format!("{min} to {max}")
        };
        return Err(CallErr::Plain(format!(
            "wrong number of args for {name}: want {want} got {}",
            args.len()
        )));
    }
    Ok(())
}

/// A `string` parameter.
pub(crate) fn want_str<'v>(_name: &str, v: &'v Value) -> Result<&'v str, CallErr> {
    match v {
        Value::String(s) => Ok(s),
        Value::Nil | Value::NoValue => Err(CallErr::Plain("invalid value; expected string".into())),
        other => Err(CallErr::Plain(format!(
            "wrong type for value; expected string; got {}",
            other.type_name()
        ))),
    }
}

/// An `int` parameter.
pub(crate) fn want_int(v: &Value) -> Result<i64, CallErr> {
    match v {
        Value::Int(i) => Ok(*i),
        Value::Nil | Value::NoValue => Err(CallErr::Plain("invalid value; expected int".into())),
        other => Err(CallErr::Plain(format!(
            "wrong type for value; expected int; got {}",
            other.type_name()
        ))),
    }
}

/// A `[]string` parameter.
pub(crate) fn want_strings(v: &Value) -> Result<Vec<String>, CallErr> {
    let bad = || {
        CallErr::Plain(format!(
            "wrong type for value; expected []string; got {}",
            v.type_name()
        ))
    };
    match v {
        Value::List(l) => l
            .iter()
            .map(|x| x.as_str().map(str::to_string).ok_or_else(bad))
            .collect(),
        Value::Nil => Ok(Vec::new()),
        _ => Err(bad()),
    }
}

/// Every function a template may call (the parser refuses other names).
pub(crate) fn is_function(name: &str) -> bool {
    GO_NAMES.contains(&name)
        || crate::data::NAMES.contains(&name)
        || crate::helpers::NAMES.contains(&name)
        || name == "scratch"
        || name == "executeTemplate"
}

/// Calls a pure function (Go's or consul-template's helpers), checking the
/// result against the value bounds.
pub(crate) fn call(name: &str, args: &[Value], opts: &RenderOptions, limits: &Limits) -> CResult {
    let v = match name {
        "not" => {
            arity(name, args, 1)?;
            Ok(Value::Bool(!args[0].is_true()))
        }
        "len" => len(args),
        "index" => index(args),
        "slice" => slice(args),
        "print" => Ok(Value::String(format::sprint(args))),
        "println" => Ok(Value::String(format::sprintln(args))),
        "printf" => {
            arity_range(name, args, 1, usize::MAX)?;
            let f = want_str(name, &args[0])?;
            Ok(Value::String(format::sprintf(f, &args[1..])))
        }
        "html" => Ok(Value::String(html_escape(&eval_args(args)))),
        "js" => Ok(Value::String(js_escape(&eval_args(args)))),
        "urlquery" => Ok(Value::String(query_escape(&eval_args(args)))),
        "eq" => {
            arity_range(name, args, 1, usize::MAX)?;
            if args.len() < 2 {
                return Err(CallErr::Fail("missing argument for comparison".into()));
            }
            let mut any = false;
            for b in &args[1..] {
                if eq(&args[0], b)? {
                    any = true;
                    break;
                }
            }
            Ok(Value::Bool(any))
        }
        "ne" => {
            arity(name, args, 2)?;
            Ok(Value::Bool(!eq(&args[0], &args[1])?))
        }
        "lt" | "le" | "gt" | "ge" => {
            arity(name, args, 2)?;
            let lt = lt(&args[0], &args[1])?;
            let r = match name {
                "lt" => lt,
                "le" => lt || eq(&args[0], &args[1])?,
                "gt" => !(lt || eq(&args[0], &args[1])?),
                _ => !lt,
            };
            Ok(Value::Bool(r))
        }
        "call" => {
            arity_range(name, args, 1, usize::MAX)?;
            Err(CallErr::Fail(format!(
                "non-function of type {}",
                args[0].type_name()
            )))
        }
        _ => crate::helpers::call(name, args, opts, limits),
    }?;
    check_size(v, limits)
}

/// Bounds what a single function may produce (strings no longer than the
/// output limit, lists no longer than the iteration limit).
pub(crate) fn check_size(v: Value, limits: &Limits) -> CResult {
    match &v {
        Value::String(s) if s.len() > limits.max_output_bytes => Err(CallErr::Fail(format!(
            "result is {} bytes; the limit is {}",
            s.len(),
            limits.max_output_bytes
        ))),
        Value::List(l) if l.len() as u64 > limits.max_iterations => Err(CallErr::Fail(format!(
            "result has {} elements; the limit is {}",
            l.len(),
            limits.max_iterations
        ))),
        _ => Ok(v),
    }
}

/// The work a call is charged: the size of what it returns, plus the size
/// of what it reads for functions that scan their arguments.
pub(crate) fn cost(name: &str, args: &[Value], result: &Value) -> u64 {
    let scans = !matches!(
        name,
        "len" | "index" | "slice" | "not" | "and" | "or" | "scratch" | "loop"
    );
    let args: u64 = if scans {
        args.iter().map(size).sum()
    } else {
        0
    };
    args + size(result) + 1
}

/// Work units per element of a collection: handling one element (clone,
/// compare, encode) costs far more than copying one byte.
pub(crate) const ELEMENT_COST: u64 = 32;

fn size(v: &Value) -> u64 {
    match v {
        Value::String(s) => s.len() as u64,
        Value::List(l) => l.len() as u64 * ELEMENT_COST,
        Value::Map(m) => m.entries.len() as u64 * ELEMENT_COST,
        Value::Record(r) => r.fields.len() as u64 * ELEMENT_COST,
        _ => 1,
    }
}

fn eval_args(args: &[Value]) -> String {
    match args {
        [Value::String(s)] => s.clone(),
        _ => format::sprint(args),
    }
}

fn len(args: &[Value]) -> CResult {
    arity("len", args, 1)?;
    match &args[0] {
        Value::String(s) => Ok(Value::Int(s.len() as i64)),
        Value::List(l) => Ok(Value::Int(l.len() as i64)),
        Value::Map(m) => Ok(Value::Int(m.entries.len() as i64)),
        Value::Nil | Value::NoValue => Err(CallErr::Fail("len of nil pointer".into())),
        other => Err(CallErr::Fail(format!("len of type {}", other.type_name()))),
    }
}

fn int_index(v: &Value) -> Result<i64, CallErr> {
    match v {
        Value::Int(i) => Ok(*i),
        Value::Nil | Value::NoValue => {
            Err(CallErr::Fail("cannot index slice/array with nil".into()))
        }
        other => Err(CallErr::Fail(format!(
            "cannot index slice/array with type {}",
            other.type_name()
        ))),
    }
}

fn index(args: &[Value]) -> CResult {
    arity_range("index", args, 1, usize::MAX)?;
    let mut item = args[0].clone();
    for ix in &args[1..] {
        item = match &item {
            Value::List(l) => {
                let i = int_index(ix)?;
                if i < 0 || i as usize >= l.len() {
                    return Err(CallErr::Fail(format!("index out of range: {i}")));
                }
                l[i as usize].clone()
            }
            Value::String(s) => {
                let i = int_index(ix)?;
                match usize::try_from(i).ok().and_then(|i| s.as_bytes().get(i)) {
                    Some(b) => Value::Int(*b as i64),
                    None => return Err(CallErr::Fail(format!("index out of range: {i}"))),
                }
            }
            Value::Map(m) => match ix {
                Value::String(k) => m.entries.get(k).cloned().unwrap_or_else(|| m.zero.clone()),
                other => {
                    return Err(CallErr::Fail(format!(
                        "value has type {}; should be string",
                        other.type_name()
                    )))
                }
            },
            Value::Nil | Value::NoValue => {
                return Err(CallErr::Fail("index of untyped nil".into()))
            }
            other => {
                return Err(CallErr::Fail(format!(
                    "can't index item of type {}",
                    other.type_name()
                )))
            }
        };
    }
    Ok(item)
}

fn slice(args: &[Value]) -> CResult {
    arity_range("slice", args, 1, 4)?;
    let idx: Vec<i64> = args[1..].iter().map(int_index).collect::<Result<_, _>>()?;
    let len = match &args[0] {
        Value::String(s) => {
            if idx.len() > 2 {
                return Err(CallErr::Fail("cannot 3-index slice a string".into()));
            }
            s.len()
        }
        Value::List(l) => l.len(),
        Value::Nil | Value::NoValue => return Err(CallErr::Fail("slice of untyped nil".into())),
        other => {
            return Err(CallErr::Fail(format!(
                "can't slice item of type {}",
                other.type_name()
            )))
        }
    } as i64;
    for x in &idx {
        if *x < 0 || *x > len {
            return Err(CallErr::Fail(format!("index out of range: {x}")));
        }
    }
    let i = idx.first().copied().unwrap_or(0);
    let j = idx.get(1).copied().unwrap_or(len);
    let k = idx.get(2).copied().unwrap_or(len);
    if i > j {
        return Err(CallErr::Fail(format!("invalid slice index: {i} > {j}")));
    }
    if j > k {
        return Err(CallErr::Fail(format!("invalid slice index: {j} > {k}")));
    }
    Ok(match &args[0] {
        Value::String(s) => match s.get(i as usize..j as usize) {
            Some(sub) => Value::str(sub),
            None => Value::String(
                String::from_utf8_lossy(&s.as_bytes()[i as usize..j as usize]).into_owned(),
            ),
        },
        Value::List(l) => Value::list(l[i as usize..j as usize].to_vec()),
        _ => Value::Nil,
    })
}

/// Go's `eq` for two operands.
pub(crate) fn eq(a: &Value, b: &Value) -> Result<bool, CallErr> {
    let bad = || CallErr::Fail("incompatible types for comparison".into());
    Ok(match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Int(x), Value::Int(y)) => x == y,
        (Value::Float(x), Value::Float(y)) => x == y,
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Nil | Value::NoValue, Value::Nil | Value::NoValue) => true,
        (Value::Nil | Value::NoValue, _) | (_, Value::Nil | Value::NoValue) => false,
        (Value::Record(x), Value::Record(y)) if x.type_name == y.type_name => Rc::ptr_eq(x, y),
        (Value::List(_) | Value::Map(_), _) | (_, Value::List(_) | Value::Map(_))
            if std::mem::discriminant(a) == std::mem::discriminant(b) =>
        {
            return Err(CallErr::Fail(format!(
                "non-comparable type {}: {}",
                a.to_output(),
                a.type_name()
            )))
        }
        _ => return Err(bad()),
    })
}

/// Go's `lt` for two operands.
pub(crate) fn lt(a: &Value, b: &Value) -> Result<bool, CallErr> {
    Ok(match (a, b) {
        (Value::Int(x), Value::Int(y)) => x < y,
        (Value::Float(x), Value::Float(y)) => x < y,
        (Value::String(x), Value::String(y)) => x < y,
        (
            Value::Int(_) | Value::Float(_) | Value::String(_),
            Value::Int(_) | Value::Float(_) | Value::String(_),
        ) => return Err(CallErr::Fail("incompatible types for comparison".into())),
        _ => return Err(CallErr::Fail("invalid type for comparison".into())),
    })
}

/// Go's `template.HTMLEscapeString`.
pub(crate) fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Go's `template.JSEscapeString`.
pub(crate) fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c if c.is_ascii() || crate::format::go_is_print(c) => out.push(c),
            c => out.push_str(&format!("\\u{:04X}", c as u32)),
        }
    }
    out
}

/// Go's `url.QueryEscape`.
pub(crate) fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// consul-template's `Scratch` methods.
pub(crate) fn scratch_method(
    s: &RefCell<BTreeMap<String, Value>>,
    method: &str,
    args: Vec<Value>,
    cost: &std::cell::Cell<u64>,
) -> CResult {
    let key = |i: usize| -> Result<String, CallErr> {
        args.get(i)
            .ok_or_else(|| {
                CallErr::Plain(format!(
                    "wrong number of args for {method}: got {}",
                    args.len()
                ))
            })
            .and_then(|v| want_str(method, v).map(str::to_string))
    };
    let count = |n: usize| -> Result<(), CallErr> {
        if args.len() != n {
            return Err(CallErr::Plain(format!(
                "wrong number of args for {method}: want {n} got {}",
                args.len()
            )));
        }
        Ok(())
    };
    if let Some(v) = args.last() {
        if method != "Key" && method != "Get" && v.deeper_than(crate::value::MAX_VALUE_DEPTH) {
            return Err(CallErr::Fail(format!(
                "scratch.{method}: value nests deeper than {} levels",
                crate::value::MAX_VALUE_DEPTH
            )));
        }
    }
    match method {
        "Key" => {
            count(1)?;
            Ok(Value::Bool(s.borrow().contains_key(&key(0)?)))
        }
        "Get" => {
            count(1)?;
            Ok(s.borrow().get(&key(0)?).cloned().unwrap_or(Value::Nil))
        }
        "Set" | "SetX" => {
            count(2)?;
            let k = key(0)?;
            let mut m = s.borrow_mut();
            if method == "Set" || !m.contains_key(&k) {
                m.insert(k, args[1].clone());
            }
            Ok(Value::str(""))
        }
        "MapSet" | "MapSetX" => {
            count(3)?;
            let (name, k) = (key(0)?, key(1)?);
            let mut m = s.borrow_mut();
            let slot = m
                .entry(name.clone())
                .or_insert_with(|| Value::map(BTreeMap::new()));
            let Value::Map(map) = slot else {
                return Err(CallErr::Fail(format!(
                    "scratch.{method}: {name:?} is a {}, not a map",
                    slot.type_name()
                )));
            };
            // Copy-on-write: the map is copied only while the template
            // still holds a value of it; that copy is charged as work.
            if Rc::strong_count(map) > 1 {
                cost.set(map.entries.len() as u64 * ELEMENT_COST * 2);
            }
            let map = Rc::make_mut(map);
            if method == "MapSet" || !map.entries.contains_key(&k) {
                map.entries.insert(k, args[2].clone());
            }
            Ok(Value::str(""))
        }
        "MapValues" => {
            count(1)?;
            let name = key(0)?;
            let m = s.borrow();
            Ok(match m.get(&name) {
                Some(Value::Map(map)) => Value::list(map.entries.values().cloned().collect()),
                _ => Value::list(Vec::new()),
            })
        }
        _ => Err(CallErr::Plain(format!(
            "can't evaluate field {method} in type *template.Scratch"
        ))),
    }
}
