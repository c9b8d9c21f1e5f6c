//! HCL rule text to the syntax-neutral tree, reading the HCL1 that Consul's
//! rule decoder (hashicorp/hcl v1) reads, with the line of every key.
//!
//! Not hcl-rs: that is HCL2, which refuses rule text Consul accepts and
//! users paste — several blocks on one line (`key "a" { policy = "read" }
//! key "b" { ... }`), two attributes on one line, a `{` on the next line,
//! `${` in a name. HCL1's shape is small: an object list of items, each item
//! one or more keys followed by `= value` or by an object; values are
//! strings, numbers, booleans, lists and objects; commas between items are
//! optional. `key "a" { ... }` is the item `key = { "a" = { ... } }`.
//!
//! Never recurses deeper than [`MAX_DEPTH`]; every loop consumes input.

use super::{Entry, Value, MAX_DEPTH};
use crate::error::RuleError;

pub(super) fn read(text: &str) -> Result<Vec<Entry>, RuleError> {
    let mut p = Parser {
        lexer: Lexer {
            text,
            pos: 0,
            line: 1,
        },
        peeked: None,
    };
    p.object_list(0, None)
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Number,
    Bool,
    LBrace,
    RBrace,
    LBrack,
    RBrack,
    Assign,
    Comma,
    Eof,
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("{s:?}"),
            Tok::Str(s) => format!("the string {s:?}"),
            Tok::Number => "a number".into(),
            Tok::Bool => "a boolean".into(),
            Tok::LBrace => "\"{\"".into(),
            Tok::RBrace => "\"}\"".into(),
            Tok::LBrack => "\"[\"".into(),
            Tok::RBrack => "\"]\"".into(),
            Tok::Assign => "\"=\"".into(),
            Tok::Comma => "\",\"".into(),
            Tok::Eof => "the end of the rules".into(),
        }
    }
}

struct Lexer<'a> {
    text: &'a str,
    pos: usize,
    line: usize,
}

