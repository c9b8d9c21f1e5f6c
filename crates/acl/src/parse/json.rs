//! JSON rule text to the syntax-neutral tree, with the line of every key.
//! serde_json checks the syntax first (its message and line for a syntax
//! error; its recursion limit for deep input); then a small reader over the
//! now well-formed text keeps what serde_json's values lose: duplicate
//! members, which Consul merges or refuses, and the line of each member.
//! Never recurses deeper than [`MAX_DEPTH`].

use serde::de::IgnoredAny;

use super::{Entry, Lines, Value, MAX_DEPTH};
use crate::error::RuleError;

pub(super) fn read(text: &str) -> Result<Vec<Entry>, RuleError> {
    if let Err(e) = serde_json::from_str::<IgnoredAny>(text) {
        let full = e.to_string();
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        let msg = full.strip_suffix(&suffix).unwrap_or(&full);
        return Err(if e.line() == 0 {
            RuleError::whole(format!("invalid JSON: {msg}"))
        } else {
            RuleError::at(
                e.line(),
                format!("invalid JSON: {msg} at column {}", e.column()),
            )
        });
    }
    let lines = Lines::new(text);
    let mut r = Reader {
        text,
        bytes: text.as_bytes(),
        pos: 0,
        lines: &lines,
    };
    r.skip_ws();
    let line = r.line();
    match r.value(0)? {
        Value::Obj(entries) => Ok(entries),
        _ => Err(RuleError::at(line, "JSON rules must be an object")),
    }
}

struct Reader<'a> {
    text: &'a str,
    bytes: &'a [u8],
    pos: usize,
    lines: &'a Lines,
}

impl Reader<'_> {
    fn line(&self) -> usize {
        self.lines.line(self.pos)
    }

    /// An error for text serde_json accepted but this reader did not
    /// understand; reachable only through a bug here, never a panic.
    fn confused(&self) -> RuleError {
        RuleError::at(self.line(), "unexpected JSON")
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, b: u8) -> bool {
        self.skip_ws();
        if self.bytes.get(self.pos) == Some(&b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, RuleError> {
        self.skip_ws();
        if depth > MAX_DEPTH {
            return Err(RuleError::at(
                self.line(),
                format!("rules nest deeper than {MAX_DEPTH} levels"),
            ));
        }
        match self.bytes.get(self.pos) {
            Some(b'{') => {
                self.pos += 1;
                let mut entries = Vec::new();
                if self.eat(b'}') {
                    return Ok(Value::Obj(entries));
                }
                loop {
                    self.skip_ws();
                    let line = self.line();
                    let key = self.string()?;
                    if !self.eat(b':') {
                        return Err(self.confused());
                    }
                    let value = self.value(depth + 1)?;
                    entries.push(Entry { key, line, value });
                    if self.eat(b',') {
                        continue;
                    }
                    if self.eat(b'}') {
                        return Ok(Value::Obj(entries));
                    }
                    return Err(self.confused());
                }
            }
            Some(b'[') => {
                self.pos += 1;
                let mut items = Vec::new();
                if self.eat(b']') {
                    return Ok(Value::List(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    if self.eat(b',') {
                        continue;
                    }
                    if self.eat(b']') {
                        return Ok(Value::List(items));
                    }
                    return Err(self.confused());
                }
            }
            Some(b'"') => Ok(Value::Str(self.string()?)),
            Some(b't' | b'f') => self.scalar("a boolean"),
            Some(b'n') => self.scalar("null"),
            Some(_) => self.scalar("a number"),
            None => Err(self.confused()),
        }
    }

    fn scalar(&mut self, kind: &'static str) -> Result<Value, RuleError> {
        let start = self.pos;
        while let Some(b) = self.bytes.get(self.pos) {
            if matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                break;
            }
            self.pos += 1;
        }
        if self.pos == start {
            return Err(self.confused());
        }
        Ok(Value::Other(kind))
    }

    /// A string token at the cursor, decoded by serde_json (escapes, surrogates).
    fn string(&mut self) -> Result<String, RuleError> {
        self.skip_ws();
        let start = self.pos;
        if self.bytes.get(start) != Some(&b'"') {
            return Err(self.confused());
        }
        let mut i = start + 1;
        loop {
            match self.bytes.get(i) {
                Some(b'\\') => i += 2,
                Some(b'"') => break,
                Some(_) => i += 1,
                None => return Err(self.confused()),
            }
        }
        self.pos = i + 1;
        let token = self.text.get(start..=i).ok_or_else(|| self.confused())?;
        serde_json::from_str::<String>(token).map_err(|_| self.confused())
    }
}
