//! The lexer: template text to tokens, following Go's `text/template/parse`
//! lexer (delimiters, `{{-`/`-}}` trim markers, comments, quoted strings,
//! numbers, fields, variables, keywords).
//! Owns only tokenisation; never evaluates anything and never panics on input.

/// One token with the byte offset where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub kind: Tok,
    pub pos: usize,
}

/// Go's item types (only the ones the parser distinguishes).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Text(String),
    LeftDelim,
    RightDelim,
    Space,
    Pipe,
    Assign,
    Declare,
    LeftParen,
    RightParen,
    /// Any other printable ASCII character inside an action (`,` mostly).
    Char(char),
    /// A quoted string, with its quotes, as written (unquoted by the parser).
    Str(String),
    /// A raw (back-quoted) string, with its quotes.
    RawStr(String),
    /// A character constant, with its quotes.
    CharConst(String),
    Number(String),
    Bool(bool),
    Dot,
    /// `.Name` (with the dot).
    Field(String),
    /// `$` or `$name` (with the dollar).
    Variable(String),
    Identifier(String),
    Keyword(Keyword),
    Nil,
    Eof,
}

/// Action keywords.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Keyword {
    Block,
    Break,
    Continue,
    Define,
    Else,
    End,
    If,
    Range,
    Template,
    With,
}

/// A lexing failure: where and why (Go's wording).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LexError {
    pub pos: usize,
    pub reason: String,
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

struct Lexer<'a> {
    input: &'a str,
    left: &'a str,
    right: &'a str,
    pos: usize,
    tokens: Vec<Token>,
}

/// Splits `input` into tokens with the given delimiters.
pub(crate) fn lex(input: &str, left: &str, right: &str) -> Result<Vec<Token>, LexError> {
    let mut l = Lexer {
        input,
        left,
        right,
        pos: 0,
        tokens: Vec::new(),
    };
    l.run()?;
    Ok(l.tokens)
}