impl Lexer<'_> {
    fn peek_char(&self) -> Option<char> {
        self.text.get(self.pos..)?.chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek_char()?;
        self.pos += c.len_utf8();
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }

    fn rest(&self) -> &str {
        self.text.get(self.pos..).unwrap_or("")
    }

    /// Skips whitespace and `#`, `//` and `/* */` comments.
    fn skip_trivia(&mut self) -> Result<(), RuleError> {
        loop {
            match self.peek_char() {
                Some(c) if c.is_whitespace() => {
                    self.bump();
                }
                Some('#') => self.skip_line(),
                Some('/') if self.rest().starts_with("//") => self.skip_line(),
                Some('/') if self.rest().starts_with("/*") => {
                    let line = self.line;
                    self.bump();
                    self.bump();
                    loop {
                        if self.rest().starts_with("*/") {
                            self.bump();
                            self.bump();
                            break;
                        }
                        if self.bump().is_none() {
                            return Err(RuleError::at(line, "comment not terminated"));
                        }
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    fn skip_line(&mut self) {
        while let Some(c) = self.bump() {
            if c == '\n' {
                break;
            }
        }
    }

    /// The next token and the line it starts on.
    fn next(&mut self) -> Result<(Tok, usize), RuleError> {
        self.skip_trivia()?;
        let line = self.line;
        let Some(c) = self.bump() else {
            return Ok((Tok::Eof, line));
        };
        let tok = match c {
            '{' => Tok::LBrace,
            '}' => Tok::RBrace,
            '[' => Tok::LBrack,
            ']' => Tok::RBrack,
            '=' => Tok::Assign,
            ',' => Tok::Comma,
            '"' => Tok::Str(self.string(line)?),
            '<' if self.peek_char() == Some('<') => {
                return Err(RuleError::at(
                    line,
                    "heredoc strings are not supported in ACL rules",
                ));
            }
            c if c.is_ascii_digit() || c == '-' || c == '+' || c == '.' => {
                while self
                    .peek_char()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '+' | '-'))
                {
                    self.bump();
                }
                Tok::Number
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = self.pos - c.len_utf8();
                while self
                    .peek_char()
                    .is_some_and(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
                {
                    self.bump();
                }
                let word = self.text.get(start..self.pos).unwrap_or("");
                match word {
                    "true" | "false" => Tok::Bool,
                    _ => Tok::Ident(word.to_owned()),
                }
            }
            other => {
                return Err(RuleError::at(
                    line,
                    format!("unexpected character {other:?}"),
                ));
            }
        };
        Ok((tok, line))
    }

    /// The rest of a double-quoted string (the opening quote is consumed),
    /// with HCL1's (Go's) escapes decoded. `${` is kept as text, as Consul
    /// never interpolates rules.
    fn string(&mut self, line: usize) -> Result<String, RuleError> {
        let mut out = String::new();
        loop {
            let Some(c) = self.bump() else {
                return Err(RuleError::at(line, "string not terminated"));
            };
            match c {
                '"' => return Ok(out),
                '\n' => {
                    return Err(RuleError::at(
                        line,
                        "string not terminated before the end of the line",
                    ))
                }
                '\\' => {
                    let Some(e) = self.bump() else {
                        return Err(RuleError::at(line, "string not terminated"));
                    };
                    match e {
                        'n' => out.push('\n'),
                        't' => out.push('\t'),
                        'r' => out.push('\r'),
                        'a' => out.push('\u{7}'),
                        'b' => out.push('\u{8}'),
                        'f' => out.push('\u{c}'),
                        'v' => out.push('\u{b}'),
                        '\\' => out.push('\\'),
                        '"' => out.push('"'),
                        '\'' => out.push('\''),
                        'x' => out.push(self.hex_escape(2, line)?),
                        'u' => out.push(self.hex_escape(4, line)?),
                        'U' => out.push(self.hex_escape(8, line)?),
                        other => {
                            return Err(RuleError::at(
                                self.line,
                                format!(
                                    "unknown escape sequence \\{} in a string",
                                    other.escape_debug()
                                ),
                            ))
                        }
                    }
                }
                c => out.push(c),
            }
        }
    }

    fn hex_escape(&mut self, digits: usize, line: usize) -> Result<char, RuleError> {
        let mut v: u32 = 0;
        for _ in 0..digits {
            let d = self
                .bump()
                .and_then(|c| c.to_digit(16))
                .ok_or_else(|| RuleError::at(line, "bad hexadecimal escape in a string"))?;
            v = v * 16 + d;
        }
        char::from_u32(v).ok_or_else(|| RuleError::at(line, "escape is not a unicode character"))
    }
}

struct Parser<'a> {
    lexer: Lexer<'a>,
    peeked: Option<(Tok, usize)>,
}

impl Parser<'_> {
    fn peek(&mut self) -> Result<&(Tok, usize), RuleError> {
        if self.peeked.is_none() {
            self.peeked = Some(self.lexer.next()?);
        }
        Ok(self.peeked.get_or_insert((Tok::Eof, 0)))
    }

    fn next(&mut self) -> Result<(Tok, usize), RuleError> {
        match self.peeked.take() {
            Some(t) => Ok(t),
            None => self.lexer.next(),
        }
    }

    /// Items up to `close` (`}`), or to the end of the text when `close` is
    /// `None`.
    fn object_list(&mut self, depth: usize, close: Option<usize>) -> Result<Vec<Entry>, RuleError> {
        let mut entries = Vec::new();
        loop {
            let (tok, line) = self.peek()?.clone();
            match tok {
                Tok::Eof => {
                    return match close {
                        None => Ok(entries),
                        Some(open) => Err(RuleError::at(
                            line,
                            format!("block opened on line {open} is not closed"),
                        )),
                    }
                }
                Tok::RBrace if close.is_some() => {
                    self.next()?;
                    return Ok(entries);
                }
                Tok::Comma if !entries.is_empty() => {
                    self.next()?;
                }
                _ => entries.push(self.item(depth)?),
            }
        }
    }

    /// `key ["label"...] (= value | { ... })`.
    fn item(&mut self, depth: usize) -> Result<Entry, RuleError> {
        let mut keys: Vec<(String, usize)> = Vec::new();
        let value = loop {
            let (tok, line) = self.next()?;
            match tok {
                Tok::Ident(k) | Tok::Str(k) if depth + keys.len() < MAX_DEPTH => {
                    keys.push((k, line))
                }
                Tok::Ident(_) | Tok::Str(_) => {
                    return Err(RuleError::at(
                        line,
                        format!("rules nest deeper than {MAX_DEPTH} levels"),
                    ))
                }
                Tok::Assign if !keys.is_empty() => break self.value(depth + keys.len(), line)?,
                Tok::LBrace if !keys.is_empty() => {
                    break Value::Obj(self.nested(depth + keys.len(), line)?);
                }
                other => {
                    let found = other.describe();
                    return Err(match keys.last() {
                        None => RuleError::at(line, format!("expected a name, found {found}")),
                        // The mistake is where the item started, not where
                        // the unexpected token happens to be.
                        Some((key, kline)) => RuleError::at(
                            *kline,
                            format!("expected \"=\" or \"{{\" after {key:?}, found {found}"),
                        ),
                    });
                }
            }
        };
        // `a "b" "c" = v` is `a = { "b" = { "c" = v } }`.
        let Some((key, line)) = keys.pop() else {
            return Err(RuleError::whole("expected a name"));
        };
        let mut entry = Entry { key, line, value };
        while let Some((key, line)) = keys.pop() {
            entry = Entry {
                key,
                line,
                value: Value::Obj(vec![entry]),
            };
        }
        Ok(entry)
    }

    fn nested(&mut self, depth: usize, line: usize) -> Result<Vec<Entry>, RuleError> {
        if depth > MAX_DEPTH {
            return Err(RuleError::at(
                line,
                format!("rules nest deeper than {MAX_DEPTH} levels"),
            ));
        }
        self.object_list(depth, Some(line))
    }

    fn value(&mut self, depth: usize, line: usize) -> Result<Value, RuleError> {
        if depth > MAX_DEPTH {
            return Err(RuleError::at(
                line,
                format!("rules nest deeper than {MAX_DEPTH} levels"),
            ));
        }
        let (tok, tline) = self.next()?;
        Ok(match tok {
            Tok::Str(s) => Value::Str(s),
            Tok::Number => Value::Other("a number"),
            Tok::Bool => Value::Other("a boolean"),
            Tok::LBrace => Value::Obj(self.object_list(depth, Some(tline))?),
            Tok::LBrack => {
                let mut items = Vec::new();
                loop {
                    let (t, _) = self.peek()?.clone();
                    match t {
                        Tok::RBrack => {
                            self.next()?;
                            break;
                        }
                        Tok::Comma if !items.is_empty() => {
                            self.next()?;
                        }
                        Tok::Eof => {
                            return Err(RuleError::at(
                                tline,
                                format!("list opened on line {tline} is not closed"),
                            ))
                        }
                        _ => items.push(self.value(depth + 1, tline)?),
                    }
                }
                Value::List(items)
            }
            Tok::Ident(word) => {
                return Err(RuleError::at(
                    tline,
                    format!("values must be quoted: found {word:?}, want \"{word}\""),
                ))
            }
            other => {
                return Err(RuleError::at(
                    tline,
                    format!("expected a value, found {}", other.describe()),
                ))
            }
        })
    }
}
