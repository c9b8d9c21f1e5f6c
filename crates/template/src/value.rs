//! The value model templates compute with: Go's dynamic values as the
//! template package sees them (nil, bools, ints, floats, strings, slices,
//! maps with sorted keys, and typed records such as consul-template's
//! `*dep.HealthService`), with Go's truthiness and `fmt` `%v` printing.
//! Never performs I/O.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::rc::Rc;

use crate::format::format_float_g;

/// A value inside a template.
#[derive(Debug, Clone)]
pub enum Value {
    /// Go's invalid `reflect.Value` (a missing field of nil data): prints `<no value>`.
    NoValue,
    /// A nil interface, pointer, map or slice: prints `<nil>`.
    Nil,
    /// A bool.
    Bool(bool),
    /// A Go `int`/`int64`.
    Int(i64),
    /// A Go `float64`.
    Float(f64),
    /// A Go `string`.
    String(String),
    /// A Go slice.
    List(Rc<Vec<Value>>),
    /// A Go map with string keys.
    Map(Rc<Map>),
    /// A Go struct (or pointer to one) with named fields.
    Record(Rc<Record>),
    /// consul-template's per-render scratchpad (`scratch.Get`, `scratch.Set`, ...).
    Scratch(Rc<RefCell<BTreeMap<String, Value>>>),
}

/// A map: entries in key order, and the zero value of its element type
/// (what a missing key yields, as Go's `missingkey=zero` and `index` do).
#[derive(Debug, Clone)]
pub struct Map {
    /// The entries, sorted by key as Go's template package iterates them.
    pub entries: BTreeMap<String, Value>,
    /// The element type's zero value.
    pub zero: Value,
}

/// A struct value: its Go type name (for error messages) and its fields in
/// declaration order (for `%v` and JSON).
#[derive(Debug, Clone)]
pub struct Record {
    /// The Go type as consul-template declares it, e.g. `*dep.HealthService`.
    pub type_name: &'static str,
    /// Field names and values in declaration order.
    pub fields: Vec<(&'static str, Value)>,
}

impl Record {
    /// The value of field `name`, if the record has one.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.fields.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }
}

/// How deeply values may nest (lists in maps in lists ...): printing,
/// encoding and dropping them recurse, so nesting is bounded where it can
/// grow (the scratchpad, `explode`); `parseJSON` is bounded by serde_json.
pub const MAX_VALUE_DEPTH: usize = 100;

impl Value {
    /// Whether this value nests deeper than `limit` levels; looks no deeper
    /// than `limit`, so it is cheap and cannot overflow the stack.
    pub fn deeper_than(&self, limit: usize) -> bool {
        if limit == 0 {
            return matches!(self, Value::List(_) | Value::Map(_) | Value::Record(_));
        }
        match self {
            Value::List(l) => l.iter().any(|v| v.deeper_than(limit - 1)),
            Value::Map(m) => m.entries.values().any(|v| v.deeper_than(limit - 1)),
            Value::Record(r) => r.fields.iter().any(|(_, v)| v.deeper_than(limit - 1)),
            _ => false,
        }
    }

    /// A string value.
    pub fn str(s: impl Into<String>) -> Value {
        Value::String(s.into())
    }

    /// A list value.
    pub fn list(items: Vec<Value>) -> Value {
        Value::List(Rc::new(items))
    }

    /// A `map[string]interface{}` (missing keys yield `<nil>`).
    pub fn map(entries: BTreeMap<String, Value>) -> Value {
        Value::Map(Rc::new(Map {
            entries,
            zero: Value::Nil,
        }))
    }

    /// A `map[string]string` (missing keys yield "").
    pub fn string_map<'a>(entries: impl IntoIterator<Item = (&'a String, &'a String)>) -> Value {
        Value::Map(Rc::new(Map {
            entries: entries
                .into_iter()
                .map(|(k, v)| (k.clone(), Value::str(v.clone())))
                .collect(),
            zero: Value::str(""),
        }))
    }

    /// A record value.
    pub fn record(type_name: &'static str, fields: Vec<(&'static str, Value)>) -> Value {
        Value::Record(Rc::new(Record { type_name, fields }))
    }

    /// Go's truth: false, 0, "", nil and empty collections are false.
    pub fn is_true(&self) -> bool {
        match self {
            Value::NoValue | Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::String(s) => !s.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Map(m) => !m.entries.is_empty(),
            Value::Record(_) | Value::Scratch(_) => true,
        }
    }

    /// The Go type name, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::NoValue | Value::Nil => "<nil>",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float64",
            Value::String(_) => "string",
            Value::List(_) => "[]interface {}",
            Value::Map(_) => "map[string]interface {}",
            Value::Record(r) => r.type_name,
            Value::Scratch(_) => "*template.Scratch",
        }
    }

    /// The string inside, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// How the template prints this value (Go's `fmt.Fprint` after
    /// `printableValue`).
    pub fn to_output(&self) -> String {
        match self {
            Value::NoValue => "<no value>".into(),
            _ => {
                let mut s = String::new();
                self.write_v(&mut s, true);
                s
            }
        }
    }

    /// Go's `%v` formatting (`top` is false inside collections, where Go
    /// prints pointers to structs as addresses; we print their fields).
    pub(crate) fn write_v(&self, out: &mut String, top: bool) {
        match self {
            Value::NoValue => out.push_str("<invalid reflect.Value>"),
            Value::Nil => out.push_str("<nil>"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Float(f) => out.push_str(&format_float_g(*f, None, false)),
            Value::String(s) => out.push_str(s),
            Value::List(l) => {
                out.push('[');
                for (i, v) in l.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    v.write_v(out, false);
                }
                out.push(']');
            }
            Value::Map(m) => {
                out.push_str("map[");
                for (i, (k, v)) in m.entries.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    out.push_str(k);
                    out.push(':');
                    v.write_v(out, false);
                }
                out.push(']');
            }
            Value::Record(r) => {
                if top && r.type_name.starts_with('*') {
                    out.push('&');
                }
                out.push('{');
                for (i, (_, v)) in r.fields.iter().enumerate() {
                    if i > 0 {
                        out.push(' ');
                    }
                    v.write_v(out, false);
                }
                out.push('}');
            }
            Value::Scratch(_) => out.push_str("&{}"),
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::str(s)
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::String(s)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Value {
        Value::Int(i)
    }
}

/// Converts JSON (as `encoding/json` decodes into `interface{}`: numbers are
/// float64) to a value.
pub fn from_json(j: &serde_json::Value) -> Value {
    match j {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => Value::Float(n.as_f64().unwrap_or(0.0)),
        serde_json::Value::String(s) => Value::str(s.clone()),
        serde_json::Value::Array(a) => Value::list(a.iter().map(from_json).collect()),
        serde_json::Value::Object(o) => {
            Value::map(o.iter().map(|(k, v)| (k.clone(), from_json(v))).collect())
        }
    }
}