impl<'a> Lexer<'a> {
    fn rest(&self) -> &'a str {
        &self.input[self.pos..]
    }

    fn err<T>(&self, pos: usize, reason: impl Into<String>) -> Result<T, LexError> {
        Err(LexError {
            pos,
            reason: reason.into(),
        })
    }

    fn push(&mut self, kind: Tok, pos: usize) {
        self.tokens.push(Token { kind, pos });
    }

    fn has_left_trim(s: &str) -> bool {
        let b = s.as_bytes();
        b.len() >= 2 && b[0] == b'-' && is_space(b[1])
    }

    fn has_right_trim(s: &str) -> bool {
        let b = s.as_bytes();
        b.len() >= 2 && is_space(b[0]) && b[1] == b'-'
    }

    /// Whether the lexer is at a right delimiter, and whether it is trim-marked.
    fn at_right_delim(&self) -> (bool, bool) {
        let rest = self.rest();
        if Self::has_right_trim(rest) && rest[2..].starts_with(self.right) {
            return (true, true);
        }
        (rest.starts_with(self.right), false)
    }

    fn run(&mut self) -> Result<(), LexError> {
        loop {
            // Text up to the next left delimiter.
            let start = self.pos;
            match self.rest().find(self.left) {
                None => {
                    if self.pos < self.input.len() {
                        self.push(Tok::Text(self.rest().to_string()), start);
                    }
                    self.pos = self.input.len();
                    self.push(Tok::Eof, self.pos);
                    return Ok(());
                }
                Some(x) => {
                    let delim_at = self.pos + x;
                    let after = delim_at + self.left.len();
                    let mut text = &self.input[start..delim_at];
                    if Self::has_left_trim(&self.input[after..]) {
                        text = text.trim_end_matches([' ', '\t', '\r', '\n']);
                    }
                    if !text.is_empty() {
                        self.push(Tok::Text(text.to_string()), start);
                    }
                    self.pos = delim_at;
                    self.left_delim()?;
                }
            }
        }
    }

    fn left_delim(&mut self) -> Result<(), LexError> {
        let delim_pos = self.pos;
        self.pos += self.left.len();
        let trim = Self::has_left_trim(self.rest());
        let after_marker = if trim { 2 } else { 0 };
        if self.input[self.pos + after_marker..].starts_with("/*") {
            self.pos += after_marker;
            return self.comment(delim_pos);
        }
        self.push(Tok::LeftDelim, delim_pos);
        self.pos += after_marker;
        self.inside_action()
    }

    fn comment(&mut self, start: usize) -> Result<(), LexError> {
        self.pos += 2;
        let Some(x) = self.rest().find("*/") else {
            return self.err(start, "unclosed comment");
        };
        self.pos += x + 2;
        let (delim, trim) = self.at_right_delim();
        if !delim {
            return self.err(start, "comment ends before closing delimiter");
        }
        if trim {
            self.pos += 2;
        }
        self.pos += self.right.len();
        if trim {
            self.skip_leading_space();
        }
        Ok(())
    }

    fn skip_leading_space(&mut self) {
        let rest = self.rest();
        let trimmed = rest.trim_start_matches([' ', '\t', '\r', '\n']);
        self.pos += rest.len() - trimmed.len();
    }

    fn right_delim(&mut self, trim: bool) {
        if trim {
            self.pos += 2;
        }
        let at = self.pos;
        self.pos += self.right.len();
        self.push(Tok::RightDelim, at);
        if trim {
            self.skip_leading_space();
        }
    }

    fn peek_char(&self) -> Option<char> {
        self.rest().chars().next()
    }

    /// Lexes inside an action until its right delimiter.
    fn inside_action(&mut self) -> Result<(), LexError> {
        let mut paren_depth: i64 = 0;
        loop {
            let (delim, trim) = self.at_right_delim();
            if delim {
                if paren_depth == 0 {
                    self.right_delim(trim);
                    return Ok(());
                }
                return self.err(self.pos, "unclosed left paren");
            }
            let start = self.pos;
            let Some(c) = self.peek_char() else {
                return self.err(start, "unclosed action");
            };
            if c.is_ascii() && is_space(c as u8) {
                // A run of spaces; a trim-marked right delimiter starts with one.
                let mut n = 0;
                while let Some(b) = self.input.as_bytes().get(self.pos) {
                    if !is_space(*b) {
                        break;
                    }
                    self.pos += 1;
                    n += 1;
                }
                let before = self.pos - 1;
                if Self::has_right_trim(&self.input[before..])
                    && self.input[before + 2..].starts_with(self.right)
                {
                    self.pos = before;
                    if n == 1 {
                        continue;
                    }
                }
                self.push(Tok::Space, start);
                continue;
            }
            self.pos += c.len_utf8();
            match c {
                '=' => self.push(Tok::Assign, start),
                ':' => {
                    if self.peek_char() != Some('=') {
                        return self.err(start, "expected :=");
                    }
                    self.pos += 1;
                    self.push(Tok::Declare, start);
                }
                '|' => self.push(Tok::Pipe, start),
                '"' => self.quote(start)?,
                '`' => self.raw_quote(start)?,
                '$' => self.field_or_variable(start, true)?,
                '\'' => self.char_const(start)?,
                '.' if !matches!(self.peek_char(), Some('0'..='9')) => {
                    self.field_or_variable(start, false)?
                }
                '.' | '+' | '-' | '0'..='9' => {
                    self.pos = start;
                    self.number(start)?;
                }
                '(' => {
                    paren_depth += 1;
                    self.push(Tok::LeftParen, start);
                }
                ')' => {
                    paren_depth -= 1;
                    if paren_depth < 0 {
                        return self.err(start, "unexpected right paren");
                    }
                    self.push(Tok::RightParen, start);
                }
                c if is_alnum(c) => {
                    self.pos = start;
                    self.identifier(start)?;
                }
                c if c.is_ascii() && !c.is_ascii_control() => self.push(Tok::Char(c), start),
                c => {
                    return self.err(
                        start,
                        format!("unrecognized character in action: U+{:04X}", c as u32),
                    )
                }
            }
        }
    }

    fn scan_word(&mut self) {
        while let Some(c) = self.peek_char() {
            if !is_alnum(c) {
                break;
            }
            self.pos += c.len_utf8();
        }
    }

    /// Whether the next character can end a word (Go's `atTerminator`).
    fn at_terminator(&self) -> bool {
        let rest = self.rest();
        match rest.chars().next() {
            None => true,
            Some(c) if c.is_ascii() && is_space(c as u8) => true,
            Some('.' | ',' | '|' | ':' | ')' | '(') => true,
            Some(_) => rest.starts_with(self.right),
        }
    }

    fn bad_char(&self) -> Result<(), LexError> {
        let c = self.peek_char().unwrap_or('\0');
        self.err(self.pos, format!("bad character U+{:04X} '{c}'", c as u32))
    }

    fn field_or_variable(&mut self, start: usize, variable: bool) -> Result<(), LexError> {
        if self.at_terminator() {
            if variable {
                self.push(Tok::Variable("$".into()), start);
            } else {
                self.push(Tok::Dot, start);
            }
            return Ok(());
        }
        self.scan_word();
        if !self.at_terminator() {
            return self.bad_char();
        }
        let word = self.input[start..self.pos].to_string();
        if variable {
            self.push(Tok::Variable(word), start);
        } else {
            self.push(Tok::Field(word), start);
        }
        Ok(())
    }

    fn identifier(&mut self, start: usize) -> Result<(), LexError> {
        self.scan_word();
        if !self.at_terminator() {
            return self.bad_char();
        }
        let word = &self.input[start..self.pos];
        let kind = match word {
            "block" => Tok::Keyword(Keyword::Block),
            "break" => Tok::Keyword(Keyword::Break),
            "continue" => Tok::Keyword(Keyword::Continue),
            "define" => Tok::Keyword(Keyword::Define),
            "else" => Tok::Keyword(Keyword::Else),
            "end" => Tok::Keyword(Keyword::End),
            "if" => Tok::Keyword(Keyword::If),
            "range" => Tok::Keyword(Keyword::Range),
            "template" => Tok::Keyword(Keyword::Template),
            "with" => Tok::Keyword(Keyword::With),
            "nil" => Tok::Nil,
            "true" => Tok::Bool(true),
            "false" => Tok::Bool(false),
            _ => Tok::Identifier(word.to_string()),
        };
        self.push(kind, start);
        Ok(())
    }

    fn accept(&mut self, set: &str) -> bool {
        match self.peek_char() {
            Some(c) if set.contains(c) => {
                self.pos += c.len_utf8();
                true
            }
            _ => false,
        }
    }

    fn accept_run(&mut self, set: &str) {
        while self.accept(set) {}
    }

    fn number(&mut self, start: usize) -> Result<(), LexError> {
        self.accept("+-");
        let mut digits = "0123456789_";
        if self.accept("0") {
            if self.accept("xX") {
                digits = "0123456789abcdefABCDEF_";
            } else if self.accept("oO") {
                digits = "01234567_";
            } else if self.accept("bB") {
                digits = "01_";
            }
        }
        self.accept_run(digits);
        if self.accept(".") {
            self.accept_run(digits);
        }
        if digits.len() == 11 && self.accept("eE") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        if digits.len() == 23 && self.accept("pP") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        self.accept("i");
        // A sign right after a number starts Go's complex form (1+2i), which
        // must end in 'i'; anything else is a bad number.
        if let Some('+' | '-') = self.peek_char() {
            self.pos += 1;
            self.accept_run("0123456789_.eEpPxXoObBabcdefABCDEF");
            if !self.input[..self.pos].ends_with('i') {
                return self.err(
                    start,
                    format!("bad number syntax: {:?}", &self.input[start..self.pos]),
                );
            }
        }
        if let Some(c) = self.peek_char() {
            if is_alnum(c) {
                self.pos += c.len_utf8();
                return self.err(
                    start,
                    format!("bad number syntax: {:?}", &self.input[start..self.pos]),
                );
            }
        }
        self.push(Tok::Number(self.input[start..self.pos].to_string()), start);
        Ok(())
    }

    fn quote(&mut self, start: usize) -> Result<(), LexError> {
        loop {
            match self.peek_char() {
                Some('\\') => {
                    self.pos += 1;
                    match self.peek_char() {
                        Some('\n') | None => return self.err(start, "unterminated quoted string"),
                        Some(c) => self.pos += c.len_utf8(),
                    }
                }
                Some('\n') | None => return self.err(start, "unterminated quoted string"),
                Some('"') => {
                    self.pos += 1;
                    break;
                }
                Some(c) => self.pos += c.len_utf8(),
            }
        }
        self.push(Tok::Str(self.input[start..self.pos].to_string()), start);
        Ok(())
    }

    fn raw_quote(&mut self, start: usize) -> Result<(), LexError> {
        let Some(x) = self.rest().find('`') else {
            return self.err(start, "unterminated raw quoted string");
        };
        self.pos += x + 1;
        self.push(Tok::RawStr(self.input[start..self.pos].to_string()), start);
        Ok(())
    }

    fn char_const(&mut self, start: usize) -> Result<(), LexError> {
        loop {
            match self.peek_char() {
                Some('\\') => {
                    self.pos += 1;
                    match self.peek_char() {
                        Some('\n') | None => {
                            return self.err(start, "unterminated character constant")
                        }
                        Some(c) => self.pos += c.len_utf8(),
                    }
                }
                Some('\n') | None => return self.err(start, "unterminated character constant"),
                Some('\'') => {
                    self.pos += 1;
                    break;
                }
                Some(c) => self.pos += c.len_utf8(),
            }
        }
        self.push(
            Tok::CharConst(self.input[start..self.pos].to_string()),
            start,
        );
        Ok(())
    }
}
